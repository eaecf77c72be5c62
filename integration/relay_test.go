package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/internal/netns"
)

// relaySummary is the "summary" line of `bcast relay --json`.
type relaySummary struct {
	Received   int64 `json:"received"`
	Relayed    int64 `json:"relayed"`
	Dropped    int64 `json:"dropped"`
	Loops      int64 `json:"loops"`
	SendErrors int64 `json:"send_errors"`
}

// startRelay starts `bcast relay --json ARGS` on h and returns once it has
// printed its "relaying" line.
func startRelay(t *testing.T, h *netns.Host, args ...string) *proc {
	t.Helper()
	p := start(t, h, bin(t, "bcast"), append([]string{"relay", "--json"}, args...)...)
	p.waitStdout(`the "relaying" line`, func(l string) bool { return strings.Contains(l, `"type":"relaying"`) })
	return p
}

// stopRelay interrupts the relay and returns its summary.
func stopRelay(t *testing.T, p *proc) relaySummary {
	t.Helper()
	p.mustSucceed(p.interrupt())
	var s relaySummary
	n := 0
	for _, line := range strings.Split(p.stdout.String(), "\n") {
		if strings.Contains(line, `"type":"summary"`) {
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatalf("%s: summary: %v\n%s", p.desc, err, line)
			}
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%s: %d summary lines; want 1", p.desc, n)
	}
	return s
}

// TestIntegrationRelayForwardsBetweenLANsExactlyOnce runs one relay on r,
// both ways, for broadcasts and a group. Every datagram must reach the
// other LAN exactly once, as the README describes (a limited broadcast as
// a limited broadcast, a directed one to the other subnet's broadcast
// address, a group to the same group, from r's own address), and never
// come back to the LAN it came from.
func TestIntegrationRelayForwardsBetweenLANsExactlyOnce(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	const port = 9501
	group := netip.MustParseAddr("239.71.0.9")
	relay := startRelay(t, tp.Host("r"), "--port", fmt.Sprint(port), "--from-iface", "eth0", "--from-iface", "eth1", "--to-iface", "eth0", "--to-iface", "eth1", "--group", group.String())
	ls := map[string]*listener{}
	for _, h := range []string{"a2", "a3", "b2"} {
		ls[h] = startListen(t, tp.Host(h), "--listen", fmt.Sprint(":", port), "--group", group.String())
	}
	to := func(a netip.Addr) string { return netip.AddrPortFrom(a, port).String() }
	const aLim, aDir, aGrp, bLim = "a1 limited", "a1 directed", "a1 to the group", "b1 limited"
	send(t, tp.Host("a1"), "--to", to(limited), "--iface", "eth0", "--message", aLim)
	send(t, tp.Host("a1"), "--to", to(bcastA), "--message", aDir)
	send(t, tp.Host("a1"), "--to", to(group), "--iface", "eth0", "--message", aGrp)
	send(t, tp.Host("b1"), "--to", to(limited), "--iface", "eth0", "--message", bLim)
	got := stopAll(t, ls)
	s := stopRelay(t, relay)

	for _, h := range []string{"a2", "a3"} {
		nic := tp.NIC(h, "eth0")
		checkExactly(t, h, port, got[h],
			want{src: a1v4, dst: limited, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: aLim},
			want{src: a1v4, dst: bcastA, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: aDir},
			want{src: a1v4, dst: group, kind: "multicast", nic: nic, ttl: multicastTTL, payload: aGrp},
			want{src: rAv4, dst: limited, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: bLim})
	}
	nic := tp.NIC("b2", "eth0")
	checkExactly(t, "b2", port, got["b2"],
		want{src: rBv4, dst: limited, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: aLim},
		want{src: rBv4, dst: bcastB, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: aDir},
		want{src: rBv4, dst: group, kind: "multicast", nic: nic, ttl: multicastTTL, payload: aGrp},
		want{src: b1v4, dst: limited, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: bLim})
	if s.Relayed != 4 || s.SendErrors != 0 {
		t.Errorf("relay summary: %+v; want 4 relayed, no send errors", s)
	}
}

// TestIntegrationTwoRelaysBetweenTheSameLANsDoNotLoop puts a second relay,
// r2, between LAN A and LAN B next to r, both relaying both ways: without
// loop prevention each relayed copy would be relayed back, forever. Each
// datagram may reach a LAN once from its sender and once from each relay
// at most, and the relays must report the copies they dropped as loops.
func TestIntegrationTwoRelaysBetweenTheSameLANsDoNotLoop(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	r2 := tp.Lab.Host("r2")
	r2.Attach(tp.A, "eth0", netip.MustParseAddr("10.71.1.253"), netip.MustParseAddr("fd00:71:1::253"))
	r2.Attach(tp.B, "eth1", netip.MustParseAddr("10.71.2.253"), netip.MustParseAddr("fd00:71:2::253"))
	const port, n = 9502, 5
	args := []string{"--port", fmt.Sprint(port), "--from-iface", "eth0", "--from-iface", "eth1", "--to-iface", "eth0", "--to-iface", "eth1", "--quiet"}
	relays := []*proc{startRelay(t, tp.Host("r"), args...), startRelay(t, r2, args...)}
	a2 := startListen(t, tp.Host("a2"), "--listen", fmt.Sprint(":", port))
	b2 := startListen(t, tp.Host("b2"), "--listen", fmt.Sprint(":", port))
	// --seq makes every payload different: each datagram is a new one to
	// the relays, and the listeners can tell which one a copy is of.
	send(t, tp.Host("a1"), "--to", netip.AddrPortFrom(limited, port).String(), "--iface", "eth0", "--seq", "--count", fmt.Sprint(n), "--interval", "20ms", "--message", "loop?")
	// A loop multiplies copies within milliseconds of each hop, so the
	// listeners' settle time is ample to show one.
	outs := stopListeners(t, a2, b2)
	var sums []relaySummary
	for _, r := range relays {
		sums = append(sums, stopRelay(t, r))
	}

	for i, host := range []string{"a2", "b2"} {
		perSeq := map[uint64][]string{}
		for _, d := range outs[i].datagrams {
			if d.Seq == nil {
				t.Errorf("%s: a datagram without the sender's stamp: %s", host, describe([]datagram{d}))
				continue
			}
			perSeq[d.Seq.Seq] = append(perSeq[d.Seq.Seq], d.Src.String())
		}
		// a2: the original, plus at most one copy relayed back by
		// the relay that heard the other's copy first. b2: one copy
		// from each relay, or one if a relay took the other's copy for
		// the original and dropped the original as the loop.
		for seq := uint64(1); seq <= n; seq++ {
			srcs := perSeq[seq]
			if len(srcs) < 1 || len(srcs) > 2 {
				t.Errorf("%s received datagram %d of %d %d times (from %v); want once or twice", host, seq, n, len(srcs), srcs)
			}
		}
		if len(outs[i].datagrams) > 2*n {
			t.Errorf("%s received %d datagrams for %d sent: a loop", host, len(outs[i].datagrams), n)
		}
	}
	var loops int64
	for i, s := range sums {
		t.Logf("relay %d: %+v", i+1, s)
		if s.Relayed > n {
			t.Errorf("relay %d relayed %d datagrams for %d sent: it relayed copies", i+1, s.Relayed, n)
		}
		loops += s.Loops
	}
	if loops == 0 {
		t.Errorf("the relays dropped no copy as a loop; each should have heard the other's copies")
	}
}
