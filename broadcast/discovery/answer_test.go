package discovery

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
)

// eth0 is an interface with an IPv4 /24, an IPv4 link-local /16, a global
// IPv6 /64 and a link-local IPv6 /64.
var eth0 = &broadcast.Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast,
	Addrs: []broadcast.IfAddr{
		{Prefix: netip.MustParsePrefix("10.0.0.7/24"), Broadcast: netip.MustParseAddr("10.0.0.255")},
		{Prefix: netip.MustParsePrefix("169.254.3.4/16"), Broadcast: netip.MustParseAddr("169.254.255.255"), LinkLocal: true},
		{Prefix: netip.MustParsePrefix("2001:db8:1::7/64")},
		{Prefix: netip.MustParsePrefix("fe80::7/64"), LinkLocal: true},
	}}

// eth1 has only a global IPv4 /24.
var eth1 = &broadcast.Interface{Index: 3, Name: "eth1", Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast,
	Addrs: []broadcast.IfAddr{{Prefix: netip.MustParsePrefix("192.168.5.1/24"), Broadcast: netip.MustParseAddr("192.168.5.255")}}}

func TestOnLink(t *testing.T) {
	tests := []struct {
		src  string
		ifi  *broadcast.Interface
		want bool
	}{
		{"10.0.0.9", eth0, true},
		{"::ffff:10.0.0.9", eth0, true}, // from a dual-stack socket
		{"10.0.1.9", eth0, false},       // the next subnet: across a router
		{"10.0.0.0", eth0, false},       // the subnet address
		{"10.0.0.255", eth0, false},     // its broadcast address
		{"255.255.255.255", eth0, false},
		{"0.0.0.0", eth0, false},
		{"224.0.0.1", eth0, false},
		{"169.254.9.9", eth0, true},  // eth0 has a link-local address
		{"169.254.9.9", eth1, false}, // eth1 has none: a stranger's claim
		{"2001:db8:1::9", eth0, true},
		{"2001:db8:2::9", eth0, false},
		{"fe80::9%eth0", eth0, true},
		{"fe80::9", eth0, true},
		{"fe80::9%eth1", eth0, false}, // another link's zone
		{"fe80::9%eth1", eth1, true},  // link-local needs no prefix
		{"ff02::1", eth0, false},
		{"10.0.0.9", nil, false}, // the arrival interface is unknown
		{"192.168.5.200", eth1, true},
		{"10.0.0.9", eth1, false}, // eth0's subnet, arriving on eth1: forged
	}
	for _, tt := range tests {
		name := "nil"
		if tt.ifi != nil {
			name = tt.ifi.Name
		}
		if got := onLink(netip.MustParseAddr(tt.src), name, tt.ifi); got != tt.want {
			t.Errorf("onLink(%s, %s) = %v; want %v", tt.src, name, got, tt.want)
		}
	}
	if lastAddr(netip.MustParsePrefix("10.0.0.0/22")) != netip.MustParseAddr("10.0.3.255") {
		t.Errorf("lastAddr(10.0.0.0/22) = %v; want 10.0.3.255", lastAddr(netip.MustParsePrefix("10.0.0.0/22")))
	}
}

func TestJudge(t *testing.T) {
	dest := netip.MustParseAddrPort("203.0.113.5:62278")
	l, err := Link{Destinations: []netip.AddrPort{dest}}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		src           string
		own           bool
		query, answer int
		want          answerWay
	}{
		{"neighbour, small answer", "10.0.0.9:5000", false, 20, 40, wayUnicast},
		{"neighbour, answer over the factor", "10.0.0.9:5000", false, 20, 41, wayGroup},
		{"neighbour, 75x answer", "10.0.0.9:5000", false, 12, 898, wayGroup},
		{"ipv6 link-local neighbour", "[fe80::9%eth0]:5000", false, 20, 41, wayGroup},
		{"off-link source", "10.9.9.9:5000", false, 20, 20, wayOffLink},
		{"off-link source, any size", "10.9.9.9:5000", false, 100, 12, wayOffLink},
		{"other link's zone", "[fe80::9%eth1]:5000", false, 20, 20, wayOffLink},
		{"subnet broadcast as source", "10.0.0.255:5000", false, 20, 20, wayOffLink},
		{"port 0", "10.0.0.9:0", false, 20, 20, wayOffLink},
		{"this host, large answer", "10.0.0.7:5000", true, 12, 898, wayUnicast},
		{"configured destination across a router", "203.0.113.5:40000", false, 12, 898, wayUnicast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := l.judge(netip.MustParseAddrPort(tt.src), tt.own, "eth0", eth0, tt.query, tt.answer)
			if got != tt.want {
				t.Errorf("judge = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestGroupAnswersOnePerSecond: a flood of queries on one interface gets
// one answer to the group at once, one more when the second is up, and
// nothing else; another interface and the other family are apart.
func TestGroupAnswersOnePerSecond(t *testing.T) {
	var g groupAnswers
	var sent []groupKey // appended with g.mu held, read so too
	send := func(k groupKey) { sent = append(sent, k) }
	k := groupKey{ifindex: 2, v4: true}
	now := time.Now()
	got := map[int]int{}
	for i := range 100 {
		got[g.ask(now.Add(time.Duration(i)*time.Millisecond), k, send, send)]++
	}
	got2 := g.ask(now, groupKey{ifindex: 3, v4: true}, send, send)
	got6 := g.ask(now, groupKey{ifindex: 2}, send, send)
	if got[groupSent] != 1 || got[groupScheduled] != 1 || got[groupCoalesced] != 98 || got2 != groupSent || got6 != groupSent {
		t.Errorf("verdicts %v, other interface %d, other family %d; want 1 sent, 1 scheduled, 98 coalesced, and both others sent", got, got2, got6)
	}
	count := func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(sent)
	}
	for deadline := time.Now().Add(3 * time.Second); count() < 4 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(now); d < groupEvery {
		t.Errorf("the scheduled answer went after %v; want %v", d, groupEvery)
	}
	g.close()
	if len(sent) != 4 || sent[3] != k {
		t.Errorf("sent %v; want the three at once and then the scheduled one on %v", sent, k)
	}
	if v := g.ask(time.Now().Add(time.Hour), k, send, send); v != groupClosed {
		t.Errorf("ask after close = %d; want groupClosed", v)
	}
}

// TestGroupAnswersClose: an answer scheduled when Close comes is never
// sent.
func TestGroupAnswersClose(t *testing.T) {
	var g groupAnswers
	k := groupKey{ifindex: 2}
	fired := make(chan struct{}, 2)
	send := func(groupKey) {}
	later := func(groupKey) { fired <- struct{}{} }
	now := time.Now()
	g.ask(now, k, send, later)
	if v := g.ask(now, k, send, later); v != groupScheduled {
		t.Fatalf("second ask = %d; want groupScheduled", v)
	}
	g.close()
	select {
	case <-fired:
		t.Error("a scheduled answer went out after close")
	case <-time.After(groupEvery + 200*time.Millisecond):
	}
}
