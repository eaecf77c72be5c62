package integration

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/bcastdev/bcast/internal/netns"
)

// oneLAN builds a Lab with a single LAN (10.71.1.0/24, fd00:71:1::/64) and
// the named hosts on it, each with eth0 at .1, .2, ... in order. It is
// cheaper than the standard topology for tests that need one link.
func oneLAN(t *testing.T, hosts ...string) (*netns.Lab, *netns.LAN, []*netns.Host) {
	t.Helper()
	lab := netns.New(t)
	lan := lab.LAN("A", netip.MustParsePrefix("10.71.1.0/24"), netip.MustParsePrefix("fd00:71:1::/64"))
	var hs []*netns.Host
	for i, name := range hosts {
		h := lab.Host(name)
		h.Attach(lan, "eth0", netip.AddrFrom4([4]byte{10, 71, 1, byte(i + 1)}), netip.MustParseAddr(fmt.Sprintf("fd00:71:1::%d", i+1)))
		hs = append(hs, h)
	}
	return lab, lan, hs
}

// countUDP installs, in h, an nftables table "loss" whose input chain
// counts the UDP datagrams to port in the counter "arrived" and then runs
// rules (which may drop some), counting what gets past them in "passed".
func countUDP(t *testing.T, h *netns.Host, port int, rules string) {
	t.Helper()
	p := strconv.Itoa(port)
	nftApply(t, h, `table inet loss {
	counter arrived {}
	counter dropped {}
	counter passed {}
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport `+p+` counter name arrived
		`+rules+`
		udp dport `+p+` counter name passed
	}
}
`)
}

// checkLossSummary checks the --seq summary of a receiver that `sent`
// datagrams were sent to and `delivered` reached the socket (as nftables
// counted them after the drop rule): every one of those is received
// or a kernel drop the summary reports, and missing is exactly the rest.
func checkLossSummary(t *testing.T, s summary, sent, delivered uint64) {
	t.Helper()
	t.Logf("summary: sent %d received %d missing %d duplicates %d reordered %d late %d kernel_drops %d; delivered to the host %d",
		s.Sent, s.Received, s.Missing, s.Duplicates, s.Reordered, s.Late, s.KernelDrops, delivered)
	if s.Sent != int64(sent) {
		t.Errorf("summary sent = %d; want %d (the total in the senders' stamps)", s.Sent, sent)
	}
	if s.Received+s.KernelDrops != int64(delivered) {
		t.Errorf("summary received %d + kernel_drops %d = %d; want %d, what nftables let through to the socket",
			s.Received, s.KernelDrops, s.Received+s.KernelDrops, delivered)
	}
	if s.Missing != int64(sent)-s.Received {
		t.Errorf("summary missing = %d; want exactly sent - received = %d - %d = %d", s.Missing, sent, s.Received, int64(sent)-s.Received)
	}
	if s.Duplicates != 0 || s.Reordered != 0 || s.Late != 0 {
		t.Errorf("summary duplicates %d, reordered %d, late %d; want 0 on a single link", s.Duplicates, s.Reordered, s.Late)
	}
}

func TestIntegrationLossFromRandomDropsIsCountedExactly(t *testing.T) {
	t.Parallel()
	_, _, hs := oneLAN(t, "tx", "rx")
	tx, rx := hs[0], hs[1]
	const port, n = 9301, 2000
	// About 30% of the datagrams, at random, dropped on the receiver's
	// way in.
	countUDP(t, rx, port, fmt.Sprintf("udp dport %d numgen random mod 10 < 3 counter name dropped drop", port))
	l := startListen(t, rx, "--listen", fmt.Sprint(":", port), "--seq", "--quiet", "--recv-buffer", "4194304")
	send(t, tx, "--to", fmt.Sprintf("10.71.1.2:%d", port), "--seq", "--count", fmt.Sprint(n), "--rate", "5000", "--size", "100", "--quiet")
	s := stopListeners(t, l)[0].summary

	arrived, dropped, passed := nftCounter(t, rx, "loss", "arrived"), nftCounter(t, rx, "loss", "dropped"), nftCounter(t, rx, "loss", "passed")
	t.Logf("nftables on rx: arrived %d dropped %d passed %d", arrived, dropped, passed)
	if arrived != n || dropped+passed != n {
		t.Fatalf("nftables counted %d arrived, %d dropped, %d passed; want %d arrived = dropped + passed: the link itself lost datagrams", arrived, dropped, passed, n)
	}
	if dropped == 0 {
		t.Fatalf("nftables dropped nothing: the test did not test loss")
	}
	checkLossSummary(t, s, n, passed)
}

func TestIntegrationLossFromARateLimitIsCountedExactly(t *testing.T) {
	t.Parallel()
	requireCommand(t, "tc")
	lab, lan, hs := oneLAN(t, "tx", "rx")
	tx, rx := hs[0], hs[1]
	const port, n = 9302, 500
	// A token bucket on the bridge port towards rx: a burst of about ten
	// 1000-byte datagrams and a queue of as many more pass; the sender
	// sends as fast as it can, so most of the rest is dropped.
	peer := rx.NIC("eth0").Peer()
	if out, err := lab.Shell(t.Context(), "tc", "-n", lan.NS(), "qdisc", "add", "dev", peer, "root", "tbf", "rate", "1mbit", "burst", "10kb", "limit", "10kb"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	countUDP(t, rx, port, "")
	l := startListen(t, rx, "--listen", fmt.Sprint(":", port), "--seq", "--quiet", "--recv-buffer", "4194304")
	// The subnet's broadcast address needs no ARP, so nothing waits in
	// tx's neighbour queue (which could drop too) before the wire.
	send(t, tx, "--to", fmt.Sprintf("10.71.1.255:%d", port), "--seq", "--count", fmt.Sprint(n), "--interval", "0", "--size", "1000", "--quiet")
	s := stopListeners(t, l)[0].summary

	arrived := nftCounter(t, rx, "loss", "arrived")
	q := rootQdisc(t, lab, lan, peer)
	t.Logf("tbf on %s: sent %d packets, dropped %d; nftables on rx: %d arrived", peer, q.Packets, q.Drops, arrived)
	if arrived == 0 || arrived >= n {
		t.Fatalf("%d of %d datagrams reached rx; want some, not all: the rate limit did not bite", arrived, n)
	}
	if q.Drops < n-arrived {
		t.Errorf("tbf dropped %d packets but %d datagrams did not reach rx: loss outside the rate limit", q.Drops, n-arrived)
	}
	checkLossSummary(t, s, n, arrived)
}
