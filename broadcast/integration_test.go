package broadcast

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
	"golang.org/x/sys/unix"
)

const labPort = 9999

func listenIn(t *testing.T, h *netns.Host, cfg ReceiverConfig) *Receiver {
	t.Helper()
	var r *Receiver
	if err := h.Do(func() (err error) { r, err = Listen(cfg); return err }); err != nil {
		t.Fatalf("Listen(%+v) in %s: %v", cfg, h, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func senderIn(t *testing.T, h *netns.Host, cfg SenderConfig) *Sender {
	t.Helper()
	var s *Sender
	if err := h.Do(func() (err error) { s, err = NewSender(cfg); return err }); err != nil {
		t.Fatalf("NewSender(%+v) in %s: %v", cfg, h, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recvPayload receives until a datagram with payload want arrives and
// returns it; other datagrams (left over from an earlier step) are logged
// and skipped.
func recvPayload(t *testing.T, r *Receiver, want string) Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out := make([]Packet, 8)
	for {
		n, err := r.Receive(ctx, out)
		if err != nil {
			t.Fatalf("waiting for %q on %v: %v", want, r.LocalAddr(), err)
		}
		for _, p := range out[:n] {
			if string(p.Data) == want {
				return p
			}
			t.Logf("skipping %q from %v", p.Data, p.Src)
		}
	}
}

func wantOK(t *testing.T, results []Result, err error, wantTo ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("fan-out: %v", err)
	}
	var got []string
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Iface.Name, r.Err)
		}
		got = append(got, r.Iface.Name+" "+r.To.Addr().String()+" from "+r.Src.String())
	}
	if strings.Join(got, ", ") != strings.Join(wantTo, ", ") {
		t.Errorf("fan-out sent %q; want %q", got, wantTo)
	}
}

// TestIntegrationLAN runs senders and receivers on the two-LAN standard
// topology, where no host has a default route.
func TestIntegrationLAN(t *testing.T) {
	tp := netns.StandardTopology(t)
	a1, a2, a4, b1, r := tp.Host("a1"), tp.Host("a2"), tp.Host("a4"), tp.Host("b1"), tp.Host("r")
	any := netip.AddrPortFrom(netip.IPv4Unspecified(), labPort)
	rxA1 := listenIn(t, a1, ReceiverConfig{Addr: any})
	rxA2 := listenIn(t, a2, ReceiverConfig{Addr: any})
	rxB1 := listenIn(t, b1, ReceiverConfig{Addr: any})
	txA1 := senderIn(t, a1, SenderConfig{})

	t.Run("limited broadcast needs an interface", func(t *testing.T) {
		err := txA1.Send([]byte("x"), netip.AddrPortFrom(limitedBroadcast, labPort))
		if !errors.Is(err, unix.ENETUNREACH) || !strings.Contains(Explain(err), "--all-interfaces") {
			t.Errorf("255.255.255.255 without a default route: %v, explained %q; want ENETUNREACH and advice", err, Explain(err))
		}
	})

	t.Run("limited fan-out", func(t *testing.T) {
		res, err := txA1.SendAllLimited([]byte("limited"), labPort)
		wantOK(t, res, err, "eth0 255.255.255.255 from 10.71.1.1")
		p := recvPayload(t, rxA2, "limited")
		if p.Kind != Broadcast || p.Dst != limitedBroadcast || p.Src != netip.AddrPortFrom(tp.NIC("a1", "eth0").Addr4(), txA1.LocalAddr().Port()) {
			t.Errorf("a2 got %v to %v from %v; want broadcast to 255.255.255.255 from 10.71.1.1", p.Kind, p.Dst, p.Src)
		}
		if p.IfName != "eth0" || p.IfIndex != tp.NIC("a2", "eth0").Index() || p.Own || p.Local.String() != "10.71.1.2" {
			t.Errorf("a2: arrived on %d %q, own %v, local %v; want eth0 (%d), not own, 10.71.1.2", p.IfIndex, p.IfName, p.Own, p.Local, tp.NIC("a2", "eth0").Index())
		}
		if own := recvPayload(t, rxA1, "limited"); !own.Own {
			t.Errorf("a1 heard its own broadcast from %v with Own false", own.Src)
		}
		expectNothing(t, rxB1, 200*time.Millisecond)

		// Reply goes back from a2's address in a1's subnet, out of eth0.
		if err := rxA2.Reply(&p, []byte("answer")); err != nil {
			t.Fatal(err)
		}
		sock := txA1.Socket()
		sock.SetReadDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, 64)
		n, from, err := sock.RecvFrom(buf, 0)
		if err != nil || string(buf[:n]) != "answer" || from.AddrPort.String() != "10.71.1.2:9999" {
			t.Errorf("reply: %q from %v, %v; want \"answer\" from 10.71.1.2:9999", buf[:n], from, err)
		}
	})

	t.Run("directed fan-out", func(t *testing.T) {
		res, err := txA1.SendAllDirected([]byte("directed"), labPort)
		wantOK(t, res, err, "eth0 10.71.1.255 from 10.71.1.1")
		if p := recvPayload(t, rxA2, "directed"); p.Kind != Broadcast || p.Dst.String() != "10.71.1.255" {
			t.Errorf("a2 got %v to %v; want broadcast to 10.71.1.255", p.Kind, p.Dst)
		}
	})

	t.Run("router fans out to both LANs", func(t *testing.T) {
		txR := senderIn(t, r, SenderConfig{})
		res, err := txR.SendAllLimited([]byte("from r"), labPort)
		wantOK(t, res, err, "eth0 255.255.255.255 from 10.71.1.254", "eth1 255.255.255.255 from 10.71.2.254")
		if p := recvPayload(t, rxA2, "from r"); p.Src.Addr().String() != "10.71.1.254" {
			t.Errorf("a2 got it from %v; want 10.71.1.254", p.Src)
		}
		if p := recvPayload(t, rxB1, "from r"); p.Src.Addr().String() != "10.71.2.254" {
			t.Errorf("b1 got it from %v; want 10.71.2.254", p.Src)
		}

		// One interface only, by configuration.
		txR1 := senderIn(t, r, SenderConfig{Iface: "eth1"})
		res, err = txR1.SendAllLimited([]byte("only B"), labPort)
		wantOK(t, res, err, "eth1 255.255.255.255 from 10.71.2.254")
		recvPayload(t, rxB1, "only B")
		if err := txR1.Send([]byte("plain B"), netip.AddrPortFrom(limitedBroadcast, labPort)); err != nil {
			t.Errorf("Send to 255.255.255.255 with Iface eth1: %v", err)
		}
		recvPayload(t, rxB1, "plain B")
		expectNothing(t, rxA2, 200*time.Millisecond)
	})

	t.Run("receiver keeps one interface", func(t *testing.T) {
		rxR := listenIn(t, r, ReceiverConfig{Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), labPort+1), Iface: "eth1"})
		txB1 := senderIn(t, b1, SenderConfig{})
		if _, err := txA1.SendAllLimited([]byte("from A"), labPort+1); err != nil {
			t.Fatal(err)
		}
		if _, err := txB1.SendAllLimited([]byte("from B"), labPort+1); err != nil {
			t.Fatal(err)
		}
		p := recvPayload(t, rxR, "from B")
		if p.IfName != "eth1" {
			t.Errorf("arrived on %q; want eth1", p.IfName)
		}
		expectNothing(t, rxR, 200*time.Millisecond)
		if got := rxR.Filtered(); got != 1 {
			t.Errorf("Filtered() = %d; want 1 (the datagram from LAN A)", got)
		}
	})

	t.Run("real prefixes and broadcast addresses", func(t *testing.T) {
		ctx := context.Background()
		for _, args := range [][]string{
			{"10.72.0.9/22", "brd", "10.72.0.77"}, // the kernel's IFA_BROADCAST wins
			{"10.74.0.5/22"},                      // none given: computed from the /22
			{"10.73.0.0/31"},                      // no broadcast at all
		} {
			cmd := append([]string{"-n", a4.NS(), "addr", "add", args[0]}, args[1:]...)
			if _, err := tp.Lab.Shell(ctx, "ip", append(cmd, "dev", "eth0")...); err != nil {
				t.Fatal(err)
			}
		}
		var eth0 Interface
		var bc []Interface
		if err := a4.Do(func() (err error) {
			if eth0, err = InterfaceByName("eth0"); err != nil {
				return err
			}
			bc, err = BroadcastInterfaces()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range eth0.IPv4() {
			got = append(got, a.String())
		}
		want := "10.71.1.4/24 brd 10.71.1.255, 10.72.0.9/22 brd 10.72.0.77, 10.74.0.5/22 brd 10.74.3.255, 10.73.0.0/31"
		if strings.Join(got, ", ") != want {
			t.Errorf("a4 eth0: %s; want %s", strings.Join(got, ", "), want)
		}
		if len(bc) != 1 || bc[0].Name != "eth0" {
			t.Errorf("a4 BroadcastInterfaces: %v; want eth0 only", bc)
		}

		txA4 := senderIn(t, a4, SenderConfig{})
		res, err := txA4.SendAllDirected([]byte("subnets"), labPort)
		wantOK(t, res, err, "eth0 10.71.1.255 from 10.71.1.4", "eth0 10.72.0.77 from 10.72.0.9", "eth0 10.74.3.255 from 10.74.0.5")
		// a2 is only on 10.71.1.0/24: the other subnets' broadcasts reach
		// its link but are not addressed to it.
		if p := recvPayload(t, rxA2, "subnets"); p.Dst.String() != "10.71.1.255" {
			t.Errorf("a2 got the broadcast to %v; want 10.71.1.255", p.Dst)
		}
		expectNothing(t, rxA2, 200*time.Millisecond)
	})

	t.Run("new interface is named without a restart", func(t *testing.T) {
		nic := a2.Attach(tp.B, "eth1", netip.MustParseAddr("10.71.2.3"), netip.Addr{})
		txB1 := senderIn(t, b1, SenderConfig{})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		out := make([]Packet, 8)
		for {
			if _, err := txB1.SendAllLimited([]byte("new link"), labPort); err != nil {
				t.Fatal(err)
			}
			n, err := rxA2.Receive(ctx, out)
			if err != nil {
				t.Fatalf("no datagram named the new interface: %v", err)
			}
			if p := out[n-1]; string(p.Data) == "new link" && p.IfIndex == nic.Index() && p.IfName == "eth1" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
