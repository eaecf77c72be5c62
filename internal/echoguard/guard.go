// Package echoguard decides whether an echo server may answer a datagram,
// so that a server left running on a LAN is nobody's weapon: no reply to an
// address that cannot have sent it (0.0.0.0, a broadcast or group, this
// host's own address from the wire), none to a service port that answers
// anything (the echo/chargen loop, CVE-1999-0103), no endless loop with
// another echo server, and no more than a set rate per source address.
//
// A Guard is an engine without sockets: the caller says what arrived and
// when, sends the reply itself if the verdict is Reply, and tells the Guard
// what it sent. Its memory is bounded: a table of at most MaxSources
// sources, refused (fail closed) and counted when full.
package echoguard

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Reason is a Guard's verdict on one datagram: Reply, or why not.
type Reason uint8

const (
	Reply           Reason = iota // answer it
	PortZero                      // source port 0: nobody to answer
	Unspecified                   // source 0.0.0.0 or ::: a reply would come back to this host
	SourceBroadcast               // source is a broadcast address
	SourceMulticast               // source is a multicast group
	SourceSelf                    // source is this host's own address, from the network
	OwnPort                       // source port is the port we serve (another echo server, or ourselves)
	ServicePort                   // source port is a service that answers anything
	DestBroadcast                 // sent to a broadcast address, and answering those is off
	DestMulticast                 // sent to a multicast group, and answering those is off
	Loop                          // equal to a reply we just sent that peer: a loop with another echo server
	HeldDown                      // the source made a loop a moment ago
	RateLimited                   // over the per-source rate
	TableFull                     // a new source while the table of sources is full
	Truncated                     // longer than the buffer: the echo would be wrong
	Unbound                       // unix datagram from an unbound socket: no address to answer
	ReplyDir                      // unix datagram from a path outside the trusted directories
	numReasons
)

var reasonNames = [numReasons]string{
	Reply:           "replied",
	PortZero:        "source port 0",
	Unspecified:     "unspecified source",
	SourceBroadcast: "broadcast source",
	SourceMulticast: "multicast source",
	SourceSelf:      "own address from the network",
	OwnPort:         "source port is the echo port",
	ServicePort:     "source port is a service port",
	DestBroadcast:   "sent to a broadcast address",
	DestMulticast:   "sent to a multicast group",
	Loop:            "echo loop",
	HeldDown:        "held down after a loop",
	RateLimited:     "over the per-source limit",
	TableFull:       "source table full",
	Truncated:       "truncated",
	Unbound:         "unbound sender",
	ReplyDir:        "sender path outside --reply-dir",
}

// keys are the reasons' names in JSON and logs: short, stable, snake_case.
var reasonKeys = [numReasons]string{
	Reply:           "replied",
	PortZero:        "port_zero",
	Unspecified:     "unspecified_source",
	SourceBroadcast: "broadcast_source",
	SourceMulticast: "multicast_source",
	SourceSelf:      "own_address",
	OwnPort:         "own_port",
	ServicePort:     "service_port",
	DestBroadcast:   "broadcast_dest",
	DestMulticast:   "multicast_dest",
	Loop:            "loop",
	HeldDown:        "held_down",
	RateLimited:     "rate_limited",
	TableFull:       "table_full",
	Truncated:       "truncated",
	Unbound:         "unbound_sender",
	ReplyDir:        "outside_reply_dir",
}

// String says the reason in words, for people.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Key is the reason as a JSON and log key.
func (r Reason) Key() string {
	if r < numReasons {
		return reasonKeys[r]
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Counts holds how many datagrams got each verdict.
type Counts [numReasons]uint64

// Suppressed is the number of datagrams not answered.
func (c *Counts) Suppressed() uint64 {
	var n uint64
	for r := Reply + 1; r < numReasons; r++ {
		n += c[r]
	}
	return n
}

// Map returns the non-zero counts of suppressed datagrams by Key, for JSON.
func (c *Counts) Map() map[string]uint64 {
	m := map[string]uint64{}
	for r := Reply + 1; r < numReasons; r++ {
		if c[r] != 0 {
			m[reasonKeys[r]] = c[r]
		}
	}
	return m
}

// Attrs returns key, count pairs of the non-zero suppressed counts, for
// slog.
func (c *Counts) Attrs() []any {
	var a []any
	for r := Reply + 1; r < numReasons; r++ {
		if c[r] != 0 {
			a = append(a, reasonKeys[r], c[r])
		}
	}
	return a
}

// String lists the non-zero suppressed counts, "3 echo loop, 1 unspecified
// source", or "" when there are none.
func (c *Counts) String() string {
	var parts []string
	for r := Reply + 1; r < numReasons; r++ {
		if c[r] != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[r], reasonNames[r]))
		}
	}
	return strings.Join(parts, ", ")
}

// Defaults.
const (
	DefaultRate       = 1000 // replies a second to one source address
	DefaultBurst      = 1000 // replies at once to one source address
	DefaultMaxSources = 4096
	// LoopWindow is how long a reply is remembered: a datagram from the
	// peer it went to, equal to it and within this time, is a loop.
	// Another echo server sends it back within a round trip; a person
	// typing the same line again takes longer.
	LoopWindow = time.Second
	// HoldDown is how long a source that made a loop is not answered.
	HoldDown = 5 * time.Second
	// repliesRemembered per source: more than one, so that loops
	// interleaved by an attacker are caught too.
	repliesRemembered = 8
	// sweepEvery bounds how often a full table is searched for
	// entries that can go.
	sweepEvery = time.Second
)

// DefaultServicePorts are source ports of services that answer whatever
// they are sent: a reply to one of them starts a loop or reflects traffic
// at a third party. 0 is never answered either way.
var DefaultServicePorts = []uint16{
	7,    // echo
	9,    // discard: answers nothing, but nobody sends from it
	11,   // systat
	13,   // daytime
	17,   // qotd
	19,   // chargen
	37,   // time
	53,   // DNS
	67,   // DHCP server
	68,   // DHCP client
	69,   // TFTP
	111,  // portmap
	123,  // NTP
	137,  // NetBIOS name
	138,  // NetBIOS datagram
	161,  // SNMP
	162,  // SNMP trap
	389,  // CLDAP
	427,  // SLP
	500,  // IKE
	520,  // RIP
	1900, // SSDP
	3702, // WS-Discovery
	5353, // mDNS
	5355, // LLMNR
	5683, // CoAP
	11211,
}

// Ports is a set of ports.
type Ports [65536 / 64]uint64

// Add puts p in the set.
func (s *Ports) Add(p uint16) { s[p/64] |= 1 << (p % 64) }

// Has reports whether p is in the set.
func (s *Ports) Has(p uint16) bool { return s[p/64]&(1<<(p%64)) != 0 }

// ParsePorts reads a port list: "7,19,100-200". "none" (or "") is the
// empty set, "default" stands for DefaultServicePorts and may be combined
// ("default,4000").
func ParsePorts(text string) (*Ports, error) {
	s := new(Ports)
	text = strings.TrimSpace(text)
	if text == "" || text == "none" {
		return s, nil
	}
	for _, part := range strings.Split(text, ",") {
		part = strings.TrimSpace(part)
		if part == "default" {
			for _, p := range DefaultServicePorts {
				s.Add(p)
			}
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", part, err)
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return nil, fmt.Errorf("%q: %v", part, err)
			}
			if b < a {
				return nil, fmt.Errorf("%q: range ends before it starts", part)
			}
		}
		for p := a; ; p++ {
			s.Add(uint16(p))
			if p == b {
				break
			}
		}
	}
	return s, nil
}

func parsePort(text string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("want a port from 1 to 65535 (or a range like 100-200, or default, or none)")
	}
	return n, nil
}

// Config is what a Guard enforces. The zero Config is not useful: start
// from DefaultConfig.
type Config struct {
	// Port is the port the server listens on; datagrams from it are never
	// answered (two echo servers on one port would loop, and so would a
	// reply to ourselves).
	Port uint16
	// ServicePorts are source ports never answered; nil means
	// DefaultServicePorts.
	ServicePorts *Ports
	// Rate and Burst bound the replies to one source address: Rate a
	// second on average, Burst at once. Rate 0 means no limit. Loopback
	// sources are never limited, so that a benchmark measures the server.
	Rate  float64
	Burst int
	// MaxSources bounds the table of sources the Guard remembers; a new
	// source while it is full of active ones is refused.
	MaxSources int
	// Broadcast and Multicast allow answering datagrams sent to a
	// broadcast address or a multicast group.
	Broadcast, Multicast bool
}

// DefaultConfig returns the defaults for a server on port.
func DefaultConfig(port uint16) Config {
	return Config{Port: port, Rate: DefaultRate, Burst: DefaultBurst, MaxSources: DefaultMaxSources}
}

// Dest is how a datagram was addressed.
type Dest uint8

const (
	DestUnknown Dest = iota // no pktinfo: treated as unicast
	ToUnicast
	ToBroadcast
	ToMulticast
)

// Datagram is what the Guard needs to know of one datagram.
type Datagram struct {
	Src  netip.AddrPort // the sender, as the kernel reported it
	Dest Dest
	// SrcLocal: the source is one of this host's addresses;
	// SrcBroadcast: it is a broadcast address of a subnet of this host.
	SrcLocal, SrcBroadcast bool
	// Loopback: it arrived on a loopback interface.
	Loopback bool
	Payload  []byte
}

// Guard holds the per-source state. It is not safe for concurrent use.
type Guard struct {
	cfg     Config
	ports   *Ports
	seed    maphash.Seed
	sources map[netip.Addr]*source
	swept   time.Time
	counts  Counts

	// last is the source the table gave last: datagrams come in runs from
	// one sender, and a lookup per datagram (and another per reply)
	// hashes a 24-byte key each time. Entries leave the table only in
	// sweep, which forgets it.
	lastIP netip.Addr
	last   *source
	// passed is the datagram Check let through last, for Echoed.
	passed passed
}

// passed is what Sent would need of a datagram Check let through, had its
// echo gone back unchanged.
type passed struct {
	ok     bool
	ip     netip.Addr
	port   uint16
	digest uint64
}

type source struct {
	tokens   float64
	last     time.Time // last datagram seen (bucket refill time)
	heldTill time.Time
	replies  [repliesRemembered]reply
	next     int // where the next reply goes in replies
}

type reply struct {
	port   uint16
	digest uint64
	at     time.Time
}

// New returns a Guard enforcing cfg.
func New(cfg Config) *Guard {
	g := &Guard{cfg: cfg, ports: cfg.ServicePorts, seed: maphash.MakeSeed(), sources: map[netip.Addr]*source{}}
	if g.ports == nil {
		g.ports = new(Ports)
		for _, p := range DefaultServicePorts {
			g.ports.Add(p)
		}
	}
	if g.cfg.Burst < 1 {
		g.cfg.Burst = 1
	}
	if g.cfg.MaxSources < 1 {
		g.cfg.MaxSources = DefaultMaxSources
	}
	return g
}

// Config returns the configuration the Guard enforces.
func (g *Guard) Config() Config { return g.cfg }

// Counts returns how many datagrams got each verdict so far.
func (g *Guard) Counts() Counts { return g.counts }

// Sources is how many source addresses the Guard remembers now.
func (g *Guard) Sources() int { return len(g.sources) }

// Count records a verdict the caller reached itself (Truncated, Unbound,
// ReplyDir), so that every suppressed datagram is in Counts.
func (g *Guard) Count(r Reason) {
	if r < numReasons {
		g.counts[r]++
	}
}

// Check decides whether d, arriving at now, may be answered. On Reply the
// caller sends the reply and then calls Sent (or Echoed). Every verdict is
// counted.
func (g *Guard) Check(now time.Time, d *Datagram) Reason {
	g.passed.ok = false
	r := g.check(now, d)
	g.counts[r]++
	return r
}

// lookup is sources[ip], remembered (see Guard.last).
func (g *Guard) lookup(ip netip.Addr) *source {
	if g.last != nil && g.lastIP == ip {
		return g.last
	}
	s := g.sources[ip]
	if s != nil {
		g.lastIP, g.last = ip, s
	}
	return s
}

// add puts a new source in the table.
func (g *Guard) add(now time.Time, ip netip.Addr) *source {
	s := &source{tokens: float64(g.cfg.Burst), last: now}
	g.sources[ip] = s
	g.lastIP, g.last = ip, s
	return s
}

// pass notes the datagram being let through, for Echoed, and says Reply.
func (g *Guard) pass(ip netip.Addr, port uint16, digest uint64) Reason {
	g.passed = passed{ok: true, ip: ip, port: port, digest: digest}
	return Reply
}

func (g *Guard) check(now time.Time, d *Datagram) Reason {
	ip, port := d.Src.Addr().Unmap().WithZone(""), d.Src.Port()
	switch {
	case !ip.IsValid() || ip.IsUnspecified():
		return Unspecified
	case port == 0:
		return PortZero
	case ip.IsMulticast():
		return SourceMulticast
	case d.SrcBroadcast || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return SourceBroadcast
	case d.SrcLocal && !d.Loopback && (d.Dest == ToUnicast || d.Dest == DestUnknown):
		// The kernel drops a packet from the wire with one of our
		// addresses as its source; one that got here came through a
		// reply to 0.0.0.0 or similar trickery, and answering it
		// would reach a local service.
		return SourceSelf
	case port == g.cfg.Port:
		return OwnPort
	case g.ports.Has(port):
		return ServicePort
	case d.Dest == ToBroadcast && !g.cfg.Broadcast:
		return DestBroadcast
	case d.Dest == ToMulticast && !g.cfg.Multicast:
		return DestMulticast
	}
	loopback := ip.IsLoopback()
	s := g.lookup(ip)
	if s == nil {
		if loopback {
			// Remembered only once we reply (Sent).
			return g.pass(ip, port, maphash.Bytes(g.seed, d.Payload))
		}
		if len(g.sources) >= g.cfg.MaxSources && !g.sweep(now) {
			return TableFull
		}
		s = g.add(now, ip)
	}
	if heldDown(now, s) {
		return HeldDown
	}
	digest := maphash.Bytes(g.seed, d.Payload)
	for i := range s.replies {
		rp := &s.replies[i]
		if rp.port == port && rp.digest == digest && within(now, rp.at, LoopWindow) {
			s.heldTill = now.Add(HoldDown)
			s.replies = [repliesRemembered]reply{}
			return Loop
		}
	}
	if loopback || g.cfg.Rate <= 0 {
		return g.pass(ip, port, digest)
	}
	if dt := now.Sub(s.last).Seconds(); dt > 0 {
		s.tokens = min(float64(g.cfg.Burst), s.tokens+dt*g.cfg.Rate)
	}
	s.last = now
	if s.tokens < 1 {
		return RateLimited
	}
	s.tokens--
	return g.pass(ip, port, digest)
}

// Sent records a reply sent to to at now, so that the same bytes coming
// back from there are recognised as a loop.
func (g *Guard) Sent(now time.Time, to netip.AddrPort, payload []byte) {
	g.record(now, to.Addr().Unmap().WithZone(""), to.Port(), maphash.Bytes(g.seed, payload))
}

// Echoed is Sent for an echo: it records that the datagram the last Check
// let through (Reply) went back, unchanged, to its sender at now, without
// hashing its payload again. It does nothing if the last Check said
// anything else, or if Echoed or Sent was called since.
func (g *Guard) Echoed(now time.Time) {
	if p := &g.passed; p.ok {
		g.record(now, p.ip, p.port, p.digest)
	}
}

// record remembers a reply of this digest sent to ip and port at now.
func (g *Guard) record(now time.Time, ip netip.Addr, port uint16, digest uint64) {
	g.passed.ok = false
	s := g.lookup(ip)
	if s == nil {
		if !ip.IsLoopback() || len(g.sources) >= g.cfg.MaxSources {
			return
		}
		s = g.add(now, ip)
	}
	s.replies[s.next] = reply{port: port, digest: digest, at: now}
	s.next = (s.next + 1) % repliesRemembered
}

// sweep removes the sources that carry no state worth keeping (bucket
// full again, no recent reply, not held down), at most once per
// sweepEvery, and reports whether there is room now.
func (g *Guard) sweep(now time.Time) bool {
	if within(now, g.swept, sweepEvery) {
		return false
	}
	g.swept = now
	g.last = nil
	for ip, s := range g.sources {
		if g.idle(now, s) {
			delete(g.sources, ip)
		}
	}
	return len(g.sources) < g.cfg.MaxSources
}

func (g *Guard) idle(now time.Time, s *source) bool {
	if heldDown(now, s) {
		return false
	}
	for _, rp := range s.replies {
		if within(now, rp.at, LoopWindow) {
			return false
		}
	}
	dt := now.Sub(s.last).Seconds()
	if g.cfg.Rate <= 0 || dt < 0 {
		return true // a bucket filled in the future (clock stepped back) is forgotten
	}
	return s.tokens+dt*g.cfg.Rate >= float64(g.cfg.Burst)
}

// The times a Guard is given may be wall-clock ones (bcast echo passes the
// kernel's receive timestamps), and the wall clock can step back: a time
// then lies in the future. Without these checks a source held down for
// 5 s, or a reply remembered for 1 s, would last as long as the step (an
// hour, for a time zone mistake corrected by NTP), and a full table would
// not be swept for as long.

// within reports whether t is set and at most window before now.
func within(now, t time.Time, window time.Duration) bool {
	age := now.Sub(t)
	return !t.IsZero() && age >= 0 && age <= window
}

// heldDown reports whether s is held down at now: its hold-down ends
// after now, by at most HoldDown.
func heldDown(now time.Time, s *source) bool {
	left := s.heldTill.Sub(now)
	return left > 0 && left <= HoldDown
}
