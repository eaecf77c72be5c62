package broadcast

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests, so a broken path fails
// instead of hanging the suite.
const testTimeout = 5 * time.Second

var (
	loopback  = netip.MustParseAddr("127.0.0.1")
	loBcast   = netip.MustParseAddr("127.255.255.255") // lo's directed broadcast (127.0.0.0/8)
	otherHost = netip.MustParseAddr("203.0.113.9")     // TEST-NET-3: never one of ours
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func listen(t testing.TB, cfg ReceiverConfig) *Receiver {
	t.Helper()
	r, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func newSender(t testing.TB, cfg SenderConfig) *Sender {
	t.Helper()
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatalf("NewSender(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recvOne receives exactly one packet and returns a copy of its payload
// with it.
func recvOne(t testing.TB, r *Receiver) (Packet, string) {
	t.Helper()
	out := make([]Packet, 1)
	n, err := r.Receive(testCtx(t), out)
	if err != nil {
		t.Fatalf("Receive on %v: %v", r.LocalAddr(), err)
	}
	if n != 1 {
		t.Fatalf("Receive: %d packets; want 1", n)
	}
	return out[0], string(out[0].Data)
}

// expectNothing checks that r gets no datagram within d.
func expectNothing(t testing.TB, r *Receiver, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out := make([]Packet, 4)
	if n, err := r.Receive(ctx, out); err == nil {
		t.Errorf("got %d unexpected datagrams, first %q from %v to %v on %s", n, out[0].Data, out[0].Src, out[0].Dst, out[0].IfName)
	}
}

func port(r *Receiver) uint16 { return r.LocalAddr().Port() }
