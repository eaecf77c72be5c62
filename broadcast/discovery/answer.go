package discovery

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// What an Announcer answers, to whom and how often: every rule about
// answers is in this file.

// AnswerFactor bounds what a query can make an Announcer send to the
// address the query names as its source: a unicast answer is at most
// AnswerFactor times the query's size in bytes. A larger answer goes to the
// link's broadcast address or group instead, where the querier hears it
// on the discovery port, so that a forged source gets no more bytes than
// the forger spent.
const AnswerFactor = 2

// groupEvery is the least time between two answers to the group on one
// interface (and family), as mDNS has for multicast records (RFC 6762
// §6): queries that come faster share the one answer.
const groupEvery = time.Second

// answerWay says how a query is answered.
type answerWay uint8

const (
	wayUnicast answerWay = iota + 1 // to the querier alone
	wayGroup                        // to the link's broadcast address or group, out of the arrival interface
	wayOffLink                      // not at all: the source is not a neighbour on the arrival interface
)

// judge decides how to answer a query of querySize bytes, from src, that
// arrived on the interface ifname (ifi, nil when unknown); own says that
// src is an address of this host. The answer would be answerSize bytes.
//
// Only a neighbour is answered: a source inside a prefix of the arrival
// interface, an IPv6 link-local source (which carries the arrival zone),
// this host, or a configured destination. Anything else is forged or came
// across a router, and answering would aim our bytes at another network.
// A neighbour gets a unicast answer of at most AnswerFactor times the
// query; a larger one goes to the group. This host and configured
// destinations are trusted with any size: answers to them amplify nothing
// for a stranger.
func (l *link) judge(src netip.AddrPort, own bool, ifname string, ifi *broadcast.Interface, querySize, answerSize int) answerWay {
	a := src.Addr().Unmap()
	if !a.IsValid() || src.Port() == 0 {
		return wayOffLink
	}
	if l.configured(a) {
		return wayUnicast
	}
	if !own && !onLink(a, ifname, ifi) {
		return wayOffLink
	}
	if own || answerSize <= AnswerFactor*querySize {
		return wayUnicast
	}
	return wayGroup
}

// configured reports whether a is the address of one of Destinations.
func (l *link) configured(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, d := range l.Destinations {
		if d.Addr().WithZone("").Unmap() == a {
			return true
		}
	}
	return false
}

// onLink reports whether src is a neighbour on the interface ifname (ifi):
// an IPv6 link-local address of that zone (the kernel gives a link-local
// source the zone of the interface it came in on; a zone-less one is taken
// as such), or a unicast address inside one of the interface's prefixes
// other than an IPv4 subnet's network and broadcast addresses. An IPv4
// link-local address (169.254/16) is on-link only where the interface has
// that prefix: unlike IPv6, a host need not be on it.
func onLink(src netip.Addr, ifname string, ifi *broadcast.Interface) bool {
	src = src.Unmap()
	if src.Is6() && src.IsLinkLocalUnicast() {
		return src.Zone() == "" || src.Zone() == ifname
	}
	src = src.WithZone("")
	if ifi == nil || !src.IsGlobalUnicast() && !src.IsLinkLocalUnicast() && !src.IsLoopback() {
		return false
	}
	for _, ia := range ifi.Addrs {
		p := ia.Prefix.Masked()
		if !p.Contains(src) {
			continue
		}
		if src.Is4() && p.Bits() < 31 && (src == p.Addr() || src == lastAddr(p)) {
			return false // the subnet itself or its broadcast address: every host
		}
		return true
	}
	return false
}

// lastAddr is the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// groupKey names where group answers go: one interface, one family (a
// udp6 Announcer answers IPv4 queries by IPv4 broadcast).
type groupKey struct {
	ifindex int
	v4      bool
}

// groupAnswers schedules answers to the group: at most one per groupEvery
// per interface and family. A query that comes sooner is answered when
// the time is up, together with every other query meanwhile.
type groupAnswers struct {
	mu     sync.Mutex // held while sending, so Close waits for a send under way
	closed bool
	next   map[groupKey]time.Time   // when the next one may go
	due    map[groupKey]*time.Timer // answers waiting for their time
}

// Verdicts of groupAnswers.ask.
const (
	groupSent      = iota // sent now
	groupScheduled        // will be sent at the end of the current groupEvery
	groupCoalesced        // an answer already scheduled covers this query
	groupClosed
)

// ask answers a query on k by the group: now with send, when the last
// answer there is groupEvery old, else once it is, with later. Both run
// with g.mu held.
func (g *groupAnswers) ask(now time.Time, k groupKey, send func(groupKey), later func(groupKey)) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return groupClosed
	}
	if g.next == nil {
		g.next = make(map[groupKey]time.Time)
		g.due = make(map[groupKey]*time.Timer)
	}
	if _, ok := g.due[k]; ok {
		return groupCoalesced
	}
	at := g.next[k]
	if !now.Before(at) {
		// Entries of interfaces gone are dropped now and then, so the map
		// stays as small as the interface list.
		if len(g.next) > 64 {
			for k, at := range g.next {
				if now.After(at) {
					delete(g.next, k)
				}
			}
		}
		g.next[k] = now.Add(groupEvery)
		send(k)
		return groupSent
	}
	g.due[k] = time.AfterFunc(at.Sub(now), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.closed {
			return
		}
		delete(g.due, k)
		g.next[k] = time.Now().Add(groupEvery)
		later(k)
	})
	return groupScheduled
}

// close cancels answers not sent yet; a send under way finishes first.
func (g *groupAnswers) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, t := range g.due {
		t.Stop()
	}
	clear(g.due)
}

// groupTargets lists where an answer to the group of k goes: the link's
// broadcast address or group out of that interface (the IPv4 broadcast
// address for an IPv4 query to a udp6 Announcer), or, on a Destinations
// link, the destinations routed through it.
func (a *Announcer) groupTargets(k groupKey) []target {
	ifs, err := a.ifs.list(time.Second)
	if err != nil && ifs == nil {
		a.c.fail(fmt.Errorf("discovery: list interfaces: %w", err))
		return nil
	}
	var ifi *broadcast.Interface
	for i := range ifs {
		if ifs[i].Index == k.ifindex {
			ifi = &ifs[i]
		}
	}
	if ifi == nil {
		return nil
	}
	if len(a.l.Destinations) > 0 {
		var ts []target
		for _, t := range a.l.targets(ifs) {
			if t.ifname == ifi.Name && t.to.Addr().Unmap().Is4() == k.v4 {
				ts = append(ts, t)
			}
		}
		return ts
	}
	to := netip.AddrPortFrom(a.l.group.WithZone(""), a.l.port)
	if k.v4 && a.l.v6 || a.l.transport == Broadcast {
		if ok, _ := ifi.CanBroadcast(); !ok {
			return nil
		}
		to = netip.AddrPortFrom(broadcast.LimitedBroadcast(), a.l.port)
	} else if ok, _ := a.l.capable(ifi); !ok {
		return nil
	}
	return []target{{ifindex: ifi.Index, ifname: ifi.Name, to: to, addrs: a.l.addrsOf(ifi)}}
}

// sendGroup sends an Answer out to the group of k, from the discovery
// port as every answer is. It runs with the groupAnswers lock held.
func (a *Announcer) sendGroup(k groupKey) {
	ts := a.groupTargets(k)
	if len(ts) == 0 {
		a.c.oversize.Add(1)
		a.c.refused.Add(1)
		return
	}
	a.textMu.Lock()
	text := a.text
	a.textMu.Unlock()
	for _, t := range ts {
		m := a.record(text)
		m.Type = TypeAnswer
		m.Addrs = t.addrs
		b, err := m.MarshalBinary()
		if err != nil {
			a.c.fail(err) // cannot happen: the record was validated and budgeted
			continue
		}
		if err := sendOut(a.rx.Socket(), b, t, &a.gsend); err != nil {
			a.c.sendErrors.Add(1)
			a.c.fail(fmt.Errorf("discovery: answer to %v via %s: %w", t.to, t.ifname, err))
			continue
		}
		a.c.sent.Add(1)
		a.c.answered.Add(1)
		a.c.groupAnswers.Add(1)
	}
}

// sendScratch holds what one sendmsg needs, reused from call to call.
type sendScratch struct {
	ctl []byte
	one [1][]byte
	msg dgram.Message
}

// sendOut sends b from s to t.to, out of t's interface when it has one,
// named per datagram with IP_PKTINFO / IPV6_PKTINFO: a limited broadcast
// otherwise leaves only by the default route.
func sendOut(s *dgram.Socket, b []byte, t target, sc *sendScratch) error {
	if sc.ctl == nil {
		sc.ctl = make([]byte, 0, msghdr.Space(unix.SizeofInet6Pktinfo))
	}
	sc.ctl = sc.ctl[:0]
	if t.ifindex != 0 {
		if t.to.Addr().Unmap().Is4() {
			sc.ctl = msghdr.AppendPktInfo4(sc.ctl, t.ifindex, netip.Addr{})
		} else {
			sc.ctl = msghdr.AppendPktInfo6(sc.ctl, t.ifindex, netip.Addr{})
		}
	}
	sc.one[0] = b
	sc.msg = dgram.Message{Buffers: sc.one[:], Control: sc.ctl, Addr: dgram.AddrFrom(t.to)}
	err := s.SendMsg(&sc.msg, 0)
	sc.one[0] = nil
	return err
}
