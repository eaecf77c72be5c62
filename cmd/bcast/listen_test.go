package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/seq"
	"github.com/bcastdev/bcast/multicast"
)

// listenAddr is the address a started listen or echo reported.
func listenAddr(t *testing.T, s *started) string {
	t.Helper()
	return s.firstAddr
}

func TestSendListenUnicastJSON(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "2")
	if first["type"] != "listening" {
		t.Fatalf("first line %v; want the listening object", first)
	}
	addr := first["addr"].(string)
	if r := runApp(t, "", "send", "--to", addr, "--message", "hello"); r.code != 0 {
		t.Fatalf("send: exit %d\n%s", r.code, r.stderr)
	}
	if r := runApp(t, "piped payload\n", "send", "--to", addr, "--ttl", "9"); r.code != 0 {
		t.Fatalf("send from stdin: exit %d\n%s", r.code, r.stderr)
	}
	lines, res := l.rest()
	if res.code != 0 {
		t.Fatalf("listen exit %d\n%s", res.code, res.stderr)
	}
	ds := ofType(lines, "datagram")
	if len(ds) != 2 {
		t.Fatalf("got %d datagrams; want 2: %v", len(ds), lines)
	}
	d := ds[0]
	for _, key := range []string{"src", "sport", "dst", "dport", "ifindex", "ifname", "ttl", "len", "truncated", "ts", "payload_hex", "kind"} {
		if _, ok := d[key]; !ok {
			t.Errorf("datagram lacks %q: %v", key, d)
		}
	}
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	want := map[string]any{"src": "127.0.0.1", "dst": "127.0.0.1", "dport": float64(port), "ifname": "lo", "len": float64(5),
		"truncated": false, "payload_hex": "68656c6c6f", "text": "hello", "kind": "unicast", "own": true}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %#v; want %#v", k, d[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, d["ts"].(string)); err != nil {
		t.Errorf("ts %q: %v", d["ts"], err)
	}
	if ds[1]["text"] != "piped payload\n" || ds[1]["ttl"] != float64(9) {
		t.Errorf("second datagram text %q ttl %v; want the piped payload with TTL 9", ds[1]["text"], ds[1]["ttl"])
	}
	sum := ofType(lines, "summary")
	if len(sum) != 1 || num(t, sum[0], "received") != 2 || num(t, sum[0], "datagrams") != 2 {
		t.Errorf("summary = %v", sum)
	}
}

func TestSendListenBroadcastLoopback(t *testing.T) {
	// Broadcasts reach only a wildcard-bound socket.
	l, first := start(t, "listen", "--listen", "0", "--json", "--count", "1")
	port := netip.MustParseAddrPort(first["addr"].(string)).Port()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port).String()
	if r := runApp(t, "", "send", "--to", to, "-m", "to all"); r.code != 0 {
		t.Fatalf("send: exit %d\n%s", r.code, r.stderr)
	}
	lines, _ := l.rest()
	ds := ofType(lines, "datagram")
	if len(ds) != 1 || ds[0]["kind"] != "broadcast" || ds[0]["dst"] != "127.255.255.255" || ds[0]["text"] != "to all" {
		t.Errorf("datagrams = %v; want one broadcast to 127.255.255.255", ds)
	}
}

func TestListenTextOutput(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close() // free the port for listen; nothing else takes it in the meantime
	done := make(chan result, 1)
	go func() { done <- runApp(t, "", "listen", "--listen", addr, "--count", "2", "--hex", "--timeout", "10s") }()
	waitBound(t, addr)
	runApp(t, "", "send", "--to", addr, "-m", "hex me")
	runApp(t, "", "send", "--to", addr, "--seq", "--count", "1", "-m", "stamped")
	r := <-done
	if r.code != 0 {
		t.Fatalf("listen: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"> 127.0.0.1:", " unicast lo ttl 64 len 6", "|hex me|", "68 65 78 20 6d 65", "seq 1/1 run "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "listening on "+addr) || !strings.Contains(r.stderr, "2 datagrams") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// waitBound waits until something is bound to the UDP address.
func waitBound(t *testing.T, addr string) {
	t.Helper()
	// Read the kernel's socket table rather than try to bind the address:
	// a probing bind that won the race would make the command under test
	// fail with EADDRINUSE and this wait time out.
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	table := "/proc/net/udp"
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		table = "/proc/net/udp6"
	}
	port := fmt.Sprintf(":%04X", ap.Port())
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(table)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1], port) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing bound %s within 5s", addr)
}

func TestListenTruncationReported(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "1", "--buffer", "16")
	if r := runApp(t, "", "send", "--to", first["addr"].(string), "--size", "1000"); r.code != 0 {
		t.Fatalf("send: exit %d\n%s", r.code, r.stderr)
	}
	lines, _ := l.rest()
	ds := ofType(lines, "datagram")
	if len(ds) != 1 {
		t.Fatalf("datagrams = %v", lines)
	}
	d := ds[0]
	if d["truncated"] != true || num(t, d, "len") != 1000 || num(t, d, "captured") != 16 || len(d["payload_hex"].(string)) != 32 {
		t.Errorf("truncated datagram = %v; want truncated, len 1000, captured 16", d)
	}
}

// sendStamps sends hand-made stamped datagrams to addr, for loss patterns
// a real sender does not produce on loopback.
func sendStamps(t *testing.T, addr string, run, total uint64, seqs ...uint64) {
	t.Helper()
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range seqs {
		b := seq.Header{Run: run, Seq: s, Total: total, Sent: time.Now().UnixNano()}.Append(nil)
		if _, err := c.Write(append(b, "x"...)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // keep the order on loopback
	}
}

func TestListenSeqExactLoss(t *testing.T) {
	tests := []struct {
		name   string
		total  uint64
		expect string
		seqs   []uint64
		want   map[string]float64
	}{
		{"gaps, a duplicate, a reordering", 10, "", []uint64{1, 2, 4, 5, 5, 6, 9, 8},
			map[string]float64{"sent": 10, "received": 7, "missing": 3, "duplicates": 1, "reordered": 1}},
		{"tail lost, count unknown, --expect", 0, "8", []uint64{1, 2, 3, 4, 5},
			map[string]float64{"sent": 8, "received": 5, "missing": 3, "duplicates": 0, "reordered": 0}},
		{"tail lost, count unknown, no --expect", 0, "", []uint64{1, 3},
			map[string]float64{"sent": 3, "received": 2, "missing": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"listen", "--listen", "127.0.0.1:0", "--json", "--seq", "--quiet", "--idle", "300ms"}
			if tt.expect != "" {
				args = append(args, "--expect", tt.expect)
			}
			l, first := start(t, args...)
			sendStamps(t, first["addr"].(string), 77, tt.total, tt.seqs...)
			lines, res := l.rest()
			if res.code != 0 {
				t.Fatalf("exit %d\n%s", res.code, res.stderr)
			}
			sum := ofType(lines, "summary")
			if len(sum) != 1 {
				t.Fatalf("summaries = %v", lines)
			}
			for k, v := range tt.want {
				if got := num(t, sum[0], k); got != v {
					t.Errorf("%s = %v; want %v (summary %v)", k, got, v, sum[0])
				}
			}
			if num(t, sum[0], "missing") != num(t, sum[0], "sent")-num(t, sum[0], "received") {
				t.Errorf("missing != sent - received: %v", sum[0])
			}
		})
	}
}

func TestSendListenSeqRealSender(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--seq", "--quiet", "--expect", "200", "--timeout", "15s")
	r := runApp(t, "", "send", "--to", first["addr"].(string), "--seq", "--count", "200", "--rate", "2000", "--size", "100", "--json", "--quiet")
	if r.code != 0 {
		t.Fatalf("send: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"sent":200`) {
		t.Errorf("send summary: %s", r.stdout)
	}
	lines, res := l.rest()
	if res.code != 0 {
		t.Fatalf("listen: exit %d\n%s", res.code, res.stderr)
	}
	sum := ofType(lines, "summary")[0]
	if num(t, sum, "sent") != 200 || num(t, sum, "received") != 200 || num(t, sum, "missing") != 0 || num(t, sum, "runs") != 1 {
		t.Errorf("summary %v; want 200 sent and received, none missing", sum)
	}
	if num(t, sum, "delay_max_us") <= 0 {
		t.Errorf("no delay measured: %v", sum)
	}
	if !strings.Contains(res.stderr, "received") {
		t.Logf("no live statistics line (the run took under a second): %q", res.stderr)
	}
}

func TestListenLiveStats(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--seq", "--quiet", "--timeout", "1500ms")
	sendStamps(t, first["addr"].(string), 5, 0, 1, 3)
	_, res := l.rest()
	if !strings.Contains(res.stderr, "received 2 missing 1 duplicates 0 reordered 0") {
		t.Errorf("live statistics missing from stderr:\n%s", res.stderr)
	}
}

func TestListenTimeoutNothingReceived(t *testing.T) {
	r := runApp(t, "", "listen", "--listen", "127.0.0.1:0", "--timeout", "200ms", "--json")
	if r.code != exitTimeout {
		t.Errorf("exit %d; want %d", r.code, exitTimeout)
	}
	if !strings.Contains(r.stderr, "nothing received within 200ms") || !strings.Contains(r.stdout, `"received":0`) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

func TestListenTimeoutAfterSomething(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--timeout", "700ms")
	runApp(t, "", "send", "--to", first["addr"].(string), "-m", "one")
	_, res := l.rest()
	if res.code != 0 {
		t.Errorf("exit %d after receiving one datagram; want 0", res.code)
	}
}

func TestListenInterruptPrintsSummary(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--seq")
	sendStamps(t, first["addr"].(string), 9, 4, 1, 2)
	for range 2 {
		if d := l.next(); d["type"] != "datagram" {
			t.Fatalf("got %v", d)
		}
	}
	l.interrupt()
	lines, res := l.rest()
	if res.code != 0 {
		t.Errorf("exit %d after Ctrl-C; want 0", res.code)
	}
	sum := ofType(lines, "summary")
	if len(sum) != 1 || num(t, sum[0], "missing") != 2 || num(t, sum[0], "sent") != 4 {
		t.Errorf("summary after Ctrl-C = %v; want sent 4 missing 2", sum)
	}
}

func TestListenIfaceFilter(t *testing.T) {
	// Everything on loopback arrives on lo; a filter for another interface
	// skips it and says so.
	other := ""
	ifs, _ := net.Interfaces()
	for _, ifi := range ifs {
		if ifi.Name != "lo" {
			other = ifi.Name
			break
		}
	}
	if other == "" {
		t.Skip("no interface besides lo")
	}
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--iface", other, "--timeout", "500ms")
	runApp(t, "", "send", "--to", first["addr"].(string), "-m", "filtered")
	lines, res := l.rest()
	if res.code != exitTimeout {
		t.Errorf("exit %d; want %d (nothing on %s)", res.code, exitTimeout, other)
	}
	if sum := ofType(lines, "summary"); len(sum) != 1 || num(t, sum[0], "filtered") != 1 {
		t.Errorf("summary = %v; want 1 filtered", sum)
	}
}

func TestReusePortGroupBind(t *testing.T) {
	wild := netip.MustParseAddrPort("0.0.0.0:5000")
	g := func(s string) multicast.Group {
		grp, err := multicast.ParseGroup(s)
		if err != nil {
			t.Fatal(err)
		}
		return grp
	}
	tests := []struct {
		name   string
		groups []multicast.Group
		want   string
		warns  bool
	}{
		{"no group", nil, "0.0.0.0:5000", false},
		{"one group", []multicast.Group{g("239.1.1.1")}, "239.1.1.1:5000", false},
		{"one group, two sources", []multicast.Group{g("10.0.0.1,232.1.1.1"), g("10.0.0.2,232.1.1.1")}, "232.1.1.1:5000", false},
		{"two groups", []multicast.Group{g("239.1.1.1"), g("239.1.1.2")}, "0.0.0.0:5000", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warning := reusePortGroupBind(wild, tt.groups)
			if got.String() != tt.want || (warning != "") != tt.warns {
				t.Errorf("= %v, %q; want %v, warning %v", got, warning, tt.want, tt.warns)
			}
		})
	}
}
