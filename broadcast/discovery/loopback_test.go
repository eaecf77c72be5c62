package discovery_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/dgram"
)

// Loopback has neither BROADCAST nor MULTICAST, so these tests send to
// 127.255.255.255, which the kernel delivers as a broadcast on lo to every
// socket bound to the port: Link.Destinations exists for this.

// freePort returns a UDP port that was free on both families a moment ago,
// so that tests running beside other programs (or each other) stay apart.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		s, err := dgram.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Sockname()
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		port := a.AddrPort.Port()
		if s6, err := dgram.ListenPacket("udp6", fmt.Sprintf("[::]:%d", port)); err == nil {
			s6.Close()
			return port
		}
	}
	t.Fatal("no UDP port free on both IPv4 and IPv6")
	return 0
}

func loopback4(port uint16) discovery.Link {
	return discovery.Link{
		Port:         port,
		Interfaces:   []string{"lo"},
		Destinations: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port)},
	}
}

func browse(t *testing.T, cfg discovery.BrowserConfig) *discovery.Browser {
	t.Helper()
	b, err := discovery.Browse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func announce(t *testing.T, cfg discovery.AnnouncerConfig) *discovery.Announcer {
	t.Helper()
	a, err := discovery.Announce(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// next waits for the next event, at most 5 s.
func next(t *testing.T, b *discovery.Browser) discovery.Event {
	t.Helper()
	select {
	case ev, ok := <-b.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("no event within 5s; peers %v, stats %+v", b.Peers(), b.Stats())
	}
	panic("unreachable")
}

func expect(t *testing.T, b *discovery.Browser, kind discovery.EventKind, instance string) discovery.Event {
	t.Helper()
	ev := next(t, b)
	if ev.Kind != kind || ev.Peer.Instance != instance {
		t.Fatalf("event %v; want %v of %s", ev, kind, instance)
	}
	return ev
}

// waitFor polls cond every 10 ms for at most 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestAnnounceBrowseLoopback(t *testing.T) {
	port := freePort(t)
	b := browse(t, discovery.BrowserConfig{Service: "printer", Link: loopback4(port)})
	a := announce(t, discovery.AnnouncerConfig{
		Service: "printer", Instance: "office-1", Port: 631,
		Text: map[string]string{"model": "LX-9"}, Interval: time.Hour, Link: loopback4(port),
	})
	// Another service on the same port is not this Browser's business.
	announce(t, discovery.AnnouncerConfig{Service: "scanner", Instance: "hall", Link: loopback4(port)})

	ev := expect(t, b, discovery.Found, "office-1")
	p := ev.Peer
	if p.Service != "printer" || p.Port != 631 || p.Text["model"] != "LX-9" {
		t.Errorf("peer %+v", p)
	}
	if want := loAddrs(t); !slices.Equal(p.Addrs, want) {
		t.Errorf("addrs %v; want lo's %v", p.Addrs, want)
	}
	if !slices.Equal(p.Interfaces, []string{"lo"}) || !p.Local || !p.Self {
		t.Errorf("interfaces %v local %v self %v; want [lo] true true", p.Interfaces, p.Local, p.Self)
	}
	if ttl := p.Expires.Sub(p.Seen); ttl != 3*time.Hour {
		t.Errorf("expires %v after seen; want the TTL of 3 intervals, 3h", ttl)
	}

	if err := a.Update(map[string]string{"model": "LX-10"}); err != nil {
		t.Fatal(err)
	}
	ev = expect(t, b, discovery.Updated, "office-1")
	if ev.Peer.Text["model"] != "LX-10" {
		t.Errorf("updated text %v", ev.Peer.Text)
	}
	if ps := b.Peers(); len(ps) != 1 || ps[0].Text["model"] != "LX-10" {
		t.Errorf("Peers() = %v", ps)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ev = expect(t, b, discovery.Lost, "office-1")
	if !ev.Goodbye {
		t.Error("lost after Close without Goodbye set")
	}
	if len(b.Peers()) != 0 {
		t.Errorf("peers left after goodbye: %v", b.Peers())
	}
	if err := a.Update(nil); err == nil {
		t.Error("Update after Close succeeded")
	}
	if s := b.Stats(); s.Ignored == 0 || s.Malformed != 0 || s.Received == 0 {
		t.Errorf("browser stats %+v; want scanner messages ignored and nothing malformed", s)
	}
}

// TestQueryAnswer: an instance announced before the Browser started, with
// a long interval, is found through the Browser's query, answered with the
// addresses of the interface the query came in on.
func TestQueryAnswer(t *testing.T) {
	port := freePort(t)
	a := announce(t, discovery.AnnouncerConfig{Service: "printer", Instance: "office-1", Port: 631,
		Interval: time.Hour, Link: loopback4(port)})
	b := browse(t, discovery.BrowserConfig{Service: "printer", Link: loopback4(port)})
	ev := expect(t, b, discovery.Found, "office-1")
	if want := loAddrs(t); !slices.Equal(ev.Peer.Addrs, want) {
		t.Errorf("answer addrs %v; want lo's %v", ev.Peer.Addrs, want)
	}
	waitFor(t, "an answer", func() bool { return a.Stats().Answered >= 1 })
	if s := a.Stats(); s.Queries < 1 || s.Refused != 0 {
		t.Errorf("announcer stats %+v", s)
	}

	// A query on demand is answered again; a query for another service is
	// not.
	before := a.Stats().Answered
	if err := b.Query(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a second answer", func() bool { return a.Stats().Answered > before })

	other := browse(t, discovery.BrowserConfig{Service: "scanner", Link: loopback4(port)})
	if err := other.Query(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the scanner queries to be seen", func() bool { return a.Stats().Ignored >= 1 })
	if len(other.Peers()) != 0 {
		t.Errorf("scanner browser found %v", other.Peers())
	}
}

// TestExpiry: an instance that falls silent without a goodbye is lost when
// its TTL (1 s, the least the wire carries) runs out.
func TestExpiry(t *testing.T) {
	port := freePort(t)
	b := browse(t, discovery.BrowserConfig{Link: loopback4(port)})
	sendRaw(t, port, mustEncode(t, &discovery.Message{Type: discovery.TypeAnnounce, TTL: 1,
		Service: "sensor", Instance: "t1", Port: 7}))
	found := expect(t, b, discovery.Found, "t1")
	if found.Peer.Self {
		t.Error("a peer not announced by this process is marked Self")
	}
	lost := expect(t, b, discovery.Lost, "t1")
	if lost.Goodbye {
		t.Error("expired peer reported as goodbye")
	}
	if d := time.Since(found.Peer.Seen); d < time.Second || d > 3*time.Second {
		t.Errorf("lost %v after it was seen; want about 1s", d)
	}
	// The source stands in for an instance that announced no address.
	if want := []netip.Addr{netip.MustParseAddr("127.0.0.1")}; !slices.Equal(found.Peer.Addrs, want) {
		t.Errorf("addrs %v; want %v", found.Peer.Addrs, want)
	}
}

// TestBadDatagrams: garbage, other versions, oversized and malformed
// datagrams are counted and skipped, and the Browser keeps working.
func TestBadDatagrams(t *testing.T) {
	port := freePort(t)
	b := browse(t, discovery.BrowserConfig{Link: loopback4(port)})
	good := mustEncode(t, &discovery.Message{Type: discovery.TypeAnnounce, TTL: 60, Service: "s", Instance: "ok"})
	v2 := append([]byte(nil), good...)
	v2[2] = 2
	sendRaw(t, port, []byte("GET / HTTP/1.0\r\n\r\n"))
	sendRaw(t, port, v2)
	sendRaw(t, port, append(append([]byte(nil), good...), make([]byte, 1500)...))
	sendRaw(t, port, good[:len(good)-1])
	sendRaw(t, port, good)
	expect(t, b, discovery.Found, "ok")
	waitFor(t, "every datagram counted", func() bool { return b.Stats().Received >= 5 })
	s := b.Stats()
	if s.Foreign != 1 || s.Version != 1 || s.TooLarge != 1 || s.Malformed != 1 {
		t.Errorf("stats %+v; want one each of foreign, version, too large, malformed", s)
	}
	if s.LastError == nil || !errors.Is(s.LastError, discovery.ErrMalformed) {
		t.Errorf("LastError %v; want the malformed one", s.LastError)
	}
}

// TestTwoBrowsersShareThePort: programs on one host browse side by side.
func TestTwoBrowsersShareThePort(t *testing.T) {
	port := freePort(t)
	b1 := browse(t, discovery.BrowserConfig{Service: "printer", Link: loopback4(port)})
	b2 := browse(t, discovery.BrowserConfig{Service: "printer", Link: loopback4(port)})
	announce(t, discovery.AnnouncerConfig{Service: "printer", Instance: "p", Link: loopback4(port)})
	expect(t, b1, discovery.Found, "p")
	expect(t, b2, discovery.Found, "p")
}

// TestIPv6Loopback runs over ::1. IPv6 has no broadcast, and a unicast
// datagram goes to one socket of those sharing a port, so the Announcer and
// the Browser listen on different ports and name each other's.
func TestIPv6Loopback(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	to := func(port uint16) []netip.AddrPort {
		return []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Loopback(), port)}
	}
	a := announce(t, discovery.AnnouncerConfig{Service: "printer", Instance: "v6", Port: 631, Interval: time.Hour,
		Link: discovery.Link{Network: "udp6", Port: pa, Destinations: to(pb)}})
	b := browse(t, discovery.BrowserConfig{Service: "printer",
		Link: discovery.Link{Network: "udp6", Port: pb, Destinations: to(pa)}})
	ev := expect(t, b, discovery.Found, "v6")
	if !slices.Contains(ev.Peer.Addrs, netip.IPv6Loopback()) {
		t.Errorf("addrs %v lack ::1", ev.Peer.Addrs)
	}
	waitFor(t, "an answer to the IPv6 query", func() bool { return a.Stats().Answered >= 1 })
	a.Close()
	if ev := expect(t, b, discovery.Lost, "v6"); !ev.Goodbye {
		t.Error("no goodbye over IPv6")
	}
}

// TestConflict: two announcers of one instance id each notice the other.
func TestConflict(t *testing.T) {
	port := freePort(t)
	cfg := discovery.AnnouncerConfig{Service: "printer", Instance: "twin", Link: loopback4(port)}
	a1 := announce(t, cfg)
	a2 := announce(t, cfg)
	waitFor(t, "both to see a conflict", func() bool {
		return a1.Stats().Conflicts > 0 && a2.Stats().Conflicts > 0
	})
	if err := a1.Stats().LastError; err == nil || !strings.Contains(err.Error(), "printer/twin is also announced by 127.0.0.1:") {
		t.Errorf("LastError %v", err)
	}
	// One alone hears only itself.
	solo := announce(t, discovery.AnnouncerConfig{Service: "printer", Instance: "solo", Interval: time.Hour, Link: loopback4(port)})
	if err := solo.Update(map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "its own announcements", func() bool { return solo.Stats().Ignored >= 2 })
	if c := solo.Stats().Conflicts; c != 0 {
		t.Errorf("a lone announcer counted %d conflicts", c)
	}
}

// TestMaxPeers: new peers beyond the bound are dropped and counted; known
// ones are kept.
func TestMaxPeers(t *testing.T) {
	port := freePort(t)
	b := browse(t, discovery.BrowserConfig{Link: loopback4(port), MaxPeers: 2})
	for _, inst := range []string{"p1", "p2", "p3"} {
		sendRaw(t, port, mustEncode(t, &discovery.Message{Type: discovery.TypeAnnounce, TTL: 60, Service: "s", Instance: inst}))
	}
	expect(t, b, discovery.Found, "p1")
	expect(t, b, discovery.Found, "p2")
	waitFor(t, "the third to be refused", func() bool { return b.Stats().Full == 1 })
	if ps := b.Peers(); len(ps) != 2 {
		t.Errorf("peers %v; want p1 and p2", ps)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  discovery.AnnouncerConfig
		want string
	}{
		{"no service", discovery.AnnouncerConfig{}, "service"},
		{"bad network", discovery.AnnouncerConfig{Service: "s", Link: discovery.Link{Network: "tcp"}}, `network "tcp"`},
		{"broadcast over ipv6", discovery.AnnouncerConfig{Service: "s",
			Link: discovery.Link{Network: "udp6", Transport: discovery.Broadcast}}, "IPv6 has no broadcast"},
		{"unicast group", discovery.AnnouncerConfig{Service: "s",
			Link: discovery.Link{Transport: discovery.Multicast, Group: netip.MustParseAddr("10.0.0.1")}}, "not a multicast"},
		{"group of the other family", discovery.AnnouncerConfig{Service: "s",
			Link: discovery.Link{Transport: discovery.Multicast, Group: netip.MustParseAddr("ff02::1")}}, "does not belong to udp4"},
		{"destination without port", discovery.AnnouncerConfig{Service: "s",
			Link: discovery.Link{Destinations: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)}}}, "needs an address and a port"},
		{"lo cannot broadcast", discovery.AnnouncerConfig{Service: "s",
			Link: discovery.Link{Interfaces: []string{"lo"}}}, "interface lo cannot carry broadcast"},
		{"text too large", discovery.AnnouncerConfig{Service: "s",
			Text: map[string]string{"k": strings.Repeat("x", 900)}}, "more than the 916 left"},
		{"negative interval", discovery.AnnouncerConfig{Service: "s", Interval: -time.Second}, "shorter than 100ms"},
		{"tiny interval", discovery.AnnouncerConfig{Service: "s", Interval: time.Millisecond}, "shorter than 100ms"},
		{"ttl below interval", discovery.AnnouncerConfig{Service: "s", Interval: 10 * time.Second, TTL: 5 * time.Second},
			"TTL 5s shorter than the interval 10s"},
		{"ttl too long", discovery.AnnouncerConfig{Service: "s", TTL: 100000 * time.Second}, "outside 1s-65535s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := discovery.Announce(tt.cfg)
			if err == nil {
				a.Close()
				t.Fatalf("Announce(%+v) succeeded", tt.cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := discovery.Browse(discovery.BrowserConfig{Service: "a b"}); err == nil {
		t.Error("Browse with a bad service name succeeded")
	}
}

// loAddrs are the addresses of lo, sorted as Peer.Addrs are.
func loAddrs(t *testing.T) []netip.Addr {
	t.Helper()
	lo, err := broadcast.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	var addrs []netip.Addr
	for _, a := range lo.Addrs {
		addrs = append(addrs, a.Prefix.Addr())
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	if len(addrs) == 0 {
		t.Fatal("lo has no address")
	}
	return addrs
}

func mustEncode(t *testing.T, m *discovery.Message) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendRaw sends one datagram to 127.255.255.255:port from a plain socket.
func sendRaw(t *testing.T, port uint16, b []byte) {
	t.Helper()
	s, err := dgram.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetBroadcast(true); err != nil {
		t.Fatal(err)
	}
	to := dgram.AddrFrom(netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port))
	if _, err := s.SendTo(b, 0, to); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
}
