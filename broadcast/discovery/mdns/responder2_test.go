package mdns

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestResponderOnePerSecond(t *testing.T) {
	r, now := settled(t)
	ask := query(qn(webInst, dnsmessage.TypeSRV))
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", ask))
	first := responses(run(t, r, &now, now.Add(300*time.Millisecond)))
	if len(first) != 1 {
		t.Fatalf("%d responses to the first query; want 1", len(first))
	}
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.8:5353", ask))
	got := responses(run(t, r, &now, now.Add(2*time.Second)))
	if len(got) != 1 || got[0].at.Sub(first[0].at) != time.Second {
		t.Fatalf("second query 300ms later answered at %v; want exactly 1 s after the first answer", durations(got))
	}
	// A probe for our name is defended at once, and again 250 ms later.
	probe := &Message{Questions: []Question{qn(webInst, dnsmessage.TypeALL)}, Authorities: []Record{srv(webInst, "other.local.", 1, 120)}}
	at := now
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.8:5353", probe))
	got = responses(run(t, r, &now, now.Add(100*time.Millisecond)))
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.8:5353", probe))
	got = append(got, responses(run(t, r, &now, now.Add(time.Second)))...)
	if len(got) != 2 || got[0].at != at || got[1].at.Sub(at) != 250*time.Millisecond {
		t.Fatalf("probe defenses at %v; want at once and 250ms later (probe at %v)", durations(got), at.Sub(t0))
	}
}

func TestResponderBackToBackQueries(t *testing.T) {
	r, now := settled(t)
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(qn(svcName, dnsmessage.TypePTR))))
	now = now.Add(10 * time.Millisecond)
	r.Poll(now)
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.8:5353", query(qn(ServicesName, dnsmessage.TypePTR))))
	got := responses(run(t, r, &now, now.Add(time.Second)))
	if len(got) != 1 || len(got[0].msg.Answers) != 2 {
		t.Fatalf("two shared queries 10ms apart: %d responses; want one with both answers", len(got))
	}
	m := got[0].msg
	if want := []string{"Web._http._tcp.local. TypeSRV", "Web._http._tcp.local. TypeTXT", "myhost.local. TypeA 10.0.0.1", "myhost.local. NSEC"}; !slices.Equal(names(m.Additionals), want) {
		t.Errorf("additionals %q; want %q", names(m.Additionals), want)
	}
}

func TestResponderKnownAnswerSuppression(t *testing.T) {
	for _, tt := range []struct {
		ttl    uint32
		answer bool
	}{{4500, false}, {2250, false}, {2249, true}} {
		t.Run(fmt.Sprint(tt.ttl), func(t *testing.T) {
			r, now := settled(t)
			m := query(qn(svcName, dnsmessage.TypePTR))
			m.Answers = []Record{ptr(svcName, webInst, tt.ttl)}
			r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", m))
			if got := responses(run(t, r, &now, now.Add(time.Second))); (len(got) == 1) != tt.answer {
				t.Errorf("known answer with TTL %d of 4500: %d responses; want answered %v", tt.ttl, len(got), tt.answer)
			}
		})
	}
}

func TestResponderKnownAnswersAfterTC(t *testing.T) {
	for _, tt := range []struct {
		name   string
		from   string
		answer bool
	}{{"same querier", "10.0.0.9:5353", false}, {"another host", "10.0.0.8:5353", true}} {
		t.Run(tt.name, func(t *testing.T) {
			r, now := settled(t)
			m := &Message{Truncated: true, Questions: []Question{qn(svcName, dnsmessage.TypePTR)}}
			r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", m))
			run(t, r, &now, now.Add(100*time.Millisecond))
			more := &Message{Answers: []Record{ptr(svcName, webInst, 4500)}}
			r.HandlePacket(now, fromPeer(t, 2, tt.from, more))
			if got := responses(run(t, r, &now, now.Add(time.Second))); (len(got) == 1) != tt.answer {
				t.Errorf("%d responses; want answered %v", len(got), tt.answer)
			}
		})
	}
}

func TestResponderDuplicateAnswerSuppression(t *testing.T) {
	r, now := settled(t)
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(qn(svcName, dnsmessage.TypePTR))))
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.7:5353", response(ptr(svcName, webInst, 4500))))
	if got := responses(run(t, r, &now, now.Add(time.Second))); len(got) != 0 {
		t.Errorf("%d responses after another responder gave our answer; want none", len(got))
	}
}

func TestResponderLegacyUnicast(t *testing.T) {
	r, now := settled(t)
	m := &Message{ID: 0x1234, Questions: []Question{qn(webInst, dnsmessage.TypeSRV)}}
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:40000", m))
	got := run(t, r, &now, now)
	if len(got) != 1 {
		t.Fatalf("%d packets; want one reply at once", len(got))
	}
	x := got[0]
	if x.out.Dst != netip.MustParseAddrPort("10.0.0.9:40000") || x.out.IfIndex != 2 {
		t.Errorf("reply to %v on %d; want 10.0.0.9:40000 on 2", x.out.Dst, x.out.IfIndex)
	}
	if x.msg.ID != 0x1234 || len(x.msg.Questions) != 1 || x.msg.Questions[0].Name != webInst || !x.msg.Response {
		t.Errorf("reply %+v; want ID 0x1234 and the question echoed", x.msg)
	}
	if len(x.msg.Answers) != 1 || len(x.msg.Additionals) == 0 {
		t.Fatalf("reply answers %q additionals %q; want the SRV and the address", names(x.msg.Answers), names(x.msg.Additionals))
	}
	for _, rec := range append(x.msg.Answers, x.msg.Additionals...) {
		if rec.CacheFlush || rec.TTL > 10 {
			t.Errorf("legacy record %+v; want TTL at most 10 and no cache-flush bit", rec)
		}
	}
}

func TestResponderUnicastOnlyOnLinkAndLimited(t *testing.T) {
	r, now := settled(t)
	m := &Message{ID: 1, Questions: []Question{qn(webInst, dnsmessage.TypeSRV)}}
	r.HandlePacket(now, fromPeer(t, 2, "192.168.7.7:40000", m))
	if got := run(t, r, &now, now); len(got) != 0 || r.Stats().OffLink != 1 {
		t.Fatalf("query from off-link source: %d packets, OffLink %d; want nothing sent", len(got), r.Stats().OffLink)
	}
	sentN := 0
	for range 30 {
		r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:40000", m))
		sentN += len(run(t, r, &now, now))
	}
	if sentN != 10 || r.Stats().UnicastLimited != 20 {
		t.Errorf("30 legacy queries at once: %d replies, %d limited; want 10 and 20", sentN, r.Stats().UnicastLimited)
	}
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.8:40000", m))
	if got := run(t, r, &now, now); len(got) != 1 {
		t.Errorf("another source: %d replies; want 1", len(got))
	}
	now = now.Add(time.Second)
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:40000", m))
	if got := run(t, r, &now, now); len(got) != 1 {
		t.Errorf("a second later: %d replies; want 1", len(got))
	}
}

func TestResponderQU(t *testing.T) {
	r, now := settled(t)
	qu := qn(webInst, dnsmessage.TypeSRV)
	qu.QU = true
	// The SRV was announced less than a quarter of its TTL ago: unicast.
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(qu)))
	got := run(t, r, &now, now.Add(10*time.Millisecond))
	if len(got) != 1 || got[0].out.Dst != netip.MustParseAddrPort("10.0.0.9:5353") {
		t.Fatalf("QU soon after announcing: %+v; want one unicast reply", got)
	}
	// More than a quarter of 120 s later: multicast.
	now = now.Add(31 * time.Second)
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(qu)))
	got = run(t, r, &now, now.Add(10*time.Millisecond))
	if len(got) != 1 || got[0].out.Dst != IPv4Group {
		t.Fatalf("QU long after the last multicast: %+v; want a multicast answer", got)
	}
	// A query to our unicast address is answered by unicast.
	p := fromPeer(t, 2, "10.0.0.9:5353", query(qn(webInst, dnsmessage.TypeTXT)))
	p.Dst = netip.MustParseAddr("10.0.0.1")
	r.HandlePacket(now, p)
	got = run(t, r, &now, now.Add(10*time.Millisecond))
	if len(got) != 1 || got[0].out.Dst != netip.MustParseAddrPort("10.0.0.9:5353") {
		t.Fatalf("direct unicast query: %+v; want one unicast reply", got)
	}
}

func TestResponderPerInterface(t *testing.T) {
	r, now := settled(t, eth(2, "eth0", "10.0.0.1/24"), eth(3, "eth1", "10.1.0.1/24", "fe80::1/64"))
	for _, tt := range []struct {
		ifindex int
		src     string
		q       Question
		dst     netip.AddrPort
		answers []string
		extra   []string
	}{
		{3, "10.1.0.9:5353", qn("myhost.local.", dnsmessage.TypeA), IPv4Group,
			[]string{"myhost.local. TypeA 10.1.0.1"}, []string{"myhost.local. TypeAAAA fe80::1"}},
		{3, "[fe80::9]:5353", qn(webInst, dnsmessage.TypeSRV), IPv6Group,
			[]string{"Web._http._tcp.local. TypeSRV"}, []string{"myhost.local. TypeA 10.1.0.1", "myhost.local. TypeAAAA fe80::1"}},
		{2, "10.0.0.9:5353", qn("myhost.local.", dnsmessage.TypeA), IPv4Group,
			[]string{"myhost.local. TypeA 10.0.0.1"}, []string{"myhost.local. NSEC"}},
		{2, "10.0.0.9:5353", qn("myhost.local.", dnsmessage.TypeAAAA), IPv4Group,
			[]string{"myhost.local. NSEC"}, nil},
	} {
		t.Run(fmt.Sprint(tt.ifindex, tt.q.Type), func(t *testing.T) {
			now = now.Add(2 * time.Second)
			r.HandlePacket(now, fromPeer(t, tt.ifindex, tt.src, query(tt.q)))
			got := responses(run(t, r, &now, now.Add(200*time.Millisecond)))
			if len(got) != 1 {
				t.Fatalf("%d responses; want 1", len(got))
			}
			x := got[0]
			if x.out.IfIndex != tt.ifindex || x.out.Dst != tt.dst {
				t.Errorf("answer on %d to %v; want on %d to %v", x.out.IfIndex, x.out.Dst, tt.ifindex, tt.dst)
			}
			if g := names(x.msg.Answers); !slices.Equal(g, tt.answers) {
				t.Errorf("answers %q; want %q", g, tt.answers)
			}
			if g := names(x.msg.Additionals); !slices.Equal(g, tt.extra) {
				t.Errorf("additionals %q; want %q", g, tt.extra)
			}
		})
	}
}

func TestResponderNSECTypes(t *testing.T) {
	r, now := settled(t)
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(qn(webInst, dnsmessage.TypeA))))
	got := responses(run(t, r, &now, now.Add(200*time.Millisecond)))
	if len(got) != 1 || len(got[0].msg.Answers) != 1 {
		t.Fatalf("got %+v; want one NSEC answer", got)
	}
	n := got[0].msg.Answers[0]
	want, _ := nsecData(webInst, []dnsmessage.Type{dnsmessage.TypeTXT, dnsmessage.TypeSRV})
	if n.Type != TypeNSEC || string(n.Raw) != string(want) || !n.CacheFlush {
		t.Errorf("NSEC %+v; want one listing TXT and SRV with cache-flush", n)
	}
	// Names we do not hold get nothing; ANY gets everything.
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(qn("other.local.", dnsmessage.TypeA))))
	if got := responses(run(t, r, &now, now.Add(2*time.Second))); len(got) != 0 {
		t.Errorf("query for a name not ours answered: %+v", got)
	}
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(qn(webInst, dnsmessage.TypeALL))))
	got = responses(run(t, r, &now, now.Add(time.Second)))
	if len(got) != 1 || len(got[0].msg.Answers) != 2 {
		t.Errorf("ANY query: %+v; want SRV and TXT", got)
	}
}

func TestResponderGoodbyes(t *testing.T) {
	r, now := settled(t)
	s2 := webService()
	s2.Instance = "Web2"
	id2, _ := r.Register(now, s2)
	run(t, r, &now, now.Add(10*time.Second))
	if err := r.Unregister(now, id2); err != nil {
		t.Fatal(err)
	}
	got := responses(run(t, r, &now, now))
	want := []string{"_http._tcp.local. TypePTR Web2._http._tcp.local.", "Web2._http._tcp.local. TypeSRV", "Web2._http._tcp.local. TypeTXT"}
	if len(got) != 1 || !slices.Equal(names(got[0].msg.Answers), want) {
		t.Fatalf("unregister: %+v; want goodbyes for %q (the type is still published by Web)", got, want)
	}
	r.Close(now)
	got = responses(run(t, r, &now, now))
	if len(got) != 1 {
		t.Fatalf("close: %d packets; want 1", len(got))
	}
	for _, rec := range got[0].msg.Answers {
		if rec.TTL != 0 || rec.CacheFlush {
			t.Errorf("goodbye %+v; want TTL 0 without cache-flush", rec)
		}
	}
	if n := len(got[0].msg.Answers); n != 5 {
		t.Errorf("close said goodbye for %q; want the 4 service records and the address", names(got[0].msg.Answers))
	}
	if _, err := r.Register(now, webService()); err != ErrClosed {
		t.Errorf("Register after Close: %v; want ErrClosed", err)
	}
}

func TestResponderTXTChange(t *testing.T) {
	r, now := settled(t)
	if err := r.SetText(now, 1, []TXTItem{{Key: "path", Value: []byte("/v2"), HasValue: true}}); err != nil {
		t.Fatal(err)
	}
	got := announcements(run(t, r, &now, now.Add(10*time.Second)))
	if len(got) != 3 {
		t.Fatalf("%d announcements after SetText; want 3", len(got))
	}
	for _, a := range got {
		i := slices.IndexFunc(a.msg.Answers, func(r Record) bool { return r.Type == dnsmessage.TypeTXT })
		if i < 0 || a.msg.Answers[i].Text[0] != "path=/v2" || !a.msg.Answers[i].CacheFlush {
			t.Errorf("announcement %q; want the new TXT with cache-flush", names(a.msg.Answers))
		}
	}
}

func TestResponderAddressChange(t *testing.T) {
	r, now := settled(t)
	r.UpdateInterface(now, eth(2, "eth0", "10.0.0.1/24", "10.0.0.2/24"))
	got := announcements(run(t, r, &now, now.Add(10*time.Second)))
	if len(got) != 3 {
		t.Fatalf("%d announcements after an address was added; want 3", len(got))
	}
	if g := names(got[0].msg.Answers); !slices.Equal(g, []string{"myhost.local. TypeA 10.0.0.1", "myhost.local. TypeA 10.0.0.2"}) {
		t.Errorf("announced %q; want both addresses", g)
	}
	r.UpdateInterface(now, eth(2, "eth0", "10.0.0.2/24"))
	got = responses(run(t, r, &now, now))
	if len(got) != 2 {
		t.Fatalf("%d packets after an address was removed; want a goodbye and an announcement", len(got))
	}
	if a := got[0].msg.Answers; len(a) != 1 || a[0].TTL != 0 || a[0].Addr != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("goodbye %+v; want 10.0.0.1 with TTL 0", a)
	}
	if g := names(got[1].msg.Answers); !slices.Equal(g, []string{"myhost.local. TypeA 10.0.0.2"}) {
		t.Errorf("announced %q; want 10.0.0.2 alone", g)
	}
}

func TestResponderMulticastShape(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24", "fe80::1/64"))
	r.Register(t0, webService())
	now := t0
	all := run(t, r, &now, t0.Add(10*time.Second))
	for _, q := range []Question{qn(svcName, dnsmessage.TypePTR), qn(webInst, dnsmessage.TypeSRV), qn("myhost.local.", dnsmessage.TypeAAAA)} {
		r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", query(q)))
		all = append(all, run(t, r, &now, now.Add(2*time.Second))...)
	}
	for _, x := range responses(all) {
		if x.out.Dst != IPv4Group && x.out.Dst != IPv6Group {
			continue
		}
		// What avahi requires of a multicast response.
		if x.msg.ID != 0 || len(x.msg.Questions) != 0 || len(x.msg.Answers) == 0 || !x.msg.Authoritative {
			t.Errorf("multicast response %+v: want ID 0, AA, no question, an answer", x.msg)
		}
	}
}

func TestResponderServiceOnSomeInterfaces(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24"), eth(3, "eth1", "10.1.0.1/24"))
	s := webService()
	s.Interfaces = []int{3}
	r.Register(t0, s)
	now := t0
	for _, x := range run(t, r, &now, t0.Add(10*time.Second)) {
		for _, rec := range append(x.msg.Answers, x.msg.Authorities...) {
			if x.out.IfIndex == 2 && rec.Type != dnsmessage.TypeA {
				t.Errorf("on eth0: %v %v; want only the host's address there", rec.Name, rec.Type)
			}
		}
	}
}
