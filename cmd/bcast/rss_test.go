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

// How much a flooded listener's resident memory may grow after its
// warm-up: far less than one datagram kept per second would cost at these
// rates. VmRSS also counts pages of the executable mapped in as code runs
// for the first time (about 100-300 kB over a run here); RssAnon, the
// process's own memory, has no such excuse.
const (
	rssGrowthBound  = 2 << 20
	anonGrowthBound = 512 << 10
)

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
			var samples, anon []int
			tick := time.NewTicker(time.Second)
			for range secs {
				<-tick.C
				kb, err := statusKB(pid, "VmRSS")
				if err == nil {
					var a int
					a, err = statusKB(pid, "RssAnon")
					anon = append(anon, a)
				}
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
			growth := func(kb []int) (base, peak int) {
				base = kb[warm-1]
				for _, v := range kb[warm-1:] {
					peak = max(peak, v)
				}
				return base, peak
			}
			base, peak := growth(samples)
			abase, apeak := growth(anon)
			t.Logf("%s: %d s, %.0f datagrams received (%.0f/s); after warm-up VmRSS %d -> peak %d kB (+%d), RssAnon %d -> peak %d kB (+%d); VmRSS each second: %v",
				mode.name, secs, received, received/float64(secs), base, peak, peak-base, abase, apeak, apeak-abase, samples)
			if received < float64(secs)*1000 {
				t.Errorf("only %.0f datagrams received in %d s: not a flood", received, secs)
			}
			if grow := (peak - base) * 1024; grow > rssGrowthBound {
				t.Errorf("VmRSS grew by %d kB after warm-up (samples %v); want at most %d kB", peak-base, samples, rssGrowthBound/1024)
			}
			if grow := (apeak - abase) * 1024; grow > anonGrowthBound {
				t.Errorf("RssAnon grew by %d kB after warm-up (samples %v); want at most %d kB", apeak-abase, anon, anonGrowthBound/1024)
			}
		})
	}
}

// statusKB reads a kB field of /proc/PID/status (VmRSS, RssAnon).
func statusKB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("no %s line in /proc/%d/status", field, pid)
}
