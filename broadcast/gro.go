package broadcast

import (
	"fmt"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// groBufSize is the receive buffer per message with GRO on. A coalesced
// buffer is at most one UDP datagram's worth: a local GSO send is capped by
// UDP's 16-bit length (65507 payload bytes over IPv4, 65527 over IPv6), and
// the kernel stops coalescing received datagrams before 64 KiB.
const groBufSize = 65536

// enableGRO sets UDP_GRO. A kernel without it (before 5.0) answers
// ENOPROTOOPT; the Receiver then works as without GRO and says so.
func (r *Receiver) enableGRO() {
	if err := r.sock.SetOptionBool(unix.SOL_UDP, unix.UDP_GRO, true); err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("GRO is off: the kernel refused UDP_GRO (%v); datagrams are received one by one", err))
		return
	}
	r.gro = true
}

// GRO reports whether UDP_GRO is on: ReceiverConfig.GRO was set and the
// kernel accepted it.
func (r *Receiver) GRO() bool { return r.gro }

// Coalesced is how many datagrams arrived coalesced with others in one GRO
// buffer (and were split by Receive). It stays 0 without GRO, and with GRO
// while no run of datagrams was coalesced: the kernel coalesces datagrams
// sent with GSO, and, on interfaces with GRO turned on, runs of datagrams
// that arrive back to back from one sender.
func (r *Receiver) Coalesced() uint64 { return r.coalesced.Load() }

// split is where Receive stands in the batch the last recvmmsg returned.
// Without GRO every message is one datagram and a batch never outlasts one
// Receive; with GRO a message can hold up to 64 datagrams, and what did not
// fit in out waits here for the next call.
type split struct {
	batch []dgram.Message // the messages of the last recvmmsg
	next  int             // the message to turn into Packets next
	off   int             // where its next datagram starts; 0: not begun
	seg   int             // its datagram size (UDP_GRO), or its whole size
	tmpl  Packet          // its metadata, for its datagrams after the first
}

func (sp *split) pending() bool { return sp.next < len(sp.batch) }

// segments puts the datagrams of message m, from sp.off on, into out, each
// with the metadata already in out[0]. It returns how many it put there and
// moves sp past them. Every datagram is sp.seg bytes but the last, which
// may be shorter, as the kernel coalesced them. Data is cut at limit bytes
// (ReceiverConfig.BufSize) and at what the buffer holds; Truncated says
// when it is shorter than Size.
func (sp *split) segments(m *dgram.Message, out []Packet, limit int) int {
	data := m.Buffers[0][:m.N]
	size := m.Size
	if sp.seg < size-sp.off {
		// More than one datagram: copy the metadata from a template that
		// is never written to, not from the packet just filled in, whose
		// fresh stores would stall the wide loads of the copy.
		sp.tmpl = out[0]
	}
	for n := 0; ; {
		p := &out[n]
		if n > 0 {
			*p = sp.tmpl
		}
		segLen := min(sp.seg, size-sp.off) // 0 only for an empty datagram
		d := data[min(sp.off, len(data)):min(sp.off+segLen, len(data))]
		if len(d) > limit {
			d = d[:limit]
		}
		p.Data, p.Size, p.Truncated = d, segLen, len(d) < segLen
		n++
		sp.off += segLen
		if sp.off >= size {
			sp.off = 0
			sp.next++
			return n
		}
		if n == len(out) {
			return n // sp.tmpl holds the metadata for the next call
		}
	}
}
