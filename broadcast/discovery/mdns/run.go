package mdns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/broadcast/discovery/lanlink"
)

// The runtime: an engine on real sockets. A runner owns one engine and
// the lanlink Links it hears, and drives it from one goroutine: packets
// in, Poll, outputs sent, one timer on NextDeadline, interface changes
// passed on. Calls from other goroutines (Browse, Register, Close...)
// reach the engine as functions run by that goroutine.

// LinkConfig says which interfaces and address families a Browser or a
// Server works on.
type LinkConfig struct {
	// Interfaces names the interfaces to use; empty means every interface
	// that is up, can multicast and is not loopback, as they come and go.
	Interfaces []string
	// Network is "udp4" (IPv4 only), "udp6" (IPv6 only) or "" (both).
	Network string
}

func (c LinkConfig) families() (v4, v6 bool, err error) {
	switch c.Network {
	case "":
		return true, true, nil
	case "udp4":
		return true, false, nil
	case "udp6":
		return false, true, nil
	}
	return false, false, fmt.Errorf("mdns: network %q: want udp4, udp6 or empty for both", c.Network)
}

// open opens a Link on port (0: an ephemeral port of its own) with the
// mDNS groups of the families asked for.
func (c LinkConfig) open(port uint16) (*lanlink.Link, error) {
	v4, v6, err := c.families()
	if err != nil {
		return nil, err
	}
	cfg := lanlink.Config{Port: port, Interfaces: c.Interfaces, MulticastTTL: 255, UnicastTTL: 255}
	if v4 {
		cfg.Group4 = IPv4Group.Addr()
	}
	if v6 {
		cfg.Group6 = IPv6Group.Addr()
	}
	return lanlink.Open(cfg)
}

// LinkStats counts what the runtime under an engine did.
type LinkStats struct {
	Received   uint64 // datagrams handed to the engine
	Truncated  uint64 // datagrams longer than 9000 bytes, dropped
	Overrun    uint64 // datagrams dropped because the engine's queue was full
	Own        uint64 // our own datagrams handed back by multicast loopback, dropped
	Sent       uint64 // datagrams sent
	SendErrors uint64 // sends the kernel refused
	// LastError is the latest failure to send or to join a group, nil if
	// none.
	LastError error
}

type linkEngine interface {
	HandlePacket(now time.Time, p Packet)
	Poll(now time.Time) []Output
	NextDeadline() time.Time
	UpdateInterface(now time.Time, ifc Interface)
	RemoveInterface(now time.Time, ifindex int)
}

// queueLen bounds the datagrams waiting for the engine's goroutine; more
// are dropped and counted (LinkStats.Overrun).
const queueLen = 256

type command struct {
	fn   func(now time.Time)
	done chan struct{}
}

type runner struct {
	eng    linkEngine
	out    *lanlink.Link   // outputs leave by this Link
	links  []*lanlink.Link // every Link heard, out among them
	v4, v6 bool
	// after runs in the loop after each Poll: it collects events.
	after func(now time.Time)

	pkts   chan Packet
	cmds   chan command
	stop   chan struct{}
	exited chan struct{} // closed when the loop has returned
	ctx    context.Context
	cancel context.CancelFunc
	recv   sync.WaitGroup

	known map[int]bool // interfaces the engine was told of

	// ours remembers what this runner sent lately: multicast loopback
	// hands it back, and a copy of an old announcement that arrives after
	// a change (a new TXT) would otherwise look like another host
	// claiming our name with other data: a conflict with ourselves.
	oursMu sync.Mutex
	ours   [64]sentPacket
	oursAt int
	seed   maphash.Seed

	received, truncated, overrun, sent, sendErrors, own atomic.Uint64
	errMu                                               sync.Mutex
	lastErr                                             error

	closeOnce sync.Once
	closeErr  error
}

func newRunner(eng linkEngine, cfg LinkConfig, out *lanlink.Link, links []*lanlink.Link, after func(time.Time)) *runner {
	v4, v6, _ := cfg.families()
	r := &runner{
		eng: eng, out: out, links: links, v4: v4, v6: v6, after: after,
		pkts:   make(chan Packet, queueLen),
		cmds:   make(chan command),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
		known:  make(map[int]bool),
		seed:   maphash.MakeSeed(),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, l := range links {
		r.recv.Add(1)
		go func() {
			defer r.recv.Done()
			if err := l.Run(r.ctx, r.handle); err != nil {
				r.fail(err)
			}
		}()
	}
	go r.loop()
	return r
}

// handle runs on a Link's receiving goroutine: the datagram is copied
// (Data is the Link's buffer) and queued for the engine.
func (r *runner) handle(p *lanlink.Packet) {
	if p.Truncated {
		r.truncated.Add(1)
		return
	}
	if r.sentByUs(p.Data) {
		r.own.Add(1)
		return
	}
	pk := Packet{Payload: bytes.Clone(p.Data), IfIndex: p.IfIndex, Src: p.Src, Dst: p.Dst, TTL: max(p.TTL, 0)}
	select {
	case r.pkts <- pk:
		r.received.Add(1)
	default:
		r.overrun.Add(1)
	}
}

func (r *runner) loop() {
	defer close(r.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	r.syncInterfaces(time.Now())
	var done []chan struct{}
	for {
		select {
		case <-r.stop:
			return
		case p := <-r.pkts:
			r.eng.HandlePacket(time.Now(), p)
			// What else is queued goes in before one Poll: two queries
			// that came together are answered together.
		drain:
			for range queueLen {
				select {
				case p := <-r.pkts:
					r.eng.HandlePacket(time.Now(), p)
				default:
					break drain
				}
			}
		case <-timer.C:
		case <-r.out.Changes():
			r.syncInterfaces(time.Now())
		case c := <-r.cmds:
			c.fn(time.Now())
			done = append(done, c.done)
		}
		now := time.Now()
		r.flush(now)
		for _, d := range done {
			close(d)
		}
		done = done[:0]
		if d := r.eng.NextDeadline(); d.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(d.Sub(time.Now()), 0))
		}
	}
}

// flush polls the engine and sends what it asks for.
func (r *runner) flush(now time.Time) {
	for _, o := range r.eng.Poll(now) {
		r.remember(o.Payload)
		if err := r.out.Send(o.Payload, o.IfIndex, o.Dst); err != nil {
			r.sendErrors.Add(1)
			r.fail(err)
			continue
		}
		r.sent.Add(1)
	}
	if r.after != nil {
		r.after(now)
	}
}

// sentPacket is the digest of a datagram this runner sent, and when.
type sentPacket struct {
	digest uint64
	at     time.Time
}

// ownEcho is how long a sent datagram is recognised when it comes back.
const ownEcho = 5 * time.Second

func (r *runner) remember(payload []byte) {
	d := sentPacket{digest: maphash.Bytes(r.seed, payload), at: time.Now()}
	r.oursMu.Lock()
	r.ours[r.oursAt] = d
	r.oursAt = (r.oursAt + 1) % len(r.ours)
	r.oursMu.Unlock()
}

// sentByUs reports whether payload is one this runner sent lately.
func (r *runner) sentByUs(payload []byte) bool {
	d := maphash.Bytes(r.seed, payload)
	now := time.Now()
	r.oursMu.Lock()
	defer r.oursMu.Unlock()
	for _, s := range r.ours {
		if s.digest == d && !s.at.IsZero() && now.Sub(s.at) < ownEcho {
			return true
		}
	}
	return false
}

// syncInterfaces tells the engine of the interfaces the Link serves now,
// and of those gone.
func (r *runner) syncInterfaces(now time.Time) {
	if err := r.out.JoinError(); err != nil {
		r.fail(err)
	}
	seen := make(map[int]bool)
	for _, ifi := range r.out.Interfaces() {
		seen[ifi.Index] = true
		r.known[ifi.Index] = true
		r.eng.UpdateInterface(now, toInterface(&ifi, r.v4, r.v6))
	}
	for idx := range r.known {
		if !seen[idx] {
			delete(r.known, idx)
			r.eng.RemoveInterface(now, idx)
		}
	}
}

// toInterface is what an engine needs of an interface: its addresses of
// the families in use.
func toInterface(ifi *broadcast.Interface, v4, v6 bool) Interface {
	out := Interface{Index: ifi.Index, Name: ifi.Name, Flags: ifi.Flags, MTU: ifi.MTU}
	for _, a := range ifi.Addrs {
		if is4 := a.Prefix.Addr().Unmap().Is4(); is4 && v4 || !is4 && v6 {
			out.Addrs = append(out.Addrs, a.Prefix)
		}
	}
	slices.SortFunc(out.Addrs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// errClosed is what calls on a closed Browser or Server return.
var errClosed = errors.New("mdns: closed")

// do runs fn on the engine's goroutine and returns once what it caused
// has been sent.
func (r *runner) do(fn func(now time.Time)) error {
	c := command{fn: fn, done: make(chan struct{})}
	select {
	case r.cmds <- c:
	case <-r.exited:
		return errClosed
	}
	select {
	case <-c.done:
		return nil
	case <-r.exited:
		// The loop stopped after running fn but before flushing: only
		// Close stops it, and Close flushes what it needs itself.
		return errClosed
	}
}

// close stops the loop (after last, if not nil, has run on it and what it
// caused has been sent), then the receivers, then closes the Links.
func (r *runner) close(last func(now time.Time)) error {
	r.closeOnce.Do(func() {
		if last != nil {
			r.do(last)
		}
		close(r.stop)
		<-r.exited
		r.cancel()
		var errs []error
		for _, l := range r.links {
			errs = append(errs, l.Close())
		}
		r.recv.Wait()
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

func (r *runner) fail(err error) {
	r.errMu.Lock()
	r.lastErr = err
	r.errMu.Unlock()
}

func (r *runner) linkStats() LinkStats {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return LinkStats{
		Received: r.received.Load(), Truncated: r.truncated.Load(), Overrun: r.overrun.Load(),
		Sent: r.sent.Load(), SendErrors: r.sendErrors.Load(), Own: r.own.Load(), LastError: r.lastErr,
	}
}
