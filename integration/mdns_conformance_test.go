package integration

import (
	"fmt"
	"net"
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

// A conformance suite in the spirit of Apple's Bonjour Conformance Test,
// against our Server over real sockets. Every timing is read from packets
// captured on the LAN's bridge with kernel timestamps, never from our
// own logs.
//
// Slack: the RFC's upper bounds (unique answers within 10 ms, shared ones
// within 120 ms, probes 250 ms apart) are checked with lateSlack added,
// because CI runs this on two cores shared with the rest of the suite
// under the race detector, where a timer may fire, or a goroutine get a
// core, tens of milliseconds late. Lower bounds (shared answers at least
// 20 ms after the query, probes 250 ms apart, the tie-break loser's pause
// of a second) are checked to within earlySlack: being late never makes a
// packet early, but the packets of one instant (a probe's IPv4 and IPv6
// copies, several names' probes) leave one after the other, so the
// spacing of two of them can shrink by the time those sends take.
const (
	lateSlack  = 50 * time.Millisecond
	earlySlack = 2 * time.Millisecond
)

// dutIs says whether a captured packet came from the responder under
// test (the device under test, as the BCT calls it).
type dutIs func(captured) bool

func parsed(t *testing.T, p captured) *mdns.Message {
	t.Helper()
	m, err := mdns.ParseMessage(p.payload)
	if err != nil {
		t.Fatalf("captured %v does not parse: %v", p, err)
	}
	return m
}

func isProbeFor(name string) func(*mdns.Message) bool {
	return func(m *mdns.Message) bool {
		if m.Response {
			return false
		}
		for _, q := range m.Questions {
			if strings.EqualFold(q.Name, name) && q.Type == dnsmessage.TypeALL {
				return true
			}
		}
		return false
	}
}

func hasAnswer(m *mdns.Message, name string, typ dnsmessage.Type) (mdns.Record, bool) {
	for _, r := range m.Answers {
		if strings.EqualFold(r.Name, name) && r.Type == typ {
			return r, true
		}
	}
	return mdns.Record{}, false
}

// tester sends hand-made packets from port 5353 (and one from a port of
// its own) of another host on the LAN.
type tester struct {
	l, eph  *lanlink.Link
	ifindex int
}

func newTester(t *testing.T, h *netns.Host) *tester {
	t.Helper()
	tt := &tester{}
	if err := h.Do(func() (err error) {
		cfg := lanlink.Config{Port: mdns.Port, Group4: mdns.IPv4Group.Addr(), Group6: mdns.IPv6Group.Addr(), MulticastTTL: 255, UnicastTTL: 255}
		if tt.l, err = lanlink.Open(cfg); err != nil {
			return err
		}
		cfg.Port = 0
		tt.eph, err = lanlink.Open(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tt.l.Close(); tt.eph.Close() })
	tt.ifindex = tt.l.Interfaces()[0].Index
	return tt
}

// send sends m to the IPv4 group from port 5353, or from the ephemeral
// port with legacy, and returns when it left.
func (tt *tester) send(t *testing.T, m *mdns.Message, legacy bool) time.Time {
	t.Helper()
	b, err := m.AppendPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	l := tt.l
	if legacy {
		l = tt.eph
	}
	if err := l.Send(b, tt.ifindex, mdns.IPv4Group); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// TestIntegrationMDNSConformance checks our Server's wire behaviour on a
// LAN against RFC 6762: probing, announcing, answer timing and
// aggregation, known-answer suppression (also over several packets with
// TC), cache-flush bits, IP TTL, legacy replies, the simultaneous-probe
// tie-break both ways, and goodbye on rename.
func TestIntegrationMDNSConformance(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	lan := lab.LAN("c", netip.MustParsePrefix("10.85.1.0/24"), netip.MustParsePrefix("fd00:85:1::/64"))
	dut := lab.Host("dut").Attach(lan, "eth0", netip.MustParseAddr("10.85.1.1"), netip.MustParseAddr("fd00:85:1::1"))
	tst := lab.Host("tester").Attach(lan, "eth0", netip.MustParseAddr("10.85.1.2"), netip.MustParseAddr("fd00:85:1::2"))
	capt := startCapture(t, lan, mdns.Port)
	var dutLL netip.Addr
	if err := dut.Host().Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := ifi.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsLinkLocalUnicast() {
				dutLL = p.Addr()
			}
		}
		return err
	}); err != nil || !dutLL.IsValid() {
		t.Fatalf("dut's link-local address: %v", err)
	}
	fromDUT := dutIs(func(p captured) bool {
		a := p.src.Addr()
		return a == dut.Addr4() || a == dut.Addr6() || a == dutLL
	})
	tt := newTester(t, tst.Host())

	const host = "conf.local."
	const web = "conf web._http._tcp.local."
	var s *mdns.Server
	if err := dut.Host().Do(func() (err error) {
		// Two announcements (RFC 6762 §8.3 allows 2 to 10) keep the test short.
		s, err = mdns.NewServer(mdns.ServerConfig{ResponderConfig: mdns.ResponderConfig{Host: "conf", AnnounceCount: 2}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	started := time.Now()
	if _, err := s.Register(mdns.Service{Instance: "conf web", Type: "_http._tcp", Port: 80,
		Text: []mdns.TXTItem{{Key: "path", Value: []byte("/"), HasValue: true}}}); err != nil {
		t.Fatal(err)
	}
	const shared = 8 // service types, each a shared PTR record to time
	for i := range shared {
		if _, err := s.Register(mdns.Service{Instance: "conf", Type: fmt.Sprintf("_conf%d._tcp", i), Port: 1}); err != nil {
			t.Fatal(err)
		}
	}
	registered(t, s, shared+2)

	// Announcing: the second announcement of the SRV a second after the
	// first (±slack); everything probing and announcing is over by then.
	firstAnn := capt.wait(t, "first announcement of "+web, started, 5*time.Second, func(p captured) bool {
		m := parsed(t, p)
		_, ok := hasAnswer(m, web, dnsmessage.TypeSRV)
		return fromDUT(p) && m.Response && ok && p.dst.Addr().Is4()
	})
	secondAnn := capt.wait(t, "second announcement of "+web, firstAnn.at.Add(time.Millisecond), 3*time.Second, func(p captured) bool {
		m := parsed(t, p)
		_, ok := hasAnswer(m, web, dnsmessage.TypeSRV)
		return fromDUT(p) && m.Response && ok && p.dst.Addr().Is4()
	})
	if d := secondAnn.at.Sub(firstAnn.at); d < time.Second-earlySlack || d > time.Second+lateSlack {
		t.Errorf("announcements %v apart; want 1s", d)
	}

	t.Run("probes", func(t *testing.T) {
		for _, name := range []string{host, web} {
			for _, v6 := range []bool{false, true} {
				var probes []captured
				for _, p := range capt.packets() {
					if fromDUT(p) && p.dst.Addr().Is6() == v6 && !p.at.After(firstAnn.at) && isProbeFor(name)(parsed(t, p)) {
						probes = append(probes, p)
					}
				}
				if len(probes) != 3 {
					t.Errorf("%s (IPv6 %v): %d probes before the announcement; want 3: %v", name, v6, len(probes), probes)
					continue
				}
				for i := 1; i < 3; i++ {
					if d := probes[i].at.Sub(probes[i-1].at); d < 250*time.Millisecond-earlySlack || d > 250*time.Millisecond+lateSlack {
						t.Errorf("%s (IPv6 %v): probes %d and %d %v apart; want 250ms", name, v6, i, i+1, d)
					}
				}
				m := parsed(t, probes[0])
				var auth []dnsmessage.Type
				for _, r := range m.Authorities {
					if strings.EqualFold(r.Name, name) {
						auth = append(auth, r.Type)
						if r.CacheFlush {
							t.Errorf("%s: probe's authority record %v has the cache-flush bit", name, r.Type)
						}
					}
				}
				want := []dnsmessage.Type{dnsmessage.TypeSRV, dnsmessage.TypeTXT}
				if name == host {
					want = []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
				}
				for _, w := range want {
					if !slices.Contains(auth, w) {
						t.Errorf("%s: probe proposes %v in its authority section; want %v among them", name, auth, w)
					}
				}
			}
		}
	})

	t.Run("announcements carry cache-flush on unique records only", func(t *testing.T) {
		m := parsed(t, firstAnn)
		if m.ID != 0 || !m.Authoritative || len(m.Questions) != 0 {
			t.Errorf("announcement header ID %d AA %v, %d questions; want ID 0, AA, no question", m.ID, m.Authoritative, len(m.Questions))
		}
		for _, r := range slices.Concat(m.Answers, m.Additionals) {
			unique := r.Type != dnsmessage.TypePTR
			if r.CacheFlush != unique {
				t.Errorf("announced %s %v with cache-flush %v; want %v", r.Name, r.Type, r.CacheFlush, unique)
			}
		}
	})

	// Queries from the tester, each for a record not sent for over a
	// second (RFC 6762 §6 lets a record go out once a second per link):
	// every name probes from its own random start, so the host's and the
	// other services' announcements may end up to 250 ms after these.
	for range 10 {
		var last time.Time
		for _, p := range capt.packets() {
			if fromDUT(p) && parsed(t, p).Response && p.at.After(last) {
				last = p.at
			}
		}
		if wait := time.Until(last.Add(1100 * time.Millisecond)); wait > 0 {
			time.Sleep(wait)
			continue
		}
		break
	}
	query := func(name string, typ dnsmessage.Type, known ...mdns.Record) *mdns.Message {
		return &mdns.Message{Questions: []mdns.Question{{Name: name, Type: typ, Class: dnsmessage.ClassINET}}, Answers: known}
	}
	// answerDelay sends q and returns the time from the captured query to
	// the captured response answering name/typ, or fails after wait.
	answerDelay := func(t *testing.T, q *mdns.Message, name string, typ dnsmessage.Type, wait time.Duration) (time.Duration, *mdns.Message) {
		t.Helper()
		sent := tt.send(t, q, false)
		qp := capt.wait(t, fmt.Sprintf("query for %s %v", name, typ), sent.Add(-time.Second), time.Second, func(p captured) bool {
			m := parsed(t, p)
			return p.src.Addr() == tst.Addr4() && !m.Response && len(m.Questions) == 1 && m.Questions[0].Name == name && m.Questions[0].Type == typ
		})
		rp := capt.wait(t, fmt.Sprintf("answer for %s %v", name, typ), qp.at, wait, func(p captured) bool {
			m := parsed(t, p)
			_, ok := hasAnswer(m, name, typ)
			return fromDUT(p) && m.Response && ok
		})
		return rp.at.Sub(qp.at), parsed(t, rp)
	}

	t.Run("unique answers within 10ms", func(t *testing.T) {
		for _, q := range []struct {
			name string
			typ  dnsmessage.Type
		}{{host, dnsmessage.TypeA}, {web, dnsmessage.TypeSRV}, {web, dnsmessage.TypeTXT}} {
			d, m := answerDelay(t, query(q.name, q.typ), q.name, q.typ, time.Second)
			t.Logf("%s %v answered after %v", q.name, q.typ, d)
			if d > 10*time.Millisecond+lateSlack {
				t.Errorf("%s %v answered after %v; want within 10ms", q.name, q.typ, d)
			}
			if r, _ := hasAnswer(m, q.name, q.typ); !r.CacheFlush {
				t.Errorf("answer %s %v without the cache-flush bit", q.name, q.typ)
			}
			time.Sleep(150 * time.Millisecond)
		}
	})

	t.Run("shared answers after 20-120ms", func(t *testing.T) {
		var ds []time.Duration
		for i := range shared {
			name := fmt.Sprintf("_conf%d._tcp.local.", i)
			d, m := answerDelay(t, query(name, dnsmessage.TypePTR), name, dnsmessage.TypePTR, time.Second)
			ds = append(ds, d)
			if r, _ := hasAnswer(m, name, dnsmessage.TypePTR); r.CacheFlush {
				t.Errorf("shared answer %s PTR with the cache-flush bit", name)
			}
			if _, ok := func() (mdns.Record, bool) {
				for _, r := range m.Additionals {
					if r.Type == dnsmessage.TypeSRV {
						return r, true
					}
				}
				return mdns.Record{}, false
			}(); !ok {
				t.Errorf("PTR answer for %s without the instance's SRV as an additional record", name)
			}
			time.Sleep(150 * time.Millisecond)
		}
		t.Logf("shared answers after %v", ds)
		for _, d := range ds {
			if d < 20*time.Millisecond || d > 120*time.Millisecond+lateSlack {
				t.Errorf("a shared answer after %v; want 20-120ms", d)
			}
		}
		if span := slices.Max(ds) - slices.Min(ds); span < 10*time.Millisecond {
			t.Errorf("shared answer delays %v span %v; want them spread over 20-120ms", ds, span)
		}
	})

	ptrRec := func(ttl uint32) mdns.Record {
		return mdns.Record{Name: "_http._tcp.local.", Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, TTL: ttl, Target: web}
	}
	noAnswer := func(t *testing.T, since time.Time, name string, typ dnsmessage.Type, wait time.Duration) {
		t.Helper()
		time.Sleep(wait)
		for _, p := range capt.packets() {
			if !p.at.Before(since) && fromDUT(p) {
				if m := parsed(t, p); m.Response {
					if _, ok := hasAnswer(m, name, typ); ok {
						t.Errorf("answered %s %v at %v despite the known answer", name, typ, p)
					}
				}
			}
		}
	}
	t.Run("known answers", func(t *testing.T) {
		// With at least half our TTL (4500 s) known, no answer.
		sent := tt.send(t, query("_http._tcp.local.", dnsmessage.TypePTR, ptrRec(2250)), false)
		noAnswer(t, sent.Add(-50*time.Millisecond), "_http._tcp.local.", dnsmessage.TypePTR, time.Second)
		// With less than half, an answer.
		d, _ := answerDelay(t, query("_http._tcp.local.", dnsmessage.TypePTR, ptrRec(2249)), "_http._tcp.local.", dnsmessage.TypePTR, time.Second)
		t.Logf("answered after %v with the known answer's TTL under half", d)
		time.Sleep(1100 * time.Millisecond)
		// Over two packets: the question with TC, the known answer in a
		// second packet (RFC 6762 §7.2).
		q := query("_http._tcp.local.", dnsmessage.TypePTR)
		q.Truncated = true
		sent = tt.send(t, q, false)
		tt.send(t, &mdns.Message{Answers: []mdns.Record{ptrRec(4500)}}, false)
		noAnswer(t, sent.Add(-50*time.Millisecond), "_http._tcp.local.", dnsmessage.TypePTR, time.Second)
	})

	t.Run("legacy unicast reply", func(t *testing.T) {
		q := query(web, dnsmessage.TypeSRV)
		q.ID = 0x1234
		sent := tt.send(t, q, true)
		port := tt.eph.LocalPort()
		p := capt.wait(t, "legacy reply", sent.Add(-50*time.Millisecond), time.Second, func(p captured) bool {
			return fromDUT(p) && p.dst == netip.AddrPortFrom(tst.Addr4(), port)
		})
		m := parsed(t, p)
		if m.ID != 0x1234 || len(m.Questions) != 1 || m.Questions[0].Name != web {
			t.Errorf("legacy reply ID %#x questions %+v; want ID 0x1234 and the question", m.ID, m.Questions)
		}
		if _, ok := hasAnswer(m, web, dnsmessage.TypeSRV); !ok {
			t.Errorf("legacy reply %+v without the SRV", m.Answers)
		}
		for _, r := range slices.Concat(m.Answers, m.Additionals) {
			if r.CacheFlush || r.TTL > 10 {
				t.Errorf("legacy reply record %s %v: cache-flush %v, TTL %d; want no cache-flush, TTL at most 10", r.Name, r.Type, r.CacheFlush, r.TTL)
			}
		}
	})

	t.Run("simultaneous probe tie-break", func(t *testing.T) {
		// Ours proposes SRV and TXT "\x03a=1"; records compare by class,
		// type, then rdata (RFC 6762 §8.2), so TXT decides: "\x010" is
		// earlier (we win), "\x08zzzzzzzz" later (we lose, wait a second,
		// probe again; the other host says nothing more, so we keep the
		// name).
		for _, tc := range []struct {
			instance, theirs string
			win              bool
		}{{"tie win", "0", true}, {"tie lose", "zzzzzzzz", false}} {
			name := tc.instance + "._tie._tcp.local."
			since := time.Now()
			if _, err := s.Register(mdns.Service{Instance: tc.instance, Type: "_tie._tcp", Port: 9,
				Text: []mdns.TXTItem{{Key: "a", Value: []byte("1"), HasValue: true}}}); err != nil {
				t.Fatal(err)
			}
			first := capt.wait(t, "first probe for "+name, since, 2*time.Second, func(p captured) bool {
				return fromDUT(p) && p.dst.Addr().Is4() && isProbeFor(name)(parsed(t, p))
			})
			tt.send(t, &mdns.Message{
				Questions:   []mdns.Question{{Name: name, Type: dnsmessage.TypeALL, Class: dnsmessage.ClassINET}},
				Authorities: []mdns.Record{{Name: name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET, TTL: 4500, Text: []string{tc.theirs}}},
			}, false)
			ann := capt.wait(t, "announcement of "+name, first.at, 5*time.Second, func(p captured) bool {
				m := parsed(t, p)
				_, ok := hasAnswer(m, name, dnsmessage.TypeSRV)
				return fromDUT(p) && p.dst.Addr().Is4() && m.Response && ok
			})
			var probes []time.Time
			for _, p := range capt.packets() {
				if !p.at.Before(first.at) && p.at.Before(ann.at) && fromDUT(p) && p.dst.Addr().Is4() && isProbeFor(name)(parsed(t, p)) {
					probes = append(probes, p.at)
				}
			}
			var gaps []time.Duration
			for i := 1; i < len(probes); i++ {
				gaps = append(gaps, probes[i].Sub(probes[i-1]))
			}
			t.Logf("%s: probes %v apart", tc.instance, gaps)
			if tc.win {
				if len(probes) != 3 || slices.Max(gaps) > 250*time.Millisecond+lateSlack {
					t.Errorf("%s: probes %v apart; want 3 probes 250ms apart (we win the tie-break and go on)", tc.instance, gaps)
				}
			} else if len(probes) < 4 || slices.Max(gaps) < time.Second-earlySlack {
				t.Errorf("%s: probes %v apart; want a pause of at least 1s and probing again (we lose the tie-break)", tc.instance, gaps)
			}
		}
		if st := s.Stats(); st.ProbeTiesLost != 1 {
			t.Errorf("ProbeTiesLost %d; want 1", st.ProbeTiesLost)
		}
	})

	t.Run("goodbye on rename", func(t *testing.T) {
		// Another host claims the announced name: we probe again (§9);
		// it answers during our probing: we rename, and say goodbye for
		// what went out under the old name.
		claim := func() {
			tt.send(t, &mdns.Message{Response: true, Authoritative: true, Answers: []mdns.Record{{Name: web, Type: dnsmessage.TypeSRV,
				Class: dnsmessage.ClassINET, CacheFlush: true, TTL: 120, Port: 1, Target: "thief.local."}}}, false)
		}
		since := time.Now()
		claim()
		capt.wait(t, "a new probe for "+web, since, 2*time.Second, func(p captured) bool {
			return fromDUT(p) && isProbeFor(web)(parsed(t, p))
		})
		claim()
		bye := capt.wait(t, "goodbye for "+web, since, 2*time.Second, func(p captured) bool {
			m := parsed(t, p)
			r, ok := hasAnswer(m, web, dnsmessage.TypeSRV)
			return fromDUT(p) && m.Response && ok && r.TTL == 0
		})
		for _, r := range parsed(t, bye).Answers {
			if r.CacheFlush || r.TTL != 0 {
				t.Errorf("goodbye record %s %v: TTL %d cache-flush %v; want TTL 0, no cache-flush", r.Name, r.Type, r.TTL, r.CacheFlush)
			}
		}
		capt.wait(t, "a probe for the new name", bye.at, 2*time.Second, func(p captured) bool {
			return fromDUT(p) && isProbeFor("conf web (2)._http._tcp.local.")(parsed(t, p))
		})
	})

	t.Run("IP TTL 255", func(t *testing.T) {
		n := 0
		for _, p := range capt.packets() {
			if fromDUT(p) {
				n++
				if p.ttl != 255 {
					t.Errorf("%v: IP TTL %d; want 255", p, p.ttl)
				}
			}
		}
		if n == 0 {
			t.Error("no packet from the responder captured")
		}
	})
}
