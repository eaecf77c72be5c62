package dgram

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// endBound is what RecvBatchWait promises for Close, deadlines, contexts
// and signals: a waiting receive ends (or a signal is handled) within it.
const endBound = 100 * time.Millisecond

// eachProcs runs fn with GOMAXPROCS 1 and 2, and with an idle wait left
// in the kernel (stayInKernel) or moved to the poller as it is outside
// tests. With one processor a kernel wait holds the only one, so whatever
// ends the wait must get it back first.
func eachProcs(t *testing.T, fn func(t *testing.T)) {
	for _, procs := range []int{1, 2} {
		for _, stay := range []bool{true, false} {
			name := fmt.Sprintf("procs%d/poller-when-idle", procs)
			if stay {
				name = fmt.Sprintf("procs%d/kernel", procs)
			}
			t.Run(name, func(t *testing.T) {
				old := runtime.GOMAXPROCS(procs)
				stayInKernel = stay
				t.Cleanup(func() { runtime.GOMAXPROCS(old); stayInKernel = false })
				fn(t)
			})
		}
	}
}

func waitMessages(n int) []Message {
	ms := make([]Message, n)
	for i := range ms {
		ms[i] = Message{Buffers: [][]byte{make([]byte, 256)}, Control: make([]byte, 0, 64)}
	}
	return ms
}

// RecvBatchWait receives every datagram, in order, with its source, in
// bursts of every size.
func TestRecvBatchWaitReceivesAll(t *testing.T) {
	families(t, func(t *testing.T, family int) {
		rx, tx, to := udpPair(t, family)
		if _, err := rx.SetRecvBuffer(4 << 20); err != nil {
			t.Fatal(err)
		}
		if err := rx.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		const total = 2000
		sent := make(chan error, 1)
		go func() {
			for i := range total {
				if _, err := tx.SendTo([]byte(strconv.Itoa(i)), 0, to); err != nil {
					sent <- err
					return
				}
				if i%97 == 0 {
					time.Sleep(time.Millisecond) // let the receiver wait in the kernel now and then
				}
			}
			sent <- nil
		}()
		ms := waitMessages(64)
		var from uint16 // the sender's ephemeral port, from its first datagram
		for got := 0; got < total; {
			n, err := rx.RecvBatchWait(ms, 0)
			if err != nil {
				t.Fatalf("after %d of %d: %v", got, total, err)
			}
			for i := range n {
				m := &ms[i]
				if p := string(m.Buffers[0][:m.N]); p != strconv.Itoa(got) {
					t.Fatalf("datagram %d: got %q; want %q", got, p, strconv.Itoa(got))
				}
				if got == 0 {
					from = m.Addr.AddrPort.Port()
				}
				if !m.Addr.AddrPort.Addr().IsLoopback() || m.Addr.AddrPort.Port() != from || from == 0 {
					t.Fatalf("datagram %d from %v; want the loopback sender's port %d", got, m.Addr, from)
				}
				got++
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	})
}

// waitEnds starts RecvBatchWait (or its context form under ctx) on an idle
// socket, runs end once it is surely waiting in the kernel, and returns the
// error and how long after end it came back.
func waitEnds(t *testing.T, rx *Socket, ctx context.Context, end func()) (error, time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ms := waitMessages(8)
		var err error
		if ctx != nil {
			_, err = rx.RecvBatchWaitContext(ctx, ms, 0)
		} else {
			_, err = rx.RecvBatchWait(ms, 0)
		}
		done <- err
	}()
	time.Sleep(60 * time.Millisecond) // more than two wait slices
	start := time.Now()
	end()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(5 * time.Second):
		t.Fatal("RecvBatchWait still waiting 5 s after it was told to end")
		return nil, 0
	}
}

func TestRecvBatchWaitEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, rx *Socket) (error, time.Duration)
		want error
	}{
		{"Close", func(t *testing.T, rx *Socket) (error, time.Duration) {
			return waitEnds(t, rx, nil, func() { rx.Close() })
		}, net.ErrClosed},
		{"deadline set while waiting", func(t *testing.T, rx *Socket) (error, time.Duration) {
			return waitEnds(t, rx, nil, func() { rx.SetReadDeadline(time.Now()) })
		}, os.ErrDeadlineExceeded},
		{"deadline reached", func(t *testing.T, rx *Socket) (error, time.Duration) {
			rx.SetReadDeadline(time.Now().Add(90 * time.Millisecond)) // 30 ms after waitEnds calls end
			err, d := waitEnds(t, rx, nil, func() {})
			return err, max(0, d-30*time.Millisecond)
		}, os.ErrDeadlineExceeded},
		{"context cancelled", func(t *testing.T, rx *Socket) (error, time.Duration) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			return waitEnds(t, rx, ctx, cancel)
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachProcs(t, func(t *testing.T) {
				rx, _, _ := udpPair(t, unix.AF_INET)
				err, took := tc.run(t, rx)
				t.Logf("ended %v after it was told", took)
				if !errors.Is(err, tc.want) {
					t.Errorf("got %v; want an error matching %v", err, tc.want)
				}
				if took > endBound {
					t.Errorf("ended %v after it was told; want within %v", took, endBound)
				}
			})
		})
	}
}

// A signal that the program handles is delivered while a receive waits in
// the kernel, even when the waiting goroutine holds the only processor.
func TestRecvBatchWaitSignals(t *testing.T) {
	eachProcs(t, func(t *testing.T) {
		rx, _, _ := udpPair(t, unix.AF_INET)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		t.Cleanup(func() { signal.Stop(sig) })
		var took time.Duration
		err, _ := waitEnds(t, rx, nil, func() {
			start := time.Now()
			if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			select {
			case <-sig:
				took = time.Since(start)
			case <-time.After(5 * time.Second):
				t.Error("SIGUSR1 not delivered within 5 s")
			}
			rx.Close()
		})
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("got %v; want an error matching net.ErrClosed", err)
		}
		t.Logf("signal handled %v after it was sent", took)
		if took > endBound {
			t.Errorf("signal handled %v after it was sent; want within %v", took, endBound)
		}
	})
}

// cpuTime is the process's user plus system time so far (getrusage, in
// microseconds, finer than /proc/self/stat's 10 ms ticks).
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// An idle kernel wait burns no CPU: one second of it costs the whole
// process less than 10 ms (1 %).
func TestRecvBatchWaitIdleCPU(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: the race runtime's own background work is counted in the process's CPU; the plain test run measures")
	}
	rx, _, _ := udpPair(t, unix.AF_INET)
	done := make(chan error, 1)
	go func() {
		_, err := rx.RecvBatchWait(waitMessages(8), 0)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	before := cpuTime(t)
	time.Sleep(time.Second)
	used := cpuTime(t) - before
	rx.Close()
	<-done
	t.Logf("1 s of idle RecvBatchWait: %v of CPU", used)
	if used > 10*time.Millisecond {
		t.Errorf("1 s of idle RecvBatchWait used %v of CPU; want at most 10ms", used)
	}
}

// Where it cannot wait in the kernel it is RecvBatch: nonblocking mode and
// MSG_DONTWAIT fail at once with EAGAIN.
func TestRecvBatchWaitNonblocking(t *testing.T) {
	rx, _, _ := udpPair(t, unix.AF_INET)
	ms := waitMessages(4)
	if _, err := rx.RecvBatchWait(ms, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("MSG_DONTWAIT: got %v; want EAGAIN", err)
	}
	rx.SetNonblock(true)
	if _, err := rx.RecvBatchWait(ms, 0); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("nonblocking mode: got %v; want EAGAIN", err)
	}
}

// A connection-oriented socket keeps O_NONBLOCK (accept and connect would
// block a thread without it): RecvBatchWait is RecvBatch there, and still
// receives.
func TestRecvBatchWaitSeqpacketStaysNonblocking(t *testing.T) {
	a, b := mustPair(t, unix.SOCK_SEQPACKET)
	if _, err := a.Write([]byte("record")); err != nil {
		t.Fatal(err)
	}
	ms := waitMessages(4)
	n, err := b.RecvBatchWait(ms, 0)
	if err != nil || n != 1 || string(ms[0].Buffers[0][:ms[0].N]) != "record" {
		t.Fatalf("RecvBatchWait = %d, %v, %q; want 1, nil, \"record\"", n, err, ms[0].Buffers[0][:ms[0].N])
	}
	var nonblock bool
	if err := b.control("fcntl", "", func(fd int) error {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		nonblock = fl&unix.O_NONBLOCK != 0
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !nonblock {
		t.Error("RecvBatchWait turned O_NONBLOCK off on a SOCK_SEQPACKET socket")
	}
}

// Near a deadline the receive timeout follows it in steps, not with a
// setsockopt per wait; away from one it is the slice again.
func TestSetRecvTimeoutSteps(t *testing.T) {
	rx, _, _ := udpPair(t, unix.AF_INET)
	ms := time.Millisecond
	steps := []struct {
		d, want time.Duration // asked for; SO_RCVTIMEO afterwards
	}{
		{waitSlice, waitSlice},
		{waitSlice, waitSlice},
		{10 * ms, 10 * ms},                 // a deadline 10 ms away: lowered
		{9500 * time.Microsecond, 10 * ms}, // half a millisecond later: kept
		{8 * ms, 8 * ms},                   // more than a millisecond later: lowered again
		{20 * ms, 20 * ms},                 // a later deadline, more than twice the timeout: raised
		{waitSlice, waitSlice},             // no deadline: the slice
	}
	for i, st := range steps {
		var e unix.Errno
		if err := rx.control("setsockopt", "", func(fd int) error {
			e = rx.setRecvTimeout(uintptr(fd), int64(st.d))
			return nil
		}); err != nil || e != 0 {
			t.Fatalf("step %d: %v %v", i, err, e)
		}
		if got := time.Duration(rx.rcvTimeo.Load()); got != st.want {
			t.Errorf("step %d, asked %v: got %v; want %v", i, st.d, got, st.want)
		}
		got, err := rx.OptionTimeval(unix.SOL_SOCKET, unix.SO_RCVTIMEO)
		if err != nil {
			t.Fatal(err)
		}
		// The kernel keeps it in clock ticks (1-10 ms), rounded up.
		if got < st.want || got > st.want+10*ms {
			t.Errorf("step %d: SO_RCVTIMEO %v; want %v (to the tick)", i, got, st.want)
		}
	}
}
