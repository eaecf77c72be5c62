package dgram

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkRecvBatch64One is the flood case the kept headers are for: 64
// messages offered, one datagram waiting per call.
func BenchmarkRecvBatch64One(b *testing.B) {
	rx, tx, to := benchPair(b)
	rx.SetOptionBool(unix.IPPROTO_IP, unix.IP_PKTINFO, true)
	ms := make([]Message, 64)
	for i := range ms {
		ms[i] = Message{Buffers: [][]byte{make([]byte, 2048)}, Control: make([]byte, 0, 128)}
	}
	p := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tx.SendTo(p, 0, to); err != nil {
			b.Fatal(err)
		}
		if n, err := rx.RecvBatch(ms, 0); err != nil || n != 1 {
			b.Fatalf("RecvBatch = %d, %v; want 1", n, err)
		}
	}
}

// BenchmarkPrepareRecv64 is the header upkeep alone between two calls of a
// 64-message receive loop whose last call returned one datagram; "offer8"
// offers only the first 8 of the 64 (as broadcast.Receiver does while the
// datagrams come one to four a call), "offer64" all of them.
func BenchmarkPrepareRecv64(b *testing.B) {
	for _, offer := range []int{8, 64} {
		b.Run(fmt.Sprintf("offer%d", offer), func(b *testing.B) { benchPrepareRecv(b, offer) })
	}
}

func benchPrepareRecv(b *testing.B, offer int) {
	ms := make([]Message, 64)
	for i := range ms {
		ms[i] = Message{Buffers: [][]byte{make([]byte, 2048)}, Control: make([]byte, 0, 128)}
	}
	op := &batchOp{}
	if err := op.prepareRecv(ms, unix.AF_INET); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		// What the kernel writes back for the one datagram it returned.
		op.hdrs[0].Hdr.SetControllen(32)
		op.hdrs[0].Hdr.Namelen = 16
		op.wrote = 1
		if err := op.prepareRecv(ms[:offer], unix.AF_INET); err != nil {
			b.Fatal(err)
		}
	}
}
