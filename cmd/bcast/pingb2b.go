package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/seq"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// b2b is one ping --back-to-back run: one request in flight, the next sent
// as soon as the reply to this one is in (netperf's UDP_RR, sockperf's
// ping-pong). One goroutine sends and then waits for the reply itself, on a
// socket connected to the target, so that the kernel drops datagrams from
// anyone else and keeps the route; the wait is RecvBatchWait, in the kernel
// while replies keep coming. A round trip allocates nothing (with --quiet)
// and reads the monotonic clock once per send and once per reply (time.Now
// reads the wall clock too: twice the cost).
type b2b struct {
	sender  *broadcast.Sender
	sock    *dgram.Socket
	to      netip.AddrPort
	run     uint64
	total   uint64        // --count, carried in the stamp (0: until Ctrl-C)
	timeout time.Duration // --wait: a reply later than this is lost
	payload []byte
	bufs    [1][]byte
	msgs    [1]dgram.Message
	hist    seq.Histogram

	// Times are durations since base, read with time.Since (one clock
	// read); a stamp's wall-clock send time is base's plus that.
	base     time.Time
	baseWall int64

	// seen has a bit per request, of the last seenWindow: a reply to it
	// came (in time or late). It tells a late reply from a copy of one
	// already seen, which seq.Tracker would too, at twice the cost.
	seen [seenWindow / 64]uint64

	// deadline is the read deadline set on the socket (zero: none). It is
	// moved only when a request's timeout would pass it, and then a little
	// beyond (deadlineSlack), so that most round trips set none.
	deadline time.Duration

	// stopped is set, and the read deadline put in the past, when the
	// run's context ends (Ctrl-C): the wait then ends without the receive
	// checking a context every time.
	stopped atomic.Bool

	sent, received uint64
	cut            bool          // a datagram was out when the run was stopped: not counted in sent
	duplicates     uint64        // copies of a reply already seen
	late           uint64        // replies that came after their request's --wait
	foreign        uint64        // from the target, but without this run's stamp
	unreachable    uint64        // port unreachable answers (ECONNREFUSED)
	first, last    time.Duration // of the first send, the last transaction's end (0: none yet)

	// reply, when set, reports each reply (not with --quiet).
	reply func(from netip.AddrPort, n int, h seq.Header, rtt time.Duration, v seq.Verdict, at time.Time)
}

// seenWindow is how many requests back a reply is told apart as late or
// a duplicate; one from further back is counted late.
const seenWindow = 1 << 16

// outcome is how one request ended.
type outcome int

const (
	replied     outcome = iota // its reply came within --wait
	lost                       // it did not
	interrupted                // the run was stopped first: not counted
)

func newB2B(s *broadcast.Sender, to netip.AddrPort, size int, count uint64, timeout time.Duration) *b2b {
	p := &b2b{sender: s, sock: s.Socket(), to: to, run: seq.NewRun(), total: count, timeout: timeout,
		payload: pad(make([]byte, seq.HeaderLen), size), base: time.Now()}
	p.baseWall = p.base.UnixNano()
	// A reply longer than the request is still a reply: take it whole
	// rather than have it reported truncated.
	p.bufs[0] = make([]byte, maxPayload6)
	p.msgs[0].Buffers = p.bufs[:]
	// The loop owns its goroutine: its sends need not hand the processor
	// to the runtime (see SetSendKeepsProcessor for what that costs).
	p.sock.SetSendKeepsProcessor(true)
	return p
}

// stopWith stops the run when ctx ends; the returned function undoes it.
func (p *b2b) stopWith(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() {
		p.stopped.Store(true)
		_ = p.sock.SetReadDeadline(time.Unix(1, 0))
	})
}

// deadlineSlack is how far past a request's timeout the read deadline is
// put: a deadline is then set about once per slack, not once per round trip
// (a runtime timer each time). A reply that comes in the slack is late all
// the same; the slack only delays the next request after a lost one.
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(timeout/8, 10*time.Millisecond)
}

// transact sends request sent+1 and waits for its reply. It returns an
// error only when a send or a receive fails, with what failed ("send to",
// "receive from").
func (p *b2b) transact() (outcome, string, error) {
	if p.stopped.Load() {
		return interrupted, "", nil
	}
	n := p.sent + 1
	start := time.Since(p.base)
	seq.Header{Run: p.run, Seq: n, Total: p.total, Sent: p.baseWall + int64(start)}.Put(p.payload)
	if err := p.send(); err != nil {
		return lost, "send to", err
	}
	p.sent = n
	p.seen[n/64%uint64(len(p.seen))] &^= 1 << (n % 64)
	if n == 1 {
		p.first = start
	}
	due := start + p.timeout
	if p.deadline < due {
		if err := p.setDeadline(due); err != nil {
			return lost, "receive from", err
		}
	}
	for {
		_, err := p.sock.RecvBatchWait(p.msgs[:], 0)
		now := time.Since(p.base)
		if err != nil {
			switch {
			case p.stopped.Load():
				p.sent-- // cut short: neither answered nor lost
				p.cut = true
				return interrupted, "", nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				if now < due {
					// The deadline is wall-clock time: the clock was set
					// back. Wait out the rest by the monotonic clock.
					if err := p.setDeadline(due); err != nil {
						return lost, "receive from", err
					}
					continue
				}
				p.last = now
				return lost, "", nil
			case errors.Is(err, unix.ECONNREFUSED):
				// An ICMP port unreachable answered a request: nothing
				// listens there (yet). Its reply is lost at the timeout,
				// as any other.
				p.unreachable++
				continue
			}
			return lost, "receive from", err
		}
		m := &p.msgs[0]
		h, _, perr := seq.Parse(p.bufs[0][:m.N])
		if perr != nil || h.Run != p.run || h.Seq > n {
			p.foreign++
			continue
		}
		if h.Seq == n {
			p.markSeen(n)
			rtt := now - start
			p.last = now
			if rtt > p.timeout {
				// In the deadline's slack: too late all the same.
				p.late++
				p.report(m, h, rtt, seq.Late, now)
				return lost, "", nil
			}
			p.received++
			p.hist.Add(rtt)
			p.report(m, h, rtt, seq.New, now)
			return replied, "", nil
		}
		// A reply to an earlier request, given up on (late), or a copy
		// of one already seen (duplicate): this request's reply is still
		// awaited.
		v := seq.Late
		if n-h.Seq < seenWindow && !p.markSeen(h.Seq) {
			v = seq.Duplicate
			p.duplicates++
		} else {
			p.late++
		}
		p.report(m, h, now-time.Duration(h.Sent-p.baseWall), v, now)
	}
}

// markSeen records that a reply to request k came and reports whether it
// is the first.
func (p *b2b) markSeen(k uint64) bool {
	w, bit := &p.seen[k/64%uint64(len(p.seen))], uint64(1)<<(k%64)
	first := *w&bit == 0
	*w |= bit
	return first
}

// send sends the stamped payload. A port unreachable that answered an
// earlier request fails the next send on a connected socket; that error
// belongs to the earlier request, so the send is made again.
func (p *b2b) send() error {
	err := p.sender.Send(p.payload, p.to)
	if errors.Is(err, unix.ECONNREFUSED) {
		p.unreachable++
		err = p.sender.Send(p.payload, p.to)
	}
	return err
}

// setDeadline moves the read deadline past due. A stop that came just
// before may have been overwritten: it is put back.
func (p *b2b) setDeadline(due time.Duration) error {
	p.deadline = due + deadlineSlack(p.timeout)
	err := p.sock.SetReadDeadline(p.base.Add(p.deadline))
	if p.stopped.Load() {
		_ = p.sock.SetReadDeadline(time.Unix(1, 0))
	}
	return err
}

func (p *b2b) report(m *dgram.Message, h seq.Header, rtt time.Duration, v seq.Verdict, at time.Duration) {
	if p.reply != nil {
		p.reply(m.Addr.AddrPort, m.N, h, rtt, v, p.base.Add(at))
	}
}

// elapsed runs from the first send to the end of the last transaction.
func (p *b2b) elapsed() time.Duration {
	if p.sent == 0 || p.last < p.first {
		return 0
	}
	return p.last - p.first
}

// rttStats are the round-trip fields of ping's JSON summary.
type rttStats struct {
	MinMs  float64 `json:"rtt_min_ms"`
	AvgMs  float64 `json:"rtt_avg_ms"`
	P50Ms  float64 `json:"rtt_p50_ms"`
	P90Ms  float64 `json:"rtt_p90_ms"`
	P99Ms  float64 `json:"rtt_p99_ms"`
	P999Ms float64 `json:"rtt_p999_ms"`
	MaxMs  float64 `json:"rtt_max_ms"`
}

// statsOf is nil without samples, which leaves the fields out.
func statsOf(h *seq.Histogram) *rttStats {
	if h.Count() == 0 {
		return nil
	}
	return &rttStats{MinMs: msFloat(h.Min()), AvgMs: msFloat(h.Mean()), P50Ms: msFloat(h.Quantile(0.5)),
		P90Ms: msFloat(h.Quantile(0.9)), P99Ms: msFloat(h.Quantile(0.99)), P999Ms: msFloat(h.Quantile(0.999)),
		MaxMs: msFloat(h.Max())}
}

// b2bSummary is ping --back-to-back's JSON summary.
type b2bSummary struct {
	pingCounts
	Late             uint64  `json:"late"`
	Foreign          uint64  `json:"foreign"`
	Unreachable      uint64  `json:"unreachable"`
	TimeoutMs        float64 `json:"timeout_ms"`
	TransactionsPerS float64 `json:"transactions_per_s"`
	*rttStats
}

// runBackToBack is ping --back-to-back, after runPing checked the flags.
func runBackToBack(c *cli.Context, ps pingSetup) error {
	name, to := ps.name, ps.to
	if os.Getenv("GOMAXPROCS") == "" {
		// One goroutine does the work, as in the oneProc commands. A
		// second processor would only idle in epoll_wait (the read
		// deadline is a pending timer) and be woken by every reply: p50
		// 7.3 µs against 4.6 µs with one, on one core with the server.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	// Bound to --iface (SO_BINDTODEVICE, as ping -I binds), the connected
	// socket keeps its route and sends without IP_PKTINFO; where binding
	// is not allowed (no CAP_NET_RAW before Linux 5.7) every datagram
	// names the interface instead.
	cfg := ps.cfg
	cfg.BindDevice = cfg.Iface != ""
	s, err := broadcast.NewSender(cfg)
	if errors.Is(err, unix.EPERM) && cfg.BindDevice {
		cfg.BindDevice = false
		s, err = broadcast.NewSender(cfg)
	}
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	defer s.Close()
	// One server, so no SO_BROADCAST: the kernel then refuses to connect
	// to any address it routes as a broadcast, also one that is no
	// interface's broadcast address (a route of type broadcast), which
	// manyRepliers cannot know.
	if err := s.Socket().SetBroadcast(false); err != nil {
		return failure(name, "%s", explained(err))
	}
	// A connect that fails is a send that fails: no route, say.
	failOp, failed := "send to", s.Connect(to)
	if errors.Is(failed, unix.EACCES) {
		return usageError(name, "%s", severalRepliers(c, "the kernel routes it as a broadcast"))
	}
	p := newB2B(s, to, ps.size, ps.count, ps.wait)
	if !ps.quiet {
		p.reply = replyPrinter(ps.stdout, ps.asJSON)
	}
	if !ps.asJSON {
		from := s.LocalAddr()
		if a, err := s.Socket().Sockname(); err == nil && failed == nil {
			from = a.AddrPort // the source the kernel chose for to
		}
		ps.stderr.Printf("%s: %s, %d bytes, from %s, back to back (a reply later than %v is lost)", name, to, ps.size, from, ps.wait)
	}
	defer p.stopWith(c.Context)()
	for failed == nil && (ps.count == 0 || p.sent < ps.count) {
		var o outcome
		if o, failOp, failed = p.transact(); o == interrupted {
			break
		}
	}
	missing := p.sent - p.received
	lossPct, tps := 0.0, 0.0
	if p.sent > 0 {
		lossPct = 100 * float64(missing) / float64(p.sent)
	}
	el := p.elapsed()
	if el > 0 {
		tps = float64(p.received) / el.Seconds()
	}
	if ps.asJSON {
		if failed != nil {
			ps.stdout.JSON(sentJSON{Type: "error", TS: time.Now().Format(time.RFC3339Nano), Dst: addrText(to.Addr()), Dport: to.Port(),
				Iface: ps.cfg.Iface, Len: len(p.payload), Seq: p.sent + 1, Error: userText(failed), Explain: broadcast.Explain(failed)})
		}
		ps.stdout.JSON(b2bSummary{pingCounts: pingCounts{Type: "summary", Mode: "back-to-back", Dst: addrText(to.Addr()), Dport: to.Port(),
			Size: ps.size, Sent: p.sent, Received: p.received, Missing: missing, LossPct: lossPct, Duplicates: p.duplicates,
			ElapsedS: el.Seconds()}, Late: p.late, Foreign: p.foreign, Unreachable: p.unreachable, TimeoutMs: msFloat(ps.wait),
			TransactionsPerS: tps, rttStats: statsOf(&p.hist)})
	} else {
		ps.stdout.Printf("--- %s ping, back to back ---", to)
		line := fmt.Sprintf("%d sent, %d received, %.1f%% loss", p.sent, p.received, lossPct)
		for _, c := range []struct {
			n    uint64
			what string
		}{{p.duplicates, "duplicates"}, {p.late, "late"}, {p.foreign, "unstamped"}, {p.unreachable, "port unreachable"}} {
			if c.n > 0 {
				line += fmt.Sprintf(", %d %s", c.n, c.what)
			}
		}
		ps.stdout.Printf("%s, time %.3fs, %.0f transactions/s", line, el.Seconds(), tps)
		if h := &p.hist; h.Count() > 0 {
			ps.stdout.Printf("rtt min/avg/p50/p90/p99/p999/max = %s/%s/%s/%s/%s/%s/%s ms", ms(h.Min()), ms(h.Mean()),
				ms(h.Quantile(0.5)), ms(h.Quantile(0.9)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(h.Max()))
		}
	}
	switch {
	case failed != nil:
		return failure(name, "%s %s: %s", failOp, to, explained(failed))
	case p.received == 0 && (p.sent > 0 || p.cut):
		// Also after Ctrl-C: nothing came back, whatever ended the run.
		msg := fmt.Sprintf("%s: no reply from %s", name, to)
		if p.unreachable > 0 {
			msg += " (port unreachable: nothing listens there)"
		}
		return cli.Exit(msg, exitTimeout)
	}
	return nil
}

// severalRepliers is the refusal of a --to that may reach several servers.
func severalRepliers(c *cli.Context, why string) string {
	return fmt.Sprintf("--back-to-back needs a single echo server, and %s may reach several (%s); give one server's address",
		flagVal(c, "to", c.String("to")), why)
}

// replyPrinter prints one line (or JSON object) per reply, as ping without
// --back-to-back does.
func replyPrinter(stdout *out, asJSON bool) func(netip.AddrPort, int, seq.Header, time.Duration, seq.Verdict, time.Time) {
	return func(src netip.AddrPort, n int, h seq.Header, rtt time.Duration, v seq.Verdict, at time.Time) {
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if asJSON {
			stdout.JSON(replyOut{Type: "reply", TS: at.Format(time.RFC3339Nano), Src: src.Addr().String(), Sport: src.Port(),
				Seq: h.Seq, Len: n, RTTms: msFloat(rtt), Verdict: v.String()})
			return
		}
		mark := ""
		if v != seq.New {
			mark = " " + v.String()
		}
		stdout.Printf("%d bytes from %s seq %d rtt %s ms%s", n, src, h.Seq, ms(rtt), mark)
	}
}
