package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/pace"
	"github.com/bcastdev/bcast/internal/seq"
	"github.com/urfave/cli/v2"
)

const pingDescription = `Measure round-trip times against bcast echo (or any UDP echo service): each
datagram carries a sequence stamp, and the reply is matched to its send time.

   bcast ping --to 10.0.0.7:7777
   bcast ping --to 10.0.0.7:7777 --count 1000 --interval 10ms --quiet
   bcast ping --to 10.0.0.255:7777 --count 3        (every echo server on the subnet answers)
   bcast ping --to 10.0.0.7:7777 --back-to-back --count 100000 --wait 100ms --quiet

The summary gives sent, received, loss, duplicates (a broadcast ping is
answered by each server: the extra replies are duplicates), reordered
replies, and min/avg/max/p99 round-trip time (p99 within 0.8%). After the
last datagram, ping waits --wait for the replies still out (all of --wait
for a broadcast or group address, where more servers may answer).

--back-to-back keeps one datagram in flight, as netperf's UDP_RR and
sockperf's ping-pong do: the next is sent as soon as the reply to this one
is in, or, when none comes within --wait, the datagram is counted lost and
the next is sent. It measures round trips under no load of ping's own and
reports transactions/s and p50/p90/p99/p999 (within 0.8%). It needs one
server (a broadcast or group address is refused) and takes no --interval.
A reply to an earlier datagram that comes after its --wait is counted late,
a second copy of a reply a duplicate; neither is taken for the awaited one.
A datagram cut short by Ctrl-C is not counted. With --iface the socket is
bound to the interface (SO_BINDTODEVICE, as ping -I binds). Back to back
runs on one processor (GOMAXPROCS=1) unless the environment sets
GOMAXPROCS.

Exit status 0 when any reply came back, 3 when none did, 1 when a send
failed.`

func pingCommand() *cli.Command {
	return &cli.Command{
		Name:        "ping",
		Usage:       "round-trip times against bcast echo",
		UsageText:   "bcast ping --to ADDR:PORT [options]",
		Description: pingDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Aliases: []string{"t"}, Usage: "the echo server `ADDR:PORT` (a broadcast or group address reaches several)"},
			&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}, Value: 5, Usage: "datagrams to send (`N`; 0: until Ctrl-C)"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time between datagrams (`D`)"},
			&cli.BoolFlag{Name: "back-to-back", Usage: "one datagram in flight: the next goes as soon as the reply is in, or --wait after it without one (transactions/s, like netperf UDP_RR)"},
			&cli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: 64, Usage: "datagram length in `BYTES` (40, the stamp, to 65507 over IPv4 or 65527 over IPv6)"},
			&cli.DurationFlag{Name: "wait", Value: 2 * time.Second, Usage: "after the last datagram, wait `D` for replies (--back-to-back: for each reply)"},
			ifaceFlag("send out of interface `NAME`"),
			ttlFlag("IP TTL / IPv6 hop limit (`N`, 1-255)"),
			quietFlag("only the summary"),
			jsonFlag(),
		},
		Action: runPing,
	}
}

type pingState struct {
	mu      sync.Mutex
	tracker *seq.Tracker
	hist    seq.Histogram
	sentAt  [4096]struct {
		seq uint64
		at  time.Time // with the monotonic reading
	}
	foreign uint64
}

// pingSetup is what runPing makes of the flags, for runBackToBack.
type pingSetup struct {
	name           string
	to             netip.AddrPort
	size           int
	count          uint64
	wait           time.Duration
	cfg            broadcast.SenderConfig
	quiet, asJSON  bool
	stdout, stderr *out
}

// pingCounts are the fields both modes' JSON summaries begin with.
type pingCounts struct {
	Type       string  `json:"type"`
	Mode       string  `json:"mode"` // "interval" or "back-to-back"
	Dst        string  `json:"dst"`
	Dport      uint16  `json:"dport"`
	Size       int     `json:"size"`
	Sent       uint64  `json:"sent"`
	Received   uint64  `json:"received"`
	Missing    uint64  `json:"missing"`
	LossPct    float64 `json:"loss_pct"`
	Duplicates uint64  `json:"duplicates"`
	ElapsedS   float64 `json:"elapsed_s"`
}

// pingSummary is ping's JSON summary without --back-to-back.
type pingSummary struct {
	pingCounts
	Reordered uint64 `json:"reordered"`
	*rttStats
}

type replyOut struct {
	Type    string  `json:"type"`
	TS      string  `json:"ts"`
	Src     string  `json:"src"`
	Sport   uint16  `json:"sport"`
	Seq     uint64  `json:"seq"`
	Len     int     `json:"len"`
	RTTms   float64 `json:"rtt_ms"`
	Verdict string  `json:"verdict"`
}

func runPing(c *cli.Context) error {
	const name = "bcast ping"
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q", c.Args().First())
	}
	to, err := parseEndpoint(c, "to", c.String("to"), false)
	if err != nil {
		return usageError(name, "%v", err)
	}
	if to.Port() == 0 {
		return usageError(name, "%s: port 0 cannot be sent to", flagVal(c, "to", c.String("to")))
	}
	size := c.Int("size")
	if err := inRange(c, "size", size, seq.HeaderLen, maxPayloadFor(to.Addr())); err != nil {
		return usageError(name, "%v (ping's stamp takes %d)", err, seq.HeaderLen)
	}
	interval, wait, count := c.Duration("interval"), c.Duration("wait"), c.Uint64("count")
	cfg := broadcast.SenderConfig{Network: "udp4", Iface: c.String("iface")}
	if a := to.Addr(); a.Is6() && !a.Is4In6() {
		cfg.Network = "udp6"
	}
	if to, cfg.Iface, err = destIface(c, "to", to, cfg.Iface); err != nil {
		return usageError(name, "%v", err)
	}
	if c.IsSet("ttl") {
		if err := inRange(c, "ttl", c.Int("ttl"), 1, 255); err != nil {
			return usageError(name, "%v", err)
		}
		cfg.TTL = c.Int("ttl")
	}
	quiet, asJSON := c.Bool("quiet"), c.Bool("json")
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	if c.Bool("back-to-back") {
		if c.IsSet("interval") {
			return usageError(name, "--back-to-back and %s: give one (back to back, the next datagram goes as soon as the reply is in)", flagVal(c, "interval", interval))
		}
		if a := to.Addr().Unmap(); a.IsMulticast() {
			return usageError(name, "%s", severalRepliers(c, "a multicast group"))
		} else if manyRepliers(a) {
			return usageError(name, "%s", severalRepliers(c, "a broadcast address"))
		}
		if wait <= 0 {
			return usageError(name, "%s: a reply could never come in time; --back-to-back needs a --wait above 0", flagVal(c, "wait", wait))
		}
		return runBackToBack(c, pingSetup{name: name, to: to, size: size, count: count, wait: wait, cfg: cfg,
			quiet: quiet, asJSON: asJSON, stdout: stdout, stderr: stderr})
	}

	s, err := broadcast.NewSender(cfg)
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	defer s.Close()

	run := seq.NewRun()
	st := &pingState{tracker: seq.NewTracker(0)}
	allIn := make(chan struct{}, 1) // a reply arrived: the main loop checks whether all are in
	// The receiver is stopped with a read deadline in the past rather than
	// a context: dgram's ...Context calls block when the context has ended
	// before the call starts, which a stop between two reads would hit.
	var stopped atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pingReceive(&stopped, s, run, st, stdout, quiet, asJSON, allIn)
	}()
	var stopOnce sync.Once
	stopRecv := func() {
		stopOnce.Do(func() {
			stopped.Store(true)
			_ = s.Socket().SetReadDeadline(time.Unix(1, 0))
			wg.Wait()
		})
	}
	defer stopRecv()

	if !asJSON {
		stderr.Printf("%s: %s, %d bytes, from %s", name, to, size, s.LocalAddr())
	}
	payload := pad(make([]byte, seq.HeaderLen), size)
	pacer := pace.NewPacer(interval)
	var sent uint64
	var sendErr error
	start := time.Now()
	for count == 0 || sent < count {
		if _, err := pacer.Wait(c.Context, 1); err != nil {
			break
		}
		sent++
		now := time.Now()
		seq.Header{Run: run, Seq: sent, Total: count, Sent: now.UnixNano()}.Put(payload)
		st.mu.Lock()
		slot := &st.sentAt[sent%uint64(len(st.sentAt))]
		slot.seq, slot.at = sent, now
		st.mu.Unlock()
		if err := s.Send(payload, to); err != nil {
			sendErr = err
			if asJSON {
				// As send reports a failed datagram: an object on
				// standard output, besides the message on standard error.
				stdout.JSON(sentJSON{Type: "error", TS: now.Format(time.RFC3339Nano), Dst: addrText(to.Addr()), Dport: to.Port(),
					Iface: cfg.Iface, Len: len(payload), Seq: sent, Error: userText(err), Explain: broadcast.Explain(err)})
			}
			sent--
			break
		}
	}
	// Wait for the replies still out, unless all are in or Ctrl-C. Several
	// servers answer a broadcast or a group: then the whole --wait is
	// spent collecting them.
	many := manyRepliers(to.Addr())
	if sendErr == nil && c.Context.Err() == nil {
		deadline := time.NewTimer(wait)
	waiting:
		for {
			st.mu.Lock()
			got := st.tracker.Received()
			st.mu.Unlock()
			if got >= sent && !many {
				break
			}
			select {
			case <-allIn:
			case <-deadline.C:
				break waiting
			case <-c.Context.Done():
				break waiting
			}
		}
		deadline.Stop()
	}
	stopRecv()
	elapsed := time.Since(start)

	st.mu.Lock()
	sum := st.tracker.Summary()
	h := st.hist
	st.mu.Unlock()
	received := sum.Received
	lossPct := 0.0
	if sent > 0 {
		lossPct = 100 * float64(sent-min(received, sent)) / float64(sent)
	}
	if asJSON {
		stdout.JSON(pingSummary{pingCounts: pingCounts{Type: "summary", Mode: "interval", Dst: addrText(to.Addr()), Dport: to.Port(),
			Size: size, Sent: sent, Received: received, Missing: sent - min(received, sent), LossPct: lossPct,
			Duplicates: sum.Duplicates, ElapsedS: elapsed.Seconds()}, Reordered: sum.Reordered, rttStats: statsOf(&h)})
	} else {
		stdout.Printf("--- %s ping ---", to)
		line := fmt.Sprintf("%d sent, %d received, %.1f%% loss", sent, received, lossPct)
		if sum.Duplicates > 0 {
			line += fmt.Sprintf(", %d duplicates", sum.Duplicates)
		}
		if sum.Reordered > 0 {
			line += fmt.Sprintf(", %d reordered", sum.Reordered)
		}
		stdout.Printf("%s, time %.3fs", line, elapsed.Seconds())
		if h.Count() > 0 {
			stdout.Printf("rtt min/avg/max/p99 = %s/%s/%s/%s ms", ms(h.Min()), ms(h.Mean()), ms(h.Max()), ms(h.Quantile(0.99)))
		}
	}
	switch {
	case sendErr != nil:
		return failure(name, "send to %s: %s", to, explained(sendErr))
	case received == 0 && sent > 0:
		// Also after Ctrl-C: nothing came back, whatever ended the run.
		return cli.Exit(fmt.Sprintf("%s: no reply from %s", name, to), exitTimeout)
	}
	return nil
}

// manyRepliers reports whether a datagram to a may reach several hosts: a
// group, the limited broadcast address, or the broadcast address of a
// subnet of this host.
func manyRepliers(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsMulticast() || a == broadcast.LimitedBroadcast() {
		return true
	}
	ifs, _ := broadcast.Interfaces()
	for _, ifi := range ifs {
		for _, ad := range ifi.Addrs {
			if ad.Broadcast == a {
				return true
			}
		}
	}
	return false
}

func msFloat(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pingReceive reads replies on the sender's socket until stopped is set
// (and the read deadline passed to wake it).
func pingReceive(stopped *atomic.Bool, s *broadcast.Sender, run uint64, st *pingState, stdout *out, quiet, asJSON bool, arrived chan<- struct{}) {
	buf := make([]byte, 65536)
	sock := s.Socket()
	printReply := replyPrinter(stdout, asJSON)
	for !stopped.Load() {
		n, from, err := sock.RecvFrom(buf, 0)
		now := time.Now()
		if err != nil {
			if stopped.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			var te *dgram.TruncatedError
			if !errors.As(err, &te) {
				// A transient error, such as ECONNREFUSED when an ICMP
				// port unreachable answered an earlier datagram: read on.
				continue
			}
		}
		h, _, perr := seq.Parse(buf[:n])
		if perr != nil || h.Run != run {
			st.mu.Lock()
			st.foreign++
			st.mu.Unlock()
			continue
		}
		st.mu.Lock()
		v := st.tracker.Observe(h, now)
		slot := st.sentAt[h.Seq%uint64(len(st.sentAt))]
		var rtt time.Duration
		if slot.seq == h.Seq {
			rtt = now.Sub(slot.at) // monotonic
		} else {
			rtt = now.Sub(h.SentTime()) // older than the ring: wall clock
		}
		if v.IsNew() {
			st.hist.Add(rtt)
		}
		st.mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
		if !quiet {
			printReply(from.AddrPort, n, h, rtt, v, now)
		}
	}
}
