package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/bcastdev/bcast/internal/pace"
	"github.com/bcastdev/bcast/internal/seq"
	"github.com/bcastdev/bcast/multicast"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

const sendDescription = `Send datagrams to one address: unicast, a directed or limited broadcast, or an
IPv4/IPv6 multicast group. The payload is --message, --file (- for standard
input) or, without either, standard input when it is not a terminal. By
default all of the input is one datagram; with --lines each line is one
datagram, sent as soon as it is read, newline included, as nc -u sends
what you type (a terminal is read too: Ctrl-D ends it). --interval or --rate
paces the lines; without them they go as they come.

   bcast send --to 192.168.1.255:9999 --message hello
   bcast send --to 255.255.255.255:9999 --iface eth0 --message hello
   bcast send --to 255.255.255.255:9999 --all-interfaces --message hello
   bcast send --to :9999 --all-interfaces --message hello     (directed broadcast on every subnet)
   bcast send --to 239.1.2.3:5000 --ttl 4 --iface eth0 --message hello
   bcast send --to '[ff02::1%eth0]:5000' --message hello
   echo '{"ping":1}' | bcast send --to 10.0.0.7:4000
   bcast send --to 10.0.0.7:4000 --lines                      (type lines; each is a datagram)
   tail -f app.log | bcast send --to 239.1.2.3:5000 --lines --iface eth0
   bcast send --to 239.1.2.3:5000 --seq --count 10000 --rate 1000 --size 200 --quiet

A long run (--count 0, or above 5000) prints a line a second on standard
error when it is a terminal: sent, the rate of the last second, errors, as
iperf3 prints its intervals. --progress prints it anyway, --no-progress
never.

--seq puts a 40-byte stamp (run id, sequence number, planned count, send
time) in front of the payload, so that bcast listen --seq counts loss,
duplicates, reordering and one-way delay exactly. --count 0 sends until
Ctrl-C; the stamp then carries no total, and the receiver learns the count
from the highest sequence number it sees (or from --expect).

To one destination the datagrams go in batches, --batch per system call
(sendmmsg; 256 by default, 1 for one sendmsg each), never more than are due
at --rate or --interval. --gso packs each batch into UDP_SEGMENT sends of up
to 64 datagrams; where the kernel or the interface refuses GSO, send says so
once and carries on without it. A single destination that is not a group or
255.255.255.255 gets a connected socket (--connect=false: not), so the
kernel keeps its route; a port unreachable reported on it is noted and the
datagrams are sent again, as an unconnected socket would have sent them.
--all-interfaces sends each datagram once per interface, one at a time.

   bcast send --to 127.0.0.1:9999 --size 1400 --count 0 --interval 0 --quiet
   bcast send --to 10.0.0.7:9999 --gso --seq --count 1000000 --rate 200000 --quiet

A send error stops the run with exit status 1 and says in plain words what
it means and how to fix it. With --all-interfaces, a failure on one
interface is reported and the others carry on; the exit status is 1 if any
datagram failed.`

// The largest UDP payloads: over IPv4 the 16-bit total length counts the
// IP header (65535 - 20 - 8); over IPv6 the payload length does not
// (65535 - 8).
const (
	maxPayload4 = 65507
	maxPayload6 = 65527
)

// maxPayloadFor is the largest payload for a destination of that family.
func maxPayloadFor(to netip.Addr) int {
	if to.Is6() && !to.Is4In6() {
		return maxPayload6
	}
	return maxPayload4
}

func sendCommand() *cli.Command {
	cmd := &cli.Command{
		Name:        "send",
		Usage:       "send datagrams: unicast, broadcast or multicast",
		UsageText:   "bcast send --to ADDR:PORT [--message TEXT | --file PATH | < input] [options]",
		Description: sendDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Aliases: []string{"t"}, Usage: "destination `ADDR:PORT`: a host, x.x.x.255, 255.255.255.255, a group, [ff02::1%eth0]:PORT, or :PORT with --all-interfaces"},
			ifaceFlag("send out of interface `NAME` (IP_PKTINFO; the multicast interface for a group)"),
			&cli.BoolFlag{Name: "bind-device", Usage: "also bind the socket to --iface (SO_BINDTODEVICE)"},
			&cli.BoolFlag{Name: "all-interfaces", Aliases: []string{"A"}, Usage: "send once out of every interface that can: 255.255.255.255 as a limited broadcast on each, :PORT as each subnet's directed broadcast, a group on each multicast interface"},
			ttlFlag("IP TTL / IPv6 hop limit (`N`, 1-255; the kernel's default is 64, or 1 for a group)"),
			&cli.IntFlag{Name: "tos", Usage: "IP TOS / IPv6 traffic class byte (`N`, 0-255: DSCP<<2 | ECN)"},
			&cli.StringFlag{Name: "src", Usage: "source address `ADDR` (one of this host's)"},
			&cli.BoolFlag{Name: "loopback", Value: true, Usage: "deliver multicast to this host's own listeners too (IP_MULTICAST_LOOP; --loopback=false: not)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "payload `TEXT`"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "payload from `PATH` (- for standard input)"},
			&cli.BoolFlag{Name: "lines", Usage: "one datagram per line of standard input or --file, newline included, each sent as it is read (nc -u's habit); by default all of the input is one datagram"},
			&cli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: -1, Usage: "datagram length in `BYTES`, 0 to 65507 over IPv4 or 65527 over IPv6: pads the payload (or makes one) up to it", DefaultText: "the payload's"},
			&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}, Value: 1, Usage: "datagrams to send (`N`; 0: until Ctrl-C)"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "time between datagrams (`D`; 0: as fast as possible)"},
			&cli.Float64Flag{Name: "rate", Usage: "datagrams per second (`PPS`; 0: as fast as possible), instead of --interval"},
			&cli.BoolFlag{Name: "seq", Usage: "stamp a sequence number and send time (see bcast listen --seq)"},
			&cli.IntFlag{Name: "batch", Value: defaultSendBatch, DefaultText: fmt.Sprintf("%d, %d with --gso", defaultSendBatch, defaultGSOBatch), Usage: sendBatchUsage},
			&cli.BoolFlag{Name: "gso", Usage: "hand each batch to the kernel as UDP_SEGMENT sends (GSO); where the kernel or interface refuses, it says so once and sends without"},
			&cli.BoolFlag{Name: "connect", Value: true, Usage: "connect the socket to a single unicast or directed broadcast --to (the kernel keeps the route); --connect=false: not"},
			quietFlag("print only the summary"),
			jsonFlag(),
		},
		Action: runSend,
	}
	cmd.Flags = append(cmd.Flags, progressFlags("when standard error is a terminal and --count is 0 or above 5000: sent, rate and errors")...)
	return cmd
}

// sendPlan is a validated send command.
type sendPlan struct {
	to       netip.AddrPort
	fanout   fanout
	cfg      broadcast.SenderConfig
	mcast    bool
	loopback bool
	payload  []byte // the whole datagram; with --seq its first 40 bytes are restamped per send
	stamp    bool
	count    uint64
	interval time.Duration
	batch    int  // datagrams per system call; 1: Send
	connect  bool // connect the socket to a single destination
	// until, when set, ends a send to one destination (bench). A context
	// deadline would do, but its timer keeps an idle thread of the
	// runtime in epoll_wait, where the kernel wakes it for every datagram
	// the socket frees; a clock read per batch costs nothing.
	until time.Time
	quiet bool
	json  bool
	// lines (send --lines): one datagram per line of input, which
	// closeInput, when set, closes.
	lines      bool
	input      io.Reader
	closeInput func()
	// progress, when set, counts for the line a second (--progress).
	progress *sendProgress
}

type fanout int

const (
	single   fanout = iota
	limited         // SendAllLimited
	directed        // SendAllDirected
	multiAll        // the group out of every multicast interface
)

func runSend(c *cli.Context) error {
	const name = "bcast send"
	p, err := planSend(c)
	if errors.Is(err, errInterrupted) {
		// Ctrl-C is a normal end (exit 0), but nothing went: say so.
		fmt.Fprintf(c.App.ErrWriter, "%s: %v\n", name, err)
		return nil
	}
	if err != nil {
		return usageError(name, "%v", err)
	}
	if p.closeInput != nil {
		defer p.closeInput()
	}
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	run := seq.NewRun()
	start := time.Now()
	stopProgress := func() {}
	if p.progress != nil {
		stopProgress = everySecond(stderr, start, p.progress.lineFunc())
	}
	res, err := p.execute(c.Context, run, stdout, stderr, name)
	stopProgress()
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	elapsed := time.Since(start)

	if p.json {
		sum := map[string]any{"type": "summary", "sent": res.sent, "errors": res.failed, "bytes": res.bytes,
			"elapsed_s": elapsed.Seconds(), "dst": addrText(p.to.Addr()), "dport": p.to.Port(), "path": res.path, "connected": res.connected, "batch": p.batch}
		if p.stamp {
			sum["run"] = fmt.Sprintf("%016x", run)
		}
		if p.cfg.GSO {
			sum["gso_sends"], sum["gso_datagrams"], sum["gso_refused"] = res.gso.GSOSends, res.gso.GSODatagrams, res.gso.Refused
		}
		if res.refused > 0 {
			sum["port_unreachable"] = res.refused
		}
		stdout.JSON(sum)
	} else if p.count != 1 || p.fanout != single || p.quiet || p.lines {
		rate := 0.0
		if elapsed > 0 {
			rate = float64(res.sent) / elapsed.Seconds()
		}
		line := fmt.Sprintf("%s sent (%s) to %s in %.3fs (%.1f/s), %s; %s", plural(res.sent, "datagram"), plural(res.bytes, "byte"), p.to,
			elapsed.Seconds(), rate, plural(res.failed, "error"), res.pathText())
		if p.stamp {
			line += fmt.Sprintf(", run %016x", run)
		}
		stderr.Printf("%s", line)
	}
	switch {
	case errors.Is(res.fatal, errNoLines):
		return usageError(name, "%v", res.fatal)
	case res.fatal != nil:
		return failure(name, "%s", explained(res.fatal))
	case res.failed > 0:
		return cli.Exit("", exitFailure)
	}
	return nil
}

// execute opens the socket and sends as p says until p.count datagrams went
// or ctx ends. The error is for a socket that could not be set up; a send
// that failed is in the result.
func (p *sendPlan) execute(ctx context.Context, run uint64, stdout, stderr *out, name string) (streamResult, error) {
	s, err := broadcast.NewSender(p.cfg)
	if err != nil {
		return streamResult{}, err
	}
	defer s.Close()
	if p.mcast {
		if err := setupMulticast(s, p); err != nil {
			return streamResult{}, err
		}
	}
	var mifs []net.Interface
	if p.fanout == multiAll {
		mifs, err = multicastTargets(p.cfg.Iface)
		if err != nil {
			return streamResult{}, err
		}
	}
	switch {
	case p.lines:
		return p.sendLines(ctx, s, run, mifs, stdout, stderr), nil
	case p.fanout == single:
		return p.stream(ctx, s, run, stdout, stderr, name), nil
	}
	return p.fanOut(ctx, s, run, mifs, stdout, stderr), nil
}

// fanOut sends each datagram once out of every interface, one sendmsg per
// interface: the kernel takes one destination and interface per call of
// sendmmsg's messages alike, so batching would save nothing worth the
// complexity at the rates a fan-out is used at.
func (p *sendPlan) fanOut(ctx context.Context, s *broadcast.Sender, run uint64, mifs []net.Interface, stdout, stderr *out) streamResult {
	res := streamResult{path: pathSendmsg}
	var n uint64
	pacer := pace.NewPacer(p.interval)
	sendOne := func() error {
		n++
		return p.fanOnce(s, run, mifs, n, &res, stdout, stderr)
	}
	for p.count == 0 || n < p.count {
		most := 64
		if p.count != 0 {
			most = int(min(p.count-n, 64))
		}
		due, err := pacer.Wait(ctx, most)
		if err != nil {
			break // Ctrl-C: the summary still follows
		}
		for range due {
			if err := sendOne(); err != nil {
				res.fatal = err
				return res
			}
		}
	}
	return res
}

// fanOnce sends p.payload, as datagram number n (1-based), once out of
// every interface, and reports and counts each send. The error says that
// nothing could even be tried: no interface.
func (p *sendPlan) fanOnce(s *broadcast.Sender, run uint64, mifs []net.Interface, n uint64, res *streamResult, stdout, stderr *out) error {
	if p.stamp {
		seq.Header{Run: run, Seq: n, Total: p.count, Sent: time.Now().UnixNano()}.Put(p.payload)
	}
	var results []broadcast.Result
	var err error
	switch p.fanout {
	case limited:
		results, err = s.SendAllLimited(p.payload, p.to.Port())
	case directed:
		results, err = s.SendAllDirected(p.payload, p.to.Port())
	case multiAll:
		results = sendEachMulticast(s, p, mifs)
	}
	if len(results) == 0 && err != nil {
		return err
	}
	for _, r := range results {
		if r.Err != nil {
			res.failed++
			p.progress.add(0, 1)
		} else {
			res.sent++
			res.bytes += uint64(len(p.payload))
			p.progress.add(1, 0)
		}
		reportSent(stdout, stderr, p, r, n)
	}
	return nil
}

// errNoLines ends a send --lines whose input held nothing.
var errNoLines = errors.New("nothing to send: the input is empty")

// sendLines sends one datagram per line of p.input (send --lines), each as
// soon as it is read unless --interval or --rate paces them, until the
// input ends or ctx does. A line is sent as nc -u sends it, newline
// included; with --seq behind its stamp.
func (p *sendPlan) sendLines(ctx context.Context, s *broadcast.Sender, run uint64, mifs []net.Interface, stdout, stderr *out) streamResult {
	res := streamResult{path: pathSendmsg}
	if p.fanout == single && p.connect && shouldConnect(p.to) {
		res.connected = s.Connect(p.to) == nil
	}
	result := broadcast.Result{To: p.to, Src: p.cfg.Src}
	result.Iface.Name = p.cfg.Iface
	room := maxPayloadFor(p.to.Addr())
	head := 0
	if p.stamp {
		head = seq.HeaderLen
	}
	buf := make([]byte, head, room)
	pacer := pace.NewPacer(p.interval)
	var n uint64
	err := readLines(ctx, p.input, room-head, func(line []byte) error {
		if _, err := pacer.Wait(ctx, 1); err != nil {
			return err
		}
		n++
		p.payload = append(buf[:head], line...)
		if p.fanout != single {
			return p.fanOnce(s, run, mifs, n, &res, stdout, stderr)
		}
		if p.stamp {
			seq.Header{Run: run, Seq: n, Sent: time.Now().UnixNano()}.Put(p.payload)
		}
		r := result
		r.Err = s.Send(p.payload, p.to)
		if r.Err != nil {
			res.failed++
			p.progress.add(0, 1)
			if p.json {
				reportSent(stdout, stderr, p, r, n) // text says it once, at the end
			}
			return r.Err
		}
		res.sent++
		res.bytes += uint64(len(p.payload))
		p.progress.add(1, 0)
		reportSent(stdout, stderr, p, r, n)
		return nil
	})
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Ctrl-C: the summary still follows.
	case err != nil:
		res.fatal = err
	case n == 0:
		res.fatal = errNoLines
	}
	return res
}

// planSend reads and checks the flags.
func planSend(c *cli.Context) (*sendPlan, error) {
	p := &sendPlan{
		count:    c.Uint64("count"),
		interval: c.Duration("interval"),
		stamp:    c.Bool("seq"),
		quiet:    c.Bool("quiet"),
		json:     c.Bool("json"),
		loopback: c.Bool("loopback"),
		connect:  c.Bool("connect"),
	}
	if c.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (the payload goes in --message)", c.Args().First())
	}
	to, err := parseEndpoint(c, "to", c.String("to"), true)
	if err != nil {
		return nil, err
	}
	if to.Port() == 0 {
		return nil, fmt.Errorf("%s: port 0 cannot be sent to", flagVal(c, "to", c.String("to")))
	}
	p.to = to
	a := to.Addr()
	all := c.Bool("all-interfaces")
	switch {
	case !all && a.IsUnspecified():
		return nil, fmt.Errorf("%s: no address (:PORT means every subnet's directed broadcast, with --all-interfaces)", flagVal(c, "to", c.String("to")))
	case all && a == broadcast.LimitedBroadcast():
		p.fanout = limited
	case all && a == netip.IPv4Unspecified():
		p.fanout = directed
	case all && a.IsMulticast():
		p.fanout = multiAll
	case all:
		return nil, fmt.Errorf("--all-interfaces needs --to 255.255.255.255:PORT, :PORT (directed broadcast on every subnet) or a multicast group, not %s", a)
	}
	p.mcast = a.IsMulticast()

	cfg := broadcast.SenderConfig{Network: "udp4", Iface: c.String("iface"), BindDevice: c.Bool("bind-device")}
	if a.Is6() && !a.Is4In6() {
		cfg.Network = "udp6"
	}
	if p.fanout == multiAll && cfg.Iface != "" {
		if err := ifaceCheck(c, "iface", cfg.Iface); err != nil {
			return nil, err
		}
	} else if p.fanout != multiAll {
		// A fan-out of a link-scoped group zones it per interface.
		if p.to, cfg.Iface, err = destIface(c, "to", p.to, cfg.Iface); err != nil {
			return nil, err
		}
	}
	if cfg.BindDevice && cfg.Iface == "" {
		return nil, errors.New("--bind-device needs --iface")
	}
	if c.IsSet("ttl") {
		if err := inRange(c, "ttl", c.Int("ttl"), 1, 255); err != nil {
			return nil, err
		}
		cfg.TTL = c.Int("ttl")
	}
	if err := inRange(c, "tos", c.Int("tos"), 0, 255); err != nil {
		return nil, err
	}
	cfg.TOS = c.Int("tos")
	if s := c.String("src"); s != "" {
		src, err := netip.ParseAddr(s)
		if err != nil {
			if h := literalHint(s); h != "" {
				return nil, fmt.Errorf("%s%s", flagVal(c, "src", s), h)
			}
			return nil, fmt.Errorf("%s: not an IP address; --src is one of this host's addresses, such as 192.0.2.7", flagVal(c, "src", s))
		}
		if src.Unmap().Is4() != a.Unmap().Is4() {
			return nil, fmt.Errorf("--src %s and --to %s are of different IP versions", src, a)
		}
		cfg.Src = src.Unmap()
	}
	cfg.GSO = c.Bool("gso")
	if p.fanout != single && (c.IsSet("batch") || cfg.GSO) {
		return nil, errors.New("--batch and --gso are for one destination: --all-interfaces sends each datagram once per interface")
	}
	if p.batch, err = sendBatchFlag(c, cfg.GSO); err != nil {
		return nil, err
	}
	p.cfg = cfg

	if c.IsSet("rate") {
		if c.IsSet("interval") {
			return nil, errors.New("--rate and --interval: give one")
		}
		r := c.Float64("rate")
		if r < 0 || r > 1e9 {
			return nil, fmt.Errorf("%s: must be 0 (as fast as possible) to 1e9 datagrams per second", flagVal(c, "rate", r))
		}
		p.interval = 0 // --rate 0: as fast as possible, as in bench
		if r > 0 {
			p.interval = time.Duration(float64(time.Second) / r)
		}
	}
	if p.interval < 0 {
		return nil, fmt.Errorf("--interval %v: must not be negative", p.interval)
	}

	// A long run shows its progress on a terminal by itself: --count 0
	// (until Ctrl-C) or above a few thousand.
	show, err := progressWanted(c, !c.Bool("lines") && (p.count == 0 || p.count > progressAutoCount))
	if err != nil {
		return nil, err
	}
	if show {
		p.progress = &sendProgress{}
	}
	if c.Bool("lines") {
		return p, planLines(c, p)
	}
	payload, err := readPayload(c, p.stamp, a)
	if err != nil {
		return nil, err
	}
	if p.stamp {
		payload = append(make([]byte, seq.HeaderLen, seq.HeaderLen+len(payload)), payload...)
	}
	if c.IsSet("size") {
		size := c.Int("size")
		switch {
		case size < 0 || size > maxPayloadFor(a):
			return nil, fmt.Errorf("%s: must be 0 to %d%s", flagVal(c, "size", size), maxPayloadFor(a), familyNote(a))
		case size < len(payload) && p.stamp && size < seq.HeaderLen:
			return nil, fmt.Errorf("%s: --seq needs at least %d bytes for its stamp", flagVal(c, "size", size), seq.HeaderLen)
		case size < len(payload):
			return nil, fmt.Errorf("%s: smaller than the %d-byte payload", flagVal(c, "size", size), len(payload))
		}
		payload = pad(payload, size)
	}
	if len(payload) > maxPayloadFor(a) {
		return nil, fmt.Errorf("the payload is %d bytes; a UDP datagram holds at most %d%s", len(payload), maxPayloadFor(a), familyNote(a))
	}
	p.payload = payload
	return p, nil
}

// planLines checks the flags of send --lines and opens its input: --file,
// or standard input (a terminal too: type the lines, Ctrl-D ends).
func planLines(c *cli.Context, p *sendPlan) error {
	for _, f := range []struct{ flag, why string }{
		{"message", "--lines and --message: give one (--lines sends the lines of standard input or --file, --message is one datagram)"},
		{"count", "--lines and --count: --lines sends one datagram per line of input, as many as there are lines"},
		{"size", "--lines and --size: --lines sends each line as it is"},
		{"batch", "--lines and --batch: --lines sends each line as soon as it is read, one at a time"},
		{"gso", "--lines and --gso: --lines sends each line as soon as it is read, one at a time"},
	} {
		if c.IsSet(f.flag) {
			return errors.New(f.why)
		}
	}
	if !c.IsSet("interval") && !c.IsSet("rate") {
		p.interval = 0 // as fast as the lines come
	}
	p.lines, p.count, p.batch = true, 0, 1
	switch file := c.String("file"); file {
	case "", "-":
		p.input = c.App.Reader
		if p.input == nil {
			p.input = strings.NewReader("")
		}
	default:
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("--file %s: %v", cmdline.Quote(file), fileProblem(err))
		}
		p.input, p.closeInput = f, func() { f.Close() }
	}
	return nil
}

// readPayload returns the user's payload: --message, --file, or standard
// input when nothing else (not even --seq or --size) says what to send. An
// empty file or standard input is refused unless --seq or --size makes the
// datagram: an empty datagram is asked for with --size 0, not by accident.
func readPayload(c *cli.Context, stamp bool, to netip.Addr) ([]byte, error) {
	msg, file := c.String("message"), c.String("file")
	sized := stamp || c.IsSet("size")
	var b []byte
	var err error
	what := "standard input"
	switch {
	case c.IsSet("message") && file != "":
		return nil, errors.New("--message and --file: give one")
	case c.IsSet("message"):
		return []byte(msg), nil
	case file == "-":
		b, err = readStdin(c, to)
	case file != "":
		f, oerr := os.Open(file)
		if oerr != nil {
			return nil, fmt.Errorf("--file %s: %v", cmdline.Quote(file), fileProblem(oerr))
		}
		defer f.Close()
		what = file
		b, err = readLimited(f, file, to)
	case sized:
		return nil, nil
	default:
		if f, ok := c.App.Reader.(*os.File); ok {
			if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
				return nil, errors.New("nothing to send: give --message TEXT, --file PATH, --size N or --seq, or pipe the payload in")
			}
		}
		b, err = readStdin(c, to)
	}
	if err == nil && len(b) == 0 && !sized {
		return nil, fmt.Errorf("nothing to send: %s is empty (for an empty datagram: --size 0)", what)
	}
	return b, err
}

// errInterrupted ends a send stopped (Ctrl-C) while it waited for its
// payload on standard input.
var errInterrupted = errors.New("stopped while reading standard input; nothing sent")

// readStdin reads standard input, unless the command is stopped first: a
// pipe whose writer is still running ("sleep 3 | bcast send") must not
// keep Ctrl-C waiting, nor be reported as empty.
func readStdin(c *cli.Context, to netip.Addr) ([]byte, error) {
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() {
		b, err := readLimited(c.App.Reader, "standard input", to)
		done <- read{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-c.Context.Done():
		return nil, errInterrupted
	}
}

// fileProblem is why a file could not be opened, without the path the
// caller already names.
func fileProblem(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// familyNote says which family a payload limit is for.
func familyNote(to netip.Addr) string {
	if maxPayloadFor(to) == maxPayload6 {
		return " over IPv6"
	}
	return fmt.Sprintf(" over IPv4 (%d over IPv6)", maxPayload6)
}

// readLimited reads all of r, at most a datagram to to.
func readLimited(r io.Reader, what string, to netip.Addr) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	most := maxPayloadFor(to)
	b, err := io.ReadAll(io.LimitReader(r, int64(most)+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", what, err)
	}
	if len(b) > most {
		return nil, fmt.Errorf("%s holds more than %d bytes, the most a UDP datagram carries%s", what, most, familyNote(to))
	}
	return b, nil
}

// pad extends b to size with a visible pattern, so that a receiver showing
// text sees where the padding is.
func pad(b []byte, size int) []byte {
	const pattern = "abcdefghijklmnopqrstuvwxyz"
	for i := len(b); len(b) < size; i++ {
		b = append(b, pattern[i%len(pattern)])
	}
	return b
}

// setupMulticast sets the options for sending to a group.
func setupMulticast(s *broadcast.Sender, p *sendPlan) error {
	sock := s.Socket()
	if p.cfg.TTL != 0 {
		if err := multicast.SetTTL(sock, p.cfg.TTL); err != nil {
			return err
		}
	}
	if p.cfg.Iface != "" {
		if err := multicast.SetInterface(sock, p.cfg.Iface); err != nil {
			return err
		}
	}
	return multicast.SetLoopback(sock, p.loopback)
}

// multicastTargets are the interfaces --all-interfaces sends a group out of.
func multicastTargets(only string) ([]net.Interface, error) {
	ifs, skipped, err := multicast.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []net.Interface
	for _, ifi := range ifs {
		if only != "" && ifi.Name != only {
			continue
		}
		if only == "" && ifi.Flags&net.FlagLoopback != 0 && len(ifs) > 1 {
			continue // loopback only when it is all there is, as Join does
		}
		out = append(out, ifi)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no interface can send multicast (%v)", skipped)
	}
	return out, nil
}

func sendEachMulticast(s *broadcast.Sender, p *sendPlan, ifs []net.Interface) []broadcast.Result {
	results := make([]broadcast.Result, 0, len(ifs))
	for _, ifi := range ifs {
		to := p.to
		if a := to.Addr(); a.Is6() && (a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast()) {
			to = netip.AddrPortFrom(a.WithZone(ifi.Name), to.Port())
		}
		err := s.SendVia(p.payload, to, ifi.Index, p.cfg.Src)
		results = append(results, broadcast.Result{Iface: broadcast.Interface{Index: ifi.Index, Name: ifi.Name}, To: to, Src: p.cfg.Src, Err: err})
	}
	return results
}

type sentJSON struct {
	Type    string `json:"type"`
	TS      string `json:"ts"`
	Dst     string `json:"dst"`
	Dport   uint16 `json:"dport"`
	Iface   string `json:"iface,omitempty"`
	Src     string `json:"src,omitempty"`
	Len     int    `json:"len"`
	Seq     uint64 `json:"seq,omitempty"`
	Error   string `json:"error,omitempty"`
	Explain string `json:"explain,omitempty"`
}

func reportSent(stdout, stderr *out, p *sendPlan, r broadcast.Result, n uint64) {
	if p.quiet && r.Err == nil {
		return // the per-datagram hot path of a flood: nothing to build
	}
	if p.json {
		j := sentJSON{Type: "sent", TS: time.Now().Format(time.RFC3339Nano), Dst: r.To.Addr().String(), Dport: r.To.Port(),
			Iface: r.Iface.Name, Len: len(p.payload)}
		if r.Src.IsValid() {
			j.Src = r.Src.String()
		}
		if p.stamp {
			j.Seq = n
		}
		if r.Err != nil {
			j.Type, j.Error, j.Explain = "error", userText(r.Err), broadcast.Explain(r.Err)
		}
		if r.Err != nil || !p.quiet {
			stdout.JSON(j)
		}
		return
	}
	if r.Err != nil {
		stderr.Printf("FAIL %s", explained(r.Err))
		return
	}
	if p.quiet {
		return
	}
	line := fmt.Sprintf("sent %d bytes to %s", len(p.payload), r.To)
	if r.Iface.Name != "" {
		line += " via " + r.Iface.Name
	}
	if r.Src.IsValid() {
		line += " from " + r.Src.String()
	}
	if p.stamp {
		line += fmt.Sprintf(" seq %d", n)
	}
	stdout.Printf("%s", line)
}

// explained is err followed by broadcast.Explain's plain words, when it has
// any.
func explained(err error) string {
	if e := broadcast.Explain(err); e != "" {
		return userText(err) + "\n  " + e
	}
	return userText(err)
}

// pkgPrefix matches the Go package names the library's layers put in front
// of their errors ("dgram: sendmsg ...").
var pkgPrefix = regexp.MustCompile(`(^|: )(dgram|broadcast|multicast|discovery|relay|netlink|msghdr): `)

// userText is err's message without those names: a user knows the
// command, not its packages.
func userText(err error) string {
	return pkgPrefix.ReplaceAllString(err.Error(), "$1")
}
