package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// ioTimeout bounds each read or write a test client makes.
const ioTimeout = 3 * time.Second

// TestIntegrationListenDaemonServesClientsOnOtherHosts runs the listen daemon
// on the two-NIC host r and talks to it from hosts on both LANs, over IPv4
// and IPv6: what a user of `listen` sees when echo, quit, half-close,
// datagram replies or the shutdown on SIGINT go wrong.
func TestIntegrationListenDaemonServesClientsOnOtherHosts(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	listen := bin(t, "listen")
	r, a1, b1, b2 := tp.Host("r"), tp.Host("a1"), tp.Host("b1"), tp.Host("b2")

	// Second addresses on r, chosen so that the kernel's own source
	// address choice for a reply would be r's first address: a datagram
	// server that lets the kernel choose answers a client of the second
	// address from the wrong one.
	second4, second6 := netip.MustParseAddr("10.71.1.253"), netip.MustParseAddr("fd00:71:2::8000:1")
	for _, args := range [][]string{
		{"-n", r.NS(), "addr", "add", second4.String() + "/24", "dev", "eth0"},
		{"-n", r.NS(), "addr", "add", second6.String() + "/64", "dev", "eth1", "nodad"},
	} {
		if out, err := tp.Lab.Shell(t.Context(), "ip", args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}

	daemon := start(t, r, listen,
		"--tcp", ":7000", "--tcp", "[fd00:71:2::254]:7000",
		"--udp", ":7001", "--udp", "[::]:7002",
		"--log-level", "debug")
	waitSockets(t, r, "tcp", 7000, 2)
	waitSockets(t, r, "udp", 7001, 1)
	waitSockets(t, r, "udp", 7002, 1)

	tcpServers := []struct {
		name   string
		client *netns.Host
		addr   string
	}{
		{"IPv4 from LAN A", a1, "10.71.1.254:7000"},
		{"IPv6 from LAN B", b1, "[fd00:71:2::254]:7000"},
	}
	for _, s := range tcpServers {
		t.Run("each line comes back/"+s.name, func(t *testing.T) {
			c := dialTCP(t, s.client, s.addr)
			for _, line := range []string{"hello\n", "a second, longer line with spaces\n", "\n", "x\n"} {
				writeAll(t, c, line)
				if got := readN(t, c, len(line)); got != line {
					t.Fatalf("echo of %q from %s: got %q", line, s.addr, got)
				}
			}
		})
		t.Run("quit closes the connection/"+s.name, func(t *testing.T) {
			other := dialTCP(t, s.client, s.addr)
			c := dialTCP(t, s.client, s.addr)
			// Everything in one write: the lines before quit are
			// answered, the line after it is not.
			writeAll(t, c, "before\nquit\nafter\n")
			got, err := readToEOF(c)
			if err != nil {
				t.Fatalf("after quit to %s: %v (received %q); want the server to close the connection", s.addr, err, got)
			}
			if got != "before\n" {
				t.Errorf("after quit to %s: received %q; want %q then EOF", s.addr, got, "before\n")
			}
			// quit ends one client, not the server or its other clients.
			writeAll(t, other, "still here\n")
			if got := readN(t, other, len("still here\n")); got != "still here\n" {
				t.Errorf("other connection after quit: got %q", got)
			}
		})
		t.Run("half-close gets the last line answered, then EOF/"+s.name, func(t *testing.T) {
			c := dialTCP(t, s.client, s.addr)
			writeAll(t, c, "one\ntwo\nno newline at the end")
			if err := c.CloseWrite(); err != nil {
				t.Fatalf("shutdown(SHUT_WR) to %s: %v", s.addr, err)
			}
			got, err := readToEOF(c)
			if err != nil {
				t.Fatalf("after half-close to %s: %v (received %q); want the replies then EOF", s.addr, err, got)
			}
			if want := "one\ntwo\nno newline at the end"; got != want {
				t.Errorf("after half-close to %s: received %q; want %q", s.addr, got, want)
			}
		})
	}

	udpServers := []struct {
		name   string
		client *netns.Host
		to     netip.AddrPort
	}{
		{"IPv4 first address from LAN A", a1, netip.MustParseAddrPort("10.71.1.254:7001")},
		{"IPv4 second address from LAN A", a1, netip.AddrPortFrom(second4, 7001)},
		{"IPv4 from LAN B", b1, netip.MustParseAddrPort("10.71.2.254:7001")},
		{"IPv6 first address from LAN B", b1, netip.MustParseAddrPort("[fd00:71:2::254]:7002")},
		{"IPv6 second address from LAN B", b2, netip.AddrPortFrom(second6, 7002)},
	}
	for _, s := range udpServers {
		t.Run("datagram comes back from the address it was sent to/"+s.name, func(t *testing.T) {
			c := listenUDP(t, s.client, s.to.Addr().Is6())
			msg := []byte("datagram to " + s.to.String())
			if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WriteToUDPAddrPort(msg, s.to); err != nil {
				t.Fatalf("send to %v: %v", s.to, err)
			}
			buf := make([]byte, 2048)
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("reply to a datagram sent to %v: %v", s.to, err)
			}
			if !bytes.Equal(buf[:n], msg) {
				t.Errorf("reply from %v: %q; want %q", from, buf[:n], msg)
			}
			if from.Addr().Unmap() != s.to.Addr() || from.Port() != s.to.Port() {
				t.Errorf("reply came from %v; want it from %v, the address the client sent to (a client with a connected socket never sees it)", from, s.to)
			}
		})
	}

	t.Run("SIGINT ends the daemon with status 0 and closes its clients", func(t *testing.T) {
		c := dialTCP(t, a1, "10.71.1.254:7000")
		writeAll(t, c, "ping\n")
		if got := readN(t, c, 5); got != "ping\n" {
			t.Fatalf("echo before SIGINT: got %q", got)
		}
		if err := daemon.interrupt(); err != nil {
			t.Fatalf("listen after SIGINT: %v; want exit status 0", err)
		}
		if got, err := readToEOF(c); err != nil || got != "" {
			t.Errorf("idle client after the daemon stopped: read %q, %v; want EOF", got, err)
		}
	})
}

// dialTCP connects from inside h to addr; the connection is closed when the
// test ends.
func dialTCP(t *testing.T, h *netns.Host, addr string) *net.TCPConn {
	t.Helper()
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, ioTimeout)
		return err
	})
	if err != nil {
		t.Fatalf("%s: connect to %s: %v", h.Name(), addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// listenUDP opens an unconnected UDP socket on an ephemeral port inside h;
// it is closed when the test ends.
func listenUDP(t *testing.T, h *netns.Host, v6 bool) *net.UDPConn {
	t.Helper()
	network, addr := "udp4", "0.0.0.0:0"
	if v6 {
		network, addr = "udp6", "[::]:0"
	}
	var c *net.UDPConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", h.Name(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writeAll(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if err := c.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write %q to %v: %v", s, c.RemoteAddr(), err)
	}
}

// readN reads exactly n bytes, within ioTimeout.
func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	if k, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes from %v: got %q, %v", n, c.RemoteAddr(), buf[:k], err)
	}
	return string(buf)
}

// readToEOF reads until the peer closes, within ioTimeout, and returns what
// arrived; the error is not nil if EOF did not come in time or the
// connection was reset instead.
func readToEOF(c net.Conn) (string, error) {
	if err := c.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return "", err
	}
	var got bytes.Buffer
	_, err := io.Copy(&got, c)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("no EOF: %w", err)
	}
	return got.String(), err
}
