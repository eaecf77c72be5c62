package broadcast

import (
	"context"
	"net/netip"
	"testing"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/netns"
	"golang.org/x/sys/unix"
)

// TestIntegrationGSO sends with GSO between two hosts on a bridged LAN
// (veth pairs, as containers have), then shrinks the sender's MTU below
// the segment size, which the kernel refuses for GSO but not for plain
// datagrams (those are fragmented): SendMany must fall back without an
// error and every datagram must arrive.
func TestIntegrationGSO(t *testing.T) {
	netns.RequireRoot(t)
	lab := netns.New(t)
	lan := lab.LAN("gso", netip.MustParsePrefix("10.72.1.0/24"), netip.Prefix{})
	a, b := lab.Host("a"), lab.Host("b")
	srcIP, dstIP := netip.MustParseAddr("10.72.1.1"), netip.MustParseAddr("10.72.1.2")
	a.Attach(lan, "eth0", srcIP, netip.Addr{})
	b.Attach(lan, "eth0", dstIP, netip.Addr{})

	r := listenIn(t, b, ReceiverConfig{RecvBuffer: 8 << 20})
	s := senderIn(t, a, SenderConfig{GSO: true})
	to := netip.AddrPortFrom(dstIP, port(r))
	src := netip.AddrPortFrom(srcIP, s.LocalAddr().Port())

	payloads := numbered(100, 1400, 0)
	if n, err := s.SendMany(payloads, to); err != nil || n != len(payloads) || s.Path() != "gso" {
		t.Fatalf("SendMany across the bridge = %d, %v, path %q; want all by GSO", n, err, s.Path())
	}
	samePayloadsOn(t, recvN(t, r, len(payloads), 32), payloads, src, "eth0")

	if out, err := a.Run(context.Background(), "ip", "link", "set", "eth0", "mtu", "1280"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if n, err := s.SendMany(payloads, to); err != nil || n != len(payloads) {
		t.Fatalf("SendMany of 1400-byte segments over a 1280-byte MTU = %d, %v; want all, no error", n, err)
	}
	errno := dgram.Errno(s.GSOError())
	t.Logf("the kernel refused GSO with %v: %v", errno, s.GSOError())
	if errno != unix.EMSGSIZE && errno != unix.EINVAL { // EINVAL before Linux 5.x
		t.Errorf("GSOError %v; want EMSGSIZE (or EINVAL on older kernels)", s.GSOError())
	}
	samePayloadsOn(t, recvN(t, r, len(payloads), 32), payloads, src, "eth0")

	// EMSGSIZE retires only that size: segments under the MTU still go
	// by GSO.
	if errno == unix.EMSGSIZE {
		small := numbered(100, 1000, 0)
		if n, err := s.SendMany(small, to); err != nil || n != len(small) || s.Path() != "gso" {
			t.Errorf("1000-byte segments after the refusal: %d, %v, path %q; want all by GSO", n, err, s.Path())
		}
		samePayloadsOn(t, recvN(t, r, len(small), 32), small, src, "eth0")
	}
}
