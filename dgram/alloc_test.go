package dgram

import (
	"context"
	"testing"
	"time"

	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// The datagram hot paths promise zero allocations per datagram, control
// messages included.
func TestHotPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so allocation counts are meaningless; the plain test run checks them")
	}
	families(t, func(t *testing.T, family int) {
		rx, tx, to := udpPair(t, family)
		bound(t, rx, tx)
		if _, err := rx.SetRecvBuffer(4 << 20); err != nil {
			t.Fatal(err)
		}
		if family == unix.AF_INET {
			enable(t, rx, [2]int{unix.IPPROTO_IP, unix.IP_PKTINFO}, [2]int{unix.IPPROTO_IP, unix.IP_RECVTTL})
		} else {
			enable(t, rx, [2]int{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO}, [2]int{unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT})
		}
		enable(t, rx, [2]int{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS})
		payload := make([]byte, 64)
		ctl := make([]byte, 0, 64)
		if family == unix.AF_INET {
			ctl = msghdr.AppendTTL(ctl, 9)
		} else {
			ctl = msghdr.AppendHopLimit(ctl, 9)
		}
		out := Message{Buffers: [][]byte{payload}, Control: ctl, Addr: to}
		in := Message{Buffers: [][]byte{make([]byte, 2048)}, Control: make([]byte, 0, 256)}
		var c msghdr.Control
		allocs := testing.AllocsPerRun(200, func() {
			if err := tx.SendMsg(&out, 0); err != nil {
				t.Fatal(err)
			}
			if err := rx.RecvMsg(&in, 0); err != nil {
				t.Fatal(err)
			}
			if err := c.Parse(in.Control); err != nil || c.TTL != 9 {
				t.Fatalf("parse: %v ttl %d", err, c.TTL)
			}
		})
		if allocs != 0 {
			t.Errorf("SendMsg+RecvMsg+Parse: %v allocations per datagram; want 0", allocs)
		}

		const batch = 16
		outs := make([]Message, batch)
		ins := make([]Message, batch)
		for i := range outs {
			outs[i] = Message{Buffers: [][]byte{payload}, Addr: to}
			ins[i] = Message{Buffers: [][]byte{make([]byte, 2048)}, Control: make([]byte, 0, 256)}
		}
		allocs = testing.AllocsPerRun(100, func() {
			if _, err := tx.SendBatch(outs, 0); err != nil {
				t.Fatal(err)
			}
			for got := 0; got < batch; {
				n, err := rx.RecvBatch(ins, 0)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					if err := c.Parse(ins[i].Control); err != nil {
						t.Fatal(err)
					}
				}
				got += n
			}
		})
		if allocs != 0 {
			t.Errorf("SendBatch+RecvBatch of %d: %v allocations; want 0", batch, allocs)
		}

		buf := make([]byte, 2048)
		allocs = testing.AllocsPerRun(200, func() {
			if _, err := tx.SendTo(payload, 0, to); err != nil {
				t.Fatal(err)
			}
			if _, _, err := rx.RecvFrom(buf, 0); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("SendTo+RecvFrom: %v allocations; want 0", allocs)
		}
	})
}

func TestPollerWaitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: allocation counts are meaningless; the plain test run checks them")
	}
	rx, tx, to := udpPair(t, unix.AF_INET)
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(rx, Readable); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	ready := make([]Ready, 0, 4)
	allocs := testing.AllocsPerRun(200, func() {
		tx.SendTo(buf, 0, to)
		var err error
		ready, err = p.Wait(context.Background(), time.Second, ready[:0])
		if err != nil || len(ready) != 1 {
			t.Fatalf("Wait = %v, %v", ready, err)
		}
		rx.Recv(buf, 0)
	})
	if allocs != 0 {
		t.Errorf("Poller.Wait: %v allocations per call; want 0", allocs)
	}
	if a := testing.AllocsPerRun(100, func() { Errno(nil) }); a != 0 {
		t.Errorf("Errno(nil): %v allocations; want 0", a)
	}
}
