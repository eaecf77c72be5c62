package mdns

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func seedPackets(f *testing.F) {
	f.Helper()
	for _, m := range []*Message{
		sampleMessage(),
		resolvedResponse("a=1", "b"),
		query(qn(svcName, dnsmessage.TypePTR)),
		{Truncated: true, Questions: []Question{qn(webInst, dnsmessage.TypeALL)}, Authorities: []Record{srv(webInst, "x.local.", 1, 120)}},
		{ID: 7, Questions: []Question{{Name: "myhost.local.", Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, QU: true}}},
		response(addr("myhost.local.", "10.0.0.9", 0), ptr(ServicesName, svcName, 4500)),
	} {
		b, err := m.AppendPack(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(5353), uint8(0))
		f.Add(b, uint16(40000), uint8(1))
	}
}

// FuzzCodec: any bytes either fail to parse or give a message that packs
// again, and parses to the same thing.
func FuzzCodec(f *testing.F) {
	seedPackets(f)
	f.Fuzz(func(t *testing.T, b []byte, _ uint16, _ uint8) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		m.Skipped = 0
		out, err := m.AppendPack(nil)
		if err != nil {
			// Parsed names are always packable; other failures are
			// records this package refuses to build (an A record whose
			// data is not 4 bytes cannot come out of the parser).
			for _, sec := range [][]Record{m.Answers, m.Authorities, m.Additionals} {
				for _, r := range sec {
					if r.Type == dnsmessage.TypeA && !r.Addr.Is4() || r.Type == dnsmessage.TypeAAAA && !r.Addr.Is6() {
						t.Fatalf("parser produced %+v", r)
					}
				}
			}
			return
		}
		m2, err := ParseMessage(out)
		if err != nil {
			t.Fatalf("repacked message does not parse: %v", err)
		}
		if len(m2.Questions) != len(m.Questions) || len(m2.Answers) != len(m.Answers) ||
			len(m2.Authorities) != len(m.Authorities) || len(m2.Additionals) != len(m.Additionals) {
			t.Fatalf("round trip changed section sizes: %+v -> %+v", m, m2)
		}
		for i := range m.Answers {
			if m.Answers[i].key() != m2.Answers[i].key() {
				t.Fatalf("answer %d changed: %+v -> %+v", i, m.Answers[i], m2.Answers[i])
			}
		}
	})
}

// drive feeds a packet to an engine at three instants and runs it a
// while, so the packet's effects on timers are exercised too.
func fuzzDrive(t *testing.T, e engine, feed func(time.Time)) {
	now := t0.Add(3 * time.Second)
	for i := range 3 {
		feed(now)
		e.Poll(now)
		now = now.Add(time.Duration(i+1) * 300 * time.Millisecond)
	}
	for i := 0; i < 200; i++ {
		d := e.NextDeadline()
		if d.IsZero() || d.After(t0.Add(2*time.Hour)) {
			break
		}
		if d.After(now) {
			now = d
		}
		for _, o := range e.Poll(now) {
			if _, err := ParseMessage(o.Payload); err != nil {
				t.Fatalf("engine sent an unparsable packet: %v", err)
			}
		}
	}
}

func fuzzPacket(b []byte, port uint16, flags uint8) Packet {
	src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), port)
	if flags&2 != 0 {
		src = netip.AddrPortFrom(netip.MustParseAddr("fe80::9"), port)
	}
	dst := IPv4Group.Addr()
	if flags&1 != 0 {
		dst = netip.MustParseAddr("10.0.0.1")
	}
	return Packet{Payload: b, IfIndex: 2, Src: src, Dst: dst, TTL: 255}
}

// FuzzQuerier: arbitrary packets never panic a querier that browses,
// resolves and looks up, and its memory stays within its bounds.
func FuzzQuerier(f *testing.F) {
	seedPackets(f)
	f.Fuzz(func(t *testing.T, b []byte, port uint16, flags uint8) {
		q := NewQuerier(QuerierConfig{Rand: seeded(), MaxRecords: 64, MaxInstances: 8})
		q.UpdateInterface(t0, eth(2, "eth0", "10.0.0.1/24", "fe80::1/64"))
		q.Browse(t0, "_http._tcp", "", 0)
		q.BrowseTypes(t0, 0)
		q.LookupHost(t0, "myhost", true, 0)
		q.Resolve(t0, "Web", "_http._tcp", true, 0)
		q.Poll(t0)
		fuzzDrive(t, q, func(now time.Time) { q.HandlePacket(now, fuzzPacket(b, port, flags)) })
		if s := q.Stats(); s.CacheRecords > 64 {
			t.Fatalf("cache holds %d records; bound 64", s.CacheRecords)
		}
		tracked := 0
		for _, s := range q.subs {
			tracked += len(s.views)
		}
		if tracked > 8 {
			t.Fatalf("%d views tracked; bound 8", tracked)
		}
	})
}

// FuzzResponder: arbitrary packets never panic a responder, whatever
// state it is in, and every packet it sends parses.
func FuzzResponder(f *testing.F) {
	seedPackets(f)
	f.Fuzz(func(t *testing.T, b []byte, port uint16, flags uint8) {
		r, err := NewResponder(ResponderConfig{Host: "myhost", Rand: seeded(), MaxUnicastSources: 4})
		if err != nil {
			t.Fatal(err)
		}
		r.UpdateInterface(t0, eth(2, "eth0", "10.0.0.1/24", "fe80::1/64"))
		r.Register(t0, webService())
		now := t0
		// Half the runs feed packets while probing, half once announced.
		if flags&4 != 0 {
			for i := 0; i < 100; i++ {
				r.Poll(now)
				if d := r.NextDeadline(); !d.IsZero() {
					now = d
				}
			}
		}
		fuzzDrive(t, r, func(at time.Time) { r.HandlePacket(at, fuzzPacket(b, port, flags)) })
		if n := r.limiter.Len(); n > 4 {
			t.Fatalf("unicast limiter holds %d sources; bound 4", n)
		}
	})
}
