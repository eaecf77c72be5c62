package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/dgram"
)

func TestParseListenAddr(t *testing.T) {
	good := map[[2]string]string{
		{"tcp", "127.0.0.1:7"}:        "127.0.0.1:7",
		{"tcp", ":7"}:                 "0.0.0.0:7",
		{"udp", "[::1]:0"}:            "[::1]:0",
		{"udp", "[::ffff:1.2.3.4]:9"}: "1.2.3.4:9",
		{"unix", "/run/x.sock"}:       "/run/x.sock",
		{"unixgram", "@name"}:         "@name",
	}
	for in, want := range good {
		a, err := ParseListenAddr(in[0], in[1])
		if err != nil || a.String() != want {
			t.Errorf("ParseListenAddr(%q, %q) = %v, %v; want %s", in[0], in[1], a, err, want)
		}
	}
	bad := map[[2]string]string{
		{"tcp", "localhost:7"}:                   "literal IP",
		{"tcp", "1.2.3.4"}:                       "HOST:PORT",
		{"udp", ":70000"}:                        "0-65535",
		{"udp", "[::1]:x"}:                       "0-65535",
		{"unix", ""}:                             "socket path",
		{"unixgram", "@"}:                        "socket path",
		{"unix", "/" + strings.Repeat("p", 107)}: "longer than",
		{"sctp", ":1"}:                           "unknown network",
	}
	for in, want := range bad {
		if a, err := ParseListenAddr(in[0], in[1]); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseListenAddr(%q, %q) = %v, %v; want an error containing %q", in[0], in[1], a, err, want)
		}
	}
}

// FuzzParseListenAddr: an accepted IP address prints back to text that
// parses to the same address.
func FuzzParseListenAddr(f *testing.F) {
	f.Add("tcp", "127.0.0.1:7")
	f.Add("udp", "[fe80::1%eth0]:9")
	f.Add("unix", "@x")
	f.Fuzz(func(t *testing.T, network, text string) {
		a, err := ParseListenAddr(network, text)
		if err != nil {
			return
		}
		again, err := ParseListenAddr(network, a.String())
		if err != nil || again != a {
			t.Fatalf("%q -> %v -> %v, %v", text, a, again, err)
		}
	})
}

func TestListenUnixStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	// A socket file whose server is gone.
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	l, err := Listen("unix", dgram.UnixAddr(path), "")
	if err != nil {
		t.Fatalf("a stale socket file was not replaced: %v", err)
	}
	// A live one is not taken over.
	if _, err := Listen("unix", dgram.UnixAddr(path), ""); err == nil || !strings.Contains(err.Error(), "a server is answering") {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	l.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Close left the socket file: %v", err)
	}
	// Anything that is not a socket is left alone.
	os.WriteFile(path, []byte("data"), 0o644)
	if _, err := Listen("unix", dgram.UnixAddr(path), ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a plain file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Fatal("the plain file was changed")
	}
}
