package ssdp

import (
	"cmp"
	"fmt"
	"github.com/bcastdev/bcast/broadcast/discovery/internal/sched"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Defaults of SearcherConfig.
const (
	DefaultMX         = 2
	DefaultSends      = 3
	DefaultSendGap    = time.Second
	DefaultMaxEntries = 1024
	// DefaultMaxAge is the lifetime given to an advertisement that
	// carries no usable CACHE-CONTROL max-age, and the default of
	// AdvertiserConfig.MaxAge: UDA 1.1 recommends at least 1800 s.
	DefaultMaxAge = 1800 * time.Second
	// maxMaxAge bounds how long a Searcher believes an advertisement
	// without hearing it again, whatever max-age it claimed.
	maxMaxAge = 24 * time.Hour
)

// SearcherConfig configures a Searcher.
type SearcherConfig struct {
	// Target is the search target (ST): All ("ssdp:all", the default),
	// RootDevice ("upnp:rootdevice"), "uuid:UUID",
	// "urn:DOMAIN:device:TYPE:VERSION" or
	// "urn:DOMAIN:service:TYPE:VERSION". Responses and NOTIFYs for other
	// targets are counted in Stats.NotMatching and left out. A type
	// matches the same type in its version or a later one.
	Target string
	// MX is the most seconds a device may wait before it answers, 1 to 5
	// (DefaultMX when 0).
	MX int
	// Sends is how many M-SEARCHes make one search, to cover loss
	// (DefaultSends when 0); SendGap is the time between them
	// (DefaultSendGap when 0).
	Sends   int
	SendGap time.Duration
	// Rescan searches again every Rescan; 0 searches once at Search and
	// once on each interface that comes up later.
	Rescan time.Duration
	// Unicast, when valid, searches that one host and port by unicast
	// M-SEARCH (UDA 1.1 §1.3.2), and believes only answers and NOTIFYs
	// from that address.
	Unicast netip.AddrPort
	// Network is "udp" (both families, the default), "udp4" or "udp6".
	Network string
	// UserAgent is the USER-AGENT header of the M-SEARCH; none when
	// empty.
	UserAgent string
	// MaxEntries bounds the table (DefaultMaxEntries when 0).
	// Advertisements of new USNs beyond it are counted in Stats.Full and
	// dropped; known ones are still refreshed.
	MaxEntries int
	// AcceptOffLink believes responses and NOTIFYs from any source. By
	// default only neighbours are believed: a source inside one of the
	// arrival interface's prefixes, or IPv6 link-local (Stats.OffLink).
	AcceptOffLink bool
	// Rand draws the random delays; nil means a generator seeded at
	// random.
	Rand *rand.Rand
}

// An Entry is one advertisement a Searcher heard: a device or service of
// a device, by USN, on one interface, over one IP family.
type Entry struct {
	// USN is the unique service name, the table's key with IfIndex.
	USN string
	// Target is the ST of the response or the NT of the NOTIFY.
	Target string
	// Location is the URL of the device description, as the device
	// gave it for this interface's link.
	Location string
	Server   string
	// MaxAge is how long the advertisement is valid after it was last
	// heard; Expires is when that is.
	MaxAge  time.Duration
	Expires time.Time
	// BootID and ConfigID are BOOTID.UPNP.ORG and CONFIGID.UPNP.ORG, -1
	// when the device sends none (UPnP 1.0).
	BootID, ConfigID int64
	// IfIndex and IfName are the interface it was heard on; Src is the
	// address and port it came from.
	IfIndex int
	IfName  string
	Src     netip.AddrPort
}

// An Event reports an Entry found, changed or lost.
type Event struct {
	Kind EventKind
	Entry
	// Reason says why: for Changed the fields that changed
	// ("location", "bootid", "configid", comma-separated); for Lost
	// "byebye", "expired" or "interface gone".
	Reason string
}

// SearcherStats counts what a Searcher did and refused.
type SearcherStats struct {
	Packets      uint64 // handed to HandlePacket
	Truncated    uint64 // cut by the link layer
	Malformed    uint64 // not parsed, or without the headers their kind needs
	NoInterface  uint64 // arrived on an interface not known, down, or without multicast
	Ignored      uint64 // M-SEARCHes of other control points, other families, multicast responses
	OffLink      uint64 // from a source not on the arrival interface's link
	Unsolicited  uint64 // responses with no search of ours in progress on that interface
	NotMatching  uint64 // for another target than ours
	BadStatus    uint64 // responses other than 200 OK
	Full         uint64 // new USNs dropped because MaxEntries were known
	SearchesSent uint64 // M-SEARCH datagrams, one per interface and family
	Entries      int    // in the table now
}

// entryKey: a device that speaks both families gives a LOCATION in each,
// and both are worth keeping; one entry for both would flap between them.
type entryKey struct {
	ifindex int
	v6      bool
	usn     string
}

func keyOf(ifindex int, src netip.AddrPort, usn string) entryKey {
	return entryKey{ifindex, src.Addr().Unmap().Is6(), usn}
}

type burst struct {
	left int
	next time.Time
}

// A Searcher finds UPnP devices and services: it sends M-SEARCHes, takes
// the responses and the devices' NOTIFYs, and keeps a table of what it
// heard, keyed by interface, IP family and USN, each entry expiring after its
// max-age. See the package documentation for how a link layer drives it.
// It is not safe for concurrent use.
type Searcher struct {
	cfg     SearcherConfig
	fam     family
	rnd     *rand.Rand
	ifaces  map[int]*Interface
	bursts  map[int]*burst    // by interface; 0: a unicast search off every link
	sent    map[int]time.Time // last M-SEARCH per interface (0: unicast off-link)
	entries map[entryKey]*Entry
	started bool
	rescan  time.Time
	out     []Output
	events  []Event
	stats   SearcherStats
}

// NewSearcher checks cfg and returns a Searcher that knows no interfaces
// and has not searched yet.
func NewSearcher(cfg SearcherConfig) (*Searcher, error) {
	fam, err := parseNetwork(cfg.Network)
	if err != nil {
		return nil, err
	}
	if cfg.Target == "" {
		cfg.Target = All
	}
	if err := CheckTarget(cfg.Target); err != nil {
		return nil, err
	}
	if cfg.MX == 0 {
		cfg.MX = DefaultMX
	}
	if cfg.MX < 1 || cfg.MX > 5 {
		return nil, fmt.Errorf("ssdp: MX %d: want 1 to 5 seconds", cfg.MX)
	}
	if cfg.Sends <= 0 {
		cfg.Sends = DefaultSends
	}
	if cfg.SendGap <= 0 {
		cfg.SendGap = DefaultSendGap
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Rescan < 0 {
		return nil, fmt.Errorf("ssdp: Rescan %v is negative", cfg.Rescan)
	}
	if strings.ContainsFunc(cfg.UserAgent, isCtl) {
		return nil, fmt.Errorf("ssdp: UserAgent %q has a control character", cfg.UserAgent)
	}
	if cfg.Unicast.IsValid() {
		u := cfg.Unicast.Addr().Unmap()
		if u.IsMulticast() || u.IsUnspecified() || cfg.Unicast.Port() == 0 {
			return nil, fmt.Errorf("ssdp: unicast search to %v: want a unicast address and a port", cfg.Unicast)
		}
		if !fam.has(u) {
			return nil, fmt.Errorf("ssdp: unicast search to %v over %s", cfg.Unicast, cfg.Network)
		}
		if u.IsLinkLocalUnicast() && u.Is6() && u.Zone() == "" {
			return nil, fmt.Errorf("ssdp: unicast search to %v: a link-local address needs its interface (%%eth0)", cfg.Unicast)
		}
		cfg.Unicast = netip.AddrPortFrom(u, cfg.Unicast.Port())
	}
	return &Searcher{
		cfg: cfg, fam: fam, rnd: sched.NewRand(cfg.Rand),
		ifaces:  map[int]*Interface{},
		bursts:  map[int]*burst{},
		sent:    map[int]time.Time{},
		entries: map[entryKey]*Entry{},
	}, nil
}

// CheckTarget says whether st is a search target a Searcher accepts.
func CheckTarget(st string) error {
	switch {
	case st == All, st == RootDevice:
		return nil
	case strings.HasPrefix(st, "uuid:"):
		if len(st) > 5 && !strings.ContainsFunc(st, badTargetRune) && !strings.Contains(st[5:], ":") {
			return nil
		}
	default:
		if _, _, ok := parseAnyURN(st); ok {
			return nil
		}
	}
	return fmt.Errorf("ssdp: search target %q: want ssdp:all, upnp:rootdevice, uuid:UUID, urn:DOMAIN:device:TYPE:VERSION or urn:DOMAIN:service:TYPE:VERSION", st)
}

// Search starts a search now: Sends M-SEARCHes on every interface (or to
// the Unicast host), SendGap apart. Responses are believed for MX seconds
// and a little more after each.
func (s *Searcher) Search(now time.Time) {
	s.started = true
	if s.cfg.Unicast.IsValid() {
		s.bursts[0] = &burst{left: s.cfg.Sends, next: now}
	} else {
		for _, ifc := range s.ifaces {
			if ifc.usable() {
				s.bursts[ifc.Index] = &burst{left: s.cfg.Sends, next: now}
			}
		}
	}
	if s.cfg.Rescan > 0 {
		s.rescan = now.Add(s.cfg.Rescan)
	}
}

// UpdateInterface adds or changes an interface. A search already started
// searches at once on an interface that became usable or gained
// addresses.
func (s *Searcher) UpdateInterface(now time.Time, ifc Interface) {
	ifc.Addrs = slices.Clone(ifc.Addrs)
	old := s.ifaces[ifc.Index]
	s.ifaces[ifc.Index] = &ifc
	if !ifc.usable() {
		delete(s.bursts, ifc.Index)
		s.lose(func(e *Entry) bool { return e.IfIndex == ifc.Index }, "interface gone")
		return
	}
	fresh := old == nil || !old.usable() || !slices.Equal(old.Addrs, ifc.Addrs)
	if s.started && fresh && !s.cfg.Unicast.IsValid() {
		s.bursts[ifc.Index] = &burst{left: s.cfg.Sends, next: now}
	}
}

// RemoveInterface forgets an interface and what was heard on it (Lost
// events, "interface gone").
func (s *Searcher) RemoveInterface(now time.Time, ifindex int) {
	delete(s.ifaces, ifindex)
	delete(s.bursts, ifindex)
	delete(s.sent, ifindex)
	s.lose(func(e *Entry) bool { return e.IfIndex == ifindex }, "interface gone")
}

// solicitWindow is how long after an M-SEARCH its responses are believed:
// MX, and a second for the datagram's way and a slow device.
func (s *Searcher) solicitWindow() time.Duration {
	return time.Duration(s.cfg.MX)*time.Second + time.Second
}

// HandlePacket takes one datagram received on the SSDP port (NOTIFYs) or
// on the Searcher's own port (responses).
func (s *Searcher) HandlePacket(now time.Time, p Packet) {
	s.stats.Packets++
	if p.Truncated {
		s.stats.Truncated++
		return
	}
	ifc := s.ifaces[p.IfIndex]
	if ifc == nil || !ifc.usable() {
		s.stats.NoInterface++
		return
	}
	src := p.Src.Addr().Unmap()
	if !s.fam.has(src) {
		s.stats.Ignored++
		return
	}
	m, err := Parse(p.Payload)
	if err != nil {
		s.stats.Malformed++
		return
	}
	unicast := s.cfg.Unicast.IsValid()
	if unicast && src.WithZone("") != s.cfg.Unicast.Addr().WithZone("") {
		// Only the one host asked is heard.
		s.stats.Ignored++
		return
	}
	switch m.Kind {
	case Response:
		if p.Dst.IsValid() && p.Dst.IsMulticast() {
			s.stats.Ignored++
			return
		}
		last, ok := s.sent[p.IfIndex]
		if unicast {
			last, ok = s.lastUnicast()
		}
		if !ok || now.Sub(last) > s.solicitWindow() {
			s.stats.Unsolicited++
			return
		}
		if !unicast && !s.cfg.AcceptOffLink && !ifc.onLink(src) {
			s.stats.OffLink++
			return
		}
		if m.StatusCode != 200 {
			s.stats.BadStatus++
			return
		}
		if m.USN == "" || m.ST == "" {
			s.stats.Malformed++
			return
		}
		if _, ok := matches(s.cfg.Target, m.ST); !ok {
			s.stats.NotMatching++
			return
		}
		s.upsert(now, ifc, p.Src, m, m.ST)
	case Notify:
		if !unicast && !s.cfg.AcceptOffLink && !ifc.onLink(src) {
			s.stats.OffLink++
			return
		}
		if m.USN == "" || m.NT == "" {
			s.stats.Malformed++
			return
		}
		if _, ok := matches(s.cfg.Target, m.NT); !ok {
			s.stats.NotMatching++
			return
		}
		switch m.NTS {
		case Alive:
			s.upsert(now, ifc, p.Src, m, m.NT)
		case ByeBye:
			k := keyOf(ifc.Index, p.Src, m.USN)
			if e := s.entries[k]; e != nil {
				delete(s.entries, k)
				s.events = append(s.events, Event{Kind: Lost, Entry: *e, Reason: "byebye"})
			}
		case Update:
			// The device reboots with NEXTBOOTID (UDA 1.1 §1.2.4): what
			// was heard stays valid under the new BOOTID.
			e := s.entries[keyOf(ifc.Index, p.Src, m.USN)]
			if e == nil || m.NextBootID < 0 {
				return
			}
			var why []string
			if m.Location != "" && m.Location != e.Location {
				e.Location = m.Location
				why = append(why, "location")
			}
			if m.NextBootID != e.BootID {
				e.BootID = m.NextBootID
				why = append(why, "bootid")
			}
			if m.ConfigID >= 0 && m.ConfigID != e.ConfigID {
				e.ConfigID = m.ConfigID
				why = append(why, "configid")
			}
			if len(why) > 0 {
				s.events = append(s.events, Event{Kind: Changed, Entry: *e, Reason: strings.Join(why, ",")})
			}
		default:
			s.stats.Malformed++
		}
	default:
		s.stats.Ignored++
	}
}

func (s *Searcher) lastUnicast() (time.Time, bool) {
	var last time.Time
	for _, t := range s.sent {
		if t.After(last) {
			last = t
		}
	}
	return last, !last.IsZero()
}

// upsert records an advertisement heard as target.
func (s *Searcher) upsert(now time.Time, ifc *Interface, src netip.AddrPort, m *Message, target string) {
	age := DefaultMaxAge
	if m.MaxAge > 0 {
		age = min(time.Duration(m.MaxAge)*time.Second, maxMaxAge)
	}
	k := keyOf(ifc.Index, src, m.USN)
	e := s.entries[k]
	if e == nil {
		if len(s.entries) >= s.cfg.MaxEntries {
			s.stats.Full++
			return
		}
		e = &Entry{
			USN: m.USN, Target: target, Location: m.Location, Server: m.Server,
			MaxAge: age, Expires: now.Add(age), BootID: m.BootID, ConfigID: m.ConfigID,
			IfIndex: ifc.Index, IfName: ifc.Name, Src: src,
		}
		s.entries[k] = e
		s.events = append(s.events, Event{Kind: Found, Entry: *e})
		return
	}
	var why []string
	if m.Location != e.Location {
		why = append(why, "location")
	}
	if m.BootID >= 0 && m.BootID != e.BootID {
		why = append(why, "bootid")
		e.BootID = m.BootID
	}
	if m.ConfigID >= 0 && m.ConfigID != e.ConfigID {
		why = append(why, "configid")
		e.ConfigID = m.ConfigID
	}
	e.Location, e.Server, e.MaxAge, e.Expires, e.Src = m.Location, m.Server, age, now.Add(age), src
	if len(why) > 0 {
		s.events = append(s.events, Event{Kind: Changed, Entry: *e, Reason: strings.Join(why, ",")})
	}
}

// lose removes the entries for which drop is true, with Lost events in
// USN order.
func (s *Searcher) lose(drop func(*Entry) bool, reason string) {
	var gone []*Entry
	for k, e := range s.entries {
		if drop(e) {
			gone = append(gone, e)
			delete(s.entries, k)
		}
	}
	slices.SortFunc(gone, func(a, b *Entry) int { return compareEntries(a, b) })
	for _, e := range gone {
		s.events = append(s.events, Event{Kind: Lost, Entry: *e, Reason: reason})
	}
}

// Poll does what is due at now: the M-SEARCHes of a search in progress,
// a rescan, expiries. It returns the datagrams to send.
func (s *Searcher) Poll(now time.Time) []Output {
	if !s.rescan.IsZero() && !now.Before(s.rescan) {
		s.Search(now)
	}
	for _, idx := range slices.Sorted(maps.Keys(s.bursts)) {
		b := s.bursts[idx]
		if now.Before(b.next) {
			continue
		}
		s.send(now, idx)
		b.left--
		b.next = now.Add(s.cfg.SendGap)
		if b.left <= 0 {
			delete(s.bursts, idx)
		}
	}
	s.lose(func(e *Entry) bool { return !now.Before(e.Expires) }, "expired")
	out := s.out
	s.out = nil
	return out
}

// send sends one M-SEARCH on an interface (or, for idx 0, to the unicast
// host).
func (s *Searcher) send(now time.Time, idx int) {
	m := Message{Kind: Search, ST: s.cfg.Target, MX: s.cfg.MX, UserAgent: s.cfg.UserAgent}
	if s.cfg.Unicast.IsValid() {
		// UDA 1.1 §1.3.2: a unicast M-SEARCH names the host and has no
		// MX; it goes out of the interface on the host's link, or where
		// the kernel routes it.
		m.Host, m.MX = HostHeader(s.cfg.Unicast), -1
		out := 0
		to := s.cfg.Unicast.Addr()
		for _, i := range slices.Sorted(maps.Keys(s.ifaces)) {
			ifc := s.ifaces[i]
			// A link-local address names its link by its zone.
			if to.Zone() != "" && ifc.Name == to.Zone() || to.Zone() == "" && !to.IsLinkLocalUnicast() && ifc.onLink(to) {
				if ifc.usable() {
					out = i
				}
				break
			}
		}
		if b, err := m.Append(nil); err == nil {
			s.out = append(s.out, Output{Payload: b, IfIndex: out, Dst: s.cfg.Unicast})
			s.stats.SearchesSent++
			s.sent[out] = now
		}
		return
	}
	ifc := s.ifaces[idx]
	if ifc == nil || !ifc.usable() {
		return
	}
	for _, g := range ifc.groups(s.fam) {
		m.Host = HostHeader(g)
		if b, err := m.Append(nil); err == nil {
			s.out = append(s.out, Output{Payload: b, IfIndex: idx, Dst: g})
			s.stats.SearchesSent++
			s.sent[idx] = now
		}
	}
}

// NextDeadline is when Poll has something to do next; the zero Time if
// nothing is scheduled.
func (s *Searcher) NextDeadline() time.Time {
	var t time.Time
	for _, b := range s.bursts {
		t = sched.Earliest(t, b.next)
	}
	t = sched.Earliest(t, s.rescan)
	for _, e := range s.entries {
		t = sched.Earliest(t, e.Expires)
	}
	return t
}

// Events returns the events since the last call, oldest first.
func (s *Searcher) Events() []Event {
	ev := s.events
	s.events = nil
	return ev
}

// Entries returns the table, sorted by interface, USN and family.
func (s *Searcher) Entries() []Entry {
	es := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		es = append(es, *e)
	}
	slices.SortFunc(es, func(a, b Entry) int { return compareEntries(&a, &b) })
	return es
}

// compareEntries orders by interface, USN, then IPv4 before IPv6.
func compareEntries(a, b *Entry) int {
	return cmp.Or(cmp.Compare(a.IfIndex, b.IfIndex), strings.Compare(a.USN, b.USN),
		cmp.Compare(btoi(a.Src.Addr().Unmap().Is6()), btoi(b.Src.Addr().Unmap().Is6())))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Stats returns the counters.
func (s *Searcher) Stats() SearcherStats {
	st := s.stats
	st.Entries = len(s.entries)
	return st
}
