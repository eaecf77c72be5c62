package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEchoEveryNetwork(t *testing.T) {
	dir := t.TempDir()
	abstract := fmt.Sprintf("@bcast-listen-test-%d", os.Getpid())
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--tcp", "[::1]:0", "--udp", "127.0.0.1:0",
		"--unix", filepath.Join(dir, "s"), "--unix", abstract, "--unixgram", filepath.Join(dir, "g"))
	if got := len(p.logged("listening")); got != 6 {
		t.Fatalf("%d listening lines; want 6:\n%s", got, p.stderr())
	}
	streams := map[string][2]string{
		"tcp4":     {"tcp", p.addrs["tcp"][0]},
		"tcp6":     {"tcp", p.addrs["tcp"][1]},
		"unix":     {"unix", filepath.Join(dir, "s")},
		"abstract": {"unix", abstract},
	}
	for name, na := range streams {
		t.Run(name, func(t *testing.T) {
			c := dial(t, na[0], na[1])
			for _, msg := range []string{"hello\n", "crlf kept\r\n", "two\nlines\n", "\n", strings.Repeat("long ", 1000) + "\n"} {
				got, err := roundTrip(c, msg)
				if err != nil || got != msg {
					t.Fatalf("echo of %q: got %q, %v", msg, got, err)
				}
			}
		})
	}
	t.Run("udp", func(t *testing.T) {
		c := dial(t, "udp", p.addr("udp"))
		for _, msg := range []string{"datagram\n", "no newline", strings.Repeat("u", 8000)} {
			got, err := roundTrip(c, msg)
			if err != nil || got != msg {
				t.Fatalf("echo of %d bytes: got %d bytes, %v", len(msg), len(got), err)
			}
		}
	})
	t.Run("unixgram", func(t *testing.T) {
		local := filepath.Join(dir, "client")
		c, err := net.DialUnix("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"}, &net.UnixAddr{Name: filepath.Join(dir, "g"), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := roundTrip(c, "over unixgram\n")
		if err != nil || got != "over unixgram\n" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}

func TestQuit(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0")
	for _, quit := range []string{"quit\n", "  quit \r\n", "quit"} {
		c := dial(t, "tcp", p.addr("tcp"))
		// Everything before quit is answered, nothing after it.
		if quit == "quit" {
			io.WriteString(c, "first\nsecond\nquit")
			c.(*net.TCPConn).CloseWrite() // an unterminated last line counts too
		} else {
			io.WriteString(c, "first\nsecond\n"+quit+"after\n")
		}
		expectEOF(t, c, "first\nsecond\n", 5*time.Second)
	}
	// "quit" inside a line, or in another case, is just a line.
	c := dial(t, "tcp", p.addr("tcp"))
	for _, msg := range []string{"quitting\n", "QUIT\n", "do not quit\n"} {
		if got, err := roundTrip(c, msg); err != nil || got != msg {
			t.Fatalf("echo of %q: got %q, %v", msg, got, err)
		}
	}
}

// TestHalfClose: a client that shuts its write side still gets the replies
// to everything it sent, including a last line without '\n', then EOF.
func TestHalfClose(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--unix", filepath.Join(t.TempDir(), "s"))
	big := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 64<<10) // 4 MiB
	tests := []struct {
		name, network, addr string
		send                []byte
	}{
		{"tcp", "tcp", p.addr("tcp"), []byte("one\ntwo\nthree")},
		{"unix", "unix", p.addrs["unix"][0], []byte("one\ntwo\nthree")},
		// More than the kernel buffers and the daemon's backlog hold: the
		// replies must flow while the client is still writing.
		{"tcp 4 MiB", "tcp", p.addr("tcp"), big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, tt.network, tt.addr)
			werr := make(chan error, 1)
			go func() {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Write(tt.send)
				if err == nil {
					err = c.(interface{ CloseWrite() error }).CloseWrite()
				}
				werr <- err
			}()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("read: %v after %d bytes", err, len(got))
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, tt.send) {
				t.Fatalf("got %d bytes back; want the %d sent", len(got), len(tt.send))
			}
		})
	}
}

func TestManyConcurrentClients(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--unix", filepath.Join(t.TempDir(), "s"))
	const clients, rounds = 300, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			network, addr := "tcp", p.addr("tcp")
			if i%3 == 0 {
				network, addr = "unix", p.addrs["unix"][0]
			}
			c, err := net.DialTimeout(network, addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for r := range rounds {
				msg := fmt.Sprintf("client %d round %d %s\n", i, r, strings.Repeat("x", i))
				got, err := roundTrip(c, msg)
				if err != nil || got != msg {
					errs <- fmt.Errorf("client %d round %d: got %q, %v", i, r, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestStalledClients: a client that never sends and one that sends without
// ever reading must not slow anyone else down, and the daemon must not
// buffer without bound for the one that does not read.
func TestStalledClients(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0")
	silent := dial(t, "tcp", p.addr("tcp"))
	_ = silent
	flood := dial(t, "tcp", p.addr("tcp"))
	const floodSize = 64 << 20
	type result struct {
		n   int
		err error
	}
	flooded := make(chan result, 1)
	go func() {
		line := bytes.Repeat([]byte("flood flood flood flood flood flood flood flood flood flood\n"), 1<<10)
		flood.SetWriteDeadline(time.Now().Add(3 * time.Second))
		n := 0
		for n < floodSize {
			k, err := flood.Write(line)
			n += k
			if err != nil {
				flooded <- result{n, err}
				return
			}
		}
		flooded <- result{n, nil}
	}()
	time.Sleep(300 * time.Millisecond) // let the flood fill every buffer

	c := dial(t, "tcp", p.addr("tcp"))
	start := time.Now()
	for i := range 50 {
		msg := fmt.Sprintf("still served %d\n", i)
		if got, err := roundTrip(c, msg); err != nil || got != msg {
			t.Fatalf("round %d: got %q, %v", i, got, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("50 round trips took %v beside the stalled clients", d)
	}
	r := <-flooded
	if r.err == nil {
		t.Fatalf("the non-reading client wrote all %d bytes: the daemon buffered them all", r.n)
	}
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("flood write: %v; want a deadline (the daemon stopped reading)", r.err)
	}
	t.Logf("the non-reading client could write %d KiB before the daemon stopped reading it", r.n>>10)
	// The flood stalled, it was not disconnected: it still reads its echo.
	flood.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 60)
	if _, err := io.ReadFull(flood, buf); err != nil || string(buf) != "flood flood flood flood flood flood flood flood flood flood\n" {
		t.Fatalf("the flooding client's echo: %q, %v", buf, err)
	}
}

func TestOversizeLine(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--max-line", "100")
	const errText = "error: line longer than 100 bytes\n"

	ok := strings.Repeat("a", 100) + "\n"
	c := dial(t, "tcp", p.addr("tcp"))
	if got, err := roundTrip(c, ok); err != nil || got != ok {
		t.Fatalf("a line of exactly --max-line: got %q, %v", got, err)
	}
	tests := map[string]string{
		"one byte over":         "before\n" + strings.Repeat("b", 101) + "\n",
		"no newline ever":       "before\n" + strings.Repeat("c", 1<<20),
		"over across two lines": "before\n" + strings.Repeat("d", 60) + strings.Repeat("e", 60) + "\nafter\n",
	}
	for name, send := range tests {
		t.Run(name, func(t *testing.T) {
			c := dial(t, "tcp", p.addr("tcp"))
			go func() {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.Write([]byte(send)) // may fail with a reset once the daemon gave up
			}()
			expectEOF(t, c, "before\n"+errText, 5*time.Second)
		})
	}
	// The daemon kept running.
	c = dial(t, "tcp", p.addr("tcp"))
	if got, err := roundTrip(c, "alive\n"); err != nil || got != "alive\n" {
		t.Fatalf("after the over-long lines: got %q, %v", got, err)
	}
	// A datagram may carry one line and its newline; a longer one gets the
	// error instead of an echo.
	u := dial(t, "udp", p.addr("udp"))
	if got, err := roundTrip(u, strings.Repeat("f", 100)+"\n"); err != nil || len(got) != 101 {
		t.Fatalf("datagram of 101 bytes: got %d bytes, %v", len(got), err)
	}
	u.SetDeadline(time.Now().Add(5 * time.Second))
	u.Write([]byte(strings.Repeat("g", 102)))
	buf := make([]byte, 200)
	n, err := u.Read(buf)
	if err != nil || string(buf[:n]) != "error: datagram longer than 101 bytes\n" {
		t.Fatalf("datagram of 102 bytes: got %q, %v", buf[:n], err)
	}
}

func TestMaxClients(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--max-clients", "3")
	var held []net.Conn
	for i := range 3 {
		c := dial(t, "tcp", p.addr("tcp"))
		if got, err := roundTrip(c, "in\n"); err != nil || got != "in\n" {
			t.Fatalf("client %d: got %q, %v", i, got, err)
		}
		held = append(held, c)
	}
	extra := dial(t, "tcp", p.addr("tcp"))
	expectEOF(t, extra, "error: too many clients (max 3)\n", 5*time.Second)
	if _, ok := p.waitLog("client rejected: max-clients reached", 5*time.Second); !ok {
		t.Errorf("no warning logged for the rejected client:\n%s", p.stderr())
	}
	held[0].Close()
	// The slot frees once the daemon has seen the close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, "tcp", p.addr("tcp"))
		got, err := roundTrip(c, "next\n")
		if err == nil && got == "next\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a client left: got %q, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIdleTimeout(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--idle-timeout", "500ms")
	silent := dial(t, "tcp", p.addr("tcp"))
	busy := dial(t, "tcp", p.addr("tcp"))
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		silent.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(silent)
		closed <- time.Since(start)
	}()
	// The busy client talks every 150ms for 1.5s and must stay open.
	for i := range 10 {
		if got, err := roundTrip(busy, "ping\n"); err != nil || got != "ping\n" {
			t.Fatalf("busy client round %d after %v: got %q, %v", i, time.Since(start), got, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	d := <-closed
	if d < 450*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("the silent client was closed after %v; want about 500ms", d)
	}
}

func TestDiscard(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--mode", "discard", "--max-line", "10")
	c := dial(t, "tcp", p.addr("tcp"))
	// No reply, no line limit, no quit: everything goes.
	if _, err := io.WriteString(c, "quit\n"+strings.Repeat("long line ", 1000)+"\n"); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	expectEOF(t, c, "", 5*time.Second)

	u := dial(t, "udp", p.addr("udp"))
	u.Write([]byte("dropped"))
	u.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := u.Read(make([]byte, 100)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("discard answered a datagram: %d bytes, %v", n, err)
	}
}
