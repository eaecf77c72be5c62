package ssdp

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/bcastdev/bcast/broadcast/discovery/internal/event"
)

// An Interface is what an engine knows of one network interface: the link
// layer tells it (UpdateInterface) when one appears or changes, and
// (RemoveInterface) when one goes away.
type Interface struct {
	Index int
	Name  string
	// Flags: an engine uses an interface only while it is up and can
	// multicast.
	Flags net.Flags
	// Addrs are the interface's addresses with their prefix lengths.
	// They say which sources are on-link and, for an Advertiser, the
	// host part of LOCATION on this interface.
	Addrs []netip.Prefix
}

func (ifc *Interface) usable() bool {
	return ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagMulticast != 0
}

// onLink reports whether src is a neighbour on ifc: inside one of its
// prefixes (and not the subnet's own or broadcast address), or an IPv6
// link-local address, which names no other link.
func (ifc *Interface) onLink(src netip.Addr) bool {
	src = src.Unmap().WithZone("")
	if src.Is6() && src.IsLinkLocalUnicast() {
		return true
	}
	if !src.IsValid() || src.IsUnspecified() || src.IsMulticast() {
		return false
	}
	for _, p := range ifc.Addrs {
		pf := netip.PrefixFrom(p.Addr().Unmap().WithZone(""), p.Bits()).Masked()
		if !pf.Contains(src) {
			continue
		}
		if src.Is4() && pf.Bits() < 31 && (src == pf.Addr() || src == lastAddr4(pf)) {
			return false
		}
		return true
	}
	return false
}

func lastAddr4(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}

// owns reports whether a is one of ifc's addresses.
func (ifc *Interface) owns(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range ifc.Addrs {
		if p.Addr().Unmap().WithZone("") == a {
			return true
		}
	}
	return false
}

func (ifc *Interface) hasFamily(v6 bool) bool {
	for _, p := range ifc.Addrs {
		if p.Addr().Unmap().Is6() == v6 {
			return true
		}
	}
	return false
}

// localAddr picks ifc's address for a LOCATION seen by peer (or by the
// whole link when peer is a group): for IPv4 the address whose prefix
// holds peer, else the first; for IPv6 the global or unique-local one
// whose prefix holds peer, else the first of those, else the link-local
// one.
func (ifc *Interface) localAddr(v6 bool, peer netip.Addr) netip.Addr {
	peer = peer.Unmap().WithZone("")
	var first, inPrefix, linkLocal netip.Addr
	for _, p := range ifc.Addrs {
		a := p.Addr().Unmap().WithZone("")
		if a.Is6() != v6 {
			continue
		}
		if v6 && a.IsLinkLocalUnicast() {
			if !linkLocal.IsValid() {
				linkLocal = a
			}
			continue
		}
		if !first.IsValid() {
			first = a
		}
		if !inPrefix.IsValid() && peer.IsValid() && netip.PrefixFrom(a, p.Bits()).Masked().Contains(peer) {
			inPrefix = a
		}
	}
	for _, a := range []netip.Addr{inPrefix, first, linkLocal} {
		if a.IsValid() {
			return a
		}
	}
	return netip.Addr{}
}

// groups returns the SSDP groups to send to out of ifc: one per family it
// has an address of, among those wanted.
func (ifc *Interface) groups(fam family) []netip.AddrPort {
	var g []netip.AddrPort
	if fam.v4 && ifc.hasFamily(false) {
		g = append(g, IPv4Group)
	}
	if fam.v6 && ifc.hasFamily(true) {
		g = append(g, IPv6Group)
	}
	return g
}

// family is which IP families an engine speaks.
type family struct{ v4, v6 bool }

func parseNetwork(network string) (family, error) {
	switch network {
	case "", "udp":
		return family{true, true}, nil
	case "udp4":
		return family{v4: true}, nil
	case "udp6":
		return family{v6: true}, nil
	}
	return family{}, fmt.Errorf("ssdp: network %q: want udp, udp4 or udp6", network)
}

func (f family) has(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() && f.v4 || a.Is6() && f.v6
}

// isGroup reports whether a is an SSDP group: 239.255.255.250 or ff0X::c
// (the IPv6 SSDP group in any scope).
func isGroup(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a == IPv4Group.Addr()
	}
	if !a.IsMulticast() {
		return false
	}
	b := a.As16()
	b[1] = 0x02 // any scope
	return netip.AddrFrom16(b) == IPv6Group.Addr()
}

// A Packet is a datagram the link layer received and hands to an engine.
type Packet struct {
	Payload []byte
	// IfIndex is the interface the datagram arrived on (IP_PKTINFO,
	// IPV6_PKTINFO).
	IfIndex int
	// Src is the sender's address and port.
	Src netip.AddrPort
	// Dst is the datagram's destination: an SSDP group, or a unicast
	// address of this host.
	Dst netip.Addr
	// Truncated says the datagram was longer than the link layer read.
	Truncated bool
}

// An Output is a datagram an engine asks the link layer to send out of
// interface IfIndex, from that interface's own address, to Dst: an SSDP
// group or a unicast address and port. IfIndex 0 (a unicast search to a
// host on no known link) leaves the route to the kernel.
type Output struct {
	Payload []byte
	IfIndex int
	Dst     netip.AddrPort
}

// EventKind says what happened to an advertisement.
type EventKind = event.Kind

// The kinds of events, shared with the other discovery protocols.
const (
	Found   = event.Found
	Changed = event.Changed
	Lost    = event.Lost
)
