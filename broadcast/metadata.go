package broadcast

import (
	"strings"

	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// Metadata names the pieces of a Packet's metadata a Receiver asks the
// kernel for (ReceiverConfig.Metadata). Each costs a control message per
// datagram, written by the kernel and parsed by Receive; a loop that only
// counts datagrams saves a good part of its CPU by asking for less. The
// source address and the payload come with every datagram whatever it says.
type Metadata uint8

const (
	// MetaPktInfo: Dst, Local, Kind, IfIndex and IfName (IP_PKTINFO,
	// IPV6_RECVPKTINFO). Without it Kind is Unknown, IfIndex 0.
	MetaPktInfo Metadata = 1 << iota
	// MetaTTL: TTL (IP_RECVTTL, IPV6_RECVHOPLIMIT); -1 without it.
	MetaTTL
	// MetaTOS: TOS (IP_RECVTOS, IPV6_RECVTCLASS); 0 without it.
	MetaTOS
	// MetaTime: Time, the kernel's receive timestamp (SO_TIMESTAMPNS);
	// the zero Time without it.
	MetaTime
	// MetaDrops: Packet.Drops, the socket's drop counter as each datagram
	// was queued (SO_RXQ_OVFL). The kernel attaches it from the first drop
	// on, to every datagram after: a control message per datagram for the
	// rest of a lossy run. Receiver.Drops reads the same counter on demand
	// without it.
	MetaDrops

	// MetaNone asks for none of the above: the zero Metadata means
	// MetaAll, so "nothing" needs a name of its own. Any other piece named
	// beside it wins.
	MetaNone Metadata = 1 << 7

	// MetaAll is every piece: what a zero ReceiverConfig.Metadata asks for.
	MetaAll = MetaPktInfo | MetaTTL | MetaTOS | MetaTime | MetaDrops
)

// effective is the set a Receiver asks for: the zero value is MetaAll, and
// an interface filter needs the arrival interface.
func (m Metadata) effective(cfg *ReceiverConfig) Metadata {
	if m == 0 {
		m = MetaAll
	}
	m &= MetaAll
	if cfg.Iface != "" {
		m |= MetaPktInfo
	}
	if m == 0 {
		return MetaNone
	}
	return m
}

func (m Metadata) String() string {
	if m == 0 || m&MetaAll == MetaAll {
		return "all"
	}
	var names []string
	for _, p := range metaPieces {
		if m&p.m != 0 {
			names = append(names, p.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// metaPieces maps each piece to its socket options (IPv4 and IPv6 forms)
// and the control messages that come of them.
var metaPieces = []struct {
	m      Metadata
	name   string
	v4, v6 int // option name at IPPROTO_IP / IPPROTO_IPV6; 0 for SOL_SOCKET
	sock   int // option name at SOL_SOCKET
	flags  msghdr.Flags
}{
	{MetaPktInfo, "pktinfo", unix.IP_PKTINFO, unix.IPV6_RECVPKTINFO, 0, msghdr.FlagPktInfo4 | msghdr.FlagPktInfo6},
	{MetaTTL, "ttl", unix.IP_RECVTTL, unix.IPV6_RECVHOPLIMIT, 0, msghdr.FlagTTL | msghdr.FlagHopLimit},
	{MetaTOS, "tos", unix.IP_RECVTOS, unix.IPV6_RECVTCLASS, 0, msghdr.FlagTOS | msghdr.FlagTrafficClass},
	{MetaTime, "time", 0, 0, unix.SO_TIMESTAMPNS, msghdr.FlagTimestamp},
	{MetaDrops, "drops", 0, 0, unix.SO_RXQ_OVFL, msghdr.FlagRxqOvfl},
}

// controlFlags are the control messages m brings; a Receiver's control
// buffers are sized for one of each.
func (m Metadata) controlFlags() msghdr.Flags {
	var f msghdr.Flags
	for _, p := range metaPieces {
		if m&p.m != 0 {
			f |= p.flags
		}
	}
	return f
}
