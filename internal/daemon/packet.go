package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/echoguard"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// batchSize is the most datagrams one recvmmsg takes; dgram.Offer sizes
// each call's offer to what arrives.
const batchSize = 16

// packetBatch holds a datagram listener's receive and reply messages,
// allocated once and reused for every batch.
type packetBatch struct {
	size    int // bytes per receive buffer
	msgs    []dgram.Message
	replies []dgram.Message
	errText []byte
	ctl     msghdr.Control
}

// ctlSpace holds one IP_PKTINFO or IPV6_PKTINFO message, received or sent.
var ctlSpace = (msghdr.FlagPktInfo4 | msghdr.FlagPktInfo6).Space(0)

func newPacketBatch(size int) *packetBatch {
	b := &packetBatch{size: size, msgs: make([]dgram.Message, batchSize), replies: make([]dgram.Message, 0, batchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{make([]byte, size)}
		b.msgs[i].Control = make([]byte, 0, ctlSpace)
	}
	// Each reply's one-element buffer list and control buffer are made
	// here, once: a reply then costs no allocation.
	for i := range b.replies[:batchSize] {
		b.replies[:batchSize][i].Buffers = make([][]byte, 1)
		b.replies[:batchSize][i].Control = make([]byte, 0, ctlSpace)
	}
	b.errText = fmt.Appendf(nil, "error: datagram longer than %d bytes\n", size)
	return b
}

// packetServer serves one datagram listener from a goroutine of its own,
// outside the event loop: a receive loop that owns its goroutine, so that
// it may wait for datagrams in the kernel (dgram's RecvBatchWait) rather
// than in an epoll_wait followed by a recvmmsg. A request-response client
// (one request in flight, ping) then costs one blocking recvmmsg and one
// sendmmsg per round trip, as a plain C server's recvfrom and sendto, where
// the event loop paid an epoll_wait besides and, each time it went idle,
// the runtime's own park and wake-up.
//
// Everything here belongs to the goroutine while it runs; the Server reads
// the counts and the Listener's guard once it has ended (Server.packets).
type packetServer struct {
	s      *Server
	l      *Listener
	kernel bool // wait in the kernel while datagrams keep coming
	b      *packetBatch
	offer  dgram.Offer // how much of b.msgs to offer recvmmsg
	now    time.Time
	// yielded is when the loop last let the runtime schedule others: see
	// yield.
	yielded time.Time

	warn               warnings
	addrs              *broadcast.AddrMemo // nil for unixgram
	dirs               *dirTrust
	datagrams, dropped uint64
	recvFailed         bool // the last receive failed too: pause before the next
}

// yieldEvery bounds how long a busy receive loop waiting in the kernel keeps
// its processor from the event loop and the runtime's own goroutines
// (signals, the address watch) when there is only one: without it they
// wait for the runtime's preemption, 10 ms.
const yieldEvery = time.Millisecond

func (p *packetServer) run() {
	defer p.s.packets.Done()
	l := p.l
	for {
		// A datagram may hold one line and its newline; reading one byte
		// more than that tells an over-long one apart (MSG_TRUNC gives its
		// size). Reload may change MaxLine while this runs.
		size := min(int(p.s.maxLine.Load())+1, maxDatagram)
		if p.b == nil || p.b.size != size {
			p.b = newPacketBatch(size)
		}
		ms := p.b.msgs[:p.offer.Size(len(p.b.msgs))]
		var n int
		var err error
		if p.kernel {
			n, err = l.sock.RecvBatchWait(ms, 0)
		} else {
			n, err = l.sock.RecvBatch(ms, 0)
		}
		p.now = time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // the listener closed: shutdown
			}
			p.recvError(err)
			continue
		}
		p.recvFailed = false
		p.offer.Got(n, len(ms), len(p.b.msgs))
		p.datagrams += uint64(n)
		if p.s.mode == Echo {
			p.reply(n)
		}
		if p.kernel && p.now.Sub(p.yielded) >= yieldEvery {
			runtime.Gosched()
			p.yielded = p.now
		}
	}
}

// recvError logs a failed receive (rate-limited) and, when the one before
// failed too, pauses: an error that repeats must not become a busy loop.
func (p *packetServer) recvError(err error) {
	if k, ok := p.warn.limit("recv", p.now); ok {
		p.s.log.Warn("receive failed", "network", p.l.network, "addr", p.l.addr.String(), "err", err, "repeats", k)
	}
	if p.recvFailed {
		time.Sleep(acceptPause)
	}
	p.recvFailed = true
}

// reply answers the n datagrams just received, each back to its sender as
// it came, with one sendmmsg.
func (p *packetServer) reply(n int) {
	b, l := p.b, p.l
	b.replies = b.replies[:0]
	for i := range n {
		m := &b.msgs[i]
		parsed := b.ctl.Parse(m.Control) == nil
		if !parsed {
			b.ctl = msghdr.Control{}
		}
		payload := m.Buffers[0][:m.N]
		verdict := p.verdict(m, &b.ctl, payload)
		echoed := true
		// The buffer holds MaxLine+1 bytes (as MaxLine was when the batch
		// was made, the limit its error reply names): a longer datagram
		// was cut.
		if verdict == echoguard.Reply && m.Truncated() {
			// The error reply goes out only where it is no larger than
			// what came in: a reply never amplifies.
			payload, echoed = b.errText, false
			if len(payload) > m.Size {
				verdict = echoguard.Truncated
			}
		}
		if verdict != echoguard.Reply {
			p.suppressed(verdict, m.Addr)
			continue
		}
		b.replies = b.replies[:len(b.replies)+1]
		r := &b.replies[len(b.replies)-1]
		r.Buffers[0], r.Addr = payload, m.Addr
		r.Control = r.Control[:0]
		if parsed {
			r.Control = b.replySource(r.Control)
		}
		switch {
		case l.addr.Unix:
		case echoed:
			l.guard.Echoed(p.now)
		default:
			l.guard.Sent(p.now, replyTo(m.Addr), payload)
		}
	}
	for i := 0; i < len(b.replies); {
		// MSG_DONTWAIT: the socket waits for datagrams, but a reply that
		// finds the send buffer full is dropped rather than queued, as
		// the network itself would.
		sent, err := l.sock.SendBatch(b.replies[i:], unix.MSG_DONTWAIT)
		i += sent
		if err == nil {
			break
		}
		if dgram.Errno(err) == unix.EAGAIN {
			p.dropped += uint64(len(b.replies) - i)
			break
		}
		p.dropped++
		if k, ok := p.warn.limit("send", p.now); ok {
			p.s.log.Warn("reply failed", "network", l.network, "to", b.replies[i].Addr.String(), "err", err, "repeats", k)
		}
		i++ // skip the one that failed, send the rest
	}
	for i := range b.replies {
		b.replies[i].Buffers[0], b.replies[i].Addr = nil, dgram.Addr{} // drop references until the next batch
	}
}

// verdict decides whether message m may be answered. ctl is its parsed
// control data (pktinfo).
func (p *packetServer) verdict(m *dgram.Message, ctl *msghdr.Control, payload []byte) echoguard.Reason {
	l := p.l
	if l.addr.Unix {
		switch {
		case !m.Addr.Unix || m.Addr.Path == "":
			return echoguard.Unbound
		case !p.dirs.allows(m.Addr.Path, p.now):
			return echoguard.ReplyDir
		}
		return echoguard.Reply
	}
	d := echoguard.Datagram{Src: m.Addr.AddrPort, Payload: payload}
	src := d.Src.Addr().Unmap()
	if a := p.addrs; a != nil {
		d.Loopback = a.IsLoopback(ctl.IfIndex)
		// The guard asks whether the source is one of ours only for a
		// datagram from the network: skip the lookup for one that came
		// over loopback.
		if !d.Loopback {
			d.SrcLocal = a.IsLocal(src)
		}
		d.SrcBroadcast = a.IsBroadcast(src)
		if ctl.Dst.IsValid() {
			switch a.Kind(ctl.Dst, ctl.SpecDst) {
			case broadcast.Unicast:
				d.Dest = echoguard.ToUnicast
			case broadcast.Broadcast:
				d.Dest = echoguard.ToBroadcast
			case broadcast.Multicast:
				d.Dest = echoguard.ToMulticast
			}
		}
	} else if ctl.Dst.IsValid() && ctl.Dst.IsMulticast() {
		d.Dest = echoguard.ToMulticast
	}
	return l.guard.Check(p.now, &d)
}

// suppressed counts and (rate-limited) logs a datagram not answered.
func (p *packetServer) suppressed(r echoguard.Reason, from dgram.Addr) {
	l := p.l
	if r == echoguard.Truncated || r == echoguard.Unbound || r == echoguard.ReplyDir {
		l.guard.Count(r)
	}
	if k, ok := p.warn.limit(r.Key(), p.now); ok {
		p.s.log.Warn("datagram not answered", "network", l.network, "addr", l.addr.String(),
			"from", from.String(), "reason", r.String(), "repeats", k)
	}
}

// replySource builds the control message that makes a reply leave from the
// address the request was sent to, out of the interface it came in on, from
// the request's parsed control data (b.ctl). For IPv4 the kernel already
// worked that address out (ipi_spec_dst: the destination itself for
// unicast, the interface's address for a broadcast). An IPv6 request to a
// multicast group is answered from the kernel's choice. Nothing is added
// when the request carried no pktinfo.
func (b *packetBatch) replySource(dst []byte) []byte {
	switch {
	case b.ctl.Has&msghdr.FlagPktInfo6 != 0:
		src := b.ctl.Dst
		if src.IsMulticast() {
			src = netip.Addr{}
		}
		return msghdr.AppendPktInfo6(dst, b.ctl.IfIndex, src)
	case b.ctl.Has&msghdr.FlagPktInfo4 != 0:
		return msghdr.AppendPktInfo4(dst, b.ctl.IfIndex, b.ctl.SpecDst)
	}
	return dst
}
