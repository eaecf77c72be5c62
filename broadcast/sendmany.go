package broadcast

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

const (
	// gsoMaxSegments is the most datagrams one UDP_SEGMENT send may carry
	// (UDP_MAX_SEGMENTS; newer kernels allow more, older ones refuse more).
	gsoMaxSegments = 64
	// gsoMaxBytes is the most payload one UDP_SEGMENT send may carry: it
	// is one UDP datagram to the kernel until it is split, so IPv4's
	// 65535 - 20 - 8 bytes.
	gsoMaxBytes = 65507
)

// The paths SendMany can take, as Path names them.
const (
	pathNone  int32 = iota // no SendMany yet
	pathGSO                // at least one UDP_SEGMENT send
	pathBatch              // one datagram per message
)

// gsoState is what a Sender knows about GSO. It changes only under the
// Sender's mutex; atomics let Path, GSOError and Stats read it while a send
// is under way.
type gsoState struct {
	on     atomic.Bool  // UDP_SEGMENT sends are tried
	maxSeg atomic.Int64 // the largest segment tried; EMSGSIZE lowers it
	why    atomic.Pointer[error]
	last   atomic.Int32 // the path of the last SendMany

	sends, segments, plain, refused atomic.Uint64
}

// SendStats counts what SendMany did since the Sender was made.
type SendStats struct {
	// GSOSends is how many UDP_SEGMENT sends the kernel took, and
	// GSODatagrams how many datagrams they carried.
	GSOSends, GSODatagrams uint64
	// Datagrams is how many datagrams went one per message (sendmmsg):
	// runs that GSO could not carry, or all of them with GSO off.
	Datagrams uint64
	// Refused is how many UDP_SEGMENT sends the kernel refused; their
	// datagrams went one per message instead and count in Datagrams.
	Refused uint64
}

// chunk is one message of a SendMany: payloads[start:end] as one
// UDP_SEGMENT send of seg-byte datagrams, or one plain datagram when
// end-start is 1.
type chunk struct{ start, end, seg int }

// probeGSO asks the kernel whether it knows UDP_SEGMENT (Linux 4.18) by
// reading the option; nothing is sent. Whether the route and the device
// take it is learnt from the first send.
func (s *Sender) probeGSO() {
	if _, err := s.sock.OptionInt(unix.SOL_UDP, unix.UDP_SEGMENT); err != nil {
		why := error(fmt.Errorf("broadcast: GSO unavailable, the kernel does not know UDP_SEGMENT (Linux 4.18+): %w", err))
		s.gso.why.Store(&why)
		return
	}
	s.gso.maxSeg.Store(gsoMaxBytes)
	s.gso.on.Store(true)
}

// SendMany sends each element of payloads as one datagram to to, in order,
// out of cfg.Iface and from cfg.Src when set, and returns how many were
// sent; on error, payloads[n] is the first that was not.
//
// With SenderConfig.GSO, each run of up to 64 datagrams of one size
// (the last of a run may be shorter), 65507 bytes at most, goes to the
// kernel as one UDP_SEGMENT send, and all the sends of a call go in one
// sendmmsg: 640 datagrams of 1000 bytes are ten sends in one system call.
// Datagrams that fit no run go one per message in the same sendmmsg.
// Payloads cut one after another out of one buffer reach the kernel as one
// iovec per send. Without GSO, or when it was refused, SendMany is
// SendBatch.
//
// A refusal is never the caller's error. When the kernel refuses a
// UDP_SEGMENT send with EIO (no checksum offload on the device), EINVAL,
// ENOPROTOOPT or EOPNOTSUPP, that send's datagrams and the rest are sent
// one per message at once, and GSO stays off for this Sender (GSOError
// tells why); EMSGSIZE (a segment larger than the route's MTU) only stops
// GSO for segments of that size and larger. If the datagrams then fail one
// by one as well, the fault was not GSO's: GSO stays as it was and the
// error is returned.
//
// Once warm (the same or a smaller number of payloads as before), a call
// allocates nothing. It keeps no reference to payloads.
func (s *Sender) SendMany(payloads [][]byte, to netip.AddrPort) (int, error) {
	if len(payloads) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctl, err := s.control(to.Addr(), s.ifindex, s.cfg.Src)
	if err != nil {
		return 0, err
	}
	addr := s.dest(to)
	if s.gso.on.Load() && len(payloads) > 1 {
		if chunks := s.plan(payloads); len(chunks) < len(payloads) {
			return s.sendGSO(payloads, chunks, ctl, addr)
		}
	}
	s.gso.last.Store(pathBatch)
	return s.sendCounted(payloads, ctl, addr)
}

// sendCounted is sendPlain, counted in Stats.
func (s *Sender) sendCounted(payloads [][]byte, ctl []byte, addr dgram.Addr) (int, error) {
	n, err := s.sendPlain(payloads, ctl, addr)
	s.gso.plain.Add(uint64(n))
	return n, err
}

// plan cuts payloads into runs that one UDP_SEGMENT send can carry.
func (s *Sender) plan(payloads [][]byte) []chunk {
	maxSeg := int(s.gso.maxSeg.Load())
	cs := s.chunks[:0]
	for i := 0; i < len(payloads); {
		seg := len(payloads[i])
		j := i + 1
		if seg > 0 && seg <= maxSeg {
			// The most datagrams of this size one send may carry; the
			// loop then only compares lengths.
			end := min(len(payloads), i+gsoMaxSegments, i+gsoMaxBytes/seg)
			for j < end && len(payloads[j]) == seg {
				j++
			}
			// The kernel lets the last datagram of a send be shorter.
			if j < len(payloads) && j-i < gsoMaxSegments {
				if l := len(payloads[j]); l > 0 && l < seg && (j-i)*seg+l <= gsoMaxBytes {
					j++
				}
			}
		}
		cs = append(cs, chunk{start: i, end: j, seg: seg})
		i = j
	}
	s.chunks = cs
	return cs
}

// sendGSO sends the planned chunks with one sendmmsg (as many as the
// kernel takes per call) and falls back to plain sends on a refusal.
func (s *Sender) sendGSO(payloads [][]byte, chunks []chunk, ctl []byte, addr dgram.Addr) (int, error) {
	if cap(s.many) < len(chunks) {
		s.many = make([]dgram.Message, len(chunks))
	}
	ms := s.many[:len(chunks)]
	// One UDP_SEGMENT message per run, after the packet-info message when
	// there is one; every run gets its own control bytes, since runs of
	// different sizes can share the sendmmsg.
	if need := len(chunks) * (len(ctl) + msghdr.Space(2)); cap(s.manyCtl) < need {
		s.manyCtl = make([]byte, 0, need)
	}
	cb := s.manyCtl[:0]
	if cap(s.joined) < len(payloads) {
		s.joined = make([][]byte, 0, len(payloads))
	}
	js := s.joined[:0]
	for i, c := range chunks {
		m := &ms[i]
		*m = dgram.Message{Buffers: payloads[c.start:c.end:c.end], Control: ctl, Addr: addr}
		if c.end-c.start > 1 {
			at := len(cb)
			cb = append(cb, ctl...)
			cb = msghdr.AppendUDPSegment(cb, uint16(c.seg))
			m.Control = cb[at:len(cb):len(cb)]
			at = len(js)
			js = join(js, payloads[c.start:c.end])
			m.Buffers = js[at:len(js):len(js)]
		}
	}
	sent, err := s.sendmmsg(ms, 0)
	for i := range ms {
		ms[i].Buffers = nil // keep no reference to the caller's bytes
	}
	clear(js)
	done, sends, segments := 0, 0, 0
	for _, c := range chunks[:sent] {
		done += c.end - c.start
		if c.end-c.start > 1 {
			sends++
			segments += c.end - c.start
		}
	}
	s.gso.sends.Add(uint64(sends))
	s.gso.segments.Add(uint64(segments))
	s.gso.plain.Add(uint64(done - segments))
	if sends > 0 {
		s.gso.last.Store(pathGSO)
	} else {
		s.gso.last.Store(pathBatch)
	}
	if err == nil {
		return done, nil
	}
	failed := chunks[sent]
	if failed.end-failed.start == 1 || !gsoRefusal(err) {
		return done, err
	}
	// The kernel or the device refused segmentation, and sent nothing of
	// this message: send it and the rest one datagram per message.
	on, maxSeg, why := s.gso.on.Load(), s.gso.maxSeg.Load(), s.gso.why.Load()
	s.refuseGSO(err, failed.seg)
	n, perr := s.sendCounted(payloads[failed.start:], ctl, addr)
	if perr != nil && n == 0 && dgram.Errno(perr) == dgram.Errno(err) {
		// The first datagram alone failed the same way: the fault is the
		// datagram's or the route's, not GSO's, which stays as it was.
		s.gso.on.Store(on)
		s.gso.maxSeg.Store(maxSeg)
		s.gso.why.Store(why)
		return done, perr
	}
	s.gso.refused.Add(1)
	return done + n, perr
}

// join appends ps to dst as the buffers (iovecs) of one send, merging each
// payload that starts where the one before it ends in the same array: the
// kernel copies one long iovec faster than many short ones, and a caller
// that cuts its payloads out of one buffer gets one iovec per send. It
// never merges into what dst held before (an earlier send's buffers), and
// leaves out empty payloads, which add nothing to a send.
func join(dst, ps [][]byte) [][]byte {
	var cur []byte // the buffer being extended, appended when a gap comes
	for _, p := range ps {
		switch {
		case len(p) == 0:
		case len(cur) == 0:
			cur = p
		case cap(cur)-len(cur) >= len(p) && unsafe.SliceData(cur[len(cur):cap(cur)]) == unsafe.SliceData(p):
			cur = cur[:len(cur)+len(p)]
		default:
			dst = append(dst, cur)
			cur = p
		}
	}
	if len(cur) > 0 {
		dst = append(dst, cur)
	}
	return dst
}

// gsoRefusal reports whether err is the kernel declining a UDP_SEGMENT
// send rather than failing the datagrams: EIO when the device cannot
// checksum (or the route uses IPsec), EINVAL for a size or count it does
// not take, ENOPROTOOPT or EOPNOTSUPP where UDP_SEGMENT is unknown, and
// EMSGSIZE when a segment is larger than the route's MTU (a plain datagram
// is fragmented instead).
func gsoRefusal(err error) bool {
	switch dgram.Errno(err) {
	case unix.EIO, unix.EINVAL, unix.ENOPROTOOPT, unix.EOPNOTSUPP, unix.EMSGSIZE:
		return true
	}
	return false
}

// refuseGSO turns GSO off, or down to smaller segments, after the kernel
// refused a UDP_SEGMENT send of seg-byte segments with err.
func (s *Sender) refuseGSO(err error, seg int) {
	var why error
	if dgram.Errno(err) == unix.EMSGSIZE && seg > 1 {
		s.gso.maxSeg.Store(int64(seg - 1))
		why = fmt.Errorf("broadcast: GSO refused for %d-byte segments (larger than the route's MTU?), kept for smaller ones: %w", seg, err)
	} else {
		s.gso.on.Store(false)
		why = fmt.Errorf("broadcast: GSO refused, sending one datagram per message from now on: %w", err)
	}
	s.gso.why.Store(&why)
}

// Path names how the last SendMany sent: "gso" when it made at least one
// UDP_SEGMENT send, "sendmmsg" when every datagram went one per message
// (GSO off, refused, or no run of equal sizes), "" before the first.
func (s *Sender) Path() string {
	switch s.gso.last.Load() {
	case pathGSO:
		return "gso"
	case pathBatch:
		return "sendmmsg"
	}
	return ""
}

// GSO reports whether SendMany tries UDP_SEGMENT sends: SenderConfig.GSO
// was set, the kernel knows the option, and no send was refused for good.
func (s *Sender) GSO() bool { return s.gso.on.Load() }

// GSOError says why GSO is off or limited for this Sender: the kernel does
// not know UDP_SEGMENT, or refused a send (the errno is kept: errors.Is
// works). It is nil while GSO works, and without SenderConfig.GSO.
func (s *Sender) GSOError() error {
	if p := s.gso.why.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns SendMany's counters.
func (s *Sender) Stats() SendStats {
	return SendStats{
		GSOSends:     s.gso.sends.Load(),
		GSODatagrams: s.gso.segments.Load(),
		Datagrams:    s.gso.plain.Load(),
		Refused:      s.gso.refused.Load(),
	}
}
