package broadcast

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// pacedSenderEnv makes the test binary a paced sender instead (see
// TestMain): "ADDR:PORT RATE" sends 64-byte datagrams one by one to
// ADDR:PORT, RATE a second, evenly spaced, for at most a minute.
const pacedSenderEnv = "BCAST_PACED_SENDER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(pacedSenderEnv); spec != "" {
		os.Exit(pacedSender(spec))
	}
	os.Exit(m.Run())
}

func pacedSender(spec string) int {
	var to string
	var rate int
	if _, err := fmt.Sscan(spec, &to, &rate); err != nil || rate <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: want \"ADDR:PORT RATE\"\n", pacedSenderEnv, spec)
		return 2
	}
	ap, err := netip.ParseAddrPort(to)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := dgram.Open(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dst := dgram.AddrFrom(ap)
	payload := make([]byte, 64)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	next := start
	for time.Since(start) < time.Minute {
		for time.Now().Before(next) {
			// Spin: a sleep cannot keep a 10 µs spacing, and this
			// process's CPU is not what is measured.
		}
		// A full receive buffer (ENOBUFS, EAGAIN) is the receiver's loss,
		// counted there; keep the pace.
		s.SendTo(payload, 0, dst)
		next = next.Add(interval)
	}
	return 0
}

// startPacedSender runs the test binary as a paced sender to to, stopped
// (by its PID) when the benchmark ends.
func startPacedSender(b *testing.B, to netip.AddrPort, rate int) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), pacedSenderEnv+"="+to.String()+" "+strconv.Itoa(rate))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// cpuNow is this process's user and system time so far.
func cpuNow(b *testing.B) (user, sys time.Duration) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkReceiveCPU is the receiver's CPU per datagram under a paced
// stream of 64-byte datagrams (50k/s from another process, one datagram
// per sendto, the way a real sender's traffic arrives), for each way of
// waiting and each metadata set: the poller against the kernel wait, every
// control message against the drop counter alone (what bcast listen
// --quiet asks for). cpu-ns/dgram is this process's user+system time
// divided by the datagrams received; ns/op only reflects the pace. Nothing
// is pinned and GOMAXPROCS is the test's, so the figures include the
// runtime's idle spinning and the machine's other load: compare rows of one
// run. bench/recvcpu.sh measures bcast listen against C, pinned.
func BenchmarkReceiveCPU(b *testing.B) {
	const rate = 50_000
	for _, tc := range []struct {
		name   string
		kernel bool
		meta   Metadata
	}{
		{"poller/all", false, MetaAll},
		{"kernel/all", true, MetaAll},
		{"poller/drops", false, MetaDrops},
		{"kernel/drops", true, MetaDrops},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := listen(b, ReceiverConfig{Addr: netip.AddrPortFrom(loopback, 0), Batch: 64, RecvBuffer: 4 << 20, Metadata: tc.meta, WaitInKernel: tc.kernel})
			startPacedSender(b, r.LocalAddr(), rate)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out := make([]Packet, 64)
			for got := 0; got < rate/10; { // warm up: 0.1 s of the stream
				n, err := r.Receive(ctx, out)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
			calls := 0
			user, sys := cpuNow(b)
			b.ResetTimer()
			for got := 0; got < b.N; calls++ {
				n, err := r.Receive(ctx, out)
				if err != nil {
					b.Fatalf("after %d of %d: %v", got, b.N, err)
				}
				got += n
			}
			b.StopTimer()
			user2, sys2 := cpuNow(b)
			per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
			b.ReportMetric(per(user2-user+sys2-sys), "cpu-ns/dgram")
			b.ReportMetric(per(user2-user), "user-ns/dgram")
			b.ReportMetric(per(sys2-sys), "sys-ns/dgram")
			b.ReportMetric(float64(b.N)/float64(calls), "dgrams/call")
		})
	}
}
