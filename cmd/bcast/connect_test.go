package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
)

// tcpServer runs serve for each connection on a loopback listener and
// returns its address.
func tcpServer(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().String()
}

func summaryOf(t *testing.T, stderr string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil || m["type"] != "summary" {
		t.Fatalf("no JSON summary last on stderr:\n%s", stderr)
	}
	return m
}

func TestConnectTCP(t *testing.T) {
	echo := tcpServer(t, func(c *net.TCPConn) { io.Copy(c, c) })
	// Answers only once its peer has said everything (EOF): what a client
	// that never shuts its write side would wait for forever.
	afterEOF := tcpServer(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		c.Write([]byte("you sent " + itoa(len(b)) + " bytes\n"))
	})
	// Resets the connection once it has read a line.
	reset := tcpServer(t, func(c *net.TCPConn) {
		c.Read(make([]byte, 100))
		c.SetLinger(0)
	})

	t.Run("echo, binary-safe", func(t *testing.T) {
		in := "hello\n\x00\xff binary\n"
		r := runApp(t, in, "connect", echo, "--json")
		if r.code != 0 || r.stdout != in {
			t.Fatalf("exit %d, stdout %q; want 0 and %q\n%s", r.code, r.stdout, in, r.stderr)
		}
		s := summaryOf(t, r.stderr)
		if s["bytes_sent"] != float64(len(in)) || s["bytes_received"] != float64(len(in)) || s["end"] != "peer closed" || s["network"] != "tcp" {
			t.Errorf("summary %v", s)
		}
	})
	t.Run("end of input shuts the write side; the answer after it is heard", func(t *testing.T) {
		r := runApp(t, "HEAD / HTTP/1.0\n\n", "connect", afterEOF)
		if r.code != 0 || r.stdout != "you sent 17 bytes\n" {
			t.Errorf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("--crlf", func(t *testing.T) {
		r := runApp(t, "HEAD / HTTP/1.0\n\n", "connect", afterEOF, "--crlf")
		if r.stdout != "you sent 19 bytes\n" {
			t.Errorf("stdout %q; want 19 bytes (two LFs became CRLF)", r.stdout)
		}
	})
	t.Run("--no-shutdown keeps the server waiting until --idle", func(t *testing.T) {
		r := runApp(t, "x\n", "connect", afterEOF, "--no-shutdown", "--idle", "300ms", "--json")
		if r.code != 0 || r.stdout != "" || summaryOf(t, r.stderr)["end"] != "idle" {
			t.Errorf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("reset", func(t *testing.T) {
		r := runApp(t, "line\n", "connect", reset, "--no-shutdown")
		if r.code != exitFailure || !strings.Contains(r.stderr, "connection reset by peer (ECONNRESET)") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp4", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		r := runApp(t, "", "connect", addr)
		if r.code != exitFailure || !strings.Contains(r.stderr, "connection refused (ECONNREFUSED) by "+addr) {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("--timeout with nothing received", func(t *testing.T) {
		silent := tcpServer(t, func(c *net.TCPConn) { time.Sleep(2 * time.Second) })
		r := runApp(t, "", "connect", silent, "--no-shutdown", "--timeout", "200ms")
		if r.code != exitTimeout {
			t.Errorf("exit %d; want %d\n%s", r.code, exitTimeout, r.stderr)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestConnectUDP(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 70000)
		for {
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			got = append(got, string(buf[:n]))
			c.WriteToUDPAddrPort(buf[:n], from)
			if len(got) == 3 {
				return
			}
		}
	}()
	addr := c.LocalAddr().String()
	r := runApp(t, "one\ntwo\nthree", "connect", "--udp", addr, "--wait", "300ms", "--json")
	<-done
	if want := []string{"one\n", "two\n", "three"}; !slices.Equal(got, want) {
		t.Errorf("server got %q; want one datagram per line %q", got, want)
	}
	if r.code != 0 || r.stdout != "one\ntwo\nthree" {
		t.Errorf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if s := summaryOf(t, r.stderr); s["datagrams_sent"] != float64(3) || s["datagrams_received"] != float64(3) || s["end"] != "eof" {
		t.Errorf("summary %v", s)
	}

	t.Run("--no-lines", func(t *testing.T) {
		srv, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		defer srv.Close()
		r := runApp(t, "a\nb\n", "connect", "--udp", srv.LocalAddr().String(), "--no-lines", "--wait", "0s")
		buf := make([]byte, 100)
		srv.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "a\nb\n" || r.code != 0 {
			t.Errorf("server got %q (%v), exit %d; want the whole input in one datagram", buf[:n], err, r.code)
		}
	})
	t.Run("nobody listens", func(t *testing.T) {
		srv, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		addr := srv.LocalAddr().String()
		srv.Close()
		r := runApp(t, "x\n", "connect", "--udp", addr, "--wait", "2s")
		if r.code != exitFailure || !strings.Contains(r.stderr, "ECONNREFUSED") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
}

func TestConnectUnix(t *testing.T) {
	dir := t.TempDir()
	stream := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stream, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	if r := runApp(t, "over unix\n", "connect", "--unix", stream); r.code != 0 || r.stdout != "over unix\n" {
		t.Errorf("--unix: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}

	gram := "@bcast-connect-test-" + itoa(os.Getpid())
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: gram, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 100)
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := pc.ReadFromUnix(buf)
		if err == nil {
			pc.WriteToUnix(buf[:n], from) // the client bound an abstract name: it can be answered
		}
	}()
	if r := runApp(t, "gram\n", "connect", "--unixgram", gram, "--wait", "300ms"); r.code != 0 || r.stdout != "gram\n" {
		t.Errorf("--unixgram: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runApp(t, "", "connect", "--unix", filepath.Join(dir, "none")); r.code != exitFailure || !strings.Contains(r.stderr, "ENOENT") {
		t.Errorf("missing socket: exit %d\n%s", r.code, r.stderr)
	}
}

func TestConnectUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no peer"},
		{[]string{"--udp", "127.0.0.1:7", "--unix", "/x"}, "--udp and --unix: give one of them"},
		{[]string{"127.0.0.1:7", "extra"}, "unexpected argument"},
		{[]string{"--broadcast", "127.0.0.1:7"}, "--broadcast goes with --udp"},
		{[]string{"127.1:7"}, "write 127.0.0.1"},
		{[]string{"localhost:nosuchservice"}, "no tcp service nosuchservice in /etc/services"},
		{[]string{"127.0.0.1:0"}, "port 0"},
		{[]string{"[fe80::1]:7"}, "exists once per link"},
		{[]string{"127.0.0.1:7", "--iface", "nosuch0"}, "no interface nosuch0"},
		{[]string{"--unix", "/x", "--src", "127.0.0.1"}, "--src and --iface are for TCP and UDP"},
	}
	for _, tt := range tests {
		r := runApp(t, "", append([]string{"connect"}, tt.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("connect %q: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.want)
		}
	}
}

func TestResolvePeerServiceNames(t *testing.T) {
	got, err := resolvePeer(context.Background(), "tcp", "localhost:www")
	if err != nil || len(got) == 0 {
		t.Fatalf("localhost:www: %v %v", got, err)
	}
	for _, a := range got {
		if a.AddrPort.Port() != 80 || !a.AddrPort.Addr().IsLoopback() {
			t.Errorf("localhost:www gave %v; want a loopback address, port 80", a)
		}
	}
	got, err = resolvePeer(context.Background(), "udp", "[::1]:domain")
	if err != nil || got[0].AddrPort != netip.MustParseAddrPort("[::1]:53") {
		t.Errorf("[::1]:domain: %v %v", got, err)
	}
}

func TestFlagsFirst(t *testing.T) {
	cmd := connectCommand()
	for in, want := range map[string]string{
		"host:80 --crlf":                     "--crlf host:80",
		"host:80 --timeout 3s --json":        "--timeout 3s --json host:80",
		"--udp h:7 --wait=1s":                "--udp h:7 --wait=1s",
		"h:1 -- --not-a-flag":                "-- h:1 --not-a-flag",
		"--iface eth0 host:80 --no-shutdown": "--iface eth0 --no-shutdown host:80",
	} {
		if got := strings.Join(flagsFirst(cmd, strings.Fields(in)), " "); got != want {
			t.Errorf("flagsFirst(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{"a\nb\n": "a\r\nb\r\n", "a\r\nb": "a\r\nb", "\n": "\r\n", "none": "none"} {
		if got := string(crlf([]byte(in))); got != want {
			t.Errorf("crlf(%q) = %q; want %q", in, got, want)
		}
	}
}

// A name that gives ::1 before 127.0.0.1, with --src 127.0.0.1: the IPv6
// address does not fit the source, the IPv4 one does and must be tried.
func TestDialConnectSkipsAddressesOfTheOtherFamily(t *testing.T) {
	srv := tcpServer(t, func(c *net.TCPConn) {})
	v4 := netip.MustParseAddrPort(srv)
	for _, tt := range []struct {
		name  string
		dests []netip.AddrPort
		want  string // "" for success, else part of the error
	}{
		{"IPv6 first", []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Loopback(), v4.Port()), v4}, ""},
		{"IPv6 only", []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Loopback(), v4.Port())}, "--src 127.0.0.1:0 is IPv4 but [::1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &connectPlan{network: "tcp", src: dgram.AddrFrom(netip.MustParseAddrPort("127.0.0.1:0"))}
			for _, d := range tt.dests {
				p.dests = append(p.dests, dgram.AddrFrom(d))
			}
			s, to, err := dialConnect(context.Background(), p)
			if s != nil {
				s.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("dialConnect: %v; want a connection to %v", err, v4)
			case tt.want == "" && to.AddrPort != v4:
				t.Errorf("connected to %v; want %v", to, v4)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("dialConnect: %v; want an error with %q", err, tt.want)
			}
		})
	}
}

func TestReorderKeepsCompletionLast(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for in, want := range map[string]string{
		"bcast resolve x.local --json --generate-bash-completion": "bcast resolve --json x.local --generate-bash-completion",
		"bcast connect h:80 --generate-bash-completion":           "bcast connect h:80 --generate-bash-completion",
		"bcast connect h:80 --crlf":                               "bcast connect --crlf h:80",
	} {
		if got := strings.Join(reorder(app, strings.Fields(in)), " "); got != want {
			t.Errorf("reorder(%q) = %q; want %q", in, got, want)
		}
	}
	var out strings.Builder
	if code := run(strings.Fields("bcast resolve x.local --generate-bash-completion"), strings.NewReader(""), &out, io.Discard); code != exitOK || !strings.Contains(out.String(), "--iface") {
		t.Errorf("completion after an argument: exit %d, output %q; want %d and the flags", code, out.String(), exitOK)
	}
}

// A bad SSDP target or --network is a usage error (exit 2) found before
// any socket is opened, not a runtime failure.
func TestSSDPConfigIsUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"discover", "--proto", "ssdp", "--network", "ip4", "--timeout", "1ms"}, "--network ip4: want udp4 or udp6"},
		{[]string{"announce", "--proto", "ssdp", "--service", "urn:x", "--port", "80", "--network", "ip4", "--timeout", "1ms"}, "--network ip4: want udp4 or udp6"},
	} {
		r := runApp(t, "", tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.want)
		}
	}
}
