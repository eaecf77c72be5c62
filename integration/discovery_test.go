package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// A peerEvent is a "peer" line of `bcast discover --json`.
type peerEvent struct {
	Type       string            `json:"type"`
	Event      string            `json:"event"`
	Service    string            `json:"service"`
	Instance   string            `json:"instance"`
	Port       int               `json:"port"`
	Addrs      []string          `json:"addrs"`
	Interfaces []string          `json:"interfaces"`
	Src        string            `json:"src"`
	Sport      int               `json:"sport"`
	Text       map[string]string `json:"text"`
	Local      bool              `json:"local"`
	Goodbye    bool              `json:"goodbye"`
}

func (e peerEvent) String() string {
	s := fmt.Sprintf("%s %s/%s port %d addrs %v on %v from %s port %d text %v", e.Event, e.Service, e.Instance, e.Port, e.Addrs, e.Interfaces, e.Src, e.Sport, e.Text)
	if e.Goodbye {
		s += " (goodbye)"
	}
	return s
}

// peerEvents parses every complete "peer" line the discover process has
// printed so far.
func peerEvents(t *testing.T, p *proc) []peerEvent {
	t.Helper()
	var evs []peerEvent
	out := p.stdout.String()
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i]
	} else {
		out = ""
	}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		var e peerEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s: stdout line is not JSON: %v\n%s", p.desc, err, line)
		}
		if e.Type == "summary" { // the last line, once discover stops
			continue
		}
		if e.Type != "peer" {
			t.Fatalf("%s: stdout line of type %q; want peer:\n%s", p.desc, e.Type, line)
		}
		evs = append(evs, e)
	}
	return evs
}

// waitPeer waits, at most timeout, for the discover process to report
// event ("found", "updated", "lost") for instance, and returns it.
func waitPeer(t *testing.T, p *proc, event, instance string, timeout time.Duration) peerEvent {
	t.Helper()
	var found peerEvent
	waitFor(t, timeout, fmt.Sprintf("%s: %s %s", p.desc, event, instance), func() (bool, string) {
		evs := peerEvents(t, p)
		for _, e := range evs {
			if e.Event == event && e.Instance == instance {
				found = e
				return true, ""
			}
		}
		if !p.running() {
			return false, fmt.Sprintf("exited (%v); events: %v", p.err, evs)
		}
		return false, fmt.Sprintf("events: %v", evs)
	})
	return found
}

// checkPeer fails unless e describes the printer instance announced from
// the NIC, heard on the browser's interface ifname.
func checkPeer(t *testing.T, who string, e peerEvent, instance string, from *netns.NIC, ifname string) {
	t.Helper()
	wantAddr := from.Addr4().String()
	if e.Service != "printer" || e.Instance != instance || e.Port != 631 ||
		!slices.Contains(e.Addrs, wantAddr) || !slices.Equal(e.Interfaces, []string{ifname}) ||
		e.Src != wantAddr || e.Sport == 0 || e.Text["model"] != instance || e.Local {
		t.Errorf("%s: %v; want printer/%s port 631 with address %s, heard on [%s] from %s, text model=%s, not local",
			who, e, instance, wantAddr, ifname, wantAddr, instance)
	}
	if !slices.Contains(e.Addrs, from.Addr6().String()) {
		t.Errorf("%s: %s announces %v; want its IPv6 address %v among them", who, instance, e.Addrs, from.Addr6())
	}
	// Only the addresses of the link the announcement left by: a host on
	// two networks must not hand out an address that is unreachable here.
	for _, a := range e.Addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			t.Errorf("%s: %s announces %q, not an IP address", who, instance, a)
			continue
		}
		if !ip.IsLinkLocalUnicast() && ip != from.Addr4() && ip != from.Addr6() {
			t.Errorf("%s: %s announces %s, an address of another link", who, instance, a)
		}
	}
}

// TestIntegrationDiscoveryFindsPeersOnTheLANAndLosesThemWhenTheyGo runs
// announcers on both LANs and browsers on a1 (LAN A) and r (both LANs),
// then takes the announcers away in the three ways a user meets: a host
// switched off (namespace deleted), a cable pulled (link down) and a
// clean exit (goodbye).
func TestIntegrationDiscoveryFindsPeersOnTheLANAndLosesThemWhenTheyGo(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	bcast := bin(t, "bcast")
	const interval = 300 * time.Millisecond // TTL: 3 intervals, at least the 1 s the wire can carry
	const lossWait = 4 * time.Second        // TTL with room for a loaded machine

	announce := func(host string) *proc {
		return start(t, tp.Host(host), bcast, "announce", "--json", "--service", "printer", "--instance", host,
			"--port", "631", "--text", "model="+host, "--interval", interval.String())
	}
	a2, a3 := announce("a2"), announce("a3")
	announce("b1")
	for _, p := range []*proc{a2, a3} {
		p.waitStdout(`the "announcing" line`, func(l string) bool { return strings.Contains(l, `"type":"announcing"`) })
	}
	discover := func(host string) *proc {
		return start(t, tp.Host(host), bcast, "discover", "--json", "--service", "printer")
	}
	onA, onR := discover("a1"), discover("r")

	checkPeer(t, "a1", waitPeer(t, onA, "found", "a2", readyTimeout), "a2", tp.NIC("a2", "eth0"), "eth0")
	checkPeer(t, "a1", waitPeer(t, onA, "found", "a3", readyTimeout), "a3", tp.NIC("a3", "eth0"), "eth0")
	checkPeer(t, "r", waitPeer(t, onR, "found", "a2", readyTimeout), "a2", tp.NIC("a2", "eth0"), "eth0")
	checkPeer(t, "r", waitPeer(t, onR, "found", "a3", readyTimeout), "a3", tp.NIC("a3", "eth0"), "eth0")
	checkPeer(t, "r", waitPeer(t, onR, "found", "b1", readyTimeout), "b1", tp.NIC("b1", "eth0"), "eth1")

	// a3 is switched off: no goodbye, so browsers must notice the silence.
	tp.Lab.Delete(tp.Host("a3"))
	for _, p := range []*proc{onA, onR} {
		if e := waitPeer(t, p, "lost", "a3", lossWait); e.Goodbye {
			t.Errorf("%s: %v; a switched-off host says no goodbye", p.desc, e)
		}
	}

	// b1's cable is pulled: the same silence, seen from r's other NIC.
	tp.NIC("b1", "eth0").SetDown()
	if e := waitPeer(t, onR, "lost", "b1", lossWait); e.Goodbye {
		t.Errorf("%s: %v; b1 could not say goodbye over a link that is down", onR.desc, e)
	}

	// a2 exits cleanly and says goodbye: browsers drop it at once, well
	// before its TTL would have run out.
	stopped := time.Now()
	a2.mustSucceed(a2.interrupt())
	for _, p := range []*proc{onA, onR} {
		if e := waitPeer(t, p, "lost", "a2", lossWait); !e.Goodbye {
			t.Errorf("%s: %v; want it lost by goodbye", p.desc, e)
		}
	}
	if d := time.Since(stopped); d > 3*interval {
		t.Errorf("a2's goodbye took %v to be reported; its TTL is %v", d, 3*interval)
	}

	onA.mustSucceed(onA.interrupt())
	onR.mustSucceed(onR.interrupt())
	// a1 is on LAN A only: b1 never reached it.
	for _, e := range peerEvents(t, onA) {
		if e.Instance == "b1" {
			t.Errorf("a1 (LAN A) heard of b1 (LAN B): %v", e)
		}
	}
	// Each instance found once, then lost once, on each browser: no
	// flapping while it was announcing.
	for _, p := range []*proc{onA, onR} {
		counts := map[string]int{}
		for _, e := range peerEvents(t, p) {
			counts[e.Event+" "+e.Instance]++
		}
		for k, n := range counts {
			if n != 1 {
				t.Errorf("%s reported %q %d times; want once (events: %v)", p.desc, k, n, peerEvents(t, p))
			}
		}
	}
}

// TestIntegrationDiscoveryOverIPv6FindsAndLosesPeers browses over IPv6
// (multicast to ff02::8000:6278, IPv6 having no broadcast) on one LAN.
func TestIntegrationDiscoveryOverIPv6FindsAndLosesPeers(t *testing.T) {
	t.Parallel()
	_, _, hs := oneLAN(t, "browser", "printer")
	bcast := bin(t, "bcast")
	announcer := start(t, hs[1], bcast, "announce", "--json", "--network", "udp6", "--service", "printer", "--instance", "v6",
		"--port", "631", "--text", "model=v6", "--interval", "300ms")
	announcer.waitStdout(`the "announcing" line`, func(l string) bool { return strings.Contains(l, `"type":"announcing"`) })
	browser := start(t, hs[0], bcast, "discover", "--json", "--network", "udp6", "--service", "printer")

	e := waitPeer(t, browser, "found", "v6", readyTimeout)
	nic := hs[1].NIC("eth0")
	// An announcement carries every address of the interface it left
	// by, whichever family carried it.
	if e.Port != 631 || !slices.Contains(e.Addrs, nic.Addr6().String()) || !slices.Contains(e.Addrs, nic.Addr4().String()) ||
		!slices.Equal(e.Interfaces, []string{"eth0"}) || e.Text["model"] != "v6" {
		t.Errorf("browser: %v; want printer/v6 port 631 with addresses %v and %v, heard on [eth0], text model=v6", e, nic.Addr6(), nic.Addr4())
	}
	if src, err := netip.ParseAddr(e.Src); err != nil || !src.Is6() || e.Sport == 0 {
		t.Errorf("browser: src %q sport %d; want the announcer's IPv6 address and port", e.Src, e.Sport)
	}
	nic.SetDown()
	if e := waitPeer(t, browser, "lost", "v6", 4*time.Second); e.Goodbye {
		t.Errorf("browser: %v; no goodbye can cross a link that is down", e)
	}
	browser.mustSucceed(browser.interrupt())
}
