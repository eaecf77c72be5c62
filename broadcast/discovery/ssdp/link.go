package ssdp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/broadcast/discovery/lanlink"
)

// DefaultMulticastTTL is the TTL (hop limit) of SSDP's group datagrams:
// UDA 1.1 §1.1.2 asks for 2.
const DefaultMulticastTTL = 2

// LinkConfig says where a Browser or an Announcer speaks.
type LinkConfig struct {
	// Interfaces names the interfaces to use; empty means every interface
	// that is up, can multicast and is not loopback, including those that
	// come up later.
	Interfaces []string
	// MulticastTTL is the TTL of group datagrams (DefaultMulticastTTL when
	// 0).
	MulticastTTL int
}

func (c LinkConfig) open(port uint16, fam family) (*lanlink.Link, error) {
	ttl := c.MulticastTTL
	if ttl == 0 {
		ttl = DefaultMulticastTTL
	}
	if ttl < 1 || ttl > 255 {
		return nil, fmt.Errorf("ssdp: multicast TTL %d: want 1 to 255", ttl)
	}
	lc := lanlink.Config{Port: port, Interfaces: c.Interfaces, MulticastTTL: ttl, BufSize: MaxMessageSize}
	if fam.v4 {
		lc.Group4 = IPv4Group.Addr()
	}
	if fam.v6 {
		lc.Group6 = IPv6Group.Addr()
	}
	return lanlink.Open(lc)
}

// engine is what the runner needs of a Searcher or an Advertiser.
type engine interface {
	UpdateInterface(time.Time, Interface)
	RemoveInterface(time.Time, int)
	HandlePacket(time.Time, Packet)
	Poll(time.Time) []Output
	NextDeadline() time.Time
}

// runner drives an engine from real sockets and the real clock: it holds
// the engine under a lock, feeds it the datagrams of its links and the
// interfaces of the first, sends what it asks out of the first link, and
// polls it when its deadline comes.
type runner struct {
	mu     sync.Mutex
	eng    engine
	links  []*lanlink.Link // links[0] sends; all receive
	known  map[int]bool    // interfaces the engine was told about
	timer  *time.Timer
	closed bool
	onPoll func() // called after each poll, under mu

	sendErrs uint64
	lastErr  error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newRunner(eng engine, links ...*lanlink.Link) *runner {
	r := &runner{eng: eng, links: links, known: map[int]bool{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.timer = time.AfterFunc(time.Hour, r.tick)
	r.timer.Stop()
	return r
}

// start tells the engine the interfaces, runs first (under the lock,
// before any datagram), then receives and follows changes.
func (r *runner) start(first func(now time.Time)) {
	r.mu.Lock()
	now := time.Now()
	r.syncLocked(now)
	first(now)
	r.flushLocked(now)
	r.mu.Unlock()
	for _, l := range r.links {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			l.Run(r.ctx, r.handle)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-r.links[0].Changes():
			}
			r.mu.Lock()
			if !r.closed {
				now := time.Now()
				r.syncLocked(now)
				r.flushLocked(now)
			}
			r.mu.Unlock()
		}
	}()
}

func (r *runner) syncLocked(now time.Time) {
	present := map[int]bool{}
	for _, ifi := range r.links[0].Interfaces() {
		present[ifi.Index] = true
		r.known[ifi.Index] = true
		r.eng.UpdateInterface(now, toInterface(&ifi))
	}
	for idx := range r.known {
		if !present[idx] {
			delete(r.known, idx)
			r.eng.RemoveInterface(now, idx)
		}
	}
}

func toInterface(ifi *broadcast.Interface) Interface {
	ifc := Interface{Index: ifi.Index, Name: ifi.Name, Flags: ifi.Flags}
	for _, a := range ifi.Addrs {
		ifc.Addrs = append(ifc.Addrs, a.Prefix)
	}
	return ifc
}

func (r *runner) handle(p *lanlink.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := time.Now()
	r.eng.HandlePacket(now, Packet{Payload: p.Data, IfIndex: p.IfIndex, Src: p.Src, Dst: p.Dst, Truncated: p.Truncated})
	r.flushLocked(now)
}

func (r *runner) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.flushLocked(time.Now())
	}
}

// flushLocked polls the engine, sends what it asks and sets the timer to
// its next deadline.
func (r *runner) flushLocked(now time.Time) {
	r.sendLocked(r.eng.Poll(now))
	if r.onPoll != nil {
		r.onPoll()
	}
	if next := r.eng.NextDeadline(); !next.IsZero() {
		r.timer.Reset(max(next.Sub(now), 0))
	} else {
		r.timer.Stop()
	}
}

func (r *runner) sendLocked(outs []Output) {
	for _, o := range outs {
		if err := r.links[0].Send(o.Payload, o.IfIndex, o.Dst); err != nil {
			// An interface that just went away, a full socket buffer:
			// counted, and the engine's repeats cover the loss.
			r.sendErrs++
			r.lastErr = err
		}
	}
}

// stop ends the receivers and closes the links; last runs first, under
// the lock, and may queue final datagrams (byebyes) that are sent before
// the sockets close.
func (r *runner) stop(last func(now time.Time)) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	if last != nil {
		now := time.Now()
		last(now)
		r.sendLocked(r.eng.Poll(now))
	}
	r.closed = true
	r.timer.Stop()
	r.mu.Unlock()
	r.cancel()
	var errs []error
	for _, l := range r.links {
		errs = append(errs, l.Close())
	}
	r.wg.Wait()
	return errors.Join(errs...)
}

// BrowseConfig configures Browse.
type BrowseConfig struct {
	SearcherConfig
	LinkConfig
}

// BrowserStats adds the link layer's counters to the engine's.
type BrowserStats struct {
	SearcherStats
	SendErrors    uint64 // datagrams the kernel refused
	EventsDropped uint64 // events not queued because the reader fell 4×MaxEntries behind
}

// A Browser searches for UPnP devices and services on the LAN's
// interfaces and reports them on Events.
type Browser struct {
	r       *runner
	eng     *Searcher
	maxQ    int
	queue   []Event
	dropped uint64
	wake    chan struct{}
	events  chan Event
	done    chan struct{}
	once    sync.Once
	err     error
}

// Browse opens the links, searches, and starts reporting on Events until
// Close. It listens on the SSDP port (sharing it with other UPnP software
// on the host) for NOTIFYs, and searches from an ephemeral port of its
// own, where the unicast answers come. A unicast search
// (SearcherConfig.Unicast) uses the ephemeral port alone.
func Browse(cfg BrowseConfig) (*Browser, error) {
	eng, err := NewSearcher(cfg.SearcherConfig)
	if err != nil {
		return nil, err
	}
	search, err := cfg.LinkConfig.open(0, eng.fam)
	if err != nil {
		return nil, err
	}
	links := []*lanlink.Link{search}
	if !eng.cfg.Unicast.IsValid() {
		notify, err := cfg.LinkConfig.open(Port, eng.fam)
		if err != nil {
			search.Close()
			return nil, err
		}
		links = append(links, notify)
	}
	b := &Browser{
		eng: eng, maxQ: 4 * eng.cfg.MaxEntries,
		wake: make(chan struct{}, 1), events: make(chan Event, 64), done: make(chan struct{}),
	}
	b.r = newRunner(eng, links...)
	b.r.onPoll = b.queueLocked
	b.r.start(eng.Search)
	go b.deliver()
	return b, nil
}

// queueLocked moves the engine's events to the delivery queue; runs under
// the runner's lock.
func (b *Browser) queueLocked() {
	for _, ev := range b.eng.Events() {
		if len(b.queue) >= b.maxQ {
			b.dropped++
			continue
		}
		b.queue = append(b.queue, ev)
	}
	if len(b.queue) > 0 {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

func (b *Browser) deliver() {
	defer close(b.events)
	for {
		b.r.mu.Lock()
		q := b.queue
		b.queue = nil
		b.r.mu.Unlock()
		for _, ev := range q {
			select {
			case b.events <- ev:
			case <-b.done:
				return
			}
		}
		select {
		case <-b.wake:
		case <-b.done:
			return
		}
	}
}

// Events delivers what is found, changed and lost, in order. It is closed
// by Close.
func (b *Browser) Events() <-chan Event { return b.events }

// Search searches again now, on every interface.
func (b *Browser) Search() {
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	if !b.r.closed {
		now := time.Now()
		b.eng.Search(now)
		b.r.flushLocked(now)
	}
}

// Entries returns what is known now, sorted by interface, USN and family.
func (b *Browser) Entries() []Entry {
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	return b.eng.Entries()
}

// Stats returns the counters.
func (b *Browser) Stats() BrowserStats {
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	return BrowserStats{SearcherStats: b.eng.Stats(), SendErrors: b.r.sendErrs, EventsDropped: b.dropped}
}

// LocalPort is the port searches leave from and answers come to.
func (b *Browser) LocalPort() uint16 { return b.r.links[0].LocalPort() }

// Close stops browsing and closes Events.
func (b *Browser) Close() error {
	b.once.Do(func() {
		b.err = b.r.stop(nil)
		close(b.done)
	})
	return b.err
}

// AnnounceConfig configures Announce.
type AnnounceConfig struct {
	AdvertiserConfig
	LinkConfig
	// Describe makes the Announcer serve the description document
	// (Description) itself, over HTTP on Port, at Path, to clients that
	// reach it through one of the interfaces it announces on.
	Describe bool
}

// AnnouncerStats adds the link layer's counters to the engine's.
type AnnouncerStats struct {
	AdvertiserStats
	SendErrors uint64 // datagrams the kernel refused
}

// An Announcer advertises a UPnP device on the LAN's interfaces until
// Close.
type Announcer struct {
	r    *runner
	eng  *Advertiser
	desc *describer
	once sync.Once
	err  error
}

// Announce opens the SSDP port on the LAN's interfaces (shared with other
// UPnP software on the host), announces the device, answers searches, and
// with Describe serves its description. A BootID of 0 is replaced with
// the Unix time, which grows from one start to the next; an empty Server
// names this kernel ("Linux/6.1.0 UPnP/1.1 bcast/1").
func Announce(cfg AnnounceConfig) (*Announcer, error) {
	if cfg.BootID == 0 {
		cfg.BootID = time.Now().Unix() & (1<<31 - 1)
	}
	if cfg.Server == "" {
		cfg.Server = serverHeader()
	}
	if cfg.Describe && cfg.Location != nil {
		return nil, errors.New("ssdp: Describe serves the document at Port and Path; it cannot go with a Location function")
	}
	eng, err := NewAdvertiser(cfg.AdvertiserConfig)
	if err != nil {
		return nil, err
	}
	l, err := cfg.LinkConfig.open(Port, eng.fam)
	if err != nil {
		return nil, err
	}
	a := &Announcer{eng: eng, r: newRunner(eng, l)}
	if cfg.Describe {
		a.desc, err = describe(eng.cfg.Root, eng.cfg.ConfigID, eng.cfg.Port, eng.cfg.Path, l)
		if err != nil {
			l.Close()
			return nil, err
		}
	}
	a.r.start(func(time.Time) {})
	return a, nil
}

// SetBootID sends ssdp:update with NEXTBOOTID id, then announces with it.
func (a *Announcer) SetBootID(id int64) error {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	if a.r.closed {
		return errors.New("ssdp: Announcer closed")
	}
	now := time.Now()
	if err := a.eng.SetBootID(now, id); err != nil {
		return err
	}
	a.r.flushLocked(now)
	return nil
}

// Stats returns the counters.
func (a *Announcer) Stats() AnnouncerStats {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	return AnnouncerStats{AdvertiserStats: a.eng.Stats(), SendErrors: a.r.sendErrs}
}

// Close sends ssdp:byebye for every target on every interface, then
// closes the sockets and the description server.
func (a *Announcer) Close() error {
	a.once.Do(func() {
		err := a.r.stop(a.eng.Close)
		if a.desc != nil {
			err = errors.Join(err, a.desc.close())
		}
		a.err = err
	})
	return a.err
}

// netipAddrs lists the addresses of the link's interfaces.
func netipAddrs(l *lanlink.Link) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, ifi := range l.Interfaces() {
		for _, a := range ifi.Addrs {
			m[a.Prefix.Addr().Unmap().WithZone("")] = true
		}
	}
	return m
}
