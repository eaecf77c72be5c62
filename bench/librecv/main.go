// Command librecv counts datagrams with the library's Receiver
// (broadcast.Listen) as a program that wants everything the kernel says
// about each datagram would: the default Metadata (MetaAll: destination and
// arrival interface, TTL, TOS, kernel timestamp, drop counter) and
// WaitInKernel. bench/run.sh measures its CPU per datagram against the C
// recvmmsg receiver (bench/c/udpref recv) under the same paced stream.
//
//	librecv PORT [--addr A] [--seconds S] [--idle S] [--start-timeout S]
//	        [--batch N] [--poller]
//
// It prints one JSON line in udpref's form: received, bytes, seconds (first
// to last datagram), calls (Receive calls that returned datagrams), drops
// (SO_RXQ_OVFL), batch (the option; 0: the library's default), user_s,
// sys_s and cpu_s (getrusage), and how many datagrams came with a
// destination, a TTL and a timestamp, which shows the metadata was there.
// Only loopback addresses are accepted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/bcastdev/bcast/bench/internal/window"
	"github.com/bcastdev/bcast/broadcast"
)

// slice is how long one Receive may wait before the loop looks at its
// clocks again. The deadline is renewed only when it fires, so a busy loop
// pays for one timer update per slice, not per call.
const slice = 100 * time.Millisecond

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: librecv PORT [--addr A] [--seconds S] [--idle S] [--start-timeout S]
               [--batch N] [--poller]
--addr must be loopback (127.0.0.0/8 or ::1); --batch 0 keeps the library's default;
--poller waits in the Go runtime's poller instead of the kernel (WaitInKernel off).
`

type options struct {
	addr         netip.AddrPort
	window       time.Duration // stop this long after the first datagram
	idle         time.Duration // stop after this long without one, once started
	startTimeout time.Duration // give up when nothing arrives for this long
	batch        int
	poller       bool
}

type result struct {
	received, bytes, calls     uint64
	withDst, withTTL, withTime uint64
	drops                      uint32
	seconds                    float64
	metadata                   broadcast.Metadata
	userSeconds, systemSeconds float64
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "librecv: %v\n%s", err, usage)
		return 2
	}
	rx, err := listen(o)
	if err != nil {
		fmt.Fprintf(stderr, "librecv: %v\n", err)
		return 1
	}
	r, err := count(rx, o)
	if cerr := rx.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "librecv: %v\n", err)
		return 1
	}
	_, err = fmt.Fprintf(stdout, "{\"received\":%d,\"bytes\":%d,\"seconds\":%.6f,\"pps\":%.1f,\"calls\":%d,"+
		"\"drops\":%d,\"batch\":%d,\"metadata\":%q,\"wait_in_kernel\":%t,"+
		"\"with_dst\":%d,\"with_ttl\":%d,\"with_time\":%d,\"user_s\":%.6f,\"sys_s\":%.6f,\"cpu_s\":%.6f}\n",
		r.received, r.bytes, r.seconds, window.Rate(r.received, r.seconds), r.calls,
		r.drops, o.batch, r.metadata.String(), !o.poller,
		r.withDst, r.withTTL, r.withTime, r.userSeconds, r.systemSeconds, r.userSeconds+r.systemSeconds)
	if err != nil {
		fmt.Fprintf(stderr, "librecv: writing the result: %v\n", err)
		return 1
	}
	return 0
}

func parseArgs(args []string) (options, error) {
	fs := flag.NewFlagSet("librecv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1", "loopback address to bind")
	seconds := fs.Float64("seconds", 3, "stop this long after the first datagram")
	idle := fs.Float64("idle", 0.5, "stop after this long without a datagram, once started")
	startTimeout := fs.Float64("start-timeout", 10, "give up when the first datagram takes longer")
	batch := fs.Int("batch", 0, "datagrams per Receive (0: the library's default)")
	poller := fs.Bool("poller", false, "wait in the runtime's poller, not in the kernel")
	var pos []string
	// Options may come before or after PORT, as in udpref.
	for {
		if err := fs.Parse(args); err != nil {
			return options{}, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return options{}, fmt.Errorf("want one PORT, got %q", pos)
	}
	if *batch < 0 || *batch > 1024 {
		return options{}, fmt.Errorf("--batch: want 0..1024, got %d", *batch)
	}
	o := options{batch: *batch, poller: *poller}
	for _, f := range []struct {
		name string
		v    float64
		d    *time.Duration
	}{{"seconds", *seconds, &o.window}, {"idle", *idle, &o.idle}, {"start-timeout", *startTimeout, &o.startTimeout}} {
		if !(f.v > 0 && f.v <= 3600) {
			return options{}, fmt.Errorf("--%s: want (0, 3600] seconds, got %g", f.name, f.v)
		}
		*f.d = time.Duration(f.v * float64(time.Second))
	}
	ap, err := window.Loopback(*addr, pos[0])
	if err != nil {
		return options{}, err
	}
	o.addr = ap
	return o, nil
}

// listen opens the Receiver as a program that wants all the metadata would:
// Metadata left at its zero value, MetaAll.
func listen(o options) (*broadcast.Receiver, error) {
	network := "udp4"
	if o.addr.Addr().Is6() {
		network = "udp6"
	}
	rx, err := broadcast.Listen(broadcast.ReceiverConfig{
		Network:      network,
		Addr:         o.addr,
		Batch:        o.batch,
		WaitInKernel: !o.poller,
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	return rx, nil
}

// count counts datagrams until the window after the first one has passed,
// the sender has gone quiet for o.idle, or nothing came within
// o.startTimeout.
func count(rx *broadcast.Receiver, o options) (result, error) {
	r := result{metadata: rx.Metadata()}
	// Receive returns at most ReceiverConfig.Batch datagrams however long
	// pkts is: 1024 leaves the library's default batch in charge.
	pkts := make([]broadcast.Packet, 1024)
	if o.batch > 0 {
		pkts = pkts[:o.batch]
	}
	ctx := context.Background()
	w := window.Window{StartTimeout: o.startTimeout, Idle: o.idle, Length: o.window}
	begin := time.Now()
	w.Begin(begin)
	if err := rx.SetReadDeadline(begin.Add(slice)); err != nil {
		return r, err
	}
	for {
		n, err := rx.Receive(ctx, pkts)
		now := time.Now()
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return r, fmt.Errorf("receive on %s: %w", o.addr, err)
			}
			if w.Quiet(now) {
				break
			}
			if err := rx.SetReadDeadline(now.Add(slice)); err != nil {
				return r, err
			}
			continue
		}
		r.calls++
		for i := range pkts[:n] {
			p := &pkts[i]
			r.received++
			r.bytes += uint64(len(p.Data))
			if p.Dst.IsValid() {
				r.withDst++
			}
			if p.TTL >= 0 {
				r.withTTL++
			}
			if !p.Time.IsZero() {
				r.withTime++
			}
		}
		if w.Arrived(now) {
			break
		}
	}
	r.seconds = w.Seconds()
	r.drops = rx.Drops()
	r.userSeconds, r.systemSeconds = window.CPU()
	return r, nil
}
