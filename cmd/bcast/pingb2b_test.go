package main

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/seq"
)

// testEcho is an echo server on 127.0.0.1 whose answer to each request is
// up to answer: it gets the request's sequence number and a reply function
// (which may be called from elsewhere, later, or not at all).
func testEcho(t *testing.T, answer func(n uint64, req []byte, reply func([]byte))) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { c.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:n]...)
			h, _, err := seq.Parse(req)
			if err != nil {
				t.Errorf("test echo: request without a stamp: %v", err)
				continue
			}
			answer(h.Seq, req, func(b []byte) { _, _ = c.WriteToUDPAddrPort(b, from) })
		}
	}()
	return c.LocalAddr().String()
}

// b2bRun runs ping --back-to-back --json with args and returns its exit
// code, its reply objects and its summary.
func b2bRun(t *testing.T, ctx context.Context, args ...string) (result, []map[string]any, map[string]any) {
	t.Helper()
	r := runAppContext(t, ctx, "", append([]string{"ping", "--back-to-back", "--json"}, args...)...)
	var replies []map[string]any
	var sum map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q\nstderr:\n%s", line, r.stderr)
		}
		switch m["type"] {
		case "reply":
			replies = append(replies, m)
		case "summary":
			sum = m
		}
	}
	if sum == nil {
		t.Fatalf("no summary; exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r, replies, sum
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantCounts compares the summary's counters with want.
func wantCounts(t *testing.T, sum map[string]any, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got := num(t, sum, k); got != v {
			t.Errorf("%s = %v; want %v (summary %v)", k, got, v, sum)
		}
	}
}

func TestPingBackToBackAgainstEcho(t *testing.T) {
	_, first := start(t, "echo", "--listen", "127.0.0.1:0", "--json", "--quiet")
	r, replies, sum := b2bRun(t, withTimeout(t, 20*time.Second), "--to", first["addr"].(string), "--count", "300", "--quiet")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if len(replies) != 0 {
		t.Errorf("%d reply objects with --quiet; want none", len(replies))
	}
	if sum["mode"] != "back-to-back" {
		t.Errorf("mode %v; want back-to-back", sum["mode"])
	}
	wantCounts(t, sum, map[string]float64{"sent": 300, "received": 300, "missing": 0, "loss_pct": 0, "duplicates": 0, "late": 0,
		"foreign": 0, "unreachable": 0, "size": 64, "timeout_ms": 2000})
	// The percentiles are in order, and transactions/s is received over
	// elapsed_s.
	prev := 0.0
	for _, k := range []string{"rtt_min_ms", "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms", "rtt_p999_ms", "rtt_max_ms"} {
		v := num(t, sum, k)
		if v <= 0 || v < prev {
			t.Errorf("%s = %v after %v: want positive and in order (summary %v)", k, v, prev, sum)
		}
		prev = v
	}
	if avg := num(t, sum, "rtt_avg_ms"); avg < num(t, sum, "rtt_min_ms") || avg > num(t, sum, "rtt_max_ms") {
		t.Errorf("rtt_avg_ms %v outside min..max (summary %v)", avg, sum)
	}
	el, tps := num(t, sum, "elapsed_s"), num(t, sum, "transactions_per_s")
	if el <= 0 || tps < 300/el*0.999 || tps > 300/el*1.001 {
		t.Errorf("transactions_per_s %v with elapsed_s %v; want 300/elapsed_s", tps, el)
	}
}

func TestPingBackToBackIface(t *testing.T) {
	// --iface binds the socket to lo; the datagrams still go and come back.
	_, first := start(t, "echo", "--listen", "127.0.0.1:0", "--json", "--quiet")
	r, _, sum := b2bRun(t, withTimeout(t, 20*time.Second), "--to", first["addr"].(string), "--iface", "lo", "--count", "50", "--quiet")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	wantCounts(t, sum, map[string]float64{"sent": 50, "received": 50})
}

func TestPingBackToBackText(t *testing.T) {
	_, first := start(t, "echo", "--listen", "127.0.0.1:0", "--json", "--quiet")
	r := runApp(t, "", "ping", "--to", first["addr"].(string), "--back-to-back", "--count", "3")
	for _, want := range []string{"seq 3 rtt ", "--- " + first["addr"].(string) + " ping, back to back ---",
		"3 sent, 3 received, 0.0% loss, time ", " transactions/s", "rtt min/avg/p50/p90/p99/p999/max = "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != exitOK || !strings.Contains(r.stderr, "back to back (a reply later than 2s is lost)") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestPingBackToBackReplies checks what is taken for the awaited reply and
// how the rest is counted, against servers that misbehave in one way each.
func TestPingBackToBackReplies(t *testing.T) {
	tests := []struct {
		name   string
		count  string
		answer func(n uint64, req []byte, reply func([]byte))
		code   int
		want   map[string]float64
		// verdicts of the reply objects, in order
		verdicts string
	}{{
		name:  "every other request dropped",
		count: "10",
		answer: func(n uint64, req []byte, reply func([]byte)) {
			if n%2 == 1 {
				reply(req)
			}
		},
		want:     map[string]float64{"sent": 10, "received": 5, "missing": 5, "loss_pct": 50, "late": 0, "duplicates": 0},
		verdicts: "new new new new new",
	}, {
		name:  "every reply twice",
		count: "4",
		answer: func(n uint64, req []byte, reply func([]byte)) {
			reply(req)
			reply(req)
		},
		// The copy of reply k is read while k+1 is awaited; the last
		// copy is never read.
		want:     map[string]float64{"sent": 4, "received": 4, "missing": 0, "duplicates": 3, "late": 0},
		verdicts: "new duplicate new duplicate new duplicate new",
	}, {
		name:  "reply to 2 held until 3 comes",
		count: "4",
		answer: func() func(uint64, []byte, func([]byte)) {
			var held []byte
			return func(n uint64, req []byte, reply func([]byte)) {
				switch n {
				case 2:
					held = req
					return
				case 3:
					reply(held) // after request 2's --wait: late
				}
				reply(req)
			}
		}(),
		want:     map[string]float64{"sent": 4, "received": 3, "missing": 1, "late": 1, "duplicates": 0},
		verdicts: "new late new new",
	}, {
		name:  "unstamped datagram before each reply",
		count: "3",
		answer: func(n uint64, req []byte, reply func([]byte)) {
			reply([]byte("not a stamp"))
			reply(req)
		},
		want:     map[string]float64{"sent": 3, "received": 3, "foreign": 3},
		verdicts: "new new new",
	}, {
		name:  "replies from another run",
		count: "2",
		answer: func(n uint64, req []byte, reply func([]byte)) {
			h, _, _ := seq.Parse(req)
			h.Run++
			h.Put(req)
			reply(req)
		},
		code: exitTimeout,
		want: map[string]float64{"sent": 2, "received": 0, "missing": 2, "foreign": 2},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := testEcho(t, tt.answer)
			r, replies, sum := b2bRun(t, withTimeout(t, 20*time.Second), "--to", addr, "--count", tt.count, "--wait", "100ms")
			if r.code != tt.code {
				t.Errorf("exit %d; want %d\n%s", r.code, tt.code, r.stderr)
			}
			wantCounts(t, sum, tt.want)
			var got []string
			for _, m := range replies {
				got = append(got, m["verdict"].(string))
			}
			if strings.Join(got, " ") != tt.verdicts {
				t.Errorf("verdicts %q; want %q", strings.Join(got, " "), tt.verdicts)
			}
		})
	}
}

func TestPingBackToBackOtherSourceIsNotAReply(t *testing.T) {
	// The server answers from a second socket: another source, which the
	// connected socket never delivers.
	other, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var mu sync.Mutex
	var clients []netip.AddrPort
	srv, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			mu.Lock()
			clients = append(clients, from)
			mu.Unlock()
			_, _ = other.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	r, _, sum := b2bRun(t, withTimeout(t, 20*time.Second), "--to", srv.LocalAddr().String(), "--count", "2", "--wait", "100ms")
	if r.code != exitTimeout {
		t.Errorf("exit %d; want %d\n%s", r.code, exitTimeout, r.stderr)
	}
	wantCounts(t, sum, map[string]float64{"sent": 2, "received": 0, "foreign": 0})
	mu.Lock()
	defer mu.Unlock()
	if len(clients) != 2 {
		t.Errorf("server saw %d requests; want 2", len(clients))
	}
}

func TestPingBackToBackPortUnreachable(t *testing.T) {
	// Port 9 (discard) has no listener here: the kernel answers with port
	// unreachable, which the connected socket hears of.
	r, _, sum := b2bRun(t, withTimeout(t, 20*time.Second), "--to", "127.0.0.1:9", "--count", "2", "--wait", "100ms")
	if r.code != exitTimeout || !strings.Contains(r.stderr, "no reply from 127.0.0.1:9 (port unreachable: nothing listens there)") {
		t.Errorf("exit %d; want %d\n%s", r.code, exitTimeout, r.stderr)
	}
	wantCounts(t, sum, map[string]float64{"sent": 2, "received": 0, "missing": 2})
	if num(t, sum, "unreachable") < 1 {
		t.Errorf("unreachable %v; want at least 1", sum["unreachable"])
	}
}

func TestPingBackToBackFlagRules(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "10ms"}, "--back-to-back and --interval 10ms: give one"},
		{[]string{"--interval", "0"}, "--back-to-back and --interval 0s: give one"},
		{[]string{"--wait", "0"}, "--wait 0s: a reply could never come in time; --back-to-back needs a --wait above 0"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runApp(t, "", append([]string{"ping", "--to", "127.0.0.1:9", "--back-to-back"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d; want %d and %q\n%s", r.code, exitUsage, tt.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q; want nothing (refused before sending)", r.stdout)
			}
		})
	}
}

// TestPingBackToBackCtrlC stops runs with Ctrl-C (the run's context ends)
// both while replies flow and while a reply is awaited that never comes:
// each ends soon after, with its summary.
func TestPingBackToBackCtrlC(t *testing.T) {
	_, first := start(t, "echo", "--listen", "127.0.0.1:0", "--json", "--quiet")
	silent := testEcho(t, func(uint64, []byte, func([]byte)) {})
	tests := []struct {
		name, to string
		code     int
	}{{"replies flowing", first["addr"].(string), exitOK}, {"no reply coming", silent, exitTimeout}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(withTimeout(t, 20*time.Second))
			var stopped time.Time
			time.AfterFunc(300*time.Millisecond, func() { stopped = time.Now(); cancel() })
			r, _, sum := b2bRun(t, ctx, "--to", tt.to, "--count", "0", "--wait", "10s", "--quiet")
			took := time.Since(stopped)
			t.Logf("ended %v after the stop", took)
			// dgram ends a wait within 25 ms of a deadline; a second is
			// room for a loaded machine, and ten times less than --wait.
			if took > time.Second {
				t.Errorf("ended %v after the stop; want well within --wait (10s)", took)
			}
			if r.code != tt.code {
				t.Errorf("exit %d; want %d\n%s", r.code, tt.code, r.stderr)
			}
			if sent, got := num(t, sum, "sent"), num(t, sum, "received"); sent != got {
				t.Errorf("sent %v, received %v: the datagram cut short must not count as lost", sent, got)
			}
		})
	}
}

// TestBackToBackTransactionAllocs: a round trip with --quiet allocates
// nothing.
func TestBackToBackTransactionAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so allocation counts are meaningless; the plain test run checks them")
	}
	p := selfB2B(t)
	allocs := testing.AllocsPerRun(1000, func() {
		if o, _, err := p.transact(); o != replied || err != nil {
			t.Fatalf("outcome %v, %v", o, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per transaction; want 0", allocs)
	}
	if p.received != p.sent || p.hist.Count() != p.sent {
		t.Errorf("received %d, histogram %d of %d sent", p.received, p.hist.Count(), p.sent)
	}
}
