package broadcast

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// ReceiverConfig says how a Receiver's socket is made. The zero value is an
// IPv4 socket on the wildcard address and an ephemeral port.
type ReceiverConfig struct {
	// Network is "udp4" (the default) or "udp6". A udp6 Receiver bound to
	// :: is dual-stack (unless net.ipv6.bindv6only is set) and receives IPv4
	// broadcasts too, with IPv4 sources.
	Network string
	// Addr is the address to bind; the default is the wildcard address
	// (0.0.0.0 or ::) and an ephemeral port. Keep the wildcard to receive
	// broadcasts: a socket bound to a unicast address such as 192.168.1.7
	// receives only datagrams sent to that address, and the kernel drops
	// broadcasts for it without a trace. Warnings says so when it happens.
	// Use Iface to restrict reception to one interface instead.
	Addr netip.AddrPort
	// Iface keeps only datagrams that arrived on the named interface,
	// telling them by their IP_PKTINFO ifindex; the others are counted
	// (Filtered) and skipped.
	Iface string
	// BindDevice also binds the socket to Iface with SO_BINDTODEVICE, so the
	// kernel does the filtering and other interfaces' datagrams never
	// occupy the receive buffer.
	BindDevice bool
	// V6Only makes a udp6 Receiver IPv6 only (IPV6_V6ONLY), for a program
	// that keeps an IPv4 socket of its own on the same port.
	V6Only bool
	// ReusePort sets SO_REUSEADDR and SO_REUSEPORT, so that several
	// Receivers (and other programs that set them) share the port. Each
	// gets its own copy of every broadcast and multicast datagram.
	ReusePort bool
	// BufSize is the buffer for each datagram; the default, 65536, holds
	// the largest UDP datagram. A datagram larger than BufSize is cut, and
	// the Packet says so (Truncated, with the real Size).
	BufSize int
	// Batch is how many datagrams one Receive can return, from one
	// recvmmsg call; the default is 32.
	Batch int
	// RecvBuffer asks for this SO_RCVBUF size in bytes; 0 keeps the kernel's
	// default. The kernel caps it at net.core.rmem_max unless the process
	// has CAP_NET_ADMIN; Warnings tells when it got less.
	RecvBuffer int
	// GRO turns on UDP generic receive offload (UDP_GRO, Linux 5.0): the
	// kernel may hand over a run of equal-size datagrams from one sender as
	// one buffer, which Receive splits back into one Packet per datagram.
	// It saves system calls and kernel work per datagram under load, most
	// of all with senders that use GSO (SenderConfig.GSO). Each buffer is
	// then at least 65536 bytes, whatever BufSize says; BufSize still cuts
	// each datagram, as without GRO. On a kernel without UDP_GRO, Listen
	// goes on without it and says so in Warnings; GRO tells which.
	GRO bool
	// Metadata names the metadata Receive fills in; the zero value is
	// MetaAll. Asking for less saves CPU per datagram (see Metadata); the
	// Packet fields left out keep their "unknown" values. Iface needs the
	// arrival interface, so it adds MetaPktInfo.
	Metadata Metadata
	// WaitInKernel makes Receive wait for datagrams in the kernel while
	// they keep coming (dgram's RecvBatchWait) instead of in the Go
	// runtime's poller: under a steady stream of small bursts it saves
	// most of the CPU the poller's park and wake-up costs per burst. The
	// goroutine in Receive then holds its thread and one of GOMAXPROCS
	// processors until about 20 ms pass without a datagram, when it goes
	// back to the poller. Close, SetReadDeadline and the context end a
	// Receive within 25 ms. For a receive loop that owns its goroutine;
	// its Reply calls then keep the processor in the kernel as well
	// (dgram's SetSendKeepsProcessor), so that an echo, one request in
	// flight, costs the runtime nothing per round trip.
	WaitInKernel bool
}

// Packet is one received datagram with everything the kernel said about it.
type Packet struct {
	// Data is the payload, a view into the Receiver's buffer that is valid
	// until the next Receive. Copy it to keep it.
	Data []byte
	// Size is the datagram's real length; it exceeds len(Data) when the
	// datagram was larger than the buffer and Truncated is set.
	Size      int
	Truncated bool
	// Src is the sender's address and port (IPv4 as IPv4 even on a udp6
	// socket).
	Src netip.AddrPort
	// Dst is the destination address in the IP header (IP_PKTINFO /
	// IPV6_PKTINFO): this host's address, a broadcast address or a group.
	Dst netip.Addr
	// Kind is how the datagram was addressed; see Kind.
	Kind Kind
	// Local is, for IPv4, the address of this host the kernel would answer
	// from (IP_PKTINFO ipi_spec_dst): Dst itself for unicast, the arrival
	// interface's address for a broadcast. The zero Addr for IPv6.
	Local netip.Addr
	// IfIndex and IfName name the interface the datagram arrived on. The
	// name comes from the Receiver's cached interface list.
	IfIndex int
	IfName  string
	// TTL is the IPv4 TTL or IPv6 hop limit it arrived with, -1 if unknown.
	TTL int
	// TOS is the IPv4 TOS or IPv6 traffic class byte, ECN bits included;
	// 0 if unknown.
	TOS int
	// Time is when the kernel received it (SO_TIMESTAMPNS); the zero Time
	// if unknown.
	Time time.Time
	// Drops is the number of datagrams the kernel has dropped on this
	// socket so far for lack of receive buffer space (SO_RXQ_OVFL), as of
	// this datagram.
	Drops uint32
	// Own reports a datagram sent by this host: its source is one of this
	// host's addresses. A host receives its own broadcasts (and multicasts,
	// with IP_MULTICAST_LOOP) when a socket of its own listens on the port.
	Own bool
}

// Receiver receives datagrams with their metadata, in batches, without
// allocating per datagram.
type Receiver struct {
	cfg      ReceiverConfig
	sock     *dgram.Socket
	view     *view
	v6       bool
	ifindex  atomic.Int64 // the Iface filter, resolved; 0 for none (Reattach moves it)
	local    netip.AddrPort
	warnings []string

	// Receive's own state: one receiving goroutine at a time.
	msgs  []dgram.Message
	offer dgram.Offer
	bufs  [][]byte
	ctl   msghdr.Control
	watch ctxWatch
	gro   bool // UDP_GRO is on
	split split
	memo  AddrMemo // over view: the last source and interface looked up

	drops     atomic.Uint32
	filtered  atomic.Uint64
	coalesced atomic.Uint64

	replyMu  sync.Mutex // guards the reply scratch
	replyMsg dgram.Message
	replyBuf [1][]byte
	replyCtl []byte
}

const (
	defaultBufSize = 65535 + 1
	defaultBatch   = 32
)

// Listen opens a Receiver as cfg says. It turns on the metadata
// cfg.Metadata names, by default every piece a Packet carries:
// IP_PKTINFO / IPV6_RECVPKTINFO (destination and arrival interface),
// IP_RECVTTL / IPV6_RECVHOPLIMIT, IP_RECVTOS / IPV6_RECVTCLASS,
// SO_TIMESTAMPNS and SO_RXQ_OVFL.
//
// Besides the UDP socket, a Receiver holds two rtnetlink sockets, opened in
// the calling thread's network namespace: one to list interfaces and one,
// read by a goroutine of its own, that hears of link and address changes.
// Close releases all three and ends the goroutine. Buffers take
// Batch × BufSize bytes (2 MiB by default; with GRO, BufSize counts as at
// least 64 KiB).
//
// Iface is resolved to an interface index here; an interface deleted and
// created again under the same name gets a new index: Reattach follows it.
func Listen(cfg ReceiverConfig) (*Receiver, error) {
	family, v6, err := network(cfg.Network)
	if err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if !addr.IsValid() {
		addr = netip.AddrPortFrom(wildcard(v6), 0)
	}
	if !v6 && !addr.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("broadcast: cannot bind udp4 to IPv6 address %v", addr)
	}
	if cfg.BufSize <= 0 {
		cfg.BufSize = defaultBufSize
	}
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	if cfg.BindDevice && cfg.Iface == "" {
		return nil, errors.New("broadcast: BindDevice needs Iface")
	}
	cfg.Metadata = cfg.Metadata.effective(&cfg)
	v, err := newView()
	if err != nil {
		return nil, err
	}
	r := &Receiver{cfg: cfg, view: v, memo: AddrMemo{v: v}, v6: v6, replyCtl: make([]byte, 0, ctlSpace)}
	if err := r.open(family, addr); err != nil {
		r.Close()
		return nil, err
	}
	r.msgs = make([]dgram.Message, cfg.Batch)
	r.bufs = make([][]byte, cfg.Batch)
	flags, bufSize := cfg.Metadata.controlFlags(), cfg.BufSize
	if r.gro {
		flags |= msghdr.FlagUDPGRO
		bufSize = max(bufSize, groBufSize)
	}
	space := flags.Space(0)
	for i := range r.msgs {
		r.bufs[i] = make([]byte, bufSize)
		r.msgs[i] = dgram.Message{Buffers: r.bufs[i : i+1 : i+1], Control: make([]byte, 0, space)}
	}
	return r, nil
}

func (r *Receiver) open(family int, addr netip.AddrPort) error {
	if r.cfg.Iface != "" {
		ifi, err := findByName(r.view.snap.Load().all, r.cfg.Iface)
		if err != nil {
			return err
		}
		r.ifindex.Store(int64(ifi.Index))
	}
	sock, err := dgram.Open(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	r.sock = sock
	r.watch.sock = sock
	sock.SetSendKeepsProcessor(r.cfg.WaitInKernel)
	for _, p := range metaPieces {
		if r.cfg.Metadata&p.m == 0 {
			continue
		}
		switch {
		case p.sock != 0:
			if err := sock.SetOptionBool(unix.SOL_SOCKET, p.sock, true); err != nil {
				return err
			}
		case r.v6:
			if err := sock.SetOptionBool(unix.IPPROTO_IPV6, p.v6, true); err != nil {
				return err
			}
			// The IPv4 forms on a dual-stack socket describe IPv4
			// datagrams better (ipi_spec_dst); a v6-only socket refuses
			// nothing here but never uses them, so a failure is not one.
			sock.SetOptionBool(unix.IPPROTO_IP, p.v4, true)
		default:
			if err := sock.SetOptionBool(unix.IPPROTO_IP, p.v4, true); err != nil {
				return err
			}
		}
	}
	if r.cfg.GRO {
		r.enableGRO()
	}
	if r.cfg.ReusePort {
		if err := sock.SetReuseAddr(true); err != nil {
			return err
		}
		if err := sock.SetReusePort(true); err != nil {
			return err
		}
	}
	if r.cfg.V6Only && r.v6 {
		if err := sock.SetOptionBool(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, true); err != nil {
			return err
		}
	}
	if r.cfg.BindDevice {
		if err := sock.BindToDevice(r.cfg.Iface); err != nil {
			return err
		}
	}
	if r.cfg.RecvBuffer > 0 {
		got, err := sock.SetRecvBuffer(r.cfg.RecvBuffer)
		if err != nil {
			return err
		}
		// The kernel reports twice what it grants for payload (the rest is
		// its bookkeeping), so compare against that.
		if got < r.cfg.RecvBuffer {
			r.warnings = append(r.warnings, fmt.Sprintf("asked for a %d-byte receive buffer, the kernel granted %d; raise net.core.rmem_max (sysctl -w net.core.rmem_max=%d) or run with CAP_NET_ADMIN", r.cfg.RecvBuffer, got, r.cfg.RecvBuffer))
		}
	}
	if err := sock.Bind(dgram.AddrFrom(addr)); err != nil {
		return err
	}
	a, err := sock.Sockname()
	if err != nil {
		return err
	}
	r.local = a.AddrPort
	if w := bindWarning(addr.Addr(), r.view.snap.Load()); w != "" {
		r.warnings = append(r.warnings, w)
	}
	return nil
}

// bindWarning explains what a bind address will keep out.
func bindWarning(ip netip.Addr, s *snapshot) string {
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified(), ip.IsMulticast(), ip == limitedBroadcast, s.isBroadcast(ip):
		return ""
	case ip.Is4():
		return fmt.Sprintf("bound to %v: a socket bound to a unicast address receives only datagrams sent to that address; "+
			"broadcasts (to 255.255.255.255 or a subnet's broadcast address) are dropped for it without notice. "+
			"Bind 0.0.0.0 to receive them, and filter by arrival interface (bcast listen --iface) to keep one interface's", ip)
	}
	return fmt.Sprintf("bound to %v: a socket bound to a unicast address receives only datagrams sent to that address; "+
		"multicast is dropped for it without notice. Bind :: to receive it", ip)
}

// Warnings lists, in words for a person, what about this Receiver's setup
// may keep datagrams from it: a unicast bind address (which silently drops
// broadcasts), or a receive buffer smaller than asked. Empty when all is
// well.
func (r *Receiver) Warnings() []string { return r.warnings }

// Socket returns the underlying socket: multicast group joins, and options
// this package does not set, are done on it.
func (r *Receiver) Socket() *dgram.Socket { return r.sock }

// LocalAddr is the bound address, with the real port when an ephemeral one
// was asked for.
func (r *Receiver) LocalAddr() netip.AddrPort { return r.local }

// Drops is how many datagrams the kernel has dropped on this socket for
// lack of buffer space, read now (dgram.Socket.Drops, SO_MEMINFO), whatever
// the Metadata: a loop that shows the count once a second needs no control
// message per datagram for it. Should that read fail, it is the latest
// SO_RXQ_OVFL count seen (MetaDrops), which lags: the kernel attaches it to
// the next datagram that does arrive.
func (r *Receiver) Drops() uint32 {
	if n, err := r.sock.Drops(); err == nil {
		return n
	}
	return r.drops.Load()
}

// Filtered is how many datagrams Receive has skipped because they arrived
// on an interface other than ReceiverConfig.Iface.
func (r *Receiver) Filtered() uint64 { return r.filtered.Load() }

// Reattach resolves ReceiverConfig.Iface again, for an interface that was
// deleted and created again under its name (see FollowInterfaces): the
// arrival filter takes the new index, and with BindDevice the socket is
// bound to the new device. It reports whether the index changed; with
// ErrIfaceGone when no interface has the name now. Safe to call while
// another goroutine receives. Without Iface it does nothing.
func (r *Receiver) Reattach() (bool, error) {
	if r.cfg.Iface == "" {
		return false, nil
	}
	if err := r.view.refresh(); err != nil {
		return false, err
	}
	ifi, err := findByName(r.view.snap.Load().all, r.cfg.Iface)
	if err != nil {
		return false, fmt.Errorf("broadcast: %s: %w", r.cfg.Iface, ErrIfaceGone)
	}
	if int64(ifi.Index) == r.ifindex.Load() {
		return false, nil
	}
	if r.cfg.BindDevice {
		// SO_BINDTODEVICE keeps the index it was given: a device of the
		// same name made later is another one to the kernel.
		if err := r.sock.BindToDevice(r.cfg.Iface); err != nil {
			return false, err
		}
	}
	r.ifindex.Store(int64(ifi.Index))
	return true, nil
}

// Refresh re-reads the interface list now. Receive keeps it current by
// itself (see the package documentation); Refresh is for a caller that has
// just changed interfaces and cannot wait a second.
func (r *Receiver) Refresh() error { return r.view.refresh() }

// SetReadDeadline bounds Receive: after t, it fails with an error matching
// os.ErrDeadlineExceeded. A zero t means no deadline. Set the deadline here
// rather than on Socket(): Receive borrows the socket's read deadline to
// honour its context, and puts back the one set here. Each call resets a
// runtime timer: a receive loop should renew a deadline now and then, not
// before every Receive.
func (r *Receiver) SetReadDeadline(t time.Time) error { return r.watch.setDeadline(t) }

// Close closes the socket and the Receiver's interface watch. A Receive in
// progress returns an error matching net.ErrClosed.
func (r *Receiver) Close() error {
	r.watch.close()
	var err error
	if r.sock != nil {
		err = r.sock.Close()
	}
	if e := r.view.Close(); err == nil {
		err = e
	}
	return err
}

// Receive waits for at least one datagram and fills out[:n] with up to
// min(len(out), Batch) of them, read with one recvmmsg call. It returns
// early with ctx.Err() when ctx ends.
//
// Datagrams that arrived on another interface than ReceiverConfig.Iface are
// skipped and counted (Filtered); if a whole batch is skipped, Receive waits
// for more. Each Packet's Data points into the Receiver's buffers and is
// valid until the next Receive.
//
// With GRO, one buffer may hold many datagrams and a batch more datagrams
// than out has room for: Receive then returns what fits, and the next call
// returns the rest before it reads from the socket again.
//
// Receive allocates nothing per datagram, and nothing per call while ctx
// stays the same from call to call (a receive loop). Interface names are
// read from a cached list that is refreshed, at most once a second, when
// the kernel announces a change of links or addresses or a datagram arrives
// on an unknown interface; a refresh allocates.
//
// Receive is for one goroutine at a time; Reply may run beside it.
func (r *Receiver) Receive(ctx context.Context, out []Packet) (int, error) {
	if len(out) == 0 {
		return 0, nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	all := r.msgs[:min(len(out), len(r.msgs))]
	for {
		if err := r.watch.arm(ctx); err != nil {
			return 0, err
		}
		if r.split.pending() {
			if n := r.drain(out); n > 0 {
				return n, nil
			}
		}
		ms := all[:r.offer.Size(len(all))]
		var k int
		var err error
		if r.cfg.WaitInKernel {
			k, err = r.sock.RecvBatchWait(ms, 0)
		} else {
			k, err = r.sock.RecvBatch(ms, 0)
		}
		if err != nil {
			return 0, r.watch.result(ctx, err)
		}
		r.offer.Got(k, len(ms), len(all))
		if n := r.fill(ms[:k], out); n > 0 {
			return n, nil
		}
	}
}

// fill starts turning a received batch into Packets and returns how many
// it put in out; drain continues where a full out stopped it.
func (r *Receiver) fill(ms []dgram.Message, out []Packet) int {
	r.split = split{batch: ms}
	return r.drain(out)
}

// drain turns the datagrams of the current batch into Packets until out is
// full or the batch is done, and returns how many it kept.
func (r *Receiver) drain(out []Packet) int {
	snap := r.view.current()
	sp := &r.split
	n := 0
	for n < len(out) && sp.next < len(sp.batch) {
		m := &sp.batch[sp.next]
		if sp.off == 0 {
			// A new message: its metadata, once for all its datagrams.
			if !r.describe(m, &out[n], &snap) {
				sp.next++
				continue
			}
		} else {
			out[n] = sp.tmpl // the rest of a message split by the last call
		}
		n += sp.segments(m, out[n:], r.cfg.BufSize)
	}
	return n
}

// describe fills p with the metadata of message m (every field but Data,
// Size and Truncated) and sets the segment size of its datagrams. It returns
// false for a message the Iface filter skips.
func (r *Receiver) describe(m *dgram.Message, p *Packet, snap **snapshot) bool {
	if len(m.Control) == 0 && r.ifindex.Load() == 0 {
		// No control message (MetaNone, or nothing the kernel had to say):
		// the source is all there is, and a count-only loop pays for
		// nothing else.
		src := m.Addr.AddrPort
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		*p = Packet{Src: src, TTL: -1, Drops: r.drops.Load(), Own: r.memo.isLocal(*snap, src.Addr())}
		r.split.seg = m.Size
		return true
	}
	c := &r.ctl
	// The kernel wrote this buffer; if it were malformed, the fields
	// before the bad message are still good, and the rest stay unknown.
	_ = c.Parse(m.Control)
	seg, count := m.Size, 1
	if c.Has&msghdr.FlagUDPGRO != 0 && c.GRO > 0 && c.GRO < m.Size {
		seg, count = c.GRO, (m.Size+c.GRO-1)/c.GRO
		r.coalesced.Add(uint64(count))
	}
	if idx := r.ifindex.Load(); idx != 0 && int64(c.IfIndex) != idx {
		r.filtered.Add(uint64(count))
		return false
	}
	if c.Has&msghdr.FlagRxqOvfl != 0 && c.Drops != r.drops.Load() {
		r.drops.Store(c.Drops)
	}
	ifi := r.memo.iface(snap, c.IfIndex)
	src := m.Addr.AddrPort
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	*p = Packet{
		Src:     src,
		Dst:     c.Dst,
		Kind:    classify(c.Dst, c.SpecDst, *snap),
		IfIndex: c.IfIndex,
		TTL:     -1,
		Time:    c.Time(),
		Drops:   r.drops.Load(),
		Own:     r.memo.isLocal(*snap, src.Addr()),
	}
	if c.Has&msghdr.FlagPktInfo4 != 0 {
		p.Local = c.SpecDst
	}
	if ifi != nil {
		p.IfName = ifi.Name
	}
	if c.Has&(msghdr.FlagTTL|msghdr.FlagHopLimit) != 0 {
		p.TTL = c.TTL
	}
	if c.Has&(msghdr.FlagTOS|msghdr.FlagTrafficClass) != 0 {
		p.TOS = c.TOS
	}
	r.split.seg = seg
	return true
}

// Reply sends payload back to p's sender, out of the interface p arrived on
// and from the right address of this host: p.Dst when p was unicast to it,
// and never a broadcast or multicast address, which is not a valid source
// (and which a plain sendto from a wildcard-bound socket would leave to the
// routing table, perhaps on another interface). For a broadcast or
// multicast p the source is the arrival interface's address in the sender's
// subnet, else its address in the subnet p was broadcast to, else the one
// the kernel named in ipi_spec_dst, else the kernel's choice.
//
// Reply may be called while another goroutine is in Receive; p must be
// from this Receiver.
func (r *Receiver) Reply(p *Packet, payload []byte) error {
	to := p.Src
	if !to.IsValid() || to.Addr().IsUnspecified() || to.Port() == 0 {
		return fmt.Errorf("broadcast: cannot reply to %v: the sender gave no address to answer", to)
	}
	if p.IfIndex != 0 {
		to = netip.AddrPortFrom(to.Addr().WithZone(""), to.Port()) // the ifindex names the link
	}
	src := r.replySource(p)
	r.replyMu.Lock()
	defer r.replyMu.Unlock()
	if to.Addr().Is4() {
		r.replyCtl = msghdr.AppendPktInfo4(r.replyCtl[:0], p.IfIndex, src)
	} else {
		r.replyCtl = msghdr.AppendPktInfo6(r.replyCtl[:0], p.IfIndex, src)
	}
	r.replyBuf[0] = payload
	r.replyMsg = dgram.Message{Buffers: r.replyBuf[:], Control: r.replyCtl, Addr: dgram.AddrFrom(to)}
	err := r.sock.SendMsg(&r.replyMsg, 0)
	r.replyBuf[0] = nil
	return err
}

// replySource picks the source address of a reply to p (see Reply).
func (r *Receiver) replySource(p *Packet) netip.Addr {
	if p.Kind == Unicast && p.Dst.IsValid() {
		return p.Dst
	}
	peer := p.Src.Addr().WithZone("")
	if ifi := r.view.snap.Load().byIndex[p.IfIndex]; ifi != nil {
		for _, a := range ifi.Addrs {
			if a.Prefix.Addr().Is4() == peer.Is4() && a.Prefix.Contains(peer) {
				return a.Prefix.Addr()
			}
		}
		if p.Dst.IsValid() {
			for _, a := range ifi.Addrs {
				if a.Broadcast == p.Dst {
					return a.Prefix.Addr()
				}
			}
		}
	}
	if peer.Is4() && p.Local.IsValid() && !p.Local.IsUnspecified() {
		return p.Local
	}
	return netip.Addr{}
}

// Metadata is the metadata r asks the kernel for: ReceiverConfig.Metadata
// with the zero value made MetaAll and what Iface needs added.
func (r *Receiver) Metadata() Metadata { return r.cfg.Metadata }
