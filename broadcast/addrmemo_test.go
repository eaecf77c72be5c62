package broadcast

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeAddrs is an Addrs over a view that never refreshes, showing all.
func fakeAddrs(all []Interface) *Addrs {
	v := &view{watcher: &changeWatcher{}, last: time.Now().Add(time.Hour)}
	v.snap.Store(newSnapshot(all))
	return &Addrs{v: v}
}

// An AddrMemo answers as its Addrs does, datagram after datagram, and
// follows the view when the addresses change.
func TestAddrMemo(t *testing.T) {
	lo := Interface{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback,
		Addrs: []IfAddr{newIfAddr(netip.MustParsePrefix("127.0.0.1/8"), netip.Addr{})}}
	eth := Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast,
		Addrs: []IfAddr{newIfAddr(netip.MustParsePrefix("10.0.0.2/24"), netip.Addr{}), newIfAddr(netip.MustParsePrefix("fd00::2/64"), netip.Addr{})}}
	a := fakeAddrs([]Interface{lo, eth})
	m := a.Memo()
	ips := []string{"127.0.0.1", "127.255.255.255", "10.0.0.2", "10.0.0.9", "10.0.0.255", "255.255.255.255",
		"::ffff:10.0.0.2", "fd00::2", "fe80::1%eth0", "192.0.2.1"}
	check := func(when string) {
		t.Helper()
		// Twice over: answered, then remembered.
		for range 2 {
			for _, text := range ips {
				ip := netip.MustParseAddr(text)
				if got, want := m.IsLocal(ip), a.IsLocal(ip); got != want {
					t.Errorf("%s: IsLocal(%v) = %v; Addrs says %v", when, ip, got, want)
				}
				if got, want := m.IsBroadcast(ip), a.IsBroadcast(ip); got != want {
					t.Errorf("%s: IsBroadcast(%v) = %v; Addrs says %v", when, ip, got, want)
				}
			}
			for _, idx := range []int{0, 1, 2, 3, 2, 1, -1} {
				if got, want := m.IsLoopback(idx), a.IsLoopback(idx); got != want {
					t.Errorf("%s: IsLoopback(%d) = %v; Addrs says %v", when, idx, got, want)
				}
			}
			dst := netip.MustParseAddr("10.0.0.255")
			if got, want := m.Kind(dst, netip.MustParseAddr("10.0.0.2")), a.Kind(dst, netip.MustParseAddr("10.0.0.2")); got != want {
				t.Errorf("%s: Kind = %v; Addrs says %v", when, got, want)
			}
		}
	}
	check("first view")
	if !m.IsLocal(netip.MustParseAddr("10.0.0.2")) || !m.IsLoopback(1) {
		t.Fatal("the memo does not know this host's address or its loopback")
	}
	// Renumbered: eth0 now has 10.1.0.2/16 and is loopback-flagged for the
	// test's sake; index 1 is gone.
	eth.Addrs = []IfAddr{newIfAddr(netip.MustParsePrefix("10.1.0.2/16"), netip.Addr{})}
	eth.Flags |= net.FlagLoopback
	a.v.snap.Store(newSnapshot([]Interface{eth}))
	check("after the change")
	if m.IsLocal(netip.MustParseAddr("10.0.0.2")) || m.IsLoopback(1) || !m.IsLoopback(2) {
		t.Error("the memo kept answers from before the change")
	}
}

// BenchmarkAddrMemo is the checks an echo server makes per datagram from a
// run of datagrams by one sender, through Addrs and through an AddrMemo.
func BenchmarkAddrMemo(b *testing.B) {
	lo := Interface{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback,
		Addrs: []IfAddr{newIfAddr(netip.MustParsePrefix("127.0.0.1/8"), netip.Addr{})}}
	eth := Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast,
		Addrs: []IfAddr{newIfAddr(netip.MustParsePrefix("10.0.0.2/24"), netip.Addr{})}}
	a := fakeAddrs([]Interface{lo, eth})
	src, dst := netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.2")
	b.Run("Addrs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = a.IsLoopback(2) || a.IsLocal(src) || a.IsBroadcast(src) || a.Kind(dst, dst) != Unicast
		}
	})
	b.Run("AddrMemo", func(b *testing.B) {
		m := a.Memo()
		b.ReportAllocs()
		for b.Loop() {
			_ = m.IsLoopback(2) || m.IsLocal(src) || m.IsBroadcast(src) || m.Kind(dst, dst) != Unicast
		}
	})
}
