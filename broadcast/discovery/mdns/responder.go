package mdns

import (
	"errors"
	"fmt"
	"github.com/bcastdev/bcast/broadcast/discovery/internal/sched"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// TTLs of our records (RFC 6762 §10): two minutes for those that name a
// host (its addresses, SRV), 75 minutes for the others.
const (
	hostTTL  = 120
	otherTTL = 4500
	// legacyTTL caps TTLs in legacy unicast replies (RFC 6762 §6.7).
	legacyTTL = 10
)

// ResponderConfig configures a Responder.
type ResponderConfig struct {
	// Host is the first label of the host name to publish (Host + ".local."),
	// which services' SRV records point at. Required.
	Host string
	// Rand draws the random delays; nil means a generator seeded at random.
	Rand *rand.Rand
	// AnnounceCount is how many times records are announced after
	// probing, or after they change: 2 to 10, intervals doubling from one
	// second (RFC 6762 §8.3). 0 means 3.
	AnnounceCount int
	// UnicastRate and UnicastBurst limit the unicast replies (legacy,
	// QU, direct) to one source address: UnicastRate a second on average,
	// UnicastBurst at once. 0 means 5 and 10. MaxUnicastSources bounds
	// the table of sources (256 when 0).
	UnicastRate       float64
	UnicastBurst      int
	MaxUnicastSources int
	// AcceptAnyTTL takes responses into account (for conflicts) whatever
	// IP TTL they arrived with; by default a known TTL other than 255
	// means the response is ignored (RFC 6762 §11).
	AcceptAnyTTL bool
}

// A Service is a service instance to publish (RFC 6763).
type Service struct {
	// Instance is the instance label, as people read it: "My Printer".
	Instance string
	// Type is the service type, "_ipp._tcp".
	Type string
	// Subtypes are subtype labels ("_printer") under which the instance
	// is also found (RFC 6763 §7.1).
	Subtypes []string
	Port     uint16
	Text     []TXTItem
	// Interfaces, if not empty, are the indexes of the only interfaces
	// the service is published on.
	Interfaces []int
}

// A ServiceID names a registered service. HostID names the host name.
type ServiceID int

const HostID ServiceID = 0

// ResponderEventKind says what happened to a name.
type ResponderEventKind int

const (
	// Registered: probing found the name free on an interface; the
	// records are announced there and answer queries.
	Registered ResponderEventKind = iota + 1
	// Renamed: another host holds the name, so it was changed (RFC 6762
	// §9) and is probed again under the new one.
	Renamed
)

func (k ResponderEventKind) String() string {
	switch k {
	case Registered:
		return "registered"
	case Renamed:
		return "renamed"
	}
	return fmt.Sprintf("ResponderEventKind(%d)", int(k))
}

// A ResponderEvent reports a name registered or renamed.
type ResponderEvent struct {
	Kind    ResponderEventKind
	Service ServiceID // HostID for the host name
	IfIndex int       // Registered: the interface
	// Name is the instance label (or host label) now; OldName the one
	// given up, for Renamed.
	Name    string
	OldName string
}

// ResponderStats counts what a Responder did and refused.
type ResponderStats struct {
	Packets                    uint64
	Malformed                  uint64
	NoInterface                uint64
	OffLink                    uint64
	BadTTL                     uint64 // responses ignored for their IP TTL
	Queries                    uint64
	ResponsesSent              uint64 // multicast response packets, once per link
	UnicastReplies             uint64 // QU and direct unicast replies
	LegacyReplies              uint64 // legacy unicast replies (RFC 6762 §6.7)
	UnicastLimited             uint64 // unicast replies refused by the per-source limit
	KnownAnswerSuppressed      uint64 // answers not sent because the querier knew them
	DuplicateAnswersSuppressed uint64 // answers not sent because another responder gave them
	ProbesSent                 uint64
	ProbeTiesLost              uint64 // simultaneous probes lost (RFC 6762 §8.2)
	Conflicts                  uint64
}

type gstate int

const (
	probing gstate = iota
	announcing
	established
)

// glink is a group's state on one interface.
type glink struct {
	state        gstate
	probes       int // sent in this round
	next         time.Time
	announceLeft int
	interval     time.Duration
	// announced: the records went out under the current name on this
	// link and no goodbye has followed; they sit in caches even while a
	// conflict has the name probed for again (§9), so a rename says
	// goodbye for them.
	announced bool
}

// A group is a set of records probed and announced together: the host
// name with its addresses, or a service instance.
type group struct {
	id    ServiceID
	label string
	svc   Service  // services only; Type and Subtypes normalized
	txt   []string // services only
	links map[int]*glink
	// foreign are records of the name heard from the host that took it,
	// so that a goodbye on rename spares the winner's identical ones.
	foreign []Record
}

func (g *group) name() string {
	if g.id == HostID {
		return g.label + "." + Domain
	}
	return g.label + "." + g.svc.Type + "." + Domain
}

func (g *group) on(ifindex int) bool {
	return g.id == HostID || len(g.svc.Interfaces) == 0 || slices.Contains(g.svc.Interfaces, ifindex)
}

type owned struct {
	rec    Record
	unique bool
	g      *group
}

// A Responder publishes a host name and service instances on every
// interface it is told about, and answers for them. See the package
// documentation for how a link layer drives it. It is not safe for
// concurrent use.
type Responder struct {
	cfg       ResponderConfig
	rnd       *rand.Rand
	ifaces    map[int]*Interface
	host      *group
	groups    map[ServiceID]*group
	nextID    ServiceID
	links     map[rlinkKey]*rlink
	limiter   *sched.Limiter
	conflicts []time.Time // within the last conflictWindow
	closed    bool
	out       []Output
	events    []ResponderEvent
	stats     ResponderStats
}

// ErrClosed is returned by a Responder's methods after Close.
var ErrClosed = errors.New("mdns: responder closed")

// NewResponder returns a Responder for the host name cfg.Host + ".local.",
// which it starts probing for on each interface it is told about.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	if err := CheckHost(cfg.Host); err != nil {
		return nil, err
	}
	if cfg.AnnounceCount == 0 {
		cfg.AnnounceCount = 3
	}
	if cfg.AnnounceCount < 2 || cfg.AnnounceCount > 10 {
		return nil, fmt.Errorf("mdns: AnnounceCount %d is outside 2-10 (RFC 6762 §8.3)", cfg.AnnounceCount)
	}
	if cfg.UnicastRate <= 0 {
		cfg.UnicastRate = 5
	}
	if cfg.UnicastBurst <= 0 {
		cfg.UnicastBurst = 10
	}
	if cfg.MaxUnicastSources <= 0 {
		cfg.MaxUnicastSources = 256
	}
	r := &Responder{
		cfg: cfg, rnd: sched.NewRand(cfg.Rand),
		ifaces:  make(map[int]*Interface),
		groups:  make(map[ServiceID]*group),
		links:   make(map[rlinkKey]*rlink),
		limiter: sched.NewLimiter(cfg.UnicastRate, float64(cfg.UnicastBurst), cfg.MaxUnicastSources),
	}
	r.host = &group{id: HostID, label: cfg.Host, links: make(map[int]*glink)}
	r.groups[HostID] = r.host
	return r, nil
}

func (r *Responder) hostName() string { return r.host.name() }

// Register adds a service instance. It is probed for on each interface
// and announced once its name is found free there; a name taken
// elsewhere is renamed ("name (2)") and reported as a Renamed event.
func (r *Responder) Register(now time.Time, s Service) (ServiceID, error) {
	if r.closed {
		return 0, ErrClosed
	}
	var err error
	if s.Type, err = ParseServiceType(s.Type); err != nil {
		return 0, err
	}
	if err := CheckInstance(s.Instance); err != nil {
		return 0, err
	}
	s.Subtypes = slices.Clone(s.Subtypes)
	for i, st := range s.Subtypes {
		if s.Subtypes[i], err = ParseSubtype(st); err != nil {
			return 0, err
		}
	}
	txt, err := EncodeTXT(s.Text)
	if err != nil {
		return 0, err
	}
	for _, g := range r.groups {
		if g.id != HostID && equalFold(g.name(), s.Instance+"."+s.Type+"."+Domain) {
			return 0, fmt.Errorf("mdns: instance %q of %s is already registered", s.Instance, s.Type)
		}
	}
	s.Interfaces = slices.Clone(s.Interfaces)
	s.Text = slices.Clone(s.Text)
	r.nextID++
	g := &group{id: r.nextID, label: s.Instance, svc: s, txt: txt, links: make(map[int]*glink)}
	r.groups[g.id] = g
	for _, idx := range sortedKeys(r.ifaces) {
		r.startGroup(now, g, r.ifaces[idx])
	}
	return g.id, nil
}

// SetText replaces a service's TXT record and announces the new one
// (RFC 6762 §8.4: no new probing, the cache-flush bit replaces the old).
func (r *Responder) SetText(now time.Time, id ServiceID, text []TXTItem) error {
	g := r.groups[id]
	if g == nil || id == HostID {
		return fmt.Errorf("mdns: no service %d", id)
	}
	txt, err := EncodeTXT(text)
	if err != nil {
		return err
	}
	g.svc.Text, g.txt = slices.Clone(text), txt
	for _, gl := range g.links {
		if gl.state != probing {
			r.reannounce(now, gl)
		}
	}
	return nil
}

// Name returns the current instance label of a service, or the host
// label for HostID, after any renames.
func (r *Responder) Name(id ServiceID) (string, bool) {
	g := r.groups[id]
	if g == nil {
		return "", false
	}
	return g.label, true
}

// Unregister withdraws a service, saying goodbye (TTL 0) on every
// interface it was announced on.
func (r *Responder) Unregister(now time.Time, id ServiceID) error {
	g := r.groups[id]
	if g == nil || id == HostID {
		return fmt.Errorf("mdns: no service %d", id)
	}
	r.goodbye(now, g, false)
	delete(r.groups, id)
	return nil
}

// Close says goodbye for every record announced, host addresses
// included; the Responder does nothing more afterwards.
func (r *Responder) Close(now time.Time) {
	if r.closed {
		return
	}
	// One packet per interface says goodbye for everything.
	var byIface map[int][]Record
	for _, id := range sortedIDs(r.groups) {
		g := r.groups[id]
		byIface = r.goodbyes(g, false, byIface)
		g.links = make(map[int]*glink)
	}
	r.sendGoodbyes(now, byIface)
	r.closed = true
	r.links = make(map[rlinkKey]*rlink)
}

// UpdateInterface tells the responder of an interface that appeared or
// changed. On a new one, every name is probed for and announced; when
// addresses change, removed ones get a goodbye and the host's addresses
// are announced again (RFC 6762 §8.4).
func (r *Responder) UpdateInterface(now time.Time, ifc Interface) {
	if r.closed {
		return
	}
	c := ifc
	c.Addrs = slices.Clone(ifc.Addrs)
	old := r.ifaces[ifc.Index]
	r.ifaces[ifc.Index] = &c
	if !c.usable() || len(c.groups()) == 0 {
		r.dropInterface(ifc.Index)
		return
	}
	if old == nil || !old.usable() || len(old.groups()) == 0 {
		for _, id := range sortedIDs(r.groups) {
			r.startGroup(now, r.groups[id], &c)
		}
		return
	}
	if sameAddrs(old.Addrs, c.Addrs) {
		return
	}
	if gl := r.host.links[c.Index]; gl != nil && gl.state != probing {
		var gone []Record
		for _, a := range hostAddrRecords(old) {
			if !slices.ContainsFunc(hostAddrRecords(&c), func(b netip.Addr) bool { return b == a }) {
				gone = append(gone, addrRecord(r.hostName(), a, 0))
			}
		}
		if len(gone) > 0 {
			r.multicast(now, &c, linksOf(&c), gone, nil)
		}
		r.reannounce(now, gl)
	}
}

// RemoveInterface tells the responder an interface is gone. Nothing can
// be sent on it any more; its state is dropped.
func (r *Responder) RemoveInterface(now time.Time, ifindex int) {
	delete(r.ifaces, ifindex)
	r.dropInterface(ifindex)
}

func (r *Responder) dropInterface(ifindex int) {
	for _, g := range r.groups {
		delete(g.links, ifindex)
	}
	delete(r.links, rlinkKey{ifindex, false})
	delete(r.links, rlinkKey{ifindex, true})
}

func linksOf(ifc *Interface) []rlinkKey {
	var ks []rlinkKey
	if ifc.hasFamily(false) {
		ks = append(ks, rlinkKey{ifc.Index, false})
	}
	if ifc.hasFamily(true) {
		ks = append(ks, rlinkKey{ifc.Index, true})
	}
	return ks
}

// Events returns the events since the last call, oldest first.
func (r *Responder) Events() []ResponderEvent {
	ev := r.events
	r.events = nil
	return ev
}

// Stats returns the responder's counters.
func (r *Responder) Stats() ResponderStats { return r.stats }

// Poll runs everything due at now: probes, announcements, planned
// answers. It returns the datagrams to send; they belong to the caller.
func (r *Responder) Poll(now time.Time) []Output {
	if !r.closed {
		r.sendProbes(now)
		r.sendAnnouncements(now)
		r.sendResponses(now)
	}
	out := r.out
	r.out = nil
	return out
}

// NextDeadline is when Poll next has work, or the zero Time if nothing is
// planned. After any call that feeds the responder, call Poll at once.
func (r *Responder) NextDeadline() time.Time {
	if r.closed {
		return time.Time{}
	}
	var d time.Time
	for _, g := range r.groups {
		for _, gl := range g.links {
			if gl.state != established {
				d = sched.Earliest(d, gl.next)
			}
		}
	}
	for _, l := range r.links {
		for _, p := range l.pending {
			d = sched.Earliest(d, p.due)
		}
	}
	return d
}

// hostAddrRecords lists the host's addresses on ifc, without zones.
func hostAddrRecords(ifc *Interface) []netip.Addr {
	var out []netip.Addr
	for _, p := range ifc.Addrs {
		a := p.Addr().Unmap().WithZone("")
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func addrRecord(name string, a netip.Addr, ttl uint32) Record {
	t := dnsmessage.TypeA
	if a.Is6() {
		t = dnsmessage.TypeAAAA
	}
	return Record{Name: name, Type: t, Class: dnsmessage.ClassINET, TTL: ttl, Addr: a}
}

// records returns a group's records on ifc, whatever its state there.
func (r *Responder) records(g *group, ifc *Interface) []owned {
	var out []owned
	add := func(rec Record, unique bool) {
		rec.Class = dnsmessage.ClassINET
		rec.CacheFlush = unique
		out = append(out, owned{rec, unique, g})
	}
	if g.id == HostID {
		for _, a := range hostAddrRecords(ifc) {
			add(addrRecord(g.name(), a, hostTTL), true)
		}
		return out
	}
	if !g.on(ifc.Index) {
		return nil
	}
	inst := g.name()
	svc := g.svc.Type + "." + Domain
	add(Record{Name: svc, Type: dnsmessage.TypePTR, TTL: otherTTL, Target: inst}, false)
	for _, st := range g.svc.Subtypes {
		add(Record{Name: ServiceName(g.svc.Type, st), Type: dnsmessage.TypePTR, TTL: otherTTL, Target: inst}, false)
	}
	add(Record{Name: ServicesName, Type: dnsmessage.TypePTR, TTL: otherTTL, Target: svc}, false)
	add(Record{Name: inst, Type: dnsmessage.TypeSRV, TTL: hostTTL, Port: g.svc.Port, Target: r.hostName()}, true)
	add(Record{Name: inst, Type: dnsmessage.TypeTXT, TTL: otherTTL, Text: g.txt}, true)
	return out
}

// answering returns the records that answer queries on ifc: those of
// groups announcing or established there, each once.
func (r *Responder) answering(ifc *Interface) []owned {
	var out []owned
	seen := make(map[string]bool)
	for _, id := range sortedIDs(r.groups) {
		g := r.groups[id]
		if gl := g.links[ifc.Index]; gl == nil || gl.state == probing {
			continue
		}
		for _, o := range r.records(g, ifc) {
			if k := o.rec.key(); !seen[k] {
				seen[k] = true
				out = append(out, o)
			}
		}
	}
	return out
}

// hostNSEC is the NSEC record saying which address families the host has
// on ifc (RFC 6762 §6.1), if it lacks one (or always, with !onlyIfMissing).
func (r *Responder) hostNSEC(ifc *Interface, onlyIfMissing bool) (Record, bool) {
	if gl := r.host.links[ifc.Index]; gl == nil || gl.state == probing {
		return Record{}, false
	}
	var types []dnsmessage.Type
	if ifc.hasFamily(false) {
		types = append(types, dnsmessage.TypeA)
	}
	if ifc.hasFamily(true) {
		types = append(types, dnsmessage.TypeAAAA)
	}
	if onlyIfMissing && len(types) == 2 || len(types) == 0 {
		return Record{}, false
	}
	return Record{Name: r.hostName(), Type: TypeNSEC, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: hostTTL, Types: types}, true
}

// HandlePacket gives the responder a datagram received at now.
func (r *Responder) HandlePacket(now time.Time, p Packet) {
	if r.closed {
		return
	}
	r.stats.Packets++
	ifc := r.ifaces[p.IfIndex]
	if ifc == nil || !ifc.usable() {
		r.stats.NoInterface++
		return
	}
	m, err := ParseMessage(p.Payload)
	if err != nil || m.OpCode != 0 {
		r.stats.Malformed++
		return
	}
	src := p.Src.Addr().Unmap()
	if !ifc.onLink(src) {
		r.stats.OffLink++
		return
	}
	k := rlinkKey{p.IfIndex, src.Is6()}
	if m.Response {
		if m.RCode != 0 || p.Src.Port() != Port {
			return
		}
		if p.TTL != 0 && p.TTL != 255 && !r.cfg.AcceptAnyTTL {
			r.stats.BadTTL++
			return
		}
		r.handleResponse(now, ifc, k, m)
		return
	}
	r.stats.Queries++
	r.handleQuery(now, ifc, k, p, m)
}

type answer struct {
	rec    Record
	unique bool
	qu     bool
}

func (r *Responder) handleQuery(now time.Time, ifc *Interface, k rlinkKey, p Packet, m *Message) {
	src := p.Src.Addr().Unmap()
	legacy := p.Src.Port() != Port
	if len(m.Questions) == 0 {
		// Known answers continuing a query that had TC (RFC 6762 §7.2).
		if !legacy {
			r.knownByAsker(k, src, m.Answers)
		}
		return
	}
	probe := r.checkProbes(now, ifc, m)
	answers := r.answersTo(ifc, m)
	if len(answers) == 0 {
		return
	}
	if legacy {
		r.legacyReply(now, ifc, p, m, answers)
		return
	}
	l := r.rlink(k)
	var uni, multi []answer
	allUnique := true
	for _, a := range answers {
		// A QU question is answered by unicast unless the record has not
		// been multicast here for a quarter of its TTL (RFC 6762 §5.4); a
		// query sent to our unicast address is answered by unicast (§5.5).
		last, ok := l.last[a.rec.key()]
		if p.unicast() || a.qu && ok && now.Sub(last) < time.Duration(a.rec.TTL)*time.Second/4 {
			uni = append(uni, a)
			continue
		}
		multi = append(multi, a)
		allUnique = allUnique && a.unique
	}
	if len(uni) > 0 {
		r.unicastReply(now, ifc, p, m, uni)
	}
	lo, hi, gap := sharedDelayMin, sharedDelayMax, multicastGap
	switch {
	case m.Truncated:
		lo, hi = tcDelayMin, tcDelayMax
	case probe:
		// Defending a name against a probe: at once, and up to four
		// times a second (RFC 6762 §6, §8.1).
		lo, hi, gap = 0, 0, probeGap
	case allUnique && len(m.Questions) == 1:
		lo, hi = 0, 0
	}
	due := now.Add(sched.Jitter(r.rnd, lo, hi))
	for _, a := range multi {
		r.schedule(now, k, a.rec, due, lo, gap, src)
	}
}

// answersTo finds our answers to a query's questions on ifc, less those
// the query lists as known with at least half their TTL (RFC 6762 §7.1),
// and NSEC for types our unique names do not have (§6.1).
func (r *Responder) answersTo(ifc *Interface, m *Message) []answer {
	owned := r.answering(ifc)
	var out []answer
	seen := make(map[string]bool)
	add := func(rec Record, unique, qu bool) {
		k := rec.key()
		if seen[k] {
			return
		}
		seen[k] = true
		for i := range m.Answers {
			if ka := &m.Answers[i]; ka.Type == rec.Type && equalFold(ka.Name, rec.Name) && sameRData(ka, &rec) && ka.TTL >= rec.TTL/2 {
				r.stats.KnownAnswerSuppressed++
				return
			}
		}
		out = append(out, answer{rec, unique, qu})
	}
	for _, q := range m.Questions {
		if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
			continue
		}
		matched, ours := false, false
		for _, o := range owned {
			if !equalFold(o.rec.Name, q.Name) {
				continue
			}
			ours = ours || o.unique
			if q.Type == dnsmessage.TypeALL || q.Type == o.rec.Type {
				matched = true
				add(o.rec, o.unique, q.QU)
			}
		}
		if ours && !matched && q.Type != dnsmessage.TypeALL {
			var types []dnsmessage.Type
			for _, o := range owned {
				if equalFold(o.rec.Name, q.Name) && !slices.Contains(types, o.rec.Type) {
					types = append(types, o.rec.Type)
				}
			}
			slices.Sort(types)
			add(Record{Name: nameOf(owned, q.Name), Type: TypeNSEC, Class: dnsmessage.ClassINET, CacheFlush: true, TTL: hostTTL, Types: types}, true, q.QU)
		}
	}
	return out
}

// nameOf returns our spelling of a name a question asked about.
func nameOf(owned []owned, name string) string {
	for _, o := range owned {
		if equalFold(o.rec.Name, name) {
			return o.rec.Name
		}
	}
	return name
}

// unicastReply answers QU questions and queries sent to our unicast
// address (RFC 6762 §5.4, §5.5), to the querier alone.
func (r *Responder) unicastReply(now time.Time, ifc *Interface, p Packet, m *Message, answers []answer) {
	if !r.limiter.Take(now, p.Src.Addr().Unmap(), 1) {
		r.stats.UnicastLimited++
		return
	}
	recs := make([]Record, len(answers))
	for i, a := range answers {
		recs[i] = a.rec
	}
	sortRecords(recs)
	for _, b := range packResponses(recs, r.additionals(ifc, recs), ifc.maxPayload()) {
		r.out = append(r.out, Output{Payload: b, IfIndex: ifc.Index, Dst: p.Src})
		r.stats.UnicastReplies++
	}
}

// legacyReply answers a query from a port other than 5353, a plain DNS
// resolver's (RFC 6762 §6.7): by unicast to its address and port, with
// its ID and questions, TTLs of at most 10 s, and no cache-flush bits,
// which such a resolver would take for part of the class.
func (r *Responder) legacyReply(now time.Time, ifc *Interface, p Packet, m *Message, answers []answer) {
	if !r.limiter.Take(now, p.Src.Addr().Unmap(), 1) {
		r.stats.UnicastLimited++
		return
	}
	legacy := func(rec Record) Record {
		rec.CacheFlush = false
		rec.TTL = min(rec.TTL, legacyTTL)
		return rec
	}
	recs := make([]Record, len(answers))
	for i, a := range answers {
		recs[i] = a.rec
	}
	sortRecords(recs)
	extra := r.additionals(ifc, recs)
	reply := Message{ID: m.ID, Response: true, Authoritative: true, Questions: m.Questions}
	size, limit := 12, ifc.maxPayload()
	for _, q := range m.Questions {
		size += q.maxWireLen()
	}
	for _, rec := range recs {
		if size+rec.maxWireLen() > limit {
			reply.Truncated = true
			break
		}
		size += rec.maxWireLen()
		reply.Answers = append(reply.Answers, legacy(rec))
	}
	if !reply.Truncated {
		for _, rec := range extra {
			if size+rec.maxWireLen() <= limit {
				size += rec.maxWireLen()
				reply.Additionals = append(reply.Additionals, legacy(rec))
			}
		}
	}
	b, err := reply.AppendPack(nil)
	if err != nil {
		return
	}
	r.out = append(r.out, Output{Payload: b, IfIndex: ifc.Index, Dst: p.Src})
	r.stats.LegacyReplies++
}

// handleResponse looks at another responder's answers: duplicates of
// ones we planned (RFC 6762 §7.4), our records given with a TTL too short
// (§6.6), and conflicts with our unique names (§8.1, §9).
func (r *Responder) handleResponse(now time.Time, ifc *Interface, k rlinkKey, m *Message) {
	for _, sec := range [][]Record{m.Answers, m.Additionals} {
		for i := range sec {
			rec := &sec[i]
			if rec.TTL == 0 || rec.Class != dnsmessage.ClassINET {
				continue
			}
			r.heardAnswer(now, k, rec)
			for _, id := range sortedIDs(r.groups) {
				g := r.groups[id]
				gl := g.links[ifc.Index]
				if gl == nil || !equalFold(rec.Name, g.name()) {
					continue
				}
				if mine, ok := r.ours(g, rec); ok {
					// Ours (looped back, or from our other interface on
					// the same link); re-announce it if given with
					// less than half our TTL (§6.6).
					if gl.state != probing && rec.TTL < mine.TTL/2 {
						r.schedule(now, k, mine, now, 0, multicastGap, netip.Addr{})
					}
					continue
				}
				if gl.state == probing || r.publishesType(g, rec.Type) {
					r.conflict(now, g, ifc, m)
				}
			}
		}
	}
}

// ours reports whether rec is one of g's records on any interface, and
// returns our copy as we would send it on the interface it matched.
func (r *Responder) ours(g *group, rec *Record) (Record, bool) {
	for _, idx := range sortedKeys(r.ifaces) {
		for _, o := range r.records(g, r.ifaces[idx]) {
			if o.rec.Type == rec.Type && equalFold(o.rec.Name, rec.Name) && sameRData(&o.rec, rec) {
				return o.rec, true
			}
		}
	}
	return Record{}, false
}

func (r *Responder) publishesType(g *group, t dnsmessage.Type) bool {
	if g.id == HostID {
		return t == dnsmessage.TypeA || t == dnsmessage.TypeAAAA
	}
	return t == dnsmessage.TypeSRV || t == dnsmessage.TypeTXT
}

// conflict handles a record of another host under one of our unique
// names: while probing, the name is taken and we rename (RFC 6762 §8.1);
// once announced, we probe again (§9), and rename if that fails.
// Every record of the response under the name is the other host's, those
// equal to ours included: a goodbye on rename must spare them.
func (r *Responder) conflict(now time.Time, g *group, ifc *Interface, m *Message) {
	r.stats.Conflicts++
	r.noteConflict(now)
	name := g.name()
	for _, sec := range [][]Record{m.Answers, m.Additionals} {
		for i := range sec {
			rec := &sec[i]
			if len(g.foreign) < 32 && rec.TTL > 0 && equalFold(rec.Name, name) &&
				!slices.ContainsFunc(g.foreign, func(f Record) bool { return f.Type == rec.Type && sameRData(&f, rec) }) {
				g.foreign = append(g.foreign, *rec)
			}
		}
	}
	if gl := g.links[ifc.Index]; gl.state == probing {
		r.rename(now, g)
		return
	}
	for _, idx := range sortedKeys(g.links) {
		gl := g.links[idx]
		gl.state, gl.probes = probing, 0
		gl.next = now.Add(r.probeDelay(now))
	}
}

func (r *Responder) noteConflict(now time.Time) {
	r.conflicts = slices.DeleteFunc(r.conflicts, func(t time.Time) bool { return now.Sub(t) >= conflictWindow })
	r.conflicts = append(r.conflicts, now)
}

// rename gives a group the next name, says goodbye for what was announced
// under the old one, and probes for the new one everywhere.
func (r *Responder) rename(now time.Time, g *group) {
	r.goodbye(now, g, true)
	old := g.label
	if g.id == HostID {
		g.label = nextHost(g.label)
	} else {
		g.label = nextInstance(g.label)
	}
	g.foreign = nil
	r.events = append(r.events, ResponderEvent{Kind: Renamed, Service: g.id, Name: g.label, OldName: old})
	for _, idx := range sortedKeys(g.links) {
		gl := g.links[idx]
		gl.state, gl.probes = probing, 0
		gl.next = now.Add(r.probeDelay(now))
	}
	if g.id == HostID {
		// The services' SRV records point at the new host name.
		for _, id := range sortedIDs(r.groups) {
			if s := r.groups[id]; s.id != HostID {
				for _, gl := range s.links {
					if gl.state != probing {
						r.reannounce(now, gl)
					}
				}
			}
		}
	}
}

// goodbye sends g's records with TTL 0 (RFC 6762 §10.1) on every
// interface where they were announced. After a conflict (renaming), the
// shared PTRs naming the contested instance are left out, and so are
// records equal to ones heard from the host that won: the winner
// publishes the same, and a goodbye would remove them from every cache.
func (r *Responder) goodbye(now time.Time, g *group, renaming bool) {
	r.sendGoodbyes(now, r.goodbyes(g, renaming, nil))
}

// goodbyes adds to byIface, per interface, the records goodbye would send.
func (r *Responder) goodbyes(g *group, renaming bool, byIface map[int][]Record) map[int][]Record {
	if byIface == nil {
		byIface = make(map[int][]Record)
	}
	for _, idx := range sortedKeys(g.links) {
		gl, ifc := g.links[idx], r.ifaces[idx]
		if !gl.announced || ifc == nil {
			continue
		}
		gl.announced = false
		for _, o := range r.records(g, ifc) {
			if renaming && (!o.unique || slices.ContainsFunc(g.foreign, func(s Record) bool { return s.Type == o.rec.Type && sameRData(&s, &o.rec) })) {
				continue
			}
			if !o.unique && o.rec.Name == ServicesName && r.typeStillPublished(g, ifc) {
				continue
			}
			rec := o.rec
			rec.TTL, rec.CacheFlush = 0, false
			byIface[idx] = append(byIface[idx], rec)
		}
	}
	return byIface
}

func (r *Responder) sendGoodbyes(now time.Time, byIface map[int][]Record) {
	for _, idx := range sortedKeys(byIface) {
		ifc, recs := r.ifaces[idx], byIface[idx]
		for _, k := range linksOf(ifc) {
			if l := r.links[k]; l != nil {
				for i := range recs {
					delete(l.pending, recs[i].key())
				}
			}
		}
		r.multicast(now, ifc, linksOf(ifc), recs, nil)
	}
}

// typeStillPublished reports whether another announced service of g's
// type keeps the _services PTR for it alive on ifc.
func (r *Responder) typeStillPublished(g *group, ifc *Interface) bool {
	for _, o := range r.groups {
		if o != g && o.id != HostID && equalFold(o.svc.Type, g.svc.Type) && o.on(ifc.Index) {
			if gl := o.links[ifc.Index]; gl != nil && gl.state != probing {
				return true
			}
		}
	}
	return false
}

func sortedIDs(m map[ServiceID]*group) []ServiceID {
	ids := make([]ServiceID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
