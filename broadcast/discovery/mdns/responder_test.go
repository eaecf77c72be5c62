package mdns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const webInst = "Web._http._tcp.local."

func newTestResponder(t *testing.T, cfg ResponderConfig, ifcs ...Interface) *Responder {
	t.Helper()
	cfg.Rand = seeded()
	if cfg.Host == "" {
		cfg.Host = "myhost"
	}
	r, err := NewResponder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifcs {
		r.UpdateInterface(t0, ifc)
	}
	return r
}

func webService() Service {
	return Service{Instance: "Web", Type: "_http._tcp", Port: 8080, Text: []TXTItem{{Key: "path", Value: []byte("/"), HasValue: true}}}
}

// settled returns a responder on eth0 (10.0.0.1/24) with the web service,
// run until its announcements are over.
func settled(t *testing.T, ifcs ...Interface) (*Responder, time.Time) {
	t.Helper()
	if len(ifcs) == 0 {
		ifcs = []Interface{eth(2, "eth0", "10.0.0.1/24")}
	}
	r := newTestResponder(t, ResponderConfig{}, ifcs...)
	if _, err := r.Register(t0, webService()); err != nil {
		t.Fatal(err)
	}
	now := t0
	run(t, r, &now, t0.Add(10*time.Second))
	r.Events()
	return r, now
}

func probes(s []sent) []sent {
	var out []sent
	for _, x := range s {
		if !x.msg.Response && len(x.msg.Authorities) > 0 {
			out = append(out, x)
		}
	}
	return out
}

func responses(s []sent) []sent {
	var out []sent
	for _, x := range s {
		if x.msg.Response {
			out = append(out, x)
		}
	}
	return out
}

func query(qs ...Question) *Message { return &Message{Questions: qs} }

func qn(name string, typ dnsmessage.Type) Question {
	return Question{Name: name, Type: typ, Class: dnsmessage.ClassINET}
}

func names(recs []Record) []string {
	var out []string
	for _, r := range recs {
		s := fmt.Sprintf("%s %v", r.Name, r.Type)
		if r.Type == TypeNSEC {
			s = r.Name + " NSEC"
		}
		switch r.Type {
		case dnsmessage.TypePTR:
			s += " " + r.Target
		case dnsmessage.TypeA, dnsmessage.TypeAAAA:
			s += " " + r.Addr.String()
		}
		out = append(out, s)
	}
	return out
}

func TestResponderProbes(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	r.Register(t0, webService())
	now := t0
	got := probes(run(t, r, &now, t0.Add(3*time.Second)))
	for _, name := range []string{"myhost.local.", webInst} {
		var ps []sent
		for _, x := range got {
			if x.msg.Questions[0].Name == name || len(x.msg.Questions) > 1 && x.msg.Questions[1].Name == name {
				ps = append(ps, x)
			}
		}
		if len(ps) != 3 {
			t.Fatalf("%s: %d probes; want 3", name, len(ps))
		}
		if d := ps[0].at.Sub(t0); d > 250*time.Millisecond {
			t.Errorf("%s: first probe after %v; want at most 250ms", name, d)
		}
		for i := 1; i < 3; i++ {
			if gap := ps[i].at.Sub(ps[i-1].at); gap != 250*time.Millisecond {
				t.Errorf("%s: probe %d after %v; want 250ms", name, i, gap)
			}
		}
		for _, p := range ps {
			for _, q := range p.msg.Questions {
				if q.Type != dnsmessage.TypeALL || q.QU {
					t.Errorf("probe question %+v; want type ANY, QM", q)
				}
			}
			for _, a := range p.msg.Authorities {
				if a.CacheFlush {
					t.Errorf("probe authority record %v with cache-flush bit", a)
				}
			}
			if len(p.msg.Answers) != 0 || p.out.Dst != IPv4Group {
				t.Errorf("probe %+v to %v; want no answers, to the group", p.msg, p.out.Dst)
			}
		}
	}
	ev := r.Events()
	if len(ev) != 2 || ev[0].Kind != Registered || ev[1].Kind != Registered {
		t.Errorf("events %+v; want the host and the service registered", ev)
	}
}

func TestResponderProbeAuthority(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24", "fe80::1/64"))
	now := t0
	got := probes(run(t, r, &now, t0.Add(200*time.Millisecond)))
	if len(got) != 2 { // one per family
		t.Fatalf("got %d probe packets; want 2", len(got))
	}
	want := []string{"myhost.local. TypeA 10.0.0.1", "myhost.local. TypeAAAA fe80::1"}
	if g := names(got[0].msg.Authorities); !slices.Equal(g, want) {
		t.Errorf("authority %q; want %q", g, want)
	}
}

func announcements(s []sent) []sent {
	var out []sent
	for _, x := range responses(s) {
		if x.out.Dst == IPv4Group {
			out = append(out, x)
		}
	}
	return out
}

func TestResponderAnnounceSequence(t *testing.T) {
	for _, count := range []int{2, 3, 5, 10} {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			r := newTestResponder(t, ResponderConfig{AnnounceCount: count}, eth(2, "eth0", "10.0.0.1/24"))
			now := t0
			all := run(t, r, &now, t0.Add(20*time.Minute))
			ps, an := probes(all), announcements(all)
			if len(an) != count {
				t.Fatalf("%d announcements; want %d", len(an), count)
			}
			if d := an[0].at.Sub(ps[2].at); d != 250*time.Millisecond {
				t.Errorf("first announcement %v after the third probe; want 250ms", d)
			}
			want := time.Second
			for i := 1; i < len(an); i++ {
				if gap := an[i].at.Sub(an[i-1].at); gap != want {
					t.Errorf("announcement %d after %v; want %v", i, gap, want)
				}
				want *= 2
			}
			for _, a := range an {
				if a.msg.ID != 0 || len(a.msg.Questions) != 0 || len(a.msg.Answers) == 0 || !a.msg.Authoritative {
					t.Errorf("announcement %+v: want ID 0, AA, no questions, answers", a.msg)
				}
				for _, rec := range a.msg.Answers {
					if !rec.CacheFlush || rec.TTL != hostTTL {
						t.Errorf("host record %+v: want cache-flush, TTL 120", rec)
					}
				}
			}
		})
	}
	if _, err := NewResponder(ResponderConfig{Host: "h", AnnounceCount: 11}); err == nil {
		t.Errorf("AnnounceCount 11: no error")
	}
}

func TestResponderServiceRecords(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	s := webService()
	s.Subtypes = []string{"_printer"}
	r.Register(t0, s)
	now := t0
	var got []string
	for _, a := range announcements(run(t, r, &now, t0.Add(2*time.Second))) {
		for _, rec := range a.msg.Answers {
			got = append(got, fmt.Sprintf("%s %v flush=%v ttl=%d", rec.Name, rec.Type, rec.CacheFlush, rec.TTL))
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	want := []string{
		"Web._http._tcp.local. TypeSRV flush=true ttl=120",
		"Web._http._tcp.local. TypeTXT flush=true ttl=4500",
		"_http._tcp.local. TypePTR flush=false ttl=4500",
		"_printer._sub._http._tcp.local. TypePTR flush=false ttl=4500",
		"_services._dns-sd._udp.local. TypePTR flush=false ttl=4500",
		"myhost.local. TypeA flush=true ttl=120",
	}
	if !slices.Equal(got, want) {
		t.Errorf("announced\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestResponderTieBreak(t *testing.T) {
	for _, tt := range []struct {
		name  string
		their string
		lose  bool
	}{
		{"we lose to a later address", "10.0.0.2", true},
		{"we win over an earlier address", "10.0.0.0", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24"))
			now := t0
			first := probes(run(t, r, &now, t0.Add(300*time.Millisecond)))
			if len(first) == 0 {
				t.Fatal("no probe")
			}
			probe := &Message{Questions: []Question{qn("myhost.local.", dnsmessage.TypeALL)},
				Authorities: []Record{addr("myhost.local.", tt.their, 120)}}
			probe.Authorities[0].CacheFlush = false
			at := now
			r.HandlePacket(now, fromPeer(t, 2, tt.their+":5353", probe))
			all := run(t, r, &now, t0.Add(5*time.Second))
			ps := probes(all)
			if tt.lose {
				if len(ps) != 3 || ps[0].at.Sub(at) < time.Second {
					t.Fatalf("after losing: probes at %v; want 3 again, starting a second later (%v)", durations(ps), at.Add(time.Second).Sub(t0))
				}
			} else if len(ps)+len(first) != 3 {
				t.Fatalf("after winning: %d probes in all; want 3", len(ps)+len(first))
			}
			if ev := r.Events(); len(ev) != 1 || ev[0].Kind != Registered || ev[0].Name != "myhost" {
				t.Errorf("events %+v; want registered under the same name", ev)
			}
			if st := r.Stats(); (st.ProbeTiesLost == 1) != tt.lose {
				t.Errorf("ProbeTiesLost = %d", st.ProbeTiesLost)
			}
		})
	}
}

// Our own probe, looped back by the kernel, is no tie to break.
func TestResponderOwnProbe(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24"), eth(3, "eth1", "10.0.0.2/24"))
	now := t0
	for i := 0; i < 100 && now.Before(t0.Add(3*time.Second)); i++ {
		for _, o := range r.Poll(now) {
			// Deliver every packet back on both interfaces, as two
			// interfaces on one link would hear it.
			for _, idx := range []int{2, 3} {
				src := "10.0.0.1:5353"
				if o.IfIndex == 3 {
					src = "10.0.0.2:5353"
				}
				r.HandlePacket(now, Packet{Payload: o.Payload, IfIndex: idx, Src: netip.MustParseAddrPort(src), Dst: IPv4Group.Addr(), TTL: 255})
			}
		}
		now = r.NextDeadline()
		if now.IsZero() {
			break
		}
	}
	st := r.Stats()
	if st.ProbeTiesLost != 0 || st.Conflicts != 0 {
		t.Errorf("stats %+v; want no tie lost and no conflict from our own packets", st)
	}
	for _, ev := range r.Events() {
		if ev.Kind == Renamed {
			t.Errorf("renamed by our own packets: %+v", ev)
		}
	}
}

func TestResponderRenameSequence(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	id, _ := r.Register(t0, webService())
	now := t0
	wantNames := []string{"Web (2)", "Web (3)", "Web (4)"}
	for i, want := range wantNames {
		run(t, r, &now, now.Add(300*time.Millisecond))
		cur, _ := r.Name(id)
		other := srv(cur+"._http._tcp.local.", "other.local.", 80, 120)
		r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(other)))
		var ren []ResponderEvent
		for _, ev := range r.Events() {
			if ev.Kind == Renamed {
				ren = append(ren, ev)
			}
		}
		if len(ren) != 1 || ren[0].Name != want || ren[0].Service != id {
			t.Fatalf("conflict %d: events %+v; want renamed to %q", i, ren, want)
		}
	}
	host := r.host
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(addr("myhost.local.", "10.0.0.9", 120))))
	if host.label != "myhost-2" {
		t.Errorf("host after a conflict while probing: %q; want myhost-2", host.label)
	}
	// The last name sticks: probes, then announcements under it.
	all := run(t, r, &now, now.Add(5*time.Second))
	var registered []string
	for _, ev := range r.Events() {
		if ev.Kind == Registered {
			registered = append(registered, ev.Name)
		}
	}
	slices.Sort(registered)
	if !slices.Equal(registered, []string{"Web (4)", "myhost-2"}) {
		t.Errorf("registered %q; want Web (4) and myhost-2", registered)
	}
	for _, a := range announcements(all) {
		for _, rec := range a.msg.Answers {
			if rec.Type == dnsmessage.TypeSRV && rec.Target != "myhost-2.local." {
				t.Errorf("SRV %+v; want target myhost-2.local.", rec)
			}
		}
	}
}

func TestResponderConflictAfterAnnouncing(t *testing.T) {
	r, now := settled(t)
	theirs := srv(webInst, "other.local.", 80, 120)
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(theirs)))
	got := run(t, r, &now, now.Add(2*time.Second))
	if ps := probes(got); len(ps) != 3 || ps[0].msg.Questions[0].Name != webInst {
		t.Fatalf("after a conflict with an announced name: %d probes; want 3 for %s under the same name", len(ps), webInst)
	}
	if ev := r.Events(); len(ev) != 1 || ev[0].Kind != Registered || ev[0].Name != "Web" {
		t.Fatalf("events %+v; want registered again as Web", ev)
	}
	// The other host defends while we probe again: now we rename.
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(theirs)))
	run(t, r, &now, now.Add(300*time.Millisecond))
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(theirs)))
	if ren := r.Events(); len(ren) != 1 || ren[0].Kind != Renamed || ren[0].Name != "Web (2)" {
		t.Fatalf("events %+v; want renamed to Web (2)", ren)
	}
}

func TestResponderGoodbyeOnRename(t *testing.T) {
	r, now := settled(t)
	theirs := srv(webInst, "other.local.", 80, 120)
	// A conflict with the announced name sends us back to probing (§9);
	// the other host's answer during probing makes us rename. Our records
	// went out under the old name and sit in caches although we were
	// probing again: the rename says goodbye for them, except the shared
	// PTR naming the contested instance and a TXT equal to the winner's.
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(theirs)))
	for _, s := range run(t, r, &now, now.Add(300*time.Millisecond)) {
		if len(s.msg.Answers) > 0 && s.msg.Answers[0].TTL == 0 {
			t.Fatalf("goodbye %+v on going back to probing; want none before the rename", s.msg.Answers)
		}
	}
	r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(theirs, txt(webInst, 4500, "path=/"))))
	if ev := r.Events(); len(ev) == 0 || ev[len(ev)-1].Kind != Renamed {
		t.Fatalf("events %+v; want a rename", ev)
	}
	var bye []string
	for _, o := range r.Poll(now) {
		m, _ := ParseMessage(o.Payload)
		for _, rec := range m.Answers {
			if rec.TTL != 0 || rec.CacheFlush {
				t.Errorf("goodbye record %+v; want TTL 0 without cache-flush", rec)
			}
			bye = append(bye, fmt.Sprint(rec.Name, " ", rec.Type))
		}
	}
	if want := []string{webInst + " TypeSRV"}; !slices.Equal(bye, want) {
		t.Errorf("goodbye on rename for %q; want %q (no shared PTR, no TXT equal to the winner's)", bye, want)
	}
	// Said once: a later rename of the new name, never announced, says
	// nothing of the old one.
	g := r.groups[1]
	r.rename(now, g)
	if out := r.Poll(now); len(out) != 0 {
		t.Errorf("second rename sent %d packets; want none (nothing announced under %q)", len(out), "Web (2)")
	}
}

func TestResponderConflictRateLimit(t *testing.T) {
	r := newTestResponder(t, ResponderConfig{}, eth(2, "eth0", "10.0.0.1/24"))
	now := t0
	for i := range 15 {
		run(t, r, &now, now.Add(300*time.Millisecond))
		r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", response(addr(r.host.name(), "10.0.0.9", 120))))
		if i < 14 {
			if d := r.NextDeadline().Sub(now); d > 250*time.Millisecond {
				t.Fatalf("after %d conflicts the next probe waits %v; want at most 250ms", i+1, d)
			}
		}
	}
	if d := r.NextDeadline().Sub(now); d != 5*time.Second {
		t.Errorf("after 15 conflicts in 10 s the next probe waits %v; want 5s", d)
	}
	if r.host.label != "myhost-16" {
		t.Errorf("host label %q; want myhost-16", r.host.label)
	}
}

func TestResponderResponseDelay(t *testing.T) {
	tests := []struct {
		name   string
		m      *Message
		lo, hi time.Duration
	}{
		{"unique, one question", query(qn(webInst, dnsmessage.TypeSRV)), 0, 0},
		{"shared", query(qn(svcName, dnsmessage.TypePTR)), 20 * time.Millisecond, 120 * time.Millisecond},
		{"unique, two questions", query(qn(webInst, dnsmessage.TypeSRV), qn(webInst, dnsmessage.TypeTXT)), 20 * time.Millisecond, 120 * time.Millisecond},
		{"TC", &Message{Truncated: true, Questions: []Question{qn(svcName, dnsmessage.TypePTR)}}, 400 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range 20 {
				r, now := settled(t)
				r.rnd = rand.New(rand.NewPCG(uint64(seed), 7))
				at := now
				r.HandlePacket(now, fromPeer(t, 2, "10.0.0.9:5353", tt.m))
				got := responses(run(t, r, &now, now.Add(time.Second)))
				if len(got) != 1 {
					t.Fatalf("seed %d: %d responses; want 1", seed, len(got))
				}
				if d := got[0].at.Sub(at); d < tt.lo || d > tt.hi {
					t.Errorf("seed %d: answered after %v; want %v-%v", seed, d, tt.lo, tt.hi)
				}
			}
		})
	}
}
