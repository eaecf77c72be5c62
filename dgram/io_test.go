package dgram

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSendToRecvFrom(t *testing.T) {
	families(t, func(t *testing.T, family int) {
		rx, tx, to := udpPair(t, family)
		bound(t, rx, tx)
		if _, err := tx.SendTo([]byte("hello"), 0, to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, from, err := rx.RecvFrom(buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != "hello" {
			t.Errorf("payload %q; want %q", got, "hello")
		}
		txAddr, err := tx.Sockname()
		if err != nil {
			t.Fatal(err)
		}
		if from.AddrPort.Port() != txAddr.AddrPort.Port() || from.AddrPort.Addr() != to.AddrPort.Addr() {
			t.Errorf("source %v; want loopback with the sender's port %d", from, txAddr.AddrPort.Port())
		}
	})
}

func TestConnectedReadWrite(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	if err := tx.Connect(to); err != nil {
		t.Fatal(err)
	}
	peer, err := tx.Peername()
	if err != nil || peer != to {
		t.Fatalf("Peername() = %v, %v; want %v", peer, err, to)
	}
	if _, err := tx.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Send([]byte("def"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for _, want := range []string{"abc", "def"} {
		n, err := rx.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("Read() = %q, %v; want %q", buf[:n], err, want)
		}
	}
	// Dissolving the association lets the socket send anywhere again.
	if err := tx.Connect(Addr{}); err != nil {
		t.Fatalf("Connect(Addr{}) (AF_UNSPEC): %v", err)
	}
	if _, err := tx.Peername(); !errors.Is(err, unix.ENOTCONN) {
		t.Errorf("Peername after disconnect: %v; want ENOTCONN", err)
	}
}

func TestTruncationIsReported(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	payload := bytes.Repeat([]byte("x"), 1000)
	send := func() {
		t.Helper()
		if _, err := tx.SendTo(payload, 0, to); err != nil {
			t.Fatal(err)
		}
	}

	send()
	m := Message{Buffers: [][]byte{make([]byte, 100)}}
	if err := rx.RecvMsg(&m, 0); err != nil {
		t.Fatal(err)
	}
	if !m.Truncated() || m.N != 100 || m.Size != 1000 {
		t.Errorf("RecvMsg: truncated=%v N=%d Size=%d; want true 100 1000", m.Truncated(), m.N, m.Size)
	}

	send()
	buf := make([]byte, 10)
	n, err := rx.Read(buf)
	var te *TruncatedError
	if !errors.As(err, &te) || n != 10 || te.Size != 1000 || te.N != 10 {
		t.Errorf("Read: n=%d err=%v; want 10 and a *TruncatedError{10, 1000}", n, err)
	}

	send()
	n, from, err := rx.RecvFrom(buf, 0)
	if !errors.As(err, &te) || n != 10 || !from.AddrPort.IsValid() {
		t.Errorf("RecvFrom: n=%d from=%v err=%v; want 10, a source, *TruncatedError", n, from, err)
	}
}

func TestScatterGather(t *testing.T) {
	a, b := mustPair(t, unix.SOCK_DGRAM)
	out := Message{Buffers: [][]byte{[]byte("head-"), []byte("body-"), []byte("tail")}}
	if err := a.SendMsg(&out, 0); err != nil {
		t.Fatal(err)
	}
	if out.N != 14 {
		t.Errorf("SendMsg N = %d; want 14", out.N)
	}
	in := Message{Buffers: [][]byte{make([]byte, 3), make([]byte, 20)}}
	if err := b.RecvMsg(&in, 0); err != nil {
		t.Fatal(err)
	}
	if got := string(in.Buffers[0]) + string(in.Buffers[1][:in.N-3]); got != "head-body-tail" || in.Truncated() {
		t.Errorf("scattered %q (truncated %v); want %q", got, in.Truncated(), "head-body-tail")
	}
}

func TestStreamEOFAndShortBuffers(t *testing.T) {
	a, b := mustPair(t, unix.SOCK_STREAM)
	if _, err := a.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(ShutWrite); err != nil {
		t.Fatal(err)
	}
	// A stream is not truncated by a small buffer: the rest comes next.
	got, err := io.ReadAll(readerFunc(func(p []byte) (int, error) { return b.Read(p[:min(len(p), 4)]) }))
	if err != nil || string(got) != "0123456789" {
		t.Errorf("ReadAll = %q, %v; want %q, nil", got, err, "0123456789")
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestZeroLengthDatagram(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	if _, err := tx.SendTo(nil, 0, to); err != nil {
		t.Fatal(err)
	}
	n, from, err := rx.RecvFrom(make([]byte, 8), 0)
	if err != nil || n != 0 || !from.AddrPort.IsValid() {
		t.Errorf("RecvFrom = %d, %v, %v; want an empty datagram with its source, not EOF", n, from, err)
	}
}

func TestIPv4MappedDestinationOnIPv4Socket(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	mapped := AddrFrom(netip.AddrPortFrom(netip.AddrFrom16(to.AddrPort.Addr().As16()), to.AddrPort.Port()))
	if _, err := tx.SendTo([]byte("m"), 0, mapped); err != nil {
		t.Fatalf("SendTo(%v) on an IPv4 socket: %v", mapped, err)
	}
	if _, _, err := rx.RecvFrom(make([]byte, 4), 0); err != nil {
		t.Fatal(err)
	}
}
