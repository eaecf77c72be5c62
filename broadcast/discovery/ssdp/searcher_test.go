package ssdp

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const up = net.FlagUp | net.FlagMulticast

// eth0 and eth1 are the test interfaces: a host on two LANs.
var (
	eth0 = Interface{Index: 2, Name: "eth0", Flags: up, Addrs: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fd00::1/64"), netip.MustParsePrefix("fe80::1/64")}}
	eth1 = Interface{Index: 3, Name: "eth1", Flags: up, Addrs: []netip.Prefix{
		netip.MustParsePrefix("192.168.7.1/24"), netip.MustParsePrefix("fe80::2/64")}}
)

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func response(st, usn, loc string, maxAge int, bootID int64) []byte {
	m := Message{Kind: Response, StatusCode: 200, MaxAge: maxAge, Ext: true, Location: loc, Server: "t/1 UPnP/1.1 t/1",
		ST: st, USN: usn, BootID: bootID, ConfigID: 1, NextBootID: -1, SearchPort: -1, MX: -1}
	b, err := m.Append(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func notify(nts, nt, usn, loc string, maxAge int, bootID, next int64) []byte {
	m := Message{Kind: Notify, Host: HostHeader(IPv4Group), NTS: nts, NT: nt, USN: usn, Location: loc, Server: "t/1 UPnP/1.1 t/1",
		MaxAge: maxAge, BootID: bootID, ConfigID: 1, NextBootID: next, SearchPort: -1, MX: -1}
	b, err := m.Append(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func newSearcher(t *testing.T, cfg SearcherConfig) *Searcher {
	t.Helper()
	cfg.Rand = seeded()
	s, err := NewSearcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.UpdateInterface(t0, eth0)
	s.UpdateInterface(t0, eth1)
	return s
}

func eventsString(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%v %s %s %s %s;", e.Kind, e.IfName, e.USN, e.Location, e.Reason)
	}
	return b.String()
}

func TestSearcherSends(t *testing.T) {
	s := newSearcher(t, SearcherConfig{Target: RootDevice, MX: 3, UserAgent: "u/1 UPnP/1.1 bcast/1"})
	if out := s.Poll(t0); len(out) != 0 || !s.NextDeadline().IsZero() {
		t.Fatalf("before Search: %d datagrams, deadline %v; want none", len(out), s.NextDeadline())
	}
	s.Search(t0)
	now := t0
	for i := range 3 {
		if d := s.NextDeadline(); !d.Equal(now) {
			t.Fatalf("send %d: deadline %v; want %v", i, d, now)
		}
		out := s.Poll(now)
		// eth0 has IPv4 and IPv6, eth1 too (a link-local address).
		var got []string
		for _, o := range out {
			got = append(got, fmt.Sprintf("%d %v", o.IfIndex, o.Dst))
		}
		if want := "2 239.255.255.250:1900,2 [ff02::c]:1900,3 239.255.255.250:1900,3 [ff02::c]:1900"; strings.Join(got, ",") != want {
			t.Fatalf("send %d: got %v; want %s", i, got, want)
		}
		want := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 3\r\nST: upnp:rootdevice\r\nUSER-AGENT: u/1 UPnP/1.1 bcast/1\r\n\r\n"
		if string(out[0].Payload) != want {
			t.Errorf("got %q; want %q", out[0].Payload, want)
		}
		now = now.Add(DefaultSendGap)
	}
	if out := s.Poll(now.Add(time.Hour)); len(out) != 0 {
		t.Errorf("after three sends: %d more datagrams; want none", len(out))
	}
	if got := s.Stats().SearchesSent; got != 12 {
		t.Errorf("SearchesSent %d; want 12", got)
	}
}

func TestSearcherResponses(t *testing.T) {
	usn := "uuid:dev::upnp:rootdevice"
	neighbour := netip.MustParseAddrPort("10.0.0.9:1900")
	for _, tc := range []struct {
		name  string
		at    time.Duration // after the search
		p     Packet
		event string
		stat  func(SearcherStats) uint64
	}{
		{"a neighbour's answer", time.Second, Packet{IfIndex: 2, Src: neighbour, Dst: netip.MustParseAddr("10.0.0.1"),
			Payload: response(RootDevice, usn, "http://10.0.0.9/d.xml", 100, 4)},
			"found eth0 uuid:dev::upnp:rootdevice http://10.0.0.9/d.xml ;", nil},
		{"off-link", time.Second, Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.9.9.9:1900"), Dst: netip.MustParseAddr("10.0.0.1"),
			Payload: response(RootDevice, usn, "http://10.9.9.9/", 100, 4)}, "", func(s SearcherStats) uint64 { return s.OffLink }},
		{"too late", 5 * time.Second, Packet{IfIndex: 2, Src: neighbour, Dst: netip.MustParseAddr("10.0.0.1"),
			Payload: response(RootDevice, usn, "http://10.0.0.9/", 100, 4)}, "", func(s SearcherStats) uint64 { return s.Unsolicited }},
		{"another target", time.Second, Packet{IfIndex: 2, Src: neighbour, Dst: netip.MustParseAddr("10.0.0.1"),
			Payload: response("uuid:dev", "uuid:dev", "http://10.0.0.9/", 100, 4)}, "", func(s SearcherStats) uint64 { return s.NotMatching }},
		{"unknown interface", time.Second, Packet{IfIndex: 9, Src: neighbour, Dst: netip.MustParseAddr("10.0.0.1"),
			Payload: response(RootDevice, usn, "http://10.0.0.9/", 100, 4)}, "", func(s SearcherStats) uint64 { return s.NoInterface }},
		{"not SSDP", time.Second, Packet{IfIndex: 2, Src: neighbour, Dst: netip.MustParseAddr("10.0.0.1"),
			Payload: []byte("hello")}, "", func(s SearcherStats) uint64 { return s.Malformed }},
		{"a link-local IPv6 neighbour", time.Second, Packet{IfIndex: 3, Src: netip.MustParseAddrPort("[fe80::9%eth1]:1900"), Dst: netip.MustParseAddr("fe80::2"),
			Payload: response(RootDevice, usn, "http://[fe80::9]/d.xml", 100, 4)},
			"found eth1 uuid:dev::upnp:rootdevice http://[fe80::9]/d.xml ;", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSearcher(t, SearcherConfig{Target: RootDevice, MX: 2, Sends: 1})
			s.Search(t0)
			s.Poll(t0)
			s.HandlePacket(t0.Add(tc.at), tc.p)
			if got := eventsString(s.Events()); got != tc.event {
				t.Errorf("events %q; want %q", got, tc.event)
			}
			if tc.stat != nil && tc.stat(s.Stats()) != 1 {
				t.Errorf("stats %+v: the reason is not counted", s.Stats())
			}
		})
	}
}

func TestSearcherTable(t *testing.T) {
	s := newSearcher(t, SearcherConfig{})
	src := netip.MustParseAddrPort("10.0.0.9:1900")
	group := IPv4Group.Addr()
	in := func(at time.Duration, b []byte) string {
		t.Helper()
		s.HandlePacket(t0.Add(at), Packet{IfIndex: 2, Src: src, Dst: group, Payload: b})
		return eventsString(s.Events())
	}
	if got, want := in(0, notify(Alive, "uuid:d", "uuid:d", "http://10.0.0.9/a", 10, 1, -1)), "found eth0 uuid:d http://10.0.0.9/a ;"; got != want {
		t.Errorf("alive: %q; want %q", got, want)
	}
	if got := in(time.Second, notify(Alive, "uuid:d", "uuid:d", "http://10.0.0.9/a", 10, 1, -1)); got != "" {
		t.Errorf("the same alive again: %q; want no event", got)
	}
	if got, want := in(2*time.Second, notify(Alive, "uuid:d", "uuid:d", "http://10.0.0.9/b", 10, 1, -1)), "changed eth0 uuid:d http://10.0.0.9/b location;"; got != want {
		t.Errorf("new location: %q; want %q", got, want)
	}
	if got, want := in(3*time.Second, notify(Update, "uuid:d", "uuid:d", "http://10.0.0.9/b", -1, 1, 2)), "changed eth0 uuid:d http://10.0.0.9/b bootid;"; got != want {
		t.Errorf("update: %q; want %q", got, want)
	}
	if e := s.Entries(); len(e) != 1 || e[0].BootID != 2 {
		t.Errorf("entries %+v; want one with BootID 2", e)
	}
	// Expiry: 10 s after the last alive, at 2 s (the update does not
	// extend it).
	if d := s.NextDeadline(); !d.Equal(t0.Add(12 * time.Second)) {
		t.Errorf("deadline %v; want %v", d, t0.Add(12*time.Second))
	}
	s.Poll(t0.Add(12*time.Second - time.Nanosecond))
	if got := eventsString(s.Events()); got != "" {
		t.Errorf("before expiry: %q", got)
	}
	s.Poll(t0.Add(12 * time.Second))
	if got, want := eventsString(s.Events()), "lost eth0 uuid:d http://10.0.0.9/b expired;"; got != want {
		t.Errorf("expiry: %q; want %q", got, want)
	}
	in(13*time.Second, notify(Alive, "uuid:d", "uuid:d", "http://10.0.0.9/b", 10, 1, -1))
	if got, want := in(14*time.Second, notify(ByeBye, "uuid:d", "uuid:d", "", -1, 1, -1)), "lost eth0 uuid:d http://10.0.0.9/b byebye;"; got != want {
		t.Errorf("byebye: %q; want %q", got, want)
	}
	in(15*time.Second, notify(Alive, "uuid:d", "uuid:d", "http://10.0.0.9/b", 10, 1, -1))
	s.RemoveInterface(t0.Add(16*time.Second), 2)
	if got, want := eventsString(s.Events()), "lost eth0 uuid:d http://10.0.0.9/b interface gone;"; got != want {
		t.Errorf("interface removed: %q; want %q", got, want)
	}
}

func TestSearcherMaxAgeDefaultAndCap(t *testing.T) {
	s := newSearcher(t, SearcherConfig{})
	for i, age := range []int{-1, 0, 1 << 30} {
		usn := fmt.Sprintf("uuid:d%d", i)
		s.HandlePacket(t0, Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.9:1900"), Dst: IPv4Group.Addr(),
			Payload: notify(Alive, usn, usn, "http://10.0.0.9/", age, 1, -1)})
	}
	want := []time.Duration{DefaultMaxAge, DefaultMaxAge, maxMaxAge}
	for i, e := range s.Entries() {
		if e.MaxAge != want[i] {
			t.Errorf("%s: MaxAge %v; want %v", e.USN, e.MaxAge, want[i])
		}
	}
}

func TestSearcherBounded(t *testing.T) {
	s := newSearcher(t, SearcherConfig{MaxEntries: 5})
	for i := range 20 {
		usn := fmt.Sprintf("uuid:d%d", i)
		s.HandlePacket(t0, Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.9:1900"), Dst: IPv4Group.Addr(),
			Payload: notify(Alive, usn, usn, "http://10.0.0.9/", 100, 1, -1)})
	}
	if st := s.Stats(); st.Entries != 5 || st.Full != 15 {
		t.Errorf("Entries %d, Full %d; want 5 and 15", st.Entries, st.Full)
	}
	// A known entry is still refreshed when the table is full.
	s.HandlePacket(t0.Add(50*time.Second), Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.9:1900"), Dst: IPv4Group.Addr(),
		Payload: notify(Alive, "uuid:d0", "uuid:d0", "http://10.0.0.9/", 100, 1, -1)})
	s.Poll(t0.Add(100 * time.Second))
	if e := s.Entries(); len(e) != 1 || e[0].USN != "uuid:d0" {
		t.Errorf("after the others expired: %+v; want uuid:d0 alone", e)
	}
}

func TestSearcherUnicast(t *testing.T) {
	for _, tc := range []struct {
		to      string
		ifindex int
	}{
		{"10.0.0.9:5000", 2},    // on eth0's link
		{"203.0.113.5:1900", 0}, // across a router: the kernel routes it
	} {
		t.Run(tc.to, func(t *testing.T) {
			to := netip.MustParseAddrPort(tc.to)
			s := newSearcher(t, SearcherConfig{Unicast: to, Target: "uuid:dev", Sends: 1})
			s.Search(t0)
			out := s.Poll(t0)
			if len(out) != 1 || out[0].IfIndex != tc.ifindex || out[0].Dst != to {
				t.Fatalf("got %+v; want one datagram to %v on interface %d", out, to, tc.ifindex)
			}
			want := "M-SEARCH * HTTP/1.1\r\nHOST: " + tc.to + "\r\nMAN: \"ssdp:discover\"\r\nST: uuid:dev\r\n\r\n"
			if string(out[0].Payload) != want {
				t.Errorf("got %q; want %q", out[0].Payload, want)
			}
			// The answer counts only from the host asked.
			s.HandlePacket(t0.Add(time.Second), Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.8:5000"), Dst: netip.MustParseAddr("10.0.0.1"),
				Payload: response("uuid:dev", "uuid:dev", "http://10.0.0.8/", 100, 1)})
			s.HandlePacket(t0.Add(time.Second), Packet{IfIndex: 2, Src: to, Dst: netip.MustParseAddr("10.0.0.1"),
				Payload: response("uuid:dev", "uuid:dev", "http://x/", 100, 1)})
			if got, want := eventsString(s.Events()), "found eth0 uuid:dev http://x/ ;"; got != want {
				t.Errorf("events %q; want %q", got, want)
			}
		})
	}
}

func TestSearcherNewInterface(t *testing.T) {
	s, err := NewSearcher(SearcherConfig{Sends: 1, Rand: seeded()})
	if err != nil {
		t.Fatal(err)
	}
	s.UpdateInterface(t0, eth0)
	s.Search(t0)
	if out := s.Poll(t0); len(out) != 2 {
		t.Fatalf("%d datagrams; want 2 (IPv4, IPv6 on eth0)", len(out))
	}
	s.UpdateInterface(t0.Add(time.Minute), eth1)
	out := s.Poll(t0.Add(time.Minute))
	if len(out) != 2 || out[0].IfIndex != eth1.Index {
		t.Errorf("after eth1 came: %+v; want a search on eth1", out)
	}
}

func TestNewSearcherChecks(t *testing.T) {
	for _, cfg := range []SearcherConfig{
		{Target: "printer"}, {MX: 6}, {MX: -1}, {Network: "tcp"}, {UserAgent: "a\r\nb"},
		{Unicast: netip.MustParseAddrPort("239.255.255.250:1900")}, {Unicast: netip.MustParseAddrPort("10.0.0.1:0")},
		{Unicast: netip.MustParseAddrPort("10.0.0.1:1900"), Network: "udp6"}, {Rescan: -time.Second},
	} {
		if _, err := NewSearcher(cfg); err == nil {
			t.Errorf("NewSearcher(%+v): no error", cfg)
		}
	}
}

func FuzzSearcher(f *testing.F) {
	f.Add(crlf(miniupnpdResponse), true)
	f.Add(notify(Alive, "uuid:d", "uuid:d", "http://10.0.0.9/", 10, 1, -1), false)
	f.Add(notify(Update, "uuid:d", "uuid:d", "http://10.0.0.9/", 10, 1, 3), false)
	f.Add(notify(ByeBye, "uuid:d", "uuid:d", "", 10, 1, -1), false)
	f.Fuzz(func(t *testing.T, b []byte, unicast bool) {
		s, err := NewSearcher(SearcherConfig{MaxEntries: 4, Rand: seeded()})
		if err != nil {
			t.Fatal(err)
		}
		s.UpdateInterface(t0, eth0)
		s.Search(t0)
		s.Poll(t0)
		dst := IPv4Group.Addr()
		if unicast {
			dst = netip.MustParseAddr("10.0.0.1")
		}
		// The same datagram four times, from four neighbours.
		for i := range 4 {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}), 1900)
			s.HandlePacket(t0.Add(time.Second), Packet{IfIndex: 2, Src: src, Dst: dst, Payload: b})
		}
		st := s.Stats()
		if st.Entries > 4 || st.Packets != 4 {
			t.Fatalf("stats %+v: more than MaxEntries, or packets not counted", st)
		}
		found := 0
		for _, e := range s.Events() {
			if e.Kind == Found {
				found++
			}
		}
		// Everything expires.
		s.Poll(t0.Add(maxMaxAge + time.Minute))
		lost := 0
		for _, e := range s.Events() {
			if e.Kind == Lost {
				lost++
			}
		}
		if found != st.Entries || lost != st.Entries || len(s.Entries()) != 0 {
			t.Fatalf("%d found, %d lost, %d entries at the end; want %d found and lost, none left", found, lost, len(s.Entries()), st.Entries)
		}
	})
}

// TestSearcherFamilies: a device that answers over IPv4 and IPv6 is an
// entry for each, with its own LOCATION, and neither changes the other.
func TestSearcherFamilies(t *testing.T) {
	s := newSearcher(t, SearcherConfig{})
	for _, tc := range []struct{ src, loc string }{
		{"10.0.0.9:1900", "http://10.0.0.9/d.xml"},
		{"[fd00::9]:1900", "http://[fd00::9]/d.xml"},
		{"10.0.0.9:1900", "http://10.0.0.9/d.xml"},
	} {
		s.HandlePacket(t0, Packet{IfIndex: 2, Src: netip.MustParseAddrPort(tc.src), Dst: IPv4Group.Addr(),
			Payload: notify(Alive, "uuid:d", "uuid:d", tc.loc, 100, 1, -1)})
	}
	if got, want := eventsString(s.Events()), "found eth0 uuid:d http://10.0.0.9/d.xml ;found eth0 uuid:d http://[fd00::9]/d.xml ;"; got != want {
		t.Errorf("events %q; want %q", got, want)
	}
	if es := s.Entries(); len(es) != 2 || !es[0].Src.Addr().Is4() || !es[1].Src.Addr().Is6() {
		t.Errorf("entries %+v; want the IPv4 one, then the IPv6 one", es)
	}
}
