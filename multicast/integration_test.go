package multicast

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// TestIntegrationJoinReceive joins a group on every usable interface of r
// and receives a datagram that s1 sends to it.
func TestIntegrationJoinReceive(t *testing.T) {
	l := newLab(t)
	t.Parallel()
	for _, tc := range []struct {
		name   string
		group  string
		socket string // the receiving socket's bind address
	}{
		{"v4", "239.1.2.3", "0.0.0.0"},
		{"v6", "ff15::1234", "::"},
		{"v6-link-local", "ff02::1234%eth0", "::"},
		{"v4-on-dual-stack-socket", "239.1.2.4", "::"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := mustGroup(t, tc.group)
			rs := bindIn(t, l.r, netip.AddrPortFrom(netip.MustParseAddr(tc.socket), port))
			ms, skipped := joinIn(t, l.r, rs, g)
			want := []Membership{{Group: g.zoned("eth0"), IfIndex: l.r.NIC("eth0").Index(), IfName: "eth0"}}
			if !slices.Equal(ms, want) {
				t.Errorf("Join memberships = %v; want %v", ms, want)
			}
			// A zoned group goes to its interface; the others are not
			// considered, so nothing is skipped.
			if zoned := g.Addr.Zone() != ""; zoned != !slices.Contains(skipped, Skipped{"lo", ReasonNoMulticast}) {
				t.Errorf("Join skipped %v; want lo skipped for %q unless the group is zoned", skipped, ReasonNoMulticast)
			}
			if got := hostUsers(t, l.r, g.Addr, "eth0"); got != 1 {
				t.Errorf("host membership of %v on eth0 has %d users; want 1", g, got)
			}

			ss := sender(t, l.s1, g.Is6())
			send(t, ss, g, "hello "+tc.name)
			got, from := recv(t, rs)
			if got != "hello "+tc.name || from.WithZone("") != addr(l.s1, g.Is6()) {
				t.Errorf("received %q from %v; want %q from %v", got, from, "hello "+tc.name, addr(l.s1, g.Is6()))
			}
		})
	}
}

// TestIntegrationMulticastAll shows the trap: a wildcard-bound socket that
// never joined a group receives it anyway while another socket on the host
// has joined it, until multicast-all is turned off.
func TestIntegrationMulticastAll(t *testing.T) {
	l := newLab(t)
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		t.Run(family(wildcard(v6).Addr()), func(t *testing.T) {
			g, g2 := mustGroup(t, "239.7.7.1"), mustGroup(t, "239.7.7.2")
			if v6 {
				g, g2 = mustGroup(t, "ff15::7:1"), mustGroup(t, "ff15::7:2")
			}
			member := bindIn(t, l.r, wildcard(v6)) // joins g: the host is a member
			bystander := bindIn(t, l.r, wildcard(v6))
			other := bindIn(t, l.r, wildcard(v6)) // joins only g2
			joinIn(t, l.r, member, g)
			joinIn(t, l.r, other, g2)

			if on, err := MulticastAll(bystander, v6); err != nil || !on {
				t.Fatalf("MulticastAll of a fresh socket = %v, %v; want the kernel default true", on, err)
			}
			if on, err := MulticastAll(other, v6); err != nil || on {
				t.Fatalf("MulticastAll after Join = %v, %v; want false", on, err)
			}

			ss := sender(t, l.s1, v6)
			// g2 is sent after g on the same path, so a socket that gets
			// g2 first did not get g.
			send(t, ss, g, "to g")
			send(t, ss, g2, "to g2")
			expect(t, member, "to g")
			expect(t, bystander, "to g") // never joined g: the trap
			expect(t, bystander, "to g2")
			expect(t, other, "to g2") // multicast-all off: g is not delivered

			if err := SetMulticastAll(other, true); err != nil {
				t.Fatal(err)
			}
			send(t, ss, g, "to g again")
			send(t, ss, g2, "to g2 again")
			expect(t, other, "to g again")
			expect(t, other, "to g2 again")

			expect(t, bystander, "to g again")
			expect(t, bystander, "to g2 again")
			if err := SetMulticastAll(bystander, false); err != nil {
				t.Fatal(err)
			}
			send(t, ss, g, "to g third")
			expect(t, member, "to g again")
			expect(t, member, "to g third")
			expectNone(t, bystander)
		})
	}
}

// TestIntegrationSSM joins (s1, G) and checks that only s1's datagrams to G
// arrive, not s2's; then that leaving the source ends delivery.
func TestIntegrationSSM(t *testing.T) {
	l := newLab(t)
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		t.Run(family(wildcard(v6).Addr()), func(t *testing.T) {
			grp := "232.1.1.1"
			if v6 {
				grp = "ff3e::8000:1"
			}
			g := mustGroup(t, addr(l.s1, v6).String()+","+grp)
			if !g.IsSSM() || !g.InSSMRange() {
				t.Fatalf("%v: IsSSM %v, InSSMRange %v; want both", g, g.IsSSM(), g.InSSMRange())
			}
			rs := bindIn(t, l.r, wildcard(v6))
			joinIn(t, l.r, rs, g, "eth0")
			if ms, skipped := joinIn(t, l.r, rs, g, "eth0"); len(ms) != 0 || !slices.Equal(skipped, []Skipped{{"eth0", ReasonJoined}}) {
				t.Errorf("second Join of %v = %v, skipped %v; want eth0 skipped as %q", g, ms, skipped, ReasonJoined)
			}

			s1, s2 := sender(t, l.s1, v6), sender(t, l.s2, v6)
			send(t, s2, g, "from s2")
			send(t, s1, g, "from s1")
			got, from := recv(t, rs)
			if got != "from s1" || from != addr(l.s1, v6) {
				t.Fatalf("received %q from %v; want %q from %v", got, from, "from s1", addr(l.s1, v6))
			}
			expectNone(t, rs)

			// An any-source membership of the same socket turns
			// source-specific when a source is joined: the kernel switches
			// its empty exclude filter to include {source}.
			asm := bindIn(t, l.r, wildcard(v6))
			joinIn(t, l.r, asm, Group{Addr: g.Addr}, "eth0")
			send(t, s2, g, "s2 to any-source")
			expect(t, asm, "s2 to any-source")
			joinIn(t, l.r, asm, g, "eth0")
			send(t, s2, g, "s2 after the source join")
			send(t, s1, g, "s1 after the source join")
			expect(t, asm, "s1 after the source join")
			expect(t, rs, "s1 after the source join")
			if err := asm.Close(); err != nil {
				t.Fatal(err)
			}

			// A second source on the same group, then leave the first.
			g2 := Group{Addr: g.Addr, Source: addr(l.s2, v6)}
			joinIn(t, l.r, rs, g2, "eth0")
			do(t, l.r, func() error { return Leave(rs, g, "eth0") })
			send(t, s1, g, "from s1 after leave")
			send(t, s2, g, "from s2 after join")
			expect(t, rs, "from s2 after join")
			expectNone(t, rs)

			// Leaving the last source ends the membership.
			do(t, l.r, func() error { return Leave(rs, g2) })
			if n := hostUsers(t, l.r, g.Addr, "eth0"); n != 0 {
				t.Errorf("after leaving the last source, %v on eth0 has %d users; want none", g.Addr, n)
			}
			var err error
			do(t, l.r, func() error { err = Leave(rs, g2); return nil })
			if !errors.Is(err, unix.EADDRNOTAVAIL) {
				t.Errorf("Leave of a source no longer joined = %v; want EADDRNOTAVAIL", err)
			}
		})
	}
}

// TestIntegrationLinkLocalZone joins an IPv6 link-local scope group: the
// zone picks the interface, and a Group without a zone is joined on each
// interface with its zone.
func TestIntegrationLinkLocalZone(t *testing.T) {
	l := newLab(t)
	l.r.Attach(l.lan, "eth1", netip.Addr{}, netip.MustParseAddr("fd00:72:1::253"))
	t.Parallel()

	if _, err := ParseGroup("ff02::1234"); err == nil || !strings.Contains(err.Error(), "zone") {
		t.Errorf(`ParseGroup("ff02::1234") = %v; want an error asking for a zone`, err)
	}

	rs := bindIn(t, l.r, wildcard(true))
	var err error
	do(t, l.r, func() error {
		_, _, err = Join(rs, mustGroup(t, "ff02::1234%eth0"), "eth1")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "scoped to eth0") {
		t.Errorf("Join of ff02::1234%%eth0 on eth1 = %v; want an error saying it is scoped to eth0", err)
	}
	do(t, l.r, func() error {
		_, _, err = Join(rs, mustGroup(t, "ff02::1234%nope0"))
		return nil
	})
	if !errors.Is(err, ErrUnknownInterface) || !strings.Contains(err.Error(), "nope0") {
		t.Errorf("Join of ff02::1234%%nope0 = %v; want ErrUnknownInterface naming nope0", err)
	}

	g := Group{Addr: netip.MustParseAddr("ff02::1234")}
	ms, _ := joinIn(t, l.r, rs, g)
	var got []string
	for _, m := range ms {
		got = append(got, m.String())
	}
	if want := []string{"ff02::1234%eth0 on eth0", "ff02::1234%eth1 on eth1"}; !slices.Equal(got, want) {
		t.Errorf("Join of zoneless %v = %q; want %q", g, got, want)
	}

	ss := sender(t, l.s1, true)
	send(t, ss, mustGroup(t, "ff02::1234%eth0"), "link-local")
	// Both of r's interfaces are on the LAN and joined: one copy each.
	for range 2 {
		expect(t, rs, "link-local")
	}
	do(t, l.r, func() error { return Leave(rs, mustGroup(t, "ff02::1234%eth1")) })
	send(t, ss, mustGroup(t, "ff02::1234%eth0"), "after leaving eth1")
	expect(t, rs, "after leaving eth1")
	expectNone(t, rs)
}

// TestIntegrationLeave checks that Leave stops delivery and the host
// membership, and that leaving what was not joined is an error.
func TestIntegrationLeave(t *testing.T) {
	l := newLab(t)
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		t.Run(family(wildcard(v6).Addr()), func(t *testing.T) {
			g, g2 := mustGroup(t, "239.5.5.1"), mustGroup(t, "239.5.5.2")
			if v6 {
				g, g2 = mustGroup(t, "ff15::5:1"), mustGroup(t, "ff15::5:2")
			}
			rs := bindIn(t, l.r, wildcard(v6))
			joinIn(t, l.r, rs, g)
			joinIn(t, l.r, rs, g2)
			ss := sender(t, l.s1, v6)
			send(t, ss, g, "before")
			expect(t, rs, "before")

			do(t, l.r, func() error { return Leave(rs, g) })
			if n := hostUsers(t, l.r, g.Addr, "eth0"); n != 0 {
				t.Errorf("after Leave, %v on eth0 has %d users; want none", g, n)
			}
			send(t, ss, g, "after")
			send(t, ss, g2, "still joined")
			expect(t, rs, "still joined")

			var err error
			do(t, l.r, func() error { err = Leave(rs, g); return nil })
			if !errors.Is(err, unix.EADDRNOTAVAIL) || !strings.Contains(err.Error(), "not a member on any interface") {
				t.Errorf("second Leave = %v; want EADDRNOTAVAIL, not a member on any interface", err)
			}
			do(t, l.r, func() error { err = Leave(rs, g, "eth0"); return nil })
			var me *Error
			if !errors.As(err, &me) || me.IfName != "eth0" || !errors.Is(err, unix.EADDRNOTAVAIL) ||
				!strings.Contains(err.Error(), "EADDRNOTAVAIL") || !strings.Contains(err.Error(), g.String()) {
				t.Errorf("Leave on eth0 of a group not joined = %v; want an *Error naming %v, eth0 and EADDRNOTAVAIL", err, g)
			}
		})
	}
}

// TestIntegrationMembershipOutlivesDuplicate checks the design Join rests
// on: the membership made through a duplicate descriptor belongs to the
// socket, stays when Join has closed the duplicate, and goes with the
// socket.
func TestIntegrationMembershipOutlivesDuplicate(t *testing.T) {
	l := newLab(t)
	g := mustGroup(t, "239.9.9.9")
	rs := bindIn(t, l.r, wildcard(false))

	joinIn(t, l.r, rs, g)
	// Other descriptors come and go in a test process (the runtime, the
	// Lab); a duplicate of rs is one that names the same socket.
	if n := descriptorsOf(t, rs); n != 1 {
		t.Errorf("after Join, %d descriptors name the socket; want 1 (the duplicate closed)", n)
	}
	if n := hostUsers(t, l.r, g.Addr, "eth0"); n != 1 {
		t.Fatalf("after Join, %v on eth0 has %d users; want 1", g, n)
	}
	ss := sender(t, l.s1, false)
	send(t, ss, g, "after the duplicate is gone")
	expect(t, rs, "after the duplicate is gone")

	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	if n := hostUsers(t, l.r, g.Addr, "eth0"); n != 0 {
		t.Errorf("after Close, %v on eth0 has %d users; want none", g, n)
	}
}

// descriptorsOf counts this process's descriptors that refer to s's socket.
func descriptorsOf(t *testing.T, s *dgram.Socket) int {
	t.Helper()
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var target string
	rc.Control(func(fd uintptr) {
		target, err = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == target {
			n++
		}
	}
	return n
}

// TestIntegrationJoinSkips covers the choice of interfaces and the
// reasons for skipping the others.
func TestIntegrationJoinSkips(t *testing.T) {
	l := newLab(t)
	l.r.Attach(l.lan, "eth1", netip.Addr{}, netip.MustParseAddr("fd00:72:1::253")) // no IPv4
	down := l.r.Attach(l.lan, "eth2", netip.MustParseAddr("10.72.1.252"), netip.MustParseAddr("fd00:72:1::252"))
	down.SetDown()
	g := mustGroup(t, "239.3.3.3")
	rs := bindIn(t, l.r, wildcard(false))

	t.Run("Interfaces", func(t *testing.T) {
		var ok []string
		var skipped []Skipped
		do(t, l.r, func() error {
			ifis, sk, err := Interfaces()
			for _, ifi := range ifis {
				ok = append(ok, ifi.Name)
			}
			skipped = sk
			return err
		})
		if want := []string{"eth0", "eth1"}; !slices.Equal(ok, want) {
			t.Errorf("Interfaces() = %v; want %v", ok, want)
		}
		if want := []Skipped{{"lo", ReasonNoMulticast}, {"eth2", ReasonDown}}; !slices.Equal(skipped, want) {
			t.Errorf("Interfaces() skipped %v; want %v", skipped, want)
		}
	})

	t.Run("all", func(t *testing.T) {
		ms, skipped := joinIn(t, l.r, rs, g)
		if len(ms) != 1 || ms[0].IfName != "eth0" {
			t.Errorf("Join = %v; want eth0 only", ms)
		}
		want := []Skipped{{"lo", ReasonNoMulticast}, {"eth1", ReasonNoIPv4}, {"eth2", ReasonDown}}
		if !slices.Equal(skipped, want) {
			t.Errorf("Join skipped %v; want %v", skipped, want)
		}
		// Joined already on eth0: skipped with a reason, not an error.
		ms, skipped = joinIn(t, l.r, rs, g, "eth0")
		if len(ms) != 0 || !slices.Equal(skipped, []Skipped{{"eth0", ReasonJoined}}) {
			t.Errorf("second Join = %v, skipped %v; want none, eth0 %q", ms, skipped, ReasonJoined)
		}
	})

	t.Run("named", func(t *testing.T) {
		// A named interface is joined when down or without an address:
		// the membership takes effect when it comes up.
		ms, skipped := joinIn(t, l.r, rs, g, "eth1", "eth2", "eth2")
		if len(ms) != 2 || ms[0].IfName != "eth1" || ms[1].IfName != "eth2" || len(skipped) != 0 {
			t.Errorf("Join on eth1, eth2 = %v, skipped %v; want both joined once", ms, skipped)
		}
		// The membership on eth2, made while it was down, works once it
		// is up. (IPv6, because eth0 and eth2 share an IPv4 subnet and
		// reverse-path filtering may drop IPv4 arriving on eth2.)
		g6 := mustGroup(t, "ff15::3:3")
		rs6 := bindIn(t, l.r, wildcard(true))
		joinIn(t, l.r, rs6, g6, "eth2")
		down.SetUp()
		send(t, sender(t, l.s1, true), g6, "eth2 is up")
		expect(t, rs6, "eth2 is up")
		expectNone(t, rs6) // the copy arriving on eth0 is not for rs6

		var err error
		do(t, l.r, func() error { ms, skipped, err = Join(rs, g, "lo"); return nil })
		if len(ms) != 0 || !slices.Equal(skipped, []Skipped{{"lo", ReasonNoMulticast}}) || !errors.Is(err, ErrNoUsableInterface) {
			t.Errorf("Join on lo without MULTICAST = %v, %v, %v; want lo skipped for %q and ErrNoUsableInterface",
				ms, skipped, err, ReasonNoMulticast)
		}
	})

	t.Run("loopback", func(t *testing.T) {
		ctx := t.Context()
		if _, err := l.Shell(ctx, "ip", "-n", l.r.NS(), "link", "set", "lo", "multicast", "on"); err != nil {
			t.Fatal(err)
		}
		g := mustGroup(t, "239.3.3.4")
		_, skipped := joinIn(t, l.r, rs, g)
		if !slices.Contains(skipped, Skipped{"lo", ReasonLoopback}) {
			t.Errorf("Join skipped %v; want lo skipped as %q", skipped, ReasonLoopback)
		}
		ms, _ := joinIn(t, l.r, rs, g, "lo")
		if len(ms) != 1 || ms[0].IfName != "lo" {
			t.Errorf("Join on lo = %v; want lo", ms)
		}

		// A host whose only multicast interface is lo uses it.
		solo := l.Host("solo")
		if _, err := l.Shell(ctx, "ip", "-n", solo.NS(), "link", "set", "lo", "multicast", "on"); err != nil {
			t.Fatal(err)
		}
		ss := bindIn(t, solo, netip.MustParseAddrPort("0.0.0.0:7400"))
		ms, _ = joinIn(t, solo, ss, g)
		if len(ms) != 1 || ms[0].IfName != "lo" {
			t.Errorf("Join in a host with only lo = %v; want lo", ms)
		}
	})
}

// TestIntegrationJoinErrors checks that kernel refusals come back naming
// the group, the interface and the errno.
func TestIntegrationJoinErrors(t *testing.T) {
	l := newLab(t)
	t.Parallel()
	if err := l.r.Sysctl("net.ipv4.igmp_max_memberships", "1"); err != nil {
		t.Fatal(err)
	}
	rs := bindIn(t, l.r, wildcard(false))
	joinIn(t, l.r, rs, mustGroup(t, "239.4.4.1"))
	var err error
	do(t, l.r, func() error { _, _, err = Join(rs, mustGroup(t, "239.4.4.2")); return nil })
	var me *Error
	if !errors.Is(err, unix.ENOBUFS) || !errors.As(err, &me) || me.IfName != "eth0" {
		t.Fatalf("Join beyond igmp_max_memberships = %v; want an *Error on eth0 wrapping ENOBUFS", err)
	}
	for _, want := range []string{"join 239.4.4.2 on eth0", "MCAST_JOIN_GROUP", "ENOBUFS", "igmp_max_memberships"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// One bad name does not stop the good one; both are reported.
	rs2 := bindIn(t, l.r, wildcard(true))
	var ms []Membership
	do(t, l.r, func() error { ms, _, err = Join(rs2, mustGroup(t, "ff15::4:1"), "nope0", "eth0"); return nil })
	if len(ms) != 1 || !errors.Is(err, ErrUnknownInterface) || !strings.Contains(err.Error(), "on nope0") {
		t.Errorf("Join on nope0 and eth0 = %v, %v; want eth0 joined and an error naming nope0", ms, err)
	}
}

// TestIntegrationSendOptions checks SetInterface, SetLoopback and SetTTL
// on the wire.
func TestIntegrationSendOptions(t *testing.T) {
	l := newLab(t)
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		t.Run(family(wildcard(v6).Addr()), func(t *testing.T) {
			g := mustGroup(t, "239.6.6.6")
			if v6 {
				g = mustGroup(t, "ff15::6:6")
			}
			rs := bindIn(t, l.r, wildcard(v6))
			joinIn(t, l.r, rs, g)
			if v6 {
				if err := rs.SetOptionBool(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, true); err != nil {
					t.Fatal(err)
				}
			} else if err := rs.SetOptionBool(unix.IPPROTO_IP, unix.IP_RECVTTL, true); err != nil {
				t.Fatal(err)
			}

			// A sender on r itself: its datagrams reach rs only by loopback.
			// Bound to the wildcard, it has no interface until it is told
			// one; r has no route to 224.0.0.0/4.
			local := bindIn(t, l.r, netip.AddrPortFrom(wildcard(v6).Addr(), 0))
			if !v6 {
				_, err := local.SendTo([]byte("x"), 0, dgram.AddrFrom(netip.AddrPortFrom(g.Addr, port)))
				if !errors.Is(err, unix.ENETUNREACH) {
					t.Fatalf("IPv4 multicast send from the wildcard without SetInterface = %v; want ENETUNREACH", err)
				}
			}
			do(t, l.r, func() error { return SetInterface(local, "eth0") })
			if err := SetLoopback(local, false); err != nil {
				t.Fatal(err)
			}
			send(t, local, g, "no loop")
			if err := SetLoopback(local, true); err != nil {
				t.Fatal(err)
			}
			if err := SetTTL(local, 7); err != nil {
				t.Fatal(err)
			}
			send(t, local, g, "loop")
			if ttl := recvTTL(t, rs, "loop"); ttl != 7 {
				t.Errorf("looped datagram arrived with TTL %d; want 7", ttl)
			}

			ss := sender(t, l.s1, v6)
			if err := SetTTL(ss, 0); err != nil {
				t.Fatal(err)
			}
			// 0 is not host-only: Linux sends it on the link, and the
			// neighbours accept it.
			send(t, ss, g, "ttl 0")
			if ttl := recvTTL(t, rs, "ttl 0"); ttl != 0 {
				t.Errorf("datagram from s1 arrived with TTL %d; want 0", ttl)
			}
			if err := SetTTL(ss, 3); err != nil {
				t.Fatal(err)
			}
			send(t, ss, g, "ttl 3")
			if ttl := recvTTL(t, rs, "ttl 3"); ttl != 3 {
				t.Errorf("datagram from s1 arrived with TTL %d; want 3", ttl)
			}
		})
	}
}

// recvTTL receives one datagram, checks its payload and returns its TTL or
// hop limit.
func recvTTL(t *testing.T, s *dgram.Socket, want string) int {
	t.Helper()
	buf := make([]byte, 1500)
	m := dgram.Message{Buffers: [][]byte{buf}, Control: make([]byte, (msghdr.FlagTTL | msghdr.FlagHopLimit).Space(0))}
	if err := s.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecvMsg(&m, 0); err != nil {
		t.Fatalf("receive on %v: %v", s, err)
	}
	if got := string(buf[:m.N]); got != want {
		t.Fatalf("received %q; want %q", got, want)
	}
	var c msghdr.Control
	if err := c.Parse(m.Control); err != nil {
		t.Fatal(err)
	}
	if c.Has&(msghdr.FlagTTL|msghdr.FlagHopLimit) == 0 {
		t.Fatalf("no TTL control message in %x", m.Control)
	}
	return c.TTL
}
