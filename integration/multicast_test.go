package integration

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/bcastdev/bcast/internal/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// multicastTTL is the TTL (hop limit) bcast send gives a group by default:
// this link only.
const multicastTTL = 1

// TestIntegrationMulticastReachesJoinedSocketsOnly sends to two groups on
// one port, per family, and checks that each group reaches exactly the
// sockets that joined it: on other hosts of the link, on a two-NIC host
// (on the sender's link only), and not on the other LAN. On a3 another
// program has joined the first group on another port: with the kernel's
// default (IP_MULTICAST_ALL on), a3's listener, which joined only the
// second group, would see the first one too.
func TestIntegrationMulticastReachesJoinedSocketsOnly(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	for _, fam := range []struct {
		name           string
		port           int
		listen, other  string
		g1, g2, source netip.Addr
	}{
		{"IPv4", 9201, ":9201", ":9299", netip.MustParseAddr("239.71.0.1"), netip.MustParseAddr("239.71.0.2"), a1v4},
		{"IPv6", 9202, "[::]:9202", "[::]:9299", netip.MustParseAddr("ff15::71:1"), netip.MustParseAddr("ff15::71:2"), netip.MustParseAddr("fd00:71:1::1")},
	} {
		g1, g2 := fam.g1.String(), fam.g2.String()
		a2 := startListen(t, tp.Host("a2"), "--listen", fam.listen, "--group", g1)
		a3other := startListen(t, tp.Host("a3"), "--listen", fam.other, "--group", g1)
		a3 := startListen(t, tp.Host("a3"), "--listen", fam.listen, "--group", g2)
		a4 := startListen(t, tp.Host("a4"), "--listen", fam.listen) // joins nothing
		r := startListen(t, tp.Host("r"), "--listen", fam.listen, "--group", g1)
		b1 := startListen(t, tp.Host("b1"), "--listen", fam.listen, "--group", g1)

		to1 := netip.AddrPortFrom(fam.g1, uint16(fam.port)).String()
		to2 := netip.AddrPortFrom(fam.g2, uint16(fam.port)).String()
		m1, m2 := fam.name+" to "+g1, fam.name+" to "+g2
		send(t, tp.Host("a1"), "--to", to1, "--iface", "eth0", "--message", m1)
		send(t, tp.Host("a1"), "--to", to2, "--iface", "eth0", "--message", m2)
		outs := stopListeners(t, a2, a3other, a3, a4, r, b1)

		w := func(host string, group netip.Addr, msg string) want {
			return want{src: fam.source, dst: group, kind: "multicast", nic: tp.NIC(host, "eth0"), ttl: multicastTTL, payload: msg}
		}
		checkExactly(t, fam.name+" a2 (joined "+g1+")", fam.port, outs[0].datagrams, w("a2", fam.g1, m1))
		checkExactly(t, fam.name+" a3 (joined "+g1+" on another port)", fam.port, outs[1].datagrams)
		checkExactly(t, fam.name+" a3 (joined "+g2+"; the host is in "+g1+" too)", fam.port, outs[2].datagrams, w("a3", fam.g2, m2))
		checkExactly(t, fam.name+" a4 (joined nothing)", fam.port, outs[3].datagrams)
		checkExactly(t, fam.name+" r (joined "+g1+" on both LANs)", fam.port, outs[4].datagrams, w("r", fam.g1, m1))
		checkExactly(t, fam.name+" b1 (joined "+g1+" on LAN B)", fam.port, outs[5].datagrams)
	}
}

// TestIntegrationListenersSharingAPortEachGetTheirGroups runs three
// `bcast listen --reuse-port` on one host and port: two joined to the
// first group, one to the second. Each must get every datagram of its own
// group and none of the other, as the --reuse-port help promises ("share
// the port with other programs"). The datagrams come from many source
// ports: delivery that picks one socket of the port by a hash of the
// addresses and ports (SO_REUSEPORT load balancing) instead of copying to
// each member is caught with near certainty.
func TestIntegrationListenersSharingAPortEachGetTheirGroups(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	const senders = 16
	for _, fam := range []struct {
		name           string
		port           int
		listen         string
		g1, g2, source netip.Addr
	}{
		{"IPv4", 9221, ":9221", netip.MustParseAddr("239.71.0.1"), netip.MustParseAddr("239.71.0.2"), a1v4},
		{"IPv6", 9222, "[::]:9222", netip.MustParseAddr("ff15::71:1"), netip.MustParseAddr("ff15::71:2"), netip.MustParseAddr("fd00:71:1::1")},
	} {
		g1, g2 := fam.g1.String(), fam.g2.String()
		a3 := tp.Host("a3")
		first := startListen(t, a3, "--listen", fam.listen, "--reuse-port", "--group", g1)
		second := startListen(t, a3, "--listen", fam.listen, "--reuse-port", "--group", g1)
		other := startListen(t, a3, "--listen", fam.listen, "--reuse-port", "--group", g2)

		var w1, w2 []want
		for i := range senders {
			for _, g := range []netip.Addr{fam.g1, fam.g2} {
				msg := fmt.Sprintf("%s sender %d to %v", fam.name, i+1, g)
				wt := want{src: fam.source, dst: g, kind: "multicast", nic: tp.NIC("a3", "eth0"), ttl: multicastTTL, payload: msg}
				if g == fam.g1 {
					w1 = append(w1, wt)
				} else {
					w2 = append(w2, wt)
				}
				sendMulticastFrom(t, tp.Host("a1"), "eth0", netip.AddrPortFrom(g, uint16(fam.port)), msg)
			}
		}
		outs := stopListeners(t, first, second, other)
		checkExactly(t, fam.name+" a3 first listener of "+g1, fam.port, outs[0].datagrams, w1...)
		checkExactly(t, fam.name+" a3 second listener of "+g1, fam.port, outs[1].datagrams, w1...)
		checkExactly(t, fam.name+" a3 listener of "+g2, fam.port, outs[2].datagrams, w2...)
	}
}

// TestIntegrationSourceSpecificMulticastDeliversOnlyTheChosenSource has two
// senders on one group; each receiver asked for one of them (SOURCE,GROUP)
// and must get that one's datagram only.
func TestIntegrationSourceSpecificMulticastDeliversOnlyTheChosenSource(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	for _, fam := range []struct {
		name       string
		port       int
		listen     string
		group      netip.Addr
		src1, src4 netip.Addr // addresses of a1 and a4
	}{
		{"IPv4", 9211, ":9211", netip.MustParseAddr("232.71.0.1"), a1v4, a4v4},
		{"IPv6", 9212, "[::]:9212", netip.MustParseAddr("ff35::8000:7101"), netip.MustParseAddr("fd00:71:1::1"), netip.MustParseAddr("fd00:71:1::4")},
	} {
		g := fam.group.String()
		fromA1 := startListen(t, tp.Host("a2"), "--listen", fam.listen, "--group", fam.src1.String()+","+g)
		fromA4 := startListen(t, tp.Host("a3"), "--listen", fam.listen, "--group", fam.src4.String()+","+g)
		both := startListen(t, tp.Host("r"), "--listen", fam.listen, "--group", fam.src1.String()+","+g, "--group", fam.src4.String()+","+g)

		to := netip.AddrPortFrom(fam.group, uint16(fam.port)).String()
		m1, m4 := fam.name+" from a1", fam.name+" from a4"
		send(t, tp.Host("a1"), "--to", to, "--iface", "eth0", "--message", m1)
		send(t, tp.Host("a4"), "--to", to, "--iface", "eth0", "--message", m4)
		outs := stopListeners(t, fromA1, fromA4, both)

		w := func(host string, src netip.Addr, msg string) want {
			return want{src: src, dst: fam.group, kind: "multicast", nic: tp.NIC(host, "eth0"), ttl: multicastTTL, payload: msg}
		}
		checkExactly(t, fam.name+" a2 (source a1)", fam.port, outs[0].datagrams, w("a2", fam.src1, m1))
		checkExactly(t, fam.name+" a3 (source a4)", fam.port, outs[1].datagrams, w("a3", fam.src4, m4))
		checkExactly(t, fam.name+" r (sources a1 and a4)", fam.port, outs[2].datagrams, w("r", fam.src1, m1), w("r", fam.src4, m4))
	}
}

// sendMulticastFrom sends one datagram to group from a new socket (so a new
// source port) inside h, out of ifname with TTL 1. It stands for another
// program on the LAN; the receivers are what is under test.
func sendMulticastFrom(t *testing.T, h *netns.Host, ifname string, group netip.AddrPort, msg string) {
	t.Helper()
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		network := "udp4"
		if group.Addr().Is6() {
			network = "udp6"
		}
		c, err := net.ListenPacket(network, ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		if group.Addr().Is6() {
			p := ipv6.NewPacketConn(c)
			err = errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastHopLimit(1))
		} else {
			p := ipv4.NewPacketConn(c)
			err = errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastTTL(1))
		}
		if err != nil {
			return err
		}
		_, err = c.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(group))
		return err
	})
	if err != nil {
		t.Fatalf("%s: send to %v out of %s: %v", h.Name(), group, ifname, err)
	}
}
