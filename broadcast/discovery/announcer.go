package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast"
)

// DefaultInterval is how often an Announcer announces by default.
const DefaultInterval = 5 * time.Second

// minInterval keeps a mistaken Interval from flooding the link.
const minInterval = 100 * time.Millisecond

// Answers to queries are limited to answerRate a second, with bursts of
// answerBurst, per Announcer.
const (
	answerRate  = 20
	answerBurst = 20
)

// textBudget is the room Text and the names may take in a message: what is
// left when the most addresses an interface may contribute (MaxAddrs IPv6)
// are counted, so that an Announcer never fails to fit later.
const textBudget = MaxMessageSize - minLen - MaxAddrs*17

// AnnouncerConfig describes the instance to announce and where.
type AnnouncerConfig struct {
	// Protocol is Own (the default), MDNS or SSDP. With MDNS, Service is
	// a DNS-SD service type ("_http._tcp"), Instance the instance name
	// people see ("Office Printer"), renamed ("Office Printer (2)") if
	// another host holds it (Instance then says the new name); Interval
	// and TTL must be zero, and of Link only Interfaces and Network
	// apply (an empty Network means IPv4 and IPv6 both).
	//
	// With SSDP the instance is a UPnP root device: Service is its device
	// type ("urn:schemas-upnp-org:device:Basic:1"), Instance its UUID
	// ("uuid:..."; the prefix is added when missing, and empty means a
	// random one), Port and Path make its LOCATION,
	// http://ADDR:Port/Path with ADDR the address of each interface it
	// speaks on, where the caller serves the description document
	// (package ssdp's Announce can serve one itself), and TTL is its
	// CACHE-CONTROL max-age (1800 s when 0). Host, Text and Interval must
	// be empty; of Link only Interfaces and Network apply, as with MDNS.
	Protocol Protocol

	// Host is, with MDNS, the host name published (Host.local, which the
	// instance's SRV record names); empty means this machine's host name
	// up to its first dot. It must be empty with Own.
	Host string

	// Service is the service name: 1 to MaxNameLen bytes of ASCII letters,
	// digits, '.', '-' and '_'.
	Service string

	// Instance identifies this announcer among the instances of the service;
	// keep it across restarts (a host name, a serial number, a UUID), so
	// that a restart is an update and not a new peer. Empty means a random
	// 16-hex-digit id, new each time.
	Instance string

	// Port is the port the service listens on (0 if it has none).
	Port uint16

	// Path is, with SSDP, the path of the description document in
	// LOCATION; empty means "/description.xml". It must be empty with
	// Own and MDNS.
	Path string

	// Text holds key/value pairs for Browsers (version, capabilities, ...).
	// Names and Text together may take 916 bytes (MaxMessageSize less the
	// header and MaxAddrs IPv6 addresses).
	Text map[string]string

	// Interval between announcements, at least 100 ms; 0 means
	// DefaultInterval. Each interval is shortened by up to a fifth at random.
	Interval time.Duration

	// TTL is how long Browsers keep the instance without hearing from it;
	// 0 means 3 intervals. It travels in whole seconds, rounded up, from
	// 1 s to 65535 s, and may not be shorter than Interval (Browsers would
	// lose the instance between announcements).
	TTL time.Duration

	// Link says where announcements go and queries come from.
	Link Link
}

// An Announcer announces one instance of a service until it is closed.
type Announcer struct {
	l        link
	service  string
	instance string
	port     uint16
	ttl      uint16
	interval time.Duration

	rx     *broadcast.Receiver
	tx     *broadcast.Sender
	ifs    ifCache
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	c      counters

	textMu sync.Mutex
	text   map[string]string // replaced, never modified

	sendMu sync.Mutex // one announcement round at a time
	join   joiner
	msg    Message
	buf    []byte

	rateMu   sync.Mutex
	tokens   float64
	tokensAt time.Time

	group groupAnswers
	gsend sendScratch // used with group.mu held

	closeOnce sync.Once
	closeErr  error

	md *mdnsAnnounce // with MDNS, the state; of the fields above only service and instance are used
	sd *ssdpAnnounce // with SSDP, likewise
}

// Announce starts announcing. The first announcement has been sent when it
// returns; a failure to send it is not an error (the interfaces may come
// up later) but shows in Stats.
func Announce(cfg AnnouncerConfig) (*Announcer, error) {
	if err := cfg.Protocol.check(); err != nil {
		return nil, err
	}
	if cfg.Protocol == SSDP {
		return announceSSDP(cfg)
	}
	if cfg.Path != "" {
		return nil, fmt.Errorf("discovery: Path %q applies to SSDP only", cfg.Path)
	}
	if cfg.Protocol == MDNS {
		return announceMDNS(cfg)
	}
	if cfg.Host != "" {
		return nil, fmt.Errorf("discovery: Host %q applies to mDNS only", cfg.Host)
	}
	l, err := cfg.Link.resolve()
	if err != nil {
		return nil, err
	}
	a := &Announcer{
		l:        l,
		service:  cfg.Service,
		instance: cfg.Instance,
		port:     cfg.Port,
		interval: cfg.Interval,
		text:     maps.Clone(cfg.Text),
		tokens:   answerBurst,
		tokensAt: time.Now(),
		buf:      make([]byte, 0, MaxMessageSize),
	}
	if a.instance == "" {
		var id [8]byte
		rand.Read(id[:])
		a.instance = hex.EncodeToString(id[:])
	}
	if a.interval == 0 {
		a.interval = DefaultInterval
	}
	if a.interval < minInterval {
		return nil, fmt.Errorf("discovery: interval %v shorter than %v", a.interval, minInterval)
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = 3 * a.interval
	}
	if ttl < 0 || ttl > math.MaxUint16*time.Second {
		what := "TTL " + ttl.String()
		if cfg.TTL == 0 {
			what = "the default TTL of 3 intervals, " + ttl.String() + ","
		}
		return nil, fmt.Errorf("discovery: %s outside 1s-%ds", what, math.MaxUint16)
	}
	a.ttl = uint16(max(1, (ttl+time.Second-1)/time.Second))
	if time.Duration(a.ttl)*time.Second < a.interval {
		return nil, fmt.Errorf("discovery: TTL %v shorter than the interval %v: browsers would lose the instance between announcements", ttl, a.interval)
	}
	if err := a.record(a.text).Validate(); err != nil {
		return nil, err
	}
	if err := checkBudget(a.record(a.text)); err != nil {
		return nil, err
	}
	ifs, err := a.ifs.list(0)
	if err != nil {
		return nil, fmt.Errorf("discovery: list interfaces: %w", err)
	}
	if err := a.l.check(ifs); err != nil {
		return nil, err
	}

	if a.rx, err = a.l.listen(a.l.port); err != nil {
		return nil, err
	}
	// Answers to the group leave from the discovery port, as every answer
	// does, and may be broadcasts.
	if err := a.rx.Socket().SetBroadcast(true); err != nil {
		a.rx.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	a.join = joiner{l: &a.l, s: a.rx.Socket()}
	if a.tx, err = broadcast.NewSender(broadcast.SenderConfig{Network: a.l.Network}); err != nil {
		a.rx.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	addSelf(key{a.service, a.instance})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.announce(TypeAnnounce)
	a.wg.Add(2)
	go a.run()
	go func() {
		defer a.wg.Done()
		receive(a.ctx, a.rx, &a.c, a.handle)
	}()
	return a, nil
}

// record is the message announced, without addresses.
func (a *Announcer) record(text map[string]string) *Message {
	return &Message{Type: TypeAnnounce, TTL: a.ttl, Service: a.service, Instance: a.instance, Port: a.port, Text: text}
}

func checkBudget(m *Message) error {
	if n := m.Size() - minLen; n > textBudget {
		return fmt.Errorf("%w: service, instance and text take %d bytes, more than the %d left beside %d addresses",
			ErrTooLarge, n, textBudget, MaxAddrs)
	}
	return nil
}

// Service returns the service name announced.
func (a *Announcer) Service() string { return a.service }

// Instance returns the instance id announced (generated when the
// configuration left it empty); with MDNS, the instance name now, after
// any rename.
func (a *Announcer) Instance() string {
	if a.md != nil {
		if name, ok := a.md.s.Name(a.md.id); ok {
			return name
		}
	}
	return a.instance
}

// Update replaces the key/value pairs and announces them at once. With
// SSDP, which has no key/value pairs, it fails.
func (a *Announcer) Update(text map[string]string) error {
	if a.md != nil {
		return a.md.update(text)
	}
	if a.sd != nil {
		return errSSDPText
	}
	text = maps.Clone(text)
	m := a.record(text)
	if err := m.Validate(); err != nil {
		return err
	}
	if err := checkBudget(m); err != nil {
		return err
	}
	a.textMu.Lock()
	a.text = text
	a.textMu.Unlock()
	return a.announce(TypeAnnounce)
}

var errClosed = errors.New("discovery: announcer closed")

// Stats returns the counters.
func (a *Announcer) Stats() Stats {
	if a.md != nil {
		return a.md.stats()
	}
	if a.sd != nil {
		return a.sd.stats()
	}
	return a.c.stats()
}

// Close stops announcing, sends a Goodbye (with SSDP, ssdp:byebye for
// each target) out of every interface and closes the sockets.
func (a *Announcer) Close() error {
	a.closeOnce.Do(func() {
		if a.md != nil {
			a.closeErr = a.md.s.Close()
			dropSelf(key{a.service, a.instance})
			return
		}
		if a.sd != nil {
			a.closeErr = a.sd.close()
			return
		}
		a.cancel()
		a.group.close()
		errRx := a.rx.Close()
		a.wg.Wait()
		a.announce(TypeGoodbye)
		a.closeErr = errors.Join(errRx, a.tx.Close())
		dropSelf(key{a.service, a.instance})
	})
	return a.closeErr
}

// run announces again one second after the start, then every interval less
// up to a fifth: never later than the interval, so the TTL's three
// intervals always hold three chances.
func (a *Announcer) run() {
	defer a.wg.Done()
	t := time.NewTimer(min(time.Second, a.interval))
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		a.announce(TypeAnnounce)
		t.Reset(a.interval - time.Duration(mrand.Int64N(int64(a.interval)/5+1)))
	}
}

// announce sends one Announce (or Goodbye) out of every target, each with
// the addresses of its own interface. Failures are counted, not returned:
// the only error is errClosed.
func (a *Announcer) announce(typ Type) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	// Close cancels before it sends the Goodbye under sendMu, so an
	// Announce that gets here later must not undo the Goodbye.
	if typ == TypeAnnounce && a.ctx.Err() != nil {
		return errClosed
	}
	ifs, err := a.ifs.list(0)
	if err != nil {
		a.c.fail(fmt.Errorf("discovery: list interfaces: %w", err))
		if ifs == nil {
			return nil
		}
	}
	ts := a.l.targets(ifs)
	if typ == TypeAnnounce {
		if err := a.join.join(ts); err != nil {
			a.c.fail(err)
		}
	}
	if len(ts) == 0 {
		a.c.fail(fmt.Errorf("discovery: no interface to announce on (%s)", a.whyNone(ifs)))
		return nil
	}
	a.textMu.Lock()
	text := a.text
	a.textMu.Unlock()
	for _, t := range ts {
		if typ == TypeGoodbye {
			a.msg = Message{Type: TypeGoodbye, Service: a.service, Instance: a.instance}
		} else {
			a.msg = *a.record(text)
			a.msg.Addrs = t.addrs
		}
		var err error
		if a.buf, err = a.msg.AppendBinary(a.buf[:0]); err != nil {
			a.c.fail(err) // cannot happen: the record was validated and budgeted
			continue
		}
		a.send(a.buf, t)
	}
	return nil
}

func (a *Announcer) send(b []byte, t target) {
	if err := a.tx.SendVia(b, t.to, t.ifindex, netip.Addr{}); err != nil {
		a.c.sendErrors.Add(1)
		where := t.ifname
		if where == "" {
			where = "the route"
		}
		a.c.fail(fmt.Errorf("discovery: send to %v via %s: %w", t.to, where, err))
		return
	}
	a.c.sent.Add(1)
}

func (a *Announcer) whyNone(ifs []broadcast.Interface) string {
	var why []string
	for i := range ifs {
		if !a.l.wants(ifs[i].Name) {
			continue
		}
		if ok, r := a.l.capable(&ifs[i]); !ok {
			why = append(why, ifs[i].Name+": "+r)
		}
	}
	for _, n := range a.l.Interfaces {
		if !slices.ContainsFunc(ifs, func(ifi broadcast.Interface) bool { return ifi.Name == n }) {
			why = append(why, n+": no such interface up")
		}
	}
	if len(why) == 0 {
		return "no interface is up"
	}
	return fmt.Sprint(why)
}

// handle answers queries. It runs on the receiving goroutine, which owns
// the answer buffer.
func (a *Announcer) handle(p *broadcast.Packet) {
	var v view
	if !a.c.parse(p, &v) {
		return
	}
	if !a.l.wants(p.IfName) {
		a.c.ignored.Add(1)
		return
	}
	switch v.typ {
	case TypeQuery:
	case TypeAnnounce:
		if string(v.service) == a.service && string(v.instance) == a.instance && !a.ours(p) {
			a.c.conflicts.Add(1)
			a.c.fail(fmt.Errorf("discovery: %s/%s is also announced by %v on %s", a.service, a.instance, p.Src, p.IfName))
			return
		}
		a.c.ignored.Add(1)
		return
	default:
		a.c.ignored.Add(1)
		return
	}
	if len(v.service) > 0 && string(v.service) != a.service || len(v.instance) > 0 && string(v.instance) != a.instance {
		a.c.ignored.Add(1)
		return
	}
	a.c.queries.Add(1)
	ifi := a.ifs.byIndex(p.IfIndex)
	if ifi == nil {
		a.c.fail(fmt.Errorf("discovery: query from %v on unknown interface %d", p.Src, p.IfIndex))
		return
	}
	a.textMu.Lock()
	text := a.text
	a.textMu.Unlock()
	m := a.record(text)
	m.Type = TypeAnswer
	m.Addrs = a.l.addrsOf(ifi)
	switch a.l.judge(p.Src, p.Own, p.IfName, ifi, p.Size, m.Size()) {
	case wayOffLink:
		a.c.offLink.Add(1)
		a.c.refused.Add(1)
		return
	case wayGroup:
		k := groupKey{ifindex: p.IfIndex, v4: p.Src.Addr().Unmap().Is4()}
		switch a.group.ask(time.Now(), k, a.sendGroup, a.sendGroup) {
		case groupCoalesced:
			a.c.coalesced.Add(1)
		case groupClosed:
			a.c.ignored.Add(1)
		}
		return
	}
	if !a.allow() {
		a.c.limited.Add(1)
		a.c.refused.Add(1)
		return
	}
	b, err := m.MarshalBinary()
	if err != nil {
		a.c.fail(err)
		return
	}
	if err := a.rx.Reply(p, b); err != nil {
		a.c.sendErrors.Add(1)
		a.c.fail(fmt.Errorf("discovery: answer %v on %s: %w", p.Src, p.IfName, err))
		return
	}
	a.c.sent.Add(1)
	a.c.answered.Add(1)
}

// ours reports whether an announcement of our own key is one we sent:
// from this host and from our sender's port.
func (a *Announcer) ours(p *broadcast.Packet) bool {
	return p.Own && p.Src.Port() == a.tx.LocalAddr().Port()
}

// allow takes a token from the answer bucket.
func (a *Announcer) allow() bool {
	a.rateMu.Lock()
	defer a.rateMu.Unlock()
	now := time.Now()
	a.tokens = min(answerBurst, a.tokens+now.Sub(a.tokensAt).Seconds()*answerRate)
	a.tokensAt = now
	if a.tokens < 1 {
		return false
	}
	a.tokens--
	return true
}
