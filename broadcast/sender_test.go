package broadcast

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

func TestSenderSetsBroadcast(t *testing.T) {
	s := newSender(t, SenderConfig{})
	if on, err := s.Socket().OptionBool(unix.SOL_SOCKET, unix.SO_BROADCAST); err != nil || !on {
		t.Errorf("SO_BROADCAST: %v, %v; want true", on, err)
	}
	if s.LocalAddr().Port() == 0 || !s.LocalAddr().Addr().IsUnspecified() {
		t.Errorf("LocalAddr %v; want the wildcard and a real port", s.LocalAddr())
	}

	// The same send without SO_BROADCAST: what NewSender saves callers from.
	r := listen(t, ReceiverConfig{})
	plain, err := dgram.Open(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_, err = plain.SendTo([]byte("x"), 0, dgram.AddrFrom(netip.AddrPortFrom(loBcast, port(r))))
	if !errors.Is(err, unix.EACCES) || !strings.Contains(Explain(err), "SO_BROADCAST") {
		t.Errorf("broadcast without SO_BROADCAST: %v, explained %q; want EACCES and SO_BROADCAST named", err, Explain(err))
	}
}

func TestSendViaChoosesSourceAndInterface(t *testing.T) {
	r := listen(t, ReceiverConfig{})
	lo, err := InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, SenderConfig{})
	src := netip.MustParseAddr("127.0.0.5")
	if err := s.SendVia([]byte("via"), netip.AddrPortFrom(loBcast, port(r)), lo.Index, src); err != nil {
		t.Fatal(err)
	}
	p, _ := recvOne(t, r)
	if p.Src.Addr() != src || p.IfIndex != lo.Index || p.Kind != Broadcast {
		t.Errorf("src %v if %d kind %v; want %v %d broadcast", p.Src, p.IfIndex, p.Kind, src, lo.Index)
	}

	// A configured interface and source apply to Send and SendBatch.
	s2 := newSender(t, SenderConfig{Iface: "lo", Src: src, BindDevice: true})
	if err := s2.Send([]byte("cfg"), netip.AddrPortFrom(loopback, port(r))); err != nil {
		t.Fatal(err)
	}
	if p, _ := recvOne(t, r); p.Src.Addr() != src || p.IfName != "lo" {
		t.Errorf("Send with Iface and Src: from %v on %q; want %v on lo", p.Src, p.IfName, src)
	}
	if n, err := s2.SendBatch([][]byte{[]byte("b")}, netip.AddrPortFrom(loopback, port(r))); n != 1 || err != nil {
		t.Fatalf("SendBatch: %d, %v", n, err)
	}
	if p, _ := recvOne(t, r); p.Src.Addr() != src {
		t.Errorf("SendBatch with Src: from %v; want %v", p.Src, src)
	}
}

func TestSenderErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  SenderConfig
		want string
	}{
		{SenderConfig{Network: "udp"}, `network "udp"`},
		{SenderConfig{Iface: "nosuch0"}, `"nosuch0"`},
		{SenderConfig{Src: otherHost}, "not an address of this host"},
		{SenderConfig{Src: netip.IPv6Loopback()}, "IPv6"},
		{SenderConfig{BindDevice: true}, "needs Iface"},
		{SenderConfig{TTL: 300}, "TTL 300"},
		{SenderConfig{TOS: -1}, "TOS -1"},
	} {
		s, err := NewSender(tc.cfg)
		if err == nil {
			s.Close()
			t.Errorf("NewSender(%+v): no error", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSender(%+v): %v; want it to mention %s", tc.cfg, err, tc.want)
		}
	}

	s := newSender(t, SenderConfig{})
	if err := s.SendVia(nil, netip.MustParseAddrPort("[::1]:9"), 1, netip.Addr{}); err == nil {
		t.Error("IPv6 destination on a udp4 sender: no error")
	}
	if err := s.SendVia(nil, netip.MustParseAddrPort("127.0.0.1:9"), 0, netip.IPv6Loopback()); err == nil {
		t.Error("IPv6 source for an IPv4 destination: no error")
	}
	s6 := newSender(t, SenderConfig{Network: "udp6"})
	if err := s6.SendVia(nil, netip.MustParseAddrPort("[::1]:9"), 0, loopback); err == nil {
		t.Error("IPv4 source for an IPv6 destination: no error")
	}
}

// On the loopback-only view of this test, lo is the one interface that is
// certainly there, and it cannot broadcast: the fan-outs must say why
// rather than send anything.
func TestFanOutRefusesLoopback(t *testing.T) {
	s := newSender(t, SenderConfig{Iface: "lo"})
	for name, fn := range map[string]func([]byte, uint16) ([]Result, error){
		"limited":  s.SendAllLimited,
		"directed": s.SendAllDirected,
	} {
		res, err := fn([]byte("x"), 9)
		if err == nil || !strings.Contains(err.Error(), "lo: loopback") || res != nil {
			t.Errorf("%s fan-out out of lo: %v, %v; want an error saying lo is loopback", name, res, err)
		}
	}
}

func TestSummary(t *testing.T) {
	ok := Result{}
	bad := Result{Err: fmt.Errorf("eth0: %w", unix.ENETDOWN)}
	if err := summary([]Result{bad, ok}); err != nil {
		t.Errorf("one success: %v; want nil", err)
	}
	err := summary([]Result{bad, {Err: fmt.Errorf("eth1: %w", unix.EPERM)}})
	if !errors.Is(err, unix.ENETDOWN) || !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "eth1") {
		t.Errorf("all failed: %v; want both errors joined", err)
	}
}

func TestSendDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so allocation counts are meaningless; the plain test run checks them")
	}
	r := listen(t, ReceiverConfig{RecvBuffer: 4 << 20})
	s := newSender(t, SenderConfig{Iface: "lo", Src: loopback})
	to := netip.AddrPortFrom(loopback, port(r))
	payload := make([]byte, 64)
	out := make([]Packet, 32)
	ctx := testCtx(t)
	allocs := testing.AllocsPerRun(200, func() {
		if err := s.Send(payload, to); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Receive(ctx, out[:1]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Send with IP_PKTINFO: %v allocations; want 0", allocs)
	}
	batch := make([][]byte, 32)
	for i := range batch {
		batch[i] = payload
	}
	allocs = testing.AllocsPerRun(100, func() {
		if n, err := s.SendBatch(batch, to); err != nil || n != len(batch) {
			t.Fatalf("SendBatch: %d, %v", n, err)
		}
		for got := 0; got < len(batch); {
			n, err := r.Receive(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("SendBatch of %d + Receive: %v allocations; want 0", len(batch), allocs)
	}
}

// A Sender bound to its interface and connected sends to its peer without
// IP_PKTINFO (the socket leaves by the device anyway, and the connected
// route is kept); elsewhere, or unbound, each datagram still names the
// interface.
func TestBoundConnectedSenderSendsWithoutPktinfo(t *testing.T) {
	r := listen(t, ReceiverConfig{})
	peer := netip.AddrPortFrom(loopback, port(r))
	lo, err := InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	bound := newSender(t, SenderConfig{Iface: "lo", BindDevice: true})
	unbound := newSender(t, SenderConfig{Iface: "lo"})
	for _, s := range []*Sender{bound, unbound} {
		if err := s.Connect(peer); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		s       *Sender
		dst     netip.Addr
		ifindex int
		src     netip.Addr
		pktinfo bool
	}{
		{"bound, to the peer", bound, peer.Addr(), lo.Index, netip.Addr{}, false},
		{"bound, elsewhere", bound, netip.MustParseAddr("127.0.0.9"), lo.Index, netip.Addr{}, true},
		{"bound, to the peer from a chosen source", bound, peer.Addr(), lo.Index, loopback, true},
		{"bound, to the peer by another interface index", bound, peer.Addr(), lo.Index + 1000, netip.Addr{}, true},
		{"unbound, to the peer", unbound, peer.Addr(), lo.Index, netip.Addr{}, true},
	}
	for _, tt := range tests {
		ctl, err := tt.s.control(tt.dst, tt.ifindex, tt.src)
		if err != nil || (len(ctl) > 0) != tt.pktinfo {
			t.Errorf("%s: control %x, %v; want IP_PKTINFO %v", tt.name, ctl, err, tt.pktinfo)
		}
	}
	if err := bound.Send([]byte("bound"), peer); err != nil {
		t.Fatal(err)
	}
	if p, _ := recvOne(t, r); string(p.Data) != "bound" || p.IfName != "lo" {
		t.Errorf("received %q on %q; want \"bound\" on lo", p.Data, p.IfName)
	}
}
