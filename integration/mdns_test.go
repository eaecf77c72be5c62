package integration

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/lanlink"
	"github.com/bcastdev/bcast/broadcast/discovery/mdns"
	"github.com/bcastdev/bcast/internal/netns"
	"golang.org/x/net/dns/dnsmessage"
)

// mDNS against the real peers: avahi-daemon (with avahi-browse,
// avahi-publish, avahi-resolve) and dig, in the StandardTopology's LANs.
// Our side runs in this process: an mdns.Server or Browser opened inside
// a host (Host.Do) keeps working from any goroutine (lanlink).

// goodbyeLimit is how soon a withdrawal must be seen: avahi removes a
// record one second after its goodbye (RFC 6762 §10.1), and so do we.
const goodbyeLimit = 2 * time.Second

func mdnsServer(t *testing.T, h *netns.Host, host string, ifaces ...string) *mdns.Server {
	t.Helper()
	var s *mdns.Server
	if err := h.Do(func() (err error) {
		s, err = mdns.NewServer(mdns.ServerConfig{
			ResponderConfig: mdns.ResponderConfig{Host: host},
			LinkConfig:      mdns.LinkConfig{Interfaces: ifaces},
		})
		return err
	}); err != nil {
		t.Fatalf("%s: mdns.NewServer: %v", h.Name(), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mdnsBrowser(t *testing.T, h *netns.Host) *mdns.Browser {
	t.Helper()
	var b *mdns.Browser
	if err := h.Do(func() (err error) {
		b, err = mdns.NewBrowser(mdns.BrowserConfig{})
		return err
	}); err != nil {
		t.Fatalf("%s: mdns.NewBrowser: %v", h.Name(), err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// mdnsEvent waits at most timeout for an event of b that ok accepts.
func mdnsEvent(t *testing.T, b *mdns.Browser, what string, timeout time.Duration, ok func(mdns.Event) bool) mdns.Event {
	t.Helper()
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case ev := <-b.Events():
			if ok(ev) {
				return ev
			}
			seen = append(seen, fmt.Sprintf("%v %q on %s %v", ev.Kind, ev.Name, ev.IfName, ev.Addrs))
		case <-deadline:
			t.Fatalf("no %s within %v; got %q", what, timeout, seen)
		}
	}
}

// registered waits until the Server has registered its host name and the
// services on every interface it serves (one Registered event each).
func registered(t *testing.T, s *mdns.Server, n int) []mdns.ResponderEvent {
	t.Helper()
	var evs []mdns.ResponderEvent
	deadline := time.After(10 * time.Second)
	for count := 0; count < n; {
		select {
		case ev := <-s.Events():
			evs = append(evs, ev)
			if ev.Kind == mdns.Registered {
				count++
			}
		case <-deadline:
			t.Fatalf("%d of %d registrations within 10s: %+v", len(evs), n, evs)
		}
	}
	return evs
}

// avahiLines runs avahi-browse -rpt (resolve, parsable, terminate when
// the cache is exhausted; -k: no service type lookup) for typ until
// a resolved line ("=") satisfies ok, at most timeout.
func (a *avahi) resolved(typ string, timeout time.Duration, ok func(lines []string) bool) []string {
	a.t.Helper()
	var lines []string
	waitFor(a.t, timeout, "avahi-browse -rptk "+typ+" in "+a.host.Name(), func() (bool, string) {
		out, _ := a.client(5*time.Second, "avahi-browse", "-rptk", typ)
		lines = lines[:0]
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "=;") {
				lines = append(lines, l)
			}
		}
		return ok(lines), out
	})
	return lines
}

// hasLine reports whether a resolved line has these fields (interface,
// protocol, escaped name, type, host, address, port), any TXT.
func hasLine(lines []string, iface, proto, name, typ, host, addr string, port int) bool {
	prefix := fmt.Sprintf("=;%s;%s;%s;%s;local;%s;%s;%d;", iface, proto, name, typ, host, addr, port)
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// TestIntegrationMDNSBrowseAvahi: a service avahi publishes is found by
// our Browser with its port, TXT, IPv4 and zoned IPv6 addresses, and lost
// within 2 s of avahi withdrawing it.
func TestIntegrationMDNSBrowseAvahi(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	a2 := tp.NIC("a2", "eth0")
	// avahi publishes an interface's IPv6 link-local address only when it
	// has no global one: a2 keeps its link-local address alone, so that
	// the zone is put to the test.
	if out, err := a2.Host().Run(t.Context(), "ip", "-6", "addr", "del", a2.Addr6().String()+"/64", "dev", "eth0"); err != nil {
		t.Fatalf("ip -6 addr del: %v\n%s", err, out)
	}
	pub := startAvahi(t, a2.Host(), "avahi-a2", "eth0")
	svc := pub.publish("-s", "avahi web", "_http._tcp", "8080", "path=/x", "ready")
	b := mdnsBrowser(t, tp.Host("a1"))
	if _, err := b.Browse("_http._tcp", ""); err != nil {
		t.Fatal(err)
	}
	ev := mdnsEvent(t, b, "found avahi web", 5*time.Second, func(e mdns.Event) bool { return e.Kind == mdns.Found })
	if ev.Instance != "avahi web" || ev.Service != "_http._tcp" || ev.Host != "avahi-a2.local." || ev.Port != 8080 || ev.IfName != "eth0" {
		t.Errorf("found %+v; want avahi web, _http._tcp, avahi-a2.local., 8080, on eth0", ev)
	}
	path, _ := mdns.TXTLookup(ev.Text, "path")
	ready, _ := mdns.TXTLookup(ev.Text, "ready")
	if len(ev.Text) != 2 || string(path.Value) != "/x" || ready.Key != "ready" || ready.HasValue {
		t.Errorf("TXT %v; want path=/x and ready (a key without a value)", ev.Text)
	}
	// The A and AAAA records come over IPv4 and IPv6 apart: the instance
	// may be found with one and changed when the other arrives.
	both := func(e mdns.Event) bool {
		zoned := slices.ContainsFunc(e.Addrs, func(a netip.Addr) bool { return a.IsLinkLocalUnicast() && a.Zone() == "eth0" })
		return len(e.Addrs) == 2 && slices.Contains(e.Addrs, a2.Addr4()) && zoned
	}
	if !both(ev) {
		mdnsEvent(t, b, fmt.Sprintf("avahi web changed to %v and a2's link-local address zoned eth0", a2.Addr4()), 3*time.Second,
			func(e mdns.Event) bool { return e.Kind == mdns.Changed && both(e) })
	}

	withdrawn := time.Now()
	svc.mustSucceed(svc.interrupt())
	mdnsEvent(t, b, "lost avahi web", goodbyeLimit, func(e mdns.Event) bool { return e.Kind == mdns.Lost && e.Instance == "avahi web" })
	t.Logf("lost %v after avahi-publish was interrupted", time.Since(withdrawn).Round(time.Millisecond))
}

// TestIntegrationMDNSServerAvahiDig: what our Server publishes, avahi
// resolves on another host (IPv4 and IPv6), dig gets by legacy unicast to
// port 5353 (SRV, TXT, A, AAAA), and a one-shot multicast query from a
// port other than 5353 gets the RFC 6762 §6.7 reply: by unicast, with the
// query's ID and question, no cache-flush bit, TTLs of at most 10 s.
func TestIntegrationMDNSServerAvahiDig(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	requirePeer(t, "dig")
	s := mdnsServer(t, tp.Host("a2"), "bcast-a2")
	if _, err := s.Register(mdns.Service{Instance: "our web", Type: "_http._tcp", Port: 8080,
		Text: []mdns.TXTItem{{Key: "path", Value: []byte("/y"), HasValue: true}}}); err != nil {
		t.Fatal(err)
	}
	registered(t, s, 2)
	a2 := tp.NIC("a2", "eth0")
	browse := startAvahi(t, tp.Host("a3"), "avahi-a3", "eth0")
	browse.resolved("_http._tcp", 10*time.Second, func(lines []string) bool {
		return hasLine(lines, "eth0", "IPv4", `our\032web`, "_http._tcp", "bcast-a2.local", a2.Addr4().String(), 8080) &&
			slices.ContainsFunc(lines, func(l string) bool {
				return strings.HasPrefix(l, `=;eth0;IPv6;our\032web;_http._tcp;local;bcast-a2.local;`) && strings.HasSuffix(l, `;8080;"path=/y"`)
			})
	})

	a1 := tp.Host("a1")
	for _, q := range []struct{ name, typ, want string }{
		{`our\032web._http._tcp.local`, "SRV", "0 0 8080 bcast-a2.local."},
		{`our\032web._http._tcp.local`, "TXT", `"path=/y"`},
		{"bcast-a2.local", "A", a2.Addr4().String()},
		{"bcast-a2.local", "AAAA", a2.Addr6().String()},
	} {
		out, err := a1.Run(t.Context(), "dig", "+time=2", "+tries=2", "+norecurse", "-p", "5353", "@"+a2.Addr4().String(), q.name, q.typ)
		if err != nil || !strings.Contains(string(out), "status: NOERROR") || !answerHas(string(out), q.typ, q.want) {
			t.Errorf("dig -p 5353 @%v %s %s: %v; want %s in the answer\n%s", a2.Addr4(), q.name, q.typ, err, q.want, out)
		}
	}

	// The one-shot query: from an ephemeral port to the group, as a
	// plain resolver would send it (dig's connected socket would drop a
	// reply from the responder's unicast address).
	reply := oneShotQuery(t, a1, "eth0", 0x4242, "bcast-a2.local.", dnsmessage.TypeA)
	if reply.from.Addr() != a2.Addr4() || reply.from.Port() != 5353 || !reply.to.Addr().Is4() || reply.to.Addr().IsMulticast() {
		t.Errorf("one-shot reply from %v to %v; want from %v:5353 by unicast", reply.from, reply.to, a2.Addr4())
	}
	m := reply.msg
	if m.Header.ID != 0x4242 || !m.Header.Response || len(m.Questions) != 1 || m.Questions[0].Name.String() != "bcast-a2.local." ||
		m.Questions[0].Type != dnsmessage.TypeA || m.Questions[0].Class != dnsmessage.ClassINET {
		t.Errorf("one-shot reply header %+v, questions %+v; want ID 0x4242 and the question echoed, class IN without the QU bit", m.Header, m.Questions)
	}
	found := false
	for _, r := range slices.Concat(m.Answers, m.Additionals) {
		if r.Header.Class != dnsmessage.ClassINET {
			t.Errorf("record %v class %#x; want IN without the cache-flush bit", r.Header.Name, uint16(r.Header.Class))
		}
		if r.Header.TTL > 10 {
			t.Errorf("record %v TTL %d; want at most 10", r.Header.Name, r.Header.TTL)
		}
		if a, ok := r.Body.(*dnsmessage.AResource); ok && netip.AddrFrom4(a.A) == a2.Addr4() {
			found = true
		}
	}
	if !found {
		t.Errorf("one-shot reply %+v has no A record %v", m.Answers, a2.Addr4())
	}
	if reply.ttl != 255 {
		t.Errorf("one-shot reply IP TTL %d; want 255", reply.ttl)
	}
}

// answerHas reports whether dig's ANSWER SECTION has a record of typ
// whose data contains want.
func answerHas(out, typ, want string) bool {
	_, ans, ok := strings.Cut(out, ";; ANSWER SECTION:\n")
	if !ok {
		return false
	}
	ans, _, _ = strings.Cut(ans, "\n\n")
	for _, l := range strings.Split(ans, "\n") {
		if f := strings.Fields(l); len(f) >= 5 && f[3] == typ && strings.Contains(l, want) {
			return true
		}
	}
	return false
}

type oneShotReply struct {
	from, to netip.AddrPort
	ttl      int
	msg      dnsmessage.Message
}

// oneShotQuery sends one query with this ID from an ephemeral port of h
// to 224.0.0.251:5353 out of ifname, and returns the first reply.
func oneShotQuery(t *testing.T, h *netns.Host, ifname string, id uint16, name string, typ dnsmessage.Type) oneShotReply {
	t.Helper()
	var l *lanlink.Link
	if err := h.Do(func() (err error) {
		l, err = lanlink.Open(lanlink.Config{Group4: mdns.IPv4Group.Addr(), Interfaces: []string{ifname}, MulticastTTL: 255})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan oneShotReply, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	go l.Run(ctx, func(p *lanlink.Packet) {
		var m dnsmessage.Message
		if m.Unpack(p.Data) != nil || !m.Header.Response {
			return
		}
		select {
		case got <- oneShotReply{from: p.Src, to: netip.AddrPortFrom(p.Dst, l.LocalPort()), ttl: p.TTL, msg: m}:
		default:
		}
	})
	q := dnsmessage.Message{Header: dnsmessage.Header{ID: id}, Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}}}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	idx := 0
	for _, ifi := range l.Interfaces() {
		if ifi.Name == ifname {
			idx = ifi.Index
		}
	}
	if err := l.Send(b, idx, mdns.IPv4Group); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		return r
	case <-ctx.Done():
		t.Fatalf("%s: no reply to the one-shot query for %s within 3s", h.Name(), name)
	}
	return oneShotReply{}
}
