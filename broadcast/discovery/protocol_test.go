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
}
