package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/seq"
	"github.com/bcastdev/bcast/multicast"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

const listenDescription = `Receive datagrams on a port and print one line for each: arrival time,
source, destination (unicast, broadcast or the group), interface, TTL, length
and the payload (as text, or a hex dump with --hex). A datagram larger than
--buffer is reported as truncated with its real length, never silently cut.

   bcast listen --listen :9999
   bcast listen --listen :9999 --iface eth0 --hex
   bcast listen --listen :5000 --group 239.1.2.3 --group 239.1.2.4
   bcast listen --listen '[::]:5000' --group 'ff02::1234%eth0'
   bcast listen --listen :5000 --group 10.0.0.1,232.1.1.1           (SSM: SOURCE,GROUP)
   bcast listen --listen :9999 --count 1 --timeout 5s --json | jq .src
   bcast listen --listen :5000 --group 239.1.2.3 --seq --expect 10000 --quiet

With --seq, datagrams stamped by bcast send --seq are counted: once a second
a line on standard error gives received, missing, duplicates, reordered, the
rate and the kernel's drops (SO_RXQ_OVFL); at the end a summary. Without
--seq the line a second (received, rate, bytes, drops) comes with --progress,
or by itself with --quiet when standard error is a terminal; --no-progress
turns either off. Missing is
exactly sent - received: "sent" is the count each sender planned, or, for a
sender run with --count 0, the highest sequence number seen, raised to
--expect N. The listener stops by itself once --expect distinct datagrams
arrived, after --count datagrams, at --timeout, after --idle without any, or
at Ctrl-C; the summary is printed in every case (on standard output with
--json, on standard error otherwise).

Under a flood, --quiet (no line per datagram) is what keeps up: it reads
--batch datagrams per recvmmsg and only counts them. --gro takes runs of
datagrams from one sender (bcast send --gso) as one buffer each and splits
them again; it asks for a 4 MiB receive buffer unless --recv-buffer is
given (--recv-buffer 0: the kernel's default).

   bcast listen --listen :9999 --quiet --seq --gro

When --iface, or an interface a group was joined on, goes down or away
while listen runs, it says so on standard error and carries on; once the
interface is back (deleted and made again too) it receives there again,
joining the groups anew.

Exit status 3 when --timeout passed and nothing was received.`

func listenCommand() *cli.Command {
	cmd := &cli.Command{
		Name:        "listen",
		Aliases:     []string{"recv"},
		Usage:       "receive datagrams and print each (broadcast, multicast, unicast)",
		UsageText:   "bcast listen --listen [ADDR:]PORT [--group G]... [options]",
		Description: listenDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: "bind `[ADDR:]PORT` (keep the wildcard address to receive broadcasts)"},
			groupFlag("join multicast group `G` (239.1.2.3, ff02::fb%eth0, SOURCE,GROUP; repeatable)"),
			ifaceFlag("only datagrams that arrived on interface `NAME`; join groups there"),
			&cli.BoolFlag{Name: "bind-device", Usage: "also bind the socket to --iface (SO_BINDTODEVICE)"},
			&cli.BoolFlag{Name: "reuse-port", Usage: "share the port with other programs (SO_REUSEADDR, SO_REUSEPORT); with one IPv4 --group, binds the group address"},
			&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}, Usage: "stop after `N` datagrams (0: no limit)"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"w"}, Usage: "stop after `D` in all; exit status 3 if nothing arrived"},
			&cli.DurationFlag{Name: "idle", Usage: "stop when nothing arrived for `D` after the first datagram"},
			&cli.IntFlag{Name: "buffer", Value: 65536, Usage: "buffer per datagram in `BYTES`; a larger datagram is reported truncated with its real length"},
			&cli.IntFlag{Name: "recv-buffer", Usage: "socket receive buffer (SO_RCVBUF) in `BYTES` (0: the kernel's default)"},
			&cli.IntFlag{Name: "batch", Value: defaultListenBatch, Usage: "datagrams read per system call (`N`, 1-1024, recvmmsg)"},
			&cli.BoolFlag{Name: "gro", Usage: "let the kernel hand over runs of datagrams from one sender as one buffer (UDP_GRO; pairs with bcast send --gso); asks for a 4 MiB receive buffer unless --recv-buffer is given"},
			&cli.BoolFlag{Name: "hex", Aliases: []string{"x"}, Usage: "print each payload as a hex dump"},
			&cli.BoolFlag{Name: "seq", Usage: "count the stamps of bcast send --seq: loss, duplicates, reordering, delay"},
			&cli.Uint64Flag{Name: "expect", Usage: "with --seq: `N` datagrams were sent (counts losses at the tail; stops once N arrived)"},
			quietFlag("no line per datagram: only the statistics and the summary"),
			jsonFlag(),
		},
		Action: runListen,
	}
	cmd.Flags = append(cmd.Flags, progressFlags("with --seq, and with --quiet when standard error is a terminal: received, rate, drops")...)
	return cmd
}

// groRecvBuffer is the receive buffer listen --gro asks for unless
// --recv-buffer says otherwise: 64 GRO buffers of 64 KiB.
const groRecvBuffer = 4 << 20

// noVerdict marks a datagram that was not counted (no --seq).
const noVerdict = seq.Verdict(255)

type listenPlan struct {
	cfg      broadcast.ReceiverConfig
	groups   []multicast.Group
	count    uint64
	timeout  time.Duration
	idle     time.Duration
	hex      bool
	stamp    bool
	expect   uint64
	batch    int
	quiet    bool
	json     bool
	progress bool   // a line a second on stderr
	warning  string // said on stderr once listening
}

func planListen(c *cli.Context) (*listenPlan, error) {
	if c.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", c.Args().First())
	}
	p := &listenPlan{
		count: c.Uint64("count"), timeout: c.Duration("timeout"), idle: c.Duration("idle"),
		hex: c.Bool("hex"), stamp: c.Bool("seq"), expect: c.Uint64("expect"),
		quiet: c.Bool("quiet"), json: c.Bool("json"), batch: c.Int("batch"),
	}
	if c.IsSet("expect") && !p.stamp {
		return nil, errors.New("--expect needs --seq")
	}
	// --seq has always shown its counts once a second; without it a
	// terminal gets the line when --quiet leaves nothing else to see.
	var err error
	if p.progress, err = progressWanted(c, p.quiet); err != nil {
		return nil, err
	}
	if p.stamp && !c.Bool("no-progress") {
		p.progress = true
	}
	addr, err := parseEndpoint(c, "listen", c.String("listen"), true)
	if err != nil {
		return nil, err
	}
	p.groups, err = parseGroups(c, c.StringSlice("group"))
	if err != nil {
		return nil, err
	}
	v6 := addr.Addr().Is6() && !addr.Addr().Is4In6()
	for _, g := range p.groups {
		if g.Is6() && !v6 {
			if !addr.Addr().IsUnspecified() {
				return nil, fmt.Errorf("%s is IPv6 but %s is IPv4", flagVal(c, "group", g), flagVal(c, "listen", addr))
			}
			// A dual-stack [::] socket takes IPv4 and IPv6 groups alike.
			addr, v6 = netip.AddrPortFrom(netip.IPv6Unspecified(), addr.Port()), true
		}
	}
	if c.Bool("reuse-port") && addr.Addr() == netip.IPv4Unspecified() {
		addr, p.warning = reusePortGroupBind(addr, p.groups)
	}
	p.cfg = broadcast.ReceiverConfig{
		Network: "udp4", Addr: addr, Iface: c.String("iface"), BindDevice: c.Bool("bind-device"),
		ReusePort: c.Bool("reuse-port"), BufSize: c.Int("buffer"), RecvBuffer: c.Int("recv-buffer"),
		Batch: p.batch, GRO: c.Bool("gro"),
	}
	if v6 {
		p.cfg.Network = "udp6"
	}
	if p.quiet {
		// No line per datagram: ask the kernel only for what the counts
		// use, for --seq the arrival timestamp its delay and jitter are
		// measured by. Each control message left out is CPU saved per
		// datagram under a flood; the drop counter is read from the socket
		// when a line or the summary shows it (Receiver.Drops).
		p.cfg.Metadata = broadcast.MetaNone
		if p.stamp {
			p.cfg.Metadata = broadcast.MetaTime
		}
		// The receive loop owns its goroutine: under a flood it waits in
		// the kernel between bursts instead of parking in the poller.
		p.cfg.WaitInKernel = true
	}
	if p.cfg.BindDevice && p.cfg.Iface == "" {
		return nil, errors.New("--bind-device needs --iface")
	}
	if p.cfg.Iface != "" {
		if err := ifaceCheck(c, "iface", p.cfg.Iface); err != nil {
			return nil, err
		}
	}
	if err := inRange(c, "buffer", p.cfg.BufSize, 1, 1<<20); err != nil {
		return nil, err
	}
	if err := inRange(c, "recv-buffer", p.cfg.RecvBuffer, 0, maxRecvBuffer); err != nil {
		return nil, err
	}
	if err := inRange(c, "batch", p.batch, 1, maxBatch); err != nil {
		return nil, err
	}
	return p, nil
}

// reusePortGroupBind picks the bind address for an IPv4 wildcard listener
// sharing its port (--reuse-port). Linux hands an IPv4 multicast datagram
// that arrives from another host to one socket of a wildcard SO_REUSEPORT
// group, chosen by a hash of addresses and ports, whether or not that socket
// joined the group (seen on Linux 6.18, with plain sockets too; IPv6 is not
// affected). Bound to the group's address instead, the listener shares a
// reuseport group only with listeners of that same group, each of which
// gets its copy; unicast and broadcast to the port then no longer reach it.
// With several IPv4 groups there is no such address: the listener keeps the
// wildcard and says what may happen.
func reusePortGroupBind(addr netip.AddrPort, groups []multicast.Group) (netip.AddrPort, string) {
	var g4 []netip.Addr
	v6 := false
	for _, g := range groups {
		v6 = v6 || g.Is6()
		if !g.Is6() && !slices.Contains(g4, g.Addr) {
			g4 = append(g4, g.Addr)
		}
	}
	switch {
	case len(g4) == 1 && !v6:
		return netip.AddrPortFrom(g4[0], addr.Port()), ""
	case len(g4) > 1:
		return addr, "with --reuse-port and several IPv4 groups on a wildcard address, Linux may hand this listener datagrams of a group it did not join, and another listener of the port some of this listener's: run one listener per group"
	}
	return addr, ""
}

// openReceiver binds, joins the groups and prints what it did; shared by
// listen and echo.
func openReceiver(name string, cfg broadcast.ReceiverConfig, groups []multicast.Group, stderr *out, quietInfo bool) (*broadcast.Receiver, []multicast.Membership, error) {
	r, err := broadcast.Listen(cfg)
	if err != nil {
		return nil, nil, failure(name, "%s", explained(err))
	}
	for _, w := range r.Warnings() {
		stderr.Printf("%s: warning: %s", name, w)
	}
	var ifaces []string
	if cfg.Iface != "" {
		ifaces = []string{cfg.Iface}
	}
	var joined []multicast.Membership
	for _, g := range groups {
		ms, skipped, err := multicast.Join(r.Socket(), g, ifaces...)
		joined = append(joined, ms...)
		if err != nil && len(ms) == 0 {
			r.Close()
			return nil, nil, failure(name, "cannot join %s: %s", g, explained(err))
		}
		if err != nil {
			stderr.Printf("%s: warning: %v", name, err)
		}
		if !quietInfo {
			for _, m := range ms {
				stderr.Printf("%s: joined %s", name, m)
			}
			for _, s := range skipped {
				if s.Reason != multicast.ReasonJoined {
					stderr.Printf("%s: %s not joined on %s", name, g, s)
				}
			}
		}
	}
	return r, joined, nil
}

// listenState is what the receive loop counts; the live statistics read it
// from another goroutine.
type listenState struct {
	mu          sync.Mutex
	datagrams   uint64
	bytes       uint64
	drops       uint32
	first, last time.Time // arrival of the first and the latest datagram
	tracker     *seq.Tracker
}

// counted is what observe learnt about one datagram, for its line.
type counted struct {
	arrival time.Time
	h       seq.Header
	hn      int // stamp length; 0 when there is none
	verdict seq.Verdict
}

// arrival is when pk arrived: the kernel's timestamp, or now.
func arrival(pk *broadcast.Packet, now time.Time) time.Time {
	if pk.Time.IsZero() {
		return now
	}
	return pk.Time
}

// countAll counts a batch that needs nothing but counting (--quiet without
// --seq); st.mu must be held. At millions of datagrams a second (GRO) the
// per-datagram work is what limits the listener, so it is three adds.
func (st *listenState) countAll(pkts []broadcast.Packet, now time.Time) {
	if len(pkts) == 0 {
		return
	}
	var bytes uint64
	drops := st.drops
	for i := range pkts {
		bytes += uint64(pkts[i].Size)
		drops = max(drops, pkts[i].Drops)
	}
	if st.datagrams == 0 {
		st.first = arrival(&pkts[0], now)
	}
	st.last = arrival(&pkts[len(pkts)-1], now)
	st.datagrams += uint64(len(pkts))
	st.bytes += bytes
	st.drops = drops
}

// observe counts one datagram; st.mu must be held. With --quiet --seq it
// is all the listener does per datagram, so it allocates nothing (but for
// the first datagram of a sender's run, which the tracker records). parse
// looks for a stamp even without --seq, for the datagram's line.
func (st *listenState) observe(pk *broadcast.Packet, stamp, parse bool, now time.Time) counted {
	c := counted{arrival: arrival(pk, now), verdict: noVerdict}
	if st.datagrams == 0 {
		st.first = c.arrival
	}
	st.last = c.arrival
	st.datagrams++
	st.bytes += uint64(pk.Size)
	st.drops = max(st.drops, pk.Drops)
	if !stamp && !parse {
		return c
	}
	h, hn, err := seq.Parse(pk.Data)
	if err == nil {
		c.h, c.hn = h, hn
	}
	switch {
	case !stamp:
	case err != nil:
		st.tracker.Foreign()
	default:
		c.verdict = st.tracker.Observe(h, c.arrival)
	}
	return c
}

func runListen(c *cli.Context) error {
	const name = "bcast listen"
	p, err := planListen(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	r, joined, err := openReceiver(name, p.cfg, p.groups, stderr, p.json)
	if err != nil {
		return err
	}
	defer r.Close()
	stopFollow, err := followReceiver(name, r, p.cfg, p.groups, joined, stderr)
	if err != nil {
		return failure(name, "following interfaces: %s", explained(err))
	}
	defer stopFollow()
	if r.GRO() && !c.IsSet("recv-buffer") {
		// A GRO buffer takes up to 64 KiB of the socket's budget: the
		// kernel's default (208 KiB on most systems) holds three, and a
		// listener woken a little late loses the rest. Ask for more; the
		// kernel caps it at net.core.rmem_max (x2) unless CAP_NET_ADMIN.
		if _, err := r.Socket().SetRecvBuffer(groRecvBuffer); err != nil {
			stderr.Printf("%s: warning: --gro: a larger receive buffer: %v", name, err)
		}
	}
	local := r.LocalAddr()
	if p.json {
		groups := make([]string, 0, len(joined))
		for _, m := range joined {
			groups = append(groups, m.String())
		}
		stdout.JSON(map[string]any{"type": "listening", "addr": local.String(), "port": local.Port(), "network": p.cfg.Network, "joined": groups})
	} else {
		stderr.Printf("%s: listening on %s (%s)", name, local, p.cfg.Network)
	}
	if p.warning != "" {
		stderr.Printf("%s: warning: %s", name, p.warning)
	}

	st := &listenState{tracker: seq.NewTracker(p.expect)}
	ctx := c.Context
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	start := time.Now()
	stopProgress := func() {}
	if p.progress {
		stopProgress = everySecond(stderr, start, st.progressLine(p.stamp, r.Drops))
	}
	defer stopProgress()

	pkts := make([]broadcast.Packet, p.batch)
	seen := make([]counted, p.batch)
	var line []byte
	var recvErr error
	// --idle: the read deadline is set once, idle after the first batch,
	// and moved only when it expires: Receive costs nothing extra while it
	// stays put, and a flood renews it once per idle period, not per batch.
	var lastBatch time.Time
	done := false
	for !done {
		n, err := r.Receive(ctx, pkts)
		if err != nil {
			if p.idle > 0 && !lastBatch.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
				if wait := p.idle - time.Since(lastBatch); wait > 0 {
					_ = r.SetReadDeadline(time.Now().Add(wait))
					continue
				}
			}
			recvErr = err
			break
		}
		now := time.Now()
		if p.idle > 0 && lastBatch.IsZero() {
			_ = r.SetReadDeadline(now.Add(p.idle))
		}
		lastBatch = now
		k := 0
		st.mu.Lock()
		switch {
		case p.quiet && !p.stamp:
			k = n
			if p.count > 0 {
				k = int(min(uint64(n), p.count-st.datagrams))
				done = st.datagrams+uint64(k) >= p.count
			}
			st.countAll(pkts[:k], now)
		case p.quiet:
			for k < n {
				st.observe(&pkts[k], true, false, now)
				k++
				if (p.count > 0 && st.datagrams >= p.count) || (p.expect > 0 && st.tracker.Received() >= p.expect) {
					done = true
					break
				}
			}
		default:
			for k < n {
				seen[k] = st.observe(&pkts[k], p.stamp, true, now)
				k++
				if (p.count > 0 && st.datagrams >= p.count) || (p.stamp && p.expect > 0 && st.tracker.Received() >= p.expect) {
					done = true
					break
				}
			}
		}
		st.mu.Unlock()
		if p.quiet {
			continue
		}
		for i := range k {
			pk, s := &pkts[i], &seen[i]
			if p.json {
				stdout.JSON(datagramJSON(pk, local.Port(), s.arrival, s.h, s.hn, s.verdict))
			} else {
				line = appendDatagram(line[:0], pk, local.Port(), s.arrival, s.h, s.hn, s.verdict, p.hex)
				_, _ = stdout.Write(line)
			}
		}
	}
	elapsed := time.Since(start)
	stopProgress() // no line a second after the summary
	stopFollow()

	st.mu.Lock()
	st.drops = max(st.drops, r.Drops())
	summary := listenSummary(st, r.Filtered(), elapsed, p.stamp)
	datagrams := st.datagrams
	if datagrams > 0 {
		summary["first_s"] = st.first.Sub(start).Seconds()
		summary["last_s"] = st.last.Sub(start).Seconds()
	}
	st.mu.Unlock()
	summary["batch"] = p.batch
	if rb, err := r.Socket().OptionInt(unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
		summary["recv_buffer"] = rb
	}
	summary["gro"] = r.GRO()
	summary["metadata"] = r.Metadata().String()
	summary["wait"] = map[bool]string{false: "poller", true: "kernel"}[p.cfg.WaitInKernel]
	if r.GRO() {
		summary["coalesced"] = r.Coalesced()
	}
	if p.json {
		stdout.JSON(summary)
	} else {
		stderr.Printf("%s", summaryText(summary, p.stamp))
	}

	switch {
	case recvErr == nil, c.Context.Err() != nil:
		return nil // done, or Ctrl-C
	case errors.Is(recvErr, context.DeadlineExceeded), errors.Is(recvErr, os.ErrDeadlineExceeded):
		if datagrams == 0 {
			return cli.Exit(fmt.Sprintf("%s: nothing received within %v", name, p.timeout), exitTimeout)
		}
		return nil
	}
	return failure(name, "%s", explained(recvErr))
}

// progressLine returns the line of each second: with --seq the tracker's
// counts, without it what arrived; the rate is of the last second. drops
// reads the kernel's drop counter, which a quiet listener does not get
// with each datagram.
func (st *listenState) progressLine(stamp bool, drops func() uint32) func(time.Duration) string {
	var last uint64
	return func(elapsed time.Duration) string {
		d := drops()
		st.mu.Lock()
		defer st.mu.Unlock()
		st.drops = max(st.drops, d)
		if !stamp {
			line := fmt.Sprintf("[%5.0fs] received %d rate %d/s bytes %d drops %d",
				elapsed.Seconds(), st.datagrams, st.datagrams-last, st.bytes, st.drops)
			last = st.datagrams
			return line
		}
		s := st.tracker.Progress()
		line := fmt.Sprintf("[%5.0fs] received %d missing %d duplicates %d reordered %d rate %d/s drops %d",
			elapsed.Seconds(), s.Received, s.Missing, s.Duplicates, s.Reordered, s.Received-last, st.drops)
		last = s.Received
		return line
	}
}

type datagramOut struct {
	Type       string  `json:"type"`
	TS         string  `json:"ts"`
	Src        string  `json:"src"`
	Sport      uint16  `json:"sport"`
	Dst        string  `json:"dst"`
	Dport      uint16  `json:"dport"`
	Kind       string  `json:"kind"`
	IfIndex    int     `json:"ifindex"`
	IfName     string  `json:"ifname"`
	TTL        int     `json:"ttl"`
	TOS        int     `json:"tos"`
	Len        int     `json:"len"`
	Captured   int     `json:"captured"`
	Truncated  bool    `json:"truncated"`
	Own        bool    `json:"own"`
	Drops      uint32  `json:"drops"`
	PayloadHex string  `json:"payload_hex"`
	Text       *string `json:"text,omitempty"`
	Seq        *seqOut `json:"seq,omitempty"`
}

type seqOut struct {
	Run     string  `json:"run"`
	Seq     uint64  `json:"seq"`
	Total   uint64  `json:"total"`
	Verdict string  `json:"verdict,omitempty"` // with --seq: new, reordered, duplicate, late, untracked
	DelayUS float64 `json:"delay_us"`
}

func datagramJSON(pk *broadcast.Packet, dport uint16, arrival time.Time, h seq.Header, hn int, v seq.Verdict) datagramOut {
	d := datagramOut{
		Type: "datagram", TS: arrival.Format(time.RFC3339Nano),
		Src: pk.Src.Addr().String(), Sport: pk.Src.Port(), Dst: addrText(pk.Dst), Dport: dport,
		Kind: pk.Kind.String(), IfIndex: pk.IfIndex, IfName: pk.IfName, TTL: pk.TTL, TOS: pk.TOS,
		Len: pk.Size, Captured: len(pk.Data), Truncated: pk.Truncated, Own: pk.Own, Drops: pk.Drops,
		PayloadHex: hex.EncodeToString(pk.Data),
	}
	if body := pk.Data[hn:]; len(body) > 0 && printable(body) {
		text := string(body)
		d.Text = &text
	}
	if hn > 0 {
		d.Seq = &seqOut{Run: fmt.Sprintf("%016x", h.Run), Seq: h.Seq, Total: h.Total,
			DelayUS: micros(arrival.Sub(h.SentTime()))}
		if v != noVerdict {
			d.Seq.Verdict = v.String()
		}
	}
	return d
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// appendHostPort appends a with port as an address with a port is
// written everywhere: 10.0.0.1:53, [ff02::1234]:5040 (IPv6 in brackets,
// so that the port cannot be read as part of the address). An unknown
// address leaves only ":PORT".
func appendHostPort(b []byte, a netip.Addr, port uint16) []byte {
	if !a.IsValid() {
		return fmt.Appendf(b, ":%d", port)
	}
	return netip.AddrPortFrom(a, port).AppendTo(b)
}

// hostPort is appendHostPort as a string.
func hostPort(a netip.Addr, port uint16) string { return string(appendHostPort(nil, a, port)) }

// appendDatagram appends the line a person reads for one datagram.
func appendDatagram(b []byte, pk *broadcast.Packet, dport uint16, arrival time.Time, h seq.Header, hn int, v seq.Verdict, hexdump bool) []byte {
	b = append(b, tsText(arrival)...)
	b = append(b, ' ')
	b = pk.Src.AppendTo(b)
	b = append(b, " > "...)
	b = appendHostPort(b, pk.Dst, dport)
	b = fmt.Appendf(b, " %s", pk.Kind)
	if pk.IfName != "" {
		b = append(b, ' ')
		b = append(b, pk.IfName...)
	}
	if pk.TTL >= 0 {
		b = fmt.Appendf(b, " ttl %d", pk.TTL)
	}
	b = fmt.Appendf(b, " len %d", pk.Size)
	if pk.Truncated {
		b = fmt.Appendf(b, " TRUNCATED to %d (--buffer)", len(pk.Data))
	}
	if pk.Own {
		b = append(b, " own"...)
	}
	if hn > 0 {
		total := "?"
		if h.Total != 0 {
			total = fmt.Sprint(h.Total)
		}
		b = fmt.Appendf(b, " seq %d/%s run %08x delay %sms", h.Seq, total, h.Run>>32, ms(arrival.Sub(h.SentTime())))
		if v != seq.New && v != noVerdict {
			b = append(b, ' ')
			b = append(b, strings.ToUpper(v.String())...)
		}
	}
	if !hexdump {
		b = appendPayload(b, pk.Data[hn:])
		return append(b, '\n')
	}
	b = append(b, '\n')
	return appendHexdump(b, pk.Data)
}

func listenSummary(st *listenState, filtered uint64, elapsed time.Duration, stamp bool) map[string]any {
	m := map[string]any{
		"type": "summary", "datagrams": st.datagrams, "received": st.datagrams, "bytes": st.bytes,
		"kernel_drops": st.drops, "filtered": filtered, "elapsed_s": elapsed.Seconds(),
	}
	if !stamp {
		return m
	}
	s := st.tracker.Summary()
	m["sent"] = s.Sent
	m["received"] = s.Received
	m["missing"] = s.Missing
	m["duplicates"] = s.Duplicates
	m["reordered"] = s.Reordered
	m["late"] = s.Late
	m["foreign"] = s.Foreign
	m["untracked"] = s.Untracked
	m["runs"] = s.Runs
	if s.Received > 0 {
		m["delay_min_us"] = micros(s.DelayMin)
		m["delay_avg_us"] = micros(s.DelayAvg)
		m["delay_max_us"] = micros(s.DelayMax)
		m["jitter_us"] = micros(s.Jitter)
	}
	return m
}

func summaryText(m map[string]any, stamp bool) string {
	line := fmt.Sprintf("%s (%s) in %.3fs; kernel drops %d", plural(m["datagrams"].(uint64), "datagram"), plural(m["bytes"].(uint64), "byte"), m["elapsed_s"], m["kernel_drops"])
	if f := m["filtered"].(uint64); f > 0 {
		line += fmt.Sprintf("; %d on other interfaces skipped", f)
	}
	if c, ok := m["coalesced"].(uint64); ok {
		line += fmt.Sprintf("; %d arrived coalesced (GRO)", c)
	}
	if !stamp {
		return line
	}
	sent := m["sent"].(uint64)
	loss := 0.0
	if sent > 0 {
		loss = 100 * float64(m["missing"].(uint64)) / float64(sent)
	}
	line += fmt.Sprintf("\nsent %d received %d missing %d (%.2f%%) duplicates %d reordered %d",
		sent, m["received"], m["missing"], loss, m["duplicates"], m["reordered"])
	if l := m["late"].(uint64); l > 0 {
		line += fmt.Sprintf(" late %d (beyond the %d-datagram window: not counted as received)", l, seq.Window)
	}
	if f := m["foreign"].(uint64); f > 0 {
		line += fmt.Sprintf(" unstamped %d", f)
	}
	if _, ok := m["delay_avg_us"]; ok {
		line += fmt.Sprintf("\none-way delay min/avg/max %.3f/%.3f/%.3f ms, jitter %.3f ms",
			m["delay_min_us"].(float64)/1e3, m["delay_avg_us"].(float64)/1e3, m["delay_max_us"].(float64)/1e3, m["jitter_us"].(float64)/1e3)
	}
	return line
}
