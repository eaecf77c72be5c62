package mdns

import (
	"net"
	"net/netip"
	"slices"
)

// An Interface is what an engine knows of one network interface: the link
// layer tells it (UpdateInterface) when one appears or changes, and
// (RemoveInterface) when one goes away, typically from netlink.
type Interface struct {
	Index int
	Name  string
	// Flags: an engine uses an interface only while it is up and can
	// multicast.
	Flags net.Flags
	// MTU bounds the packets built for the interface; 0 means 1500.
	MTU int
	// Addrs are the interface's addresses with their prefix lengths.
	// They say which sources are on-link (RFC 6762 §11) and, for a
	// responder, which A and AAAA records the host has on this link.
	// IPv6 link-local addresses may carry a zone or not.
	Addrs []netip.Prefix
}

func (ifc *Interface) usable() bool {
	return ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagMulticast != 0
}

// maxPayload is the largest UDP payload that leaves ifc unfragmented over
// IPv6 (40 bytes of IP header, 8 of UDP) and so over IPv4 too.
func (ifc *Interface) maxPayload() int {
	mtu := ifc.MTU
	if mtu <= 0 {
		mtu = 1500
	}
	return min(max(mtu-48, 512), 9000)
}

// onLink reports whether src may be believed on ifc (RFC 6762 §11): it
// lies in one of the interface's subnets, or is an IPv6 link-local
// address.
func (ifc *Interface) onLink(src netip.Addr) bool {
	src = src.Unmap().WithZone("")
	if src.Is6() && src.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range ifc.Addrs {
		if p.Addr().WithZone("").Is4() == src.Is4() && netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Contains(src) {
			return true
		}
	}
	return false
}

// hasFamily reports whether ifc has an address of the family: without
// one there is no source address to send that family from.
func (ifc *Interface) hasFamily(v6 bool) bool {
	for _, p := range ifc.Addrs {
		if p.Addr().Unmap().Is6() == v6 {
			return true
		}
	}
	return false
}

// groups returns the groups to send to out of ifc, one per family it has.
func (ifc *Interface) groups() []netip.AddrPort {
	var g []netip.AddrPort
	if ifc.hasFamily(false) {
		g = append(g, IPv4Group)
	}
	if ifc.hasFamily(true) {
		g = append(g, IPv6Group)
	}
	return g
}

// zoned gives an address the zone of ifc if it is IPv6 link-local, which
// means nothing without one (fe80::1%eth0), and no zone otherwise.
func zoned(a netip.Addr, ifc *Interface) netip.Addr {
	a = a.Unmap()
	if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
		return a.WithZone(ifc.Name)
	}
	return a.WithZone("")
}

func sameAddrs(a, b []netip.Prefix) bool {
	return slices.Equal(a, b)
}

// A Packet is a datagram the link layer received on UDP port 5353 (or on
// a querier's own port) and hands to an engine.
type Packet struct {
	Payload []byte
	// IfIndex is the interface the datagram arrived on (IP_PKTINFO,
	// IPV6_PKTINFO).
	IfIndex int
	// Src is the sender's address and port.
	Src netip.AddrPort
	// Dst is the datagram's destination address: an mDNS group, or a
	// unicast address of this host. The zero Addr is taken as a group.
	Dst netip.Addr
	// TTL is the IP TTL or hop limit the datagram arrived with, or 0 if
	// the link layer does not know it.
	TTL int
}

func (p *Packet) unicast() bool {
	return p.Dst.IsValid() && !p.Dst.IsMulticast()
}

// An Output is a datagram an engine asks the link layer to send from port
// 5353 out of interface IfIndex, with IP TTL (hop limit) 255 and a source
// address of that interface, to Dst: IPv4Group or IPv6Group, or a unicast
// address and port (a reply to one querier).
type Output struct {
	Payload []byte
	IfIndex int
	Dst     netip.AddrPort
}

// packResponses builds one or more multicast response messages
// (RFC 6762 §6, §18: ID 0, QR and AA set, no questions) holding answers,
// then as many of additionals as fit, in packets of at most limit bytes.
// An answer too large for any packet is dropped.
func packResponses(answers, additionals []Record, limit int) [][]byte {
	var out [][]byte
	for len(answers) > 0 {
		m := Message{Response: true, Authoritative: true}
		size := 12
		for len(answers) > 0 && size+answers[0].maxWireLen() <= limit {
			size += answers[0].maxWireLen()
			m.Answers = append(m.Answers, answers[0])
			answers = answers[1:]
		}
		if len(m.Answers) == 0 {
			answers = answers[1:]
			continue
		}
		if len(answers) == 0 {
			for _, r := range additionals {
				if size+r.maxWireLen() <= limit {
					size += r.maxWireLen()
					m.Additionals = append(m.Additionals, r)
				}
			}
		}
		if b, err := m.AppendPack(nil); err == nil {
			out = append(out, b)
		}
	}
	return out
}
