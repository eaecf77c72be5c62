package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// cpuTicks is the daemon's user+system time in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command (which may hold spaces) start after ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

// TestOutOfDescriptors: when the open-file limit is reached (a
// --max-clients given above it) the daemon keeps serving the clients it
// has, pauses accepting instead of spinning on EMFILE, and takes the
// waiting clients once descriptors free up.
func TestOutOfDescriptors(t *testing.T) {
	const limit = 48
	cmd := exec.Command("/bin/sh", "-c", "ulimit -n "+strconv.Itoa(limit)+` && exec "$0" "$@"`, binPath, "--log-format", "json", "--tcp", "127.0.0.1:0", "--max-clients", "1024")
	p := launch(t, cmd)
	if _, ok := p.waitLog("serving", 10*time.Second); !ok {
		t.Fatalf("no start:\n%s", p.stderr())
	}
	if l, _ := p.waitLog("starting", 0); l["nofile"] != float64(limit) {
		t.Fatalf("starting line %v; want nofile %d", l, limit)
	}
	if _, ok := p.waitLog("--max-clients exceeds what the open-file limit allows; clients over it will wait in the backlog", 0); !ok {
		t.Errorf("no warning that --max-clients 1024 is over the open-file limit %d:\n%s", limit, p.stderr())
	}
	l, _ := p.waitLog("listening", 0)
	addr := l.str("addr")
	base := p.fds()
	n := limit - base + 10 // ten more than fit
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, "tcp", addr) // the kernel completes the handshake; the backlog holds it
	}
	if _, ok := p.waitLog("accept failed", 5*time.Second); !ok {
		t.Fatalf("no accept failure logged with %d clients and %d descriptors:\n%s", n, limit, p.stderr())
	}
	if l, _ := p.waitLog("accept failed", 0); !strings.Contains(l.str("err"), "EMFILE") {
		t.Errorf("accept failed with %v; want EMFILE", l["err"])
	}
	before := cpuTicks(t, p.pid)
	time.Sleep(time.Second)
	if used := cpuTicks(t, p.pid) - before; used > 30 {
		t.Errorf("the daemon used %d ticks of CPU in a second while out of descriptors: it spins", used)
	}
	// The first clients are served meanwhile.
	if got, err := roundTrip(conns[0], "served\n"); err != nil || got != "served\n" {
		t.Fatalf("an accepted client: got %q, %v", got, err)
	}
	for _, c := range conns[:20] {
		c.Close()
	}
	// The last ones waited in the backlog and are taken now.
	for i, c := range conns[n-5:] {
		if got, err := roundTrip(c, "late\n"); err != nil || got != "late\n" {
			t.Fatalf("waiting client %d: got %q, %v", i, got, err)
		}
	}
}

// TestMaxClientsFollowsFileLimit: without --max-clients, the daemon takes
// as many clients as its open-file limit leaves descriptors for, says so
// at start, and turns the next one away with a message instead of leaving
// it in the backlog on EMFILE.
func TestMaxClientsFollowsFileLimit(t *testing.T) {
	const limit = 128
	cmd := exec.Command("/bin/sh", "-c", "ulimit -n "+strconv.Itoa(limit)+` && exec "$0" "$@"`, binPath, "--log-format", "json", "--tcp", "127.0.0.1:0")
	p := launch(t, cmd)
	if _, ok := p.waitLog("serving", 10*time.Second); !ok {
		t.Fatalf("no start:\n%s", p.stderr())
	}
	chose, ok := p.waitLog("max-clients not given: one descriptor per client, from the open-file limit less those open and a headroom", 0)
	if !ok {
		t.Fatalf("the daemon did not say how it chose max-clients:\n%s", p.stderr())
	}
	n := int(chose["max_clients"].(float64))
	if want := limit - int(chose["open_fds"].(float64)) - int(chose["fd_headroom"].(float64)); n != want || n < 1 || chose.str("limited_by") != "open-file limit" {
		t.Fatalf("chose %v; want max_clients %d = nofile %d - open_fds - fd_headroom, limited by the open-file limit", chose, want, limit)
	}
	l, _ := p.waitLog("listening", 0)
	addr := l.str("addr")
	for i := range n {
		c := dial(t, "tcp", addr)
		if got, err := roundTrip(c, "in\n"); err != nil || got != "in\n" {
			t.Fatalf("client %d of %d: got %q, %v", i, n, got, err)
		}
	}
	over := dial(t, "tcp", addr)
	expectEOF(t, over, fmt.Sprintf("error: too many clients (max %d)\n", n), 5*time.Second)
	if _, ok := p.waitLog("accept failed", 200*time.Millisecond); ok {
		t.Errorf("the daemon ran out of descriptors with the max-clients it chose:\n%s", p.stderr())
	}
}
