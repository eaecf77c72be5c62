package integration

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// A datagram is a "datagram" line of `bcast listen --json`.
type datagram struct {
	Src        netip.Addr `json:"src"`
	Sport      int        `json:"sport"`
	Dst        netip.Addr `json:"dst"`
	Dport      int        `json:"dport"`
	Kind       string     `json:"kind"`
	Ifindex    int        `json:"ifindex"`
	Ifname     string     `json:"ifname"`
	TTL        int        `json:"ttl"`
	Len        int        `json:"len"`
	Captured   int        `json:"captured"`
	Truncated  bool       `json:"truncated"`
	Own        bool       `json:"own"`
	PayloadHex string     `json:"payload_hex"`
	Seq        *struct {
		Seq     uint64 `json:"seq"`
		Total   uint64 `json:"total"`
		Verdict string `json:"verdict"`
	} `json:"seq"`
}

// payload decodes payload_hex.
func (d datagram) payload() []byte {
	b, _ := hex.DecodeString(d.PayloadHex)
	return b
}

// datagramFields are the keys every datagram line must carry (README).
var datagramFields = []string{"src", "sport", "dst", "ifindex", "ifname", "ttl", "len", "truncated", "ts", "payload_hex"}

// A summary is the "summary" line `bcast listen --json` ends with. The
// counts below Received are there with --seq only.
type summary struct {
	Received    int64 `json:"received"`
	Sent        int64 `json:"sent"`
	Missing     int64 `json:"missing"`
	Duplicates  int64 `json:"duplicates"`
	Reordered   int64 `json:"reordered"`
	Late        int64 `json:"late"`
	KernelDrops int64 `json:"kernel_drops"`
	Filtered    int64 `json:"filtered"`
}

var summaryFields = []string{"received"}
var seqSummaryFields = []string{"received", "missing", "duplicates", "reordered", "sent", "kernel_drops"}

// listenOutput is the parsed stdout of `bcast listen --json`.
type listenOutput struct {
	datagrams []datagram
	summary   summary
}

// parseListen parses the stdout of `bcast listen --json`: a "listening"
// line, one "datagram" line per datagram, one "summary" line. It fails the
// test on anything else, on a line lacking a documented field, and on a
// missing summary.
func parseListen(t *testing.T, who, stdout string, seq bool) listenOutput {
	t.Helper()
	var out listenOutput
	summaries := 0
	for i, line := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &keys); err != nil {
			t.Fatalf("%s: stdout line %d is not a JSON object: %v\n%s", who, i+1, err, line)
		}
		var typ string
		_ = json.Unmarshal(keys["type"], &typ)
		switch typ {
		case "listening":
		case "datagram":
			requireKeys(t, who, i+1, line, keys, datagramFields)
			var d datagram
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("%s: stdout line %d: %v\n%s", who, i+1, err, line)
			}
			out.datagrams = append(out.datagrams, d)
		case "summary":
			want := summaryFields
			if seq {
				want = seqSummaryFields
			}
			requireKeys(t, who, i+1, line, keys, want)
			if err := json.Unmarshal([]byte(line), &out.summary); err != nil {
				t.Fatalf("%s: stdout line %d: %v\n%s", who, i+1, err, line)
			}
			summaries++
		default:
			t.Fatalf("%s: stdout line %d has type %q; want listening, datagram or summary:\n%s", who, i+1, typ, line)
		}
	}
	if summaries != 1 {
		t.Fatalf("%s: printed %d summary lines; want 1 at the end", who, summaries)
	}
	return out
}

func requireKeys(t *testing.T, who string, n int, line string, keys map[string]json.RawMessage, want []string) {
	t.Helper()
	var missing []string
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s: stdout line %d lacks %v:\n%s", who, n, missing, line)
	}
}

// A listener is a running `bcast listen --json`.
type listener struct {
	*proc
	host *netns.Host
	seq  bool
}

// startListen starts `bcast listen --json ARGS` on h and returns once it
// has printed its "listening" line, i.e. it is bound and has joined its
// groups.
func startListen(t *testing.T, h *netns.Host, args ...string) *listener {
	t.Helper()
	l := &listener{host: h}
	for _, a := range args {
		if a == "--seq" {
			l.seq = true
		}
	}
	l.proc = start(t, h, bin(t, "bcast"), append([]string{"listen", "--json"}, args...)...)
	l.waitStdout(`the "listening" line`, func(line string) bool {
		return strings.HasPrefix(line, "{") && strings.Contains(line, `"type":"listening"`)
	})
	return l
}

// stopListeners sends SIGINT to every listener at once (after settle, so
// late copies and duplicates have arrived), checks each exits with status
// 0, and returns their parsed output in the same order.
func stopListeners(t *testing.T, ls ...*listener) []listenOutput {
	t.Helper()
	time.Sleep(settle)
	// Whatever arrived must have been read before the interrupt: a
	// listener starved of CPU on a busy machine would otherwise lose
	// datagrams still queued in its socket when it exits.
	seen := map[*netns.Host]bool{}
	for _, l := range ls {
		if !seen[l.host] {
			seen[l.host] = true
			waitUDPQueuesEmpty(t, l.host)
		}
	}
	errs := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errs <- l.interrupt() }()
	}
	for range ls {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	outs := make([]listenOutput, len(ls))
	for i, l := range ls {
		outs[i] = parseListen(t, l.desc, l.stdout.String(), l.seq)
	}
	return outs
}

// send runs `bcast send ARGS` on h and fails the test unless it exits with
// status 0.
func send(t *testing.T, h *netns.Host, args ...string) string {
	t.Helper()
	stdout, _ := mustRun(t, h, exitTimeout, bin(t, "bcast"), append([]string{"send"}, args...)...)
	return stdout
}

// describe lists datagrams compactly for failure messages.
func describe(ds []datagram) string {
	if len(ds) == 0 {
		return "none"
	}
	var parts []string
	for _, d := range ds {
		s := fmt.Sprintf("%v:%d->%v:%d %s on %s(#%d) ttl %d len %d %q", d.Src, d.Sport, d.Dst, d.Dport, d.Kind, d.Ifname, d.Ifindex, d.TTL, d.Len, d.payload())
		if d.Own {
			s += " own"
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// want describes one datagram a receiver must have seen exactly once.
type want struct {
	src     netip.Addr
	dst     netip.Addr
	kind    string     // broadcast, multicast or unicast
	nic     *netns.NIC // arrival interface
	ttl     int
	payload string
}

func (w want) String() string {
	return fmt.Sprintf("%v->%v %s on %s(#%d) ttl %d %q", w.src, w.dst, w.kind, w.nic.Name(), w.nic.Index(), w.ttl, w.payload)
}

func (w want) matches(d datagram, port int) bool {
	return d.Src == w.src && d.Dst == w.dst && d.Dport == port && d.Kind == w.kind &&
		d.Ifname == w.nic.Name() && d.Ifindex == w.nic.Index() && d.TTL == w.ttl &&
		d.Len == len(w.payload) && d.Captured == len(w.payload) && !d.Truncated && !d.Own &&
		string(d.payload()) == w.payload
}

// checkExactly fails unless got holds exactly the datagrams in ws, one of
// each, in any order, every field as given, sent to port.
func checkExactly(t *testing.T, who string, port int, got []datagram, ws ...want) {
	t.Helper()
	used := make([]bool, len(got))
	var missing []string
next:
	for _, w := range ws {
		for i, d := range got {
			if !used[i] && w.matches(d, port) {
				used[i] = true
				continue next
			}
		}
		missing = append(missing, w.String())
	}
	var extra []datagram
	for i, d := range got {
		if !used[i] {
			extra = append(extra, d)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: got %d datagram(s), want exactly %d", who, len(got), len(ws))
	if len(missing) > 0 {
		fmt.Fprintf(&b, "\n  missing %d: %s", len(missing), strings.Join(missing, "; "))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, "\n  not expected %d: %s", len(extra), describe(extra))
	}
	t.Error(b.String())
}
