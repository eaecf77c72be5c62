package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/multicast"
	"golang.org/x/sys/unix"
)

// Stats counts what an Announcer or a Browser did with the datagrams it
// read and sent. Counters that do not apply to one of them stay zero.
type Stats struct {
	Received  uint64 // datagrams read
	Foreign   uint64 // not discovery messages (ErrMagic): someone else's traffic on the port
	Version   uint64 // discovery messages of another wire version (ErrVersion)
	TooLarge  uint64 // longer than MaxMessageSize (ErrTooLarge, or truncated on receive)
	Malformed uint64 // discovery messages that break the format (ErrMalformed)
	Ignored   uint64 // well-formed, but for another service, from an interface not taken part in, or of a type not handled here (an Announcer hears its own announcements back, and counts them here)

	Sent       uint64 // datagrams sent: announcements, answers, goodbyes, queries
	SendErrors uint64 // sends the kernel refused

	Queries      uint64 // Announcer: queries for its instance
	Answered     uint64 // Announcer: answers sent, to the querier or to the group
	GroupAnswers uint64 // Announcer: answers sent to the link's broadcast address or group because a unicast one would have been more than AnswerFactor times the query
	Coalesced    uint64 // Announcer: queries that an answer to the group, sent or due within a second, covered
	Refused      uint64 // Announcer: queries not answered: OffLink + Limited + Oversize
	OffLink      uint64 // Announcer: refused because the source is no neighbour on the arrival interface (nor this host, nor a destination): forged, or from across a router
	Limited      uint64 // Announcer: refused over the answer rate
	Oversize     uint64 // Announcer: refused because the answer was too large for unicast and no broadcast or group reaches the arrival interface
	Conflicts    uint64 // Announcer: announcements of its own service and instance id by another socket (another program, or another host): instance ids must be unique

	Full uint64 // Browser: new peers turned away because MaxPeers were known

	// LastError is the latest failure to send, receive, join a group or
	// list interfaces, or the latest message rejected; nil if none.
	LastError error
}

type counters struct {
	received, foreign, version, tooLarge, malformed, ignored atomic.Uint64
	sent, sendErrors                                         atomic.Uint64
	queries, answered, groupAnswers, coalesced, conflicts    atomic.Uint64
	refused, offLink, limited, oversize                      atomic.Uint64
	lastErr                                                  atomic.Pointer[error]
}

func (c *counters) stats() Stats {
	s := Stats{
		Received: c.received.Load(), Foreign: c.foreign.Load(), Version: c.version.Load(),
		TooLarge: c.tooLarge.Load(), Malformed: c.malformed.Load(), Ignored: c.ignored.Load(),
		Sent: c.sent.Load(), SendErrors: c.sendErrors.Load(),
		Queries: c.queries.Load(), Answered: c.answered.Load(), GroupAnswers: c.groupAnswers.Load(),
		Coalesced: c.coalesced.Load(), Refused: c.refused.Load(), OffLink: c.offLink.Load(),
		Limited: c.limited.Load(), Oversize: c.oversize.Load(), Conflicts: c.conflicts.Load(),
	}
	if p := c.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	return s
}

func (c *counters) fail(err error) { c.lastErr.Store(&err) }

// reject counts a datagram that did not parse.
func (c *counters) reject(err error, p *broadcast.Packet) {
	switch {
	case errors.Is(err, ErrMagic):
		c.foreign.Add(1)
		return // not ours: not worth a LastError
	case errors.Is(err, ErrVersion):
		c.version.Add(1)
	case errors.Is(err, ErrTooLarge):
		c.tooLarge.Add(1)
	default:
		c.malformed.Add(1)
	}
	c.fail(fmt.Errorf("from %v on %s: %w", p.Src, p.IfName, err))
}

// parse checks the size and format of a received datagram.
func (c *counters) parse(p *broadcast.Packet, v *view) bool {
	c.received.Add(1)
	if p.Truncated || p.Size > MaxMessageSize {
		c.reject(&MessageError{Err: ErrTooLarge, Offset: MaxMessageSize,
			Reason: fmt.Sprintf("%d bytes, more than %d", p.Size, MaxMessageSize)}, p)
		return false
	}
	if err := v.parse(p.Data); err != nil {
		c.reject(err, p)
		return false
	}
	return true
}

// target is one place a message is sent: out of an interface to the
// broadcast address or group, or to a destination by the routing table.
type target struct {
	ifindex int // 0 for a destination: the routing table picks
	ifname  string
	to      netip.AddrPort
	addrs   []netip.Addr // the addresses valid where it goes
}

// capable reports whether messages of l can go out of ifi, and why not.
func (l *link) capable(ifi *broadcast.Interface) (bool, string) {
	if l.transport == Broadcast {
		return ifi.CanBroadcast()
	}
	switch {
	case ifi.Flags&net.FlagUp == 0:
		return false, "down"
	case ifi.Flags&net.FlagMulticast == 0:
		return false, "no MULTICAST flag"
	case ifi.Flags&net.FlagLoopback != 0 && !l.named(ifi.Name):
		return false, "loopback (name it in Link.Interfaces to use it)"
	case l.group.Zone() != "" && l.group.Zone() != ifi.Name:
		return false, "not the group's zone " + l.group.Zone()
	}
	for _, a := range ifi.Addrs {
		if a.Prefix.Addr().Is6() == l.v6 {
			return true, ""
		}
	}
	if l.v6 {
		return false, "no IPv6 address"
	}
	return false, "no IPv4 address"
}

// check fails for interfaces named in Interfaces that exist but can never
// carry messages of l (flags do not change once a link exists), so that a
// Link naming lo for Broadcast fails at once rather than sending nothing.
func (l *link) check(ifs []broadcast.Interface) error {
	if len(l.Destinations) > 0 {
		return nil
	}
	for i := range ifs {
		ifi := &ifs[i]
		if !l.named(ifi.Name) {
			continue
		}
		if ok, why := l.capable(ifi); !ok && why != "down" && why != "no IPv4 address" && why != "no IPv6 address" {
			hint := ""
			if ifi.Flags&net.FlagLoopback != 0 {
				hint = fmt.Sprintf("; on loopback, use Link.Destinations (127.255.255.255:%d or [::1]:%d)", l.port, l.port)
			}
			return fmt.Errorf("discovery: interface %s cannot carry %v: %s%s", ifi.Name, l.transport, why, hint)
		}
	}
	return nil
}

// targets lists where messages go now, given the interfaces.
func (l *link) targets(ifs []broadcast.Interface) []target {
	var ts []target
	if len(l.Destinations) > 0 {
		for _, d := range l.Destinations {
			t := target{to: d}
			if ifi := routeInterface(d, ifs); ifi != nil {
				t.ifname, t.addrs = ifi.Name, l.addrsOf(ifi)
			}
			ts = append(ts, t)
		}
		return ts
	}
	to := netip.AddrPortFrom(broadcast.LimitedBroadcast(), l.port)
	if l.transport == Multicast {
		to = netip.AddrPortFrom(l.group.WithZone(""), l.port)
	}
	for i := range ifs {
		ifi := &ifs[i]
		if !l.wants(ifi.Name) {
			continue
		}
		if ok, _ := l.capable(ifi); !ok {
			continue
		}
		ts = append(ts, target{ifindex: ifi.Index, ifname: ifi.Name, to: to, addrs: l.addrsOf(ifi)})
	}
	return ts
}

// addrsOf lists the addresses to announce on an interface: those of the
// link's family first, then the other family's, whose services may well
// listen there too; global before link-local; at most MaxAddrs.
func (l *link) addrsOf(ifi *broadcast.Interface) []netip.Addr {
	type ranked struct {
		a    netip.Addr
		rank int
	}
	rs := make([]ranked, 0, len(ifi.Addrs))
	for _, ia := range ifi.Addrs {
		a := ia.Prefix.Addr().WithZone("").Unmap()
		if checkAddr(a) != "" {
			continue
		}
		r := 0
		if a.Is6() != l.v6 {
			r += 2
		}
		if ia.LinkLocal {
			r++
		}
		rs = append(rs, ranked{a, r})
	}
	slices.SortStableFunc(rs, func(x, y ranked) int { return x.rank - y.rank })
	addrs := make([]netip.Addr, 0, min(len(rs), MaxAddrs))
	for _, r := range rs {
		if len(addrs) == MaxAddrs {
			break
		}
		if !slices.Contains(addrs, r.a) {
			addrs = append(addrs, r.a)
		}
	}
	return addrs
}

// routeInterface finds the interface the kernel sends to d through, by
// connecting a UDP socket (which sends nothing) and looking up its local
// address.
func routeInterface(d netip.AddrPort, ifs []broadcast.Interface) *broadcast.Interface {
	family := unix.AF_INET
	if d.Addr().Is6() && !d.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	s, err := dgram.Open(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil
	}
	defer s.Close()
	// Without SO_BROADCAST, connecting to a broadcast address is EACCES.
	if s.SetBroadcast(true) != nil || s.Connect(dgram.AddrFrom(netip.AddrPortFrom(d.Addr().Unmap(), d.Port()))) != nil {
		return nil
	}
	local, err := s.Sockname()
	if err != nil {
		return nil
	}
	a := local.AddrPort.Addr().WithZone("").Unmap()
	for i := range ifs {
		for _, ia := range ifs[i].Addrs {
			if ia.Prefix.Addr().WithZone("").Unmap() == a {
				return &ifs[i]
			}
		}
	}
	return nil
}

// ifCache keeps the interface list between announcements, for the receive
// path, which needs an interface's addresses and prefixes per datagram.
type ifCache struct {
	mu  sync.Mutex
	ifs []broadcast.Interface
	at  time.Time
}

// list returns the interfaces, listing them again when the copy is older
// than maxAge.
func (c *ifCache) list(maxAge time.Duration) ([]broadcast.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ifs != nil && time.Since(c.at) < maxAge {
		return c.ifs, nil
	}
	ifs, err := broadcast.Interfaces()
	if err != nil {
		return c.ifs, err
	}
	c.ifs, c.at = ifs, time.Now()
	return ifs, nil
}

// byIndex finds an interface, listing again (at most once a second) when
// it is not known: a link created since.
func (c *ifCache) byIndex(index int) *broadcast.Interface {
	find := func(ifs []broadcast.Interface) *broadcast.Interface {
		for i := range ifs {
			if ifs[i].Index == index {
				return &ifs[i]
			}
		}
		return nil
	}
	ifs, _ := c.list(time.Minute)
	if ifi := find(ifs); ifi != nil {
		return ifi
	}
	ifs, _ = c.list(time.Second)
	return find(ifs)
}

// listen opens the receiving socket of l on port (0: ephemeral).
func (l *link) listen(port uint16) (*broadcast.Receiver, error) {
	addr := netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	if l.v6 {
		addr = netip.AddrPortFrom(netip.IPv6Unspecified(), port)
	}
	r, err := broadcast.Listen(broadcast.ReceiverConfig{
		Network:   l.Network,
		Addr:      addr,
		ReusePort: port != 0,
		BufSize:   MaxMessageSize + 1, // room to see that a datagram is too large
		Batch:     8,
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: listen on %v: %w", addr, err)
	}
	return r, nil
}

// joiner keeps a receiving socket in the group on every target interface,
// including interfaces that come up later.
type joiner struct {
	l      *link
	s      *dgram.Socket
	joined map[int]string // ifindex -> name
}

// join joins the group on those targets not joined yet. A link that went
// away and came back has a new index, so it is joined again.
func (j *joiner) join(ts []target) error {
	if j.l.transport != Multicast || len(j.l.Destinations) > 0 {
		return nil
	}
	if j.joined == nil {
		j.joined = make(map[int]string)
	}
	var errs []error
	for _, t := range ts {
		if _, ok := j.joined[t.ifindex]; ok {
			continue
		}
		ms, skipped, err := multicast.Join(j.s, multicast.Group{Addr: j.l.group.WithZone("")}, t.ifname)
		for _, m := range ms {
			j.joined[m.IfIndex] = m.IfName
		}
		for _, s := range skipped {
			if s.Reason == multicast.ReasonJoined {
				j.joined[t.ifindex] = t.ifname
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// receive reads from r until ctx ends or r is closed, handing each datagram
// to handle. A failing socket is retried after a pause, not spun on.
func receive(ctx context.Context, r *broadcast.Receiver, c *counters, handle func(*broadcast.Packet)) {
	pkts := make([]broadcast.Packet, 8)
	pause := 10 * time.Millisecond
	for {
		n, err := r.Receive(ctx, pkts)
		for i := range n {
			handle(&pkts[i])
		}
		if err == nil {
			pause = 10 * time.Millisecond
			continue
		}
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
			return
		}
		c.fail(fmt.Errorf("discovery: receive: %w", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}
