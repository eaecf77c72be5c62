package multicast

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/netns"
	"golang.org/x/sys/unix"
)

// Helpers for the TestIntegration* tests: a LAN with two senders and a
// receiver, each in its own network namespace.
//
//	LAN m  10.72.1.0/24  fd00:72:1::/64   s1 (.1, ::1), s2 (.2, ::2), r (.254, ::254), all eth0

const (
	// wait bounds every receive that must succeed.
	wait = 5 * time.Second
	// quiet is how long a receive that must not happen is given after
	// everything that could cause it was sent. Within one namespace
	// delivery is synchronous; across the bridge it takes microseconds.
	quiet = 300 * time.Millisecond
	port  = 7400
)

type lab struct {
	*netns.Lab
	lan       *netns.LAN
	s1, s2, r *netns.Host
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{Lab: netns.New(t)}
	l.lan = l.LAN("m", netip.MustParsePrefix("10.72.1.0/24"), netip.MustParsePrefix("fd00:72:1::/64"))
	l.s1 = l.Host("s1")
	l.s1.Attach(l.lan, "eth0", netip.MustParseAddr("10.72.1.1"), netip.MustParseAddr("fd00:72:1::1"))
	l.s2 = l.Host("s2")
	l.s2.Attach(l.lan, "eth0", netip.MustParseAddr("10.72.1.2"), netip.MustParseAddr("fd00:72:1::2"))
	l.r = l.Host("r")
	l.r.Attach(l.lan, "eth0", netip.MustParseAddr("10.72.1.254"), netip.MustParseAddr("fd00:72:1::254"))
	return l
}

// addr returns h's eth0 address of the family of g.
func addr(h *netns.Host, v6 bool) netip.Addr {
	if v6 {
		return h.NIC("eth0").Addr6()
	}
	return h.NIC("eth0").Addr4()
}

// do runs fn in h and fails the test on its error.
func do(t *testing.T, h *netns.Host, fn func() error) {
	t.Helper()
	if err := h.Do(fn); err != nil {
		t.Fatalf("in %s: %v", h.Name(), err)
	}
}

// bindIn opens a UDP socket in h bound to ap, with SO_REUSEADDR so that
// several sockets can share a port, as receivers of one group do.
func bindIn(t *testing.T, h *netns.Host, ap netip.AddrPort) *dgram.Socket {
	t.Helper()
	var s *dgram.Socket
	do(t, h, func() error {
		fam := unix.AF_INET
		if ap.Addr().Is6() {
			fam = unix.AF_INET6
		}
		var err error
		s, err = dgram.Open(fam, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		if err := s.SetReuseAddr(true); err != nil {
			s.Close()
			return err
		}
		if err := s.Bind(dgram.AddrFrom(ap)); err != nil {
			s.Close()
			return err
		}
		return nil
	})
	t.Cleanup(func() { s.Close() })
	return s
}

// wildcard is the receiving address of a group of the family v6.
func wildcard(v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), port)
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), port)
}

// joinIn joins g on s from inside h (interface names are per namespace)
// and fails the test on any error.
func joinIn(t *testing.T, h *netns.Host, s *dgram.Socket, g Group, ifaces ...string) ([]Membership, []Skipped) {
	t.Helper()
	var ms []Membership
	var sk []Skipped
	do(t, h, func() error {
		var err error
		ms, sk, err = Join(s, g, ifaces...)
		return err
	})
	return ms, sk
}

// sender opens a socket in h bound to its eth0 address of the group's
// family, sending multicast out of eth0.
func sender(t *testing.T, h *netns.Host, v6 bool) *dgram.Socket {
	t.Helper()
	s := bindIn(t, h, netip.AddrPortFrom(addr(h, v6), 0))
	do(t, h, func() error { return SetInterface(s, "eth0") })
	return s
}

// send sends payload to g. The zone is left out: dgram resolves zone names
// with a per-process cache that may hold another namespace's indexes, and
// the sender's SetInterface already picks the link.
func send(t *testing.T, s *dgram.Socket, g Group, payload string) {
	t.Helper()
	to := dgram.AddrFrom(netip.AddrPortFrom(g.Addr.WithZone(""), port))
	if _, err := s.SendTo([]byte(payload), 0, to); err != nil {
		t.Fatalf("send %q to %v: %v", payload, to, err)
	}
}

// recv reads one datagram, failing the test after wait.
func recv(t *testing.T, s *dgram.Socket) (string, netip.Addr) {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	n, from, err := s.RecvFrom(buf, 0)
	if err != nil {
		t.Fatalf("receive on %v: %v", s, err)
	}
	return string(buf[:n]), from.AddrPort.Addr().Unmap()
}

// expect reads one datagram and checks it is want.
func expect(t *testing.T, s *dgram.Socket, want string) {
	t.Helper()
	if got, _ := recv(t, s); got != want {
		t.Fatalf("received %q on %v; want %q", got, s, want)
	}
}

// expectNone checks that nothing arrives on s for quiet.
func expectNone(t *testing.T, s *dgram.Socket) {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(quiet))
	buf := make([]byte, 1500)
	n, from, err := s.RecvFrom(buf, 0)
	if err == nil {
		t.Fatalf("received %q from %v on %v; want nothing", buf[:n], from, s)
	}
	var de *dgram.Error
	if !errors.As(err, &de) || !de.Timeout() {
		t.Fatalf("receive on %v: %v; want a timeout", s, err)
	}
}

// hostGroups lists the memberships of h's namespace.
func hostGroups(t *testing.T, h *netns.Host) []HostMembership {
	t.Helper()
	var ms []HostMembership
	do(t, h, func() (err error) {
		ms, err = HostMemberships()
		return err
	})
	return ms
}

// hostUsers is the Users count of group on ifname in h, 0 when absent.
func hostUsers(t *testing.T, h *netns.Host, group netip.Addr, ifname string) int {
	t.Helper()
	ms := hostGroups(t, h)
	i := slices.IndexFunc(ms, func(m HostMembership) bool {
		return m.IfName == ifname && m.Group.WithZone("") == group.WithZone("")
	})
	if i < 0 {
		return 0
	}
	return ms[i].Users
}
