package mdns

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	svcName  = "_http._tcp.local."
	instName = "Web._http._tcp.local."
)

func newTestQuerier(t *testing.T, cfg QuerierConfig, ifcs ...Interface) *Querier {
	t.Helper()
	cfg.Rand = seeded()
	q := NewQuerier(cfg)
	for _, ifc := range ifcs {
		q.UpdateInterface(t0, ifc)
	}
	return q
}

// asking returns the packets that carry a question for name and type.
func asking(s []sent, name string, typ dnsmessage.Type) []sent {
	var out []sent
	for _, x := range s {
		for _, q := range x.msg.Questions {
			if equalFold(q.Name, name) && q.Type == typ {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

func TestQuerierBackoff(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	if _, err := q.Browse(t0, "_http._tcp", "", 0); err != nil {
		t.Fatal(err)
	}
	now := t0
	got := asking(run(t, q, &now, t0.Add(3*time.Hour)), svcName, dnsmessage.TypePTR)
	if len(got) < 14 {
		t.Fatalf("got %d queries in 3 hours; want at least 14", len(got))
	}
	first := got[0].at.Sub(t0)
	if first < 20*time.Millisecond || first > 120*time.Millisecond {
		t.Errorf("first query after %v; want 20-120ms", first)
	}
	want := time.Second
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap != want {
			t.Errorf("gap %d: got %v; want %v", i, gap, want)
		}
		want = min(want*2, time.Hour)
	}
	for _, x := range got {
		if x.out.Dst != IPv4Group || x.out.IfIndex != 2 || x.msg.Response || x.msg.Questions[0].QU {
			t.Fatalf("query %+v: want a QM query to %v on ifindex 2", x.msg, IPv4Group)
		}
	}
}

func TestQuerierSendsPerFamily(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24", "fe80::1/64"), eth(3, "eth1", "fe80::2/64"))
	q.BrowseTypes(t0, 0)
	now := t0
	got := run(t, q, &now, t0.Add(500*time.Millisecond))
	var dsts []string
	for _, x := range got {
		dsts = append(dsts, fmt.Sprint(x.out.IfIndex, " ", x.out.Dst))
	}
	slices.Sort(dsts)
	want := []string{"2 224.0.0.251:5353", "2 [ff02::fb]:5353", "3 [ff02::fb]:5353"}
	if !slices.Equal(dsts, want) {
		t.Errorf("got %q; want %q", dsts, want)
	}
}

func TestQuerierRefreshPoints(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	if _, err := q.LookupHost(t0, "printer.local", false, 0); err != nil {
		t.Fatal(err)
	}
	now := t0
	run(t, q, &now, t0.Add(time.Second))
	heard := now
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(addr("printer.local.", "10.0.0.9", 100))))
	got := asking(run(t, q, &now, heard.Add(99*time.Second)), "printer.local.", dnsmessage.TypeA)
	if len(got) != 4 {
		t.Fatalf("got queries at %v; want 4 refreshes", durations(got))
	}
	for i, x := range got {
		lo := time.Duration(80+5*i) * time.Second
		if at := x.at.Sub(heard); at < lo || at > lo+2*time.Second {
			t.Errorf("refresh %d at %v of a 100 s TTL; want %v-%v", i, at, lo, lo+2*time.Second)
		}
		if len(x.msg.Answers) != 0 {
			t.Errorf("refresh %d lists known answers %v; a record past half its TTL is not known", i, x.msg.Answers)
		}
	}
	ev := q.Events()
	if len(ev) != 1 || ev[0].Kind != Found {
		t.Fatalf("events before expiry %+v; want one found", ev)
	}
	run(t, q, &now, heard.Add(101*time.Second))
	ev = q.Events()
	if len(ev) != 1 || ev[0].Kind != Lost {
		t.Fatalf("events after expiry %+v; want one lost", ev)
	}
}

func TestQuerierKnownAnswers(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	q.Browse(t0, "_http._tcp", "", 0)
	now := t0
	run(t, q, &now, t0.Add(500*time.Millisecond))
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(ptr(svcName, "A._http._tcp.local.", 100), ptr(svcName, "B._http._tcp.local.", 4500))))
	got := asking(run(t, q, &now, t0.Add(70*time.Second)), svcName, dnsmessage.TypePTR)
	for _, x := range got {
		var ka []string
		for _, a := range x.msg.Answers {
			if a.Type == dnsmessage.TypePTR {
				ka = append(ka, fmt.Sprint(a.Target, " ", a.TTL))
				if a.CacheFlush {
					t.Errorf("known answer %v with cache-flush bit", a)
				}
			}
		}
		since := x.at.Sub(t0.Add(500 * time.Millisecond))
		var want []string
		if rem := 100*time.Second - since; rem > 50*time.Second {
			want = append(want, fmt.Sprint("A._http._tcp.local. ", uint32(rem/time.Second)))
		}
		want = append(want, fmt.Sprint("B._http._tcp.local. ", uint32((4500*time.Second-since)/time.Second)))
		if !slices.Equal(ka, want) {
			t.Errorf("query at %v: known answers %q; want %q", x.at.Sub(t0), ka, want)
		}
	}
}

func TestQuerierKnownAnswersSpanPackets(t *testing.T) {
	ifc := eth(2, "eth0", "10.0.0.1/24")
	ifc.MTU = 600
	q := newTestQuerier(t, QuerierConfig{}, ifc)
	q.Browse(t0, "_http._tcp", "", 0)
	now := t0
	run(t, q, &now, t0.Add(500*time.Millisecond))
	var ans []Record
	for i := range 40 {
		ans = append(ans, ptr(svcName, fmt.Sprintf("instance number %02d._http._tcp.local.", i), 4500))
	}
	for i := 0; i < len(ans); i += 10 {
		q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(ans[i:i+10]...)))
	}
	got := run(t, q, &now, t0.Add(1600*time.Millisecond))
	// The second PTR query (at about 1.1 s) and what follows it.
	start := -1
	for i, x := range got {
		if len(asking([]sent{x}, svcName, dnsmessage.TypePTR)) == 1 {
			start = i
		}
	}
	if start < 0 {
		t.Fatal("no PTR query")
	}
	end := start
	for end < len(got) && got[end].at.Equal(got[start].at) {
		end++
	}
	got = got[:end]
	listed := 0
	for i, x := range got[start:] {
		if len(x.out.Payload) > ifc.maxPayload() {
			t.Errorf("packet %d is %d bytes; limit %d", i, len(x.out.Payload), ifc.maxPayload())
		}
		if i > 0 && len(x.msg.Questions) != 0 {
			t.Errorf("continuation packet %d has questions", i)
		}
		last := i == len(got[start:])-1
		if x.msg.Truncated == last {
			t.Errorf("packet %d of %d: TC %v; want TC on all but the last", i, len(got[start:]), x.msg.Truncated)
		}
		for _, a := range x.msg.Answers {
			if a.Type == dnsmessage.TypePTR {
				listed++
			}
		}
	}
	if n := len(got[start:]); n < 3 {
		t.Errorf("known answers in %d packets; want them spread over at least 3", n)
	}
	if listed != 40 {
		t.Errorf("%d known answers listed; want 40", listed)
	}
}

func TestQuerierDuplicateQuestion(t *testing.T) {
	for _, tt := range []struct {
		name     string
		theirKA  []Record
		suppress bool
	}{
		{"no known answers", nil, true},
		{"known answer we lack", []Record{ptr(svcName, "Other._http._tcp.local.", 4500)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
			q.Browse(t0, "_http._tcp", "", 0)
			now := t0
			run(t, q, &now, t0.Add(500*time.Millisecond)) // first query
			due := q.NextDeadline()
			now = due.Add(-100 * time.Millisecond)
			dup := &Message{Questions: []Question{{Name: svcName, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET}}, Answers: tt.theirKA}
			q.HandlePacket(now, fromPeer(t, 2, "10.0.0.7:5353", dup))
			got := asking(run(t, q, &now, due.Add(200*time.Millisecond)), svcName, dnsmessage.TypePTR)
			if sent := len(got) == 1; sent == tt.suppress {
				t.Errorf("query due at %v sent: %v; want %v", due.Sub(t0), sent, !tt.suppress)
			}
			if s := q.Stats().QueriesSuppressed; (s == 1) != tt.suppress {
				t.Errorf("QueriesSuppressed = %d", s)
			}
		})
	}
}

func TestQuerierOneShotQU(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	if _, err := q.LookupHost(t0, "printer", true, 0); err != nil {
		t.Fatal(err)
	}
	now := t0
	got := asking(run(t, q, &now, t0.Add(1500*time.Millisecond)), "printer.local.", dnsmessage.TypeA)
	if len(got) != 2 || !got[0].msg.Questions[0].QU || got[1].msg.Questions[0].QU {
		t.Fatalf("got %d queries; want the first QU and the second QM", len(got))
	}
	uni := fromPeer(t, 2, "10.0.0.9:5353", response(addr("printer.local.", "10.0.0.9", 120)))
	uni.Dst = netip.MustParseAddr("10.0.0.1")
	q.HandlePacket(got[0].at.Add(1900*time.Millisecond), uni)
	if s := q.Stats(); s.UnsolicitedUnicast != 0 || s.CacheRecords != 1 {
		t.Errorf("unicast response 1.9 s after a QU query: stats %+v; want it cached", s)
	}
	q.HandlePacket(got[0].at.Add(2100*time.Millisecond), uni)
	if s := q.Stats(); s.UnsolicitedUnicast != 1 {
		t.Errorf("unicast response 2.1 s after the QU query: UnsolicitedUnicast %d; want 1", s.UnsolicitedUnicast)
	}
}

func TestQuerierChecksSource(t *testing.T) {
	tests := []struct {
		name string
		src  string
		ttl  int
		stat func(QuerierStats) uint64
	}{
		{"off-link IPv4", "192.168.1.5:5353", 255, func(s QuerierStats) uint64 { return s.OffLink }},
		{"off-link IPv6 global", "[2001:db8::5]:5353", 255, func(s QuerierStats) uint64 { return s.OffLink }},
		{"TTL 64", "10.0.0.9:5353", 64, func(s QuerierStats) uint64 { return s.BadTTL }},
		{"source port 53", "10.0.0.9:53", 255, func(s QuerierStats) uint64 { return s.BadPort }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
			p := fromPeer(t, 2, tt.src, response(addr("printer.local.", "10.0.0.9", 120)))
			p.TTL = tt.ttl
			q.HandlePacket(t0, p)
			if s := q.Stats(); tt.stat(s) != 1 || s.CacheRecords != 0 {
				t.Errorf("stats %+v; want the packet counted and dropped", s)
			}
		})
	}
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	q.HandlePacket(t0, fromPeer(t, 2, "[fe80::9]:5353", response(addr("printer.local.", "10.0.0.9", 120))))
	q.HandlePacket(t0, fromPeer(t, 7, "10.0.0.9:5353", response(addr("printer.local.", "10.0.0.9", 120))))
	if s := q.Stats(); s.CacheRecords != 1 || s.NoInterface != 1 {
		t.Errorf("stats %+v; want the IPv6 link-local source believed and the unknown interface counted", s)
	}
}

func resolvedResponse(txtVals ...string) *Message {
	m := response(ptr(svcName, instName, 4500))
	m.Additionals = []Record{
		srv(instName, "webhost.local.", 8080, 120),
		txt(instName, 4500, txtVals...),
		addr("webhost.local.", "10.0.0.9", 120),
		addr("webhost.local.", "fe80::9", 120),
	}
	return m
}

func TestQuerierFoundChangedLost(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24", "fe80::1/64"))
	id, _ := q.Browse(t0, "_http._tcp", "", 0)
	now := t0
	run(t, q, &now, t0.Add(time.Second))
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", resolvedResponse("path=/")))
	q.Poll(now)
	ev := q.Events()
	want := Event{Kind: Found, Sub: id, IfIndex: 2, IfName: "eth0", Name: instName, Instance: "Web", Service: "_http._tcp",
		Host: "webhost.local.", Port: 8080,
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("fe80::9%eth0")},
		Text:  []TXTItem{{Key: "path", Value: []byte("/"), HasValue: true}}}
	if len(ev) != 1 || fmt.Sprint(ev[0]) != fmt.Sprint(want) {
		t.Fatalf("got %+v; want %+v", ev, want)
	}
	now = now.Add(5 * time.Second)
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(txt(instName, 4500, "path=/v2"))))
	q.Poll(now)
	ev = q.Events()
	if len(ev) != 1 || ev[0].Kind != Changed || string(ev[0].Text[0].Value) != "/v2" {
		t.Fatalf("after a TXT change got %+v; want changed with path=/v2", ev)
	}
	now = now.Add(5 * time.Second)
	bye := ptr(svcName, instName, 0)
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(bye)))
	run(t, q, &now, now.Add(900*time.Millisecond))
	if ev := q.Events(); len(ev) != 0 {
		t.Fatalf("within a second of the goodbye got %+v; want nothing yet", ev)
	}
	run(t, q, &now, now.Add(200*time.Millisecond))
	ev = q.Events()
	if len(ev) != 1 || ev[0].Kind != Lost || ev[0].Name != instName {
		t.Fatalf("1.1 s after the goodbye got %+v; want lost", ev)
	}
}

func TestQuerierTXTWait(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	q.Browse(t0, "_http._tcp", "", 0)
	now := t0
	m := resolvedResponse()
	m.Additionals = slices.DeleteFunc(m.Additionals, func(r Record) bool { return r.Type == dnsmessage.TypeTXT })
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", m))
	run(t, q, &now, t0.Add(900*time.Millisecond))
	if ev := q.Events(); len(ev) != 0 {
		t.Fatalf("got %+v before the TXT wait; want nothing", ev)
	}
	run(t, q, &now, t0.Add(1100*time.Millisecond))
	if ev := q.Events(); len(ev) != 1 || ev[0].Kind != Found || ev[0].Text != nil {
		t.Fatalf("got %+v after the TXT wait; want found without TXT", ev)
	}
}

func TestQuerierCacheFlush(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	q.LookupHost(t0, "printer", false, 0)
	now := t0
	// Two records of one set in one packet: both stay.
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(addr("printer.local.", "10.0.0.9", 120), addr("printer.local.", "10.0.0.10", 120))))
	run(t, q, &now, t0.Add(3*time.Second))
	if ev := q.Events(); len(ev) != 1 || len(ev[0].Addrs) != 2 {
		t.Fatalf("got %+v; want found with two addresses", ev)
	}
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(addr("printer.local.", "10.0.0.11", 120))))
	run(t, q, &now, now.Add(900*time.Millisecond))
	if ev := q.Events(); len(ev) != 1 || len(ev[0].Addrs) != 3 {
		t.Fatalf("within the flush grace got %+v; want the old addresses kept a second", ev)
	}
	run(t, q, &now, now.Add(200*time.Millisecond))
	ev := q.Events()
	if len(ev) != 1 || ev[0].Kind != Changed || !slices.Equal(ev[0].Addrs, []netip.Addr{netip.MustParseAddr("10.0.0.11")}) {
		t.Fatalf("after the flush grace got %+v; want only 10.0.0.11", ev)
	}
	// A record without the bit adds to the set.
	r := addr("printer.local.", "10.0.0.12", 120)
	r.CacheFlush = false
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(r)))
	run(t, q, &now, now.Add(2*time.Second))
	if ev := q.Events(); len(ev) != 1 || len(ev[0].Addrs) != 2 {
		t.Fatalf("got %+v; want a shared record added", ev)
	}
}

func TestQuerierPerInterface(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"), eth(3, "eth1", "10.1.0.1/24", "fe80::1/64"))
	q.Browse(t0, "_http._tcp", "", 0)
	now := t0
	m0 := resolvedResponse()
	m0.Additionals = m0.Additionals[:3] // eth0 hears 10.0.0.9 only
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", m0))
	m1 := resolvedResponse()
	m1.Additionals[2] = addr("webhost.local.", "10.1.0.9", 120)
	q.HandlePacket(now, fromPeer(t, 3, "10.1.0.9:5353", m1))
	q.Poll(now)
	ev := q.Events()
	if len(ev) != 2 {
		t.Fatalf("got %d events; want one per interface", len(ev))
	}
	got := map[string]string{}
	for _, e := range ev {
		got[e.IfName] = fmt.Sprint(e.Addrs)
	}
	want := map[string]string{"eth0": "[10.0.0.9]", "eth1": "[10.1.0.9 fe80::9%eth1]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("addresses per interface %v; want %v", got, want)
	}
	q.RemoveInterface(now, 3)
	q.Poll(now)
	if ev := q.Events(); len(ev) != 1 || ev[0].Kind != Lost || ev[0].IfName != "eth1" {
		t.Fatalf("after eth1 went away got %+v; want lost on eth1", ev)
	}
}

func TestQuerierSubtypesAndTypes(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	if _, err := q.Browse(t0, "_http._tcp", "printer", 0); err != nil {
		t.Fatal(err)
	}
	types := q.BrowseTypes(t0, 0)
	now := t0
	got := run(t, q, &now, t0.Add(500*time.Millisecond))
	if len(asking(got, "_printer._sub._http._tcp.local.", dnsmessage.TypePTR)) != 1 || len(asking(got, ServicesName, dnsmessage.TypePTR)) != 1 {
		t.Fatalf("first queries %+v; want PTR questions for the subtype and for the service types", got)
	}
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(ptr(ServicesName, "_ipp._tcp.local.", 4500))))
	q.Poll(now)
	ev := q.Events()
	if len(ev) != 1 || ev[0].Sub != types || ev[0].Service != "_ipp._tcp" || ev[0].Kind != Found {
		t.Fatalf("got %+v; want service type _ipp._tcp found", ev)
	}
}

func TestQuerierBounded(t *testing.T) {
	q := newTestQuerier(t, QuerierConfig{MaxRecords: 10, MaxInstances: 2}, eth(2, "eth0", "10.0.0.1/24"))
	q.Browse(t0, "_http._tcp", "", 0)
	now := t0
	for i := range 5 {
		name := fmt.Sprintf("I%d._http._tcp.local.", i)
		m := response(ptr(svcName, name, 4500), srv(name, "h.local.", 1, 120), txt(name, 4500))
		q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", m))
	}
	q.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(addr("h.local.", "10.0.0.9", 120))))
	q.Poll(now)
	s := q.Stats()
	if s.CacheRecords > 10 || s.CacheDropped != 6 {
		t.Errorf("cache %d records, %d dropped; want at most 10 and 6 dropped", s.CacheRecords, s.CacheDropped)
	}
	if ev := q.Events(); len(ev) > 2 {
		t.Errorf("%d instances reported; want at most 2", len(ev))
	}
	big := newTestQuerier(t, QuerierConfig{MaxInstances: 2}, eth(2, "eth0", "10.0.0.1/24"))
	big.Browse(t0, "_http._tcp", "", 0)
	for i := range 5 {
		name := fmt.Sprintf("I%d._http._tcp.local.", i)
		big.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(ptr(svcName, name, 4500), srv(name, "h.local.", 1, 120), txt(name, 4500), addr("h.local.", "10.0.0.9", 120))))
	}
	big.Poll(now)
	if ev, s := big.Events(), big.Stats(); len(ev) != 2 || s.InstancesRefused == 0 {
		t.Errorf("%d found, %d refused; want 2 found and the rest refused", len(ev), s.InstancesRefused)
	}
}
