package broadcast

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// SenderConfig says how a Sender's socket is made. The zero value is an IPv4
// socket on an ephemeral port with the kernel's defaults.
type SenderConfig struct {
	// Network is "udp4" (the default) or "udp6". A udp6 Sender is
	// dual-stack and sends to IPv4 destinations too.
	Network string
	// Local is the address to bind; the zero value is the wildcard address
	// and an ephemeral port. Replies to the Sender's datagrams come back to
	// this port (see Socket).
	Local netip.AddrPort
	// TTL is the IPv4 TTL / IPv6 hop limit of every datagram; 0 keeps the
	// kernel's default (64). 1 keeps datagrams on the local link.
	TTL int
	// TOS is the IPv4 TOS / IPv6 traffic class byte (DSCP << 2 | ECN); 0
	// keeps the kernel's default.
	TOS int
	// Iface makes every send leave through the named interface, chosen per
	// datagram with IP_PKTINFO (ipi_ifindex), which also limits the
	// SendAll fan-outs to it.
	Iface string
	// BindDevice additionally binds the socket to Iface with SO_BINDTODEVICE,
	// so that nothing the socket sends or receives uses another interface.
	BindDevice bool
	// Src is the source address of every datagram, set per datagram with
	// IP_PKTINFO (ipi_spec_dst) / IPV6_PKTINFO. It must be one of this host's
	// addresses; the zero Addr lets the kernel choose. The fan-outs use it
	// only on the interface that owns it.
	Src netip.Addr
	// GSO lets SendMany hand each run of equal-size datagrams to the kernel
	// as one UDP_SEGMENT send (UDP generic segmentation offload, Linux
	// 4.18): up to 64 datagrams and 65507 bytes per send, split into
	// datagrams by the kernel or the network card. Where the kernel or the
	// interface refuses it, SendMany sends one datagram per message instead,
	// by itself and without an error; Path, GSOError and Stats tell what
	// happened. See "Speed" in the package documentation.
	GSO bool
}

// Sender sends broadcasts: a UDP socket with SO_BROADCAST, the chosen
// options, and per-datagram control of the outgoing interface and source.
// It is safe for concurrent use; sends are serialized.
type Sender struct {
	cfg     SenderConfig
	sock    *dgram.Socket
	nl      *rtnl // lists interfaces in the namespace the Sender was made in
	v6      bool
	ifindex int // cfg.Iface, resolved
	local   netip.AddrPort

	mu    sync.Mutex // guards the scratch below, peer and the GSO decisions
	msg   dgram.Message
	one   [1][]byte
	ctl   []byte
	batch []dgram.Message
	bufs  [][]byte

	peer netip.AddrPort // the connected destination (Connect); zero when none

	// SendMany's scratch and GSO state (sendmany.go).
	gso      gsoState
	chunks   []chunk
	many     []dgram.Message
	manyCtl  []byte
	joined   [][]byte
	sendmmsg func([]dgram.Message, int) (int, error) // sock.SendBatch; tests wrap it
}

// Result is the outcome of one datagram of a fan-out.
type Result struct {
	Iface Interface      // the interface it was sent out of
	To    netip.AddrPort // where it was sent
	Src   netip.Addr     // the source address it was sent from (zero: the kernel's choice)
	Err   error          // nil when the kernel accepted it
}

// ctlSpace holds one IP_PKTINFO or IPV6_PKTINFO message.
var ctlSpace = msghdr.Space(unix.SizeofInet6Pktinfo)

// NewSender opens a socket as cfg says and sets SO_BROADCAST on it. It also
// keeps an rtnetlink socket, opened in the calling thread's network
// namespace, through which the fan-outs list that namespace's interfaces
// whatever goroutine calls them. Iface is resolved to an index here.
func NewSender(cfg SenderConfig) (*Sender, error) {
	family, v6, err := network(cfg.Network)
	if err != nil {
		return nil, err
	}
	if !v6 && cfg.Src.IsValid() && !cfg.Src.Unmap().Is4() {
		return nil, fmt.Errorf("broadcast: source %v is IPv6 but the sender is udp4", cfg.Src)
	}
	nl, err := openRTNL()
	if err != nil {
		return nil, err
	}
	s := &Sender{cfg: cfg, nl: nl, v6: v6, ctl: make([]byte, 0, ctlSpace)}
	if err := s.open(family); err != nil {
		s.Close()
		return nil, err
	}
	s.sendmmsg = s.sock.SendBatch
	if cfg.GSO {
		s.probeGSO()
	}
	return s, nil
}

func (s *Sender) open(family int) error {
	sock, err := dgram.Open(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	s.sock = sock
	if err := sock.SetBroadcast(true); err != nil {
		return err
	}
	if err := setTTLTOS(sock, s.v6, s.cfg.TTL, s.cfg.TOS); err != nil {
		return err
	}
	if s.cfg.Iface != "" {
		all, err := s.nl.interfaces()
		if err != nil {
			return err
		}
		ifi, err := findByName(all, s.cfg.Iface)
		if err != nil {
			return err
		}
		s.ifindex = ifi.Index
	}
	if err := checkLocal(s.cfg.Src.Unmap()); err != nil {
		return err
	}
	if s.cfg.BindDevice {
		if s.cfg.Iface == "" {
			return errors.New("broadcast: BindDevice needs Iface")
		}
		if err := sock.BindToDevice(s.cfg.Iface); err != nil {
			return err
		}
	}
	local := s.cfg.Local
	if !local.IsValid() {
		local = netip.AddrPortFrom(wildcard(s.v6), 0)
	}
	if err := sock.Bind(dgram.AddrFrom(local)); err != nil {
		return err
	}
	a, err := sock.Sockname()
	if err != nil {
		return err
	}
	s.local = a.AddrPort
	return nil
}

// checkLocal asks the kernel whether src may be a source address, by binding
// a throwaway socket to it: the kernel accepts every local address, which is
// more than the interfaces list (all of 127.0.0.0/8, AnyIP routes), and
// answers EADDRNOTAVAIL for anything else, which a send would only turn into
// a vaguer EINVAL.
func checkLocal(src netip.Addr) error {
	if !src.IsValid() {
		return nil
	}
	family := unix.AF_INET
	if src.Is6() {
		family = unix.AF_INET6
	}
	probe, err := dgram.Open(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer probe.Close()
	if err := probe.Bind(dgram.AddrFrom(netip.AddrPortFrom(src, 0))); err != nil {
		return fmt.Errorf("broadcast: source %v is not an address of this host (see `ip addr`): %w", src, err)
	}
	return nil
}

// setTTLTOS sets the TTL / hop limit and TOS / traffic class when not 0.
// A dual-stack socket gets the IPv4 options too, for IPv4 destinations.
func setTTLTOS(sock *dgram.Socket, v6 bool, ttl, tos int) error {
	type opt struct{ level, name, value int }
	var opts []opt
	if ttl != 0 {
		if ttl < 1 || ttl > 255 {
			return fmt.Errorf("broadcast: TTL %d out of range 1-255", ttl)
		}
		opts = append(opts, opt{unix.IPPROTO_IP, unix.IP_TTL, ttl})
		if v6 {
			opts = append(opts, opt{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl})
		}
	}
	if tos != 0 {
		if tos < 0 || tos > 255 {
			return fmt.Errorf("broadcast: TOS %d out of range 0-255", tos)
		}
		opts = append(opts, opt{unix.IPPROTO_IP, unix.IP_TOS, tos})
		if v6 {
			opts = append(opts, opt{unix.IPPROTO_IPV6, unix.IPV6_TCLASS, tos})
		}
	}
	for _, o := range opts {
		if err := sock.SetOptionInt(o.level, o.name, o.value); err != nil {
			return err
		}
	}
	return nil
}

// network maps a Network setting to a socket family.
func network(n string) (family int, v6 bool, err error) {
	switch n {
	case "", "udp4":
		return unix.AF_INET, false, nil
	case "udp6":
		return unix.AF_INET6, true, nil
	}
	return 0, false, fmt.Errorf("broadcast: network %q: want \"udp4\" or \"udp6\"", n)
}

func wildcard(v6 bool) netip.Addr {
	if v6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// Socket returns the underlying socket, for options this package does not
// set and for reading replies sent to LocalAddr.
func (s *Sender) Socket() *dgram.Socket { return s.sock }

// LocalAddr is the address the socket is bound to (the port is the real
// one when an ephemeral port was asked for).
func (s *Sender) LocalAddr() netip.AddrPort { return s.local }

// Close closes the socket and the Sender's rtnetlink socket.
func (s *Sender) Close() error {
	var err error
	if s.sock != nil {
		err = s.sock.Close()
	}
	if e := s.nl.Close(); err == nil {
		err = e
	}
	return err
}

// Send sends payload as one datagram to to, out of cfg.Iface and from
// cfg.Src when they are set, otherwise where the routing table says. A send
// to 255.255.255.255 without an interface goes out of the interface of the
// default route only, and fails with ENETUNREACH where there is none: see
// SendAllLimited.
func (s *Sender) Send(payload []byte, to netip.AddrPort) error {
	return s.SendVia(payload, to, s.ifindex, s.cfg.Src)
}

// SendVia sends payload to to out of the interface with index ifindex,
// from src, both chosen per datagram with IP_PKTINFO (IPV6_PKTINFO for an
// IPv6 destination). ifindex 0 leaves the interface to the routing table
// and a zero src leaves the source to the kernel. The interface is honoured
// even with no route to to, which is what a limited broadcast needs.
func (s *Sender) SendVia(payload []byte, to netip.AddrPort, ifindex int, src netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctl, err := s.control(to.Addr(), ifindex, src)
	if err != nil {
		return err
	}
	s.one[0] = payload
	s.msg = dgram.Message{Buffers: s.one[:], Control: ctl, Addr: s.dest(to)}
	err = s.sock.SendMsg(&s.msg, 0)
	s.one[0] = nil // keep no reference to the caller's bytes
	return err
}

// control builds the packet-info message for one destination in s.ctl, or
// returns nil when neither interface nor source is chosen. Its family
// follows the destination: a dual-stack socket sending to an IPv4 address
// takes IP_PKTINFO, because the kernel accepts IPV6_PKTINFO there only with
// a v4-mapped source, which "the kernel's choice" (::) is not.
func (s *Sender) control(dst netip.Addr, ifindex int, src netip.Addr) ([]byte, error) {
	if ifindex == 0 && !src.IsValid() {
		return nil, nil
	}
	if s.cfg.BindDevice && ifindex == s.ifindex && !src.IsValid() && s.peer.IsValid() && dst == s.peer.Addr() {
		// The socket leaves by its device anyway (SO_BINDTODEVICE), and
		// connect looked the route up on it: to the peer IP_PKTINFO
		// would only make the kernel look it up again for each datagram.
		return nil, nil
	}
	if dst.Unmap().Is4() {
		if src.IsValid() && !src.Unmap().Is4() {
			return nil, fmt.Errorf("broadcast: source %v is IPv6 but destination %v is IPv4", src, dst)
		}
		s.ctl = msghdr.AppendPktInfo4(s.ctl[:0], ifindex, src)
		return s.ctl, nil
	}
	if !s.v6 {
		return nil, fmt.Errorf("broadcast: destination %v is IPv6 but the sender is udp4", dst)
	}
	if src.IsValid() && src.Unmap().Is4() {
		return nil, fmt.Errorf("broadcast: source %v is IPv4 but destination %v is IPv6", src, dst)
	}
	s.ctl = msghdr.AppendPktInfo6(s.ctl[:0], ifindex, src)
	return s.ctl, nil
}

// SendBatch sends every element of msgs as one datagram to to with one
// sendmmsg call per kernel batch, out of cfg.Iface and from cfg.Src when
// set. It returns how many were sent; on error, msgs[n] is the one that
// failed. The messages are kept in preallocated scratch: after the first
// call of a given size, a batch costs no allocation. SendMany does the
// same, and uses GSO where it can.
func (s *Sender) SendBatch(msgs [][]byte, to netip.AddrPort) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctl, err := s.control(to.Addr(), s.ifindex, s.cfg.Src)
	if err != nil {
		return 0, err
	}
	return s.sendPlain(msgs, ctl, s.dest(to))
}

// sendPlain sends each of msgs as one datagram, all with control ctl to
// addr, with sendmmsg.
func (s *Sender) sendPlain(msgs [][]byte, ctl []byte, addr dgram.Addr) (int, error) {
	if cap(s.batch) < len(msgs) {
		s.batch = make([]dgram.Message, len(msgs))
		s.bufs = make([][]byte, len(msgs))
	}
	batch, bufs := s.batch[:len(msgs)], s.bufs[:len(msgs)]
	for i, m := range msgs {
		bufs[i] = m
		batch[i] = dgram.Message{Buffers: bufs[i : i+1 : i+1], Control: ctl, Addr: addr}
	}
	n, err := s.sendmmsg(batch, 0)
	clear(bufs) // keep no reference to the caller's bytes
	return n, err
}

// SendAllLimited sends payload to 255.255.255.255:port once out of every
// broadcast interface (BroadcastInterfaces; only cfg.Iface when it is set),
// choosing the interface per datagram with IP_PKTINFO.
//
// Without this, the kernel routes a limited broadcast like any other
// address: it leaves by the default route's interface only, and on a host
// without a default route the send fails with ENETUNREACH. Each datagram is
// sent from cfg.Src on the interface that owns it and otherwise from the
// interface's first IPv4 address that is not link-local, so every receiver
// sees a source address on its own link.
//
// There is one Result per interface. The error is nil when at least one
// datagram was sent; it is non-nil when no interface could broadcast
// (naming each and why) or when every send failed (joining their errors).
func (s *Sender) SendAllLimited(payload []byte, port uint16) ([]Result, error) {
	ifs, err := s.targets()
	if err != nil {
		return nil, err
	}
	to := netip.AddrPortFrom(limitedBroadcast, port)
	results := make([]Result, 0, len(ifs))
	for _, ifi := range ifs {
		src := ifi.source4(s.cfg.Src.Unmap())
		results = append(results, s.sendResult(payload, ifi, to, src))
	}
	return results, summary(results)
}

// SendAllDirected sends payload to the directed broadcast address of every
// IPv4 subnet of every broadcast interface (only cfg.Iface's when it is
// set): 10.0.0.255 for 10.0.0.7/24, 172.16.3.255 for 172.16.0.9/22, each
// out of its own interface and from this host's address in that subnet.
// Subnets without a broadcast address (/31, /32) are skipped; a subnet with
// several addresses of this host gets one datagram.
//
// Directed broadcasts reach the same hosts as a limited broadcast on the
// same link, but name the subnet: receivers can tell them apart, and a
// router configured to forward them (rare, and off by default) can carry
// them to a subnet this host is not on.
//
// Results and error are as for SendAllLimited.
func (s *Sender) SendAllDirected(payload []byte, port uint16) ([]Result, error) {
	ifs, err := s.targets()
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, ifi := range ifs {
		var seen []netip.Addr
		for _, a := range ifi.IPv4() {
			if !a.Broadcast.IsValid() || containsAddr(seen, a.Broadcast) {
				continue
			}
			seen = append(seen, a.Broadcast)
			src := a.Prefix.Addr()
			if want := s.cfg.Src.Unmap(); want.IsValid() && a.Prefix.Contains(want) && ifi.has(want) {
				src = want
			}
			results = append(results, s.sendResult(payload, ifi, netip.AddrPortFrom(a.Broadcast, port), src))
		}
	}
	if len(results) == 0 {
		return nil, errors.New("broadcast: no IPv4 subnet with a broadcast address on the broadcast interfaces (only /31 or /32 addresses)")
	}
	return results, summary(results)
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}

func (s *Sender) sendResult(payload []byte, ifi Interface, to netip.AddrPort, src netip.Addr) Result {
	r := Result{Iface: ifi, To: to, Src: src}
	if err := s.SendVia(payload, to, ifi.Index, src); err != nil {
		r.Err = fmt.Errorf("%s: %w", ifi.Name, err)
	}
	return r
}

// targets are the interfaces a fan-out sends out of.
func (s *Sender) targets() ([]Interface, error) {
	all, err := s.nl.interfaces()
	if err != nil {
		return nil, err
	}
	if s.cfg.Iface != "" {
		ifi, err := findByIndex(all, s.ifindex)
		if err != nil {
			return nil, fmt.Errorf("broadcast: interface %s is gone: %w", s.cfg.Iface, err)
		}
		if ok, why := ifi.CanBroadcast(); !ok {
			return nil, fmt.Errorf("broadcast: cannot broadcast out of %s: %s", ifi.Name, why)
		}
		return []Interface{ifi}, nil
	}
	ifs := broadcastOnly(all)
	if len(ifs) == 0 {
		return nil, fmt.Errorf("broadcast: no interface can broadcast (%s)", whyNot(all))
	}
	return ifs, nil
}

// summary is the error of a fan-out: nil if any datagram left.
func summary(results []Result) error {
	errs := make([]error, 0, len(results))
	for _, r := range results {
		if r.Err == nil {
			return nil
		}
		errs = append(errs, r.Err)
	}
	return fmt.Errorf("broadcast: every send failed: %w", errors.Join(errs...))
}
