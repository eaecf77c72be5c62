package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/ssdp"
	"github.com/bcastdev/bcast/internal/forge"
	"github.com/bcastdev/bcast/internal/netns"
)

// basicDevice is what the SSDP tests advertise: a root device with one
// service and one embedded device, 3 + 1 + 2 = 6 targets.
var basicDevice = ssdp.Device{
	UUID: "uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b", Type: "urn:schemas-upnp-org:device:Basic:1", FriendlyName: "bcast test",
	Services: []string{"urn:schemas-upnp-org:service:Dummy:1"},
	Devices:  []ssdp.Device{{UUID: "uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5c", Type: "urn:schemas-upnp-org:device:Embedded:1"}},
}

// basicUSNs are the USNs of basicDevice's advertisements.
var basicUSNs = []string{
	"uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b",
	"uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b::upnp:rootdevice",
	"uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b::urn:schemas-upnp-org:device:Basic:1",
	"uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b::urn:schemas-upnp-org:service:Dummy:1",
	"uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5c",
	"uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5c::urn:schemas-upnp-org:device:Embedded:1",
}

// announceIn starts an ssdp Announcer inside h, closed when the test
// ends if the test has not closed it.
func announceIn(t *testing.T, h *netns.Host, cfg ssdp.AnnounceConfig) *ssdp.Announcer {
	t.Helper()
	var a *ssdp.Announcer
	if err := h.Do(func() (err error) {
		a, err = ssdp.Announce(cfg)
		return err
	}); err != nil {
		t.Fatalf("%s: Announce: %v", h.Name(), err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// browseIn starts an ssdp Browser inside h.
func browseIn(t *testing.T, h *netns.Host, cfg ssdp.BrowseConfig) *ssdp.Browser {
	t.Helper()
	var b *ssdp.Browser
	if err := h.Do(func() (err error) {
		b, err = ssdp.Browse(cfg)
		return err
	}); err != nil {
		t.Fatalf("%s: Browse: %v", h.Name(), err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// waitEvents reads a Browser's events until cond holds for the entries
// found so far (by USN), within timeout.
func waitEvents(t *testing.T, who string, b *ssdp.Browser, timeout time.Duration, cond func(map[string]ssdp.Event) bool) map[string]ssdp.Event {
	t.Helper()
	seen := map[string]ssdp.Event{}
	deadline := time.After(timeout)
	for !cond(seen) {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				t.Fatalf("%s: Events closed", who)
			}
			t.Logf("%s: %v %s %s on %s from %v (%s)", who, ev.Kind, ev.USN, ev.Location, ev.IfName, ev.Src, ev.Reason)
			seen[ev.USN] = ev
		case <-deadline:
			t.Fatalf("%s: not there within %v; events so far: %d, stats %+v", who, timeout, len(seen), b.Stats())
		}
	}
	return seen
}

// gssdpResource is one "resource available/unavailable" block that
// gssdp-discover prints.
type gssdpResource struct {
	Kind, USN, Location string
}

// parseGSSDP reads gssdp-discover's output:
//
//	resource available
//	  USN:      uuid:...::upnp:rootdevice
//	  Location: http://10.0.0.1:5000/rootDesc.xml
func parseGSSDP(out string) []gssdpResource {
	var rs []gssdpResource
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "resource "):
			rs = append(rs, gssdpResource{Kind: strings.TrimPrefix(line, "resource ")})
		case len(rs) > 0 && strings.HasPrefix(line, "USN:"):
			rs[len(rs)-1].USN = strings.TrimSpace(strings.TrimPrefix(line, "USN:"))
		case len(rs) > 0 && strings.HasPrefix(line, "Location:"):
			rs[len(rs)-1].Location = strings.TrimSpace(strings.TrimPrefix(line, "Location:"))
		}
	}
	return rs
}

// gssdpDiscover runs gssdp-discover on one interface of h for seconds and
// returns what it listed.
func gssdpDiscover(t *testing.T, h *netns.Host, ifname string, seconds int, extra ...string) []gssdpResource {
	t.Helper()
	requirePeer(t, "gssdp-discover")
	args := append([]string{"-i", ifname, "-n", fmt.Sprint(seconds)}, extra...)
	stdout, _ := mustRun(t, h, time.Duration(seconds+10)*time.Second, "gssdp-discover", args...)
	return parseGSSDP(stdout)
}

func pairs(rs []gssdpResource) []string {
	var ps []string
	for _, r := range rs {
		ps = append(ps, r.USN+" "+r.Location)
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

// httpGet fetches url from inside h over a connection made there, and
// returns the status and body.
func httpGet(t *testing.T, h *netns.Host, url string) (int, string) {
	t.Helper()
	code, body, err := tryHTTPGet(h, url)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", h.Name(), url, err)
	}
	return code, body
}

func tryHTTPGet(h *netns.Host, url string) (int, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	var code int
	var body strings.Builder
	err = h.Do(func() error {
		// Dialled on this thread, which is inside h: the HTTP client's
		// own dialler would run on another.
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", req.URL.Host)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		req.Close = true
		if err := req.Write(c); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		b := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(b)
			body.Write(b[:n])
			if err != nil {
				break
			}
		}
		return nil
	})
	return code, body.String(), err
}

// TestIntegrationSSDPMiniupnpd runs miniupnpd as a real Internet Gateway
// Device: the Browser on another host lists its InternetGatewayDevice at
// its LOCATION; the (USN, LOCATION) pairs it lists are those gssdp-discover
// lists; upnpc finds the same IGD; a unicast search reaches it too.
func TestIntegrationSSDPMiniupnpd(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"miniupnpd", "upnpc", "gssdp-discover"} {
		requirePeer(t, cmd)
	}
	lab := netns.New(t)
	lan := lab.LAN("home", netip.MustParsePrefix("10.84.1.0/24"), netip.MustParsePrefix("fd00:84:1::/64"))
	gw, client := lab.Host("gw"), lab.Host("client")
	gwNIC := gw.Attach(lan, "eth0", netip.MustParseAddr("10.84.1.1"), netip.MustParseAddr("fd00:84:1::1"))
	client.Attach(lan, "eth0", netip.MustParseAddr("10.84.1.2"), netip.MustParseAddr("fd00:84:1::2"))
	// The "internet" side: a veth pair whose both ends stay in gw, with
	// an address miniupnpd takes for public (it refuses private and
	// documentation ranges); nothing is routed anywhere from it.
	for _, args := range [][]string{
		{"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"},
		{"addr", "add", "1.2.3.4/24", "dev", "wan0"},
		{"link", "set", "wan0", "up"},
		{"link", "set", "wan1", "up"},
	} {
		if out, err := gw.Run(t.Context(), "ip", args...); err != nil {
			t.Fatalf("gw$ ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	const uuid = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	dir := t.TempDir()
	conf := filepath.Join(dir, "miniupnpd.conf")
	// The least that makes it answer SSDP: the interfaces, the HTTP
	// port, UPnP on and NAT-PMP off; no lease file, no STUN.
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`ext_ifname=wan0
listening_ip=eth0
http_port=5000
enable_upnp=yes
enable_natpmp=no
secure_mode=yes
system_uptime=no
notify_interval=60
uuid=%s
`, uuid)), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon := start(t, gw, "miniupnpd", "-d", "-f", conf, "-i", "wan0", "-a", "eth0", "-o", "1.2.3.4", "-P", filepath.Join(dir, "miniupnpd.pid"))
	waitSockets(t, gw, "udp", 1900, 1)
	waitFor(t, 10*time.Second, "miniupnpd's HTTP server", func() (bool, string) {
		if !daemon.running() {
			t.Fatalf("miniupnpd exited:\n%s", daemon.stderr.String())
		}
		log := daemon.stderr.String() + daemon.stdout.String()
		return strings.Contains(log, "HTTP listening on port 5000"), log
	})
	location := "http://" + gwNIC.Addr4().String() + ":5000/rootDesc.xml"

	theirs := gssdpDiscover(t, client, "eth0", 3)
	if len(theirs) == 0 {
		t.Fatalf("gssdp-discover listed nothing: the harness is broken")
	}

	// gssdp-discover 0.12 speaks IPv4 only; miniupnpd answers over IPv6
	// too when it found an IPv6 address at start, with an IPv6 LOCATION.
	// Like is compared with like.
	b := browseIn(t, client, ssdp.BrowseConfig{
		SearcherConfig: ssdp.SearcherConfig{MX: 1, Network: "udp4"},
		LinkConfig:     ssdp.LinkConfig{Interfaces: []string{"eth0"}},
	})
	igd := "uuid:" + uuid + "::urn:schemas-upnp-org:device:InternetGatewayDevice:2"
	want := pairs(theirs)
	var ours []string
	waitFor(t, 10*time.Second, "the Browser to list what gssdp-discover listed", func() (bool, string) {
		ours = nil
		for _, e := range b.Entries() {
			ours = append(ours, e.USN+" "+e.Location)
		}
		slices.Sort(ours)
		return slices.Equal(ours, want), fmt.Sprintf("ours:\n%s\ngssdp-discover's:\n%s", strings.Join(ours, "\n"), strings.Join(want, "\n"))
	})
	if !slices.Contains(ours, igd+" "+location) {
		t.Errorf("no InternetGatewayDevice at %s among:\n%s", location, strings.Join(ours, "\n"))
	}
	for _, e := range b.Entries() {
		if e.IfName != "eth0" || e.Src.Addr() != gwNIC.Addr4() || e.BootID < 0 || e.MaxAge <= 0 {
			t.Errorf("%+v; want heard on eth0 from %v with a BOOTID and a max-age", e, gwNIC.Addr4())
		}
	}
	if st := b.Stats(); st.Malformed != 0 || st.SendErrors != 0 {
		t.Errorf("stats %+v; want nothing malformed, no send error", st)
	}

	out, _ := mustRun(t, client, 20*time.Second, "upnpc", "-m", "eth0", "-l")
	if !strings.Contains(out, "desc: "+location) || !strings.Contains(out, "Found valid IGD") {
		t.Errorf("upnpc -l did not find the IGD at %s:\n%s", location, out)
	}

	// A unicast search for IGD:1 at the device's SSDP port: answered in
	// the version asked for (UDA 1.1 §1.3.2).
	uni := browseIn(t, client, ssdp.BrowseConfig{SearcherConfig: ssdp.SearcherConfig{
		Target:  "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
		Unicast: netip.AddrPortFrom(gwNIC.Addr4(), 1900),
	}})
	got := waitEvents(t, "unicast search", uni, 10*time.Second, func(m map[string]ssdp.Event) bool { return len(m) > 0 })
	want1 := "uuid:" + uuid + "::urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	if e, ok := got[want1]; !ok || e.Location != location || e.Target != "urn:schemas-upnp-org:device:InternetGatewayDevice:1" {
		t.Errorf("unicast search found %v; want %s at %s", got, want1, location)
	}
	daemon.mustSucceed(daemon.interrupt())
}

// TestIntegrationSSDPTwoLANs: an Announcer on a host with a NIC on each of
// two LANs. gssdp-discover on each LAN sees every target with a LOCATION
// on that LAN's address only; the description is served there; Close
// makes gssdp-discover see the byebyes.
func TestIntegrationSSDPTwoLANs(t *testing.T) {
	t.Parallel()
	requirePeer(t, "gssdp-discover")
	lab := netns.New(t)
	lan1 := lab.LAN("one", netip.MustParsePrefix("10.85.1.0/24"), netip.MustParsePrefix("fd00:85:1::/64"))
	lan2 := lab.LAN("two", netip.MustParsePrefix("10.85.2.0/24"), netip.MustParsePrefix("fd00:85:2::/64"))
	dev, p1, p2 := lab.Host("dev"), lab.Host("p1"), lab.Host("p2")
	d1 := dev.Attach(lan1, "eth0", netip.MustParseAddr("10.85.1.1"), netip.MustParseAddr("fd00:85:1::1"))
	d2 := dev.Attach(lan2, "eth1", netip.MustParseAddr("10.85.2.1"), netip.MustParseAddr("fd00:85:2::1"))
	p1.Attach(lan1, "eth0", netip.MustParseAddr("10.85.1.2"), netip.MustParseAddr("fd00:85:1::2"))
	p2.Attach(lan2, "eth0", netip.MustParseAddr("10.85.2.2"), netip.MustParseAddr("fd00:85:2::2"))

	a := announceIn(t, dev, ssdp.AnnounceConfig{
		AdvertiserConfig: ssdp.AdvertiserConfig{Root: basicDevice, Port: 8080, Path: "/description.xml"},
		Describe:         true,
	})
	loc := func(a netip.Addr) string {
		return "http://" + netip.AddrPortFrom(a, 8080).String() + "/description.xml"
	}
	locs := map[*netns.Host][]string{p1: {loc(d1.Addr4()), loc(d1.Addr6())}, p2: {loc(d2.Addr4()), loc(d2.Addr6())}}
	for _, h := range []*netns.Host{p1, p2} {
		rs := gssdpDiscover(t, h, "eth0", 3)
		var usns []string
		for _, r := range rs {
			usns = append(usns, r.USN)
			if !slices.Contains(locs[h], r.Location) {
				t.Errorf("%s: %s at %s; want a LOCATION on its own LAN, one of %v", h.Name(), r.USN, r.Location, locs[h])
			}
		}
		slices.Sort(usns)
		if usns = slices.Compact(usns); !slices.Equal(usns, basicUSNs) {
			t.Errorf("%s: gssdp-discover saw %q; want %q", h.Name(), usns, basicUSNs)
		}
		// The description document, from that LAN's LOCATION.
		for _, loc := range locs[h] {
			code, body := httpGet(t, h, loc)
			if code != 200 || !strings.Contains(body, "<UDN>uuid:5b6e5c2a-7d1f-4c3e-9a8b-0c1d2e3f4a5b</UDN>") ||
				!strings.Contains(body, "<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>") || !strings.Contains(body, "<friendlyName>bcast test</friendlyName>") {
				t.Errorf("%s: GET %s: %d\n%s", h.Name(), loc, code, body)
			}
		}
	}

	// gssdp-discover -m unavailable on LAN one hears the byebyes.
	// It reports a byebye only for what it knows: it searches when it
	// starts, and the answers take up to its MX (3 s) to come.
	bye := start(t, p1, "gssdp-discover", "-i", "eth0", "-m", "unavailable", "-n", "8")
	bye.waitStdout("its banner", func(line string) bool { return strings.Contains(line, `"unavailable"`) })
	time.Sleep(4 * time.Second)
	t.Logf("the Announcer before Close: %+v", a.Stats())
	if err := a.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	bye.mustSucceed(bye.wait(15 * time.Second))
	var gone []string
	for _, r := range parseGSSDP(bye.stdout.String()) {
		if r.Kind == "unavailable" {
			gone = append(gone, r.USN)
		}
	}
	slices.Sort(gone)
	if gone = slices.Compact(gone); !slices.Equal(gone, basicUSNs) {
		t.Errorf("gssdp-discover -m unavailable saw byebyes for %q; want %q", gone, basicUSNs)
	}
}

// TestIntegrationSSDPDescribeOnlyWhereAnnounced: an Announcer on one of
// its host's two LANs describes itself on that LAN only; a client on the
// other LAN reaches the TCP port and is hung up on.
func TestIntegrationSSDPDescribeOnlyWhereAnnounced(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	lan1 := lab.LAN("one", netip.MustParsePrefix("10.88.1.0/24"), netip.MustParsePrefix("fd00:88:1::/64"))
	lan2 := lab.LAN("two", netip.MustParsePrefix("10.88.2.0/24"), netip.MustParsePrefix("fd00:88:2::/64"))
	dev, p1, p2 := lab.Host("dev"), lab.Host("p1"), lab.Host("p2")
	d1 := dev.Attach(lan1, "eth0", netip.MustParseAddr("10.88.1.1"), netip.MustParseAddr("fd00:88:1::1"))
	d2 := dev.Attach(lan2, "eth1", netip.MustParseAddr("10.88.2.1"), netip.MustParseAddr("fd00:88:2::1"))
	p1.Attach(lan1, "eth0", netip.MustParseAddr("10.88.1.2"), netip.MustParseAddr("fd00:88:1::2"))
	p2.Attach(lan2, "eth0", netip.MustParseAddr("10.88.2.2"), netip.MustParseAddr("fd00:88:2::2"))
	announceIn(t, dev, ssdp.AnnounceConfig{
		AdvertiserConfig: ssdp.AdvertiserConfig{Root: basicDevice, Port: 8080},
		LinkConfig:       ssdp.LinkConfig{Interfaces: []string{"eth0"}},
		Describe:         true,
	})
	if code, body := httpGet(t, p1, "http://"+d1.Addr4().String()+":8080/description.xml"); code != 200 || !strings.Contains(body, "<UDN>") {
		t.Errorf("from LAN one: %d\n%s", code, body)
	}
	if code, body, err := tryHTTPGet(p2, "http://"+d2.Addr4().String()+":8080/description.xml"); err == nil {
		t.Errorf("from LAN two, where it does not announce: %d\n%s; want the connection closed", code, body)
	}
}

// TestIntegrationSSDPIPv6: search and answer over ff02::c between two
// hosts, the Browser and the Announcer both IPv6 only.
func TestIntegrationSSDPIPv6(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	lan := lab.LAN("six", netip.MustParsePrefix("10.86.1.0/24"), netip.MustParsePrefix("fd00:86:1::/64"))
	dev, cp := lab.Host("dev"), lab.Host("cp")
	dev.Attach(lan, "eth0", netip.MustParseAddr("10.86.1.1"), netip.MustParseAddr("fd00:86:1::1"))
	cp.Attach(lan, "eth0", netip.MustParseAddr("10.86.1.2"), netip.MustParseAddr("fd00:86:1::2"))

	a := announceIn(t, dev, ssdp.AnnounceConfig{AdvertiserConfig: ssdp.AdvertiserConfig{Root: basicDevice, Port: 8080, Network: "udp6"}})
	// Started after the announcements are out, so that what it finds
	// comes from its search.
	time.Sleep(1500 * time.Millisecond)
	b := browseIn(t, cp, ssdp.BrowseConfig{SearcherConfig: ssdp.SearcherConfig{Network: "udp6", MX: 1, Target: ssdp.All}})
	found := waitEvents(t, "cp", b, 10*time.Second, func(m map[string]ssdp.Event) bool { return len(m) == len(basicUSNs) })
	for _, usn := range basicUSNs {
		e, ok := found[usn]
		if !ok || e.Kind != ssdp.Found || e.Location != "http://[fd00:86:1::1]:8080/description.xml" || !e.Src.Addr().Is6() || e.IfName != "eth0" {
			t.Errorf("%s: %+v; want found on eth0 over IPv6 at http://[fd00:86:1::1]:8080/description.xml", usn, e)
		}
	}
	if st := a.Stats(); st.Responses == 0 || st.Searches == 0 {
		t.Errorf("the Announcer's stats %+v: it answered no search", st)
	}
	if st := b.Stats(); st.SearchesSent == 0 {
		t.Errorf("the Browser's stats %+v: it sent no search", st)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lost := waitEvents(t, "cp after the byebyes", b, 5*time.Second, func(m map[string]ssdp.Event) bool {
		for _, usn := range basicUSNs {
			if e, ok := m[usn]; !ok || e.Kind != ssdp.Lost {
				return false
			}
		}
		return true
	})
	for usn, e := range lost {
		if e.Reason != "byebye" {
			t.Errorf("%s lost: %s; want byebye", usn, e.Reason)
		}
	}
}

// ssdpCounter counts, with nftables in h, the UDP datagrams h sends from
// port 1900 to dst.
func ssdpCounter(t *testing.T, h *netns.Host, name string, dst netip.Addr) func() uint64 {
	t.Helper()
	nftApply(t, h, fmt.Sprintf(`table inet %s {
	counter out {}
	chain output { type filter hook output priority 0; ip daddr %s udp sport 1900 counter name out; }
}
`, name, dst))
	return func() uint64 { return nftCounter(t, h, name, "out") }
}

// TestIntegrationSSDPForged: an Announcer answers no M-SEARCH from off its
// link, whether forged on the LAN or sent through a router; none sent to
// the subnet's broadcast address in a victim's name; and a real search
// for ssdp:all draws one answer per target, no more.
func TestIntegrationSSDPForged(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	lan1 := lab.LAN("one", netip.MustParsePrefix("10.87.1.0/24"), netip.MustParsePrefix("fd00:87:1::/64"))
	lan2 := lab.LAN("two", netip.MustParsePrefix("10.87.2.0/24"), netip.MustParsePrefix("fd00:87:2::/64"))
	dev, attacker, victim, router, far := lab.Host("dev"), lab.Host("attacker"), lab.Host("victim"), lab.Host("router"), lab.Host("far")
	devNIC := dev.Attach(lan1, "eth0", netip.MustParseAddr("10.87.1.1"), netip.MustParseAddr("fd00:87:1::1"))
	attNIC := attacker.Attach(lan1, "eth0", netip.MustParseAddr("10.87.1.2"), netip.MustParseAddr("fd00:87:1::2"))
	vicNIC := victim.Attach(lan1, "eth0", netip.MustParseAddr("10.87.1.3"), netip.MustParseAddr("fd00:87:1::3"))
	router.Attach(lan1, "eth0", netip.MustParseAddr("10.87.1.254"), netip.MustParseAddr("fd00:87:1::fe"))
	router.Attach(lan2, "eth1", netip.MustParseAddr("10.87.2.254"), netip.MustParseAddr("fd00:87:2::fe"))
	farNIC := far.Attach(lan2, "eth0", netip.MustParseAddr("10.87.2.2"), netip.MustParseAddr("fd00:87:2::2"))
	if err := router.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	for h, via := range map[*netns.Host]string{dev: "10.87.1.254", far: "10.87.2.254"} {
		dst := "10.87.2.0/24"
		if h == far {
			dst = "10.87.1.0/24"
		}
		if out, err := h.Run(t.Context(), "ip", "route", "add", dst, "via", via); err != nil {
			t.Fatalf("%s$ ip route add %s via %s: %v\n%s", h.Name(), dst, via, err, out)
		}
	}

	a := announceIn(t, dev, ssdp.AnnounceConfig{AdvertiserConfig: ssdp.AdvertiserConfig{Root: basicDevice, Port: 8080, Network: "udp4"}})
	targets := len(basicUSNs)
	offLink := netip.MustParseAddr("198.51.100.7")
	toFar := ssdpCounter(t, dev, "tofar", farNIC.Addr4())
	toOffLink := ssdpCounter(t, dev, "tooff", offLink)
	toVictim := ssdpCounter(t, dev, "tovictim", vicNIC.Addr4())
	group := netip.AddrPortFrom(netip.MustParseAddr("239.255.255.250"), 1900)
	msearch := func(st string, mx int, host string) []byte {
		return fmt.Appendf(nil, "M-SEARCH * HTTP/1.1\r\nHOST: %s\r\nMAN: \"ssdp:discover\"\r\nMX: %d\r\nST: %s\r\n\r\n", host, mx, st)
	}
	forgeFrom := func(src, dst netip.AddrPort, n int, payload []byte) {
		t.Helper()
		ds := make([]forge.Datagram, n)
		for i := range ds {
			ds[i] = forge.Datagram{Src: src, Dst: dst, Payload: payload}
			if dst.Addr().IsMulticast() {
				// 239.255.255.250's Ethernet group address.
				ds[i].DstMAC = net.HardwareAddr{0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa}
			}
		}
		if err := attacker.Do(func() error { return forge.Send("eth0", ds...) }); err != nil {
			t.Fatal(err)
		}
	}
	settle := func() { time.Sleep(ssdp.MaxMX*time.Second + 500*time.Millisecond) }

	// 1. A real M-SEARCH from a host behind a router, to the device's
	// address: the source is off-link.
	if err := far.Do(func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WriteToUDPAddrPort(msearch(ssdp.All, 1, devNIC.Addr4().String()+":1900"), netip.AddrPortFrom(devNIC.Addr4(), 1900))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// 2. Forged on the LAN: an off-link source, to the group.
	forgeFrom(netip.AddrPortFrom(offLink, 40000), group, 20, msearch(ssdp.All, 1, "239.255.255.250:1900"))
	// 3. Forged: the victim's address, to the subnet's broadcast address.
	forgeFrom(netip.AddrPortFrom(vicNIC.Addr4(), 40000), netip.AddrPortFrom(lan1.Broadcast4(), 1900), 20, msearch(ssdp.All, 1, "239.255.255.250:1900"))
	settle()
	if n := toFar(); n != 0 {
		t.Errorf("the device sent %d datagrams to the host behind the router; want none", n)
	}
	if n := toOffLink(); n != 0 {
		t.Errorf("the device sent %d datagrams to the forged off-link source; want none", n)
	}
	if n := toVictim(); n != 0 {
		t.Errorf("the device sent %d datagrams to the victim for searches to the broadcast address; want none", n)
	}
	st := a.Stats()
	if st.OffLink != 21 || st.BadDst != 20 {
		t.Errorf("stats %+v; want OffLink 21 (one routed, 20 forged), BadDst 20", st)
	}

	// 4. The victim's address to the group cannot be told from the victim
	// itself: the per-source limit bounds it to three full answers at
	// once and one a second.
	forgeFrom(netip.AddrPortFrom(vicNIC.Addr4(), 40000), group, 50, msearch(ssdp.All, 1, "239.255.255.250:1900"))
	settle()
	// None at all would mean the counter counts nothing.
	if n := toVictim(); n == 0 || n > uint64(5*targets) {
		t.Errorf("50 forged searches in the victim's name drew %d datagrams to it; want 1 to %d", n, 5*targets)
	}

	// 5. A real search for ssdp:all from a neighbour: one answer per
	// target.
	var answers []string
	if err := attacker.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: attNIC.Addr4().AsSlice()})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.WriteToUDPAddrPort(msearch(ssdp.All, 1, "239.255.255.250:1900"), group); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 2048)
		for range 100 {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return nil // the deadline
			}
			m, err := ssdp.Parse(buf[:n])
			if err != nil {
				return fmt.Errorf("answer from %v: %v", from, err)
			}
			answers = append(answers, m.USN)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(answers)
	if !slices.Equal(answers, basicUSNs) {
		t.Errorf("ssdp:all from a neighbour drew %q; want one answer per target: %q", answers, basicUSNs)
	}
}
