package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/seq"
	"github.com/urfave/cli/v2"
)

const benchDescription = `bench measures what bcast moves over loopback on this machine: it starts
'bcast listen --seq --quiet' as a child process (the same binary) on
127.0.0.1, sends stamped datagrams to it from this process for --duration,
and reports datagrams per second, MB/s and loss, counted exactly from the
stamps: sent, received, missing, and the kernel's drops on the receiving
socket (SO_RXQ_OVFL). It names the send path taken (gso, sendmmsg or
sendmsg; connected or not) and whether the receiver had GRO.

   bcast bench
   bcast bench --size 1400 --duration 5s
   bcast bench --gso --gro
   bcast bench --batch 1 --recv-batch 1          (one system call per datagram)
   bcast bench --rate 100000 --recv-buffer 4194304 --json

pps is the receiver's: datagrams received per second between the first and
the last. Under a flood (--rate 0) loss says how much more the sender
offered than the receiver took; on loopback the sender's system calls also
do most of the receiver's kernel work, so the two processes compete for the
same CPUs. Nothing leaves the machine.`

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:        "bench",
		Usage:       "measure send -> listen over loopback: datagrams/s, MB/s, loss",
		UsageText:   "bcast bench [--duration D] [--size B] [--batch N] [--gso] [--gro] [--rate PPS] [--json]",
		Description: benchDescription,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Value: 3 * time.Second, Usage: "how long the sender sends (`D`, up to 10m)"},
			&cli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: 64, Usage: "datagram length in `BYTES` (40-65507: the stamp takes 40)"},
			&cli.IntFlag{Name: "batch", Value: defaultSendBatch, DefaultText: fmt.Sprintf("%d, %d with --gso", defaultSendBatch, defaultGSOBatch), Usage: "the sender's " + sendBatchUsage},
			&cli.IntFlag{Name: "recv-batch", Value: defaultListenBatch, Usage: "the receiver's datagrams per system call (`N`, 1-1024)"},
			&cli.BoolFlag{Name: "gso", Usage: "send with GSO (bcast send --gso)"},
			&cli.BoolFlag{Name: "gro", Usage: "receive with GRO (bcast listen --gro)"},
			&cli.BoolFlag{Name: "connect", Value: true, Usage: "connect the sending socket (--connect=false: not)"},
			&cli.Float64Flag{Name: "rate", Usage: "datagrams per second (`PPS`; 0: as fast as possible)"},
			&cli.IntFlag{Name: "recv-buffer", Usage: "the receiver's SO_RCVBUF in `BYTES` (0: the kernel's default)"},
			jsonFlag(),
		},
		Action: runBench,
	}
}

// benchPlan is a validated bench command.
type benchPlan struct {
	duration  time.Duration
	size      int
	batch     int
	recvBatch int
	gso, gro  bool
	connect   bool
	rate      float64
	recvBuf   int
	json      bool
}

func planBench(c *cli.Context) (*benchPlan, error) {
	if c.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", c.Args().First())
	}
	b := &benchPlan{
		duration: c.Duration("duration"), size: c.Int("size"), recvBatch: c.Int("recv-batch"),
		gso: c.Bool("gso"), gro: c.Bool("gro"), connect: c.Bool("connect"), rate: c.Float64("rate"),
		recvBuf: c.Int("recv-buffer"), json: c.Bool("json"),
	}
	switch {
	case b.duration <= 0 || b.duration > 10*time.Minute:
		return nil, fmt.Errorf("--duration %v: must be above 0 and at most 10m", b.duration)
	case b.rate < 0 || b.rate > 1e9:
		return nil, fmt.Errorf("--rate %v: must be 0 (as fast as possible) to 1e9", b.rate)
	case b.recvBuf < 0:
		return nil, fmt.Errorf("--recv-buffer %d: must not be negative", b.recvBuf)
	}
	var err error
	if b.batch, err = sendBatchFlag(c, b.gso); err != nil {
		return nil, err
	}
	if err := checkRange("size", b.size, seq.HeaderLen, maxPayload); err != nil {
		return nil, err
	}
	if err := checkRange("recv-batch", b.recvBatch, 1, maxBatch); err != nil {
		return nil, err
	}
	return b, nil
}

// benchIdle is how long the receiver waits after the last datagram: the
// end of the flood, since loopback neither delays nor reorders much.
const benchIdle = 500 * time.Millisecond

func runBench(c *cli.Context) error {
	const name = "bcast bench"
	b, err := planBench(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	exe, err := os.Executable()
	if err != nil {
		return failure(name, "cannot find this program to start the receiver: %v", err)
	}
	load := loadAverage()

	rx, err := startReceiver(exe, b)
	if err != nil {
		return failure(name, "%v", err)
	}
	defer rx.stop()
	first, err := rx.line(5 * time.Second)
	if err != nil || first["type"] != "listening" {
		return failure(name, "the receiver did not start: %v%s", errOr(err, fmt.Sprintf("first line %v", first)), rx.stderrText())
	}
	to, err := netip.ParseAddrPort(fmt.Sprint(first["addr"]))
	if err != nil {
		return failure(name, "the receiver reported address %v: %v", first["addr"], err)
	}

	sp := &sendPlan{
		to: to, cfg: broadcast.SenderConfig{Network: "udp4", GSO: b.gso},
		payload: pad(make([]byte, seq.HeaderLen), b.size), stamp: true,
		batch: b.batch, connect: b.connect, quiet: true, json: true,
	}
	if b.rate > 0 {
		sp.interval = time.Duration(float64(time.Second) / b.rate)
	}
	sctx, cancel := context.WithTimeout(c.Context, b.duration)
	defer cancel()
	start := time.Now()
	// The sender's per-datagram output (none with quiet, but a failure)
	// goes nowhere; its notes (GSO refused) go to standard error.
	res, err := sp.execute(sctx, seq.NewRun(), newOut(io.Discard), stderr, name)
	sendElapsed := time.Since(start)
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	if res.fatal != nil {
		return failure(name, "sending: %s", explained(res.fatal))
	}

	sum, err := rx.summary(benchIdle + 3*time.Second)
	if err != nil {
		return failure(name, "%v%s", err, rx.stderrText())
	}
	rep := benchReport(b, res, sendElapsed, sum)
	rep["load_before"] = load
	if b.json {
		stdout.JSON(rep)
	} else {
		stdout.Printf("%s", benchText(b, rep))
	}
	return nil
}

func errOr(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

// benchReport turns the sender's result and the receiver's summary into the
// report's fields.
func benchReport(b *benchPlan, res streamResult, sendElapsed time.Duration, sum map[string]any) map[string]any {
	f := func(k string) float64 { v, _ := sum[k].(float64); return v }
	received := uint64(f("received"))
	bytes := f("bytes")
	span := f("last_s") - f("first_s")
	pps, mbps := 0.0, 0.0
	if span > 0 {
		pps, mbps = float64(received)/span, bytes/span/1e6
	}
	missing := uint64(0)
	if res.sent > received {
		missing = res.sent - received
	}
	loss := 0.0
	if res.sent > 0 {
		loss = 100 * float64(missing) / float64(res.sent)
	}
	sendPPS := 0.0
	if sendElapsed > 0 {
		sendPPS = float64(res.sent) / sendElapsed.Seconds()
	}
	rep := map[string]any{
		"type": "bench", "size": b.size, "duration_s": b.duration.Seconds(), "rate": b.rate,
		"batch": b.batch, "recv_batch": b.recvBatch, "path": res.path, "connected": res.connected,
		"gso": b.gso, "gro": sum["gro"] == true,
		"sent": res.sent, "send_pps": sendPPS, "send_seconds": sendElapsed.Seconds(),
		"received": received, "missing": missing, "loss_pct": loss, "kernel_drops": uint64(f("kernel_drops")),
		"duplicates": uint64(f("duplicates")), "reordered": uint64(f("reordered")),
		"pps": pps, "mbps": mbps, "recv_seconds": span,
	}
	if b.gso {
		rep["gso_sends"], rep["gso_datagrams"], rep["gso_refused"] = res.gso.GSOSends, res.gso.GSODatagrams, res.gso.Refused
	}
	if c, ok := sum["coalesced"].(float64); ok {
		rep["coalesced"] = uint64(c)
	}
	return rep
}

func benchText(b *benchPlan, rep map[string]any) string {
	rate := "as fast as possible"
	if b.rate > 0 {
		rate = fmt.Sprintf("at %.0f/s", b.rate)
	}
	path := fmt.Sprint(rep["path"])
	if path != pathSendmsg {
		path += fmt.Sprintf(" (batches of %d)", b.batch)
	}
	if rep["connected"] == true {
		path += ", connected"
	}
	if b.gso && rep["path"] != pathGSO {
		path += " (GSO asked for, not used)"
	}
	gro := "off"
	if rep["gro"] == true {
		gro = fmt.Sprintf("on, %d datagrams arrived coalesced", rep["coalesced"])
	} else if b.gro {
		gro = "asked for, not available"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "bcast bench: %d-byte datagrams over 127.0.0.1 for %v, %s (load average %s)\n", b.size, b.duration, rate, rep["load_before"])
	fmt.Fprintf(&sb, "send     %12d datagrams  %10.0f pps  %s\n", rep["sent"], rep["send_pps"], path)
	fmt.Fprintf(&sb, "receive  %12d datagrams  %10.0f pps  %8.1f MB/s  recvmmsg batch %d, GRO %s\n",
		rep["received"], rep["pps"], rep["mbps"], b.recvBatch, gro)
	fmt.Fprintf(&sb, "loss     %12d missing (%.2f%%), kernel drops %d", rep["missing"], rep["loss_pct"], rep["kernel_drops"])
	return sb.String()
}

// loadAverage is the 1, 5 and 15 minute load averages, to judge how noisy
// a run was; "" when unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// receiverProc is the bench's `bcast listen` child.
type receiverProc struct {
	cmd    *exec.Cmd
	lines  chan map[string]any // its JSON lines; closed at the end of its output
	stderr *tailBuffer
}

func startReceiver(exe string, b *benchPlan) (*receiverProc, error) {
	args := []string{"listen", "--listen", "127.0.0.1:0", "--seq", "--quiet", "--json",
		"--batch", strconv.Itoa(b.recvBatch), "--idle", benchIdle.String(),
		// A safety net: the bench stops it long before.
		"--timeout", (b.duration + 30*time.Second).String()}
	if b.gro {
		args = append(args, "--gro")
	}
	if b.recvBuf > 0 {
		args = append(args, "--recv-buffer", strconv.Itoa(b.recvBuf))
	}
	cmd := exec.Command(exe, args...)
	// Should the bench die without cleaning up, the kernel ends the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// The child's flags decide, not the user's BCAST_IFACE and the like.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BCAST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &receiverProc{cmd: cmd, lines: make(chan map[string]any, 64), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the receiver %s: %v", exe, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"type": "not-json", "line": sc.Text()}
			}
			select {
			case p.lines <- m:
			default: // with --quiet it prints two lines; never block on more
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // a line too long: keep the child from blocking
	}()
	return p, nil
}

// line returns the receiver's next JSON line, waiting at most d.
func (p *receiverProc) line(d time.Duration) (map[string]any, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case m, ok := <-p.lines:
		if !ok {
			return nil, errClosed
		}
		return m, nil
	case <-t.C:
		return nil, fmt.Errorf("no word from the receiver within %v", d)
	}
}

// summary waits at most d for the receiver's summary line (it ends by
// itself benchIdle after the last datagram), then stops it as Ctrl-C would,
// which also makes it print the summary.
func (p *receiverProc) summary(d time.Duration) (map[string]any, error) {
	deadline := time.Now().Add(d)
	interrupted := false
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			if interrupted {
				return nil, errors.New("the receiver printed no summary")
			}
			_ = p.cmd.Process.Signal(syscall.SIGINT)
			interrupted = true
			deadline = time.Now().Add(2 * time.Second)
			continue
		}
		m, err := p.line(wait)
		if err != nil {
			if errors.Is(err, errClosed) {
				return nil, err
			}
			continue // the deadline check above decides
		}
		if m["type"] == "summary" {
			return m, nil
		}
	}
}

var errClosed = errors.New("the receiver ended without a word")

// stop ends the receiver if it still runs, by its own process handle, and
// reaps it.
func (p *receiverProc) stop() {
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait() // its output said how it went
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(time.Second):
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		return
	case <-time.After(2 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-done
}

// stderrText is the receiver's standard error, for a failure message.
func (p *receiverProc) stderrText() string {
	s := strings.TrimSpace(p.stderr.String())
	if s == "" {
		return ""
	}
	return "\nthe receiver said:\n" + s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
