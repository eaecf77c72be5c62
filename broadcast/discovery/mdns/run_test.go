package mdns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// The runtime on real sockets, in network namespaces: a Server on one
// host, Browsers and lookups on others.

func serverIn(t *testing.T, h *netns.Host, cfg ServerConfig) *Server {
	t.Helper()
	var s *Server
	if err := h.Do(func() (err error) {
		s, err = NewServer(cfg)
		return err
	}); err != nil {
		t.Fatalf("%s: NewServer: %v", h.Name(), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func browserIn(t *testing.T, h *netns.Host, cfg BrowserConfig) *Browser {
	t.Helper()
	var b *Browser
	if err := h.Do(func() (err error) {
		b, err = NewBrowser(cfg)
		return err
	}); err != nil {
		t.Fatalf("%s: NewBrowser: %v", h.Name(), err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// nextEvent waits for an event matching ok, failing after timeout.
func nextEvent(t *testing.T, b *Browser, what string, timeout time.Duration, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(timeout)
	var seen []Event
	for {
		select {
		case ev, open := <-b.Events():
			if !open {
				t.Fatalf("Events closed while waiting for %s", what)
			}
			if ok(ev) {
				return ev
			}
			seen = append(seen, ev)
		case <-deadline:
			t.Fatalf("no %s within %v; got %+v", what, timeout, seen)
		}
	}
}

func registeredEverywhere(t *testing.T, s *Server, ids ...ServiceID) {
	t.Helper()
	want := map[ServiceID]bool{HostID: true}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-s.Events():
			if ev.Kind == Registered {
				delete(want, ev.Service)
			}
		case <-deadline:
			t.Fatalf("not registered within 5s: %v", want)
		}
	}
}

func oneLAN(t *testing.T, hosts ...string) (*netns.Lab, map[string]*netns.NIC) {
	t.Helper()
	lab := netns.New(t)
	lan := lab.LAN("one", netip.MustParsePrefix("10.83.1.0/24"), netip.MustParsePrefix("fd00:83:1::/64"))
	nics := make(map[string]*netns.NIC)
	for i, name := range hosts {
		h := lab.Host(name)
		nics[name] = h.Attach(lan, "eth0", netip.AddrFrom4([4]byte{10, 83, 1, byte(i + 1)}),
			netip.MustParseAddr("fd00:83:1::"+string(rune('1'+i))))
	}
	return lab, nics
}

// TestIntegrationServerAndBrowser: a Browser finds what a Server
// publishes, resolved, with zoned link-local addresses; sees its TXT
// change; and loses it within 2 s of the Server's Close (its goodbye).
func TestIntegrationServerAndBrowser(t *testing.T) {
	_, nics := oneLAN(t, "a", "b")
	a, b := nics["a"], nics["b"]
	srv := serverIn(t, a.Host(), ServerConfig{ResponderConfig: ResponderConfig{Host: "alpha"}})
	id, err := srv.Register(Service{Instance: "My Web", Type: "_http._tcp", Port: 8080,
		Text: []TXTItem{{Key: "path", Value: []byte("/x"), HasValue: true}}})
	if err != nil {
		t.Fatal(err)
	}
	br := browserIn(t, b.Host(), BrowserConfig{})
	if _, err := br.Browse("_http._tcp", ""); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, br, "found My Web", 5*time.Second, func(e Event) bool { return e.Kind == Found })
	if ev.Instance != "My Web" || ev.Service != "_http._tcp" || ev.Host != "alpha.local." || ev.Port != 8080 || ev.IfName != "eth0" {
		t.Errorf("found %+v; want My Web, _http._tcp, alpha.local., 8080 on eth0", ev)
	}
	if it, ok := TXTLookup(ev.Text, "path"); !ok || string(it.Value) != "/x" {
		t.Errorf("TXT %v; want path=/x", ev.Text)
	}
	// Answers over IPv4 and IPv6 come apart: found with the addresses of
	// one, changed when the other's arrive.
	all := func(e Event) bool {
		zoned := slices.ContainsFunc(e.Addrs, func(ad netip.Addr) bool { return ad.IsLinkLocalUnicast() && ad.Zone() == "eth0" })
		return slices.Contains(e.Addrs, a.Addr4()) && slices.Contains(e.Addrs, a.Addr6()) && zoned
	}
	if !all(ev) {
		nextEvent(t, br, fmt.Sprintf("My Web with %v, %v and a link-local address zoned eth0", a.Addr4(), a.Addr6()), 3*time.Second,
			func(e Event) bool { return e.Kind == Changed && all(e) })
	}

	if err := srv.SetText(id, []TXTItem{{Key: "path", Value: []byte("/y"), HasValue: true}}); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, br, "changed TXT", 3*time.Second, func(e Event) bool { return e.Kind == Changed })
	if it, _ := TXTLookup(ev.Text, "path"); string(it.Value) != "/y" {
		t.Errorf("changed TXT %v; want path=/y", ev.Text)
	}

	if name, ok := srv.Name(id); !ok || name != "My Web" {
		t.Errorf("Name = %q, %v; want My Web", name, ok)
	}
	closed := time.Now()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	nextEvent(t, br, "lost after the goodbye", 2*time.Second, func(e Event) bool { return e.Kind == Lost && e.Instance == "My Web" })
	t.Logf("lost %v after Close", time.Since(closed).Round(time.Millisecond))
	if _, err := srv.Register(Service{Instance: "late", Type: "_http._tcp", Port: 1}); err == nil {
		t.Error("Register after Close: no error")
	}
	if st := br.Stats(); st.Received == 0 || st.Sent == 0 || st.SendErrors != 0 {
		t.Errorf("browser stats %+v; want datagrams both ways and no send error", st)
	}
}

// TestIntegrationLookups: one-shot lookups from a port of their own get
// unicast answers; ServiceTypes lists the types; an unknown name fails
// with ErrNoAnswer when the context ends.
func TestIntegrationLookups(t *testing.T) {
	_, nics := oneLAN(t, "a", "b")
	a, b := nics["a"], nics["b"]
	srv := serverIn(t, a.Host(), ServerConfig{ResponderConfig: ResponderConfig{Host: "alpha"}})
	id, err := srv.Register(Service{Instance: "printer", Type: "_ipp._tcp", Port: 631})
	if err != nil {
		t.Fatal(err)
	}
	registeredEverywhere(t, srv, id)

	var hostEvs, instEvs []Event
	var types []string
	var missing error
	err = b.Host().Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var err error
		if hostEvs, err = LookupHost(ctx, BrowserConfig{}, "alpha.local"); err != nil {
			return err
		}
		if instEvs, err = ResolveInstance(ctx, BrowserConfig{}, "printer", "_ipp._tcp"); err != nil {
			return err
		}
		tctx, tcancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer tcancel()
		if types, err = ServiceTypes(tctx, BrowserConfig{}); err != nil {
			return err
		}
		mctx, mcancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer mcancel()
		_, missing = LookupHost(mctx, BrowserConfig{}, "nobody.local")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(hostEvs) != 1 || !slices.Contains(hostEvs[0].Addrs, a.Addr4()) || !slices.Contains(hostEvs[0].Addrs, a.Addr6()) {
		t.Errorf("LookupHost(alpha.local) = %+v; want one interface with %v and %v", hostEvs, a.Addr4(), a.Addr6())
	}
	if len(instEvs) != 1 || instEvs[0].Port != 631 || instEvs[0].Host != "alpha.local." {
		t.Errorf("ResolveInstance(printer) = %+v; want port 631 on alpha.local.", instEvs)
	}
	if !slices.Equal(types, []string{"_ipp._tcp"}) {
		t.Errorf("ServiceTypes = %q; want [_ipp._tcp]", types)
	}
	if !errors.Is(missing, ErrNoAnswer) || !errors.Is(missing, context.DeadlineExceeded) || !strings.Contains(fmtErr(missing), "nobody") {
		t.Errorf("LookupHost(nobody.local) error %v; want ErrNoAnswer naming the host, and the deadline", missing)
	}
	if st := srv.Stats(); st.LegacyReplies == 0 {
		t.Errorf("server stats %+v; want legacy (unicast) replies to the lookups' port", st.ResponderStats)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestIntegrationServerFollowsAddresses: an address added to the
// Server's interface is announced, one removed said goodbye to, each seen
// by a Browser within 2 s.
func TestIntegrationServerFollowsAddresses(t *testing.T) {
	_, nics := oneLAN(t, "a", "b")
	a, b := nics["a"], nics["b"]
	srv := serverIn(t, a.Host(), ServerConfig{ResponderConfig: ResponderConfig{Host: "alpha"}})
	registeredEverywhere(t, srv)
	br := browserIn(t, b.Host(), BrowserConfig{})
	if _, err := br.LookupHost("alpha"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, br, "found alpha", 5*time.Second, func(e Event) bool { return e.Kind == Found })

	extra := netip.MustParseAddr("10.83.1.200")
	ip := func(args ...string) {
		t.Helper()
		if out, err := a.Host().Run(t.Context(), "ip", args...); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("addr", "add", "10.83.1.200/24", "dev", "eth0")
	added := time.Now()
	nextEvent(t, br, "alpha changed with "+extra.String(), 2*time.Second, func(e Event) bool {
		return e.Kind == Changed && slices.Contains(e.Addrs, extra)
	})
	t.Logf("added address seen after %v", time.Since(added).Round(time.Millisecond))
	ip("addr", "del", "10.83.1.200/24", "dev", "eth0")
	removed := time.Now()
	ev := nextEvent(t, br, "alpha changed without "+extra.String(), 2*time.Second, func(e Event) bool {
		return e.Kind == Changed && !slices.Contains(e.Addrs, extra)
	})
	t.Logf("removed address gone after %v", time.Since(removed).Round(time.Millisecond))
	if !slices.Contains(ev.Addrs, a.Addr4()) {
		t.Errorf("after the removal alpha has %v; want %v kept", ev.Addrs, a.Addr4())
	}
}

// TestIntegrationNetworkFamily: Network picks the transport. An IPv4-only
// Server is found by a udp4 Browser and never by a udp6 one.
func TestIntegrationNetworkFamily(t *testing.T) {
	_, nics := oneLAN(t, "a", "b")
	a, b := nics["a"], nics["b"]
	srv := serverIn(t, a.Host(), ServerConfig{ResponderConfig: ResponderConfig{Host: "alpha"}, LinkConfig: LinkConfig{Network: "udp4"}})
	if _, err := srv.Register(Service{Instance: "web", Type: "_http._tcp", Port: 80}); err != nil {
		t.Fatal(err)
	}
	br6 := browserIn(t, b.Host(), BrowserConfig{LinkConfig: LinkConfig{Network: "udp6"}})
	br4 := browserIn(t, b.Host(), BrowserConfig{LinkConfig: LinkConfig{Network: "udp4", Interfaces: []string{"eth0"}}})
	for _, br := range []*Browser{br4, br6} {
		if _, err := br.Browse("_http._tcp", ""); err != nil {
			t.Fatal(err)
		}
	}
	ev := nextEvent(t, br4, "found web over IPv4", 5*time.Second, func(e Event) bool { return e.Kind == Found })
	// The records are the host's addresses on the link, whichever family
	// carried them: an IPv4-only responder publishes no AAAA.
	for _, ad := range ev.Addrs {
		if !ad.Is4() {
			t.Errorf("an IPv4-only server published %v", ad)
		}
	}
	select {
	case ev := <-br6.Events():
		t.Errorf("udp6 browser got %+v from an IPv4-only server", ev)
	case <-time.After(time.Second):
	}
}

func TestConfigChecks(t *testing.T) {
	if _, err := NewBrowser(BrowserConfig{LinkConfig: LinkConfig{Network: "tcp"}}); err == nil || !strings.Contains(err.Error(), `"tcp"`) {
		t.Errorf("NewBrowser with network tcp: %v; want an error naming it", err)
	}
	if _, err := NewServer(ServerConfig{ResponderConfig: ResponderConfig{Host: "bad.name"}, LinkConfig: LinkConfig{Network: "udp4"}}); err == nil {
		t.Error("NewServer with host bad.name: no error")
	}
}
