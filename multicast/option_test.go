package multicast

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// These tests need no privileges and send nothing: they set options on
// sockets bound to loopback and check what the kernel kept, and they check
// the errors that come before any membership call.

func loopSocket(t *testing.T, network, address string) *dgram.Socket {
	t.Helper()
	s, err := dgram.ListenPacket(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dualSocket is an IPv6 socket with IPV6_V6ONLY as asked, bound to [::1].
func dualSocket(t *testing.T, v6only bool) *dgram.Socket {
	t.Helper()
	s, err := dgram.Open(unix.AF_INET6, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetOptionBool(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
		t.Fatal(err)
	}
	return s
}

func optInt(t *testing.T, s *dgram.Socket, level, name int) int {
	t.Helper()
	v, err := s.OptionInt(level, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSendOptionsPerFamily(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      func(t *testing.T) *dgram.Socket
		v4, v6 bool // which levels must be set
	}{
		{"IPv4", func(t *testing.T) *dgram.Socket { return loopSocket(t, "udp4", "127.0.0.1:0") }, true, false},
		{"IPv6-only", func(t *testing.T) *dgram.Socket { return dualSocket(t, true) }, false, true},
		{"dual-stack", func(t *testing.T) *dgram.Socket { return dualSocket(t, false) }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			check := func(what string, level, name, want int) {
				t.Helper()
				if got := optInt(t, s, level, name); got != want {
					t.Errorf("%s: option %d/%d = %d; want %d", what, level, name, got, want)
				}
			}
			// Kernel defaults, so that each set below is seen to change
			// something: TTL 1, loop on, multicast-all on.
			if err := SetTTL(s, 9); err != nil {
				t.Fatal(err)
			}
			if err := SetLoopback(s, false); err != nil {
				t.Fatal(err)
			}
			if err := SetMulticastAll(s, false); err != nil {
				t.Fatal(err)
			}
			if tc.v4 {
				check("SetTTL(9)", unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 9)
				check("SetLoopback(false)", unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
				check("SetMulticastAll(false)", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
			}
			if tc.v6 {
				check("SetTTL(9)", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 9)
				check("SetLoopback(false)", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0)
				check("SetMulticastAll(false)", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
			}
			if tc.v6 && !tc.v4 {
				// An IPv6-only socket's IPv4 options are left alone.
				check("IPv4 TTL of an IPv6-only socket", unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1)
			}
			if on, err := MulticastAll(s, tc.v6); err != nil || on {
				t.Errorf("MulticastAll = %v, %v; want false", on, err)
			}
			if err := SetMulticastAll(s, true); err != nil {
				t.Fatal(err)
			}
			if on, err := MulticastAll(s, tc.v6); err != nil || !on {
				t.Errorf("MulticastAll after SetMulticastAll(true) = %v, %v; want true", on, err)
			}
			if err := SetLoopback(s, true); err != nil {
				t.Fatal(err)
			}
			if tc.v4 {
				check("SetLoopback(true)", unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1)
			}
			if tc.v6 {
				check("SetLoopback(true)", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 1)
			}
		})
	}
}

func TestSetInterface(t *testing.T) {
	lo := "lo"
	for _, s := range []*dgram.Socket{loopSocket(t, "udp4", "127.0.0.1:0"), dualSocket(t, false)} {
		if err := SetInterface(s, lo); err != nil {
			t.Fatalf("SetInterface(%v, lo): %v", s, err)
		}
		if s.Family() == unix.AF_INET6 {
			if idx := optInt(t, s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF); idx != 1 {
				t.Errorf("IPV6_MULTICAST_IF = %d; want lo's index 1", idx)
			}
		}
		if err := SetInterface(s, ""); err != nil {
			t.Fatalf("SetInterface(%v, \"\"): %v", s, err)
		}
		if s.Family() == unix.AF_INET6 {
			if idx := optInt(t, s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF); idx != 0 {
				t.Errorf("IPV6_MULTICAST_IF after reset = %d; want 0", idx)
			}
		}
		err := SetInterface(s, "nope0")
		if !errors.Is(err, ErrUnknownInterface) || !strings.Contains(err.Error(), "multicast: set interface on nope0: no such network interface") {
			t.Errorf("SetInterface(nope0) = %v; want ErrUnknownInterface naming nope0", err)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	s := loopSocket(t, "udp4", "127.0.0.1:0")
	for _, ttl := range []int{-1, 256} {
		if err := SetTTL(s, ttl); err == nil || !strings.Contains(err.Error(), "out of range 0-255") {
			t.Errorf("SetTTL(%d) = %v; want an out of range error", ttl, err)
		}
	}
	u, _, err := dgram.Pair(unix.SOCK_DGRAM)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	for name, err := range map[string]error{
		"SetTTL":          SetTTL(u, 1),
		"SetLoopback":     SetLoopback(u, true),
		"SetMulticastAll": SetMulticastAll(u, false),
		"SetInterface":    SetInterface(u, ""),
	} {
		if !errors.Is(err, dgram.ErrWrongFamily) {
			t.Errorf("%s on a unix socket = %v; want ErrWrongFamily", name, err)
		}
	}
}

// TestJoinErrors covers the failures Join and Leave report before any
// membership call, so they run anywhere.
func TestJoinErrors(t *testing.T) {
	s4 := loopSocket(t, "udp4", "127.0.0.1:0")
	v6only := dualSocket(t, true)
	g4 := mustGroup(t, "239.1.2.3")
	g6 := mustGroup(t, "ff15::1")
	for _, tc := range []struct {
		name string
		s    *dgram.Socket
		g    Group
		ifs  []string
		is   error
		text string
	}{
		{"unknown interface", s4, g4, []string{"nope0"}, ErrUnknownInterface, "multicast: join 239.1.2.3 on nope0: no such network interface"},
		{"two unknown interfaces", s4, g4, []string{"nope0", "nope1"}, ErrUnknownInterface, "on nope1"},
		{"IPv6 group, IPv4 socket", s4, g6, nil, dgram.ErrWrongFamily, "join ff15::1: an IPv6 group on an IPv4 socket"},
		{"IPv4 group, IPv6-only socket", v6only, g4, nil, dgram.ErrWrongFamily, "IPv6-only socket (IPV6_V6ONLY)"},
		{"not multicast", s4, Group{Addr: netip.MustParseAddr("10.0.0.1")}, nil, nil, "10.0.0.1 is not a multicast address"},
		{"zone on a global group", v6only, Group{Addr: netip.MustParseAddr("ff15::1%lo")}, nil, nil, "only belongs on an interface- or link-local"},
		{"unknown zone", v6only, mustGroup(t, "ff02::1%nope0"), nil, ErrUnknownInterface, `zone "nope0": no such network interface`},
		{"zone and another interface", v6only, mustGroup(t, "ff02::1%lo"), []string{"nope0"}, nil, "scoped to lo by its zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, _, err := Join(tc.s, tc.g, tc.ifs...)
			if len(ms) != 0 || err == nil || tc.is != nil && !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Join = %v, %v; want an error wrapping %v containing %q", ms, err, tc.is, tc.text)
			}
			var me *Error
			if !errors.As(err, &me) || me.Op != "join" {
				t.Errorf("Join error %v is not a join *Error", err)
			}
			err = Leave(tc.s, tc.g, tc.ifs...)
			if err == nil || tc.is != nil && !errors.Is(err, tc.is) || !strings.Contains(err.Error(), strings.Replace(tc.text, "join", "leave", 1)) {
				t.Errorf("Leave = %v; want an error wrapping %v containing %q", err, tc.is, tc.text)
			}
		})
	}
	// A multicast-all that Join did not get to change stays as it was.
	if on, err := MulticastAll(s4, false); err != nil || !on {
		t.Errorf("MulticastAll after failed Joins = %v, %v; want the default true", on, err)
	}
}

func TestErrorHints(t *testing.T) {
	errno := func(e unix.Errno) error {
		return &dgram.Error{Op: "setsockopt MCAST_JOIN_GROUP", Err: e}
	}
	for _, tc := range []struct {
		e    *Error
		want string
	}{
		{&Error{Op: "join", Group: mustGroup(t, "239.1.1.1"), IfName: "eth0", Err: errno(unix.ENOBUFS)},
			"multicast: join 239.1.1.1 on eth0: setsockopt MCAST_JOIN_GROUP: no buffer space available (ENOBUFS); a socket holds at most net.ipv4.igmp_max_memberships groups (default 20); use more sockets or raise it"},
		{&Error{Op: "leave", Group: mustGroup(t, "10.0.0.1,232.1.1.1"), IfName: "eth0", Err: errno(unix.EINVAL)},
			"EINVAL); the socket holds no membership of this group on this interface"},
		{&Error{Op: "leave", Group: mustGroup(t, "239.1.1.1"), IfName: "eth0", Err: errno(unix.EADDRNOTAVAIL)},
			"EADDRNOTAVAIL); the socket is not a member of this group (or source) on this interface"},
		{&Error{Op: "join", Group: mustGroup(t, "239.1.1.1"), IfName: "eth0", Err: errno(unix.EINVAL)},
			"invalid argument (EINVAL)"},
		{&Error{Op: "set TTL", Err: errors.New("TTL 300 out of range 0-255")},
			"multicast: set TTL: TTL 300 out of range 0-255"},
	} {
		if got := tc.e.Error(); !strings.HasSuffix(got, tc.want) {
			t.Errorf("Error() = %q; want it to end with %q", got, tc.want)
		}
		if errors.Unwrap(tc.e) != tc.e.Err {
			t.Errorf("Unwrap of %v is not its Err", tc.e)
		}
	}
}
