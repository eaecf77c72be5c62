package daemon

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/pinger"
)

// A datagram listener's goroutine follows a Reload of MaxLine: a datagram
// it echoed before is answered with the error reply after.
func TestPacketsFollowReload(t *testing.T) {
	ts := serveTest(t, Echo, testSettings(), [2]string{"udp", "127.0.0.1:0"})
	c := ts.dial(t, 0)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := strings.Repeat("x", 50)
	buf := make([]byte, 128)
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != msg {
		t.Fatalf("before the reload: got %q, %v; want the echo", buf[:n], err)
	}
	set := testSettings()
	set.MaxLine = 10
	if err := ts.Reload(set); err != nil {
		t.Fatal(err)
	}
	ts.logs.waitFor(t, "settings reloaded")
	const want = "error: datagram longer than 11 bytes\n"
	// The goroutine takes the new MaxLine from its next batch on: the
	// first datagram may still be read with the old one. Each datagram
	// differs from the last: the same bytes again within a second would
	// be an echo loop to the guard.
	for i := range 2 {
		msg = fmt.Sprintf("%d%s", i, msg[1:])
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) == want {
			return
		}
		if i == 1 {
			t.Fatalf("after the reload: got %q; want %q", buf[:n], want)
		}
	}
}

// backToBack keeps one datagram in flight to addr, as a back-to-back client
// does, until stop is closed, and counts the round trips.
func backToBack(t *testing.T, addr string, stop <-chan struct{}) (*atomic.Int64, *sync.WaitGroup) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var trips atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		buf := make([]byte, 64)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.SetDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.Write([]byte(fmt.Sprint(i))); err != nil {
				continue
			}
			if _, err := c.Read(buf); err == nil {
				trips.Add(1)
			}
		}
	}()
	return &trips, &wg
}

// Under a back-to-back datagram client, with one processor or two: the
// datagram goroutines wait in the kernel only while a processor is left
// for the event loop (or it has no stream listener to serve), a stream
// client is still answered, and the shutdown ends the goroutines at once.
func TestPacketsUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		procs   int
		streams bool
		wait    string
	}{
		{1, false, "kernel"},
		{1, true, "poller"},
		{2, true, "kernel"},
	} {
		t.Run(fmt.Sprintf("procs%d/streams=%v", tc.procs, tc.streams), func(t *testing.T) {
			old := runtime.GOMAXPROCS(tc.procs)
			t.Cleanup(func() { runtime.GOMAXPROCS(old) })
			specs := [][2]string{{"udp", "127.0.0.1:0"}}
			if tc.streams {
				specs = append(specs, [2]string{"tcp", "127.0.0.1:0"})
			}
			ts := serveTest(t, Echo, testSettings(), specs...)
			ts.logs.waitFor(t, "datagram_wait="+tc.wait)
			stop := make(chan struct{})
			trips, wg := backToBack(t, ts.ls[0].Addr().String(), stop)
			defer func() {
				close(stop)
				wg.Wait()
			}()
			// With one processor, which the datagram goroutine holds while
			// it waits in the kernel, a client in this process gets it
			// back only when the runtime preempts: a few round trips. A
			// client in another process is not held up so.
			time.Sleep(100 * time.Millisecond)
			if trips.Load() == 0 {
				t.Fatal("no round trip in 100 ms")
			}
			if tc.streams {
				c := ts.dial(t, 1)
				start := time.Now()
				echo(t, c, "while datagrams flow\n")
				t.Logf("stream echo under datagram load: %v", time.Since(start))
				c.Close() // the shutdown would wait for it
			}
			start := time.Now()
			ts.cancel()
			select {
			case err := <-ts.done:
				ts.done <- err // for the cleanup
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return 5 s after its context ended")
			}
			took := time.Since(start)
			t.Logf("%d round trips; Serve returned %v after the context ended", trips.Load(), took)
			if took > time.Second {
				t.Errorf("Serve returned %v after the context ended under datagram load; want within 1s", took)
			}
			ts.logs.waitFor(t, "stopped")
		})
	}
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(pinger.Env); spec != "" {
		os.Exit(pinger.Run(spec, os.Stderr)) // BenchmarkPacketEcho's client
	}
	os.Exit(m.Run())
}

// BenchmarkPacketEcho is a back-to-back UDP round trip through the
// daemon's echo, one datagram in flight as the C ping client keeps it,
// from a client in another process (the test binary run as one): in this
// process the runtime would hand the processor between client and server
// goroutines, which is not what a server sees. One op is one round trip;
// allocs/op are the server's, and must stay 0. Nothing is pinned: for the
// comparison with a C server, see bench/run.sh.
//
//	go test -run '^$' -bench PacketEcho -benchmem ./internal/daemon
func BenchmarkPacketEcho(b *testing.B) {
	ts := serveTest(b, Echo, testSettings(), [2]string{"udp", "127.0.0.1:0"})
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), pinger.Spec(ts.ls[0].Addr().String(), b.N))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("client: %v", err)
	}
}
