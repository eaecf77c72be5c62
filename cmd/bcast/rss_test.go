package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rssGrowthBound is how much a flooded listener's resident memory may grow
// after its warm-up: a little for the runtime's own bookkeeping, far less
// than one datagram kept per second would cost at these rates.
const rssGrowthBound = 2 << 20

// TestListenRSSFlat floods `bcast listen --quiet --seq` from `bcast send
// --count 0 --interval 0` and samples the listener's VmRSS once a second:
// after a warm-up it must stay flat. 3 s for each of the two paths by
// default; BCAST_RSS_SECONDS=30 runs the long version.
func TestListenRSSFlat(t *testing.T) {
	secs := 3
	if v := os.Getenv("BCAST_RSS_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 || n > 600 {
			t.Fatalf("BCAST_RSS_SECONDS=%q: want 3 to 600", v)
		}
		secs = n
	}
	for _, mode := range []struct {
		name   string
		listen []string
		send   []string
	}{
		{"sendmmsg", nil, nil},
		{"gso-gro", []string{"--gro"}, []string{"--gso"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			l, first := binStart(t, append([]string{"listen", "--listen", "127.0.0.1:0", "--quiet", "--seq", "--json",
				"--timeout", fmt.Sprintf("%ds", secs+30)}, mode.listen...)...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
			defer cancel()
			snd := exec.CommandContext(ctx, binary, append([]string{"send", "--to", first["addr"].(string), "--seq",
				"--count", "0", "--interval", "0", "--size", "64", "--quiet", "--json"}, mode.send...)...)
			var sendOut, sendErr bytes.Buffer
			snd.Stdout, snd.Stderr = &sendOut, &sendErr
			if err := snd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if snd.ProcessState == nil {
					_ = snd.Process.Kill() // by its own handle
					_ = snd.Wait()
				}
			})

			pid := l.cmd.Process.Pid
			var samples []int
			tick := time.NewTicker(time.Second)
			for range secs {
				<-tick.C
				kb, err := vmRSS(pid)
				if err != nil {
					tick.Stop()
					t.Fatalf("listener pid %d: %v; stderr:\n%s", pid, err, l.stderr.String())
				}
				samples = append(samples, kb)
			}
			tick.Stop()
			_ = snd.Process.Signal(syscall.SIGINT)
			if err := snd.Wait(); err != nil {
				t.Errorf("send: %v\n%s", err, sendErr.String())
			}
			_ = l.cmd.Process.Signal(syscall.SIGINT)
			lines, code := l.wait(t)
			sum := ofType(lines, "summary")
			if code != 0 || len(sum) != 1 {
				t.Fatalf("listen: exit %d, %v", code, lines)
			}
			received := num(t, sum[0], "received")

			// Warm-up: the first second, or tenth of the run (buffers
			// first touched, the heap reaching its steady size).
			warm := max(1, secs/10)
			base, peak := samples[warm-1], 0
			for _, kb := range samples[warm-1:] {
				peak = max(peak, kb)
			}
			t.Logf("%s: %d s, %.0f datagrams received (%.0f/s), VmRSS kB each second: %v; after warm-up %d -> peak %d (+%d kB)",
				mode.name, secs, received, received/float64(secs), samples, base, peak, peak-base)
			if received < float64(secs)*1000 {
				t.Errorf("only %.0f datagrams received in %d s: not a flood", received, secs)
			}
			if grow := (peak - base) * 1024; grow > rssGrowthBound {
				t.Errorf("VmRSS grew by %d kB after warm-up (samples %v); want at most %d kB", peak-base, samples, rssGrowthBound/1024)
			}
		})
	}
}

// vmRSS reads a process's resident set size in kB from /proc.
func vmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS line in /proc/%d/status", pid)
}
