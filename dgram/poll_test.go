package dgram

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSelect(t *testing.T) {
	var socks []*Socket
	var addrs []Addr
	for range 3 {
		s, err := ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a, _ := s.Sockname()
		socks, addrs = append(socks, s), append(addrs, a)
	}
	r, w, err := Select(context.Background(), socks, nil, 0)
	if err != nil || len(r) != 0 || len(w) != 0 {
		t.Fatalf("Select on idle sockets = %v %v %v; want nothing ready", r, w, err)
	}
	start := time.Now()
	r, _, err = Select(context.Background(), socks, nil, 30*time.Millisecond)
	if err != nil || len(r) != 0 || time.Since(start) < 25*time.Millisecond {
		t.Fatalf("Select with 30ms timeout = %v %v after %v; want nothing after the timeout", r, err, time.Since(start))
	}
	tx := mustOpen(t, unix.AF_INET, unix.SOCK_DGRAM)
	if _, err := tx.SendTo([]byte("x"), 0, addrs[1]); err != nil {
		t.Fatal(err)
	}
	r, w, err = Select(context.Background(), socks, []*Socket{tx}, 5*time.Second)
	if err != nil || len(r) != 1 || r[0] != socks[1] || len(w) != 1 || w[0] != tx {
		t.Fatalf("Select = read %v write %v, %v; want read [socks[1]] write [tx]", r, w, err)
	}
}

// TestPollerServesManyClients is the seed's multi-client server without
// threads: one goroutine, one Poller, accept and echo for several clients.
func TestPollerServesManyClients(t *testing.T) {
	ln, err := Listen("tcp4", "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr, _ := ln.Sockname()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(ln, Readable); err != nil {
		t.Fatal(err)
	}
	const clients = 20
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		served := 0
		buf := make([]byte, 64)
		var ready []Ready
		for served < clients {
			ready, err = p.Wait(ctx, -1, ready[:0])
			if err != nil {
				done <- err
				return
			}
			for _, r := range ready {
				if r.Socket == ln {
					c, _, err := ln.Accept()
					if err != nil {
						done <- err
						return
					}
					p.Add(c, Readable)
					continue
				}
				n, err := r.Socket.Read(buf)
				if n > 0 {
					r.Socket.Write(buf[:n])
				}
				if err != nil || n == 0 {
					p.Remove(r.Socket)
					r.Socket.Close()
					served++
				}
			}
		}
		done <- nil
	}()
	for i := range clients {
		c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := []byte{'c', byte('a' + i)}
		c.Write(msg)
		got := make([]byte, 2)
		if _, err := c.Read(got); err != nil || string(got) != string(msg) {
			t.Fatalf("client %d: echo %q, %v; want %q", i, got, err, msg)
		}
		c.Close()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 {
		t.Errorf("Poller.Len() = %d after all clients left; want 1 (the listener)", p.Len())
	}
}

func TestPollerWaitEnds(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := p.Wait(ctx, -1, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait after cancel: %v; want context.Canceled", err)
	}
	go func() { time.Sleep(20 * time.Millisecond); p.Close() }()
	if _, err := p.Wait(context.Background(), -1, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Wait after Close: %v; want net.ErrClosed", err)
	}
}

func TestPollerErrors(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := mustOpen(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := p.Modify(s, Readable); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Modify of an unwatched socket: %v; want ENOENT", err)
	}
	if err := p.Add(s, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(s, Readable); !errors.Is(err, unix.EEXIST) {
		t.Errorf("second Add: %v; want EEXIST", err)
	}
	if err := p.Modify(s, Writable); err != nil {
		t.Fatal(err)
	}
	r, err := p.Wait(context.Background(), 0, nil)
	if err != nil || len(r) != 1 || r[0].Events&Writable == 0 {
		t.Errorf("Wait for writable = %v, %v; want the socket writable", r, err)
	}
	if got := (Readable | Hangup).String(); got != "readable|hangup" {
		t.Errorf("Events.String() = %q", got)
	}
}
