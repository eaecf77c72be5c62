package main

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/bcastdev/bcast/broadcast"
	"golang.org/x/sys/unix"
)

// selfB2B is a b2b run whose socket is connected to itself: each request
// is its own reply, so a transaction is the send, the receive and all of
// ping's work around them, without a peer or a context switch.
func selfB2B(tb testing.TB) *b2b {
	tb.Helper()
	s, err := broadcast.NewSender(broadcast.SenderConfig{Local: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Connect(s.LocalAddr()); err != nil {
		tb.Fatal(err)
	}
	return newB2B(s, s.LocalAddr(), 64, 0, time.Second)
}

// BenchmarkBackToBackSelf is one back-to-back transaction on a socket that
// answers itself; BenchmarkBackToBackSelfSyscalls is the same two system
// calls made bare, the floor it is measured against.
func BenchmarkBackToBackSelf(b *testing.B) {
	p := selfB2B(b)
	b.ReportAllocs()
	for b.Loop() {
		if o, _, err := p.transact(); o != replied || err != nil {
			b.Fatalf("outcome %v, %v", o, err)
		}
	}
}

func BenchmarkBackToBackSelfSyscalls(b *testing.B) {
	p := selfB2B(b)
	rc, err := p.sock.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var fd uintptr
	_ = rc.Control(func(f uintptr) { fd = f })
	in := make([]byte, 2048)
	out := p.payload
	b.ReportAllocs()
	for b.Loop() {
		_ = time.Now()
		if _, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), unix.MSG_DONTWAIT, 0, 0); e != 0 {
			b.Fatal(e)
		}
		if _, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), unix.MSG_DONTWAIT, 0, 0); e != 0 {
			b.Fatal(e)
		}
		_ = time.Now()
	}
}
