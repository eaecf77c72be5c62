package discovery

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/ssdp"
)

func TestLocationAddr(t *testing.T) {
	for _, tc := range []struct {
		location, ifname string
		host             string
		port             uint16
		addr             string // "" when none
	}{
		{"http://10.0.0.1:5000/rootDesc.xml", "eth0", "10.0.0.1", 5000, "10.0.0.1"},
		{"http://10.0.0.1/desc.xml", "eth0", "10.0.0.1", 80, "10.0.0.1"},
		{"https://10.0.0.1/desc.xml", "eth0", "10.0.0.1", 443, "10.0.0.1"},
		{"http://[fd00::1]:8080/d.xml", "eth0", "fd00::1", 8080, "fd00::1"},
		// A link-local address is given the zone of our interface, not
		// the device's.
		{"http://[fe80::1]:8080/d.xml", "eth1", "fe80::1", 8080, "fe80::1%eth1"},
		{"http://[fe80::1%25wlan0]:8080/d.xml", "eth1", "fe80::1%wlan0", 8080, "fe80::1%eth1"},
		{"http://[::ffff:10.0.0.1]:8080/d.xml", "eth0", "::ffff:10.0.0.1", 8080, "10.0.0.1"},
		{"http://router.lan:8080/d.xml", "eth0", "router.lan", 8080, ""},
		{"ftp://10.0.0.1/d.xml", "eth0", "10.0.0.1", 0, "10.0.0.1"},
		{"not a url", "eth0", "", 0, ""},
		{"", "eth0", "", 0, ""},
		{"http://10.0.0.1:99999/", "eth0", "10.0.0.1", 0, "10.0.0.1"},
	} {
		t.Run(tc.location, func(t *testing.T) {
			host, port := locationHost(tc.location)
			if host != tc.host || port != tc.port {
				t.Errorf("locationHost = %q, %d; want %q, %d", host, port, tc.host, tc.port)
			}
			a, ok := locationAddr(tc.location, tc.ifname)
			var want netip.Addr
			if tc.addr != "" {
				want = netip.MustParseAddr(tc.addr)
			}
			if ok != want.IsValid() || a != want {
				t.Errorf("locationAddr = %v, %v; want %v", a, ok, want)
			}
		})
	}
}

func ssdpEntry(usn, location string, ifindex int, ifname, src string, heard time.Time) ssdp.Entry {
	return ssdp.Entry{
		USN: usn, Target: "urn:schemas-upnp-org:device:InternetGatewayDevice:1", Location: location,
		Server: "Debian/12 UPnP/1.1 MiniUPnPd/2.3", MaxAge: 120 * time.Second, Expires: heard.Add(120 * time.Second),
		BootID: 7, ConfigID: -1, IfIndex: ifindex, IfName: ifname, Src: netip.MustParseAddrPort(src),
	}
}

// TestSSDPPeer: the entries of one USN over two interfaces and both
// families make one Peer, described from the first interface.
func TestSSDPPeer(t *testing.T) {
	const usn = "uuid:6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f::urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	es := map[ssdpWhere]ssdp.Entry{}
	for _, e := range []ssdp.Entry{
		ssdpEntry(usn, "http://[fe80::1]:5000/rootDesc.xml", 3, "eth1", "[fe80::1%eth1]:1900", t0.Add(2*time.Second)),
		ssdpEntry(usn, "http://10.0.1.1:5000/rootDesc.xml", 3, "eth1", "10.0.1.1:1900", t0),
		ssdpEntry(usn, "http://10.0.0.1:5000/rootDesc.xml", 2, "eth0", "10.0.0.1:1900", t0.Add(time.Second)),
	} {
		es[whereOf(&e)] = e
	}
	p := ssdpPeer(es)
	want := Peer{
		Protocol: SSDP, Service: "urn:schemas-upnp-org:device:InternetGatewayDevice:1", Instance: usn, Port: 5000,
		Text:       map[string]string{"location": "http://10.0.0.1:5000/rootDesc.xml", "server": "Debian/12 UPnP/1.1 MiniUPnPd/2.3", "bootid": "7"},
		Addrs:      []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("fe80::1%eth1")},
		Interfaces: []string{"eth0", "eth1"},
		Src:        netip.MustParseAddrPort("[fe80::1%eth1]:1900"),
		Seen:       t0.Add(2 * time.Second), Expires: t0.Add(122 * time.Second),
	}
	if p.Protocol != want.Protocol || p.Service != want.Service || p.Instance != want.Instance || p.Host != "" || p.Port != want.Port ||
		!maps.Equal(p.Text, want.Text) || !slices.Equal(p.Addrs, want.Addrs) || !slices.Equal(p.Interfaces, want.Interfaces) ||
		p.Src != want.Src || !p.Seen.Equal(want.Seen) || !p.Expires.Equal(want.Expires) || p.Self {
		t.Errorf("got %+v;\nwant %+v", p, want)
	}

	// A LOCATION naming a host by name puts it in Host, with no address.
	named := ssdpEntry(usn, "http://router.lan/rootDesc.xml", 2, "eth0", "10.0.0.1:1900", t0)
	named.ConfigID = 3
	p = ssdpPeer(map[ssdpWhere]ssdp.Entry{whereOf(&named): named})
	if p.Host != "router.lan" || p.Port != 80 || len(p.Addrs) != 0 || p.Text["configid"] != "3" {
		t.Errorf("named LOCATION: got host %q port %d addrs %v text %v; want router.lan, 80, none, configid=3", p.Host, p.Port, p.Addrs, p.Text)
	}
}

// TestSSDPApply: the engine's per-interface events become found, updated
// and lost per USN; what changes nothing a Peer shows makes no event;
// MaxPeers turns new USNs away.
func TestSSDPApply(t *testing.T) {
	const usnA, usnB = "uuid:a::upnp:rootdevice", "uuid:b::upnp:rootdevice"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a0 := ssdpEntry(usnA, "http://10.0.0.1:5000/d.xml", 2, "eth0", "10.0.0.1:1900", t0)
	a1 := ssdpEntry(usnA, "http://10.0.1.1:5000/d.xml", 3, "eth1", "10.0.1.1:1900", t0)
	moved := a0
	moved.Location = "http://10.0.0.9:5000/d.xml"
	rebooted := moved
	rebooted.BootID = 8
	refreshed := rebooted
	refreshed.Expires = t0.Add(time.Hour)
	b0 := ssdpEntry(usnB, "http://10.0.0.2:80/d.xml", 2, "eth0", "10.0.0.2:1900", t0)

	s := newSSDPBrowse(1)
	type want struct {
		ok    bool
		kind  EventKind
		addrs []string
		text  string // Text["location"]
	}
	for i, tc := range []struct {
		ev   ssdp.Event
		want want
	}{
		{ssdp.Event{Kind: ssdp.Found, Entry: a0}, want{true, Found, []string{"10.0.0.1"}, a0.Location}},
		{ssdp.Event{Kind: ssdp.Found, Entry: a1}, want{true, Updated, []string{"10.0.0.1", "10.0.1.1"}, a0.Location}},
		{ssdp.Event{Kind: ssdp.Changed, Entry: moved, Reason: "location"}, want{true, Updated, []string{"10.0.0.9", "10.0.1.1"}, moved.Location}},
		{ssdp.Event{Kind: ssdp.Changed, Entry: rebooted, Reason: "bootid"}, want{true, Updated, []string{"10.0.0.9", "10.0.1.1"}, moved.Location}},
		{ssdp.Event{Kind: ssdp.Changed, Entry: refreshed}, want{}},
		{ssdp.Event{Kind: ssdp.Found, Entry: b0}, want{}}, // over MaxPeers 1
		{ssdp.Event{Kind: ssdp.Lost, Entry: b0, Reason: "byebye"}, want{}},
		{ssdp.Event{Kind: ssdp.Lost, Entry: rebooted, Reason: "byebye"}, want{true, Updated, []string{"10.0.1.1"}, a1.Location}},
		{ssdp.Event{Kind: ssdp.Lost, Entry: a1, Reason: "expired"}, want{true, Lost, []string{"10.0.1.1"}, a1.Location}},
		{ssdp.Event{Kind: ssdp.Lost, Entry: a1, Reason: "expired"}, want{}},
	} {
		ev, ok := s.apply(tc.ev)
		if ok != tc.want.ok {
			t.Fatalf("event %d (%v %s): made an event %v; want %v", i, tc.ev.Kind, tc.ev.USN, ok, tc.want.ok)
		}
		if !ok {
			continue
		}
		var addrs []string
		for _, a := range ev.Peer.Addrs {
			addrs = append(addrs, a.String())
		}
		if ev.Kind != tc.want.kind || !slices.Equal(addrs, tc.want.addrs) || ev.Peer.Text["location"] != tc.want.text {
			t.Errorf("event %d: got %v %v location %q; want %v %v location %q", i, ev.Kind, addrs, ev.Peer.Text["location"],
				tc.want.kind, tc.want.addrs, tc.want.text)
		}
		if i == 3 && ev.Peer.Text["bootid"] != "8" {
			t.Errorf("event %d: bootid %q; want 8", i, ev.Peer.Text["bootid"])
		}
	}
	if s.refused != 1 || len(s.peers) != 0 {
		t.Errorf("refused %d, peers %d; want 1, 0", s.refused, len(s.peers))
	}
}

func TestSSDPSelf(t *testing.T) {
	k := key{selfSSDP, "uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b"}
	addSelf(k)
	t.Cleanup(func() { dropSelf(k) })
	e := ssdpEntry("uuid:5B6E5C2A-7D1F-4C3E-9A8B-0C1D2E3F4A5B::upnp:rootdevice", "http://10.0.0.1:80/", 2, "eth0", "10.0.0.1:1900", time.Now())
	if p := ssdpPeer(map[ssdpWhere]ssdp.Entry{whereOf(&e): e}); !p.Self {
		t.Errorf("Self = false for a USN of this process's device; want true")
	}
}

func TestNewUUID(t *testing.T) {
	u := newUUID()
	if len(u) != len("uuid:")+36 || u[:5] != "uuid:" || u[19] != '4' || u[5+8] != '-' || !slices.Contains([]byte("89ab"), u[5+19]) {
		t.Errorf("newUUID() = %q; want uuid: and a version 4 UUID", u)
	}
	if newUUID() == u {
		t.Errorf("newUUID() twice gave %q", u)
	}
}
