package dgram

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// Every send call delivers the same with SetSendKeepsProcessor on, and
// reports errors the same.
func TestSendKeepsProcessorSends(t *testing.T) {
	families(t, func(t *testing.T, family int) {
		rx, tx, to := udpPair(t, family)
		bound(t, rx, tx)
		tx.SetSendKeepsProcessor(true)
		if !tx.SendKeepsProcessor() || rx.SendKeepsProcessor() {
			t.Fatalf("SendKeepsProcessor: tx %v, rx %v; want true, false", tx.SendKeepsProcessor(), rx.SendKeepsProcessor())
		}
		if err := tx.Connect(to); err != nil {
			t.Fatal(err)
		}
		var v msghdr.Iovecs
		v.Add([]byte("write"))
		v.Add([]byte("v"))
		sends := []struct {
			name string
			send func() error
			want string
		}{
			{"Write", func() error { _, err := tx.Write([]byte("write")); return err }, "write"},
			{"Send", func() error { _, err := tx.Send([]byte("send"), 0); return err }, "send"},
			{"SendTo", func() error { _, err := tx.SendTo([]byte("sendto"), 0, to); return err }, "sendto"},
			{"WriteV", func() error { _, err := tx.WriteV(&v); return err }, "writev"},
			{"SendMsg", func() error { return tx.SendMsg(&Message{Buffers: [][]byte{[]byte("sendmsg")}}, 0) }, "sendmsg"},
			{"SendBatch", func() error {
				_, err := tx.SendBatch([]Message{{Buffers: [][]byte{[]byte("sendbatch")}}}, 0)
				return err
			}, "sendbatch"},
		}
		buf := make([]byte, 64)
		for _, s := range sends {
			if err := s.send(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			n, err := rx.Read(buf)
			if err != nil || string(buf[:n]) != s.want {
				t.Errorf("%s: received %q, %v; want %q", s.name, buf[:n], err, s.want)
			}
		}

		// A port unreachable is reported on the next send, as without.
		rx.Close()
		if _, err := tx.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		var err error
		for range 50 {
			if _, err = tx.Write([]byte("x")); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !errors.Is(err, unix.ECONNREFUSED) {
			t.Errorf("send after port unreachable: %v; want ECONNREFUSED", err)
		}
	})
}

// A send that finds no room still waits in the poller, and completes when
// the peer makes room.
func TestSendKeepsProcessorWaitsForRoom(t *testing.T) {
	a, b := mustPair(t, unix.SOCK_DGRAM)
	a.SetSendKeepsProcessor(true)
	msg := bytes.Repeat([]byte("x"), 1024)
	a.SetNonblock(true)
	queued := 0
	for ; queued < 100000; queued++ {
		if _, err := a.Write(msg); errors.Is(err, unix.EAGAIN) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	a.SetNonblock(false)
	done := make(chan error, 1)
	go func() { _, err := a.Write(msg); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("send with a full peer returned %v at once; want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	buf := make([]byte, 2048)
	for range queued + 1 {
		if _, err := b.Read(buf); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("send after room was made: %v", err)
			}
			return
		default:
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("send after room was made: %v", err)
	}
}

func TestSendKeepsProcessorDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so allocation counts are meaningless; the plain test run checks them")
	}
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	tx.SetSendKeepsProcessor(true)
	out := Message{Buffers: [][]byte{make([]byte, 64)}, Addr: to}
	in := make([]byte, 2048)
	allocs := testing.AllocsPerRun(200, func() {
		if err := tx.SendMsg(&out, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := rx.Read(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("SendMsg with the processor kept: %v allocations; want 0", allocs)
	}
}
