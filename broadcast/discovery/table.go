package discovery

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Peer is what a Browser knows of one instance of a service.
type Peer struct {
	// Protocol is the protocol the peer was found with.
	Protocol Protocol
	Service  string
	Instance string
	// Host is, for MDNS, the host name the instance's SRV record names
	// ("alpha.local."); for SSDP, LOCATION's host when it is a name and
	// not an address; empty for Own.
	Host string
	Port uint16
	// Text is the instance's key/value pairs; nil when it has none. Each
	// Peer has its own copy.
	Text map[string]string
	// Addrs are the addresses the instance announced on the links it was
	// heard on, sorted. IPv6 link-local addresses carry the zone of the local
	// interface they are reachable through. When an instance announced no
	// address, the source address of its messages stands in.
	Addrs []netip.Addr
	// Interfaces are the local interfaces the instance was heard on, sorted.
	Interfaces []string
	// Src is where its latest message came from (Own and SSDP).
	Src netip.AddrPort
	// Local is set when that message came from an address of this host
	// (Own only).
	Local bool
	// Self is set when the instance is announced by an Announcer of this
	// process.
	Self bool
	// Seen is when it was last heard (with MDNS, when what is known of
	// it last changed); Expires is when it will be Lost unless heard
	// again (Own and SSDP: an mDNS record's lifetime is the querier's).
	Seen, Expires time.Time
}

func (p Peer) String() string {
	var b strings.Builder
	b.WriteString(p.Service + "/" + p.Instance + " port ")
	b.WriteString(strconv.Itoa(int(p.Port)))
	for _, a := range p.Addrs {
		b.WriteString(" " + a.String())
	}
	return b.String()
}

// EventKind says what happened to a peer.
type EventKind uint8

const (
	// Found: a peer the receiver of events did not know of.
	Found EventKind = iota + 1
	// Updated: its addresses, port or key/value pairs changed.
	Updated
	// Lost: it said goodbye, or was not heard from within its TTL.
	Lost
)

func (k EventKind) String() string {
	switch k {
	case Found:
		return "found"
	case Updated:
		return "updated"
	case Lost:
		return "lost"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change in the set of peers. Events are coalesced rather than
// queued without bound: a reader that falls behind gets, per peer, the
// difference between what it was last told and the state now. A peer that
// came and went meanwhile is not reported at all, and one that went and
// came back is reported as Updated (or not at all, if nothing differs).
type Event struct {
	Kind EventKind
	// Peer is the new state; for Lost, the last state known.
	Peer Peer
	// Goodbye is set on Lost when the peer said goodbye rather than expired.
	Goodbye bool
}

func (e Event) String() string { return e.Kind.String() + " " + e.Peer.String() }

type key struct{ service, instance string }

// route is what one local interface knows of a peer: announcements expire
// per interface, so an instance heard on two links that loses one keeps
// the other, and its addresses change.
type route struct {
	ifindex int
	ifname  string
	record  []byte // wire bytes from the port to the end: a repeat costs no decoding
	addrs   []netip.Addr
	src     netip.AddrPort
	seen    time.Time
	expires time.Time
}

type entry struct {
	port        uint16
	text        map[string]string // replaced, never modified, so Peers may share it until copying
	routes      []route
	local, self bool
}

// observation is one well-formed Announce or Answer with where it came
// from. The view is held by value: escape analysis follows pointers, not
// fields, and a pointer here would move every received view to the heap.
type observation struct {
	v       view
	src     netip.AddrPort
	ifindex int
	ifname  string
	// onLink says that link-local addresses in the message are reachable
	// through ifname: the message came from a neighbour, not across a router.
	onLink      bool
	local, self bool
}

// table is the peer table of a Browser. It does no I/O, starts no
// goroutines and takes the time as an argument, so tests drive it with any
// clock. The Browser serialises calls.
//
// Everything in it is bounded by max, whatever peers send and however
// slowly the events are read: max is the number of instances the table
// holds state for, counting those present (in peers) and those that went
// away after the reader was told of them and whose Lost the reader has not
// taken yet (in shown and gone). A peer that comes and goes before the
// reader hears of it leaves nothing behind.
type table struct {
	max int
	// peers is indexed service first, then instance: m[string(b)] is the
	// one map lookup by a byte slice that never allocates, whatever the
	// length; a struct key of two converted strings allocates past 32 bytes.
	peers map[string]map[string]*entry
	n     int // entries in peers

	// shown is the state the reader of events was last told of, per peer.
	// dirty lists the keys whose state may differ from it, oldest first,
	// each once; queued gives each one's position (head counts the keys
	// taken from the front so far), so that a key can be withdrawn where
	// it stands, leaving a hole (key{}, which no message can name). gone
	// keeps why a removed peer went until its Lost is taken. lost counts
	// the keys in shown that are not in peers.
	shown  map[key]Peer
	dirty  []key
	head   int
	queued map[key]int
	holes  int
	gone   map[key]bool // true: goodbye
	lost   int

	refused uint64 // new peers turned away because max was reached
}

func newTable(max int) *table {
	return &table{
		max:    max,
		peers:  make(map[string]map[string]*entry),
		shown:  make(map[key]Peer),
		queued: make(map[key]int),
		gone:   make(map[key]bool),
	}
}

func (t *table) lookup(k key) *entry { return t.peers[k.service][k.instance] }

func (t *table) add(k key, e *entry) {
	m := t.peers[k.service]
	if m == nil {
		m = make(map[string]*entry)
		t.peers[k.service] = m
	}
	m[k.instance] = e
	t.n++
	if _, ok := t.shown[k]; ok {
		t.lost-- // back before its Lost was taken
		delete(t.gone, k)
	}
}

// drop removes a present peer. When the reader was told of it, its Lost
// is queued; when not, it came and went unseen and is forgotten at once,
// pending change and all.
func (t *table) drop(k key, goodbye bool) {
	m := t.peers[k.service]
	if _, ok := m[k.instance]; !ok {
		return
	}
	delete(m, k.instance)
	if len(m) == 0 {
		delete(t.peers, k.service)
	}
	t.n--
	if _, ok := t.shown[k]; !ok {
		t.withdraw(k)
		return
	}
	t.lost++
	t.gone[k] = goodbye
	t.touch(k)
}

// each calls fn for every entry; fn may delete the entry it is given.
func (t *table) each(fn func(k key, e *entry)) {
	for service, m := range t.peers {
		for instance, e := range m {
			fn(key{service, instance}, e)
		}
	}
}

// touch queues k for the reader, unless it is queued already.
func (t *table) touch(k key) {
	if _, ok := t.queued[k]; !ok {
		t.queued[k] = t.head + len(t.dirty)
		t.dirty = append(t.dirty, k)
	}
}

// withdraw takes k out of the queue, leaving a hole, and packs the queue
// when holes are more than half of it, so that holes cost bounded memory.
func (t *table) withdraw(k key) {
	pos, ok := t.queued[k]
	if !ok {
		return
	}
	delete(t.queued, k)
	t.dirty[pos-t.head] = key{}
	t.holes++
	if t.holes > 16 && 2*t.holes > len(t.dirty) {
		n := 0
		for _, k := range t.dirty {
			if k != (key{}) {
				t.dirty[n] = k
				t.queued[k] = t.head + n
				n++
			}
		}
		clear(t.dirty[n:])
		t.dirty, t.holes = t.dirty[:n], 0
	}
}

// observe records an Announce or Answer and returns when the route it
// refreshed expires; ok is false when the table was full.
func (t *table) observe(now time.Time, o *observation) (expires time.Time, ok bool) {
	v := &o.v
	e := t.peers[string(v.service)][string(v.instance)]
	expires = now.Add(time.Duration(v.ttl) * time.Second)
	if e != nil {
		for i := range e.routes {
			r := &e.routes[i]
			if r.ifindex == o.ifindex && string(r.record) == string(v.record) {
				// Announcements and answers leave from different ports,
				// so the source may move while the record stays.
				r.seen, r.expires, r.src = now, expires, o.src
				e.local, e.self = o.local, o.self
				return expires, true
			}
		}
	}
	k := key{string(v.service), string(v.instance)}
	if e == nil {
		// One whose Lost is pending takes no more room when it comes back.
		if _, back := t.shown[k]; !back && t.n+t.lost >= t.max {
			t.refused++
			return time.Time{}, false
		}
		e = &entry{}
		t.add(k, e)
	}
	e.local, e.self = o.local, o.self
	if e.port != v.port || !sameText(e.text, v) {
		e.port = v.port
		e.text = nil
		if v.npair > 0 {
			e.text = make(map[string]string, v.npair)
			v.eachPair(func(k, val []byte) { e.text[string(k)] = string(val) })
		}
	}
	r := route{
		ifindex: o.ifindex,
		ifname:  o.ifname,
		record:  append([]byte(nil), v.record...),
		addrs:   routeAddrs(o),
		src:     o.src,
		seen:    now,
		expires: expires,
	}
	i := slices.IndexFunc(e.routes, func(r route) bool { return r.ifindex == o.ifindex })
	if i < 0 {
		e.routes = append(e.routes, r)
	} else {
		e.routes[i] = r
	}
	t.touch(k)
	return expires, true
}

// routeAddrs are the addresses a message gives for its route. IPv6
// link-local addresses get the arrival interface as their zone, and are
// dropped when the message crossed a router, where they mean nothing.
func routeAddrs(o *observation) []netip.Addr {
	addrs := o.v.appendAddrs(make([]netip.Addr, 0, o.v.naddr))
	n := 0
	for _, a := range addrs {
		if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
			if !o.onLink {
				continue
			}
			a = a.WithZone(o.ifname)
		}
		addrs[n] = a
		n++
	}
	addrs = addrs[:n]
	if len(addrs) == 0 && o.src.Addr().IsValid() {
		addrs = append(addrs, o.src.Addr())
	}
	return addrs
}

func sameText(m map[string]string, v *view) bool {
	if len(m) != v.npair {
		return false
	}
	same := true
	v.eachPair(func(k, val []byte) {
		if w, ok := m[string(k)]; !ok || w != string(val) {
			same = false
		}
	})
	return same
}

// remove drops a peer at once (a Goodbye).
func (t *table) remove(service, instance string) bool {
	k := key{service, instance}
	if t.lookup(k) == nil {
		return false
	}
	t.drop(k, true)
	return true
}

// expire drops every route that expired by now, and every peer left with
// none, and returns when the next route expires (zero if none will).
func (t *table) expire(now time.Time) (next time.Time) {
	t.each(func(k key, e *entry) {
		n := 0
		for _, r := range e.routes {
			if r.expires.After(now) {
				e.routes[n] = r
				n++
				if next.IsZero() || r.expires.Before(next) {
					next = r.expires
				}
			}
		}
		if n == len(e.routes) {
			return
		}
		clear(e.routes[n:])
		e.routes = e.routes[:n]
		if n == 0 {
			t.drop(k, false)
			return
		}
		t.touch(k)
	})
	return next
}

// peer returns the public form of an entry, sharing its Text.
func (t *table) peer(k key, e *entry) Peer {
	p := Peer{Service: k.service, Instance: k.instance, Port: e.port, Text: e.text, Local: e.local, Self: e.self}
	for _, r := range e.routes {
		p.Addrs = append(p.Addrs, r.addrs...)
		p.Interfaces = append(p.Interfaces, r.ifname)
		if r.seen.After(p.Seen) || p.Seen.IsZero() {
			p.Seen, p.Src = r.seen, r.src
		}
		if r.expires.After(p.Expires) {
			p.Expires = r.expires
		}
	}
	slices.SortFunc(p.Addrs, netip.Addr.Compare)
	p.Addrs = slices.Compact(p.Addrs)
	slices.Sort(p.Interfaces)
	p.Interfaces = slices.Compact(p.Interfaces)
	return p
}

// snapshot lists every peer, sorted by service and instance, each with
// its own Text.
func (t *table) snapshot() []Peer {
	ps := make([]Peer, 0, t.n)
	t.each(func(k key, e *entry) {
		p := t.peer(k, e)
		p.Text = maps.Clone(p.Text)
		ps = append(ps, p)
	})
	slices.SortFunc(ps, func(a, b Peer) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return strings.Compare(a.Instance, b.Instance)
	})
	return ps
}

// next takes the oldest pending change that the reader of events has not
// been told of, and records it as told. ok is false when there is none.
func (t *table) next() (ev Event, ok bool) {
	for len(t.dirty) > 0 {
		k := t.dirty[0]
		t.dirty[0] = key{}
		t.dirty = t.dirty[1:]
		t.head++
		if k == (key{}) {
			t.holes--
			continue
		}
		delete(t.queued, k)

		old, known := t.shown[k]
		e := t.lookup(k)
		present := e != nil
		switch {
		case present && !known:
			p := t.peer(k, e)
			t.shown[k] = p
			return event(Found, p, false), true
		case present && known:
			p := t.peer(k, e)
			if p.Port == old.Port && maps.Equal(p.Text, old.Text) && slices.Equal(p.Addrs, old.Addrs) {
				// Only Seen, Src or Expires moved: keep them current for the
				// next comparison's sake, and tell nobody.
				t.shown[k] = p
				continue
			}
			t.shown[k] = p
			return event(Updated, p, false), true
		case !present && known:
			goodbye := t.gone[k]
			delete(t.shown, k)
			delete(t.gone, k)
			t.lost--
			return event(Lost, old, goodbye), true
		}
	}
	return Event{}, false
}

// event copies Text so the reader may keep or change it.
func event(kind EventKind, p Peer, goodbye bool) Event {
	p.Text = maps.Clone(p.Text)
	return Event{Kind: kind, Peer: p, Goodbye: goodbye}
}

// pending reports whether next has anything to take.
func (t *table) pending() bool { return len(t.dirty) > t.holes }
