package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast"
)

// DefaultMaxPeers is how many peers a Browser keeps by default.
const DefaultMaxPeers = 1024

// rescanEvery is how often a Browser looks for interfaces that came up, to
// join the group there and query at once rather than wait for the next
// announcement.
const rescanEvery = 5 * time.Second

// BrowserConfig says what to look for and where.
type BrowserConfig struct {
	// Protocol is Own (the default), MDNS or SSDP.
	Protocol Protocol

	// Service is the service name to find; empty finds every service.
	// With MDNS it is a DNS-SD service type ("_http._tcp"), and empty
	// browses every type announced (RFC 6763 §9). With SSDP it is the
	// search target (ST): upnp:rootdevice, uuid:UUID, a device or service
	// type ("urn:schemas-upnp-org:device:InternetGatewayDevice:1"), and
	// empty searches ssdp:all.
	Service string

	// Link says where announcements come from and queries go. It must match
	// the Announcers'. With MDNS and SSDP only Interfaces and Network
	// apply, and an empty Network means IPv4 and IPv6 both; with SSDP one
	// Destination (a device's HOST:PORT) makes the search a unicast
	// M-SEARCH to it alone.
	Link Link

	// MaxPeers bounds the peer table; 0 means DefaultMaxPeers. It counts
	// the peers present and those lost whose Lost event has not been read
	// from Events yet. Announcements and answers of new peers beyond it
	// are dropped and counted in Stats.Full, so that a flood of made-up
	// instances, or a reader that stopped reading, costs bounded memory.
	MaxPeers int
}

// A Browser finds the instances of a service and follows them until it is
// closed.
type Browser struct {
	l       link
	service string

	rx *broadcast.Receiver // the discovery port: announcements and goodbyes
	qx *broadcast.Receiver // an ephemeral port: queries leave from it, answers come to it

	ifs    ifCache
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	c      counters

	mu       sync.Mutex // guards the table, the timer and closed
	tb       *table
	timer    *time.Timer // fires at deadline, the earliest route expiry
	deadline time.Time
	closed   bool

	events chan Event
	wake   chan struct{} // a change may be waiting in the table

	sendMu  sync.Mutex
	join    joiner
	known   map[int]bool // interfaces queried on, by index
	qbuf    []byte
	scratch sendScratch

	closeOnce sync.Once
	closeErr  error

	md *mdnsBrowse // with MDNS, the state; nothing above but events is used
	sd *ssdpBrowse // with SSDP, likewise
}

// Browse starts browsing: it opens the sockets, sends a first Query (a
// second follows a second later) and starts reporting on Events.
func Browse(cfg BrowserConfig) (*Browser, error) {
	if err := cfg.Protocol.check(); err != nil {
		return nil, err
	}
	if cfg.MaxPeers < 0 {
		return nil, fmt.Errorf("discovery: negative MaxPeers %d", cfg.MaxPeers)
	}
	if cfg.Protocol == MDNS {
		return browseMDNS(cfg, cmp.Or(cfg.MaxPeers, DefaultMaxPeers))
	}
	if cfg.Protocol == SSDP {
		return browseSSDP(cfg, cmp.Or(cfg.MaxPeers, DefaultMaxPeers))
	}
	l, err := cfg.Link.resolve()
	if err != nil {
		return nil, err
	}
	if r := checkService(cfg.Service, false); r != "" {
		return nil, fmt.Errorf("discovery: service %q: %s", cfg.Service, r)
	}
	maxPeers := cfg.MaxPeers
	if maxPeers == 0 {
		maxPeers = DefaultMaxPeers
	}
	if maxPeers < 0 {
		return nil, fmt.Errorf("discovery: negative MaxPeers %d", maxPeers)
	}
	b := &Browser{
		l:       l,
		service: cfg.Service,
		tb:      newTable(maxPeers),
		events:  make(chan Event, 16),
		wake:    make(chan struct{}, 1),
	}
	ifs, err := b.ifs.list(0)
	if err != nil {
		return nil, fmt.Errorf("discovery: list interfaces: %w", err)
	}
	if err := b.l.check(ifs); err != nil {
		return nil, err
	}
	if b.rx, err = b.l.listen(b.l.port); err != nil {
		return nil, err
	}
	if b.qx, err = b.l.listen(0); err != nil {
		b.rx.Close()
		return nil, err
	}
	if err := b.qx.Socket().SetBroadcast(true); err != nil {
		b.rx.Close()
		b.qx.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	b.join = joiner{l: &b.l, s: b.rx.Socket()}
	b.timer = time.AfterFunc(time.Hour, b.expire)
	b.timer.Stop()
	b.ctx, b.cancel = context.WithCancel(context.Background())

	if err := b.Query(); err != nil {
		b.c.fail(err)
	}
	b.wg.Add(4)
	for _, r := range []*broadcast.Receiver{b.rx, b.qx} {
		go func() {
			defer b.wg.Done()
			receive(b.ctx, r, &b.c, b.handle)
		}()
	}
	go b.deliver()
	go b.watch()
	return b, nil
}

// Events reports peers found, updated and lost. It is closed by Close.
// Events are coalesced per peer while unread (see Event), so a slow reader
// delays them but never loses the final state.
func (b *Browser) Events() <-chan Event { return b.events }

// Peers returns every peer known now, sorted by service and instance.
func (b *Browser) Peers() []Peer {
	if b.md != nil {
		return b.md.snapshot()
	}
	if b.sd != nil {
		return b.sd.snapshot()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tb.snapshot()
}

// Stats returns the counters.
func (b *Browser) Stats() Stats {
	if b.md != nil {
		return b.md.stats()
	}
	if b.sd != nil {
		return b.sd.stats()
	}
	s := b.c.stats()
	b.mu.Lock()
	s.Full = b.tb.refused
	b.mu.Unlock()
	return s
}

// Query asks every instance of the service to answer now, out of every
// interface (or to every destination). It fails only when no query could
// be sent at all. With MDNS it does nothing: mDNS queries follow their
// own schedule (RFC 6762 §5.2), and asking more often than that only
// costs the link. With SSDP it starts a search again (its M-SEARCHes,
// repeated to cover loss).
func (b *Browser) Query() error {
	if b.md != nil {
		return nil
	}
	if b.sd != nil {
		b.sd.b.Search()
		return nil
	}
	return b.query(false)
}

// query sends a Query out of every target, or with onlyNew, out of the
// interfaces not queried on before (an interface that came up).
func (b *Browser) query(onlyNew bool) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if b.ctx.Err() != nil {
		return errors.New("discovery: browser closed")
	}
	ifs, err := b.ifs.list(0)
	if err != nil && ifs == nil {
		return fmt.Errorf("discovery: list interfaces: %w", err)
	}
	ts := b.l.targets(ifs)
	if err := b.join.join(ts); err != nil {
		b.c.fail(err)
	}
	known := make(map[int]bool, len(ts))
	for _, t := range ts {
		known[t.ifindex] = true
	}
	if onlyNew {
		ts = slices.DeleteFunc(ts, func(t target) bool { return b.known[t.ifindex] })
	}
	b.known = known // forget interfaces that went away, so they count as new when back
	if len(ts) == 0 {
		if onlyNew {
			return nil
		}
		return errors.New("discovery: no interface to query on")
	}
	m := Message{Type: TypeQuery, Service: b.service}
	if b.qbuf, err = m.AppendBinary(b.qbuf[:0]); err != nil {
		return err
	}
	var errs []error
	for _, t := range ts {
		if err := b.sendQuery(t); err != nil {
			b.c.sendErrors.Add(1)
			errs = append(errs, err)
			continue
		}
		b.c.sent.Add(1)
	}
	if len(errs) == len(ts) {
		return errors.Join(errs...)
	}
	for _, err := range errs {
		b.c.fail(err)
	}
	return nil
}

// sendQuery sends the query in qbuf from the query socket, out of the
// target's interface.
func (b *Browser) sendQuery(t target) error {
	if err := sendOut(b.qx.Socket(), b.qbuf, t, &b.scratch); err != nil {
		where := t.ifname
		if where == "" {
			where = "the route"
		}
		return fmt.Errorf("discovery: query to %v via %s: %w", t.to, where, err)
	}
	return nil
}

// watch sends the second query a second after the first (one lost
// datagram should not cost a whole announcement interval), then every
// rescanEvery queries out of the interfaces that came up meanwhile.
func (b *Browser) watch() {
	defer b.wg.Done()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for onlyNew := false; ; onlyNew = true {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		if err := b.query(onlyNew); err != nil && b.ctx.Err() == nil {
			b.c.fail(err)
		}
		t.Reset(rescanEvery)
	}
}

// Close stops browsing, closes the sockets and then Events.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		if b.md != nil {
			b.closeErr = b.md.close()
			return
		}
		if b.sd != nil {
			b.closeErr = b.sd.close()
			return
		}
		b.cancel()
		b.mu.Lock()
		b.closed = true
		b.timer.Stop()
		b.mu.Unlock()
		b.closeErr = errors.Join(b.rx.Close(), b.qx.Close())
		b.wg.Wait()
		close(b.events)
	})
	return b.closeErr
}

// handle takes one datagram from either socket.
func (b *Browser) handle(p *broadcast.Packet) {
	var o observation
	v := &o.v
	if !b.c.parse(p, v) {
		return
	}
	if !b.l.wants(p.IfName) || v.typ == TypeQuery || b.service != "" && string(v.service) != b.service {
		b.c.ignored.Add(1)
		return
	}
	if v.typ != TypeGoodbye {
		// Worked out before locking: onLink may have to list interfaces.
		o.src, o.ifindex, o.ifname = p.Src, p.IfIndex, p.IfName
		o.local, o.self = p.Own, isSelf(v.service, v.instance)
		if hasLinkLocal(v) {
			o.onLink = p.Kind == broadcast.Broadcast || p.Kind == broadcast.Multicast ||
				onLink(p.Src.Addr(), p.IfName, b.ifs.byIndex(p.IfIndex))
		}
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if v.typ == TypeGoodbye {
		if b.tb.remove(string(v.service), string(v.instance)) {
			b.signal()
		}
		return
	}
	expires, ok := b.tb.observe(now, &o)
	if !ok {
		return
	}
	if b.tb.pending() {
		b.signal()
	}
	if b.deadline.IsZero() || expires.Before(b.deadline) {
		b.deadline = expires
		b.timer.Reset(expires.Sub(now))
	}
}

// hasLinkLocal reports whether a message carries an IPv6 link-local
// address, the one case where it matters which link it came over.
func hasLinkLocal(v *view) bool {
	for b := v.addrs; len(b) > 0; {
		if b[0] == 4 {
			b = b[5:]
			continue
		}
		if b[1] == 0xfe && b[2]&0xc0 == 0x80 {
			return true
		}
		b = b[17:]
	}
	return false
}

// expire runs on the timer: it drops what expired and sets the timer to
// the next deadline. Nothing runs between deadlines.
func (b *Browser) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	now := time.Now()
	b.deadline = b.tb.expire(now)
	if !b.deadline.IsZero() {
		b.timer.Reset(b.deadline.Sub(now))
	}
	if b.tb.pending() {
		b.signal()
	}
}

// signal wakes deliver; called with mu held.
func (b *Browser) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// deliver moves changes from the table to Events, one at a time, so that
// the table (not the channel) holds what the reader has not taken.
func (b *Browser) deliver() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		ev, ok := b.tb.next()
		b.mu.Unlock()
		if !ok {
			select {
			case <-b.wake:
				continue
			case <-b.ctx.Done():
				return
			}
		}
		select {
		case b.events <- ev:
		case <-b.ctx.Done():
			return
		}
	}
}
