package discovery_test

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/internal/netns"
)

// mdns runs the mDNS runtime, which works from any goroutine once opened
// inside a namespace (lanlink), so Host.Do suffices: no helper process.

func waitEvent(t *testing.T, b *discovery.Browser, what string, ok func(discovery.Event) bool) discovery.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	var seen []discovery.Event
	for {
		select {
		case ev := <-b.Events():
			if ok(ev) {
				return ev
			}
			seen = append(seen, ev)
		case <-deadline:
			t.Fatalf("no %s within 5s; got %v", what, seen)
		}
	}
}

// TestIntegrationProtocolMDNS: Announce and Browse with Protocol MDNS
// find each other with the same Event type as bcast's own protocol; an
// empty Service browses every type.
func TestIntegrationProtocolMDNS(t *testing.T) {
	lab := netns.New(t)
	lan := lab.LAN("one", netip.MustParsePrefix("10.84.1.0/24"), netip.MustParsePrefix("fd00:84:1::/64"))
	a, b := lab.Host("a"), lab.Host("b")
	an := a.Attach(lan, "eth0", netip.MustParseAddr("10.84.1.1"), netip.MustParseAddr("fd00:84:1::1"))
	b.Attach(lan, "eth0", netip.MustParseAddr("10.84.1.2"), netip.MustParseAddr("fd00:84:1::2"))

	var ann *discovery.Announcer
	if err := a.Do(func() (err error) {
		ann, err = discovery.Announce(discovery.AnnouncerConfig{Protocol: discovery.MDNS, Host: "alpha",
			Service: "_http._tcp", Instance: "Office Web", Port: 8080, Text: map[string]string{"path": "/"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ann.Close() })
	var one, every *discovery.Browser
	if err := b.Do(func() (err error) {
		if one, err = discovery.Browse(discovery.BrowserConfig{Protocol: discovery.MDNS, Service: "_http._tcp"}); err != nil {
			return err
		}
		every, err = discovery.Browse(discovery.BrowserConfig{Protocol: discovery.MDNS})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { one.Close(); every.Close() })

	for _, br := range []*discovery.Browser{one, every} {
		ev := waitEvent(t, br, "found Office Web", func(e discovery.Event) bool { return e.Kind == discovery.Found })
		p := ev.Peer
		if p.Protocol != discovery.MDNS || p.Service != "_http._tcp" || p.Instance != "Office Web" || p.Host != "alpha.local." ||
			p.Port != 8080 || !maps.Equal(p.Text, map[string]string{"path": "/"}) || !slices.Equal(p.Interfaces, []string{"eth0"}) {
			t.Errorf("found %+v; want mdns _http._tcp Office Web on alpha.local.:8080, path=/, on eth0", p)
		}
		// IPv4 and IPv6 answers come apart: found with one family's
		// addresses, updated when the other's arrive.
		both := func(p discovery.Peer) bool {
			return slices.Contains(p.Addrs, an.Addr4()) && slices.Contains(p.Addrs, an.Addr6())
		}
		if !both(p) {
			waitEvent(t, br, "Office Web with both addresses", func(e discovery.Event) bool { return e.Kind == discovery.Updated && both(e.Peer) })
		}
		if got := br.Peers(); len(got) != 1 || got[0].Instance != "Office Web" {
			t.Errorf("Peers() = %v; want Office Web", got)
		}
	}
	if err := ann.Update(map[string]string{"path": "/new"}); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, one, "updated text", func(e discovery.Event) bool { return e.Kind == discovery.Updated })
	if ev.Peer.Text["path"] != "/new" {
		t.Errorf("updated %v; want path=/new", ev.Peer.Text)
	}
	if ann.Instance() != "Office Web" || ann.Service() != "_http._tcp" {
		t.Errorf("announcer says %q of %q", ann.Instance(), ann.Service())
	}
	if err := ann.Close(); err != nil {
		t.Error(err)
	}
	waitEvent(t, one, "lost after Close", func(e discovery.Event) bool { return e.Kind == discovery.Lost })
	if st := ann.Stats(); st.Sent == 0 || st.SendErrors != 0 {
		t.Errorf("announcer stats %+v; want sends without errors", st)
	}
}

// TestProtocolChecks: what does not apply to a protocol is refused by
// name, before any socket is opened.
func TestProtocolChecks(t *testing.T) {
	const basic = "urn:schemas-upnp-org:device:Basic:1"
	for _, tc := range []struct {
		name string
		cfg  discovery.AnnouncerConfig
		want string
	}{
		{"port", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "_http._tcp", Link: discovery.Link{Port: 9}}, "Link.Port 9"},
		{"group", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "_http._tcp", Link: discovery.Link{Group: netip.MustParseAddr("239.1.2.3")}}, "Link.Group"},
		{"transport", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "_http._tcp", Link: discovery.Link{Transport: discovery.Broadcast}}, "Transport broadcast"},
		{"destinations", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "_http._tcp", Link: discovery.Link{Destinations: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:9")}}}, "Destinations"},
		{"interval", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "_http._tcp", Interval: time.Second}, "Interval"},
		{"service", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "printer"}, `"printer" is no DNS-SD service type`},
		{"network", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "_http._tcp", Link: discovery.Link{Network: "tcp"}}, `"tcp"`},
		{"host with own", discovery.AnnouncerConfig{Service: "printer", Host: "alpha"}, "mDNS only"},
		{"unknown protocol", discovery.AnnouncerConfig{Protocol: 7, Service: "printer"}, "unknown protocol 7"},
		{"path with own", discovery.AnnouncerConfig{Service: "printer", Path: "/d.xml"}, "SSDP only"},
		{"path with mdns", discovery.AnnouncerConfig{Protocol: discovery.MDNS, Service: "_http._tcp", Path: "/d.xml"}, "SSDP only"},
		{"ssdp port", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Link: discovery.Link{Port: 9}}, "Link.Port 9"},
		{"ssdp group", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Link: discovery.Link{Group: netip.MustParseAddr("239.1.2.3")}}, "Link.Group"},
		{"ssdp transport", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Link: discovery.Link{Transport: discovery.Multicast}}, "Transport multicast"},
		{"ssdp destinations", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Link: discovery.Link{Destinations: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:1900")}}}, "Destinations"},
		{"ssdp network", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Link: discovery.Link{Network: "tcp"}}, `"tcp"`},
		{"ssdp interval", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Interval: time.Second}, "Interval"},
		{"ssdp text", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Text: map[string]string{"a": "b"}}, "Text"},
		{"ssdp host", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Host: "alpha"}, "mDNS only"},
		{"ssdp no port", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic}, "needs Port"},
		{"ssdp service", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: "_http._tcp", Port: 80}, `"_http._tcp" is no UPnP device type`},
		{"ssdp service type", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: "urn:schemas-upnp-org:service:WANIPConnection:1", Port: 80}, "no UPnP device type"},
		{"ssdp version", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: "urn:schemas-upnp-org:device:Basic:x", Port: 80}, `version "x"`},
		{"ssdp instance", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Instance: "my box"}, `UUID "uuid:my box"`},
		{"ssdp path", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, Path: "d.xml"}, `path "d.xml"`},
		{"ssdp ttl", discovery.AnnouncerConfig{Protocol: discovery.SSDP, Service: basic, Port: 80, TTL: 48 * time.Hour}, "MaxAge 48h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := discovery.Announce(tc.cfg)
			if err == nil {
				a.Close()
				t.Fatalf("Announce(%+v): no error; want one saying %q", tc.cfg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Announce error %q; want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := discovery.Browse(discovery.BrowserConfig{Protocol: discovery.MDNS, Service: "http"}); err == nil || !strings.Contains(err.Error(), "DNS-SD") {
		t.Errorf("Browse mdns service http: %v; want a DNS-SD service type error", err)
	}
	for _, tc := range []struct {
		name string
		cfg  discovery.BrowserConfig
		want string
	}{
		{"ssdp service", discovery.BrowserConfig{Protocol: discovery.SSDP, Service: "_http._tcp"}, `"_http._tcp" is no SSDP search target`},
		{"ssdp two destinations", discovery.BrowserConfig{Protocol: discovery.SSDP, Link: discovery.Link{Destinations: []netip.AddrPort{
			netip.MustParseAddrPort("10.0.0.1:1900"), netip.MustParseAddrPort("10.0.0.2:1900")}}}, "one device by unicast, not 2"},
		{"ssdp port", discovery.BrowserConfig{Protocol: discovery.SSDP, Link: discovery.Link{Port: 62278}}, "Link.Port 62278"},
		{"ssdp multicast destination", discovery.BrowserConfig{Protocol: discovery.SSDP, Link: discovery.Link{Destinations: []netip.AddrPort{
			netip.MustParseAddrPort("239.255.255.250:1900")}}}, "unicast search to 239.255.255.250:1900"},
	} {
		t.Run("browse "+tc.name, func(t *testing.T) {
			b, err := discovery.Browse(tc.cfg)
			if err == nil {
				b.Close()
				t.Fatalf("Browse(%+v): no error; want one saying %q", tc.cfg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Browse error %q; want it to say %q", err, tc.want)
			}
		})
	}
}

// TestIntegrationProtocolSSDP: Announce and Browse with Protocol SSDP
// find each other with the same Event type as the other protocols: the
// device's type search finds it with its LOCATION's port and each
// family's address, ssdp:all finds its three advertisements, and Close
// (ssdp:byebye) loses it.
func TestIntegrationProtocolSSDP(t *testing.T) {
	const (
		basic = "urn:schemas-upnp-org:device:Basic:1"
		uuid  = "uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b"
	)
	lab := netns.New(t)
	lan := lab.LAN("one", netip.MustParsePrefix("10.85.1.0/24"), netip.MustParsePrefix("fd00:85:1::/64"))
	a, b := lab.Host("a"), lab.Host("b")
	an := a.Attach(lan, "eth0", netip.MustParseAddr("10.85.1.1"), netip.MustParseAddr("fd00:85:1::1"))
	b.Attach(lan, "eth0", netip.MustParseAddr("10.85.1.2"), netip.MustParseAddr("fd00:85:1::2"))

	var ann *discovery.Announcer
	if err := a.Do(func() (err error) {
		ann, err = discovery.Announce(discovery.AnnouncerConfig{Protocol: discovery.SSDP,
			Service: basic, Instance: uuid, Port: 8080, Path: "/desc.xml", TTL: 120 * time.Second})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ann.Close() })
	if ann.Instance() != uuid || ann.Service() != basic {
		t.Errorf("announcer says %q of %q; want %q of %q", ann.Instance(), ann.Service(), uuid, basic)
	}
	if err := ann.Update(map[string]string{"a": "b"}); err == nil {
		t.Error("Update with SSDP: no error; want Text refused")
	}
	var one, every *discovery.Browser
	if err := b.Do(func() (err error) {
		if one, err = discovery.Browse(discovery.BrowserConfig{Protocol: discovery.SSDP, Service: basic}); err != nil {
			return err
		}
		every, err = discovery.Browse(discovery.BrowserConfig{Protocol: discovery.SSDP})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { one.Close(); every.Close() })

	both := func(p discovery.Peer) bool {
		return slices.Contains(p.Addrs, an.Addr4()) && slices.Contains(p.Addrs, an.Addr6())
	}
	ev := waitEvent(t, one, "found the Basic device", func(e discovery.Event) bool { return e.Kind == discovery.Found })
	p := ev.Peer
	loc := map[string]bool{"http://10.85.1.1:8080/desc.xml": true, "http://[fd00:85:1::1]:8080/desc.xml": true}
	if p.Protocol != discovery.SSDP || p.Service != basic || p.Instance != uuid+"::"+basic || p.Port != 8080 ||
		!loc[p.Text["location"]] || p.Text["server"] == "" || p.Text["bootid"] == "" ||
		!slices.Equal(p.Interfaces, []string{"eth0"}) || !p.Self || p.Expires.Before(time.Now().Add(100*time.Second)) {
		t.Errorf("found %+v; want ssdp %s %s::%s port 8080, a LOCATION on %v or %v, server, bootid, on eth0, Self, expiring in 120 s",
			p, basic, uuid, basic, an.Addr4(), an.Addr6())
	}
	// The two families' answers come apart: found with one LOCATION's
	// address, updated when the other's arrives.
	if !both(p) {
		waitEvent(t, one, "the device with both addresses", func(e discovery.Event) bool { return e.Kind == discovery.Updated && both(e.Peer) })
	}
	if got := one.Peers(); len(got) != 1 || got[0].Instance != uuid+"::"+basic || !both(got[0]) {
		t.Errorf("Peers() = %v; want the Basic device at %v and %v", got, an.Addr4(), an.Addr6())
	}

	want := map[string]string{uuid + "::upnp:rootdevice": "upnp:rootdevice", uuid: uuid, uuid + "::" + basic: basic}
	found := map[string]bool{}
	waitEvent(t, every, "the three advertisements of ssdp:all", func(e discovery.Event) bool {
		if e.Kind == discovery.Found && want[e.Peer.Instance] == e.Peer.Service {
			found[e.Peer.Instance] = true
		}
		return len(found) == len(want)
	})

	if err := ann.Close(); err != nil {
		t.Error(err)
	}
	waitEvent(t, one, "lost after Close (byebye)", func(e discovery.Event) bool {
		return e.Kind == discovery.Lost && e.Peer.Instance == uuid+"::"+basic
	})
	// Answers wait a random delay within MX and may still be waiting at
	// Close (the NOTIFYs found the device first): count searches only.
	if st := ann.Stats(); st.Sent == 0 || st.SendErrors != 0 || st.Queries == 0 {
		t.Errorf("announcer stats %+v; want sends without errors and searches heard", st)
	}
	if st := one.Stats(); st.Sent == 0 || st.Received == 0 {
		t.Errorf("browser stats %+v; want searches sent and packets received", st)
	}
}
