package dgram

import (
	"testing"

	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// The benchmarks send and receive on one goroutine over loopback, so they
// measure the per-datagram cost of the library path, not a flood.

func benchPair(b *testing.B) (rx, tx *Socket, to Addr) {
	rx, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rx.Close() })
	rx.SetRecvBuffer(8 << 20)
	to, _ = rx.Sockname()
	tx, err = Open(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close() })
	return rx, tx, to
}

func BenchmarkSendRecvMsg(b *testing.B) {
	rx, tx, to := benchPair(b)
	rx.SetOptionBool(unix.IPPROTO_IP, unix.IP_PKTINFO, true)
	rx.SetOptionBool(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, true)
	out := Message{Buffers: [][]byte{make([]byte, 64)}, Addr: to}
	in := Message{Buffers: [][]byte{make([]byte, 2048)}, Control: make([]byte, 0, 128)}
	var c msghdr.Control
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if err := tx.SendMsg(&out, 0); err != nil {
			b.Fatal(err)
		}
		if err := rx.RecvMsg(&in, 0); err != nil {
			b.Fatal(err)
		}
		if err := c.Parse(in.Control); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatch32(b *testing.B) {
	rx, tx, to := benchPair(b)
	rx.SetOptionBool(unix.IPPROTO_IP, unix.IP_PKTINFO, true)
	const batch = 32
	outs := make([]Message, batch)
	ins := make([]Message, batch)
	for i := range outs {
		outs[i] = Message{Buffers: [][]byte{make([]byte, 64)}, Addr: to}
		ins[i] = Message{Buffers: [][]byte{make([]byte, 2048)}, Control: make([]byte, 0, 128)}
	}
	var c msghdr.Control
	b.SetBytes(64 * batch)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tx.SendBatch(outs, 0); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; {
			n, err := rx.RecvBatch(ins, 0)
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				c.Parse(ins[i].Control)
			}
			got += n
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "datagrams/s")
}

func BenchmarkSendToRecvFrom(b *testing.B) {
	rx, tx, to := benchPair(b)
	p := make([]byte, 64)
	buf := make([]byte, 2048)
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tx.SendTo(p, 0, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := rx.RecvFrom(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}
