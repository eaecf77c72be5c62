package broadcast

import (
	"net"
	"net/netip"
)

// An AddrMemo asks an Addrs for one goroutine and remembers the answers
// about the last source address and the last interface, until the view of
// this host's addresses changes. Datagrams come in runs from one sender on
// one interface, and for a server answering each one (an echo) the table
// lookups of the checks cost more than the rest of them. Not safe for
// concurrent use: make one per goroutine. A Receiver describes its
// datagrams through one of its own.
type AddrMemo struct {
	v    *view
	snap *snapshot // the snapshot the answers below come from

	localOf  netip.Addr // the source IsLocal was last asked about
	local    bool
	localSet bool

	bcastOf  netip.Addr // the source IsBroadcast was last asked about
	bcast    bool
	bcastSet bool

	ifindex int
	ifi     *Interface // nil: not looked up (an unknown index is asked again)
}

// Memo returns an AddrMemo over a.
func (a *Addrs) Memo() *AddrMemo { return &AddrMemo{v: a.v} }

// at makes s the snapshot the answers come from, forgetting every answer
// when they came from another one.
func (m *AddrMemo) at(s *snapshot) {
	if s != m.snap {
		*m = AddrMemo{v: m.v, snap: s}
	}
}

// isLocal is snapshot.isLocal on s, remembered.
func (m *AddrMemo) isLocal(s *snapshot, ip netip.Addr) bool {
	m.at(s)
	if !m.localSet || m.localOf != ip {
		m.localOf, m.localSet, m.local = ip, true, s.isLocal(ip)
	}
	return m.local
}

// iface is view.lookup on *s, remembered; a lookup that refreshed the view
// moves *s (and the memo) to the new snapshot.
func (m *AddrMemo) iface(s **snapshot, index int) *Interface {
	m.at(*s)
	if m.ifi != nil && m.ifindex == index {
		return m.ifi
	}
	s2, ifi := m.v.lookup(*s, index)
	if s2 != *s {
		*s = s2
		m.at(s2)
	}
	m.ifindex, m.ifi = index, ifi
	return ifi
}

// IsLocal is Addrs.IsLocal, remembered.
func (m *AddrMemo) IsLocal(ip netip.Addr) bool { return m.isLocal(m.v.current(), ip) }

// IsBroadcast is Addrs.IsBroadcast, remembered.
func (m *AddrMemo) IsBroadcast(ip netip.Addr) bool {
	m.at(m.v.current())
	if !m.bcastSet || m.bcastOf != ip {
		u := ip.Unmap()
		m.bcastOf, m.bcastSet, m.bcast = ip, true, u == limitedBroadcast || m.snap.isBroadcast(u)
	}
	return m.bcast
}

// IsLoopback is Addrs.IsLoopback, remembered. An index the view does not
// know is not remembered, so that it is asked again (Addrs looks up a new
// interface, at most once a second).
func (m *AddrMemo) IsLoopback(ifindex int) bool {
	if ifindex <= 0 {
		return false
	}
	s := m.v.current()
	ifi := m.iface(&s, ifindex)
	return ifi != nil && ifi.Flags&net.FlagLoopback != 0
}

// Kind is Addrs.Kind, on the snapshot the other answers come from.
func (m *AddrMemo) Kind(dst, specDst netip.Addr) Kind {
	s := m.v.current()
	m.at(s)
	return classify(dst.Unmap(), specDst.Unmap(), s)
}
