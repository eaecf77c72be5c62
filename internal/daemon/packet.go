package daemon

import (
	"fmt"
	"net/netip"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/echoguard"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg takes.
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

// servePackets answers the datagrams waiting on l: in echo mode each goes
// back to its sender as it came, a batch at a time (recvmmsg, sendmmsg).
func (s *Server) servePackets(l *Listener) {
	// A datagram may hold one line and its newline; reading one byte more
	// than that tells an over-long one apart (MSG_TRUNC gives its size).
	size := min(s.set.MaxLine+1, maxDatagram)
	if l.batch == nil || l.batch.size != size {
		l.batch = newPacketBatch(size)
	}
	b := l.batch
	for range readsPerEvent {
		n, err := l.sock.RecvBatch(b.msgs, 0)
		if err != nil {
			if dgram.Errno(err) != unix.EAGAIN {
				if k, ok := s.limit("recv "+l.addr.String(), s.now); ok {
					s.log.Warn("receive failed", "network", l.network, "addr", l.addr.String(), "err", err, "repeats", k)
				}
			}
			return
		}
		s.stats.datagrams += uint64(n)
		if s.mode == Echo {
			s.reply(l, b, n)
		}
		if n < len(b.msgs) {
			return // the queue is empty
		}
	}
}

func (s *Server) reply(l *Listener, b *packetBatch, n int) {
	b.replies = b.replies[:0]
	for i := range n {
		m := &b.msgs[i]
		parsed := b.ctl.Parse(m.Control) == nil
		if !parsed {
			b.ctl = msghdr.Control{}
		}
		payload := m.Buffers[0][:m.N]
		verdict := s.verdict(l, m, &b.ctl, payload)
		if verdict == echoguard.Reply && (m.Truncated() || m.Size > s.set.MaxLine+1) {
			// The error reply goes out only where it is no larger than
			// what came in: a reply never amplifies.
			payload = b.errText
			if len(payload) > m.Size {
				verdict = echoguard.Truncated
			}
		}
		if verdict != echoguard.Reply {
			s.suppressed(l, verdict, m.Addr)
			continue
		}
		b.replies = b.replies[:len(b.replies)+1]
		r := &b.replies[len(b.replies)-1]
		r.Buffers[0], r.Addr = payload, m.Addr
		r.Control = r.Control[:0]
		if parsed {
			r.Control = b.replySource(r.Control)
		}
		if !l.addr.Unix {
			l.guard.Sent(s.now, replyTo(m.Addr), payload)
		}
	}
	for i := 0; i < len(b.replies); {
		sent, err := l.sock.SendBatch(b.replies[i:], 0)
		i += sent
		if err == nil {
			break
		}
		if dgram.Errno(err) == unix.EAGAIN {
			// The send buffer is full: a datagram server drops rather
			// than queue, as the network itself would.
			s.stats.dropped += uint64(len(b.replies) - i)
			break
		}
		s.stats.dropped++
		if k, ok := s.limit("send "+l.addr.String(), s.now); ok {
			s.log.Warn("reply failed", "network", l.network, "to", b.replies[i].Addr.String(), "err", err, "repeats", k)
		}
		i++ // skip the one that failed, send the rest
	}
	for i := range b.replies {
		b.replies[i].Buffers[0], b.replies[i].Addr = nil, dgram.Addr{} // drop references until the next batch
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
