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
// concurrent use: make one per goroutine.
type AddrMemo struct {
	a    *Addrs
	snap *snapshot // the snapshot the answers below come from

	src              netip.Addr // as asked about
	srcKnown         bool
	local, broadcast bool

	ifindex  int
	ifKnown  bool
	loopback bool
}

// Memo returns an AddrMemo over a.
func (a *Addrs) Memo() *AddrMemo { return &AddrMemo{a: a} }

// current returns the view's snapshot, forgetting every answer when it is
// another one than the answers came from.
func (m *AddrMemo) current() *snapshot {
	s := m.a.v.current()
	if s != m.snap {
		*m = AddrMemo{a: m.a, snap: s}
	}
	return s
}

// source looks ip up once per snapshot.
func (m *AddrMemo) source(ip netip.Addr) {
	s := m.current()
	if m.srcKnown && m.src == ip {
		return
	}
	m.src, m.srcKnown = ip, true
	m.local = s.isLocal(ip)
	ip = ip.Unmap()
	m.broadcast = ip == limitedBroadcast || s.isBroadcast(ip)
}

// IsLocal is Addrs.IsLocal, remembered.
func (m *AddrMemo) IsLocal(ip netip.Addr) bool {
	m.source(ip)
	return m.local
}

// IsBroadcast is Addrs.IsBroadcast, remembered.
func (m *AddrMemo) IsBroadcast(ip netip.Addr) bool {
	m.source(ip)
	return m.broadcast
}

// IsLoopback is Addrs.IsLoopback, remembered. An index the view does not
// know is not remembered, so that it is asked again (Addrs looks up a new
// interface, at most once a second).
func (m *AddrMemo) IsLoopback(ifindex int) bool {
	if ifindex <= 0 {
		return false
	}
	s := m.current()
	if m.ifKnown && m.ifindex == ifindex {
		return m.loopback
	}
	s2, ifi := m.a.v.lookup(s, ifindex)
	if ifi == nil {
		return false
	}
	if s2 != s {
		// The lookup refreshed the view: what was remembered is stale.
		*m = AddrMemo{a: m.a, snap: s2}
	}
	m.ifindex, m.ifKnown, m.loopback = ifindex, true, ifi.Flags&net.FlagLoopback != 0
	return m.loopback
}

// Kind is Addrs.Kind, on the snapshot the other answers come from.
func (m *AddrMemo) Kind(dst, specDst netip.Addr) Kind {
	return classify(dst.Unmap(), specDst.Unmap(), m.current())
}
