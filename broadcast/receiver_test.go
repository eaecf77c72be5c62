package broadcast

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

func TestReceiveLoopbackBroadcastAndUnicast(t *testing.T) {
	r := listen(t, ReceiverConfig{})
	s := newSender(t, SenderConfig{TTL: 7, TOS: 0x28})
	before := time.Now()
	for _, tc := range []struct {
		to   netip.Addr
		kind Kind
	}{
		{loBcast, Broadcast},
		{loopback, Unicast},
		{netip.MustParseAddr("127.0.0.2"), Unicast}, // local by the 127/8 route, assigned to nothing
	} {
		t.Run(tc.to.String(), func(t *testing.T) {
			if err := s.Send([]byte("hello"), netip.AddrPortFrom(tc.to, port(r))); err != nil {
				t.Fatal(err)
			}
			p, data := recvOne(t, r)
			if data != "hello" || p.Size != 5 || p.Truncated {
				t.Errorf("payload %q size %d truncated %v; want \"hello\" 5 false", data, p.Size, p.Truncated)
			}
			if p.Kind != tc.kind || p.Dst != tc.to {
				t.Errorf("kind %v dst %v; want %v %v", p.Kind, p.Dst, tc.kind, tc.to)
			}
			if p.Src != netip.AddrPortFrom(loopback, s.LocalAddr().Port()) {
				t.Errorf("src %v; want 127.0.0.1:%d", p.Src, s.LocalAddr().Port())
			}
			lo, err := InterfaceByName("lo")
			if err != nil {
				t.Fatal(err)
			}
			if p.IfIndex != lo.Index || p.IfName != "lo" {
				t.Errorf("interface %d %q; want %d lo", p.IfIndex, p.IfName, lo.Index)
			}
			if p.TTL != 7 || p.TOS != 0x28 {
				t.Errorf("ttl %d tos %#x; want 7 0x28", p.TTL, p.TOS)
			}
			if !p.Own {
				t.Error("Own is false for a datagram from 127.0.0.1")
			}
			if p.Time.Before(before.Add(-time.Second)) || p.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("kernel timestamp %v not around now (%v)", p.Time, before)
			}
			wantLocal := tc.to
			if tc.kind == Broadcast {
				wantLocal = loopback
			}
			if p.Local != wantLocal {
				t.Errorf("local %v; want %v", p.Local, wantLocal)
			}
		})
	}
}

func TestReceiveDualStack(t *testing.T) {
	r := listen(t, ReceiverConfig{Network: "udp6"})
	s4 := newSender(t, SenderConfig{})
	if err := s4.Send([]byte("v4"), netip.AddrPortFrom(loBcast, port(r))); err != nil {
		t.Fatal(err)
	}
	p, _ := recvOne(t, r)
	if !p.Src.Addr().Is4() || p.Dst != loBcast || p.Kind != Broadcast || p.Local != loopback {
		t.Errorf("IPv4 broadcast on a udp6 socket: src %v dst %v kind %v local %v; want an IPv4 source, %v, broadcast, %v", p.Src, p.Dst, p.Kind, p.Local, loBcast, loopback)
	}
	s6 := newSender(t, SenderConfig{Network: "udp6", TTL: 9})
	if err := s6.Send([]byte("v6"), netip.AddrPortFrom(netip.IPv6Loopback(), port(r))); err != nil {
		t.Fatal(err)
	}
	p, _ = recvOne(t, r)
	if p.Dst != netip.IPv6Loopback() || p.Kind != Unicast || p.TTL != 9 || !p.Own || p.IfName != "lo" || p.Local.IsValid() {
		t.Errorf("IPv6 unicast: dst %v kind %v hop limit %d own %v if %q local %v; want ::1 unicast 9 true lo none", p.Dst, p.Kind, p.TTL, p.Own, p.IfName, p.Local)
	}
}

func TestReceiveTruncated(t *testing.T) {
	r := listen(t, ReceiverConfig{BufSize: 16})
	s := newSender(t, SenderConfig{})
	payload := []byte(strings.Repeat("x", 100))
	if err := s.Send(payload, netip.AddrPortFrom(loopback, port(r))); err != nil {
		t.Fatal(err)
	}
	p, _ := recvOne(t, r)
	if !p.Truncated || p.Size != 100 || len(p.Data) != 16 {
		t.Errorf("truncated %v size %d len(data) %d; want true 100 16", p.Truncated, p.Size, len(p.Data))
	}
}

func TestReceiveBatch(t *testing.T) {
	r := listen(t, ReceiverConfig{Batch: 8})
	s := newSender(t, SenderConfig{})
	to := netip.AddrPortFrom(loopback, port(r))
	msgs := [][]byte{[]byte("0"), []byte("1"), []byte("2"), []byte("3"), []byte("4")}
	if n, err := s.SendBatch(msgs, to); err != nil || n != len(msgs) {
		t.Fatalf("SendBatch: %d, %v; want %d, nil", n, err, len(msgs))
	}
	out := make([]Packet, 16)
	var got []string
	for len(got) < len(msgs) {
		n, err := r.Receive(testCtx(t), out)
		if err != nil {
			t.Fatal(err)
		}
		if n > 8 {
			t.Fatalf("Receive returned %d packets; Batch is 8", n)
		}
		for _, p := range out[:n] {
			got = append(got, string(p.Data))
		}
	}
	if strings.Join(got, "") != "01234" {
		t.Errorf("got %q; want 0..4 in order", got)
	}
}

// waitModes runs fn for a Receiver that waits in the poller and one that
// waits in the kernel (WaitInKernel), with how soon an ended context,
// deadline or Close must end its Receive.
func waitModes(t *testing.T, fn func(t *testing.T, kernel bool, bound time.Duration)) {
	t.Run("poller", func(t *testing.T) { fn(t, false, 2*time.Second) })
	t.Run("kernel", func(t *testing.T) { fn(t, true, 100*time.Millisecond) })
}

func TestReceiveContext(t *testing.T) {
	waitModes(t, testReceiveContext)
}

func testReceiveContext(t *testing.T, kernel bool, bound time.Duration) {
	r := listen(t, ReceiverConfig{WaitInKernel: kernel})
	s := newSender(t, SenderConfig{})
	out := make([]Packet, 1)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := r.Receive(ctx, out); !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive after cancel: %v; want context.Canceled", err)
	}
	if d := time.Since(start) - 50*time.Millisecond; d > bound {
		t.Errorf("cancel took %v to end Receive; want within %v", d, bound)
	}
	if _, err := r.Receive(ctx, out); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with an ended context: %v; want context.Canceled", err)
	}

	// A new context must find the socket usable: the deadline that ended
	// the last wait is gone.
	if err := s.Send([]byte("after"), netip.AddrPortFrom(loopback, port(r))); err != nil {
		t.Fatal(err)
	}
	if _, data := recvOne(t, r); data != "after" {
		t.Errorf("got %q; want \"after\"", data)
	}

	// The caller's own deadline still works, also without a context.
	if err := r.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Receive(context.Background(), out); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Receive past the read deadline: %v; want os.ErrDeadlineExceeded", err)
	}

	// A context that ends while a caller's deadline is set: the deadline is
	// put back for the next context.
	if err := r.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := r.Receive(ctx2, out); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context: %v", err)
	}
	if err := s.Send([]byte("again"), netip.AddrPortFrom(loopback, port(r))); err != nil {
		t.Fatal(err)
	}
	if _, data := recvOne(t, r); data != "again" {
		t.Errorf("got %q; want \"again\"", data)
	}
}

func TestReceiveClose(t *testing.T) {
	waitModes(t, func(t *testing.T, kernel bool, bound time.Duration) {
		r, err := Listen(ReceiverConfig{WaitInKernel: kernel})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := r.Receive(context.Background(), make([]Packet, 1))
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		r.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Receive after Close: %v; want net.ErrClosed", err)
			}
			if d := time.Since(start); d > bound {
				t.Errorf("Close took %v to end Receive; want within %v", d, bound)
			}
		case <-time.After(testTimeout):
			t.Fatal("Close did not end Receive")
		}
	})
}

func TestReceiveDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so allocation counts are meaningless; the plain test run checks them")
	}
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for name, ctx := range map[string]context.Context{"background": context.Background(), "cancellable": cancellable} {
		for _, kernel := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/kernel=%v", name, kernel), func(t *testing.T) {
				testReceiveDoesNotAllocate(t, ctx, kernel)
			})
		}
	}
}

func testReceiveDoesNotAllocate(t *testing.T, ctx context.Context, kernel bool) {
	r := listen(t, ReceiverConfig{RecvBuffer: 1 << 20, WaitInKernel: kernel})
	s := newSender(t, SenderConfig{})
	payload := make([]byte, 100)
	out := make([]Packet, 4)
	for _, to := range []netip.Addr{loopback, loBcast} {
		dst := netip.AddrPortFrom(to, port(r))
		allocs := testing.AllocsPerRun(500, func() {
			if err := s.Send(payload, dst); err != nil {
				t.Fatal(err)
			}
			n, err := r.Receive(ctx, out)
			if err != nil || n != 1 || out[0].IfName == "" || out[0].Time.IsZero() {
				t.Fatalf("Receive: %d, %v, %+v", n, err, out[0])
			}
		})
		if allocs != 0 {
			t.Errorf("Send+Receive to %v: %v allocations per datagram; want 0", to, allocs)
		}
	}
}

func TestReplySource(t *testing.T) {
	waitModes(t, testReplySource)
}

// testReplySource: Reply answers from the right address whichever way
// Receive waits; a Receiver that waits in the kernel also sends keeping
// the processor.
func testReplySource(t *testing.T, kernel bool, _ time.Duration) {
	r := listen(t, ReceiverConfig{WaitInKernel: kernel})
	if got := r.Socket().SendKeepsProcessor(); got != kernel {
		t.Errorf("WaitInKernel %v: the socket's sends keep the processor: %v", kernel, got)
	}
	for _, tc := range []struct {
		name     string
		from, to netip.Addr
		want     netip.Addr
	}{
		// Unicast to an address the host answers for: the reply comes
		// from that same address, not the primary 127.0.0.1.
		{"unicast keeps dst", netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.2")},
		// Broadcast: never from 127.255.255.255, but from lo's address in
		// the asker's subnet.
		{"broadcast dst replaced", netip.MustParseAddr("127.0.0.3"), loBcast, loopback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asker := newSender(t, SenderConfig{Local: netip.AddrPortFrom(tc.from, 0)})
			if err := asker.Send([]byte("who is there?"), netip.AddrPortFrom(tc.to, port(r))); err != nil {
				t.Fatal(err)
			}
			p, _ := recvOne(t, r)
			if err := r.Reply(&p, []byte("me")); err != nil {
				t.Fatal(err)
			}
			sock := asker.Socket()
			sock.SetReadDeadline(time.Now().Add(testTimeout))
			buf := make([]byte, 64)
			n, from, err := sock.RecvFrom(buf, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := netip.AddrPortFrom(tc.want, port(r))
			if string(buf[:n]) != "me" || from.AddrPort != want {
				t.Errorf("reply %q from %v; want \"me\" from %v", buf[:n], from, want)
			}
		})
	}
	if err := r.Reply(&Packet{}, []byte("x")); err == nil {
		t.Error("Reply to a packet without source: no error")
	}
}

// fakeMessage builds what recvmmsg would have stored for one datagram.
func fakeMessage(buf []byte, src netip.AddrPort, c msghdr.Control) dgram.Message {
	return dgram.Message{
		Buffers: [][]byte{buf},
		Control: c.Append(make([]byte, 0, 256)),
		Addr:    dgram.AddrFrom(src),
		N:       len(buf),
		Size:    len(buf),
	}
}

func TestFillFilterAndOwn(t *testing.T) {
	r := listen(t, ReceiverConfig{Iface: "lo"})
	lo, err := InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	pkt := func(ifindex int, src netip.Addr) msghdr.Control {
		return msghdr.Control{Has: msghdr.FlagPktInfo4 | msghdr.FlagTTL | msghdr.FlagRxqOvfl, IfIndex: ifindex, Dst: loBcast, SpecDst: loopback, TTL: 3, Drops: 11}
	}
	r.bufs[0], r.bufs[1], r.bufs[2] = []byte("a"), []byte("b"), []byte("c")
	ms := []dgram.Message{
		fakeMessage(r.bufs[0], netip.AddrPortFrom(otherHost, 1), pkt(lo.Index, otherHost)),
		fakeMessage(r.bufs[1], netip.AddrPortFrom(otherHost, 2), pkt(lo.Index+1000, otherHost)), // another interface
		fakeMessage(r.bufs[2], netip.AddrPortFrom(loopback, 3), pkt(lo.Index, loopback)),
	}
	out := make([]Packet, 3)
	n := r.fill(ms, out)
	if n != 2 || r.Filtered() != 1 {
		t.Fatalf("fill kept %d, filtered %d; want 2 and 1", n, r.Filtered())
	}
	if string(out[0].Data) != "a" || out[0].Own || out[0].Kind != Broadcast || out[0].TTL != 3 || out[0].IfName != "lo" {
		t.Errorf("remote packet: %+v; want data a, not own, broadcast, ttl 3, lo", out[0])
	}
	if string(out[1].Data) != "c" || !out[1].Own {
		t.Errorf("own packet: %+v; want data c, own", out[1])
	}
	// Packet.Drops is what the control message said; Receiver.Drops asks
	// the socket itself, which has dropped nothing.
	if out[0].Drops != 11 || r.Drops() != 0 {
		t.Errorf("drops %d / %d; want 11 in the packet and 0 from the socket", out[0].Drops, r.Drops())
	}
	if out[0].TOS != 0 || !out[0].Time.IsZero() {
		t.Errorf("absent TOS and timestamp: %d %v; want 0 and the zero Time", out[0].TOS, out[0].Time)
	}
}

func TestIfaceFilterByName(t *testing.T) {
	r := listen(t, ReceiverConfig{Iface: "lo", BindDevice: true})
	s := newSender(t, SenderConfig{})
	if err := s.Send([]byte("x"), netip.AddrPortFrom(loBcast, port(r))); err != nil {
		t.Fatal(err)
	}
	if p, _ := recvOne(t, r); p.IfName != "lo" {
		t.Errorf("arrived on %q; want lo", p.IfName)
	}
	_, err := Listen(ReceiverConfig{Iface: "nosuch0"})
	if err == nil || !strings.Contains(err.Error(), `"nosuch0"`) || !strings.Contains(err.Error(), "lo") {
		t.Errorf("Listen on a missing interface: %v; want an error naming it and listing lo", err)
	}
}

func TestReusePortBothReceiveBroadcast(t *testing.T) {
	a := listen(t, ReceiverConfig{ReusePort: true})
	b := listen(t, ReceiverConfig{ReusePort: true, Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), port(a))})
	s := newSender(t, SenderConfig{})
	if err := s.Send([]byte("all"), netip.AddrPortFrom(loBcast, port(a))); err != nil {
		t.Fatal(err)
	}
	for i, r := range []*Receiver{a, b} {
		if p, data := recvOne(t, r); data != "all" || p.Kind != Broadcast {
			t.Errorf("receiver %d got %q kind %v; want \"all\" broadcast", i, data, p.Kind)
		}
	}
	_, err := Listen(ReceiverConfig{Addr: a.LocalAddr()})
	if !errors.Is(err, unix.EADDRINUSE) || Explain(err) == "" {
		t.Errorf("Listen on a taken port without ReusePort: %v (%q); want EADDRINUSE with an explanation", err, Explain(err))
	}
}

func TestDrops(t *testing.T) {
	r := listen(t, ReceiverConfig{RecvBuffer: 1})
	s := newSender(t, SenderConfig{})
	to := netip.AddrPortFrom(loopback, port(r))
	payload := make([]byte, 1000)
	for range 200 {
		if err := s.Send(payload, to); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel stamps each datagram with the drop count as it queues it,
	// so the count shows on the first datagram queued after the drops:
	// drain the queue, then send one more.
	out := make([]Packet, 32)
	for range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := r.Receive(ctx, out)
		cancel()
		if err != nil {
			break
		}
	}
	if err := s.Send([]byte("last"), to); err != nil {
		t.Fatal(err)
	}
	p, data := recvOne(t, r)
	if data != "last" || p.Drops == 0 || r.Drops() != p.Drops {
		t.Errorf("after 200 datagrams into a minimal buffer: %q with drops %d, Drops() %d; want \"last\" with the same count > 0", data, p.Drops, r.Drops())
	}
}

func TestWarnings(t *testing.T) {
	if w := listen(t, ReceiverConfig{}).Warnings(); len(w) != 0 {
		t.Errorf("wildcard receiver warns: %q", w)
	}
	if w := listen(t, ReceiverConfig{Addr: netip.AddrPortFrom(loBcast, 0)}).Warnings(); len(w) != 0 {
		t.Errorf("receiver bound to a broadcast address warns: %q", w)
	}
	w := listen(t, ReceiverConfig{Addr: netip.AddrPortFrom(loopback, 0)}).Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "0.0.0.0") || !strings.Contains(w[0], "broadcast") {
		t.Errorf("receiver bound to 127.0.0.1: warnings %q; want one that says to bind 0.0.0.0", w)
	}
	// A receive buffer far beyond net.core.rmem_max: either granted (with
	// CAP_NET_ADMIN, SO_RCVBUFFORCE) or reported.
	r := listen(t, ReceiverConfig{RecvBuffer: 1 << 30})
	got, err := r.Socket().OptionInt(unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		t.Fatal(err)
	}
	if w := r.Warnings(); (got < 1<<30) != (len(w) == 1) {
		t.Errorf("granted %d of %d bytes; warnings %q", got, 1<<30, w)
	}
}

func TestListenErrors(t *testing.T) {
	for _, cfg := range []ReceiverConfig{
		{Network: "tcp"},
		{Addr: netip.MustParseAddrPort("[::1]:0")},
		{BindDevice: true},
	} {
		if r, err := Listen(cfg); err == nil {
			r.Close()
			t.Errorf("Listen(%+v): no error", cfg)
		}
	}
}

// Receiver.Drops counts the kernel's drops with no control message asked
// for: every datagram sent over loopback is either received or dropped.
func TestDropsWithoutControlMessages(t *testing.T) {
	r := listen(t, ReceiverConfig{Metadata: MetaNone, RecvBuffer: 1})
	s := newSender(t, SenderConfig{})
	to := netip.AddrPortFrom(loopback, port(r))
	const sent = 200
	payload := make([]byte, 1000)
	for range sent {
		if err := s.Send(payload, to); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]Packet, 8)
	received := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		n, err := r.Receive(ctx, out)
		cancel()
		if err != nil {
			break
		}
		received += n
		for _, p := range out[:n] {
			if p.Drops != 0 {
				t.Fatalf("Packet.Drops %d without MetaDrops; want 0", p.Drops)
			}
		}
	}
	drops := r.Drops()
	if drops == 0 || received+int(drops) != sent {
		t.Errorf("received %d + dropped %d; want %d in all, some dropped (a receive buffer of one datagram)", received, drops, sent)
	}
}
