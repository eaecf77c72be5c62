package dgram

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// udpPair returns a receiver bound to an ephemeral loopback port and an
// unbound sender of the same family, both closed at the end of the test.
func udpPair(t *testing.T, family int) (rx, tx *Socket, rxAddr Addr) {
	t.Helper()
	loop := netip.MustParseAddr("127.0.0.1")
	if family == unix.AF_INET6 {
		loop = netip.IPv6Loopback()
	}
	rx = mustOpen(t, family, unix.SOCK_DGRAM)
	if err := rx.Bind(AddrFrom(netip.AddrPortFrom(loop, 0))); err != nil {
		t.Fatal(err)
	}
	a, err := rx.Sockname()
	if err != nil {
		t.Fatal(err)
	}
	tx = mustOpen(t, family, unix.SOCK_DGRAM)
	return rx, tx, a
}

func mustOpen(t *testing.T, family, sotype int) *Socket {
	t.Helper()
	s, err := Open(family, sotype, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustPair returns a connected socketpair with deadlines, closed at the end
// of the test.
func mustPair(t *testing.T, sotype int) (a, b *Socket) {
	t.Helper()
	a, b, err := Pair(sotype)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	bound(t, a, b)
	return a, b
}

// bound gives every blocking test call a deadline, so a broken path fails
// instead of hanging the suite.
func bound(t *testing.T, socks ...*Socket) {
	t.Helper()
	for _, s := range socks {
		if err := s.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

func families(t *testing.T, fn func(t *testing.T, family int)) {
	for _, tc := range []struct {
		name   string
		family int
	}{{"ipv4", unix.AF_INET}, {"ipv6", unix.AF_INET6}} {
		t.Run(tc.name, func(t *testing.T) { fn(t, tc.family) })
	}
}
