package broadcast

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
)

// The send benchmarks send to a socket nobody reads: every datagram takes
// the whole send path and the loopback delivery, and the kernel drops what
// overflows the receive buffer. One op is one datagram, so ns/op is the
// cost of a datagram and datagrams/s the rate one sending goroutine
// reaches. The receive benchmarks flood a Receiver from a second goroutine
// and count what it gets: one op is one datagram received.

var benchSizes = []int{64, 1400}

// sendBench runs send over b.N datagrams in calls of up to per datagrams.
func sendBench(b *testing.B, cfg SenderConfig, connect bool, per int, send func(s *Sender, ps [][]byte, to netip.AddrPort) error) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			sink := listen(b, ReceiverConfig{Addr: netip.AddrPortFrom(loopback, 0)})
			s := newSender(b, cfg)
			to := sink.LocalAddr()
			if connect {
				if err := s.Connect(to); err != nil {
					b.Fatal(err)
				}
			}
			ps := payloadsOf(per, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += per {
				if err := send(s, ps[:min(per, b.N-sent)], to); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "datagrams/s")
			if cfg.GSO && s.Path() != "gso" && b.N > 1 {
				b.Fatalf("path %q; want gso (%v)", s.Path(), s.GSOError())
			}
		})
	}
}

// payloadsOf cuts n payloads of size bytes out of one buffer, as a sender
// that fills a buffer and sends it in pieces would: SendMany passes each
// GSO run to the kernel as one iovec.
func payloadsOf(n, size int) [][]byte {
	buf := make([]byte, n*size)
	ps := make([][]byte, n)
	for i := range ps {
		ps[i] = buf[i*size : (i+1)*size]
	}
	if os.Getenv("BCAST_BENCH_SCATTERED") != "" {
		for i := range ps {
			ps[i] = make([]byte, size)
		}
	}
	return ps
}

func sendMany(s *Sender, ps [][]byte, to netip.AddrPort) error {
	_, err := s.SendMany(ps, to)
	return err
}

func sendOneByOne(s *Sender, ps [][]byte, to netip.AddrPort) error {
	for _, p := range ps {
		if err := s.Send(p, to); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkSendManyGSO: 64 datagrams (at most 65507 bytes) per UDP_SEGMENT
// send, all of a call's sends in one sendmmsg.
func BenchmarkSendManyGSO(b *testing.B) {
	sendBench(b, SenderConfig{GSO: true}, false, 256, sendMany)
}

// BenchmarkSendManyBatch: one datagram per message, 256 per call (sendmmsg).
func BenchmarkSendManyBatch(b *testing.B) {
	sendBench(b, SenderConfig{}, false, 256, sendMany)
}

// BenchmarkSendOneByOne: one sendmsg per datagram.
func BenchmarkSendOneByOne(b *testing.B) {
	sendBench(b, SenderConfig{}, false, 256, sendOneByOne)
}

// BenchmarkSendConnected compares each path with the socket connected to
// the destination (no address, the route kept by the socket) and without.
func BenchmarkSendConnected(b *testing.B) {
	for _, tc := range []struct {
		name string
		gso  bool
		per  int
		send func(s *Sender, ps [][]byte, to netip.AddrPort) error
	}{
		{"OneByOne", false, 256, sendOneByOne},
		{"Batch", false, 256, sendMany},
		{"GSO", true, 256, sendMany},
	} {
		for _, connect := range []bool{false, true} {
			name := tc.name + "/unconnected"
			if connect {
				name = tc.name + "/connected"
			}
			b.Run(name, func(b *testing.B) { sendBench(b, SenderConfig{GSO: tc.gso}, connect, tc.per, tc.send) })
		}
	}
}

// floodBench floods a Receiver made with rcfg from a goroutine sending
// with SendMany (GSO per scfg) and measures how fast Receive drains it.
// The flood is bounded: it stops when the receiver has b.N datagrams, or
// after a minute.
func floodBench(b *testing.B, rcfg ReceiverConfig, scfg SenderConfig) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			rcfg.Addr = netip.AddrPortFrom(loopback, 0)
			r := listen(b, rcfg)
			s := newSender(b, scfg)
			to := r.LocalAddr()
			if err := s.Connect(to); err != nil {
				b.Fatal(err)
			}
			ps := payloadsOf(256, size)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stop atomic.Bool
			var sent atomic.Uint64
			var wg sync.WaitGroup
			out := make([]Packet, 64)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() && ctx.Err() == nil {
					n, err := s.SendMany(ps, to)
					sent.Add(uint64(n))
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
			got := 0
			for got < b.N {
				n, err := r.Receive(ctx, out)
				if err != nil {
					b.Errorf("after %d of %d: %v", got, b.N, err)
					break
				}
				got += n
			}
			elapsed := b.Elapsed()
			stop.Store(true)
			b.StopTimer()
			wg.Wait()
			b.ReportMetric(float64(got)/elapsed.Seconds(), "datagrams/s")
			if n := sent.Load(); n > 0 {
				b.ReportMetric(100*(1-float64(got)/float64(n)), "loss%")
			}
			if scfg.GSO && rcfg.GRO && b.N > 1000 && r.Coalesced() == 0 {
				b.Error("GRO receiver fed by GSO coalesced nothing")
			}
		})
	}
}

// BenchmarkReceiveBatch: a sendmmsg flood into Receive (recvmmsg, control
// messages parsed), one datagram per message.
func BenchmarkReceiveBatch(b *testing.B) {
	floodBench(b, ReceiverConfig{Batch: 64}, SenderConfig{})
}

// BenchmarkReceiveGRO: a GSO flood into a GRO Receiver, which gets runs of
// up to 64 datagrams per buffer and splits them.
func BenchmarkReceiveGRO(b *testing.B) {
	floodBench(b, ReceiverConfig{Batch: 64, GRO: true}, SenderConfig{GSO: true})
}

// BenchmarkSendManyUserSpace is SendMany's own cost, without the kernel: a
// stub takes the messages. It is the part of a GSO send that the library
// adds on top of the system call (planning the runs, joining the iovecs,
// building the messages).
func BenchmarkSendManyUserSpace(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			s := newSender(b, SenderConfig{GSO: true})
			s.sendmmsg = func(ms []dgram.Message, _ int) (int, error) { return len(ms), nil }
			per := 8 * min(gsoMaxSegments, gsoMaxBytes/size) // 8 full sends per call
			ps := payloadsOf(per, size)
			to := netip.AddrPortFrom(loopback, 9)
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += per {
				if _, err := s.SendMany(ps, to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReceiveUserSpace is Receive's own work per datagram, without
// the kernel: what recvmmsg would have stored for 64 datagrams of 64 bytes
// with their control messages, turned into 64 Packets. "batch" is 64
// messages of one datagram each, "gro" one buffer of 64, "none" 64 without
// control messages (MetaNone, as bcast listen --quiet asks).
func BenchmarkReceiveUserSpace(b *testing.B) {
	lo, err := InterfaceByName("lo")
	if err != nil {
		b.Fatal(err)
	}
	c := msghdr.Control{Has: msghdr.FlagPktInfo4 | msghdr.FlagTTL | msghdr.FlagTOS | msghdr.FlagTimestamp | msghdr.FlagRxqOvfl,
		IfIndex: lo.Index, Dst: loopback, SpecDst: loopback, TTL: 64, Drops: 3}
	src := netip.AddrPortFrom(loopback, 2)
	single := make([]dgram.Message, 64)
	for i := range single {
		single[i] = fakeMessage(make([]byte, 64), src, c)
	}
	c.Has |= msghdr.FlagUDPGRO
	c.GRO = 64
	coalesced := []dgram.Message{fakeMessage(make([]byte, 64*64), src, c)}
	// What a count-only loop gets: no control message at all.
	bare := make([]dgram.Message, 64)
	for i := range bare {
		bare[i] = fakeMessage(make([]byte, 64), src, msghdr.Control{})
	}
	for _, tc := range []struct {
		name string
		ms   []dgram.Message
		meta Metadata
	}{{"batch", single, MetaAll}, {"gro", coalesced, MetaAll}, {"none", bare, MetaNone}} {
		b.Run(tc.name, func(b *testing.B) {
			r := listen(b, ReceiverConfig{Metadata: tc.meta})
			out := make([]Packet, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(out) {
				if n := r.fill(tc.ms, out); n != len(out) {
					b.Fatalf("%d packets; want %d", n, len(out))
				}
			}
		})
	}
}
