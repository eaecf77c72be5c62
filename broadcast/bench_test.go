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
