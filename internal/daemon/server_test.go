package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
)

// syncBuffer collects log output from the loop goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		found := strings.Contains(s.b.String(), text)
		s.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log has no %q:\n%s", text, s.b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type testServer struct {
	*Server
	logs   *syncBuffer
	ls     []*Listener
	cancel context.CancelFunc
	done   chan error
}

func testSettings() Settings {
	return Settings{MaxClients: 100, IdleTimeout: time.Minute, MaxLine: 1024, ShutdownTimeout: time.Second, ClientMemory: DefaultClientMemory}
}

// serveTest runs a Server in-process on the given listeners.
func serveTest(t testing.TB, mode Mode, set Settings, specs ...[2]string) *testServer {
	t.Helper()
	return serveTestConfig(t, Config{Mode: mode, Settings: set}, specs...)
}

// serveTestConfig is serveTest with a whole Config; its Logger is replaced.
func serveTestConfig(t testing.TB, cfg Config, specs ...[2]string) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, logs: logs, done: make(chan error, 1)}
	for _, sp := range specs {
		a, err := ParseListenAddr(sp[0], sp[1])
		if err != nil {
			t.Fatal(err)
		}
		l, err := Listen(sp[0], a, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(l); err != nil {
			t.Fatal(err)
		}
		ts.ls = append(ts.ls, l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		s.Hurry()
		select {
		case <-ts.done:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return")
		}
	})
	return ts
}

func (ts *testServer) dial(t testing.TB, i int) net.Conn {
	t.Helper()
	l := ts.ls[i]
	c, err := net.DialTimeout(l.Network(), l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo of %q: got %q, %v", msg, buf, err)
	}
}

func TestServerReloadAndHurry(t *testing.T) {
	set := testSettings()
	set.ShutdownTimeout = time.Minute
	ts := serveTest(t, Echo, set, [2]string{"tcp", "127.0.0.1:0"})
	a := ts.dial(t, 0)
	echo(t, a, "first\n")

	if err := ts.Reload(Settings{}); err == nil {
		t.Fatal("Reload accepted settings with no client allowed")
	}
	set.MaxClients = 1
	if err := ts.Reload(set); err != nil {
		t.Fatal(err)
	}
	ts.logs.waitFor(t, "settings reloaded")
	b := ts.dial(t, 0)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, _ := io.ReadAll(b); string(got) != "error: too many clients (max 1)\n" {
		t.Fatalf("over the reloaded limit: got %q", got)
	}

	// a never reads while sending a lot: its replies stay pending, so the
	// graceful shutdown waits for it...
	go func() {
		a.SetWriteDeadline(time.Now().Add(5 * time.Second))
		line := []byte(strings.Repeat("a", 500) + "\n")
		for {
			if _, err := a.Write(line); err != nil {
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	ts.cancel()
	ts.logs.waitFor(t, "shutting down")
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned %v with a client's replies pending and a minute to go", err)
	case <-time.After(200 * time.Millisecond):
	}
	// ...until Hurry.
	ts.Hurry()
	select {
	case err := <-ts.done:
		ts.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Hurry")
	}
	ts.logs.waitFor(t, "shutdown deadline passed: closing clients")
}

func TestServerOnce(t *testing.T) {
	ts := serveTest(t, Echo, testSettings())
	ts.logs.waitFor(t, "serving")
	if err := ts.Serve(context.Background()); err == nil {
		t.Fatal("a second Serve was accepted")
	}
	l, err := Listen("udp", dgram.AddrFrom(netipLoopback()), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Add(l); err == nil {
		t.Fatal("Add after Serve was accepted")
	}
	if !l.closed {
		t.Fatal("a refused listener was left open")
	}
}

func TestServerUnixgram(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g")
	ts := serveTest(t, Echo, testSettings(), [2]string{"unixgram", path})
	// An unbound sender cannot be answered; the server goes on.
	anon, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	anon.Write([]byte("nobody to answer\n"))
	bound, err := net.DialUnix("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "c"), Net: "unixgram"}, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	echo(t, bound, "answered\n")
	anon.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := anon.Read(make([]byte, 64)); err == nil {
		t.Fatalf("the unbound sender got %d bytes", n)
	}
	ts.cancel()
	ts.logs.waitFor(t, "datagrams=2")
	ts.logs.waitFor(t, "unbound_sender=1")
}

// TestServerUnixgramReplyDir: a sender bound in a directory others can
// write could swap its socket for a symlink to any socket before the
// reply; it is not answered unless the operator trusts the directory.
func TestServerUnixgramReplyDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g")
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o1777); err != nil { // like /tmp
		t.Fatal(err)
	}
	send := func(ts *testServer, from string) bool {
		t.Helper()
		var local *net.UnixAddr
		if from != "" {
			local = &net.UnixAddr{Name: from, Net: "unixgram"}
		}
		c, err := net.DialUnix("unixgram", local, &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !strings.HasPrefix(from, "@") {
			defer os.Remove(from)
		}
		c.Write([]byte("hello\n"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 64))
		return err == nil
	}
	ts := serveTest(t, Echo, testSettings(), [2]string{"unixgram", path})
	if send(ts, filepath.Join(shared, "c1")) {
		t.Error("a sender in a directory anyone can write was answered")
	}
	if !send(ts, filepath.Join(dir, "c2")) {
		t.Error("a sender in a directory this user owns alone was not answered")
	}
	if !send(ts, "@bcast-test-replydir-"+strconv.Itoa(os.Getpid())) {
		t.Error("an abstract sender was not answered")
	}
	ts.cancel()
	ts.logs.waitFor(t, "outside_reply_dir=1")

	ts = serveTestConfig(t, Config{Mode: Echo, Settings: testSettings(), Reply: ReplyPolicy{ReplyDirs: []string{shared + "/"}}},
		[2]string{"unixgram", path + "2"})
	path += "2"
	if !send(ts, filepath.Join(shared, "c3")) {
		t.Error("a sender in a --reply-dir was not answered")
	}
}

func TestDirTrustRelativeAndSymlinkedDirs(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(dir, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	// dir/real/sub is a directory this user owns alone, reached through
	// a symlink in the middle (dir/link -> real) or through a directory
	// anyone may write (dir/open, not sticky): either can be repointed at
	// another directory, say a root-owned one holding a system socket,
	// between the check and the reply.
	for _, d := range []string{"real/sub", "open/sub", "sticky/sub"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "mid")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "open"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "sticky"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	d := newDirTrust(nil)
	now := time.Now()
	for path, want := range map[string]bool{
		filepath.Join(dir, "s"):                  true,
		filepath.Join(dir, "link", "s"):          false, // the directory is a symlink: whoever owns its parent can repoint it
		filepath.Join(dir, "real", "sub", "s"):   true,
		filepath.Join(dir, "mid", "sub", "s"):    false, // a symlink on the way
		filepath.Join(dir, "open", "sub", "s"):   false, // anyone can rename sub
		filepath.Join(dir, "sticky", "sub", "s"): true,  // only sub's owner can
		"relative/s":                             false,
		"@abstract":                              true,
	} {
		if got := d.allows(path, now); got != want {
			t.Errorf("allows(%q) = %v; want %v", path, got, want)
		}
	}
}

// TestServerBatch: more datagrams than one recvmmsg takes, each answered
// to its own sender.
func TestServerBatch(t *testing.T) {
	ts := serveTest(t, Echo, testSettings(), [2]string{"udp", "127.0.0.1:0"})
	var cs []net.Conn
	for range 3 {
		cs = append(cs, ts.dial(t, 0))
	}
	const per = 3 * batchSize
	for i, c := range cs {
		for j := range per {
			c.Write([]byte{byte(i), byte(j)})
		}
	}
	for i, c := range cs {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for j := range per {
			b := make([]byte, 8)
			n, err := c.Read(b)
			if err != nil || n != 2 || b[0] != byte(i) || b[1] != byte(j) {
				t.Fatalf("client %d datagram %d: got %v, %v", i, j, b[:n], err)
			}
		}
	}
}

func TestServerStopsOnCanceledContext(t *testing.T) {
	ts := serveTest(t, Discard, testSettings(), [2]string{"tcp", "127.0.0.1:0"})
	c := ts.dial(t, 0)
	io.WriteString(c, "x")
	ts.logs.waitFor(t, "client connected")
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the client read %v; want EOF", err)
	}
}

func netipLoopback() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:0") }

// TestServerHurryFirst: a Hurry that comes before the shutdown makes it
// immediate when it comes.
func TestServerHurryFirst(t *testing.T) {
	set := testSettings()
	set.ShutdownTimeout = time.Minute
	ts := serveTest(t, Echo, set, [2]string{"tcp", "127.0.0.1:0"})
	c := ts.dial(t, 0)
	io.WriteString(c, "half a line") // a client mid-line is not done
	ts.logs.waitFor(t, "client connected")
	ts.Hurry()
	time.Sleep(20 * time.Millisecond)
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(lingerTimeout / 2):
		// Without the Hurry the client, which never closes, would be
		// given lingerTimeout to do so.
		t.Fatal("Serve kept waiting for the client after Hurry")
	}
}

// TestShutdownPartialLine: at shutdown, a line a client started without
// ending comes back to it, ended with '\n', in echo mode; "quit" is still
// quit, and discard mode sends nothing.
func TestShutdownPartialLine(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		partial string
		want    string
	}{
		{"echo", Echo, "no newline yet", "no newline yet\n"},
		{"crlf kept", Echo, "half\r", "half\r\n"},
		{"quit", Echo, "quit", ""},
		{"discard", Discard, "no newline yet", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serveTest(t, tt.mode, testSettings(), [2]string{"tcp", "127.0.0.1:0"})
			c := ts.dial(t, 0)
			if tt.mode == Echo {
				echo(t, c, "done\n")
			}
			if _, err := io.WriteString(c, tt.partial); err != nil {
				t.Fatal(err)
			}
			// The server reads what already arrived when the
			// shutdown starts; give the bytes time to get there.
			time.Sleep(50 * time.Millisecond)
			ts.cancel()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v before EOF; want %q", got, err, tt.want)
			}
		})
	}
}
