// Command goref is the plain-Go reference of the bcast benchmarks: what the
// standard library's net.UDPConn, and golang.org/x/net's ReadBatch, reach on
// this machine. It prints the same JSON as bench/c/udpref so bench/run.sh
// can put them side by side.
//
//	goref send HOST PORT --size B [--seconds S] [--count N]
//	goref recv PORT [--addr A] [--size B] [--seconds S] [--idle S]
//	           [--start-timeout S] [--xnet-batch] [--batch N]
//	goref info
//
// send loops over (*net.UDPConn).WriteToUDP on an unconnected socket; recv
// loops over ReadFromUDP, or with --xnet-batch over ipv4/ipv6
// (*PacketConn).ReadBatch, which is one recvmmsg per call. Only loopback
// addresses are accepted: send floods, and must never reach a network.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/bcastdev/bcast/bench/internal/window"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// slice is how long one blocking read may wait before the receive loop looks
// at its clocks again. The deadline is re-armed only after it fires, so a
// busy receiver pays for one timer update per slice, not per datagram.
const slice = 100 * time.Millisecond

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  goref send HOST PORT --size B [--seconds S] [--count N]
  goref recv PORT [--addr A] [--size B] [--seconds S] [--idle S]
             [--start-timeout S] [--xnet-batch] [--batch N]
  goref info
HOST and --addr must be loopback (127.0.0.0/8 or ::1).
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "send":
		err = cmdSend(args[1:], stdout)
	case "recv":
		err = cmdRecv(args[1:], stdout)
	case "info":
		_, err = fmt.Fprintf(stdout, "{\"go\":%q,\"gomaxprocs\":%d,\"numcpu\":%d}\n",
			runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	default:
		err = fmt.Errorf("unknown mode %q\n%s", args[0], usage)
	}
	if err != nil {
		fmt.Fprintf(stderr, "goref: %v\n", err)
		return 2
	}
	return 0
}

// parse lets options come before, between or after the positional
// arguments, as in udpref ("recv 9000 --size 64"); flag.Parse alone stops
// at the first positional one.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func network(ap netip.AddrPort) string {
	if ap.Addr().Is4() {
		return "udp4"
	}
	return "udp6"
}

type sendResult struct {
	sent, bytes, refused, nobufs uint64
	seconds                      float64
}

func cmdSend(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	size := fs.Int("size", 0, "datagram payload bytes")
	seconds := fs.Float64("seconds", 3, "send for this long")
	count := fs.Uint64("count", 0, "stop after this many datagrams (0: no limit)")
	pos, err := parse(fs, args)
	if err != nil {
		return fmt.Errorf("send: %v", err)
	}
	if len(pos) != 2 {
		return fmt.Errorf("send: want HOST PORT, got %q", pos)
	}
	if *size < 1 || *size > 65507 {
		return fmt.Errorf("send: --size: want 1..65507, got %d", *size)
	}
	if !(*seconds > 0 && *seconds <= 3600) {
		return fmt.Errorf("send: --seconds: want (0, 3600], got %g", *seconds)
	}
	dst, err := window.Loopback(pos[0], pos[1])
	if err != nil {
		return fmt.Errorf("send: %v", err)
	}
	c, err := net.ListenUDP(network(dst), nil)
	if err != nil {
		return fmt.Errorf("send: socket for %s: %v", dst, err)
	}
	defer c.Close()
	r, err := send(c, net.UDPAddrFromAddrPort(dst), *size, time.Duration(*seconds*float64(time.Second)), *count)
	if err != nil {
		return fmt.Errorf("send: %v", err)
	}
	_, err = fmt.Fprintf(stdout, "{\"sent\":%d,\"bytes\":%d,\"seconds\":%.6f,\"pps\":%.1f,\"refused\":%d,\"nobufs\":%d,\"size\":%d,\"cpu_s\":%.6f}\n",
		r.sent, r.bytes, r.seconds, window.Rate(r.sent, r.seconds), r.refused, r.nobufs, *size, cpuSeconds())
	return err
}

// send writes size-byte datagrams to dst with WriteToUDP until d has passed
// or count (when non-zero) datagrams are out.
func send(c *net.UDPConn, dst *net.UDPAddr, size int, d time.Duration, count uint64) (sendResult, error) {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	var r sendResult
	start := time.Now()
	deadline := start.Add(d)
	for count == 0 || r.sent < count {
		if !time.Now().Before(deadline) {
			break
		}
		n, err := c.WriteToUDP(buf, dst)
		switch {
		case err == nil:
			r.sent++
			r.bytes += uint64(n)
		case errors.Is(err, syscall.ECONNREFUSED):
			r.refused++
		case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.EAGAIN):
			r.nobufs++
		default:
			return r, fmt.Errorf("WriteToUDP %s: %w", dst, err)
		}
	}
	r.seconds = time.Since(start).Seconds()
	return r, nil
}

type recvOptions struct {
	size         int
	window       time.Duration // stop this long after the first datagram
	idle         time.Duration // stop after this long without one, once started
	startTimeout time.Duration // give up when nothing arrives for this long
	batch        int           // > 0: x/net ReadBatch with this many messages
}

type recvResult struct {
	received, bytes, calls, truncated uint64
	seconds                           float64
}

func cmdRecv(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("recv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1", "loopback address to bind")
	size := fs.Int("size", 2048, "receive buffer bytes per datagram")
	seconds := fs.Float64("seconds", 3, "stop this long after the first datagram")
	idle := fs.Float64("idle", 0.5, "stop after this long without a datagram, once started")
	startTimeout := fs.Float64("start-timeout", 10, "give up when the first datagram takes longer")
	xnet := fs.Bool("xnet-batch", false, "read with x/net ipv4/ipv6 ReadBatch (recvmmsg)")
	batch := fs.Int("batch", 64, "messages per ReadBatch")
	pos, err := parse(fs, args)
	if err != nil {
		return fmt.Errorf("recv: %v", err)
	}
	if len(pos) != 1 {
		return fmt.Errorf("recv: want PORT, got %q", pos)
	}
	if *size < 1 || *size > 65536 {
		return fmt.Errorf("recv: --size: want 1..65536, got %d", *size)
	}
	if *batch < 1 || *batch > 1024 {
		return fmt.Errorf("recv: --batch: want 1..1024, got %d", *batch)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"seconds", *seconds}, {"idle", *idle}, {"start-timeout", *startTimeout}} {
		if !(f.v > 0 && f.v <= 3600) {
			return fmt.Errorf("recv: --%s: want (0, 3600], got %g", f.name, f.v)
		}
	}
	ap, err := window.Loopback(*addr, pos[0])
	if err != nil {
		return fmt.Errorf("recv: %v", err)
	}
	c, err := net.ListenUDP(network(ap), net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return fmt.Errorf("recv: %v", err)
	}
	defer c.Close()
	o := recvOptions{
		size:         *size,
		window:       time.Duration(*seconds * float64(time.Second)),
		idle:         time.Duration(*idle * float64(time.Second)),
		startTimeout: time.Duration(*startTimeout * float64(time.Second)),
	}
	if *xnet {
		o.batch = *batch
	}
	r, err := recv(c, o)
	if err != nil {
		return fmt.Errorf("recv on %s: %v", ap, err)
	}
	_, err = fmt.Fprintf(stdout, "{\"received\":%d,\"bytes\":%d,\"seconds\":%.6f,\"pps\":%.1f,\"calls\":%d,\"truncated\":%d,\"batch\":%d,\"xnet\":%t,\"cpu_s\":%.6f}\n",
		r.received, r.bytes, r.seconds, window.Rate(r.received, r.seconds), r.calls, r.truncated, max(o.batch, 1), *xnet, cpuSeconds())
	return err
}

// batchReader is satisfied by both *ipv4.PacketConn and *ipv6.PacketConn:
// their Message types are the same x/net socket.Message.
type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// recv counts datagrams on c until the window after the first one has
// passed, the sender has gone quiet for o.idle, or nothing came within
// o.startTimeout. The rate is over first-to-last datagram time, so the idle
// wait at the end is not counted.
func recv(c *net.UDPConn, o recvOptions) (recvResult, error) {
	var (
		r   recvResult
		br  batchReader
		ms  []ipv4.Message
		buf []byte
	)
	w := window.Window{StartTimeout: o.startTimeout, Idle: o.idle, Length: o.window}
	if o.batch > 0 {
		if c.LocalAddr().(*net.UDPAddr).IP.To4() != nil {
			br = ipv4.NewPacketConn(c)
		} else {
			br = ipv6.NewPacketConn(c)
		}
		ms = make([]ipv4.Message, o.batch)
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, o.size)}
		}
	} else {
		buf = make([]byte, o.size)
	}
	begin := time.Now()
	w.Begin(begin)
	if err := c.SetReadDeadline(begin.Add(slice)); err != nil {
		return r, err
	}
	for {
		var (
			n, got int
			err    error
		)
		if br != nil {
			got, err = br.ReadBatch(ms, 0)
		} else {
			n, _, err = c.ReadFromUDP(buf)
			got = 1
		}
		now := time.Now()
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return r, err
			}
			if w.Quiet(now) {
				break
			}
			if err := c.SetReadDeadline(now.Add(slice)); err != nil {
				return r, err
			}
			continue
		}
		r.calls++
		if br != nil {
			for i := range got {
				r.bytes += uint64(ms[i].N)
				if ms[i].Flags&syscall.MSG_TRUNC != 0 {
					r.truncated++
				}
			}
		} else {
			r.bytes += uint64(n)
		}
		r.received += uint64(got)
		if w.Arrived(now) {
			break
		}
	}
	r.seconds = w.Seconds()
	return r, nil
}

// cpuSeconds is the process's user + system CPU time, all runtime threads
// included; on a shared 2-core machine CPU per datagram moves less with other
// load than datagrams per second do. -1 if the kernel will not say.
func cpuSeconds() float64 {
	u, sys := window.CPU()
	if u < 0 {
		return -1
	}
	return u + sys
}
