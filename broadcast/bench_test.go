package broadcast

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkReceive measures the receive path per datagram: recvmmsg,
// control parsing, classification and interface lookup. A sender on the
// same goroutine keeps the queue fed with batches.
func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			r := listen(b, ReceiverConfig{RecvBuffer: 8 << 20})
			s := newSender(b, SenderConfig{})
			to := netip.AddrPortFrom(loBcast, port(r))
			batch := make([][]byte, 32)
			for i := range batch {
				batch[i] = make([]byte, size)
			}
			out := make([]Packet, 32)
			ctx := testCtx(b)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for got := 0; got < b.N; {
				if _, err := s.SendBatch(batch[:min(len(batch), b.N-got)], to); err != nil {
					b.Fatal(err)
				}
				for want := got + min(len(batch), b.N-got); got < want; {
					n, err := r.Receive(ctx, out)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
		})
	}
}

// BenchmarkReceiveMetadata is BenchmarkReceive's 64-byte case (sent to
// 127.0.0.1) with each metadata set a caller may ask for: what a
// count-only loop saves by asking for the drop counter alone.
func BenchmarkReceiveMetadata(b *testing.B) {
	for _, tc := range []struct {
		name string
		meta Metadata
	}{{"all", MetaAll}, {"drops", MetaDrops}, {"drops+time", MetaDrops | MetaTime}, {"none", MetaNone}} {
		b.Run(tc.name, func(b *testing.B) {
			r := listen(b, ReceiverConfig{RecvBuffer: 8 << 20, Metadata: tc.meta})
			s := newSender(b, SenderConfig{})
			to := netip.AddrPortFrom(loopback, port(r))
			batch := make([][]byte, 32)
			for i := range batch {
				batch[i] = make([]byte, 64)
			}
			out := make([]Packet, 32)
			ctx := testCtx(b)
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for got := 0; got < b.N; {
				if _, err := s.SendBatch(batch[:min(len(batch), b.N-got)], to); err != nil {
					b.Fatal(err)
				}
				for want := got + min(len(batch), b.N-got); got < want; {
					n, err := r.Receive(ctx, out)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
		})
	}
}
