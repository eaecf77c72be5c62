package mdns

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/lanlink"
)

// BrowserConfig configures a Browser. The zero value browses on every
// multicast interface, IPv4 and IPv6.
type BrowserConfig struct {
	LinkConfig
	// QuerierConfig tunes the engine (cache and instance bounds). Its
	// EphemeralPort is set by the Browser itself.
	QuerierConfig
	// MaxPendingEvents bounds the events waiting for the reader of
	// Events, one per instance and interface at most (coalesced); 0 means
	// four times MaxInstances. Beyond it events are dropped and
	// counted in BrowserStats.EventsDropped.
	MaxPendingEvents int
}

// A Browser runs a Querier on the LAN: it browses service types, resolves
// instances and looks up host names, continuously, and reports what it
// finds as Events on a channel. Its queries leave from port 5353 and ask
// for multicast answers, which every socket on the port receives, so it
// works beside avahi-daemon or a Server on the same host. For a lookup
// that asks once and ends, see LookupHost and ResolveInstance.
//
// A Browser is safe for concurrent use.
type Browser struct {
	q      *Querier
	run    *runner
	queue  *eventQueue
	events chan Event
	done   chan struct{}
	deliv  chan struct{} // closed when the delivering goroutine returned

	closeOnce sync.Once
}

// NewBrowser opens port 5353 (shared with other programs, SO_REUSEPORT),
// joins the mDNS groups on the interfaces and starts the engine. It
// browses nothing until asked.
func NewBrowser(cfg BrowserConfig) (*Browser, error) {
	return newBrowser(cfg, Port)
}

// newBrowser opens a Browser whose queries leave from port: 5353, or 0
// for an ephemeral port of its own, where responders answer by unicast
// (RFC 6762 §6.7).
func newBrowser(cfg BrowserConfig, port uint16) (*Browser, error) {
	if _, _, err := cfg.families(); err != nil {
		return nil, err
	}
	cfg.EphemeralPort = port != Port
	q := NewQuerier(cfg.QuerierConfig)
	max := cfg.MaxPendingEvents
	if max <= 0 {
		max = 4 * q.cfg.MaxInstances
	}
	l, err := cfg.open(port)
	if err != nil {
		return nil, err
	}
	b := &Browser{
		q:      q,
		queue:  newEventQueue(max),
		events: make(chan Event),
		done:   make(chan struct{}),
		deliv:  make(chan struct{}),
	}
	b.run = newRunner(q, cfg.LinkConfig, l, []*lanlink.Link{l}, func(time.Time) {
		for _, ev := range q.Events() {
			b.queue.push(ev)
		}
	})
	go func() {
		defer close(b.deliv)
		defer close(b.events)
		b.queue.deliver(b.events, b.done)
	}()
	return b, nil
}

// Events reports what the subscriptions find, change and lose, per
// interface. While unread, events are coalesced per instance and
// interface: the reader is told the difference between what it last saw
// and the state now. The channel is closed by Close.
func (b *Browser) Events() <-chan Event { return b.events }

// Browse subscribes to the instances of a service type ("_http._tcp"),
// or of one of its subtypes ("_printer") if subtype is not empty. Each
// instance is reported once resolved: SRV, TXT and addresses.
func (b *Browser) Browse(service, subtype string) (SubID, error) {
	var id SubID
	var err error
	if derr := b.run.do(func(now time.Time) { id, err = b.q.Browse(now, service, subtype, 0) }); derr != nil {
		return 0, derr
	}
	return id, err
}

// BrowseTypes subscribes to the service types on the LAN (RFC 6763 §9);
// each Event names one in Service.
func (b *Browser) BrowseTypes() (SubID, error) {
	var id SubID
	err := b.run.do(func(now time.Time) { id = b.q.BrowseTypes(now, 0) })
	return id, err
}

// Resolve subscribes to one instance, given by its label ("My Printer")
// and service type, and follows it.
func (b *Browser) Resolve(instance, service string) (SubID, error) {
	var id SubID
	var err error
	if derr := b.run.do(func(now time.Time) { id, err = b.q.Resolve(now, instance, service, b.q.cfg.EphemeralPort, 0) }); derr != nil {
		return 0, derr
	}
	return id, err
}

// LookupHost subscribes to the addresses of a host ("printer" or
// "printer.local") and follows them: Found, then Changed as addresses
// come and go.
func (b *Browser) LookupHost(host string) (SubID, error) {
	var id SubID
	var err error
	if derr := b.run.do(func(now time.Time) { id, err = b.q.LookupHost(now, host, b.q.cfg.EphemeralPort, 0) }); derr != nil {
		return 0, derr
	}
	return id, err
}

// Stop ends a subscription; what it found is not reported lost, and its
// events not yet read are dropped.
func (b *Browser) Stop(id SubID) error {
	err := b.run.do(func(now time.Time) {
		b.q.Stop(now, id)
		b.queue.forget(id)
	})
	return err
}

// BrowserStats counts what a Browser did.
type BrowserStats struct {
	QuerierStats
	LinkStats
	// EventsDropped counts events refused because MaxPendingEvents were
	// waiting for the reader.
	EventsDropped uint64
}

// Stats returns the Browser's counters.
func (b *Browser) Stats() BrowserStats {
	s := BrowserStats{LinkStats: b.run.linkStats(), EventsDropped: b.queue.droppedCount()}
	if b.run.do(func(time.Time) { s.QuerierStats = b.q.Stats() }) != nil {
		// Closed: the engine's goroutine has returned, nothing else
		// touches it.
		s.QuerierStats = b.q.Stats()
	}
	return s
}

// Close stops browsing, closes the sockets and then the Events channel.
func (b *Browser) Close() error {
	err := b.run.close(nil)
	b.closeOnce.Do(func() { close(b.done) })
	<-b.deliv
	return err
}

// ErrNoAnswer is returned by LookupHost and ResolveInstance when nothing
// answered before the context ended.
var ErrNoAnswer = errors.New("mdns: no answer")

// settle is how long a one-shot lookup goes on listening after its first
// answer, for the answers of other interfaces and responders.
const settle = 200 * time.Millisecond

// LookupHost resolves a host name ("printer.local" or "printer") once,
// as avahi-resolve -n does: it asks from a port of its own, so responders
// answer by unicast (RFC 6762 §5.1, §6.7), and returns, per interface
// that answered, an Event with the host's addresses (IPv6 link-local ones
// zoned). It returns when the first answer has come and a short while
// (200 ms) has passed for others, or when ctx ends; with no answer by
// then, the error wraps ErrNoAnswer and ctx's error.
func LookupHost(ctx context.Context, cfg BrowserConfig, host string) ([]Event, error) {
	return lookup(ctx, cfg, strings.TrimSuffix(host, "."), func(b *Browser) (SubID, error) { return b.LookupHost(host) })
}

// ResolveInstance resolves one service instance once (SRV, TXT,
// addresses), as LookupHost does a host name.
func ResolveInstance(ctx context.Context, cfg BrowserConfig, instance, service string) ([]Event, error) {
	return lookup(ctx, cfg, FormatInstanceName(instance, service), func(b *Browser) (SubID, error) { return b.Resolve(instance, service) })
}

func lookup(ctx context.Context, cfg BrowserConfig, what string, sub func(*Browser) (SubID, error)) ([]Event, error) {
	b, err := newBrowser(cfg, 0)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if _, err := sub(b); err != nil {
		return nil, err
	}
	byIface := make(map[int]Event)
	var settled <-chan time.Time
	for {
		select {
		case ev := <-b.Events():
			if ev.Kind == Lost {
				delete(byIface, ev.IfIndex)
				continue
			}
			byIface[ev.IfIndex] = ev
			if settled == nil {
				settled = time.After(settle)
			}
			continue
		case <-settled:
		case <-ctx.Done():
		}
		break
	}
	if len(byIface) == 0 {
		return nil, fmt.Errorf("%w for %s (%w)", ErrNoAnswer, what, context.Cause(ctx))
	}
	out := make([]Event, 0, len(byIface))
	for _, idx := range sortedKeys(byIface) {
		out = append(out, byIface[idx])
	}
	return out, nil
}

// ServiceTypes lists the service types announced on the LAN (RFC 6763
// §9), as avahi-browse -a does, until ctx ends: sorted, each once
// ("_http._tcp"), whatever interface it was heard on.
func ServiceTypes(ctx context.Context, cfg BrowserConfig) ([]string, error) {
	b, err := NewBrowser(cfg)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if _, err := b.BrowseTypes(); err != nil {
		return nil, err
	}
	// Per type (without ASCII case), the interfaces it is announced on
	// and its spelling.
	seen := make(map[string]map[int]string)
	for {
		select {
		case ev := <-b.Events():
			k := lowerASCII(ev.Service)
			if ev.Kind == Lost {
				delete(seen[k], ev.IfIndex)
				if len(seen[k]) == 0 {
					delete(seen, k)
				}
				continue
			}
			if seen[k] == nil {
				seen[k] = make(map[int]string)
			}
			seen[k][ev.IfIndex] = ev.Service
			continue
		case <-ctx.Done():
		}
		break
	}
	out := make([]string, 0, len(seen))
	for _, ifs := range seen {
		out = append(out, ifs[sortedKeys(ifs)[0]])
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(lowerASCII(a), lowerASCII(b)) })
	return out, nil
}
