package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/pace"
	"github.com/bcastdev/bcast/internal/seq"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// The send paths, as the summaries name them.
const (
	pathSendmsg  = "sendmsg"  // one sendmsg per datagram (--batch 1, and the fan-outs)
	pathSendmmsg = "sendmmsg" // a batch per sendmmsg
	pathGSO      = "gso"      // runs of equal datagrams as UDP_SEGMENT sends
)

// Batch sizes, in datagrams per system call; the defaults were chosen by
// measurement on loopback (see "Speed" in README.md). maxBatch is the
// kernel's limit of messages per sendmmsg/recvmmsg call (UIO_MAXIOV); with
// GSO a message carries up to 64 datagrams, so a batch may hold 64 times
// as many.
const (
	defaultSendBatch   = 256
	defaultGSOBatch    = 4096
	defaultListenBatch = 64
	maxBatch           = 1024
	maxGSOBatch        = 64 * maxBatch
)

// sendBatchFlag returns the --batch of send and bench: its default depends
// on --gso, and so does its limit.
func sendBatchFlag(c *cli.Context, gso bool) (int, error) {
	if !c.IsSet("batch") {
		if gso {
			return defaultGSOBatch, nil
		}
		return defaultSendBatch, nil
	}
	n := c.Int("batch")
	switch {
	case gso && n < 2:
		return 0, fmt.Errorf("--gso needs --batch 2 or more (it packs a batch into one send), not %d", n)
	case gso:
		return n, inRange(c, "batch", n, 2, maxGSOBatch)
	}
	return n, inRange(c, "batch", n, 1, maxBatch)
}

// sendBatchUsage is the help of send's and bench's --batch.
const sendBatchUsage = "datagrams per system call (`N`; 1-1024, 1: one sendmsg each; with --gso up to 65536, 64 to a UDP_SEGMENT send); a batch never holds more than are due"

// maxBatchBytes bounds the memory of one batch: --batch 1024 of 64 KiB
// datagrams would otherwise take 64 MiB for no gain, since a batch of large
// datagrams already costs the kernel far more than the system call.
const maxBatchBytes = 4 << 20

// batchFor is how many datagrams of size bytes one send call carries when
// --batch asks for want.
func batchFor(want, size int) int {
	return max(1, min(want, maxBatchBytes/max(size, 1)))
}

// datagrams holds the datagrams of one batch back to back in one buffer,
// each a copy of the payload restamped in place. Back to back matters for
// GSO: SendMany hands neighbouring slices to the kernel as one iovec, which
// it copies faster than many short ones.
type datagrams struct {
	slots [][]byte
}

func newDatagrams(payload []byte, n int) *datagrams {
	size := len(payload)
	buf := make([]byte, n*size)
	d := &datagrams{slots: make([][]byte, n)}
	for i := range d.slots {
		// No cap limit: SendMany merges a slice with the next only when
		// the next starts inside the first's capacity.
		s := buf[i*size : (i+1)*size]
		copy(s, payload)
		d.slots[i] = s
	}
	return d
}

// stamp writes the stamps of datagrams first, first+1, ... into the first k
// slots. One send time for the batch: they go to the kernel in one call.
func (d *datagrams) stamp(k int, run, first, total uint64, sent int64) {
	for i, s := range d.slots[:k] {
		seq.Header{Run: run, Seq: first + uint64(i), Total: total, Sent: sent}.Put(s)
	}
}

// streamResult is what a send to one destination did.
type streamResult struct {
	sent, failed, bytes uint64
	refused             uint64 // port unreachable reports on a connected socket, each answered by sending again
	path                string
	connected           bool
	gso                 broadcast.SendStats
	fatal               error // the error that stopped the run
}

// shouldConnect says whether a single destination gets a connected socket:
// the kernel then keeps the route instead of looking it up per datagram.
// Not for a group (the multicast options pick the interface) nor for
// 255.255.255.255, which often has no route: with --iface it is sent by
// interface index, which connect(2) cannot do.
func shouldConnect(to netip.AddrPort) bool {
	a := to.Addr().Unmap()
	return !a.IsMulticast() && a != broadcast.LimitedBroadcast() && !a.IsUnspecified()
}

// stream sends p.count datagrams (0: until ctx ends) to p.to, paced by
// p.interval, in batches of p.batch: one SendMany (sendmmsg, or GSO with
// --gso) per batch, or one Send per datagram with --batch 1. A batch never
// holds more datagrams than are due.
func (p *sendPlan) stream(ctx context.Context, s *broadcast.Sender, run uint64, stdout, stderr *out, name string) streamResult {
	var res streamResult
	if p.connect && shouldConnect(p.to) {
		// A connect that fails is not the user's error: the datagrams then
		// go with an address, and a send that fails for the same reason
		// says why.
		res.connected = s.Connect(p.to) == nil
	}
	k := 1
	if p.batch > 1 {
		k = batchFor(p.batch, len(p.payload))
	}
	d := newDatagrams(p.payload, k)
	size := uint64(len(p.payload))
	result := broadcast.Result{To: p.to, Src: p.cfg.Src}
	result.Iface.Name = p.cfg.Iface
	gsoNoted := false
	noteGSO := func() {
		if !gsoNoted && p.cfg.GSO {
			if err := s.GSOError(); err != nil {
				gsoNoted = true
				stderr.Printf("%s: note: %v; the datagrams go one per message (sendmmsg) instead", name, err)
			}
		}
	}
	noteGSO() // a kernel without UDP_SEGMENT is known at once
	refusedNoted := false

	pacer := pace.NewPacer(p.interval)
	var n uint64 // datagrams handed to the kernel or failed so far
	for p.count == 0 || n < p.count {
		most := k
		if p.count != 0 {
			most = int(min(p.count-n, uint64(k)))
		}
		if !p.until.IsZero() && !time.Now().Before(p.until) {
			break
		}
		due, err := pacer.Wait(ctx, most)
		if err != nil {
			break // Ctrl-C: the summary still follows
		}
		if p.stamp {
			d.stamp(due, run, n+1, p.count, time.Now().UnixNano())
		}
		batch := d.slots[:due]
		done := 0
		var serr error
		// A connected socket hears the ICMP port unreachable of an earlier
		// datagram and fails the next send with ECONNREFUSED, sending
		// nothing: that consumed the report, so the send is tried again.
		// An unconnected socket would have sent them into the void
		// without a word, as UDP does; this keeps that behaviour and says
		// so once. Two reports in a row for the same datagrams would need
		// one per attempt, so three attempts end it.
		for try := 0; try < 3; try++ {
			var m int
			if k == 1 {
				if serr = s.Send(batch[done], p.to); serr == nil {
					m = 1
				}
			} else {
				m, serr = s.SendMany(batch[done:], p.to)
			}
			done += m
			if serr == nil || !res.connected || !errors.Is(serr, unix.ECONNREFUSED) {
				break
			}
			res.refused++
			if !refusedNoted {
				refusedNoted = true
				stderr.Printf("%s: note: %s answered port unreachable: nothing listens there now; sending on", name, p.to)
			}
		}
		noteGSO()
		if !p.quiet {
			for i := range done {
				reportSent(stdout, stderr, p, result, n+uint64(i)+1)
			}
		}
		n += uint64(done)
		res.sent += uint64(done)
		res.bytes += uint64(done) * size
		p.progress.add(uint64(done), 0)
		if serr != nil {
			n++
			res.failed++
			p.progress.add(0, 1)
			failed := result
			failed.Err = serr
			if p.json {
				// In text the error ends the run and is said once, by
				// runSend; JSON also gets its object.
				reportSent(stdout, stderr, p, failed, n)
			}
			res.fatal = serr
			break
		}
	}

	res.gso = s.Stats()
	switch {
	case k == 1:
		res.path = pathSendmsg
	case res.gso.GSOSends > 0:
		res.path = pathGSO
	default:
		res.path = pathSendmmsg
	}
	return res
}

// pathText describes the send path for the text summary.
func (r streamResult) pathText() string {
	t := r.path
	if r.path == pathGSO {
		t = fmt.Sprintf("gso (%d sends, %d datagrams; %d datagrams one by one)", r.gso.GSOSends, r.gso.GSODatagrams, r.gso.Datagrams)
	}
	if r.connected {
		t += ", connected"
	}
	if r.refused > 0 {
		t += fmt.Sprintf(", %d port unreachable reports", r.refused)
	}
	return t
}

// LineTooLongError is the error of readLines for a line longer than a
// datagram holds.
type LineTooLongError struct {
	Line int // 1-based
	Max  int
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("line %d is longer than %d bytes, the most a datagram holds here", e.Line, e.Max)
}

// readLines calls fn with each line of r, in order, as nc -u sends them:
// the line with its "\n" (and a "\r" before it, if any) kept, a last line
// without one as it is, an empty line as "\n". The slice is valid only
// during the call. It returns nil at the end of r; ctx.Err() as soon as
// ctx ends, even while a read blocks (the blocked read is left to finish
// in the background: r is standard input, a pipe or a terminal, which a
// command does not close); a *LineTooLongError for a line longer than max
// bytes, its newline included; the read error; or the first error of fn,
// which ends the reading. It reads ahead of fn by at most 64 lines.
func readLines(ctx context.Context, r io.Reader, max int, fn func(line []byte) error) error {
	type item struct {
		line []byte
		err  error
	}
	lines := make(chan item, 64)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(r, max+1)
		for n := 1; ; n++ {
			b, err := br.ReadSlice('\n')
			var it item
			if len(b) > 0 {
				it.line = bytes.Clone(b)
			}
			switch {
			case errors.Is(err, bufio.ErrBufferFull) || len(b) > max:
				it = item{err: &LineTooLongError{Line: n, Max: max}}
			case err == io.EOF && it.line == nil:
				return
			case err != nil && err != io.EOF:
				it.err = err
			}
			select {
			case lines <- it:
			case <-stop:
				return
			}
			if it.err != nil || err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it, ok := <-lines:
			switch {
			case !ok:
				return nil
			case it.line != nil:
				if err := fn(it.line); err != nil {
					return err
				}
			}
			if it.err != nil {
				return it.err
			}
		}
	}
}
