package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/seq"
	"github.com/urfave/cli/v2"
)

const benchDescription = `bench measures what bcast moves over loopback on this machine: it starts
'bcast listen --quiet' as a child process (the same binary) on 127.0.0.1,
sends to it from this process for --duration as 'bcast send' does, and
reports datagrams per second, MB/s and loss: sent, received, missing (sent
- received) and the kernel's drops on the receiving socket (SO_RXQ_OVFL;
with GRO it counts whole buffers of up to 64 datagrams). It names the send
path taken (gso, sendmmsg or sendmsg; connected or not) and whether the
receiver had GRO. With --seq the datagrams carry stamps and the receiver
counts them exactly (duplicates, reordering), at some cost per datagram.

   bcast bench
   bcast bench --size 1400 --duration 5s
   bcast bench --gso --gro
   bcast bench --batch 1 --recv-batch 1          (one system call per datagram)
   bcast bench --rate 100000 --seq --recv-buffer 4194304 --json

pps is the receiver's: datagrams received per second between the first and
the last. Under a flood (--rate 0) loss says how much more the sender
offered than the receiver took; on loopback the sender's system calls also
do most of the receiver's kernel work, so the two processes compete for the
same CPUs, and where the scheduler puts them (one CPU or two) moves the
result more than anything else. Nothing leaves the machine.`

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:        "bench",
		Usage:       "measure send -> listen over loopback: datagrams/s, MB/s, loss",
		UsageText:   "bcast bench [--duration D] [--size B] [--batch N] [--gso] [--gro] [--rate PPS] [--json]",
		Description: benchDescription,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Value: 3 * time.Second, Usage: "how long the sender sends (`D`, up to 10m)"},
			&cli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: 64, Usage: "datagram length in `BYTES` (1-65507; 40 or more with --seq)"},
			&cli.BoolFlag{Name: "seq", Usage: "stamp the datagrams and count them exactly at the receiver (bcast send/listen --seq)"},
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
	stamp     bool
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
		gso: c.Bool("gso"), gro: c.Bool("gro"), stamp: c.Bool("seq"), connect: c.Bool("connect"), rate: c.Float64("rate"),
		recvBuf: c.Int("recv-buffer"), json: c.Bool("json"),
	}
	switch {
	case b.duration <= 0 || b.duration > 10*time.Minute:
		return nil, fmt.Errorf("%s: must be above 0 and at most 10m", flagVal(c, "duration", b.duration))
	case b.rate < 0 || b.rate > 1e9:
		return nil, fmt.Errorf("%s: must be 0 (as fast as possible) to 1e9", flagVal(c, "rate", b.rate))
	}
	if err := inRange(c, "recv-buffer", b.recvBuf, 0, maxRecvBuffer); err != nil {
		return nil, err
	}
	var err error
	if b.batch, err = sendBatchFlag(c, b.gso); err != nil {
		return nil, err
	}
	least := 1
	if b.stamp {
		least = seq.HeaderLen
	}
	if err := inRange(c, "size", b.size, least, maxPayload4); err != nil {
		return nil, err
	}
	if err := inRange(c, "recv-batch", b.recvBatch, 1, maxBatch); err != nil {
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
	first, err := rx.listening(5 * time.Second)
	if err != nil || first["type"] != "listening" {
		return failure(name, "the receiver did not start: %v%s", errOr(err, fmt.Sprintf("first line %v", first)), rx.stderrText())
	}
	to, err := netip.ParseAddrPort(fmt.Sprint(first["addr"]))
	if err != nil {
		return failure(name, "the receiver reported address %v: %v", first["addr"], err)
	}

	sp := &sendPlan{
		to: to, cfg: broadcast.SenderConfig{Network: "udp4", GSO: b.gso},
		payload: pad(nil, b.size), stamp: b.stamp,
		batch: b.batch, connect: b.connect, quiet: true, json: true,
	}
	if b.rate > 0 {
		sp.interval = time.Duration(float64(time.Second) / b.rate)
	}
	start := time.Now()
	sp.until = start.Add(b.duration)
	// The sender's per-datagram output (none with quiet, but a failure)
	// goes nowhere; its notes (GSO refused) go to standard error.
	res, err := sp.execute(c.Context, seq.NewRun(), newOut(io.Discard), stderr, name)
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
		"pps": pps, "mbps": mbps, "recv_seconds": span, "recv_buffer": uint64(f("recv_buffer")), "seq": b.stamp,
	}
	if b.stamp {
		rep["duplicates"], rep["reordered"] = uint64(f("duplicates")), uint64(f("reordered"))
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
	fmt.Fprintf(&sb, "receive  %12d datagrams  %10.0f pps  %8.1f MB/s  recvmmsg batch %d, GRO %s, SO_RCVBUF %d\n",
		rep["received"], rep["pps"], rep["mbps"], b.recvBatch, gro, rep["recv_buffer"])
	fmt.Fprintf(&sb, "loss     %12d missing (%.2f%%), kernel drops %d", rep["missing"], rep["loss_pct"], rep["kernel_drops"])
	if b.stamp {
		fmt.Fprintf(&sb, ", duplicates %d, reordered %d (stamped)", rep["duplicates"], rep["reordered"])
	}
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

// receiverProc is the bench's `bcast listen` child. Its standard output
// and error go to unlinked temporary files rather than pipes: a goroutine
// of this process reading a pipe would keep an idle runtime thread in
// epoll_wait during the flood, where the kernel wakes it for every datagram
// the sending socket frees (see oneProc).
type receiverProc struct {
	cmd       *exec.Cmd
	out, errs *os.File
	exited    chan struct{} // closed once Wait returned
}

func startReceiver(exe string, b *benchPlan) (*receiverProc, error) {
	args := []string{"listen", "--listen", "127.0.0.1:0", "--quiet", "--json",
		"--batch", strconv.Itoa(b.recvBatch), "--idle", benchIdle.String(),
		// A safety net: the bench stops it long before.
		"--timeout", (b.duration + 30*time.Second).String()}
	if b.gro {
		args = append(args, "--gro")
	}
	if b.stamp {
		args = append(args, "--seq")
	}
	if b.recvBuf > 0 {
		args = append(args, "--recv-buffer", strconv.Itoa(b.recvBuf))
	}
	out, err := unlinkedTemp()
	if err != nil {
		return nil, err
	}
	errs, err := unlinkedTemp()
	if err != nil {
		out.Close()
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = out, errs
	// Should the bench die without cleaning up, the kernel ends the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// The child's flags decide, not the user's BCAST_IFACE and the like.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BCAST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		errs.Close()
		return nil, fmt.Errorf("starting the receiver %s: %v", exe, err)
	}
	p := &receiverProc{cmd: cmd, out: out, errs: errs, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // a blocking waitid: no epoll; its output says how it went
		close(p.exited)
	}()
	return p, nil
}

// unlinkedTemp is a temporary file that is gone from the file system once
// closed.
func unlinkedTemp() (*os.File, error) {
	f, err := os.CreateTemp("", "bcast-bench-")
	if err != nil {
		return nil, fmt.Errorf("a file for the receiver's output: %v", err)
	}
	_ = os.Remove(f.Name())
	return f, nil
}

// lines are the JSON lines the receiver has written so far. They are read
// with pread: the child shares the file offset it writes at.
func (p *receiverProc) lines() []map[string]any {
	b := readAll(p.out)
	var out []map[string]any
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break // a line still being written
		}
		var m map[string]any
		if json.Unmarshal(b[:i], &m) == nil {
			out = append(out, m)
		}
		b = b[i+1:]
	}
	return out
}

// readAll reads f from its start without moving its offset, up to 1 MiB
// (the receiver prints two lines with --quiet).
func readAll(f *os.File) []byte {
	b := make([]byte, 1<<20)
	n, _ := f.ReadAt(b, 0)
	return b[:n]
}

// listening waits at most d for the receiver's first line.
func (p *receiverProc) listening(d time.Duration) (map[string]any, error) {
	deadline := time.Now().Add(d)
	for {
		if ls := p.lines(); len(ls) > 0 {
			return ls[0], nil
		}
		select {
		case <-p.exited:
			return nil, errors.New("the receiver ended without a word")
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no word from the receiver within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// summary waits at most d for the receiver to end by itself (benchIdle
// after the last datagram), then stops it as Ctrl-C would, which also
// makes it print its summary, and returns the summary.
func (p *receiverProc) summary(d time.Duration) (map[string]any, error) {
	if !p.wait(d) {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		if !p.wait(2 * time.Second) {
			return nil, errors.New("the receiver did not end")
		}
	}
	for _, m := range p.lines() {
		if m["type"] == "summary" {
			return m, nil
		}
	}
	return nil, errors.New("the receiver printed no summary")
}

// wait reports whether the receiver ended within d.
func (p *receiverProc) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// stop ends the receiver if it still runs, by its own process handle, and
// releases its files.
func (p *receiverProc) stop() {
	if !p.wait(time.Second) {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		if !p.wait(2 * time.Second) {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	p.out.Close()
	p.errs.Close()
}

// stderrText is the receiver's standard error, for a failure message.
func (p *receiverProc) stderrText() string {
	s := strings.TrimSpace(string(readAll(p.errs)))
	if s == "" {
		return ""
	}
	return "\nthe receiver said:\n" + s
}
