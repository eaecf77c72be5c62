package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/multicast"
)

var (
	t0     = time.Unix(1000, 0)
	hostA  = netip.MustParseAddr("10.0.1.5")
	relayB = netip.MustParseAddr("10.0.2.254")
)

func TestGuardLoopCopyDropped(t *testing.T) {
	g := NewGuard(time.Second, 16)
	d := g.Digest([]byte("hello"), 9999)
	if g.Seen(d, hostA, t0) {
		t.Fatal("fresh datagram seen")
	}
	g.Sent(d, hostA, t0)
	if !g.Seen(d, relayB, t0.Add(10*time.Millisecond)) {
		t.Error("copy from another relay within the window not seen")
	}
	if g.Seen(d, hostA, t0.Add(10*time.Millisecond)) {
		t.Error("the original sender repeating itself was taken for a loop")
	}
	if g.Seen(d, relayB, t0.Add(2*time.Second)) {
		t.Error("copy after the window still seen")
	}
}

func TestGuardDigestKeys(t *testing.T) {
	g := NewGuard(time.Second, 16)
	a := g.Digest([]byte("x"), 1)
	if a != g.Digest([]byte("x"), 1) {
		t.Error("digest not deterministic")
	}
	if a == g.Digest([]byte("x"), 2) || a == g.Digest([]byte("y"), 1) {
		t.Error("digest ignores port or payload")
	}
}

func TestGuardBounded(t *testing.T) {
	g := NewGuard(time.Hour, 4)
	for i := range 10 {
		g.Sent(uint64(i), hostA, t0)
		if g.Len() > 4 {
			t.Fatalf("after %d Sent, Len = %d; want <= 4", i+1, g.Len())
		}
	}
	if g.Seen(0, relayB, t0) {
		t.Error("oldest digest still held past capacity")
	}
	if !g.Seen(9, relayB, t0) {
		t.Error("newest digest forgotten")
	}
}

func TestGuardExpires(t *testing.T) {
	g := NewGuard(time.Second, 100)
	for i := range 50 {
		g.Sent(uint64(i), hostA, t0)
	}
	g.Sent(1000, hostA, t0.Add(5*time.Second))
	if g.Len() != 1 {
		t.Errorf("Len after the window passed = %d; want 1", g.Len())
	}
}

func TestCheck(t *testing.T) {
	group := multicast.Group{Addr: netip.MustParseAddr("239.1.1.1")}
	r := &Relay{
		cfg:  Config{Port: 9, Broadcast: true, Groups: []multicast.Group{group}},
		from: map[string]bool{"eth0": true},
	}
	bcast := broadcast.Packet{IfName: "eth0", Kind: broadcast.Broadcast, Dst: broadcast.LimitedBroadcast()}
	tests := []struct {
		name string
		edit func(p *broadcast.Packet)
		want string
	}{
		{"broadcast relayed", func(p *broadcast.Packet) {}, ""},
		{"own", func(p *broadcast.Packet) { p.Own = true }, DropOwn},
		{"other interface", func(p *broadcast.Packet) { p.IfName = "eth1" }, DropIface},
		{"truncated", func(p *broadcast.Packet) { p.Truncated = true }, DropTrunc},
		{"unicast", func(p *broadcast.Packet) { p.Kind = broadcast.Unicast }, DropUnicast},
		{"unknown kind", func(p *broadcast.Packet) { p.Kind = broadcast.Unknown }, DropUnicast},
		{"group relayed", func(p *broadcast.Packet) { p.Kind, p.Dst = broadcast.Multicast, group.Addr }, ""},
		{"other group", func(p *broadcast.Packet) {
			p.Kind, p.Dst = broadcast.Multicast, netip.MustParseAddr("239.9.9.9")
		}, DropGroup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := bcast
			tt.edit(&p)
			if got := r.check(&p, t0); got != tt.want {
				t.Errorf("check = %q; want %q", got, tt.want)
			}
		})
	}
	r.cfg.Broadcast = false
	if got := r.check(&bcast, t0); got != DropUnicast {
		t.Errorf("broadcast with Broadcast off: %q; want %q", got, DropUnicast)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no port", Config{From: []string{"lo"}, To: []string{"lo"}, Broadcast: true}},
		{"no from", Config{Port: 9, To: []string{"lo"}, Broadcast: true}},
		{"nothing to relay", Config{Port: 9, From: []string{"lo"}, To: []string{"lo"}}},
		{"unknown interface", Config{Port: 9, From: []string{"nosuch0"}, To: []string{"lo"}, Broadcast: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := New(tt.cfg); err == nil {
				r.Close()
				t.Error("New succeeded")
			}
		})
	}
}
