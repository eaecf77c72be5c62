package dgram

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBatchRoundTrip(t *testing.T) {
	families(t, func(t *testing.T, family int) {
		rx, tx, to := udpPair(t, family)
		bound(t, rx, tx)
		if _, err := rx.SetRecvBuffer(1 << 20); err != nil {
			t.Fatal(err)
		}
		const n = 64
		out := make([]Message, n)
		for i := range out {
			p := make([]byte, 8+i)
			binary.BigEndian.PutUint64(p, uint64(i))
			out[i] = Message{Buffers: [][]byte{p}, Addr: to}
		}
		sent, err := tx.SendBatch(out, 0)
		if err != nil || sent != n {
			t.Fatalf("SendBatch = %d, %v; want %d", sent, err, n)
		}
		for i := range out {
			if out[i].N != 8+i {
				t.Errorf("message %d: N = %d; want %d", i, out[i].N, 8+i)
			}
		}
		in := make([]Message, 16)
		for i := range in {
			in[i] = Message{Buffers: [][]byte{make([]byte, 128)}}
		}
		next := 0
		for next < n {
			got, err := rx.RecvBatch(in, 0)
			if err != nil {
				t.Fatalf("RecvBatch after %d: %v", next, err)
			}
			for _, m := range in[:got] {
				seq := binary.BigEndian.Uint64(m.Buffers[0])
				if int(seq) != next || m.N != 8+next || m.Truncated() || !m.Addr.AddrPort.IsValid() {
					t.Fatalf("datagram %d: seq %d N %d truncated %v from %v", next, seq, m.N, m.Truncated(), m.Addr)
				}
				next++
			}
		}
	})
}

func TestBatchReportsTruncationPerMessage(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	for _, size := range []int{10, 500, 20} {
		if _, err := tx.SendTo(make([]byte, size), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	in := make([]Message, 3)
	for i := range in {
		in[i] = Message{Buffers: [][]byte{make([]byte, 100)}}
	}
	got := 0
	for got < 3 {
		n, err := rx.RecvBatch(in[got:], 0)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	want := []struct {
		n, size int
		trunc   bool
	}{{10, 10, false}, {100, 500, true}, {20, 20, false}}
	for i, w := range want {
		if in[i].N != w.n || in[i].Size != w.size || in[i].Truncated() != w.trunc {
			t.Errorf("message %d: N=%d Size=%d truncated=%v; want %d %d %v", i, in[i].N, in[i].Size, in[i].Truncated(), w.n, w.size, w.trunc)
		}
	}
}

func TestSendBatchBadAddressMidway(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	ms := []Message{
		{Buffers: [][]byte{[]byte("a")}, Addr: to},
		{Buffers: [][]byte{[]byte("b")}, Addr: UnixAddr("/nowhere")},
		{Buffers: [][]byte{[]byte("c")}, Addr: to},
	}
	sent, err := tx.SendBatch(ms, 0)
	if sent != 1 || err == nil {
		t.Fatalf("SendBatch = %d, %v; want 1 sent and an error for the unix address", sent, err)
	}
	if _, _, err := rx.RecvFrom(make([]byte, 4), 0); err != nil {
		t.Errorf("the datagram before the bad one was not sent: %v", err)
	}
}
