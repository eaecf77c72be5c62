package mdns

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/internal/event"
	"github.com/bcastdev/bcast/broadcast/discovery/internal/sched"

	"golang.org/x/net/dns/dnsmessage"
)

// QuerierConfig configures a Querier. The zero value works.
type QuerierConfig struct {
	// Rand draws the random delays; nil means a generator seeded at
	// random. Tests pass a seeded one to be repeatable.
	Rand *rand.Rand
	// MaxRecords bounds the cache (4096 when 0). When it is full, the
	// record nearest its next deadline makes room for a new one.
	MaxRecords int
	// MaxInstances bounds the instances, service types and hosts
	// tracked for events, over all subscriptions and interfaces (1024
	// when 0). More are counted in Stats and left out.
	MaxInstances int
	// EphemeralPort says the link layer sends queries from a port other
	// than 5353. Responders then answer every query by unicast to that
	// port (RFC 6762 §6.7), so unicast responses to any recent query are
	// believed, not only to QU questions.
	EphemeralPort bool
	// AcceptAnyTTL believes responses whatever IP TTL they arrived with.
	// By default a response whose Packet.TTL is known and not 255 is
	// dropped (RFC 6762 §11).
	AcceptAnyTTL bool
}

// A SubID names one subscription of a Querier.
type SubID uint64

// EventKind says what happened to what a subscription watches.
type EventKind = event.Kind

// The kinds of events, shared with the other discovery protocols.
const (
	Found   = event.Found
	Changed = event.Changed
	Lost    = event.Lost
)

// An Event reports a service instance, a service type or a host found,
// changed or lost on one interface. What is found on two interfaces is
// reported for each, with what was heard there: an instance's addresses
// on eth0 are those eth0's link announced.
type Event struct {
	Kind    EventKind
	Sub     SubID
	IfIndex int
	IfName  string
	// Name is the full name: of the instance ("My Printer._ipp._tcp.local."),
	// of the service type (BrowseTypes: "_ipp._tcp.local.") or of the
	// host (LookupHost: "host.local.").
	Name string
	// Instance and Service split an instance's name ("My Printer",
	// "_ipp._tcp"); Service alone is set for a service type.
	Instance string
	Service  string
	// Host, Port, Priority and Weight come from the instance's SRV
	// record, Text from its TXT record.
	Host     string
	Port     uint16
	Priority uint16
	Weight   uint16
	Text     []TXTItem
	// Addrs are the instance's (or host's) addresses heard on this
	// interface, sorted, IPv6 link-local ones with the interface's zone.
	Addrs []netip.Addr
}

// QuerierStats counts what a Querier did and refused.
type QuerierStats struct {
	Packets            uint64 // handed to HandlePacket
	Malformed          uint64 // not DNS messages, or with a non-zero opcode
	SkippedRecords     uint64 // records dnsmessage could not decode, stepped over
	NoInterface        uint64 // arrived on an interface not known, down, or without multicast
	OffLink            uint64 // from a source not on the arrival interface's link (RFC 6762 §11)
	BadTTL             uint64 // responses with an IP TTL other than 255
	BadPort            uint64 // responses from a port other than 5353
	UnsolicitedUnicast uint64 // unicast responses to no recent query asking for them
	QueriesSent        uint64 // query packets, counted once per interface
	QueriesSuppressed  uint64 // questions not sent because another host asked them (RFC 6762 §7.3)
	CacheRecords       int    // records in the cache now
	CacheDropped       uint64 // records evicted or refused because the cache was full
	InstancesRefused   uint64 // times an instance was left out because MaxInstances were tracked
}

type subKind int

const (
	subBrowse subKind = iota
	subTypes
	subHost
	subInstance
)

type viewKey struct {
	ifindex int
	name    string // lowerASCII
}

type view struct {
	ev Event
	// waitTXT is when the SRV and an address were first known without
	// a TXT record; after txtWait the instance is reported without one.
	waitTXT time.Time
	shown   bool
}

type sub struct {
	id       SubID
	kind     subKind
	ifindex  int    // 0: every interface
	qname    string // PTR name (browse, types), host name, or instance name
	service  string // browse and instance: "_http._tcp"
	instance string // instance: the label
	oneShot  bool
	views    map[viewKey]*view
}

// txtWait is how long an instance whose SRV and address are known waits
// for its TXT record before it is reported without one (as avahi's
// resolver does): every DNS-SD instance should have one (RFC 6763 §6),
// and most responders send it with the SRV.
const txtWait = time.Second

// A Querier asks questions on every interface it is told about and
// reports what it learns as Events. See the package documentation for how
// a link layer drives it. It is not safe for concurrent use.
type Querier struct {
	cfg          QuerierConfig
	rnd          *rand.Rand
	ifaces       map[int]*Interface
	cache        *cache
	questions    map[qKey]*question
	unicastUntil map[int]time.Time
	subs         map[SubID]*sub
	nextID       SubID
	dirty        bool
	wake         time.Time
	out          []Output
	events       []Event
	stats        QuerierStats
}

// NewQuerier returns a Querier that knows no interfaces yet.
func NewQuerier(cfg QuerierConfig) *Querier {
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = 4096
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = 1024
	}
	rnd := sched.NewRand(cfg.Rand)
	return &Querier{
		cfg: cfg, rnd: rnd,
		ifaces:       make(map[int]*Interface),
		cache:        newCache(cfg.MaxRecords, rnd),
		questions:    make(map[qKey]*question),
		unicastUntil: make(map[int]time.Time),
		subs:         make(map[SubID]*sub),
	}
}

// Browse subscribes to the instances of a service type ("_http._tcp"),
// or of one of its subtypes ("_printer", RFC 6763 §7.1) if subtype is not
// empty, on interface ifindex or on every interface if it is 0. Each
// instance found is resolved (SRV, TXT, addresses) before it is reported.
func (q *Querier) Browse(now time.Time, service, subtype string, ifindex int) (SubID, error) {
	svc, err := ParseServiceType(service)
	if err != nil {
		return 0, err
	}
	if subtype != "" {
		if subtype, err = ParseSubtype(subtype); err != nil {
			return 0, err
		}
	}
	return q.subscribe(&sub{kind: subBrowse, ifindex: ifindex, qname: ServiceName(svc, subtype), service: svc}), nil
}

// BrowseTypes subscribes to the service types announced on the link
// (RFC 6763 §9).
func (q *Querier) BrowseTypes(now time.Time, ifindex int) SubID {
	return q.subscribe(&sub{kind: subTypes, ifindex: ifindex, qname: ServicesName})
}

// Resolve subscribes to one service instance, given by its instance
// label and service type. With oneShot, its first queries ask for
// unicast responses (RFC 6762 §5.4), as befits a lookup that will stop
// once answered.
func (q *Querier) Resolve(now time.Time, instance, service string, oneShot bool, ifindex int) (SubID, error) {
	svc, err := ParseServiceType(service)
	if err != nil {
		return 0, err
	}
	name, err := InstanceName(instance, svc)
	if err != nil {
		return 0, err
	}
	return q.subscribe(&sub{kind: subInstance, ifindex: ifindex, qname: name, service: svc, instance: instance, oneShot: oneShot}), nil
}

// LookupHost subscribes to the addresses of a host: "printer" or
// "printer.local". With oneShot, the first queries ask for unicast
// responses (RFC 6762 §5.4).
func (q *Querier) LookupHost(now time.Time, host string, oneShot bool, ifindex int) (SubID, error) {
	host = strings.TrimSuffix(host, ".")
	if hasSuffixFold(host, ".local") {
		host = host[:len(host)-len(".local")]
	}
	name, err := HostName(host)
	if err != nil {
		return 0, err
	}
	return q.subscribe(&sub{kind: subHost, ifindex: ifindex, qname: name, oneShot: oneShot}), nil
}

func (q *Querier) subscribe(s *sub) SubID {
	q.nextID++
	s.id = q.nextID
	s.views = make(map[viewKey]*view)
	q.subs[s.id] = s
	q.dirty = true
	return s.id
}

// Stop ends a subscription. What it had found is not reported lost.
func (q *Querier) Stop(now time.Time, id SubID) {
	if _, ok := q.subs[id]; ok {
		delete(q.subs, id)
		q.dirty = true
	}
}

// UpdateInterface tells the querier of an interface that appeared or
// changed. Questions are asked on it from now on; what was heard on it
// before stays cached.
func (q *Querier) UpdateInterface(now time.Time, ifc Interface) {
	c := ifc
	c.Addrs = slices.Clone(ifc.Addrs)
	old := q.ifaces[ifc.Index]
	q.ifaces[ifc.Index] = &c
	if old == nil || old.usable() != c.usable() || !sameAddrs(old.Addrs, c.Addrs) {
		if !c.usable() {
			q.dropInterface(ifc.Index)
		}
		q.dirty = true
	}
}

// RemoveInterface tells the querier an interface is gone: what was found
// on it is reported lost.
func (q *Querier) RemoveInterface(now time.Time, ifindex int) {
	if _, ok := q.ifaces[ifindex]; !ok {
		return
	}
	delete(q.ifaces, ifindex)
	q.dropInterface(ifindex)
	q.dirty = true
}

func (q *Querier) dropInterface(ifindex int) {
	q.cache.dropInterface(ifindex, func(*cacheEntry) {})
	for k := range q.questions {
		if k.ifindex == ifindex {
			delete(q.questions, k)
		}
	}
	delete(q.unicastUntil, ifindex)
}

// HandlePacket gives the querier a datagram received at now. Queries
// feed duplicate question suppression; responses feed the cache.
func (q *Querier) HandlePacket(now time.Time, p Packet) {
	q.stats.Packets++
	ifc := q.ifaces[p.IfIndex]
	if ifc == nil || !ifc.usable() {
		q.stats.NoInterface++
		return
	}
	m, err := ParseMessage(p.Payload)
	if err != nil || m.OpCode != 0 {
		q.stats.Malformed++
		return
	}
	q.stats.SkippedRecords += uint64(m.Skipped)
	if !ifc.onLink(p.Src.Addr()) {
		q.stats.OffLink++
		return
	}
	if !m.Response {
		if !p.unicast() {
			q.observeQuery(now, p.IfIndex, m)
		}
		return
	}
	switch {
	case m.RCode != 0:
		q.stats.Malformed++
		return
	case p.Src.Port() != Port:
		q.stats.BadPort++
		return
	case p.TTL != 0 && p.TTL != 255 && !q.cfg.AcceptAnyTTL:
		q.stats.BadTTL++
		return
	case p.unicast() && now.After(q.unicastUntil[p.IfIndex]):
		q.stats.UnsolicitedUnicast++
		return
	}
	recs := make([]*Record, 0, len(m.Answers)+len(m.Additionals))
	for _, sec := range [][]Record{m.Answers, m.Additionals} {
		for i := range sec {
			r := &sec[i]
			if r.Class != dnsmessage.ClassINET {
				continue
			}
			switch r.Type {
			case dnsmessage.TypePTR, dnsmessage.TypeSRV, dnsmessage.TypeTXT, dnsmessage.TypeA, dnsmessage.TypeAAAA:
				recs = append(recs, r)
			}
		}
	}
	// Flush first, once per record set, so that every record of this
	// packet survives the flush its neighbours ask for (RFC 6762 §10.2).
	flushed := make(map[rrsetKey]bool)
	for _, r := range recs {
		k := rrsetKey{p.IfIndex, lowerASCII(r.Name), r.Type}
		if r.CacheFlush && r.TTL > 0 && !flushed[k] {
			flushed[k] = true
			q.cache.flush(now, p.IfIndex, r)
		}
	}
	for _, r := range recs {
		q.cache.add(now, p.IfIndex, r)
	}
	if len(recs) > 0 {
		q.dirty = true
	}
}

// Poll runs everything due at now: cache expiry and refreshes, events,
// queries. It returns the datagrams to send; they belong to the caller.
func (q *Querier) Poll(now time.Time) []Output {
	q.cache.expire(now, func(*cacheEntry) { q.dirty = true }, func(e *cacheEntry) {
		// A refresh point: ask again if someone still wants the answer.
		if qu := q.questions[qKey{e.ifindex, lowerASCII(e.rec.Name), e.rec.Type}]; qu != nil {
			qu.refresh = true
			qu.next = now
		}
	})
	if q.dirty || !q.wake.IsZero() && !q.wake.After(now) {
		q.reconcile(now)
	}
	q.sendQueries(now)
	out := q.out
	q.out = nil
	return out
}

// NextDeadline is when Poll next has work, or the zero Time if nothing is
// planned. After any call that feeds the querier, call Poll at once.
func (q *Querier) NextDeadline() time.Time {
	d := sched.Earliest(q.cache.nextDeadline(), q.wake)
	for _, qu := range q.questions {
		d = sched.Earliest(d, qu.next)
	}
	return d
}

// Events returns the events since the last call, oldest first.
func (q *Querier) Events() []Event {
	ev := q.events
	q.events = nil
	return ev
}

// Stats returns the querier's counters.
func (q *Querier) Stats() QuerierStats {
	s := q.stats
	s.CacheRecords = q.cache.len()
	s.CacheDropped = q.cache.dropped
	return s
}

// reconcile works out from the subscriptions and the cache which
// questions should be asked and what each subscription now sees, and
// reports the differences as events.
func (q *Querier) reconcile(now time.Time) {
	q.dirty = false
	q.wake = time.Time{}
	want := make(map[qKey]*question)
	ask := func(ifindex int, name string, typ dnsmessage.Type, continuous, qu bool) {
		k := qKey{ifindex, lowerASCII(name), typ}
		if w := want[k]; w != nil {
			w.continuous = w.continuous || continuous
			w.qu = w.qu || qu
			return
		}
		want[k] = &question{name: name, typ: typ, continuous: continuous, qu: qu}
	}
	tracked := 0
	for _, s := range q.subs {
		tracked += len(s.views)
	}
	for _, id := range sortedSubs(q.subs) {
		s := q.subs[id]
		seen := make(map[viewKey]bool)
		for _, idx := range sortedKeys(q.ifaces) {
			ifc := q.ifaces[idx]
			if !ifc.usable() || s.ifindex != 0 && s.ifindex != idx {
				continue
			}
			var names []string
			switch s.kind {
			case subBrowse, subTypes:
				ask(idx, s.qname, dnsmessage.TypePTR, true, false)
				for _, e := range q.cache.rrset(idx, s.qname, dnsmessage.TypePTR) {
					names = append(names, e.rec.Target)
				}
				slices.Sort(names)
				names = slices.Compact(names)
			default:
				names = []string{s.qname}
			}
			for _, name := range names {
				vk := viewKey{idx, lowerASCII(name)}
				seen[vk] = true
				ev, st := q.look(s, ifc, name, ask)
				v := s.views[vk]
				if st == lookNone {
					if v != nil {
						q.lose(v)
						delete(s.views, vk)
					}
					continue
				}
				if v == nil {
					if tracked >= q.cfg.MaxInstances {
						q.stats.InstancesRefused++
						continue
					}
					tracked++
					v = &view{}
					s.views[vk] = v
				}
				complete := st == lookDone
				if st == lookNoTXT && !v.shown {
					// SRV and addresses without TXT: wait a little for it.
					if v.waitTXT.IsZero() {
						v.waitTXT = now
					}
					if complete = now.Sub(v.waitTXT) >= txtWait; !complete {
						q.wake = sched.Earliest(q.wake, v.waitTXT.Add(txtWait))
					}
				} else if st == lookNoTXT {
					complete = true
				}
				if complete {
					q.show(v, ev)
				}
			}
		}
		for vk, v := range s.views {
			if !seen[vk] {
				q.lose(v)
				delete(s.views, vk)
			}
		}
	}
	keys := make([]qKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	// In a fixed order, so that a seeded Rand gives the same delays.
	slices.SortFunc(keys, func(a, b qKey) int {
		return cmp.Or(cmp.Compare(a.ifindex, b.ifindex), cmp.Compare(a.name, b.name), cmp.Compare(a.typ, b.typ))
	})
	for _, k := range keys {
		w := want[k]
		if qu := q.questions[k]; qu != nil {
			qu.continuous = w.continuous
			if qu.next.IsZero() && !q.answered(k, qu) {
				// Its answers are gone: ask again, from the start.
				qu.interval = firstInterval
				qu.next = now.Add(sched.Jitter(q.rnd, firstQueryMin, firstQueryMax))
			}
			continue
		}
		w.interval = firstInterval
		w.next = now.Add(sched.Jitter(q.rnd, firstQueryMin, firstQueryMax))
		q.questions[k] = w
	}
	for k := range q.questions {
		if want[k] == nil {
			delete(q.questions, k)
		}
	}
}

type lookState int

const (
	lookNone  lookState = iota // nothing to report
	lookNoTXT                  // an instance with SRV and addresses but no TXT yet
	lookDone                   // resolved
)

// look works out what subscription s sees of name on ifc, asking (through
// ask) the questions that would tell more.
func (q *Querier) look(s *sub, ifc *Interface, name string, ask func(int, string, dnsmessage.Type, bool, bool)) (Event, lookState) {
	idx := ifc.Index
	ev := Event{Sub: s.id, IfIndex: idx, IfName: ifc.Name, Name: name}
	addrs := func(host string, qu bool) {
		ask(idx, host, dnsmessage.TypeA, false, qu)
		ask(idx, host, dnsmessage.TypeAAAA, false, qu)
		for _, t := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
			for _, e := range q.cache.rrset(idx, host, t) {
				ev.Addrs = append(ev.Addrs, zoned(e.rec.Addr, ifc))
			}
		}
		slices.SortFunc(ev.Addrs, netip.Addr.Compare)
		ev.Addrs = slices.Compact(ev.Addrs)
	}
	switch s.kind {
	case subTypes:
		if !hasSuffixFold(name, "."+Domain) {
			return ev, lookNone
		}
		ev.Service = name[:len(name)-len(Domain)-1]
		return ev, lookDone
	case subHost:
		addrs(name, s.oneShot)
		ev.Host = name
		if len(ev.Addrs) == 0 {
			return ev, lookNone
		}
		return ev, lookDone
	}
	inst, svc, ok := SplitInstanceName(name)
	if !ok || !equalFold(svc, s.service) {
		return ev, lookNone
	}
	ev.Instance, ev.Service = inst, svc
	ask(idx, name, dnsmessage.TypeSRV, false, s.oneShot)
	ask(idx, name, dnsmessage.TypeTXT, false, s.oneShot)
	srvs := q.cache.rrset(idx, name, dnsmessage.TypeSRV)
	if len(srvs) == 0 {
		return ev, lookNone
	}
	// Of several SRV records, the one a client would try first
	// (RFC 2782): lowest priority, then highest weight.
	slices.SortFunc(srvs, func(a, b *cacheEntry) int {
		return cmp.Or(cmp.Compare(a.rec.Priority, b.rec.Priority), cmp.Compare(b.rec.Weight, a.rec.Weight),
			cmp.Compare(lowerASCII(a.rec.Target), lowerASCII(b.rec.Target)), cmp.Compare(a.rec.Port, b.rec.Port))
	})
	srv := srvs[0].rec
	ev.Host, ev.Port, ev.Priority, ev.Weight = srv.Target, srv.Port, srv.Priority, srv.Weight
	addrs(srv.Target, s.oneShot)
	if len(ev.Addrs) == 0 {
		return ev, lookNone
	}
	txts := q.cache.rrset(idx, name, dnsmessage.TypeTXT)
	if len(txts) == 0 {
		return ev, lookNoTXT
	}
	// After a cache flush the old TXT lingers for a second: the newest wins.
	slices.SortFunc(txts, func(a, b *cacheEntry) int {
		return cmp.Or(b.received.Compare(a.received), cmp.Compare(a.key, b.key))
	})
	ev.Text = DecodeTXT(txts[0].rec.Text)
	return ev, lookDone
}

// show reports a view's new state: found, or changed if it differs.
func (q *Querier) show(v *view, ev Event) {
	switch {
	case !v.shown:
		ev.Kind = Found
	case !sameView(&v.ev, &ev):
		ev.Kind = Changed
	default:
		return
	}
	v.shown, v.ev = true, ev
	q.events = append(q.events, ev)
}

// lose reports a view lost if it was shown.
func (q *Querier) lose(v *view) {
	if v.shown {
		lost := v.ev
		lost.Kind = Lost
		q.events = append(q.events, lost)
		v.shown = false
	}
}

func sameView(a, b *Event) bool {
	if a.Host != b.Host || a.Port != b.Port || a.Priority != b.Priority || a.Weight != b.Weight ||
		!slices.Equal(a.Addrs, b.Addrs) || len(a.Text) != len(b.Text) {
		return false
	}
	for i := range a.Text {
		x, y := a.Text[i], b.Text[i]
		if x.Key != y.Key || x.HasValue != y.HasValue || string(x.Value) != string(y.Value) {
			return false
		}
	}
	return true
}

func sortedSubs(m map[SubID]*sub) []SubID {
	ids := make([]SubID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
