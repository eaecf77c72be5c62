package integration

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/mdns"
	"github.com/bcastdev/bcast/internal/netns"
)

// avahiName is how avahi-browse -p prints an instance label: bytes other
// than letters, digits, '-' and '_' as a backslash and three decimal
// digits.
func avahiName(label string) string {
	var b strings.Builder
	for i := range len(label) {
		c := label[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	return b.String()
}

// renames collects the Server's Renamed events for a while.
func renames(s *mdns.Server, within time.Duration) []mdns.ResponderEvent {
	var out []mdns.ResponderEvent
	deadline := time.After(within)
	for {
		select {
		case ev := <-s.Events():
			if ev.Kind == mdns.Renamed {
				out = append(out, ev)
			}
		case <-deadline:
			return out
		}
	}
}

// TestIntegrationMDNSConflictWithAvahi: a name avahi holds is taken from
// nobody. Started second, our Server renames; started together, exactly
// one side renames. Either way both instances stay resolvable.
func TestIntegrationMDNSConflictWithAvahi(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	av := startAvahi(t, tp.Host("a2"), "avahi-a2", "eth0")
	a2, a3 := tp.NIC("a2", "eth0"), tp.NIC("a3", "eth0")

	// Ours second.
	av.publish("-s", "dup web", "_http._tcp", "8080")
	s := mdnsServer(t, a3.Host(), "bcast-a3")
	id, err := s.Register(mdns.Service{Instance: "dup web", Type: "_http._tcp", Port: 8081})
	if err != nil {
		t.Fatal(err)
	}
	if rn := renames(s, 3*time.Second); len(rn) != 1 || rn[0].OldName != "dup web" || rn[0].Name != "dup web (2)" {
		t.Fatalf("renames %+v; want dup web renamed once to dup web (2)", rn)
	}
	if name, _ := s.Name(id); name != "dup web (2)" {
		t.Errorf("Name = %q; want dup web (2)", name)
	}
	av.resolved("_http._tcp", 10*time.Second, func(lines []string) bool {
		return hasLine(lines, "eth0", "IPv4", avahiName("dup web"), "_http._tcp", "avahi-a2.local", a2.Addr4().String(), 8080) &&
			hasLine(lines, "eth0", "IPv4", avahiName("dup web (2)"), "_http._tcp", "bcast-a3.local", a3.Addr4().String(), 8081)
	})

	// Both at once: avahi-publish and Register started together.
	var wg sync.WaitGroup
	var pub *proc
	start := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		s.Register(mdns.Service{Instance: "twin", Type: "_http._tcp", Port: 8082})
	}()
	close(start)
	pub = av.publish("-s", "twin", "_http._tcp", "8083")
	wg.Wait()
	ours := renames(s, 3*time.Second)
	out := pub.stdout.String() + pub.stderr.String()
	theirs := strings.Contains(out, "collision")
	t.Logf("ours renamed: %+v; avahi-publish said:\n%s", ours, out)
	switch {
	case len(ours) == 1 && !theirs:
		if ours[0].Name != "twin (2)" {
			t.Errorf("ours renamed to %q; want twin (2)", ours[0].Name)
		}
		av.resolved("_http._tcp", 10*time.Second, func(lines []string) bool {
			return hasLine(lines, "eth0", "IPv4", "twin", "_http._tcp", "avahi-a2.local", a2.Addr4().String(), 8083) &&
				hasLine(lines, "eth0", "IPv4", avahiName("twin (2)"), "_http._tcp", "bcast-a3.local", a3.Addr4().String(), 8082)
		})
	case len(ours) == 0 && theirs:
		// avahi-publish renames with avahi_alternative_service_name: "twin #2".
		av.resolved("_http._tcp", 10*time.Second, func(lines []string) bool {
			return hasLine(lines, "eth0", "IPv4", "twin", "_http._tcp", "bcast-a3.local", a3.Addr4().String(), 8082) &&
				hasLine(lines, "eth0", "IPv4", avahiName("twin #2"), "_http._tcp", "avahi-a2.local", a2.Addr4().String(), 8083)
		})
	default:
		t.Errorf("ours renamed %d times, avahi renamed: %v; want exactly one side to rename", len(ours), theirs)
	}
}

// TestIntegrationMDNSTwoLANs: a Server on r, on LAN A (eth0) and LAN B
// (eth1), tells each LAN its address there and no other, as avahi-browse,
// avahi-resolve and dig on each LAN show; an address added to or removed
// from eth1 is announced or said goodbye to on LAN B within 2 s, and
// never reaches LAN A.
func TestIntegrationMDNSTwoLANs(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	requirePeer(t, "dig")
	r0, r1 := tp.NIC("r", "eth0"), tp.NIC("r", "eth1")
	s := mdnsServer(t, tp.Host("r"), "bcast-r")
	if _, err := s.Register(mdns.Service{Instance: "router web", Type: "_http._tcp", Port: 80}); err != nil {
		t.Fatal(err)
	}
	registered(t, s, 4)
	for _, side := range []struct {
		host      string
		mine      *netns.NIC
		other     *netns.NIC
		otherNets []netip.Prefix
	}{
		{"a1", r0, r1, []netip.Prefix{tp.B.Prefix4(), tp.B.Prefix6()}},
		{"b1", r1, r0, []netip.Prefix{tp.A.Prefix4(), tp.A.Prefix6()}},
	} {
		h := tp.Host(side.host)
		av := startAvahi(t, h, "avahi-"+side.host, "eth0")
		lines := av.resolved("_http._tcp", 10*time.Second, func(lines []string) bool {
			return hasLine(lines, "eth0", "IPv4", avahiName("router web"), "_http._tcp", "bcast-r.local", side.mine.Addr4().String(), 80) &&
				slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "=;eth0;IPv6;"+avahiName("router web")+";") })
		})
		for _, l := range lines {
			if strings.Contains(l, side.other.Addr4().String()) || strings.Contains(l, side.other.Addr6().String()+";") {
				t.Errorf("%s: avahi-browse shows the other LAN's address: %s", side.host, l)
			}
		}
		out, err := av.client(5*time.Second, "avahi-resolve", "-4", "-n", "bcast-r.local")
		if err != nil || strings.TrimSpace(out) != "bcast-r.local\t"+side.mine.Addr4().String() {
			t.Errorf("%s: avahi-resolve -4 -n bcast-r.local: %v %q; want %v", side.host, err, out, side.mine.Addr4())
		}
		for _, typ := range []string{"A", "AAAA"} {
			dig, err := h.Run(t.Context(), "dig", "+time=2", "+tries=2", "+norecurse", "-p", "5353", "@"+side.mine.Addr4().String(), "bcast-r.local", typ)
			if err != nil || !strings.Contains(string(dig), "status: NOERROR") {
				t.Errorf("%s: dig bcast-r.local %s: %v\n%s", side.host, typ, err, dig)
				continue
			}
			want := side.mine.Addr4().String()
			if typ == "AAAA" {
				want = side.mine.Addr6().String()
			}
			if !answerHas(string(dig), typ, want) {
				t.Errorf("%s: dig bcast-r.local %s: no %s in the answer\n%s", side.host, typ, want, dig)
			}
			for _, p := range side.otherNets {
				if strings.Contains(string(dig), strings.TrimSuffix(p.Masked().Addr().String(), "0")) {
					t.Errorf("%s: dig bcast-r.local %s shows an address of %v\n%s", side.host, typ, p, dig)
				}
			}
		}
	}

	// Addresses that come and go on eth1 are LAN B's business only.
	ba := mdnsBrowser(t, tp.Host("a1"))
	bb := mdnsBrowser(t, tp.Host("b1"))
	for _, b := range []*mdns.Browser{ba, bb} {
		if _, err := b.LookupHost("bcast-r"); err != nil {
			t.Fatal(err)
		}
	}
	mdnsEvent(t, ba, "bcast-r found on a1", 5*time.Second, func(e mdns.Event) bool { return e.Kind == mdns.Found })
	mdnsEvent(t, bb, "bcast-r found on b1", 5*time.Second, func(e mdns.Event) bool { return e.Kind == mdns.Found })
	extra := netip.MustParseAddr("10.71.2.200")
	ip := func(args ...string) {
		t.Helper()
		if out, err := tp.Host("r").Run(t.Context(), "ip", args...); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("addr", "add", extra.String()+"/24", "dev", "eth1")
	added := time.Now()
	mdnsEvent(t, bb, "bcast-r with "+extra.String()+" on b1", goodbyeLimit, func(e mdns.Event) bool {
		return e.Kind == mdns.Changed && slices.Contains(e.Addrs, extra)
	})
	t.Logf("added address seen on LAN B after %v", time.Since(added).Round(time.Millisecond))
	ip("addr", "del", extra.String()+"/24", "dev", "eth1")
	removed := time.Now()
	mdnsEvent(t, bb, "bcast-r without "+extra.String()+" on b1", goodbyeLimit, func(e mdns.Event) bool {
		return e.Kind == mdns.Changed && !slices.Contains(e.Addrs, extra)
	})
	t.Logf("removed address gone on LAN B after %v", time.Since(removed).Round(time.Millisecond))
	select {
	case ev := <-ba.Events():
		t.Errorf("a1 heard of a change on LAN B: %+v", ev)
	default:
	}
}

// TestIntegrationMDNSGoodbye: after Close, avahi-browse (running, reading
// its lines) sees the instance removed within 2 s.
func TestIntegrationMDNSGoodbye(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	s := mdnsServer(t, tp.Host("a2"), "bcast-a2")
	if _, err := s.Register(mdns.Service{Instance: "short lived", Type: "_http._tcp", Port: 80}); err != nil {
		t.Fatal(err)
	}
	registered(t, s, 2)
	av := startAvahi(t, tp.Host("a3"), "avahi-a3", "eth0")
	browse := startEnv(t, av.host, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + av.bus}, "avahi-browse", "-pr", "_http._tcp")
	name := avahiName("short lived")
	browse.waitStdout("the resolved instance", func(l string) bool { return strings.HasPrefix(l, "=;eth0;IPv4;"+name+";") })
	closed := time.Now()
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	waitFor(t, goodbyeLimit, "avahi-browse to report short lived removed", func() (bool, string) {
		out := browse.stdout.String()
		return strings.Contains(out, "-;eth0;IPv4;"+name+";") && strings.Contains(out, "-;eth0;IPv6;"+name+";"), out
	})
	t.Logf("removed %v after Close", time.Since(closed).Round(time.Millisecond))
	browse.interrupt()
}

// TestIntegrationMDNSBesideAvahi: our Server and avahi-daemon on one host
// share port 5353: both answer, and each sees the other's service.
func TestIntegrationMDNSBesideAvahi(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	a2 := tp.NIC("a2", "eth0")
	av := startAvahi(t, a2.Host(), "avahi-a2", "eth0")
	av.publish("-s", "avahi svc", "_http._tcp", "8080")
	s := mdnsServer(t, a2.Host(), "bcast-a2")
	if _, err := s.Register(mdns.Service{Instance: "ours svc", Type: "_http._tcp", Port: 8081}); err != nil {
		t.Fatal(err)
	}
	registered(t, s, 2)

	// avahi on a2 sees ours; our Browser on a2 sees avahi's.
	av.resolved("_http._tcp", 10*time.Second, func(lines []string) bool {
		return hasLine(lines, "eth0", "IPv4", avahiName("ours svc"), "_http._tcp", "bcast-a2.local", a2.Addr4().String(), 8081)
	})
	for _, where := range []string{"a2", "a1"} {
		b := mdnsBrowser(t, tp.Host(where))
		if _, err := b.Browse("_http._tcp", ""); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"avahi svc": "avahi-a2.local.", "ours svc": "bcast-a2.local."}
		deadline := time.After(5 * time.Second)
		var seen []string
		for len(want) > 0 {
			select {
			case ev := <-b.Events():
				seen = append(seen, fmt.Sprintf("%v %q %s %v", ev.Kind, ev.Instance, ev.Host, ev.Addrs))
				// Found, or changed when the IPv4 address came after the
				// instance was found over IPv6.
				if host, ok := want[ev.Instance]; ok && ev.Kind != mdns.Lost && ev.Host == host && slices.Contains(ev.Addrs, a2.Addr4()) {
					delete(want, ev.Instance)
				}
			case <-deadline:
				t.Fatalf("our Browser on %s did not find %v within 5s; events: %q", where, want, seen)
			}
		}
	}
}
