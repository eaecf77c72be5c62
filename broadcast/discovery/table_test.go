package discovery

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
)

// clock is the injected time of a table test.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// obs builds an observation of m arriving on interface ifindex/ifname.
func obs(t *testing.T, m *Message, ifindex int, ifname string) *observation {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	o := &observation{src: netip.MustParseAddrPort("192.0.2.7:40000"),
		ifindex: ifindex, ifname: ifname, onLink: true}
	if err := o.v.parse(b); err != nil {
		t.Fatal(err)
	}
	return o
}

func rec(instance string, port uint16, ttl uint16, addrs ...string) *Message {
	m := &Message{Type: TypeAnnounce, TTL: ttl, Service: "printer", Instance: instance, Port: port}
	for _, a := range addrs {
		m.Addrs = append(m.Addrs, netip.MustParseAddr(a))
	}
	return m
}

// events drains the table's pending events.
func events(tb *table) []Event {
	var evs []Event
	for {
		ev, ok := tb.next()
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

func expectEvents(t *testing.T, tb *table, want ...string) []Event {
	t.Helper()
	evs := events(tb)
	var got []string
	for _, ev := range evs {
		s := ev.String()
		if ev.Goodbye {
			s += " (goodbye)"
		}
		got = append(got, s)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q; want %q", got, want)
	}
	return evs
}

func TestTableFoundRefreshExpire(t *testing.T) {
	tb := newTable(10)
	exp, ok := tb.observe(t0, obs(t, rec("a", 631, 15, "192.0.2.7"), 2, "eth0"))
	if !ok || !exp.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("observe = %v, %v; want %v, true", exp, ok, t0.Add(15*time.Second))
	}
	evs := expectEvents(t, tb, "found printer/a port 631 192.0.2.7")
	p := evs[0].Peer
	if !p.Seen.Equal(t0) || !p.Expires.Equal(exp) || !slices.Equal(p.Interfaces, []string{"eth0"}) ||
		p.Src != netip.MustParseAddrPort("192.0.2.7:40000") {
		t.Errorf("peer %+v", p)
	}

	// The same announcement 10 s later: a refresh, no event, later expiry.
	t1 := t0.Add(10 * time.Second)
	tb.observe(t1, obs(t, rec("a", 631, 15, "192.0.2.7"), 2, "eth0"))
	expectEvents(t, tb)
	if next := tb.expire(t1); !next.Equal(t1.Add(15 * time.Second)) {
		t.Fatalf("next expiry %v; want %v", next, t1.Add(15*time.Second))
	}

	// One nanosecond before the TTL runs out it is still there; at the TTL
	// it is gone.
	end := t1.Add(15 * time.Second)
	tb.expire(end.Add(-time.Nanosecond))
	expectEvents(t, tb)
	if n := len(tb.snapshot()); n != 1 {
		t.Fatalf("%d peers before expiry; want 1", n)
	}
	if next := tb.expire(end); !next.IsZero() {
		t.Errorf("next expiry %v with no peers; want zero", next)
	}
	expectEvents(t, tb, "lost printer/a port 631 192.0.2.7")
	if n := len(tb.snapshot()); n != 0 {
		t.Fatalf("%d peers after expiry; want 0", n)
	}
}

func TestTableUpdated(t *testing.T) {
	tb := newTable(10)
	tb.observe(t0, obs(t, rec("a", 631, 15, "192.0.2.7"), 2, "eth0"))
	expectEvents(t, tb, "found printer/a port 631 192.0.2.7")

	tb.observe(t0, obs(t, rec("a", 632, 15, "192.0.2.7"), 2, "eth0"))
	expectEvents(t, tb, "updated printer/a port 632 192.0.2.7")

	tb.observe(t0, obs(t, rec("a", 632, 15, "192.0.2.8"), 2, "eth0"))
	expectEvents(t, tb, "updated printer/a port 632 192.0.2.8")

	m := rec("a", 632, 15, "192.0.2.8")
	m.Text = map[string]string{"k": "v"}
	tb.observe(t0, obs(t, m, 2, "eth0"))
	evs := expectEvents(t, tb, "updated printer/a port 632 192.0.2.8")
	if evs[0].Peer.Text["k"] != "v" {
		t.Errorf("text %v; want k=v", evs[0].Peer.Text)
	}
	// The reader owns its copy of Text.
	evs[0].Peer.Text["k"] = "changed"
	if got := tb.snapshot()[0].Text["k"]; got != "v" {
		t.Errorf("table text changed to %q through an event", got)
	}

	// A longer TTL alone is not an update.
	m.TTL = 60
	tb.observe(t0, obs(t, m, 2, "eth0"))
	expectEvents(t, tb)
}

func TestTableTwoInterfaces(t *testing.T) {
	tb := newTable(10)
	tb.observe(t0, obs(t, rec("a", 1, 10, "10.1.0.7", "fe80::7"), 2, "eth0"))
	tb.observe(t0.Add(5*time.Second), obs(t, rec("a", 1, 10, "10.2.0.7", "fe80::7"), 3, "eth1"))
	evs := expectEvents(t, tb, "found printer/a port 1 10.1.0.7 10.2.0.7 fe80::7%eth0 fe80::7%eth1")
	if !slices.Equal(evs[0].Peer.Interfaces, []string{"eth0", "eth1"}) {
		t.Errorf("interfaces %v", evs[0].Peer.Interfaces)
	}
	// eth0 falls silent: its addresses go, the peer stays.
	next := tb.expire(t0.Add(10 * time.Second))
	expectEvents(t, tb, "updated printer/a port 1 10.2.0.7 fe80::7%eth1")
	if !next.Equal(t0.Add(15 * time.Second)) {
		t.Errorf("next %v; want %v", next, t0.Add(15*time.Second))
	}
	tb.expire(next)
	expectEvents(t, tb, "lost printer/a port 1 10.2.0.7 fe80::7%eth1")
}

func TestTableGoodbye(t *testing.T) {
	tb := newTable(10)
	tb.observe(t0, obs(t, rec("a", 1, 10, "10.1.0.7"), 2, "eth0"))
	expectEvents(t, tb, "found printer/a port 1 10.1.0.7")
	if !tb.remove("printer", "a") {
		t.Fatal("remove of a known peer returned false")
	}
	if tb.remove("printer", "a") || tb.remove("printer", "b") {
		t.Error("remove of an unknown peer returned true")
	}
	expectEvents(t, tb, "lost printer/a port 1 10.1.0.7 (goodbye)")
	if next := tb.expire(t0.Add(time.Hour)); !next.IsZero() {
		t.Errorf("next %v after goodbye", next)
	}
	expectEvents(t, tb)
}

// TestTableCoalesce: a reader that does not keep up is told the difference
// between what it knew and what is, per peer.
func TestTableCoalesce(t *testing.T) {
	tb := newTable(10)
	// Came and went unread: nothing to say.
	tb.observe(t0, obs(t, rec("a", 1, 10, "10.0.0.1"), 2, "eth0"))
	tb.remove("printer", "a")
	expectEvents(t, tb)

	// Known, then went and came back changed: one update.
	tb.observe(t0, obs(t, rec("b", 1, 10, "10.0.0.2"), 2, "eth0"))
	expectEvents(t, tb, "found printer/b port 1 10.0.0.2")
	tb.remove("printer", "b")
	tb.observe(t0, obs(t, rec("b", 2, 10, "10.0.0.2"), 2, "eth0"))
	expectEvents(t, tb, "updated printer/b port 2 10.0.0.2")

	// Went and came back the same: nothing.
	tb.expire(t0.Add(time.Minute))
	tb.observe(t0.Add(time.Minute), obs(t, rec("b", 2, 10, "10.0.0.2"), 2, "eth0"))
	expectEvents(t, tb)

	// Many changes to one peer while unread: one event with the last state,
	// in the order the peers first changed.
	tb.observe(t0, obs(t, rec("c", 1, 10, "10.0.0.3"), 2, "eth0"))
	for port := range uint16(5) {
		tb.observe(t0, obs(t, rec("b", 10+port, 10, "10.0.0.2"), 2, "eth0"))
	}
	expectEvents(t, tb, "found printer/c port 1 10.0.0.3", "updated printer/b port 14 10.0.0.2")
	if len(tb.dirty) != 0 || len(tb.queued) != 0 || len(tb.gone) != 0 || len(tb.shown) != 2 {
		t.Errorf("bookkeeping left: dirty %d queued %d gone %d shown %d", len(tb.dirty), len(tb.queued), len(tb.gone), len(tb.shown))
	}
}

func TestTableFull(t *testing.T) {
	tb := newTable(2)
	for i, inst := range []string{"a", "b", "c"} {
		_, ok := tb.observe(t0, obs(t, rec(inst, 1, 10, "10.0.0.1"), 2, "eth0"))
		if ok != (i < 2) {
			t.Errorf("observe %s: ok %v", inst, ok)
		}
	}
	if tb.refused != 1 {
		t.Errorf("refused %d; want 1", tb.refused)
	}
	// Known peers still refresh and update when full.
	if _, ok := tb.observe(t0, obs(t, rec("a", 2, 10, "10.0.0.1"), 2, "eth0")); !ok {
		t.Error("update of a known peer refused when full")
	}
	// Room again after a goodbye.
	tb.remove("printer", "b")
	if _, ok := tb.observe(t0, obs(t, rec("c", 1, 10, "10.0.0.1"), 2, "eth0")); !ok {
		t.Error("new peer refused after a goodbye made room")
	}
}

func TestTableAddrs(t *testing.T) {
	tests := []struct {
		name   string
		addrs  []string
		onLink bool
		want   []netip.Addr
	}{
		{"zone added", []string{"fe80::7", "2001:db8::7"}, true,
			[]netip.Addr{netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("fe80::7%eth3")}},
		{"link-local dropped off link", []string{"fe80::7", "2001:db8::7"}, false,
			[]netip.Addr{netip.MustParseAddr("2001:db8::7")}},
		{"source stands in", nil, true, []netip.Addr{netip.MustParseAddr("192.0.2.7")}},
		{"source stands in for dropped", []string{"fe80::7"}, false, []netip.Addr{netip.MustParseAddr("192.0.2.7")}},
		{"ipv4 link-local kept", []string{"169.254.1.2"}, false, []netip.Addr{netip.MustParseAddr("169.254.1.2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(10)
			o := obs(t, rec("a", 1, 10, tt.addrs...), 3, "eth3")
			o.onLink = tt.onLink
			tb.observe(t0, o)
			if got := tb.snapshot()[0].Addrs; !slices.Equal(got, tt.want) {
				t.Errorf("addrs %v; want %v", got, tt.want)
			}
		})
	}
}

func TestTableSnapshot(t *testing.T) {
	tb := newTable(10)
	for _, s := range []struct{ svc, inst string }{{"zeta", "1"}, {"alpha", "b"}, {"alpha", "a"}} {
		m := &Message{Type: TypeAnnounce, TTL: 5, Service: s.svc, Instance: s.inst, Text: map[string]string{"k": "v"}}
		tb.observe(t0, obs(t, m, 1, "lo"))
	}
	ps := tb.snapshot()
	var got []string
	for _, p := range ps {
		got = append(got, p.Service+"/"+p.Instance)
	}
	if want := []string{"alpha/a", "alpha/b", "zeta/1"}; !slices.Equal(got, want) {
		t.Fatalf("order %v; want %v", got, want)
	}
	ps[0].Text["k"] = "changed"
	if tb.snapshot()[0].Text["k"] != "v" {
		t.Error("snapshot shares Text with the table")
	}
}

// TestTableRepeatAllocs: a repeated announcement, the steady state of a
// LAN, refreshes its route without allocating.
func TestTableRepeatAllocs(t *testing.T) {
	tb := newTable(10)
	o := obs(t, announce(), 2, "eth0")
	tb.observe(t0, o)
	now := t0
	allocs := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		tb.observe(now, o)
	})
	if allocs != 0 {
		t.Errorf("refresh allocated %v times per run; want 0", allocs)
	}
}

// TestBrowserRepeatAllocs: the whole receive path of a repeated
// announcement (parse, self check, table refresh) allocates nothing, with
// names of any length. The Browser here has no sockets: handle is called
// with packets made by hand.
func TestBrowserRepeatAllocs(t *testing.T) {
	for _, name := range []string{"short", strings.Repeat("n", MaxNameLen)} {
		t.Run(strconv.Itoa(len(name))+"-byte names", func(t *testing.T) {
			m := announce()
			m.Service, m.Instance = name, name
			data, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			b := &Browser{tb: newTable(10), wake: make(chan struct{}, 1)}
			if b.l, err = (Link{}).resolve(); err != nil {
				t.Fatal(err)
			}
			b.timer = time.AfterFunc(time.Hour, func() {})
			defer b.timer.Stop()
			addSelf(key{name, name})
			defer dropSelf(key{name, name})
			p := &broadcast.Packet{Data: data, Size: len(data), Src: netip.MustParseAddrPort("192.0.2.7:40000"),
				IfIndex: 2, IfName: "eth0", Kind: broadcast.Broadcast}
			b.handle(p)
			if ps := b.tb.snapshot(); len(ps) != 1 || !ps[0].Self {
				t.Fatalf("peers %+v; want one, marked Self", ps)
			}
			if allocs := testing.AllocsPerRun(100, func() { b.handle(p) }); allocs != 0 {
				t.Errorf("handle allocated %v times per repeat; want 0", allocs)
			}
		})
	}
}

// checkBounded fails unless every structure of the table is within its
// bound: max instances with state, and a queue with at most as many holes
// as live keys (or 16).
func checkBounded(t *testing.T, tb *table) {
	t.Helper()
	if tb.n+tb.lost > tb.max || len(tb.shown) > tb.max || len(tb.gone) > tb.lost || len(tb.queued) > tb.max {
		t.Errorf("peers %d lost %d shown %d gone %d queued %d; want at most %d instances with state",
			tb.n, tb.lost, len(tb.shown), len(tb.gone), len(tb.queued), tb.max)
	}
	if live := len(tb.dirty) - tb.holes; live != len(tb.queued) || tb.holes > max(16, live) {
		t.Errorf("queue of %d with %d holes and %d queued keys; want holes at most max(16, live)", len(tb.dirty), tb.holes, len(tb.queued))
	}
}

// TestTableUnreadFlood: 60,000 announce/goodbye pairs from distinct
// instances, or 60,000 instances that each expire, with nobody reading
// events, leave the table as it was: a peer that came and went unseen
// leaves nothing behind (it used to leave a queued key and a goodbye mark
// each, 44 MB for this many).
func TestTableUnreadFlood(t *testing.T) {
	const pairs = 60000
	tb := newTable(DefaultMaxPeers)
	tb.observe(t0, obs(t, rec("steady", 1, 60, "10.0.0.1"), 2, "eth0"))
	m := rec("", 1, 60, "10.0.0.9")
	for i := range pairs {
		m.Instance = "flood-" + strconv.Itoa(i)
		if _, ok := tb.observe(t0, obs(t, m, 2, "eth0")); !ok {
			t.Fatalf("pair %d refused: the table filled up", i)
		}
		tb.remove("printer", m.Instance)
		checkBounded(t, tb)
		if t.Failed() {
			t.Fatalf("after pair %d", i)
		}
	}
	for i := range pairs {
		m.Instance = "expiring-" + strconv.Itoa(i)
		m.TTL = 1
		tb.observe(t0, obs(t, m, 2, "eth0"))
		if i%1000 == 999 {
			tb.expire(t0.Add(2 * time.Second))
			checkBounded(t, tb)
		}
	}
	tb.expire(t0.Add(2 * time.Second))
	if tb.n != 1 || len(tb.dirty) > 16 || len(tb.queued) != 1 || len(tb.gone) != 0 || tb.refused != 0 {
		t.Errorf("peers %d, queue %d (%d queued), gone %d, refused %d; want only steady, queued",
			tb.n, len(tb.dirty), len(tb.queued), len(tb.gone), tb.refused)
	}
	expectEvents(t, tb, "found printer/steady port 1 10.0.0.1")
}

// TestTableLostPendingCounts: peers the reader was told of and that went
// away hold their place until their Lost is read, so that a reader that
// stops reading cannot make the table grow; one of them that comes back
// takes no new place.
func TestTableLostPendingCounts(t *testing.T) {
	tb := newTable(3)
	for _, inst := range []string{"a", "b", "c"} {
		tb.observe(t0, obs(t, rec(inst, 1, 10, "10.0.0.1"), 2, "eth0"))
	}
	expectEvents(t, tb, "found printer/a port 1 10.0.0.1", "found printer/b port 1 10.0.0.1", "found printer/c port 1 10.0.0.1")
	tb.remove("printer", "a")
	tb.remove("printer", "b")
	if _, ok := tb.observe(t0, obs(t, rec("d", 1, 10, "10.0.0.1"), 2, "eth0")); ok || tb.refused != 1 {
		t.Fatalf("new peer accepted (refused %d) while 2 Losts are unread and 1 peer is present, max 3", tb.refused)
	}
	// b comes back before its Lost was read: its place is its own.
	if _, ok := tb.observe(t0, obs(t, rec("b", 2, 10, "10.0.0.1"), 2, "eth0")); !ok {
		t.Fatal("a peer coming back before its Lost was read was refused")
	}
	checkBounded(t, tb)
	expectEvents(t, tb, "lost printer/a port 1 10.0.0.1 (goodbye)", "updated printer/b port 2 10.0.0.1")
	// a's Lost read: room for d.
	if _, ok := tb.observe(t0, obs(t, rec("d", 1, 10, "10.0.0.1"), 2, "eth0")); !ok {
		t.Fatal("new peer refused after the pending Lost was read")
	}
	checkBounded(t, tb)
	if tb.lost != 0 || len(tb.shown) != 2 {
		t.Errorf("lost %d shown %d; want 0 and 2", tb.lost, len(tb.shown))
	}
}

// TestTableWithdrawKeepsOrder: withdrawing keys from the middle of the
// queue, enough to pack it, keeps the others in the order they changed.
func TestTableWithdrawKeepsOrder(t *testing.T) {
	tb := newTable(100)
	var want []string
	for i := range 60 {
		inst := "p" + strconv.Itoa(i)
		tb.observe(t0, obs(t, rec(inst, 1, 10, "10.0.0.1"), 2, "eth0"))
		if i%3 == 0 {
			want = append(want, "found printer/"+inst+" port 1 10.0.0.1")
		}
	}
	for i := range 60 {
		if i%3 != 0 {
			tb.remove("printer", "p"+strconv.Itoa(i))
		}
	}
	checkBounded(t, tb)
	if len(tb.dirty) > 30 {
		t.Errorf("queue of %d after 40 of 60 withdrawn; want it packed", len(tb.dirty))
	}
	expectEvents(t, tb, want...)
	if tb.pending() || len(tb.queued) != 0 || tb.holes != 0 {
		t.Errorf("after reading: pending %v, queued %d, holes %d", tb.pending(), len(tb.queued), tb.holes)
	}
}

// FuzzTable drives a small table with a sequence of operations read from
// the input (announce, goodbye, expire, read an event), as peers and a
// reader could, and checks after each that everything stays within
// bounds and that the events make sense: no Lost or Updated of a peer the
// reader was not told of, no Found of one it knows.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x40, 0xc0, 0x80, 0xc0, 0xc0})
	f.Add([]byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0xc0, 0x41, 0x42, 0x85, 0xc0, 0xc0, 0xc0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tb := newTable(4)
		now := t0
		known := map[string]bool{}
		m := rec("", 1, 2, "10.0.0.1")
		for _, op := range ops {
			inst := "p" + strconv.Itoa(int(op&7))
			switch op >> 6 {
			case 0: // announce, on one of two interfaces, port from bit 3
				m.Instance, m.Port = inst, uint16(1+op>>3&1)
				ifindex := 2 + int(op>>4&1)
				tb.observe(now, obs(t, m, ifindex, "eth"+strconv.Itoa(ifindex)))
			case 1:
				tb.remove("printer", inst)
			case 2:
				now = now.Add(time.Duration(op&7) * time.Second)
				tb.expire(now)
			case 3:
				ev, ok := tb.next()
				if !ok {
					break
				}
				i := ev.Peer.Instance
				switch {
				case ev.Kind == Found && known[i], ev.Kind != Found && !known[i]:
					t.Fatalf("%v while the reader knows %v", ev, known)
				}
				known[i] = ev.Kind != Lost
			}
			checkBounded(t, tb)
		}
		// Reading everything leaves the reader knowing exactly the table.
		for ev, ok := tb.next(); ok; ev, ok = tb.next() {
			known[ev.Peer.Instance] = ev.Kind != Lost
		}
		for _, p := range tb.snapshot() {
			if !known[p.Instance] {
				t.Errorf("%s is in the table but the reader was not told", p.Instance)
			}
			delete(known, p.Instance)
		}
		for i, k := range known {
			if k {
				t.Errorf("the reader believes in %s, which is not in the table", i)
			}
		}
		if tb.lost != 0 || len(tb.gone) != 0 || tb.pending() {
			t.Errorf("after reading everything: lost %d gone %d pending %v", tb.lost, len(tb.gone), tb.pending())
		}
	})
}
