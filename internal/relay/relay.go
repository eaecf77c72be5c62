// Package relay forwards broadcast and multicast datagrams from some
// interfaces to others, as udp-broadcast-relay does, without ever relaying a
// datagram back: see Guard for the loop prevention.
//
// A datagram arriving on a From interface (IPv4 broadcast to the port, or
// multicast to one of Groups) is sent, with its payload unchanged, out of
// every To interface except the one it arrived on:
//
//   - a limited broadcast (255.255.255.255) as a limited broadcast,
//   - a directed broadcast as a directed broadcast to each To interface's
//     own subnet (its first broadcast address),
//   - a multicast datagram to the same group,
//
// to the same port, from the To interface's own address and an ephemeral
// port: the relay cannot forge the original source, so receivers that answer
// the source reach the relay, not the original sender. Unicast datagrams are
// never relayed.
//
// Three rules keep it from looping:
//  1. a datagram whose source is an address of this host (Packet.Own) is
//     never relayed: that covers the relay hearing its own broadcasts;
//  2. a copy of a datagram the relay sent, coming back from another source
//     within Window (Guard), is dropped: that covers two relays relaying to
//     each other, and bridged or looped links;
//  3. nothing is sent back out of the arrival interface.
package relay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/multicast"
)

// Config says what to relay.
type Config struct {
	Network string // "udp4" (default) or "udp6"
	Port    uint16
	// From are the interfaces datagrams are taken from; To are the
	// interfaces they are sent out of. A name may be in both (relay both
	// ways).
	From, To []string
	// Broadcast relays IPv4 broadcasts; Groups are the multicast groups
	// joined on each From interface and relayed.
	Broadcast bool
	Groups    []multicast.Group
	// TTL of relayed multicast datagrams; 0 means 1 (this link).
	TTL int
	// Window is how long a relayed datagram is remembered (Guard);
	// 0 means DefaultWindow.
	Window time.Duration
	// RecvBuffer asks for this SO_RCVBUF size; 0 keeps the default.
	RecvBuffer int
}

// DefaultWindow is how long a relayed datagram's digest is kept. A copy that
// loops back does so within milliseconds; a sender that repeats the same
// payload from its own address is not affected by the window at all.
const DefaultWindow = 2 * time.Second

// Drop reasons of an Event.
const (
	DropOwn      = "sent by this host"
	DropLoop     = "a relayed copy came back"
	DropUnicast  = "unicast"
	DropIface    = "arrived on an interface not relayed from"
	DropGroup    = "group not relayed"
	DropTrunc    = "truncated"
	DropNoTarget = "no other interface to send to"
)

// Event is what happened to one received datagram.
type Event struct {
	Time    time.Time
	Src     netip.AddrPort
	Dst     netip.AddrPort
	IfName  string
	Kind    broadcast.Kind
	Size    int
	Dropped string // why it was not relayed; "" when it was
	Out     []broadcast.Result
}

// Stats counts datagrams.
type Stats struct {
	Received, Relayed, Dropped, SendErrors uint64
	Loops                                  uint64 // dropped by the Guard
}

// Relay is a running relay.
type Relay struct {
	cfg    Config
	rx     *broadcast.Receiver
	tx     *broadcast.Sender
	guard  *Guard
	from   map[string]bool
	to     atomic.Pointer[[]broadcast.Interface] // the To interfaces that are up now (Refresh)
	stats  Stats
	joined []multicast.Membership
}

// New opens the sockets, joins the groups and checks the interfaces.
func New(cfg Config) (*Relay, error) {
	if cfg.Port == 0 {
		return nil, errors.New("relay: no port")
	}
	if len(cfg.From) == 0 || len(cfg.To) == 0 {
		return nil, errors.New("relay: need at least one interface to relay from and one to relay to")
	}
	if !cfg.Broadcast && len(cfg.Groups) == 0 {
		return nil, errors.New("relay: nothing to relay: neither broadcasts nor a group")
	}
	if cfg.Network == "" {
		cfg.Network = "udp4"
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.TTL == 0 {
		cfg.TTL = 1
	}
	r := &Relay{cfg: cfg, guard: NewGuard(cfg.Window, 1<<16), from: map[string]bool{}}
	for _, name := range cfg.From {
		if _, err := broadcast.InterfaceByName(name); err != nil {
			return nil, fmt.Errorf("relay: from %s: %w", name, err)
		}
		r.from[name] = true
	}
	var to []broadcast.Interface
	for _, name := range cfg.To {
		ifi, err := broadcast.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("relay: to %s: %w", name, err)
		}
		to = append(to, ifi)
	}
	r.to.Store(&to)
	wild := netip.IPv4Unspecified()
	if cfg.Network == "udp6" {
		wild = netip.IPv6Unspecified()
	}
	rx, err := broadcast.Listen(broadcast.ReceiverConfig{
		Network:    cfg.Network,
		Addr:       netip.AddrPortFrom(wild, cfg.Port),
		ReusePort:  true, // share the port with the programs whose traffic is relayed
		RecvBuffer: cfg.RecvBuffer,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: listen on port %d: %w", cfg.Port, err)
	}
	r.rx = rx
	for _, g := range cfg.Groups {
		ms, _, err := multicast.Join(rx.Socket(), g, cfg.From...)
		if err != nil {
			rx.Close()
			return nil, fmt.Errorf("relay: %w", err)
		}
		r.joined = append(r.joined, ms...)
	}
	if len(cfg.Groups) == 0 {
		// Nothing joined, so multicast-all is still on: turn it off so
		// that groups other programs joined are not relayed by accident.
		if err := multicast.SetMulticastAll(rx.Socket(), false); err != nil {
			rx.Close()
			return nil, fmt.Errorf("relay: %w", err)
		}
	}
	tx, err := broadcast.NewSender(broadcast.SenderConfig{Network: cfg.Network})
	if err != nil {
		rx.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	if err := multicast.SetTTL(tx.Socket(), cfg.TTL); err != nil {
		rx.Close()
		tx.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	// Our own multicast copies would only be dropped as Own.
	if err := multicast.SetLoopback(tx.Socket(), false); err != nil {
		rx.Close()
		tx.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	r.tx = tx
	return r, nil
}

// Refresh reads the To interfaces again, for a change of one of the From
// or To interfaces after New (see broadcast.FollowInterfaces): one that
// is gone or down is left out until it is up again, one made again under
// the same name is sent out of by its new index, from its addresses now.
// When name is a From interface that is up, the groups are joined on it
// again (a deleted interface takes its memberships with it; joining one
// still held does nothing); it returns the memberships made. Safe to call
// while Run runs.
func (r *Relay) Refresh(name string) ([]multicast.Membership, error) {
	// The receiver names arrival interfaces from its own view, which it
	// refreshes at most once a second: a datagram on a new interface must
	// not go unnamed (and unrelayed) meanwhile.
	if err := r.rx.Refresh(); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	all, err := broadcast.Interfaces() // those that are up
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	var to []broadcast.Interface
	for _, n := range r.cfg.To {
		if i := slices.IndexFunc(all, func(ifi broadcast.Interface) bool { return ifi.Name == n }); i >= 0 {
			to = append(to, all[i])
		}
	}
	r.to.Store(&to)
	if !r.from[name] || !slices.ContainsFunc(all, func(ifi broadcast.Interface) bool { return ifi.Name == name }) {
		return nil, nil
	}
	var joined []multicast.Membership
	var errs []error
	for _, g := range r.cfg.Groups {
		if z := g.Addr.Zone(); z != "" && z != name {
			continue
		}
		ms, _, err := multicast.Join(r.rx.Socket(), g, name)
		joined = append(joined, ms...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return joined, fmt.Errorf("relay: %w", err)
	}
	return joined, nil
}

// Memberships are the groups joined on the From interfaces.
func (r *Relay) Memberships() []multicast.Membership { return r.joined }

// LocalAddr is the receiving socket's address.
func (r *Relay) LocalAddr() netip.AddrPort { return r.rx.LocalAddr() }

// Stats returns the counters; call it from the goroutine running Run, or
// after Run returned.
func (r *Relay) Stats() Stats { return r.stats }

// Close closes the sockets.
func (r *Relay) Close() error {
	return errors.Join(r.rx.Close(), r.tx.Close())
}

// Run relays until ctx ends, calling report (if not nil) for every datagram
// received. It returns nil when ctx ended, or the receive error.
func (r *Relay) Run(ctx context.Context, report func(Event)) error {
	pkts := make([]broadcast.Packet, 32)
	for {
		n, err := r.rx.Receive(ctx, pkts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay: receive: %w", err)
		}
		for i := range pkts[:n] {
			ev := r.handle(&pkts[i])
			if report != nil {
				report(ev)
			}
		}
	}
}

func (r *Relay) handle(p *broadcast.Packet) Event {
	now := p.Time
	if now.IsZero() {
		now = time.Now()
	}
	ev := Event{Time: now, Src: p.Src, Dst: netip.AddrPortFrom(p.Dst, r.cfg.Port), IfName: p.IfName, Kind: p.Kind, Size: p.Size}
	r.stats.Received++
	ev.Dropped = r.check(p, now)
	if ev.Dropped != "" {
		r.stats.Dropped++
		return ev
	}
	d := r.guard.Digest(p.Data, r.cfg.Port)
	if r.guard.Seen(d, p.Src.Addr(), now) {
		ev.Dropped = DropLoop
		r.stats.Dropped++
		r.stats.Loops++
		return ev
	}
	for _, ifi := range *r.to.Load() {
		if ifi.Index == p.IfIndex {
			continue
		}
		res, ok := r.send(p, ifi)
		if !ok {
			continue
		}
		if res.Err != nil {
			r.stats.SendErrors++
		}
		ev.Out = append(ev.Out, res)
	}
	if len(ev.Out) == 0 {
		ev.Dropped = DropNoTarget
		r.stats.Dropped++
		return ev
	}
	// Remember it even when some sends failed: a copy that got out may
	// still come back.
	r.guard.Sent(d, p.Src.Addr(), now)
	r.stats.Relayed++
	return ev
}

// check applies the rules that need no digest.
func (r *Relay) check(p *broadcast.Packet, now time.Time) string {
	switch {
	case p.Own:
		return DropOwn
	case !r.from[p.IfName]:
		return DropIface
	case p.Truncated:
		return DropTrunc
	}
	switch p.Kind {
	case broadcast.Broadcast:
		if !r.cfg.Broadcast {
			return DropUnicast
		}
	case broadcast.Multicast:
		if !slices.ContainsFunc(r.cfg.Groups, func(g multicast.Group) bool {
			return g.Addr.WithZone("") == p.Dst.WithZone("")
		}) {
			return DropGroup
		}
	default:
		return DropUnicast
	}
	return ""
}

// send relays p out of ifi; ok is false when ifi has no address to send to
// (a directed broadcast to an interface without an IPv4 subnet).
func (r *Relay) send(p *broadcast.Packet, ifi broadcast.Interface) (broadcast.Result, bool) {
	var to netip.Addr
	var src netip.Addr
	for _, a := range ifi.Addrs {
		if a.Prefix.Addr().Is4() && p.Dst.Is4() && !a.LinkLocal {
			// IPv4 picks this subnet's address; IPv6 leaves the source to
			// the kernel, which picks by scope (link-local for ff02::).
			src = a.Prefix.Addr()
			if p.Kind == broadcast.Broadcast && p.Dst != broadcast.LimitedBroadcast() {
				to = a.Broadcast
			}
			break
		}
	}
	switch {
	case p.Kind == broadcast.Multicast:
		to = p.Dst.WithZone("")
		if to.Is6() && to.IsLinkLocalMulticast() {
			to = to.WithZone(ifi.Name)
		}
	case p.Dst == broadcast.LimitedBroadcast():
		to = p.Dst
	}
	if !to.IsValid() {
		return broadcast.Result{}, false
	}
	dst := netip.AddrPortFrom(to, r.cfg.Port)
	err := r.tx.SendVia(p.Data, dst, ifi.Index, src)
	return broadcast.Result{Iface: ifi, To: dst, Src: src, Err: err}, true
}
