package ssdp

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// printer is a root device with an embedded device and three services:
// 3 + 2 + 3 = 8 advertisements.
var printer = Device{
	UUID: "uuid:11111111-2222-3333-4444-555555555555", Type: "urn:schemas-upnp-org:device:Printer:2",
	Services: []string{"urn:schemas-upnp-org:service:PrintBasic:1", "urn:schemas-upnp-org:service:PrintEnhanced:1"},
	Devices: []Device{{
		UUID: "66666666-7777-8888-9999-000000000000", Type: "urn:schemas-upnp-org:device:Scanner:1",
		Services: []string{"urn:schemas-upnp-org:service:Scan:1"},
	}},
}

func newAdvertiser(t *testing.T, cfg AdvertiserConfig) *Advertiser {
	t.Helper()
	if cfg.Root.UUID == "" {
		cfg.Root = printer
	}
	if cfg.Port == 0 {
		cfg.Port = 8080
	}
	cfg.Rand = seeded()
	a, err := NewAdvertiser(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.UpdateInterface(t0, eth0)
	a.UpdateInterface(t0, eth1)
	return a
}

func search(st string, mx int) []byte {
	m := Message{Kind: Search, Host: HostHeader(IPv4Group), ST: st, MX: mx, MaxAge: -1, BootID: -1, ConfigID: -1, NextBootID: -1, SearchPort: -1}
	b, err := m.Append(nil)
	if err != nil {
		panic(err)
	}
	return b
}

// answers leaves out the announcements to the groups.
func answers(out []Output) []Output {
	var a []Output
	for _, o := range out {
		if !o.Dst.Addr().IsMulticast() {
			a = append(a, o)
		}
	}
	return a
}

func parseAll(t *testing.T, out []Output) []*Message {
	t.Helper()
	var ms []*Message
	for _, o := range out {
		m, err := Parse(o.Payload)
		if err != nil {
			t.Fatalf("Parse(%q): %v", o.Payload, err)
		}
		ms = append(ms, m)
	}
	return ms
}

func TestAdvertiserTargets(t *testing.T) {
	a := newAdvertiser(t, AdvertiserConfig{})
	want := []string{
		RootDevice, "uuid:11111111-2222-3333-4444-555555555555", "urn:schemas-upnp-org:device:Printer:2",
		"urn:schemas-upnp-org:service:PrintBasic:1", "urn:schemas-upnp-org:service:PrintEnhanced:1",
		"uuid:66666666-7777-8888-9999-000000000000", "urn:schemas-upnp-org:device:Scanner:1", "urn:schemas-upnp-org:service:Scan:1",
	}
	if got := a.Targets(); !slices.Equal(got, want) {
		t.Errorf("got %q; want %q", got, want)
	}
}

// TestAdvertiserAnnounces: the NOTIFY set within 100 ms of start, once
// more a second later, then again before max-age/2 each time; LOCATION
// on each interface is that interface's address.
func TestAdvertiserAnnounces(t *testing.T) {
	a := newAdvertiser(t, AdvertiserConfig{MaxAge: 100 * time.Second, BootID: 7, ConfigID: 3})
	first := a.NextDeadline()
	if first.Before(t0) || first.After(t0.Add(announceDelay)) {
		t.Fatalf("first announcement at %v; want within 100 ms of %v", first, t0)
	}
	if out := a.Poll(t0.Add(announceDelay)); len(out) != 2*8*2 {
		t.Fatalf("%d datagrams; want 32: 8 targets, two families, two interfaces", len(out))
	} else {
		for i, m := range parseAll(t, out) {
			wantLoc := map[string]string{
				"2 239.255.255.250:1900": "http://10.0.0.1:8080/description.xml",
				"2 [ff02::c]:1900":       "http://[fd00::1]:8080/description.xml",
				"3 239.255.255.250:1900": "http://192.168.7.1:8080/description.xml",
				"3 [ff02::c]:1900":       "http://[fe80::2]:8080/description.xml",
			}[fmt.Sprintf("%d %v", out[i].IfIndex, out[i].Dst)]
			if m.Kind != Notify || m.NTS != Alive || m.Location != wantLoc || m.MaxAge != 100 || m.BootID != 7 || m.ConfigID != 3 || m.Server != DefaultServer {
				t.Errorf("datagram %d to %v on %d: %+v; want alive, LOCATION %s, max-age 100, BOOTID 7, CONFIGID 3", i, out[i].Dst, out[i].IfIndex, m, wantLoc)
			}
			if m.Host != HostHeader(out[i].Dst) {
				t.Errorf("HOST %q to %v", m.Host, out[i].Dst)
			}
		}
	}
	// The second copy a second later, then the periodic one; each
	// interface keeps its own time, so follow eth0 alone.
	a.RemoveInterface(t0, eth1.Index)
	prev := a.NextDeadline()
	if d := prev.Sub(t0.Add(announceDelay)); d != announceRepeat {
		t.Errorf("second copy %v after the first; want %v", d, announceRepeat)
	}
	a.Poll(prev)
	for range 5 {
		next := a.NextDeadline()
		if gap := next.Sub(prev); gap < 40*time.Second || gap >= 50*time.Second {
			t.Errorf("re-announced %v after the last; want in [40s, 50s)", gap)
		}
		if out := a.Poll(next); len(out) != 16 {
			t.Errorf("re-announcement: %d datagrams; want 16", len(out))
		}
		prev = next
	}
}

func TestAdvertiserAnswers(t *testing.T) {
	neighbour := netip.MustParseAddrPort("10.0.0.9:50000")
	for _, tc := range []struct {
		st    string
		mx    int
		wants []string // ST, USN
	}{
		{All, 3, []string{
			"upnp:rootdevice uuid:11111111-2222-3333-4444-555555555555::upnp:rootdevice",
			"uuid:11111111-2222-3333-4444-555555555555 uuid:11111111-2222-3333-4444-555555555555",
			"urn:schemas-upnp-org:device:Printer:2 uuid:11111111-2222-3333-4444-555555555555::urn:schemas-upnp-org:device:Printer:2",
			"urn:schemas-upnp-org:service:PrintBasic:1 uuid:11111111-2222-3333-4444-555555555555::urn:schemas-upnp-org:service:PrintBasic:1",
			"urn:schemas-upnp-org:service:PrintEnhanced:1 uuid:11111111-2222-3333-4444-555555555555::urn:schemas-upnp-org:service:PrintEnhanced:1",
			"uuid:66666666-7777-8888-9999-000000000000 uuid:66666666-7777-8888-9999-000000000000",
			"urn:schemas-upnp-org:device:Scanner:1 uuid:66666666-7777-8888-9999-000000000000::urn:schemas-upnp-org:device:Scanner:1",
			"urn:schemas-upnp-org:service:Scan:1 uuid:66666666-7777-8888-9999-000000000000::urn:schemas-upnp-org:service:Scan:1",
		}},
		{RootDevice, 1, []string{"upnp:rootdevice uuid:11111111-2222-3333-4444-555555555555::upnp:rootdevice"}},
		{"uuid:66666666-7777-8888-9999-000000000000", 5, []string{"uuid:66666666-7777-8888-9999-000000000000 uuid:66666666-7777-8888-9999-000000000000"}},
		{"urn:schemas-upnp-org:device:Printer:1", 120, []string{
			"urn:schemas-upnp-org:device:Printer:1 uuid:11111111-2222-3333-4444-555555555555::urn:schemas-upnp-org:device:Printer:1"}},
	} {
		t.Run(tc.st, func(t *testing.T) {
			a := newAdvertiser(t, AdvertiserConfig{BootID: 9})
			a.Poll(t0.Add(time.Hour)) // the announcements
			now := t0.Add(time.Hour)
			a.HandlePacket(now, Packet{IfIndex: 2, Src: neighbour, Dst: IPv4Group.Addr(), Payload: search(tc.st, tc.mx)})
			window := time.Duration(min(tc.mx, MaxMX))*time.Second - answerMargin
			if d := a.NextDeadline(); d.Before(now) || d.After(now.Add(window)) {
				t.Errorf("first answer due %v after the search; want within %v", d.Sub(now), window)
			}
			var got []string
			for at := now; !at.After(now.Add(window)); at = at.Add(10 * time.Millisecond) {
				out := answers(a.Poll(at))
				for i, m := range parseAll(t, out) {
					if out[i].Dst != neighbour || out[i].IfIndex != 2 || m.Kind != Response || m.Location != "http://10.0.0.1:8080/description.xml" || !m.Ext || m.BootID != 9 {
						t.Errorf("answer %+v to %v on %d; want a response to %v on eth0 with eth0's LOCATION", m, out[i].Dst, out[i].IfIndex, neighbour)
					}
					got = append(got, m.ST+" "+m.USN)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.wants))
			if !slices.Equal(got, want) {
				t.Errorf("got %q; want %q", got, want)
			}
			if out := answers(a.Poll(now.Add(time.Minute))); len(out) != 0 {
				t.Errorf("%d more datagrams later; want none", len(out))
			}
		})
	}
}

func TestAdvertiserRefuses(t *testing.T) {
	onLink := netip.MustParseAddrPort("10.0.0.9:50000")
	for _, tc := range []struct {
		name string
		p    Packet
		stat func(AdvertiserStats) uint64
	}{
		{"off-link source", Packet{IfIndex: 2, Src: netip.MustParseAddrPort("198.51.100.7:50000"), Dst: IPv4Group.Addr(), Payload: search(All, 2)},
			func(s AdvertiserStats) uint64 { return s.OffLink }},
		{"the subnet's broadcast address as source", Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.255:50000"), Dst: IPv4Group.Addr(), Payload: search(All, 2)},
			func(s AdvertiserStats) uint64 { return s.OffLink }},
		{"a source on the other interface's link", Packet{IfIndex: 2, Src: netip.MustParseAddrPort("192.168.7.9:50000"), Dst: IPv4Group.Addr(), Payload: search(All, 2)},
			func(s AdvertiserStats) uint64 { return s.OffLink }},
		{"to the subnet broadcast", Packet{IfIndex: 2, Src: onLink, Dst: netip.MustParseAddr("10.0.0.255"), Payload: search(All, 2)},
			func(s AdvertiserStats) uint64 { return s.BadDst }},
		{"to another group", Packet{IfIndex: 2, Src: onLink, Dst: netip.MustParseAddr("239.1.2.3"), Payload: search(All, 2)},
			func(s AdvertiserStats) uint64 { return s.BadDst }},
		{"no MX", Packet{IfIndex: 2, Src: onLink, Dst: IPv4Group.Addr(), Payload: search(All, -1)},
			func(s AdvertiserStats) uint64 { return s.BadMX }},
		{"MX 0", Packet{IfIndex: 2, Src: onLink, Dst: IPv4Group.Addr(), Payload: search(All, 0)},
			func(s AdvertiserStats) uint64 { return s.BadMX }},
		{"bad MAN", Packet{IfIndex: 2, Src: onLink, Dst: IPv4Group.Addr(),
			Payload: crlf("M-SEARCH * HTTP/1.1\nHOST: 239.255.255.250:1900\nMAN: \"ssdp:other\"\nMX: 1\nST: ssdp:all\n\n")},
			func(s AdvertiserStats) uint64 { return s.BadMAN }},
		{"source port 7 (echo)", Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.9:7"), Dst: IPv4Group.Addr(), Payload: search(All, 2)},
			func(s AdvertiserStats) uint64 { return s.BadPort }},
		{"another device", Packet{IfIndex: 2, Src: onLink, Dst: IPv4Group.Addr(), Payload: search("uuid:other", 2)},
			func(s AdvertiserStats) uint64 { return s.NoMatch }},
		{"a NOTIFY", Packet{IfIndex: 2, Src: onLink, Dst: IPv4Group.Addr(), Payload: notify(Alive, "uuid:d", "uuid:d", "http://x/", 10, 1, -1)},
			func(s AdvertiserStats) uint64 { return s.Ignored }},
		{"truncated", Packet{IfIndex: 2, Src: onLink, Dst: IPv4Group.Addr(), Payload: search(All, 2), Truncated: true},
			func(s AdvertiserStats) uint64 { return s.Truncated }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdvertiser(t, AdvertiserConfig{})
			a.Poll(t0.Add(time.Hour))
			a.HandlePacket(t0.Add(time.Hour), tc.p)
			if out := answers(a.Poll(t0.Add(time.Hour + 10*time.Second))); len(out) != 0 {
				t.Errorf("%d datagrams sent; want none", len(out))
			}
			if tc.stat(a.Stats()) != 1 {
				t.Errorf("stats %+v: the reason is not counted", a.Stats())
			}
		})
	}
}

// TestAdvertiserUnicastSearch: a unicast M-SEARCH to one of the host's
// addresses is answered at once, without MX; one to another address is
// not.
func TestAdvertiserUnicastSearch(t *testing.T) {
	a := newAdvertiser(t, AdvertiserConfig{})
	a.Poll(t0.Add(time.Hour))
	now := t0.Add(time.Hour)
	src := netip.MustParseAddrPort("10.0.0.9:40000")
	a.HandlePacket(now, Packet{IfIndex: 2, Src: src, Dst: netip.MustParseAddr("10.0.0.1"), Payload: search(RootDevice, -1)})
	if out := answers(a.Poll(now)); len(out) != 1 || out[0].Dst != src {
		t.Errorf("got %+v; want one answer at once", out)
	}
	a.HandlePacket(now, Packet{IfIndex: 2, Src: src, Dst: netip.MustParseAddr("10.0.0.77"), Payload: search(RootDevice, -1)})
	if out := answers(a.Poll(now.Add(time.Minute))); len(out) != 0 || a.Stats().BadDst != 1 {
		t.Errorf("to another host's address: %d answers, BadDst %d; want none and 1", len(out), a.Stats().BadDst)
	}
}

// TestAdvertiserRateLimit: a source gets three full answers at once, then
// one a second; a search that would go over draws nothing; the same search
// again while its answers wait adds nothing.
func TestAdvertiserRateLimit(t *testing.T) {
	a := newAdvertiser(t, AdvertiserConfig{})
	now := t0.Add(time.Hour)
	a.Poll(now)
	src := netip.MustParseAddrPort("10.0.0.9:50000")
	// Searches a millisecond apart, with their answers out between.
	got := 0
	for range 10 {
		a.HandlePacket(now, Packet{IfIndex: 2, Src: src, Dst: IPv4Group.Addr(), Payload: search(All, 1)})
		now = now.Add(time.Millisecond)
		got += len(answers(a.Poll(now.Add(MaxMX * time.Second))))
	}
	if got != 3*8 || a.Stats().RateLimited != 7 {
		t.Errorf("10 searches at once: %d answers, RateLimited %d; want 24 (three full answers) and 7", got, a.Stats().RateLimited)
	}
	// A second later the source has one more full answer.
	now = now.Add(time.Second)
	a.HandlePacket(now, Packet{IfIndex: 2, Src: src, Dst: IPv4Group.Addr(), Payload: search(All, 1)})
	if n := len(answers(a.Poll(now.Add(MaxMX * time.Second)))); n != 8 {
		t.Errorf("a second later: %d answers; want 8", n)
	}
	// Another source has its own budget.
	a.HandlePacket(now, Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.10:50000"), Dst: IPv4Group.Addr(), Payload: search(All, 1)})
	if n := len(answers(a.Poll(now.Add(MaxMX * time.Second)))); n != 8 {
		t.Errorf("another source: %d answers; want 8", n)
	}
	// A repeated search while the answers wait: nothing more.
	b := newAdvertiser(t, AdvertiserConfig{})
	b.Poll(now)
	for range 3 {
		b.HandlePacket(now, Packet{IfIndex: 2, Src: src, Dst: IPv4Group.Addr(), Payload: search(RootDevice, 3)})
	}
	if n := len(answers(b.Poll(now.Add(MaxMX * time.Second)))); n != 1 || b.Stats().Duplicate != 2 {
		t.Errorf("three searches while the answer waits: %d answers, Duplicate %d; want 1 and 2", n, b.Stats().Duplicate)
	}
}

// TestAdvertiserTotalRate: many sources together are held to TotalRate.
func TestAdvertiserTotalRate(t *testing.T) {
	a := newAdvertiser(t, AdvertiserConfig{TotalRate: 16})
	now := t0.Add(time.Hour)
	a.Poll(now)
	for i := range 200 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(2 + i%250)}), 50000)
		a.HandlePacket(now, Packet{IfIndex: 2, Src: src, Dst: IPv4Group.Addr(), Payload: search(RootDevice, 1)})
	}
	if n := len(answers(a.Poll(now.Add(MaxMX * time.Second)))); n != 16 {
		t.Errorf("200 sources at once: %d answers; want 16", n)
	}
}

func TestAdvertiserByeByeAndUpdate(t *testing.T) {
	a := newAdvertiser(t, AdvertiserConfig{BootID: 1, Network: "udp4"})
	now := t0.Add(time.Hour)
	a.Poll(now)
	if err := a.SetBootID(now, 2); err != nil {
		t.Fatal(err)
	}
	ms := parseAll(t, a.Poll(now))
	var kinds []string
	for _, m := range ms {
		kinds = append(kinds, fmt.Sprintf("%s %d>%d", m.NTS, m.BootID, m.NextBootID))
	}
	want := slices.Concat(slices.Repeat([]string{"ssdp:update 1>2"}, 16), slices.Repeat([]string{"ssdp:alive 2>-1"}, 16))
	if !slices.Equal(kinds, want) {
		t.Errorf("after SetBootID: %q; want 16 updates (8 targets, 2 interfaces) then 16 alives", kinds)
	}
	a.HandlePacket(now, Packet{IfIndex: 2, Src: netip.MustParseAddrPort("10.0.0.9:50000"), Dst: IPv4Group.Addr(), Payload: search(All, 5)})
	a.Close(now)
	out := a.Poll(now.Add(time.Minute))
	if len(out) != 16 {
		t.Fatalf("Close: %d datagrams; want 16 byebyes and no pending answer", len(out))
	}
	for _, m := range parseAll(t, out) {
		if m.NTS != ByeBye || m.Location != "" || m.BootID != 2 || m.USN == "" {
			t.Errorf("%+v; want a byebye with BOOTID 2 and no LOCATION", m)
		}
	}
	if !a.NextDeadline().IsZero() {
		t.Errorf("closed, yet a deadline %v", a.NextDeadline())
	}
}

func TestNewAdvertiserChecks(t *testing.T) {
	ok := AdvertiserConfig{Root: printer, Port: 80}
	for _, tc := range []struct {
		name string
		edit func(*AdvertiserConfig)
		want string
	}{
		{"no port", func(c *AdvertiserConfig) { c.Port = 0 }, "port"},
		{"relative path", func(c *AdvertiserConfig) { c.Path = "d.xml" }, "path"},
		{"fractional max-age", func(c *AdvertiserConfig) { c.MaxAge = 1500 * time.Millisecond }, "MaxAge"},
		{"negative boot id", func(c *AdvertiserConfig) { c.BootID = -1 }, "BootID"},
		{"config id too large", func(c *AdvertiserConfig) { c.ConfigID = 1 << 24 }, "ConfigID"},
		{"server with CRLF", func(c *AdvertiserConfig) { c.Server = "a\r\nb" }, "Server"},
		{"no root type", func(c *AdvertiserConfig) { c.Root = Device{UUID: "a"} }, "type"},
		{"network", func(c *AdvertiserConfig) { c.Network = "ip" }, "network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := NewAdvertiser(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewAdvertiser: %v; want an error about %s", err, tc.want)
			}
		})
	}
}

// TestEnginesTogether runs a Searcher against an Advertiser over a
// simulated link: every target is found with the Advertiser's LOCATION on
// that link, and lost on byebye.
func TestEnginesTogether(t *testing.T) {
	dev, err := NewAdvertiser(AdvertiserConfig{Root: printer, Port: 8080, Rand: seeded(), Network: "udp4"})
	if err != nil {
		t.Fatal(err)
	}
	peer := Interface{Index: 5, Name: "lan0", Flags: up, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.9/24")}}
	dev.UpdateInterface(t0, eth0)
	s := newSearcher(t, SearcherConfig{Network: "udp4", MX: 1})
	s.RemoveInterface(t0, eth0.Index)
	s.RemoveInterface(t0, eth1.Index)
	s.UpdateInterface(t0, peer)
	searcherAddr := netip.MustParseAddrPort("10.0.0.9:43210")
	// deliver passes the datagrams from one side to the other, as the
	// link would, with sources and destinations as the kernel gives them.
	deliver := func(now time.Time) {
		for _, o := range s.Poll(now) {
			dev.HandlePacket(now, Packet{IfIndex: 2, Src: searcherAddr, Dst: o.Dst.Addr(), Payload: o.Payload})
		}
		for _, o := range dev.Poll(now) {
			dst := o.Dst.Addr()
			s.HandlePacket(now, Packet{IfIndex: 5, Src: netip.MustParseAddrPort("10.0.0.1:1900"), Dst: dst, Payload: o.Payload})
		}
	}
	s.Search(t0.Add(time.Hour))
	for at := t0.Add(time.Hour); at.Before(t0.Add(time.Hour + 5*time.Second)); at = at.Add(10 * time.Millisecond) {
		deliver(at)
	}
	got := s.Entries()
	if len(got) != 8 {
		t.Fatalf("found %d entries; want 8: %+v", len(got), got)
	}
	for _, e := range got {
		if e.Location != "http://10.0.0.1:8080/description.xml" || e.IfName != "lan0" {
			t.Errorf("%+v; want LOCATION on 10.0.0.1, heard on lan0", e)
		}
	}
	s.Events()
	dev.Close(t0.Add(time.Hour + 10*time.Second))
	deliver(t0.Add(time.Hour + 10*time.Second))
	lost := 0
	for _, e := range s.Events() {
		if e.Kind == Lost && e.Reason == "byebye" {
			lost++
		}
	}
	if lost != 8 || len(s.Entries()) != 0 {
		t.Errorf("after byebye: %d lost, %d left; want 8 and none", lost, len(s.Entries()))
	}
}

// FuzzAdvertiser: whatever one datagram holds, it draws at most one
// answer per advertised target, each to the datagram's source, within
// MaxMX seconds.
func FuzzAdvertiser(f *testing.F) {
	f.Add(search(All, 2), false, uint16(50000))
	f.Add(search(RootDevice, 9), true, uint16(1900))
	f.Add(search("urn:schemas-upnp-org:device:Printer:1", 1), false, uint16(7))
	f.Add(crlf(miniupnpdResponse), false, uint16(1900))
	f.Fuzz(func(t *testing.T, b []byte, unicast bool, port uint16) {
		a, err := NewAdvertiser(AdvertiserConfig{Root: printer, Port: 80, Rand: seeded()})
		if err != nil {
			t.Fatal(err)
		}
		a.UpdateInterface(t0, eth0)
		now := t0.Add(time.Hour)
		a.Poll(now)
		src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), port)
		dst := IPv4Group.Addr()
		if unicast {
			dst = netip.MustParseAddr("10.0.0.1")
		}
		a.HandlePacket(now, Packet{IfIndex: 2, Src: src, Dst: dst, Payload: b})
		out := answers(a.Poll(now.Add(MaxMX * time.Second)))
		if len(out) > len(a.Targets()) {
			t.Fatalf("%d answers to one datagram; at most %d targets", len(out), len(a.Targets()))
		}
		for _, o := range out {
			if o.Dst != src || o.IfIndex != 2 {
				t.Fatalf("answer to %v on %d; want %v on 2", o.Dst, o.IfIndex, src)
			}
			if m, err := Parse(o.Payload); err != nil || m.Kind != Response {
				t.Fatalf("answer %q: %v", o.Payload, err)
			}
		}
	})
}

func TestDescription(t *testing.T) {
	doc, err := Description(printer, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>`,
		`<root xmlns="urn:schemas-upnp-org:device-1-0" configId="3">`,
		"<major>1</major>", "<minor>1</minor>",
		"<deviceType>urn:schemas-upnp-org:device:Printer:2</deviceType>",
		"<friendlyName>Printer</friendlyName>",
		"<UDN>uuid:11111111-2222-3333-4444-555555555555</UDN>",
		"<deviceList>", "<UDN>uuid:66666666-7777-8888-9999-000000000000</UDN>",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the document lacks %s:\n%s", want, doc)
		}
	}
	named := printer
	named.FriendlyName = `Bob's <printer> & co`
	doc, err = Description(named, 0)
	if err != nil || !strings.Contains(string(doc), "<friendlyName>Bob&#39;s &lt;printer&gt; &amp; co</friendlyName>") {
		t.Errorf("a name with markup: %v\n%s", err, doc)
	}
}

func TestDescriptionHandler(t *testing.T) {
	h, err := DescriptionHandler(printer, 0, "/d.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/d.xml", 200}, {"HEAD", "/d.xml", 200}, {"GET", "/other", 404}, {"POST", "/d.xml", 405},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.code {
			t.Errorf("%s %s: %d; want %d", tc.method, tc.path, w.Code, tc.code)
		}
		if tc.code == 200 && w.Header().Get("Content-Type") != `text/xml; charset="utf-8"` {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, w.Header().Get("Content-Type"))
		}
	}
}

func TestServerHeader(t *testing.T) {
	s := serverHeader()
	m := Message{Kind: Response, Server: s}
	if _, err := m.Append(nil); err != nil || !strings.HasPrefix(s, "Linux/") || !strings.HasSuffix(s, " UPnP/1.1 bcast/1") || strings.Count(s, " ") != 2 {
		t.Errorf("serverHeader() = %q (%v); want Linux/VERSION UPnP/1.1 bcast/1", s, err)
	}
}
