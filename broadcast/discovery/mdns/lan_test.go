package mdns

import (
	"fmt"
	"github.com/bcastdev/bcast/broadcast/discovery/internal/sched"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// An in-memory LAN: nodes with one or more interfaces, each interface on
// one segment; what a node multicasts reaches every interface on the
// segment with an address of that family (its own included, as the
// kernel loops multicast back), and unicast reaches the interface that
// holds the address. One fake clock for everybody.

type node struct {
	q      *Querier
	r      *Responder
	ifaces []lanIface
}

type lanIface struct {
	seg int
	ifc Interface
}

type lan struct {
	t       *testing.T
	now     time.Time
	nodes   []*node
	packets int
}

func (l *lan) add(n *node) *node {
	for _, li := range n.ifaces {
		if n.q != nil {
			n.q.UpdateInterface(l.now, li.ifc)
		}
		if n.r != nil {
			n.r.UpdateInterface(l.now, li.ifc)
		}
	}
	l.nodes = append(l.nodes, n)
	return n
}

func (l *lan) engines(n *node) []engine {
	var e []engine
	if n.q != nil {
		e = append(e, n.q)
	}
	if n.r != nil {
		e = append(e, n.r)
	}
	return e
}

func srcAddr(ifc Interface, v6 bool) netip.Addr {
	for _, p := range ifc.Addrs {
		if p.Addr().Is6() == v6 {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

func (l *lan) deliver(from *node, o Output) {
	l.packets++
	var seg int
	var fromIfc Interface
	for _, li := range from.ifaces {
		if li.ifc.Index == o.IfIndex {
			seg, fromIfc = li.seg, li.ifc
		}
	}
	v6 := o.Dst.Addr().Is6()
	src := netip.AddrPortFrom(srcAddr(fromIfc, v6), Port)
	for _, n := range l.nodes {
		for _, li := range n.ifaces {
			if li.seg != seg || !li.ifc.hasFamily(v6) {
				continue
			}
			if !o.Dst.Addr().IsMulticast() && !slices.ContainsFunc(li.ifc.Addrs, func(p netip.Prefix) bool { return p.Addr() == o.Dst.Addr() }) {
				continue
			}
			p := Packet{Payload: o.Payload, IfIndex: li.ifc.Index, Src: src, Dst: o.Dst.Addr(), TTL: 255}
			if n.q != nil {
				n.q.HandlePacket(l.now, p)
			}
			if n.r != nil {
				n.r.HandlePacket(l.now, p)
			}
		}
	}
}

// run advances the LAN to until.
func (l *lan) run(until time.Time) {
	l.t.Helper()
	for step := 0; ; step++ {
		if step > 200000 {
			l.t.Fatalf("LAN still busy at %v", l.now.Sub(t0))
		}
		// Poll everyone until nothing more is sent at this instant.
		for round := 0; ; round++ {
			if round > 1000 {
				l.t.Fatalf("packets keep flowing at %v", l.now.Sub(t0))
			}
			sentAny := false
			for _, n := range l.nodes {
				for _, e := range l.engines(n) {
					for _, o := range e.Poll(l.now) {
						sentAny = true
						l.deliver(n, o)
					}
				}
			}
			if !sentAny {
				break
			}
		}
		var next time.Time
		for _, n := range l.nodes {
			for _, e := range l.engines(n) {
				next = sched.Earliest(next, e.NextDeadline())
			}
		}
		if next.IsZero() || next.After(until) {
			l.now = until
			return
		}
		if next.After(l.now) {
			l.now = next
		}
	}
}

func (l *lan) events(n *node) []Event { return n.q.Events() }

func newLAN(t *testing.T) *lan { return &lan{t: t, now: t0} }

func responderNode(t *testing.T, host string, seed uint64, ifs ...lanIface) *node {
	t.Helper()
	r, err := NewResponder(ResponderConfig{Host: host, Rand: rand.New(rand.NewPCG(seed, 1))})
	if err != nil {
		t.Fatal(err)
	}
	return &node{r: r, ifaces: ifs}
}

func querierNode(seed uint64, ifs ...lanIface) *node {
	return &node{q: NewQuerier(QuerierConfig{Rand: rand.New(rand.NewPCG(seed, 2))}), ifaces: ifs}
}

func on(seg int, ifc Interface) lanIface { return lanIface{seg, ifc} }

func kinds(ev []Event) []EventKind {
	var k []EventKind
	for _, e := range ev {
		k = append(k, e.Kind)
	}
	return k
}

func TestLANBrowseResolveChangeGoodbye(t *testing.T) {
	l := newLAN(t)
	a := l.add(responderNode(t, "alpha", 1, on(1, eth(2, "eth0", "10.0.0.1/24", "fe80::a/64"))))
	b := l.add(querierNode(2, on(1, eth(5, "lan0", "10.0.0.2/24", "fe80::b/64"))))
	id, err := a.r.Register(l.now, webService())
	if err != nil {
		t.Fatal(err)
	}
	l.run(t0.Add(2 * time.Second)) // the name is claimed and announced
	start := l.now
	if _, err := b.q.Browse(l.now, "_http._tcp", "", 0); err != nil {
		t.Fatal(err)
	}
	l.run(start.Add(500 * time.Millisecond))
	ev := l.events(b)
	if len(ev) != 1 || ev[0].Kind != Found {
		t.Fatalf("500ms after browsing: events %v; want found", kinds(ev))
	}
	e := ev[0]
	want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fe80::a%lan0")}
	if e.Instance != "Web" || e.Port != 8080 || e.Host != "alpha.local." || !slices.Equal(e.Addrs, want) || e.IfName != "lan0" ||
		len(e.Text) != 1 || e.Text[0].String() != "path=/" {
		t.Errorf("found %+v; want Web on alpha.local.:8080 at %v with path=/", e, want)
	}
	// A TXT change reaches the browser with the announcement.
	at := l.now
	a.r.SetText(l.now, id, []TXTItem{{Key: "path", Value: []byte("/v2"), HasValue: true}})
	l.run(at.Add(100 * time.Millisecond))
	ev = l.events(b)
	if len(ev) != 1 || ev[0].Kind != Changed || ev[0].Text[0].String() != "path=/v2" {
		t.Fatalf("after SetText: events %+v; want changed to path=/v2", ev)
	}
	// Goodbye: lost a second after, as avahi does.
	l.run(at.Add(10 * time.Second))
	l.events(b)
	at = l.now
	a.r.Close(l.now)
	l.run(at.Add(1100 * time.Millisecond))
	ev = l.events(b)
	if len(ev) != 1 || ev[0].Kind != Lost || ev[0].Name != webInst {
		t.Fatalf("1.1 s after Close: events %+v; want lost", ev)
	}
}

// A browser that starts first finds a service registered later, from
// its announcements; and the whole exchange stays small.
func TestLANAnnouncementsReachBrowser(t *testing.T) {
	l := newLAN(t)
	a := l.add(responderNode(t, "alpha", 1, on(1, eth(2, "eth0", "10.0.0.1/24"))))
	b := l.add(querierNode(2, on(1, eth(5, "lan0", "10.0.0.2/24"))))
	b.q.Browse(l.now, "_http._tcp", "", 0)
	l.run(t0.Add(5 * time.Second))
	before := l.packets
	at := l.now
	a.r.Register(l.now, webService())
	l.run(at.Add(time.Second))
	if ev := l.events(b); len(ev) != 1 || ev[0].Kind != Found {
		t.Fatalf("a second after registering: events %v; want found", kinds(ev))
	}
	if n := l.packets - before; n > 6 {
		t.Errorf("%d packets from registration to found; want at most 6 (3 probes, announcements)", n)
	}
}

func TestLANNameConflict(t *testing.T) {
	l := newLAN(t)
	a := l.add(responderNode(t, "alpha", 1, on(1, eth(2, "eth0", "10.0.0.1/24"))))
	c := l.add(responderNode(t, "alpha", 3, on(1, eth(2, "eth0", "10.0.0.3/24"))))
	b := l.add(querierNode(2, on(1, eth(5, "lan0", "10.0.0.2/24"))))
	a.r.Register(l.now, webService())
	c.r.Register(l.now, webService())
	b.q.Browse(l.now, "_http._tcp", "", 0)
	l.run(t0.Add(10 * time.Second))
	var renamed []string
	for _, n := range []*node{a, c} {
		for _, ev := range n.r.Events() {
			if ev.Kind == Renamed {
				renamed = append(renamed, ev.OldName+" -> "+ev.Name)
			}
		}
	}
	slices.Sort(renamed)
	if !slices.Equal(renamed, []string{"Web -> Web (2)", "alpha -> alpha-2"}) {
		t.Errorf("renames %q; want one host and one instance renamed", renamed)
	}
	found := map[string]string{}
	for _, ev := range l.events(b) {
		if ev.Kind == Found || ev.Kind == Changed {
			found[ev.Instance] = ev.Host + " " + ev.Addrs[0].String()
		}
	}
	if len(found) != 2 {
		t.Errorf("browser sees %v; want both instances resolvable", found)
	}
	an, _ := a.r.Name(1)
	cn, _ := c.r.Name(1)
	if an == cn {
		t.Errorf("both responders kept %q", an)
	}
}

// A host on two LANs tells each LAN its address there, and only that.
func TestLANTwoInterfaces(t *testing.T) {
	l := newLAN(t)
	a := l.add(responderNode(t, "alpha", 1,
		on(1, eth(2, "eth0", "10.0.0.1/24", "fe80::a/64")),
		on(2, eth(3, "eth1", "10.1.0.1/24", "fe80::1a/64"))))
	b1 := l.add(querierNode(2, on(1, eth(5, "lan0", "10.0.0.2/24"))))
	b2 := l.add(querierNode(3, on(2, eth(5, "lan0", "10.1.0.2/24", "fe80::2b/64"))))
	a.r.Register(l.now, webService())
	l.run(t0.Add(2 * time.Second))
	b1.q.Browse(l.now, "_http._tcp", "", 0)
	b2.q.Browse(l.now, "_http._tcp", "", 0)
	b1.q.LookupHost(l.now, "alpha", true, 0)
	l.run(l.now.Add(time.Second))
	var lists []string
	for i, n := range []*node{b1, b2} {
		for _, ev := range l.events(n) {
			lists = append(lists, fmt.Sprint("LAN ", i+1, ": ", ev.Addrs))
		}
	}
	slices.Sort(lists)
	// LAN 1 gets alpha's addresses on eth0 (its IPv6 link-local one too,
	// in IPv4 packets), for the instance and for the host lookup; LAN 2
	// those on eth1. Never one of the other LAN's.
	want := []string{"LAN 1: [10.0.0.1 fe80::a%lan0]", "LAN 1: [10.0.0.1 fe80::a%lan0]", "LAN 2: [10.1.0.1 fe80::1a%lan0]"}
	if !slices.Equal(lists, want) {
		t.Errorf("addresses seen %q; want %q", lists, want)
	}
	// An address added on eth1 is announced on LAN 2 only.
	a.r.UpdateInterface(l.now, eth(3, "eth1", "10.1.0.1/24", "10.1.0.5/24", "fe80::1a/64"))
	l.run(l.now.Add(500 * time.Millisecond))
	if ev := l.events(b2); len(ev) != 1 || ev[0].Kind != Changed || len(ev[0].Addrs) != 3 || ev[0].Addrs[1] != netip.MustParseAddr("10.1.0.5") {
		t.Errorf("LAN 2 after an address was added: %+v; want changed with 3 addresses", ev)
	}
	if ev := l.events(b1); len(ev) != 0 {
		t.Errorf("LAN 1 after an address was added on eth1: %+v; want nothing", ev)
	}
}
