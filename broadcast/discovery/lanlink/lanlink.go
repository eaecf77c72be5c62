// Package lanlink is the network side of the LAN discovery protocols (mDNS,
// SSDP): one socket per family on the protocol's port, its group joined on
// every interface by index, the arrival interface of every datagram, and
// every send out of one named interface from that interface's own address.
//
// A protocol engine above it never touches a socket option. It gets each
// datagram with its source, destination and arrival interface (Run), sends
// a datagram out of one interface (Send), and learns when interfaces or
// their addresses change (Changes, Interfaces): interfaces that come up
// later are joined without a restart.
//
// Both sockets set SO_REUSEADDR and SO_REUSEPORT, so a Link shares its port
// with another responder on the host (avahi-daemon, another Link): each
// gets its own copy of every multicast datagram. A unicast datagram to the
// shared port reaches only one of them; a querier that needs the unicast
// answers uses its own port.
package lanlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"github.com/bcastdev/bcast/multicast"
	"golang.org/x/sys/unix"
)

// Config says which port and groups a Link serves.
type Config struct {
	// Port is the protocol's UDP port: 5353 for mDNS, 1900 for SSDP. 0
	// binds an ephemeral port (a querier that wants unicast answers).
	Port uint16
	// Group4 and Group6 are the groups joined on every interface: for
	// mDNS 224.0.0.251 and ff02::fb. A zero Addr leaves that family out.
	// Group6 must be a link-local scope group (ff02::/16): it is joined
	// once per interface.
	Group4, Group6 netip.Addr
	// Interfaces names the interfaces to serve; empty means every
	// interface that is up, has the MULTICAST flag and is not loopback.
	// Loopback is served only when named.
	Interfaces []string
	// MulticastTTL is the TTL and hop limit of datagrams sent to a group:
	// 255 for mDNS, 2 for SSDP. 0 keeps the kernel's default (1).
	MulticastTTL int
	// UnicastTTL is the TTL and hop limit of unicast datagrams; 0 keeps
	// the kernel's default (64).
	UnicastTTL int
	// NoLoopback keeps this host's own group datagrams from its other
	// sockets (IP_MULTICAST_LOOP off). By default they get a copy, so that
	// two programs on one host hear each other.
	NoLoopback bool
	// BufSize is the largest datagram read whole; 0 means 9000 (mDNS
	// allows up to 9000 bytes on the wire). A longer one arrives cut, with
	// Packet.Truncated set.
	BufSize int
}

// Packet is a received datagram; see broadcast.Packet. Data is valid only
// during the call to the handler.
type Packet = broadcast.Packet

// A Link serves one protocol port on the LAN's interfaces.
type Link struct {
	cfg   Config
	socks []*sock

	mu      sync.Mutex // guards ifs and the joins
	ifs     []broadcast.Interface
	changes chan struct{}
	kick    chan struct{}
	watch   *broadcast.ChangeWatch
	done    chan struct{}
	closed  sync.Once
	joinErr error

	handleMu sync.Mutex // one handler call at a time
}

type sock struct {
	r      *broadcast.Receiver
	v6     bool
	group  netip.Addr
	joined map[int]bool // ifindex

	sendMu sync.Mutex
	msg    dgram.Message
	buf    [1][]byte
	ctl    []byte
}

// Open binds the sockets, joins the groups on the interfaces there are now
// and starts following interface changes.
func Open(cfg Config) (*Link, error) {
	if !cfg.Group4.IsValid() && !cfg.Group6.IsValid() {
		return nil, errors.New("lanlink: no group: set Group4, Group6 or both")
	}
	if cfg.Group4.IsValid() && (!cfg.Group4.Is4() || !cfg.Group4.IsMulticast()) {
		return nil, fmt.Errorf("lanlink: Group4 %v is not an IPv4 group", cfg.Group4)
	}
	if cfg.Group6.IsValid() && (!cfg.Group6.Is6() || !cfg.Group6.IsLinkLocalMulticast()) {
		return nil, fmt.Errorf("lanlink: Group6 %v is not a link-local scope IPv6 group (ff02::/16)", cfg.Group6)
	}
	if cfg.BufSize <= 0 {
		cfg.BufSize = 9000
	}
	l := &Link{cfg: cfg, changes: make(chan struct{}, 1), kick: make(chan struct{}, 1), done: make(chan struct{})}
	fail := func(err error) (*Link, error) {
		l.Close()
		return nil, err
	}
	for _, g := range []netip.Addr{cfg.Group4, cfg.Group6} {
		if !g.IsValid() {
			continue
		}
		s, err := l.open(g.WithZone(""))
		if err != nil {
			return fail(err)
		}
		l.socks = append(l.socks, s)
	}
	// Subscribe before the first listing, so that no change falls between.
	w, err := broadcast.WatchChanges(func() {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fail(err)
	}
	l.watch = w
	if err := l.refresh(); err != nil {
		return fail(err)
	}
	if len(l.cfg.Interfaces) > 0 {
		if err := l.checkNamed(); err != nil {
			return fail(err)
		}
	}
	go l.follow()
	return l, nil
}

func (l *Link) open(group netip.Addr) (*sock, error) {
	v6 := group.Is6()
	network, wild := "udp4", netip.IPv4Unspecified()
	if v6 {
		network, wild = "udp6", netip.IPv6Unspecified()
	}
	r, err := broadcast.Listen(broadcast.ReceiverConfig{
		Network:   network,
		Addr:      netip.AddrPortFrom(wild, l.cfg.Port),
		ReusePort: l.cfg.Port != 0,
		V6Only:    true,
		BufSize:   l.cfg.BufSize + 1, // one more byte tells a datagram of exactly BufSize from a longer one
		Batch:     16,
	})
	if err != nil {
		return nil, fmt.Errorf("lanlink: listen on %s port %d: %w", network, l.cfg.Port, err)
	}
	s := &sock{r: r, v6: v6, group: group, joined: map[int]bool{}, ctl: make([]byte, 0, 64)}
	so := r.Socket()
	if err := multicast.SetMulticastAll(so, false); err != nil {
		r.Close()
		return nil, err
	}
	if l.cfg.MulticastTTL > 0 {
		if err := multicast.SetTTL(so, l.cfg.MulticastTTL); err != nil {
			r.Close()
			return nil, err
		}
	}
	if l.cfg.UnicastTTL > 0 {
		level, name := unix.IPPROTO_IP, unix.IP_TTL
		if v6 {
			level, name = unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS
		}
		if err := so.SetOptionInt(level, name, l.cfg.UnicastTTL); err != nil {
			r.Close()
			return nil, fmt.Errorf("lanlink: unicast TTL %d: %w", l.cfg.UnicastTTL, err)
		}
	}
	if err := multicast.SetLoopback(so, !l.cfg.NoLoopback); err != nil {
		r.Close()
		return nil, err
	}
	return s, nil
}

// wants reports whether the Link serves ifi.
func (l *Link) wants(ifi *broadcast.Interface) bool {
	if len(l.cfg.Interfaces) > 0 {
		return slices.Contains(l.cfg.Interfaces, ifi.Name) && ifi.Flags&net.FlagMulticast != 0
	}
	return ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 && ifi.Flags&net.FlagLoopback == 0
}

// checkNamed fails for a named interface that does not exist, listing
// those there are: a typo is the common case.
func (l *Link) checkNamed() error {
	all := l.socks[0].r.Addrs().Interfaces()
	var names []string
	for _, ifi := range all {
		names = append(names, ifi.Name)
	}
	for _, n := range l.cfg.Interfaces {
		if !slices.Contains(names, n) {
			return fmt.Errorf("lanlink: no interface %s (there are: %v)", n, names)
		}
	}
	return nil
}

// refresh lists the interfaces, joins the groups on those new to the Link
// and forgets those gone; it reports a change on Changes.
//
// The listing and the joins go through the sockets (the Receiver's netlink
// view, setsockopt by interface index), never by name through the calling
// thread, so a Link opened inside another network namespace keeps working
// from any goroutine.
func (l *Link) refresh() error {
	// Every socket's view is refreshed: each names the arrival
	// interface of its own datagrams.
	for _, s := range l.socks {
		if err := s.r.Refresh(); err != nil {
			return err
		}
	}
	all := l.socks[0].r.Addrs().Interfaces()
	var ifs []broadcast.Interface
	for i := range all {
		if l.wants(&all[i]) {
			ifs = append(ifs, all[i])
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, s := range l.socks {
		present := map[int]bool{}
		for _, ifi := range ifs {
			if !hasFamily(&ifi, s.v6) {
				continue
			}
			present[ifi.Index] = true
			if s.joined[ifi.Index] {
				continue
			}
			if err := join(s.r.Socket(), s.group, ifi.Index); err != nil {
				errs = append(errs, fmt.Errorf("lanlink: join %v on %s: %w", s.group, ifi.Name, err))
				continue
			}
			s.joined[ifi.Index] = true
		}
		for index := range s.joined {
			if !present[index] {
				// The interface went away (the kernel dropped the
				// membership) or lost its last address of the family;
				// join again when it comes back.
				delete(s.joined, index)
			}
		}
	}
	changed := !sameInterfaces(l.ifs, ifs)
	l.ifs = ifs
	l.joinErr = errors.Join(errs...)
	if changed {
		select {
		case l.changes <- struct{}{}:
		default:
		}
	}
	return nil
}

func hasFamily(ifi *broadcast.Interface, v6 bool) bool {
	for _, a := range ifi.Addrs {
		if a.Prefix.Addr().Is6() == v6 {
			return true
		}
	}
	return false
}

func sameInterfaces(a, b []broadcast.Interface) bool {
	return slices.EqualFunc(a, b, func(x, y broadcast.Interface) bool {
		return x.Index == y.Index && x.Name == y.Name && x.Flags == y.Flags &&
			slices.Equal(x.Addrs, y.Addrs)
	})
}

// follow refreshes after the kernel announced a change, waiting a moment
// for the burst of notifications a change brings to end.
func (l *Link) follow() {
	const settle = 50 * time.Millisecond
	for {
		select {
		case <-l.done:
			return
		case <-l.kick:
		}
		select {
		case <-l.done:
			return
		case <-time.After(settle):
		}
		select { // drain what came during the pause
		case <-l.kick:
		default:
		}
		l.refresh() // a failed listing keeps the old one; the next change retries
	}
}

// Changes receives a value when the interfaces served or their addresses
// changed (coalesced: one value may stand for several changes). A
// responder re-announces then.
func (l *Link) Changes() <-chan struct{} { return l.changes }

// Interfaces returns the interfaces the Link serves now, with their
// addresses.
func (l *Link) Interfaces() []broadcast.Interface {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ifs)
}

// JoinError is the last failure to join a group on an interface, nil if
// every join worked.
func (l *Link) JoinError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.joinErr
}

// Interface returns the served interface with this index.
func (l *Link) Interface(index int) (broadcast.Interface, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ifi := range l.ifs {
		if ifi.Index == index {
			return ifi, true
		}
	}
	return broadcast.Interface{}, false
}

// LocalPort is the port the Link is bound to (the one the kernel chose
// when Config.Port is 0; the IPv4 socket's if both differ).
func (l *Link) LocalPort() uint16 { return l.socks[0].r.LocalAddr().Port() }

// Run receives on every socket and calls handle for each datagram, one call
// at a time, until ctx ends or the Link is closed. Datagrams that arrive on
// interfaces the Link does not serve are dropped before handle.
func (l *Link) Run(ctx context.Context, handle func(*Packet)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(l.socks))
	for _, s := range l.socks {
		go func() { errs <- l.receive(ctx, s, handle) }()
	}
	var first error
	for range l.socks {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if ctx.Err() != nil && first != nil && errors.Is(first, context.Canceled) {
		return nil
	}
	return first
}

func (l *Link) receive(ctx context.Context, s *sock, handle func(*Packet)) error {
	pkts := make([]Packet, 16)
	pause := 10 * time.Millisecond
	for {
		n, err := s.r.Receive(ctx, pkts)
		if n > 0 {
			l.handleMu.Lock()
			for i := range pkts[:n] {
				if ifi, ok := l.Interface(pkts[i].IfIndex); ok {
					pkts[i].IfName = ifi.Name
					handle(&pkts[i])
				}
			}
			l.handleMu.Unlock()
		}
		switch {
		case err == nil:
			pause = 10 * time.Millisecond
			continue
		case ctx.Err() != nil, errors.Is(err, net.ErrClosed):
			return nil
		}
		// A socket error that may pass (ENOBUFS, a transient ICMP report):
		// wait a little rather than spin, and go on.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// Send sends payload out of the interface with index ifindex to to: the
// group (the interface's copy of it) or a unicast address. The source is
// that interface's own address: for IPv4 its first address, for IPv6 its
// link-local address when to is link-local or a group, else its address in
// to's prefix, else its first global one.
//
// ifindex 0 sends a unicast datagram where the kernel's routing table
// says, from the address it picks: a query to one host across a router.
func (l *Link) Send(payload []byte, ifindex int, to netip.AddrPort) error {
	v6 := to.Addr().Is6() && !to.Addr().Is4In6()
	var s *sock
	for _, c := range l.socks {
		if c.v6 == v6 {
			s = c
		}
	}
	if s == nil {
		return fmt.Errorf("lanlink: no socket for %v", to)
	}
	if ifindex == 0 {
		if to.Addr().IsMulticast() {
			return fmt.Errorf("lanlink: a group (%v) needs an interface", to)
		}
		s.sendMu.Lock()
		defer s.sendMu.Unlock()
		s.buf[0] = payload
		s.msg = dgram.Message{Buffers: s.buf[:], Addr: dgram.AddrFrom(netip.AddrPortFrom(to.Addr().Unmap(), to.Port()))}
		err := s.r.Socket().SendMsg(&s.msg, 0)
		s.buf[0] = nil
		if err != nil {
			return fmt.Errorf("lanlink: send to %v: %w", to, err)
		}
		return nil
	}
	ifi, ok := l.Interface(ifindex)
	if !ok {
		return fmt.Errorf("lanlink: interface %d is not served", ifindex)
	}
	src := sourceFor(&ifi, to.Addr())
	if !src.IsValid() {
		return fmt.Errorf("lanlink: %s has no address to send to %v from", ifi.Name, to)
	}
	dst := netip.AddrPortFrom(to.Addr().Unmap().WithZone(""), to.Port())
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if v6 {
		s.ctl = msghdr.AppendPktInfo6(s.ctl[:0], ifindex, src)
	} else {
		s.ctl = msghdr.AppendPktInfo4(s.ctl[:0], ifindex, src)
	}
	s.buf[0] = payload
	s.msg = dgram.Message{Buffers: s.buf[:], Control: s.ctl, Addr: dgram.AddrFrom(dst)}
	err := s.r.Socket().SendMsg(&s.msg, 0)
	s.buf[0] = nil
	if err != nil {
		return fmt.Errorf("lanlink: send to %v on %s: %w", to, ifi.Name, err)
	}
	return nil
}

// sourceFor picks ifi's address to send to dst from.
func sourceFor(ifi *broadcast.Interface, dst netip.Addr) netip.Addr {
	dst = dst.Unmap().WithZone("")
	if dst.Is4() {
		for _, a := range ifi.Addrs {
			if a.Prefix.Addr().Is4() && a.Prefix.Contains(dst) {
				return a.Prefix.Addr()
			}
		}
		for _, a := range ifi.Addrs {
			if a.Prefix.Addr().Is4() {
				return a.Prefix.Addr()
			}
		}
		return netip.Addr{}
	}
	var linkLocal, inPrefix, global netip.Addr
	for _, a := range ifi.Addrs {
		ip := a.Prefix.Addr().WithZone("")
		switch {
		case !ip.Is6() || ip.Is4In6():
		case ip.IsLinkLocalUnicast():
			if !linkLocal.IsValid() {
				linkLocal = ip
			}
		case a.Prefix.Contains(dst):
			if !inPrefix.IsValid() {
				inPrefix = ip
			}
		default:
			if !global.IsValid() {
				global = ip
			}
		}
	}
	if dst.IsMulticast() || dst.IsLinkLocalUnicast() {
		if linkLocal.IsValid() {
			return linkLocal
		}
		return cmpOr(inPrefix, global)
	}
	return cmpOr(inPrefix, global, linkLocal)
}

func cmpOr(as ...netip.Addr) netip.Addr {
	for _, a := range as {
		if a.IsValid() {
			return a
		}
	}
	return netip.Addr{}
}

// Close leaves the groups (closing the sockets does) and stops following
// changes.
func (l *Link) Close() error {
	var errs []error
	l.closed.Do(func() {
		close(l.done)
		if l.watch != nil {
			errs = append(errs, l.watch.Close())
		}
		for _, s := range l.socks {
			errs = append(errs, s.r.Close())
		}
	})
	return errors.Join(errs...)
}

// join joins group on the interface with this index. Being a member
// already (EADDRINUSE) is success.
func join(s *dgram.Socket, group netip.Addr, ifindex int) error {
	rc, err := s.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if group.Is4() {
			serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP,
				&unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifindex)})
			return
		}
		serr = unix.SetsockoptIPv6Mreq(int(fd), unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP,
			&unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifindex)})
	})
	if err != nil {
		return err
	}
	if serr == unix.EADDRINUSE {
		return nil
	}
	return serr
}
