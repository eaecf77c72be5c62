package broadcast

import (
	"net/netip"
	"strconv"
)

// Kind says how a datagram was addressed: to this host alone, to every host
// of a link or subnet, or to a multicast group.
type Kind uint8

const (
	// Unknown: the datagram came without its destination address
	// (IP_PKTINFO / IPV6_PKTINFO missing), so its kind cannot be told.
	Unknown Kind = iota
	// Unicast: sent to one of this host's addresses.
	Unicast
	// Broadcast: sent to the limited broadcast address 255.255.255.255 or
	// to the directed broadcast address of a subnet this host is on
	// (192.168.1.255 for 192.168.1.0/24). IPv4 only.
	Broadcast
	// Multicast: sent to a multicast group (224.0.0.0/4, ff00::/8).
	Multicast
)

var kindNames = [...]string{"unknown", "unicast", "broadcast", "multicast"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// LimitedBroadcast is 255.255.255.255, the limited broadcast address: every
// host on the link it is sent out of, never forwarded by a router.
func LimitedBroadcast() netip.Addr { return limitedBroadcast }

// classify decides the Kind of a datagram from its header destination dst
// and, for IPv4, the kernel's ipi_spec_dst (specDst). The kernel sets
// ipi_spec_dst to the destination itself exactly when it routed the packet
// as local unicast, and to the interface address it would answer from when
// it routed it as broadcast or multicast; that verdict needs no interface
// list and cannot be stale. The snapshot's broadcast addresses decide only
// when the kernel gave no spec_dst.
func classify(dst, specDst netip.Addr, s *snapshot) Kind {
	switch {
	case !dst.IsValid():
		return Unknown
	case dst.IsMulticast():
		return Multicast
	case !dst.Is4():
		return Unicast
	case dst == limitedBroadcast:
		return Broadcast
	case specDst.IsValid() && !specDst.IsUnspecified():
		if specDst == dst {
			return Unicast
		}
		return Broadcast
	case s != nil && s.isBroadcast(dst):
		return Broadcast
	}
	return Unicast
}
