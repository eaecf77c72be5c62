package ssdp

import (
	"fmt"
	"github.com/bcastdev/bcast/broadcast/discovery/internal/sched"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults and bounds of AdvertiserConfig.
const (
	// DefaultServer is the SERVER header when AdvertiserConfig.Server
	// is empty, in the UDA's "OS/version UPnP/1.1 product/version" form.
	DefaultServer = "Linux/1 UPnP/1.1 bcast/1"
	// MaxMX caps the delay before an answer whatever MX a search asks
	// (UDA 1.1 §1.3.3: MX above 5 is taken as 5).
	MaxMX = 5
	// announceDelay is the most an announcement waits when an
	// interface comes up (UDA 1.1 §1.2.2: a random delay under 100 ms).
	announceDelay = 100 * time.Millisecond
	// announceRepeat is the gap before the second copy of the first
	// announcement, sent to cover loss.
	announceRepeat = time.Second
	// answerMargin keeps an answer's delay that much under MX, so that
	// it still arrives within MX.
	answerMargin = 100 * time.Millisecond
)

// AdvertiserConfig configures an Advertiser.
type AdvertiserConfig struct {
	// Root is the root device, with its services and embedded devices.
	Root Device
	// Port and Path make the LOCATION of every message:
	// http://ADDR:Port/Path, ADDR being the address of the interface the
	// message leaves by. Path defaults to "/description.xml".
	Port uint16
	Path string
	// Location, when set, makes LOCATION instead of Port and Path, from
	// the interface and its address the message speaks for.
	Location func(ifc *Interface, addr netip.Addr) string
	// MaxAge is the advertised lifetime, CACHE-CONTROL max-age, in whole
	// seconds (DefaultMaxAge when 0). The Advertiser announces again
	// before MaxAge/2 has passed.
	MaxAge time.Duration
	// Server is the SERVER header (DefaultServer when empty).
	Server string
	// BootID and ConfigID are BOOTID.UPNP.ORG and CONFIGID.UPNP.ORG.
	// BootID must grow each time the device comes back (Announce uses
	// the Unix time); ConfigID is 0 to 16777215 and changes with the
	// description.
	BootID, ConfigID int64
	// Network is "udp" (both families, the default), "udp4" or "udp6".
	Network string
	// ResponseRate and ResponseBurst bound the responses one source may
	// draw: ResponseBurst at once (3 full answers to ssdp:all when 0),
	// then ResponseRate a second (one full answer a second when 0).
	// TotalRate bounds all sources together, with a burst of as many (16
	// full answers a second when 0). A search that would go over is not
	// answered at all (Stats.RateLimited).
	ResponseRate  float64
	ResponseBurst int
	TotalRate     float64
	// MaxSources bounds the sources the rate limit remembers (1024 when
	// 0); MaxPending the responses waiting for their delay (4096 when 0).
	MaxSources int
	MaxPending int
	// Rand draws the random delays; nil means a generator seeded at
	// random.
	Rand *rand.Rand
}

// AdvertiserStats counts what an Advertiser did and refused.
type AdvertiserStats struct {
	Packets     uint64 // handed to HandlePacket
	Truncated   uint64 // cut by the link layer
	Malformed   uint64 // not parsed, or an M-SEARCH without ST
	NoInterface uint64 // arrived on an interface not known, down, or without multicast
	Ignored     uint64 // not M-SEARCHes (NOTIFYs, responses), or of another family
	BadDst      uint64 // to neither an SSDP group nor an address of this host
	BadMAN      uint64 // MAN other than "ssdp:discover"
	BadMX       uint64 // multicast M-SEARCHes without a valid MX (UDA 1.1 §1.3.2)
	BadPort     uint64 // from a source port below 1024: no control point searches from one
	OffLink     uint64 // from a source not on the arrival interface's link
	NoMatch     uint64 // for a target this device does not have
	Duplicate   uint64 // answers already waiting to go to the same searcher
	RateLimited uint64 // searches not answered: over the source's or the total rate, or too many waiting
	Searches    uint64 // M-SEARCHes answered
	Responses   uint64 // response datagrams sent
	Notifies    uint64 // NOTIFY datagrams sent
}

type adIface struct {
	ifc       Interface
	next      time.Time // next announcement; zero while unusable
	quickLeft int       // copies of the first announcement still to send
}

type pending struct {
	due     time.Time
	ifindex int
	dst     netip.AddrPort
	st, usn string
}

// An Advertiser announces a root device with its embedded devices and
// services on every interface it is told about, answers M-SEARCHes for
// them, and says byebye when closed. See the package documentation for how
// a link layer drives it. It is not safe for concurrent use.
type Advertiser struct {
	cfg       AdvertiserConfig
	fam       family
	rnd       *rand.Rand
	targets   []target
	maxAge    int // seconds
	bootID    int64
	configID  int64
	ifaces    map[int]*adIface
	pending   []pending
	perSource *sched.Limiter
	total     *sched.Limiter
	closed    bool
	out       []Output
	stats     AdvertiserStats
}

// NewAdvertiser checks cfg and returns an Advertiser that knows no
// interfaces yet.
func NewAdvertiser(cfg AdvertiserConfig) (*Advertiser, error) {
	fam, err := parseNetwork(cfg.Network)
	if err != nil {
		return nil, err
	}
	if err := cfg.Root.check(); err != nil {
		return nil, err
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxAge < time.Second || cfg.MaxAge%time.Second != 0 || cfg.MaxAge > maxMaxAge {
		return nil, fmt.Errorf("ssdp: MaxAge %v: want whole seconds from 1s to %v", cfg.MaxAge, maxMaxAge)
	}
	if cfg.Path == "" {
		cfg.Path = "/description.xml"
	}
	if !strings.HasPrefix(cfg.Path, "/") || strings.ContainsFunc(cfg.Path, badTargetRune) {
		return nil, fmt.Errorf("ssdp: LOCATION path %q: want an absolute path without spaces", cfg.Path)
	}
	if cfg.Location == nil && cfg.Port == 0 {
		return nil, fmt.Errorf("ssdp: no LOCATION: set the port of the description server")
	}
	if cfg.Server == "" {
		cfg.Server = DefaultServer
	}
	if strings.ContainsFunc(cfg.Server, isCtl) {
		return nil, fmt.Errorf("ssdp: Server %q has a control character", cfg.Server)
	}
	if err := checkBootID(cfg.BootID); err != nil {
		return nil, err
	}
	if cfg.ConfigID < 0 || cfg.ConfigID > 1<<24-1 {
		return nil, fmt.Errorf("ssdp: ConfigID %d: want 0 to 16777215", cfg.ConfigID)
	}
	targets := cfg.Root.targets()
	n := float64(len(targets))
	if cfg.ResponseRate <= 0 {
		cfg.ResponseRate = n
	}
	if cfg.ResponseBurst <= 0 {
		cfg.ResponseBurst = 3 * len(targets)
	}
	if cfg.TotalRate <= 0 {
		cfg.TotalRate = 16 * n
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = 1024
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	return &Advertiser{
		cfg: cfg, fam: fam, rnd: sched.NewRand(cfg.Rand), targets: targets,
		maxAge: int(cfg.MaxAge / time.Second), bootID: cfg.BootID, configID: cfg.ConfigID,
		ifaces:    map[int]*adIface{},
		perSource: sched.NewLimiter(cfg.ResponseRate, float64(cfg.ResponseBurst), cfg.MaxSources),
		total:     sched.NewLimiter(cfg.TotalRate, cfg.TotalRate, 1),
	}, nil
}

func checkBootID(id int64) error {
	if id < 0 || id > 1<<31-1 {
		return fmt.Errorf("ssdp: BootID %d: want 0 to 2147483647", id)
	}
	return nil
}

// Targets returns the NT of every advertisement, in the order the NOTIFYs
// go out: upnp:rootdevice, the root's uuid and type, then each embedded
// device's uuid and type and each device's service types.
func (a *Advertiser) Targets() []string {
	var nts []string
	for _, t := range a.targets {
		nts = append(nts, t.nt)
	}
	return nts
}

// UpdateInterface adds or changes an interface: one that is new, came up,
// or changed addresses is announced on (again) within 100 ms, and a second
// later once more.
func (a *Advertiser) UpdateInterface(now time.Time, ifc Interface) {
	ifc.Addrs = slices.Clone(ifc.Addrs)
	st := a.ifaces[ifc.Index]
	if st == nil {
		st = &adIface{}
		a.ifaces[ifc.Index] = st
	}
	fresh := !st.ifc.usable() || !slices.Equal(st.ifc.Addrs, ifc.Addrs)
	st.ifc = ifc
	switch {
	case !ifc.usable():
		st.next, st.quickLeft = time.Time{}, 0
	case fresh && !a.closed:
		st.next = now.Add(sched.Jitter(a.rnd, 0, announceDelay))
		st.quickLeft = 2
	}
}

// RemoveInterface forgets an interface; answers waiting to leave by it
// are dropped.
func (a *Advertiser) RemoveInterface(now time.Time, ifindex int) {
	delete(a.ifaces, ifindex)
	a.pending = slices.DeleteFunc(a.pending, func(p pending) bool { return p.ifindex == ifindex })
}

// HandlePacket takes one datagram received on the SSDP port and schedules
// the answers to an M-SEARCH.
func (a *Advertiser) HandlePacket(now time.Time, p Packet) {
	a.stats.Packets++
	if a.closed {
		return
	}
	if p.Truncated {
		a.stats.Truncated++
		return
	}
	st := a.ifaces[p.IfIndex]
	if st == nil || !st.ifc.usable() {
		a.stats.NoInterface++
		return
	}
	ifc := &st.ifc
	src := p.Src.Addr().Unmap().WithZone("")
	if !a.fam.has(src) {
		a.stats.Ignored++
		return
	}
	m, err := Parse(p.Payload)
	if err != nil {
		a.stats.Malformed++
		return
	}
	if m.Kind != Search {
		a.stats.Ignored++
		return
	}
	dst := p.Dst.Unmap().WithZone("")
	multicast := !dst.IsValid() || dst.IsMulticast()
	if multicast && dst.IsValid() && !isGroup(dst) || !multicast && !a.ownAddr(dst) {
		// A broadcast or another host's address: answering one forged
		// search to the subnet broadcast would make every device of
		// the link answer one victim.
		a.stats.BadDst++
		return
	}
	if m.Man != "ssdp:discover" {
		a.stats.BadMAN++
		return
	}
	// A unicast search is answered at once (UDA 1.1 §1.3.3).
	var window time.Duration
	if multicast {
		if m.MX < 1 {
			a.stats.BadMX++
			return
		}
		window = time.Duration(min(m.MX, MaxMX))*time.Second - answerMargin
	}
	if p.Src.Port() < 1024 {
		a.stats.BadPort++
		return
	}
	if !ifc.onLink(src) {
		a.stats.OffLink++
		return
	}
	if m.ST == "" {
		a.stats.Malformed++
		return
	}
	to := netip.AddrPortFrom(p.Src.Addr().Unmap().WithZone(""), p.Src.Port())
	var answers []pending
	matched := false
	for _, t := range a.targets {
		ast, ok := matches(m.ST, t.nt)
		if !ok {
			continue
		}
		matched = true
		usn := usnFor(t, ast)
		if slices.ContainsFunc(a.pending, func(q pending) bool {
			return q.dst == to && q.ifindex == p.IfIndex && q.st == ast && q.usn == usn
		}) {
			a.stats.Duplicate++
			continue
		}
		answers = append(answers, pending{ifindex: p.IfIndex, dst: to, st: ast, usn: usn})
	}
	if !matched {
		a.stats.NoMatch++
		return
	}
	if len(answers) == 0 {
		return
	}
	if len(a.pending)+len(answers) > a.cfg.MaxPending ||
		!a.perSource.Take(now, src.Unmap().WithZone(""), len(answers)) || !a.total.Take(now, netip.Addr{}, len(answers)) {
		a.stats.RateLimited++
		return
	}
	a.stats.Searches++
	for _, q := range answers {
		// Each answer gets its own delay within MX (UDA 1.1 §1.3.3), so
		// that a search for ssdp:all does not come back as one burst.
		q.due = now.Add(sched.Jitter(a.rnd, 0, window))
		a.pending = append(a.pending, q)
	}
}

// ownAddr reports whether a is an address of one of the interfaces.
func (a *Advertiser) ownAddr(addr netip.Addr) bool {
	for _, st := range a.ifaces {
		if st.ifc.owns(addr) {
			return true
		}
	}
	return false
}

// location is LOCATION on ifc for messages of the family v6 seen by peer.
func (a *Advertiser) location(ifc *Interface, v6 bool, peer netip.Addr) string {
	addr := ifc.localAddr(v6, peer)
	if !addr.IsValid() {
		return ""
	}
	if a.cfg.Location != nil {
		return a.cfg.Location(ifc, addr)
	}
	return "http://" + netip.AddrPortFrom(addr, a.cfg.Port).String() + a.cfg.Path
}

// notify appends the NOTIFYs of subtype nts for every target out of one
// interface to one group.
func (a *Advertiser) notify(ifc *Interface, g netip.AddrPort, nts string, nextBootID int64) {
	loc := a.location(ifc, g.Addr().Is6(), g.Addr())
	if nts != ByeBye && loc == "" {
		return
	}
	for _, t := range a.targets {
		m := Message{
			Kind: Notify, Host: HostHeader(g), NT: t.nt, NTS: nts, USN: t.usn,
			Location: loc, Server: a.cfg.Server, MaxAge: a.maxAge,
			BootID: a.bootID, ConfigID: a.configID, NextBootID: nextBootID, SearchPort: -1, MX: -1,
		}
		if b, err := m.Append(nil); err == nil {
			a.out = append(a.out, Output{Payload: b, IfIndex: ifc.Index, Dst: g})
			a.stats.Notifies++
		}
	}
}

// Poll does what is due at now: announcements and answers. It returns the
// datagrams to send.
func (a *Advertiser) Poll(now time.Time) []Output {
	for _, idx := range slices.Sorted(maps.Keys(a.ifaces)) {
		st := a.ifaces[idx]
		if st.next.IsZero() || now.Before(st.next) || a.closed {
			continue
		}
		for _, g := range st.ifc.groups(a.fam) {
			a.notify(&st.ifc, g, Alive, -1)
		}
		if st.quickLeft--; st.quickLeft > 0 {
			st.next = now.Add(announceRepeat)
		} else {
			st.quickLeft = 0
			st.next = now.Add(a.reannounce())
		}
	}
	keep := a.pending[:0]
	for _, q := range a.pending {
		if now.Before(q.due) {
			keep = append(keep, q)
			continue
		}
		st := a.ifaces[q.ifindex]
		if st == nil || !st.ifc.usable() {
			continue
		}
		m := Message{
			Kind: Response, StatusCode: 200, MaxAge: a.maxAge, Ext: true,
			Location: a.location(&st.ifc, q.dst.Addr().Is6(), q.dst.Addr()),
			Server:   a.cfg.Server, ST: q.st, USN: q.usn,
			BootID: a.bootID, ConfigID: a.configID, SearchPort: -1, MX: -1, NextBootID: -1,
		}
		if m.Location == "" {
			continue
		}
		if b, err := m.Append(nil); err == nil {
			a.out = append(a.out, Output{Payload: b, IfIndex: q.ifindex, Dst: q.dst})
			a.stats.Responses++
		}
	}
	clear(a.pending[len(keep):])
	a.pending = keep
	out := a.out
	a.out = nil
	return out
}

// reannounce is the wait before the next announcement: at random between
// 40% and 50% of max-age, so that the advertisement is renewed twice
// within its lifetime and hosts started together drift apart.
func (a *Advertiser) reannounce() time.Duration {
	age := time.Duration(a.maxAge) * time.Second
	return sched.Jitter(a.rnd, age*2/5, age/2-time.Millisecond)
}

// NextDeadline is when Poll has something to do next; the zero Time if
// nothing is scheduled.
func (a *Advertiser) NextDeadline() time.Time {
	var t time.Time
	if !a.closed {
		for _, st := range a.ifaces {
			t = sched.Earliest(t, st.next)
		}
	}
	for _, q := range a.pending {
		t = sched.Earliest(t, q.due)
	}
	return t
}

// SetBootID tells the network the device is about to change its BOOTID
// (a reboot that keeps it on the network, UDA 1.1 §1.2.4): an ssdp:update
// for every target with NEXTBOOTID set to id on every interface, then an
// announcement under the new BOOTID. The datagrams come from the next
// Poll.
func (a *Advertiser) SetBootID(now time.Time, id int64) error {
	if err := checkBootID(id); err != nil {
		return err
	}
	if a.closed || id == a.bootID {
		return nil
	}
	for _, idx := range slices.Sorted(maps.Keys(a.ifaces)) {
		st := a.ifaces[idx]
		if st.ifc.usable() {
			for _, g := range st.ifc.groups(a.fam) {
				a.notify(&st.ifc, g, Update, id)
			}
		}
	}
	a.bootID = id
	a.announceAll(now)
	return nil
}

// SetConfigID changes CONFIGID.UPNP.ORG (the description changed) and
// announces at once with the new one.
func (a *Advertiser) SetConfigID(now time.Time, id int64) error {
	if id < 0 || id > 1<<24-1 {
		return fmt.Errorf("ssdp: ConfigID %d: want 0 to 16777215", id)
	}
	if a.closed || id == a.configID {
		return nil
	}
	a.configID = id
	a.announceAll(now)
	return nil
}

func (a *Advertiser) announceAll(now time.Time) {
	for _, st := range a.ifaces {
		if st.ifc.usable() {
			st.next, st.quickLeft = now, 1
		}
	}
}

// BootID returns the BOOTID.UPNP.ORG in use.
func (a *Advertiser) BootID() int64 { return a.bootID }

// Close stops announcing and answering, drops the answers still waiting,
// and queues an ssdp:byebye for every target on every interface, for the
// next Poll.
func (a *Advertiser) Close(now time.Time) {
	if a.closed {
		return
	}
	a.closed = true
	a.pending = nil
	for _, idx := range slices.Sorted(maps.Keys(a.ifaces)) {
		st := a.ifaces[idx]
		if st.ifc.usable() {
			for _, g := range st.ifc.groups(a.fam) {
				a.notify(&st.ifc, g, ByeBye, -1)
			}
		}
	}
}

// Stats returns the counters.
func (a *Advertiser) Stats() AdvertiserStats { return a.stats }

// String describes the advertised device for logs.
func (a *Advertiser) String() string {
	return a.cfg.Root.udn() + " " + a.cfg.Root.Type + " (" + strconv.Itoa(len(a.targets)) + " targets)"
}
