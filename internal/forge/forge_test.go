package forge

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

func TestChecksum(t *testing.T) {
	// The IPv4 header example of RFC 1071's companions: a header whose
	// checksum field is filled in sums to zero.
	d := Datagram{Src: netip.MustParseAddrPort("192.0.2.1:1000"), Dst: netip.MustParseAddrPort("192.0.2.2:2000"), Payload: []byte("abc")}
	p, err := Packet(d)
	if err != nil {
		t.Fatal(err)
	}
	if c := checksum(p[:20]); c != 0 {
		t.Errorf("IPv4 header with its checksum sums to %#04x; want 0", c)
	}
	if len(p) != 20+8+3 || !bytes.Equal(p[28:], []byte("abc")) {
		t.Errorf("packet %x", p)
	}
	if _, err := Packet(Datagram{Src: netip.MustParseAddrPort("192.0.2.1:1"), Dst: netip.MustParseAddrPort("[2001:db8::1]:2")}); err == nil {
		t.Error("mixed families: no error")
	}
}

// TestIntegrationForgedSourcesArrive sends datagrams with sources no
// socket could use, across a namespace LAN, and checks that the receiver's
// kernel delivers them with exactly those sources: the attacker tests rely
// on it.
func TestIntegrationForgedSourcesArrive(t *testing.T) {
	lab := netns.New(t)
	lan := lab.LAN("lan", netip.MustParsePrefix("10.77.1.0/24"), netip.MustParsePrefix("fd00:77:1::/64"))
	a, b := lab.Host("a"), lab.Host("b")
	a.Attach(lan, "eth0", netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("fd00:77:1::1"))
	b.Attach(lan, "eth0", netip.MustParseAddr("10.77.1.2"), netip.MustParseAddr("fd00:77:1::2"))
	var c4, c6 *net.UDPConn
	if err := b.Do(func() (err error) {
		if c4, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 7000}); err != nil {
			return err
		}
		c6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: 7000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	defer c6.Close()
	tests := []struct {
		c        *net.UDPConn
		src, dst string
	}{
		{c4, "0.0.0.0:68", "255.255.255.255:7000"},
		{c4, "10.77.1.99:4000", "10.77.1.2:7000"},
		{c4, "10.77.1.3:7000", "10.77.1.255:7000"},
		{c6, "[fd00:77:1::99]:4000", "[fd00:77:1::2]:7000"},
		{c6, "[fd00:77:1::99]:4001", "[ff02::1]:7000"},
	}
	for _, tt := range tests {
		d := Datagram{Src: netip.MustParseAddrPort(tt.src), Dst: netip.MustParseAddrPort(tt.dst), Payload: []byte(tt.src)}
		if err := a.Do(func() error { return Send("eth0", d) }); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		tt.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := tt.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Errorf("%s -> %s: %v", tt.src, tt.dst, err)
			continue
		}
		if got := netip.AddrPortFrom(from.Addr().Unmap(), from.Port()); got.String() != tt.src || string(buf[:n]) != tt.src {
			t.Errorf("%s -> %s: got %q from %v", tt.src, tt.dst, buf[:n], got)
		}
	}
}
