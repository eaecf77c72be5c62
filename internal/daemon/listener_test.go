package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
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
		{"udp", ":70000"}:                        "port 70000 is out of range (0 to 65535)",
		{"udp", "[::1]:x"}:                       `port "x" is not a number`,
		{"udp", "[::1]:"}:                        "no port after the colon",
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

// dirNames lists what is in dir, to check that no private directory is
// left behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestListenSocketFileModeAndOwner(t *testing.T) {
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid, gid = nobody(t)
	}
	tests := []struct {
		network string
		mode    uint32
	}{
		{"unix", DefaultSocketMode},
		{"unixgram", DefaultSocketMode},
		{"unix", 0o660},
		{"unixgram", 0o600},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %#o", tt.network, tt.mode), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s")
			l, err := ListenWith(tt.network, dgram.UnixAddr(path), ListenOptions{SocketMode: tt.mode, SocketUID: uid, SocketGID: gid})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var st unix.Stat_t
			if err := unix.Lstat(path, &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&0o7777 != tt.mode {
				t.Errorf("mode %#o; want a socket with %#o", st.Mode, tt.mode)
			}
			if uid >= 0 && (int(st.Uid) != uid || int(st.Gid) != gid) {
				t.Errorf("owner %d:%d; want %d:%d", st.Uid, st.Gid, uid, gid)
			}
			if got := l.Addr().String(); got != path {
				t.Errorf("Addr() = %s; want %s", got, path)
			}
			if names := dirNames(t, dir); len(names) != 1 || names[0] != "s" {
				t.Errorf("the directory holds %v; want only the socket", names)
			}
		})
	}
}

// TestListenSocketPathSwapped: a symbolic link put at the socket path,
// before the daemon starts or while it sets the socket up, is neither
// followed nor replaced, and the file it points at is untouched.
func TestListenSocketPathSwapped(t *testing.T) {
	for _, when := range []string{"before", "during"} {
		t.Run(when, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s")
			s := newSecret(t)
			plant := func() {
				if err := os.Symlink(s.path, path); err != nil {
					t.Fatal(err)
				}
			}
			want := "not a socket"
			if when == "before" {
				plant()
			} else {
				beforeLink = plant
				t.Cleanup(func() { beforeLink = nil })
				want = "appeared while the socket was being set up"
			}
			_, err := ListenWith("unix", dgram.UnixAddr(path), ListenOptions{SocketMode: 0o666, SocketUID: -1, SocketGID: -1})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v; want %q", err, want)
			}
			s.check(t)
			if target, err := os.Readlink(path); err != nil || target != s.path {
				t.Errorf("the link was replaced: %q, %v", target, err)
			}
			if names := dirNames(t, dir); len(names) != 1 {
				t.Errorf("the directory holds %v; want only the link", names)
			}
		})
	}
}

func TestListenSocketLongPath(t *testing.T) {
	// A path near the 107-byte limit still binds: through /proc/self/fd
	// when the private directory's path would be too long.
	dir := t.TempDir()
	if len(dir) > 80 {
		t.Skipf("temporary directory path too long (%d bytes)", len(dir))
	}
	path := filepath.Join(dir, strings.Repeat("x", 100-len(dir)))
	l, err := Listen("unix", dgram.UnixAddr(path), "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
