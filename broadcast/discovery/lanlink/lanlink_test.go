package lanlink

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/netns"
)

var (
	mdns4 = netip.MustParseAddr("224.0.0.251")
	mdns6 = netip.MustParseAddr("ff02::fb")
)

type got struct {
	data   string
	src    netip.AddrPort
	dst    netip.Addr
	ifname string
	ttl    int
}

// running is a Link in a test host whose datagrams go to a channel.
type running struct {
	*Link
	got chan got
}

func openIn(t *testing.T, h *netns.Host, cfg Config) *running {
	t.Helper()
	var l *Link
	if err := h.Do(func() (err error) {
		l, err = Open(cfg)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", h.Name(), err)
	}
	r := &running{Link: l, got: make(chan got, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(p *Packet) {
			select {
			case r.got <- got{string(p.Data), p.Src, p.Dst, p.IfName, p.TTL}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("%s: Run: %v", h.Name(), err)
		}
	})
	return r
}

// expect waits for a datagram with this payload and returns it.
func (r *running) expect(t *testing.T, who, data string) got {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case g := <-r.got:
			if g.data == data {
				return g
			}
		case <-timeout:
			t.Fatalf("%s: no datagram %q within 3s", who, data)
		}
	}
}

// none checks that no datagram with this payload arrives for a while.
func (r *running) none(t *testing.T, who, data string) {
	t.Helper()
	timeout := time.After(300 * time.Millisecond)
	for {
		select {
		case g := <-r.got:
			if g.data == data {
				t.Errorf("%s: got %q on %s from %v; want nothing", who, data, g.ifname, g.src)
			}
		case <-timeout:
			return
		}
	}
}

func ifindex(t *testing.T, l *Link, name string) int {
	t.Helper()
	for _, ifi := range l.Interfaces() {
		if ifi.Name == name {
			return ifi.Index
		}
	}
	t.Fatalf("no served interface %s; serving %v", name, l.Interfaces())
	return 0
}

// TestIntegrationPerInterface: a host on two LANs sends out of one
// interface only, from that interface's address, with TTL 255, and knows
// which interface each datagram came in by.
func TestIntegrationPerInterface(t *testing.T) {
	lab := netns.New(t)
	lan1 := lab.LAN("one", netip.MustParsePrefix("10.78.1.0/24"), netip.MustParsePrefix("fd00:78:1::/64"))
	lan2 := lab.LAN("two", netip.MustParsePrefix("10.78.2.0/24"), netip.MustParsePrefix("fd00:78:2::/64"))
	a, b, c := lab.Host("a"), lab.Host("b"), lab.Host("c")
	a1 := a.Attach(lan1, "eth0", netip.MustParseAddr("10.78.1.1"), netip.MustParseAddr("fd00:78:1::1"))
	a2 := a.Attach(lan2, "eth1", netip.MustParseAddr("10.78.2.1"), netip.MustParseAddr("fd00:78:2::1"))
	bn := b.Attach(lan1, "eth0", netip.MustParseAddr("10.78.1.2"), netip.MustParseAddr("fd00:78:1::2"))
	c.Attach(lan2, "eth0", netip.MustParseAddr("10.78.2.2"), netip.MustParseAddr("fd00:78:2::2"))
	cfg := Config{Port: 5353, Group4: mdns4, Group6: mdns6, MulticastTTL: 255}
	la, lb, lc := openIn(t, a, cfg), openIn(t, b, cfg), openIn(t, c, cfg)

	if names := func() (n []string) {
		for _, ifi := range la.Interfaces() {
			n = append(n, ifi.Name)
		}
		return n
	}(); !slices.Equal(names, []string{"eth0", "eth1"}) {
		t.Fatalf("a serves %v; want eth0 and eth1 (not lo)", names)
	}

	for _, group := range []netip.Addr{mdns4, mdns6} {
		to := netip.AddrPortFrom(group, 5353)
		if err := la.Send([]byte("to lan two "+group.String()), ifindex(t, la.Link, "eth1"), to); err != nil {
			t.Fatal(err)
		}
		g := lc.expect(t, "c", "to lan two "+group.String())
		wantSrc := a2.Addr4()
		if group.Is6() {
			wantSrc = mustLinkLocal(t, la.Link, "eth1")
		}
		if g.src.Addr().WithZone("") != wantSrc || g.src.Port() != 5353 || g.ttl != 255 || g.dst != group || g.ifname != "eth0" {
			t.Errorf("c got %+v; want from %v:5353, to %v, TTL 255, on eth0", g, wantSrc, group)
		}
		lb.none(t, "b (on the other LAN)", "to lan two "+group.String())

		// b's group datagram reaches a on eth0, with b's address.
		if err := lb.Send([]byte("from b "+group.String()), ifindex(t, lb.Link, "eth0"), to); err != nil {
			t.Fatal(err)
		}
		g = la.expect(t, "a", "from b "+group.String())
		if g.ifname != "eth0" {
			t.Errorf("a got b's datagram on %s; want eth0", g.ifname)
		}
	}

	// A unicast answer goes from the address on the asker's link.
	if err := la.Send([]byte("unicast"), ifindex(t, la.Link, "eth0"), netip.AddrPortFrom(bn.Addr4(), 5353)); err != nil {
		t.Fatal(err)
	}
	if g := lb.expect(t, "b", "unicast"); g.src.Addr() != a1.Addr4() || g.dst != bn.Addr4() {
		t.Errorf("b got the unicast %+v; want from %v to %v", g, a1.Addr4(), bn.Addr4())
	}

	// Interface 0: the kernel routes it, from the address it picks.
	if err := la.Send([]byte("routed"), 0, netip.AddrPortFrom(bn.Addr4(), 5353)); err != nil {
		t.Fatal(err)
	}
	if g := lb.expect(t, "b", "routed"); g.src.Addr() != a1.Addr4() {
		t.Errorf("b got the routed unicast %+v; want from %v", g, a1.Addr4())
	}
	if err := la.Send([]byte("group"), 0, netip.AddrPortFrom(mdns4, 5353)); err == nil {
		t.Errorf("Send to a group on interface 0: no error")
	}
}

func mustLinkLocal(t *testing.T, l *Link, name string) netip.Addr {
	t.Helper()
	ifi, _ := l.Interface(ifindex(t, l, name))
	for _, a := range ifi.Addrs {
		if a.Prefix.Addr().IsLinkLocalUnicast() {
			return a.Prefix.Addr().WithZone("")
		}
	}
	t.Fatalf("%s has no link-local address: %v", name, ifi.Addrs)
	return netip.Addr{}
}

// TestIntegrationFollowsInterfaces: an interface that appears after Open is
// joined and reported on Changes, without a restart.
func TestIntegrationFollowsInterfaces(t *testing.T) {
	lab := netns.New(t)
	lan1 := lab.LAN("one", netip.MustParsePrefix("10.79.1.0/24"), netip.MustParsePrefix("fd00:79:1::/64"))
	lan2 := lab.LAN("two", netip.MustParsePrefix("10.79.2.0/24"), netip.MustParsePrefix("fd00:79:2::/64"))
	a, c := lab.Host("a"), lab.Host("c")
	a.Attach(lan1, "eth0", netip.MustParseAddr("10.79.1.1"), netip.MustParseAddr("fd00:79:1::1"))
	c.Attach(lan2, "eth0", netip.MustParseAddr("10.79.2.2"), netip.MustParseAddr("fd00:79:2::2"))
	cfg := Config{Port: 5353, Group4: mdns4, Group6: mdns6, MulticastTTL: 255}
	la, lc := openIn(t, a, cfg), openIn(t, c, cfg)
	select { // drain the change of the first listing
	case <-la.Changes():
	default:
	}

	a.Attach(lan2, "eth1", netip.MustParseAddr("10.79.2.1"), netip.MustParseAddr("fd00:79:2::1"))
	deadline := time.After(3 * time.Second)
	for !slices.ContainsFunc(la.Interfaces(), func(i broadcast.Interface) bool {
		return i.Name == "eth1" && hasFamily(&i, true) && hasFamily(&i, false)
	}) {
		select {
		case <-la.Changes():
		case <-deadline:
			t.Fatalf("eth1 not served 3s after it appeared: %v", la.Interfaces())
		}
	}
	if err := la.JoinError(); err != nil {
		t.Errorf("JoinError: %v", err)
	}
	for _, group := range []netip.Addr{mdns4, mdns6} {
		if err := lc.Send([]byte("hello new "+group.String()), ifindex(t, lc.Link, "eth0"), netip.AddrPortFrom(group, 5353)); err != nil {
			t.Fatal(err)
		}
		if g := la.expect(t, "a", "hello new "+group.String()); g.ifname != "eth1" {
			t.Errorf("a got it on %s; want eth1", g.ifname)
		}
	}
}

// TestIntegrationSharesThePort: two Links on one host (as bcast beside
// avahi-daemon) each get every group datagram.
func TestIntegrationSharesThePort(t *testing.T) {
	lab := netns.New(t)
	lan := lab.LAN("one", netip.MustParsePrefix("10.80.1.0/24"), netip.MustParsePrefix("fd00:80:1::/64"))
	a, b := lab.Host("a"), lab.Host("b")
	a.Attach(lan, "eth0", netip.MustParseAddr("10.80.1.1"), netip.MustParseAddr("fd00:80:1::1"))
	b.Attach(lan, "eth0", netip.MustParseAddr("10.80.1.2"), netip.MustParseAddr("fd00:80:1::2"))
	cfg := Config{Port: 5353, Group4: mdns4, Group6: mdns6, MulticastTTL: 255}
	first, second := openIn(t, a, cfg), openIn(t, a, cfg)
	lb := openIn(t, b, cfg)
	for _, group := range []netip.Addr{mdns4, mdns6} {
		msg := "to both " + group.String()
		if err := lb.Send([]byte(msg), ifindex(t, lb.Link, "eth0"), netip.AddrPortFrom(group, 5353)); err != nil {
			t.Fatal(err)
		}
		first.expect(t, "the first Link", msg)
		second.expect(t, "the second Link", msg)
	}
}

func TestOpenChecks(t *testing.T) {
	for _, cfg := range []Config{
		{Port: 5353},
		{Port: 5353, Group4: netip.MustParseAddr("10.0.0.1")},
		{Port: 5353, Group6: netip.MustParseAddr("ff05::c")},
		{Port: 5353, Group6: mdns4},
	} {
		if l, err := Open(cfg); err == nil {
			l.Close()
			t.Errorf("Open(%+v): no error", cfg)
		}
	}
}

func TestSourceFor(t *testing.T) {
	ifi := &broadcast.Interface{Addrs: []broadcast.IfAddr{
		{Prefix: netip.MustParsePrefix("10.0.0.7/24")},
		{Prefix: netip.MustParsePrefix("192.168.5.1/24")},
		{Prefix: netip.MustParsePrefix("2001:db8::7/64")},
		{Prefix: netip.MustParsePrefix("fd00::7/64")},
		{Prefix: netip.MustParsePrefix("fe80::7/64"), LinkLocal: true},
	}}
	for dst, want := range map[string]string{
		"224.0.0.251":  "10.0.0.7",
		"192.168.5.9":  "192.168.5.1",
		"10.9.9.9":     "10.0.0.7",
		"ff02::fb":     "fe80::7",
		"fe80::1":      "fe80::7",
		"fd00::9":      "fd00::7",
		"2001:db8::99": "2001:db8::7",
		"2001:db9::1":  "2001:db8::7",
	} {
		if got := sourceFor(ifi, netip.MustParseAddr(dst)); got.String() != want {
			t.Errorf("sourceFor(%s) = %v; want %s", dst, got, want)
		}
	}
}
