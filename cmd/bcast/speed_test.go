package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/netns"
	"github.com/bcastdev/bcast/internal/seq"
)

func TestSpeedFlagUsageErrors(t *testing.T) {
	to := []string{"send", "--to", "127.0.0.1:9", "-m", "x"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"send batch 0", append(to, "--batch", "0"), "--batch 0: must be 1 to 1024"},
		{"send batch too big", append(to, "--batch", "1025"), "--batch 1025: must be 1 to 1024"},
		{"send batch not a number", append(to, "--batch", "many"), "-batch"},
		{"send gso batch 1", append(to, "--gso", "--batch", "1"), "--gso needs --batch 2 or more"},
		{"send gso batch too big", append(to, "--gso", "--batch", "65537"), "--batch 65537: must be 2 to 65536"},
		{"send batch fan-out", []string{"send", "--to", "255.255.255.255:9", "-A", "-m", "x", "--batch", "8"}, "--batch and --gso are for one destination"},
		{"send gso fan-out", []string{"send", "--to", ":9", "-A", "-m", "x", "--gso"}, "--batch and --gso are for one destination"},
		{"listen batch 0", []string{"listen", "--listen", ":9", "--batch", "0"}, "--batch 0: must be 1 to 1024"},
		{"listen batch too big", []string{"listen", "--listen", ":9", "--batch", "4096"}, "--batch 4096"},
		{"bench duration 0", []string{"bench", "--duration", "0s"}, "--duration 0s"},
		{"bench duration long", []string{"bench", "--duration", "11m"}, "--duration 11m0s"},
		{"bench size 0", []string{"bench", "--size", "0"}, "--size 0: must be 1 to 65507"},
		{"bench size below stamp", []string{"bench", "--seq", "--size", "39"}, "--size 39: must be 40 to 65507"},
		{"bench size too big", []string{"bench", "--size", "65508"}, "--size 65508"},
		{"bench batch", []string{"bench", "--batch", "0"}, "--batch 0"},
		{"bench recv-batch", []string{"bench", "--recv-batch", "2000"}, "--recv-batch 2000"},
		{"bench gso batch 1", []string{"bench", "--gso", "--batch", "1"}, "--gso needs --batch 2 or more"},
		{"bench negative rate", []string{"bench", "--rate", "-5"}, "--rate -5"},
		{"bench negative recv-buffer", []string{"bench", "--recv-buffer", "-1"}, "--recv-buffer -1"},
		{"bench argument", []string{"bench", "now"}, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runApp(t, "", tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d; want %d (usage); stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

// sendJSONSummary is the summary object of a send --json run.
func sendJSONSummary(t *testing.T, r result) map[string]any {
	t.Helper()
	sum := ofType(jsonLines(t, r.stdout), "summary")
	if len(sum) != 1 {
		t.Fatalf("send printed %d summaries; stdout:\n%s\nstderr:\n%s", len(sum), r.stdout, r.stderr)
	}
	return sum[0]
}

// TestSendBatchExactSeq sends stamped datagrams by every path to a listener
// with a receive buffer large enough to hold them all, so that nothing may
// be missing: every datagram of a batch or a GSO run must carry its own
// sequence number (a repeated stamp would count as a duplicate and leave
// another missing).
func TestSendBatchExactSeq(t *testing.T) {
	tests := []struct {
		name   string
		count  int
		size   int
		send   []string
		listen []string
		path   string // "": not checked (a paced batch may hold one datagram)
	}{
		{"sendmsg", 500, 100, []string{"--batch", "1"}, nil, pathSendmsg},
		{"sendmmsg", 1500, 100, []string{"--batch", "64"}, nil, pathSendmmsg},
		{"sendmmsg odd batch", 1000, 333, []string{"--batch", "7"}, []string{"--batch", "5"}, pathSendmmsg},
		{"gso to gro", 5000, 200, []string{"--batch", "64", "--gso"}, []string{"--gro"}, pathGSO},
		{"gso to plain receiver", 1500, 200, []string{"--batch", "256", "--gso"}, nil, pathGSO},
		{"gso paced", 1000, 1400, []string{"--batch", "64", "--gso", "--rate", "20000"}, []string{"--gro"}, ""},
		{"gso unconnected", 1000, 64, []string{"--gso", "--connect=false"}, []string{"--gro", "--batch", "1"}, pathGSO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"listen", "--listen", "127.0.0.1:0", "--json", "--seq", "--quiet",
				"--recv-buffer", strconv.Itoa(16 << 20), "--expect", strconv.Itoa(tt.count), "--timeout", "15s"}, tt.listen...)
			l, first := start(t, args...)
			send := append([]string{"send", "--to", first["addr"].(string), "--seq", "--count", strconv.Itoa(tt.count),
				"--size", strconv.Itoa(tt.size), "--quiet", "--json"}, tt.send...)
			if !strings.Contains(strings.Join(tt.send, " "), "--rate") {
				send = append(send, "--interval", "0")
			}
			r := runApp(t, "", send...)
			if r.code != 0 {
				t.Fatalf("send: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			ss := sendJSONSummary(t, r)
			if num(t, ss, "sent") != float64(tt.count) || num(t, ss, "errors") != 0 {
				t.Errorf("send summary %v; want %d sent, no errors", ss, tt.count)
			}
			if tt.path != "" && ss["path"] != tt.path {
				t.Errorf("path %v; want %s (summary %v)", ss["path"], tt.path, ss)
			}
			wantConnected := !strings.Contains(strings.Join(tt.send, " "), "--connect=false")
			if ss["connected"] != wantConnected {
				t.Errorf("connected %v; want %v", ss["connected"], wantConnected)
			}
			if strings.Contains(r.stderr, "note:") {
				t.Errorf("unexpected note on loopback:\n%s", r.stderr)
			}
			lines, res := l.rest()
			if res.code != 0 {
				t.Fatalf("listen: exit %d\n%s", res.code, res.stderr)
			}
			sum := ofType(lines, "summary")[0]
			for k, v := range map[string]float64{"sent": float64(tt.count), "received": float64(tt.count), "missing": 0,
				"duplicates": 0, "late": 0, "foreign": 0, "runs": 1, "kernel_drops": 0} {
				if got := num(t, sum, k); got != v {
					t.Errorf("%s = %v; want %v (summary %v)", k, got, v, sum)
				}
			}
			if num(t, sum, "bytes") != float64(tt.count*tt.size) {
				t.Errorf("bytes %v; want %d", sum["bytes"], tt.count*tt.size)
			}
			if gro := strings.Contains(strings.Join(tt.listen, " "), "--gro"); sum["gro"] != gro {
				t.Errorf("gro %v; want %v", sum["gro"], gro)
			}
		})
	}
}

// TestSendBatchKeepsPace: at --rate the batches hold only what is due, so
// 600 datagrams at 2000/s take 0.3 s however large the batch.
func TestSendBatchKeepsPace(t *testing.T) {
	_, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--quiet")
	for _, extra := range [][]string{{"--batch", "1024"}, {"--batch", "1024", "--gso"}} {
		r := runApp(t, "", append([]string{"send", "--to", first["addr"].(string), "--seq", "--count", "600", "--rate", "2000",
			"--size", "100", "--quiet", "--json"}, extra...)...)
		if r.code != 0 {
			t.Fatalf("send %v: exit %d\n%s", extra, r.code, r.stderr)
		}
		ss := sendJSONSummary(t, r)
		// The last of 600 datagrams is due 599/2000 s after the first.
		if el := num(t, ss, "elapsed_s"); el < 0.2995 || el > 5 {
			t.Errorf("send %v took %.3fs; want about 0.3s", extra, el)
		}
	}
}

func TestSendConnectOnlyOneDestination(t *testing.T) {
	l, first := start(t, "listen", "--listen", "0", "--json", "--quiet", "--count", "6")
	port := netip.MustParseAddrPort(first["addr"].(string)).Port()
	tests := []struct {
		to, extra string
		want      bool
	}{
		{"127.0.0.1", "", true},
		{"127.255.255.255", "", true}, // a directed broadcast: one destination
		{"127.0.0.1", "--connect=false", false},
	}
	for _, tt := range tests {
		args := []string{"send", "--to", netip.AddrPortFrom(netip.MustParseAddr(tt.to), port).String(), "-m", "c", "--count", "2", "--interval", "0", "--json", "--quiet"}
		if tt.extra != "" {
			args = append(args, tt.extra)
		}
		r := runApp(t, "", args...)
		if ss := sendJSONSummary(t, r); r.code != 0 || ss["connected"] != tt.want || ss["sent"] != float64(2) {
			t.Errorf("send to %s %s: exit %d, summary %v; want connected %v", tt.to, tt.extra, r.code, ss, tt.want)
		}
	}
	if lines, _ := l.rest(); num(t, ofType(lines, "summary")[0], "received") != 6 {
		t.Errorf("listener summary %v; want 6 datagrams", ofType(lines, "summary"))
	}
}

// TestSendConnectedPortUnreachable: a connected socket hears the port
// unreachable of a closed port; that must not stop the run, which still
// sends every datagram as an unconnected one would.
func TestSendConnectedPortUnreachable(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close() // nothing listens there now
	for _, batch := range []string{"1", "64"} {
		r := runApp(t, "", "send", "--to", addr, "-m", "anyone?", "--count", "200", "--interval", "0", "--batch", batch, "--json", "--quiet")
		ss := sendJSONSummary(t, r)
		if r.code != 0 || ss["sent"] != float64(200) || ss["errors"] != float64(0) || ss["connected"] != true {
			t.Errorf("--batch %s: exit %d, summary %v; want 200 sent, connected, exit 0\n%s", batch, r.code, ss, r.stderr)
		}
		if batch == "1" {
			// Loopback answers at once: the second sendmsg hears of the first.
			if num(t, ss, "port_unreachable") < 1 || strings.Count(r.stderr, "answered port unreachable") != 1 {
				t.Errorf("--batch 1: summary %v, stderr %q; want port_unreachable counted and said once", ss, r.stderr)
			}
		}
	}
}

func TestListenTextSummarySaysGRO(t *testing.T) {
	done := make(chan result, 1)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	go func() {
		done <- runApp(t, "", "listen", "--listen", addr, "--gro", "--quiet", "--seq", "--expect", "128", "--recv-buffer", "4194304", "--timeout", "10s")
	}()
	waitBound(t, addr)
	if r := runApp(t, "", "send", "--to", addr, "--seq", "--count", "128", "--interval", "0", "--gso", "--size", "500", "--quiet"); r.code != 0 {
		t.Fatalf("send: exit %d\n%s", r.code, r.stderr)
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.stderr, "arrived coalesced (GRO)") || !strings.Contains(r.stderr, "received 128 missing 0") {
		t.Errorf("listen: exit %d\n%s", r.code, r.stderr)
	}
}

// TestListenGROBuffer: --gro asks for a receive buffer that holds many GRO
// buffers, unless --recv-buffer says otherwise.
func TestListenGROBuffer(t *testing.T) {
	readInt := func(path string) int {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("%v", err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return n
	}
	def, maxb := readInt("/proc/sys/net/core/rmem_default"), readInt("/proc/sys/net/core/rmem_max")
	for _, tt := range []struct {
		args []string
		more bool // than the kernel's default
	}{
		{[]string{"--gro"}, maxb >= def},
		{[]string{"--gro", "--recv-buffer", "65536"}, false},
		{nil, false},
	} {
		r := runApp(t, "", append([]string{"listen", "--listen", "127.0.0.1:0", "--json", "--timeout", "50ms"}, tt.args...)...)
		sum := ofType(jsonLines(t, r.stdout), "summary")
		if len(sum) != 1 {
			t.Fatalf("listen %v: %v\n%s", tt.args, r.stdout, r.stderr)
		}
		got := int(num(t, sum[0], "recv_buffer"))
		if (got > def) != tt.more {
			t.Errorf("listen %v: recv_buffer %d with the kernel's default %d; want larger: %v", tt.args, got, def, tt.more)
		}
		if strings.Contains(r.stderr, "receive buffer") {
			t.Errorf("listen %v warns about its buffer:\n%s", tt.args, r.stderr)
		}
	}
}

func TestBenchSmoke(t *testing.T) {
	for _, extra := range [][]string{nil, {"--gso", "--gro", "--size", "1400", "--seq"}} {
		r := binRun(t, "", append([]string{"bench", "--duration", "1s", "--json"}, extra...)...)
		if r.code != 0 {
			t.Fatalf("bench %v: exit %d\n%s%s", extra, r.code, r.stdout, r.stderr)
		}
		lines := jsonLines(t, r.stdout)
		if len(lines) != 1 || lines[0]["type"] != "bench" {
			t.Fatalf("bench %v printed %v; want one bench object", extra, lines)
		}
		m := lines[0]
		for _, k := range []string{"pps", "mbps", "sent", "received", "missing", "loss_pct", "kernel_drops", "send_pps", "recv_seconds", "batch", "recv_batch", "size"} {
			num(t, m, k)
		}
		if num(t, m, "sent") <= 0 || num(t, m, "received") <= 0 || num(t, m, "pps") <= 0 {
			t.Errorf("bench %v: nothing measured: %v", extra, m)
		}
		if num(t, m, "missing") != num(t, m, "sent")-num(t, m, "received") {
			t.Errorf("bench %v: missing != sent - received: %v", extra, m)
		}
		if m["connected"] != true {
			t.Errorf("bench %v: connected %v; want true", extra, m["connected"])
		}
		wantPath, wantBatch := pathSendmmsg, defaultSendBatch
		if extra != nil {
			wantBatch = defaultGSOBatch
			wantPath = pathGSO
			if m["gro"] != true || num(t, m, "coalesced") <= 0 {
				t.Errorf("bench %v: gro %v coalesced %v; want GRO on and coalesced datagrams", extra, m["gro"], m["coalesced"])
			}
			if m["seq"] != true || num(t, m, "duplicates") != 0 || num(t, m, "reordered") != 0 {
				t.Errorf("bench %v: seq %v duplicates %v reordered %v; want stamped, none", extra, m["seq"], m["duplicates"], m["reordered"])
			}
		}
		if m["path"] != wantPath || m["batch"] != float64(wantBatch) {
			t.Errorf("bench %v: path %v batch %v; want %s, %d", extra, m["path"], m["batch"], wantPath, wantBatch)
		}
	}
	r := binRun(t, "", "bench", "--duration", "300ms", "--batch", "1", "--recv-batch", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "pps") || !strings.Contains(r.stdout, "sendmsg, connected") || !strings.Contains(r.stdout, "missing") {
		t.Errorf("bench text: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestListenObserveAllocs: with --quiet and --seq, observe is all the
// listener does per datagram; it must not allocate.
func TestListenObserveAllocs(t *testing.T) {
	st := &listenState{tracker: seq.NewTracker(0)}
	data := pad(seq.Header{Run: 1, Seq: 1, Sent: time.Now().UnixNano()}.Append(nil), 64)
	pk := &broadcast.Packet{Data: data, Size: len(data), Time: time.Now()}
	now := time.Now()
	st.observe(pk, true, false, now) // the run's first datagram creates its record
	var n uint64 = 1
	foreign := &broadcast.Packet{Data: []byte("not stamped"), Size: 11}
	batch := []broadcast.Packet{{Size: 64, Drops: 2}, {Size: 64, Drops: 9}, {Size: 64, Drops: 5}, {Size: 64}}
	allocs := testing.AllocsPerRun(1000, func() {
		n++
		seq.Header{Run: 1, Seq: n, Sent: now.UnixNano()}.Put(data)
		if c := st.observe(pk, true, false, now); c.verdict != seq.New || c.hn != seq.HeaderLen {
			t.Fatalf("verdict %v, stamp length %d; want new, 40", c.verdict, c.hn)
		}
		st.observe(foreign, true, false, now)
		st.observe(pk, false, false, now) // no --seq, lines: parse only
		st.countAll(batch, now)           // --quiet without --seq
	})
	if allocs != 0 {
		t.Errorf("observe allocates %v times per datagram; want 0", allocs)
	}
	if got := st.tracker.Received(); got != n {
		t.Errorf("received %d; want %d", got, n)
	}
	// The first datagram, then each round three observed and a batch of
	// four counted.
	if want := 1 + 7*(n-1); st.datagrams != want {
		t.Errorf("datagrams %d; want %d", st.datagrams, want)
	}
	if want := uint64(64+11+64+4*64)*(n-1) + 64; st.bytes != want || st.drops != 9 {
		t.Errorf("bytes %d drops %d; want %d and 9 (the batch's highest)", st.bytes, st.drops, want)
	}
}

func BenchmarkListenObserve(b *testing.B) {
	st := &listenState{tracker: seq.NewTracker(0)}
	data := pad(seq.Header{Run: 1, Seq: 1}.Append(nil), 64)
	pk := &broadcast.Packet{Data: data, Size: len(data), Time: time.Now()}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		seq.Header{Run: 1, Seq: uint64(i) + 1, Sent: now.UnixNano()}.Put(data)
		st.observe(pk, true, false, now)
	}
}

// TestIntegrationSendGSOFallback: where the route refuses GSO (here a
// loopback MTU below the segment size, which the kernel refuses for GSO
// but fragments for plain datagrams), send --gso says so once, as a note,
// sends every datagram one per message and exits 0.
func TestIntegrationSendGSOFallback(t *testing.T) {
	netns.RequireRoot(t)
	lab := netns.New(t)
	h := lab.Host("gso")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Logf("$ ip -n %s link set lo mtu 1280", h.NS())
	if out, err := h.Run(ctx, "ip", "link", "set", "lo", "mtu", "1280"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	const count = 300
	l, first := nsStart(t, h, "listen", "--listen", "127.0.0.1:0", "--json", "--seq", "--quiet",
		"--expect", fmt.Sprint(count), "--recv-buffer", "8388608", "--timeout", "15s")
	r := nsRun(t, h, "send", "--to", first["addr"].(string), "--gso", "--seq", "--count", fmt.Sprint(count),
		"--size", "1400", "--interval", "0", "--json", "--quiet")
	if r.code != 0 {
		t.Fatalf("send --gso over a 1280-byte MTU: exit %d; want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Count(r.stderr, "note:") != 1 || !strings.Contains(r.stderr, "GSO refused") {
		t.Errorf("stderr %q; want one note that GSO was refused", r.stderr)
	}
	ss := sendJSONSummary(t, r)
	if ss["sent"] != float64(count) || ss["path"] != pathSendmmsg || num(t, ss, "gso_refused") < 1 {
		t.Errorf("send summary %v; want %d sent one per message after a refusal", ss, count)
	}
	lines, code := l.wait(t)
	sum := ofType(lines, "summary")
	if code != 0 || len(sum) != 1 || sum[0]["received"] != float64(count) || sum[0]["missing"] != float64(0) {
		t.Errorf("listen: exit %d, %v; want all %d received", code, sum, count)
	}
}
