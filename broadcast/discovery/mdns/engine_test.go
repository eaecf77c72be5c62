package mdns

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

const upMulticast = net.FlagUp | net.FlagMulticast

func eth(index int, name string, addrs ...string) Interface {
	ifc := Interface{Index: index, Name: name, Flags: upMulticast}
	for _, a := range addrs {
		ifc.Addrs = append(ifc.Addrs, netip.MustParsePrefix(a))
	}
	return ifc
}

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// engine is what Querier and Responder share for driving.
type engine interface {
	Poll(now time.Time) []Output
	NextDeadline() time.Time
}

type sent struct {
	at  time.Time
	out Output
	msg *Message
}

// run drives e from *now to until, jumping from deadline to deadline as
// a link layer with one timer would, and returns what it sent.
func run(t *testing.T, e engine, now *time.Time, until time.Time) []sent {
	t.Helper()
	var got []sent
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatalf("engine still busy after 100000 steps at %v", now.Sub(t0))
		}
		for _, o := range e.Poll(*now) {
			m, err := ParseMessage(o.Payload)
			if err != nil {
				t.Fatalf("engine sent an unparsable packet: %v", err)
			}
			got = append(got, sent{*now, o, m})
		}
		d := e.NextDeadline()
		if d.IsZero() || d.After(until) {
			*now = until
			for _, o := range e.Poll(*now) {
				m, _ := ParseMessage(o.Payload)
				got = append(got, sent{*now, o, m})
			}
			return got
		}
		if d.Before(*now) {
			t.Fatalf("deadline %v is before now %v and Poll did not clear it", d.Sub(t0), now.Sub(t0))
		}
		if d.Equal(*now) {
			// Poll at this instant must have done the work.
			if e.NextDeadline().Equal(*now) {
				t.Fatalf("deadline stays at now (%v) after Poll", now.Sub(t0))
			}
		}
		*now = d
	}
}

func pack(t *testing.T, m *Message) []byte {
	t.Helper()
	b, err := m.AppendPack(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fromPeer(t *testing.T, ifindex int, src string, m *Message) Packet {
	t.Helper()
	return Packet{Payload: pack(t, m), IfIndex: ifindex, Src: netip.MustParseAddrPort(src), Dst: IPv4Group.Addr(), TTL: 255}
}

func rr(name string, typ dnsmessage.Type, ttl uint32, flush bool) Record {
	return Record{Name: name, Type: typ, Class: dnsmessage.ClassINET, TTL: ttl, CacheFlush: flush}
}

func ptr(name, target string, ttl uint32) Record {
	r := rr(name, dnsmessage.TypePTR, ttl, false)
	r.Target = target
	return r
}

func srv(name, target string, port uint16, ttl uint32) Record {
	r := rr(name, dnsmessage.TypeSRV, ttl, true)
	r.Target, r.Port = target, port
	return r
}

func txt(name string, ttl uint32, s ...string) Record {
	r := rr(name, dnsmessage.TypeTXT, ttl, true)
	r.Text = s
	return r
}

func addr(name, a string, ttl uint32) Record {
	ad := netip.MustParseAddr(a)
	typ := dnsmessage.TypeA
	if ad.Is6() {
		typ = dnsmessage.TypeAAAA
	}
	r := rr(name, typ, ttl, true)
	r.Addr = ad
	return r
}

func response(answers ...Record) *Message {
	return &Message{Response: true, Authoritative: true, Answers: answers}
}

func durations(s []sent) []time.Duration {
	var d []time.Duration
	for _, x := range s {
		d = append(d, x.at.Sub(t0))
	}
	return d
}
