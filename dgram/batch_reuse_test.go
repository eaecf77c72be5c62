package dgram

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// RecvBatch keeps its headers from one call to the next when it is given the
// same messages; whatever the caller changed in between must still be seen.
func TestRecvBatchSeesChangedMessages(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	if err := rx.SetOptionBool(unix.IPPROTO_IP, unix.IP_PKTINFO, true); err != nil {
		t.Fatal(err)
	}
	ms := make([]Message, 4)
	for i := range ms {
		ms[i] = Message{Buffers: [][]byte{make([]byte, 64)}, Control: make([]byte, 0, 64)}
	}
	// recvOne sends payload and receives it into ms (all of ms offered).
	recvOne := func(payload string) *Message {
		t.Helper()
		if _, err := tx.SendTo([]byte(payload), 0, to); err != nil {
			t.Fatal(err)
		}
		n, err := rx.RecvBatch(ms, 0)
		if err != nil || n != 1 {
			t.Fatalf("RecvBatch(%q) = %d, %v; want 1", payload, n, err)
		}
		return &ms[0]
	}

	m := recvOne("first")
	if string(m.Buffers[0][:m.N]) != "first" || len(m.Control) == 0 || !m.Addr.AddrPort.IsValid() {
		t.Fatalf("first: %q, %d control bytes, from %v", m.Buffers[0][:m.N], len(m.Control), m.Addr)
	}
	firstCtl := len(m.Control)
	// Unchanged messages, reused. The kernel wrote back how much control
	// data the first datagram used; with IP_RECVTTL on, the next ones bring
	// more, which fits only if that length was reset to the whole buffer.
	if err := rx.SetOptionBool(unix.IPPROTO_IP, unix.IP_RECVTTL, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"second", "third"} {
		if m := recvOne(p); string(m.Buffers[0][:m.N]) != p || len(m.Control) <= firstCtl || m.ControlTruncated() || !m.Addr.AddrPort.IsValid() {
			t.Fatalf("%s: %q, %d control bytes (first had %d), ctrunc %v, from %v", p, m.Buffers[0][:m.N], len(m.Control), firstCtl, m.ControlTruncated(), m.Addr)
		}
	}

	// A buffer replaced in place (same Buffers backing array).
	old := ms[0].Buffers[0]
	fresh := make([]byte, 64)
	ms[0].Buffers[0] = fresh
	if m := recvOne("into the new buffer"); !bytes.Equal(fresh[:m.N], []byte("into the new buffer")) || bytes.Contains(old, []byte("new")) {
		t.Errorf("replaced buffer: new holds %q, old %q", fresh[:m.N], old[:20])
	}

	// A shorter buffer: the datagram must be cut at its new length.
	ms[0].Buffers[0] = fresh[:4]
	if m := recvOne("truncated now"); m.N != 4 || m.Size != 13 || !m.Truncated() {
		t.Errorf("shortened buffer: N %d Size %d truncated %v; want 4 13 true", m.N, m.Size, m.Truncated())
	}

	// Two buffers instead of one: scattered over both.
	a, b := make([]byte, 3), make([]byte, 64)
	ms[0].Buffers = [][]byte{a, b}
	if m := recvOne("scattered"); m.N != 9 || string(a) != "sca" || string(b[:6]) != "ttered" {
		t.Errorf("two buffers: N %d, %q + %q", m.N, a, b[:6])
	}

	// No room for control data any more: the kernel must be told so.
	ms[0].Control = nil
	if m := recvOne("no control"); len(m.Control) != 0 || !m.ControlTruncated() {
		t.Errorf("no control buffer: %d control bytes, ctrunc %v; want 0 and MSG_CTRUNC", len(m.Control), m.ControlTruncated())
	}

	// A control buffer shrunk in place, in a message the last call did not
	// fill (so the kernel did not write its header): the kernel must be
	// told the smaller size, or it would write past the new capacity.
	ms[1].Control = ms[1].Control[:0:4]
	for _, p := range []string{"one", "two"} {
		if _, err := tx.SendTo([]byte(p), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := rx.RecvBatch(ms, 0); err != nil || n != 2 {
		t.Fatalf("RecvBatch of two = %d, %v; want 2", n, err)
	}
	if m := &ms[1]; string(m.Buffers[0][:m.N]) != "two" || len(m.Control) != 0 || !m.ControlTruncated() {
		t.Errorf("shrunk control buffer: %q, %d control bytes, ctrunc %v; want \"two\", 0, true", m.Buffers[0][:m.N], len(m.Control), m.ControlTruncated())
	}

	// Close pools the kept scratch, so the socket stops holding the buffers.
	rx.Close()
	if rx.recvOp.Load() != nil {
		t.Error("Close kept the receive scratch (and the caller's buffers)")
	}
}

// A receive into the start of the messages the headers were built for
// reuses them; a change in that start is still seen, and so is one past it
// once the whole batch is offered again.
func TestRecvBatchPrefixSeesChanges(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	ms := make([]Message, 16)
	for i := range ms {
		ms[i] = Message{Buffers: [][]byte{make([]byte, 64)}}
	}
	recv := func(batch []Message, payloads ...string) {
		t.Helper()
		for _, p := range payloads {
			if _, err := tx.SendTo([]byte(p), 0, to); err != nil {
				t.Fatal(err)
			}
		}
		n, err := rx.RecvBatch(batch, 0)
		if err != nil || n != len(payloads) {
			t.Fatalf("RecvBatch of %d = %d, %v; want %d", len(batch), n, err, len(payloads))
		}
		for i, p := range payloads {
			if got := string(batch[i].Buffers[0][:batch[i].N]); got != p[:min(len(p), batch[i].N)] {
				t.Fatalf("message %d: %q; want %q", i, got, p)
			}
		}
	}
	recv(ms, "a")
	recv(ms[:4], "b", "c")
	// Replaced in the prefix: seen before the next receive into it.
	fresh := make([]byte, 64)
	ms[1].Buffers[0] = fresh
	recv(ms[:4], "d", "e")
	if string(fresh[:1]) != "e" {
		t.Fatalf("replaced buffer in the prefix holds %q; want e", fresh[:1])
	}
	// Shortened past the prefix: unseen while only the prefix is offered,
	// seen once all of ms is.
	ms[5].Buffers[0] = ms[5].Buffers[0][:2]
	recv(ms[:4], "f")
	recv(ms, "1", "2", "3", "4", "5", "long one")
	if m := &ms[5]; m.N != 2 || !m.Truncated() {
		t.Fatalf("shortened buffer past the prefix: N %d truncated %v; want 2, true", m.N, m.Truncated())
	}
}

// A receive into a prefix shorter than what the last call wrote rebuilds
// the headers: the ones past the prefix hold the name length of the last
// sender, which for unix sockets is as long as that sender's path.
func TestRecvBatchShortPrefixAfterLongCall(t *testing.T) {
	dir := t.TempDir()
	rx := mustOpen(t, unix.AF_UNIX, unix.SOCK_DGRAM)
	if err := rx.Bind(Addr{Path: dir + "/rx", Unix: true}); err != nil {
		t.Fatal(err)
	}
	short := mustOpen(t, unix.AF_UNIX, unix.SOCK_DGRAM)
	if err := short.Bind(Addr{Path: dir + "/s", Unix: true}); err != nil {
		t.Fatal(err)
	}
	long := mustOpen(t, unix.AF_UNIX, unix.SOCK_DGRAM)
	longPath := dir + "/a-much-longer-sender-path"
	if err := long.Bind(Addr{Path: longPath, Unix: true}); err != nil {
		t.Fatal(err)
	}
	to := Addr{Path: dir + "/rx", Unix: true}
	ms := make([]Message, 8)
	for i := range ms {
		ms[i] = Message{Buffers: [][]byte{make([]byte, 64)}}
	}
	for range 4 {
		if _, err := short.SendTo([]byte("s"), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := rx.RecvBatch(ms, 0); err != nil || n != 4 {
		t.Fatalf("RecvBatch = %d, %v; want 4", n, err)
	}
	if _, err := short.SendTo([]byte("s"), 0, to); err != nil {
		t.Fatal(err)
	}
	if n, err := rx.RecvBatch(ms[:1], 0); err != nil || n != 1 {
		t.Fatalf("RecvBatch of 1 = %d, %v; want 1", n, err)
	}
	for range 4 {
		if _, err := long.SendTo([]byte("l"), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	n, err := rx.RecvBatch(ms, 0)
	if err != nil || n != 4 {
		t.Fatalf("RecvBatch = %d, %v; want 4", n, err)
	}
	for i := range n {
		if ms[i].Addr.Path != longPath {
			t.Errorf("message %d from %q; want %q", i, ms[i].Addr.Path, longPath)
		}
	}
}
