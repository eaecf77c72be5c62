package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestNoFDLeak connects and disconnects thousands of clients, each ending
// its connection in one of the ways a client can, and checks that the
// daemon's descriptor count comes back to where it started.
func TestNoFDLeak(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--max-clients", "5000")
	base := p.fds()
	const total, wave = 4000, 250
	endings := []func(net.Conn) error{
		func(c net.Conn) error { // echo, then close
			got, err := roundTrip(c, "leak check\n")
			if err == nil && got != "leak check\n" {
				err = fmt.Errorf("echo %q", got)
			}
			return err
		},
		func(c net.Conn) error { return nil }, // connect and close at once
		func(c net.Conn) error { // half a line, then a reset
			_, err := io.WriteString(c, "half a li")
			c.(*net.TCPConn).SetLinger(0)
			return err
		},
		func(c net.Conn) error { // quit, and read the daemon's close
			io.WriteString(c, "quit\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.ReadAll(c)
			return err
		},
		func(c net.Conn) error { // half-close, read the reply and EOF
			io.WriteString(c, "bye")
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			if err == nil && string(b) != "bye" {
				err = fmt.Errorf("half-close reply %q", b)
			}
			return err
		},
	}
	start := time.Now()
	for done := 0; done < total; done += wave {
		var wg sync.WaitGroup
		errs := make(chan error, wave)
		for i := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", p.addr("tcp"), 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				if err := endings[(done+i)%len(endings)](c); err != nil {
					errs <- fmt.Errorf("client %d: %w", done+i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	got := p.waitFDs(base, 10*time.Second)
	t.Logf("%d connections in %v; fds %d before, %d after", total, time.Since(start).Round(time.Millisecond), base, got)
	if got != base {
		t.Fatalf("the daemon holds %d descriptors after %d clients came and went; it held %d before", got, total, base)
	}
}

// TestHoldIdleClients holds 2000 idle TCP clients at once: the daemon must
// take them all (its open-file limit raised as needed), answer each of them,
// and give every descriptor back when they leave.
func TestHoldIdleClients(t *testing.T) {
	const n = 2000
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--max-clients", "2500")
	base := p.fds()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", p.addr("tcp"), 5*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	if got := p.waitFDs(base+n, 10*time.Second); got != base+n {
		t.Fatalf("the daemon holds %d descriptors with %d clients connected; want %d", got, n, base+n)
	}
	// Every one of them is served, in reverse order of arrival.
	for i := n - 1; i >= 0; i-- {
		msg := fmt.Sprintf("client %d\n", i)
		if got, err := roundTrip(conns[i], msg); err != nil || got != msg {
			t.Fatalf("client %d: got %q, %v", i, got, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	if got := p.waitFDs(base, 10*time.Second); got != base {
		t.Fatalf("the daemon holds %d descriptors after the clients left; want %d", got, base)
	}
}
