package broadcast

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// numbered returns count payloads of size bytes each, the last one last
// bytes long when last > 0, each starting with its index so that order and
// content can be checked.
func numbered(count, size, last int) [][]byte {
	ps := make([][]byte, count)
	for i := range ps {
		n := size
		if i == count-1 && last > 0 {
			n = last
		}
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*7 + j)
		}
		if n >= 4 {
			binary.BigEndian.PutUint32(p, uint32(i))
		}
		ps[i] = p
	}
	return ps
}

// contiguous copies ps into one buffer and returns them as slices of it.
func contiguous(ps [][]byte) [][]byte {
	buf := slices.Concat(ps...)
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i], buf = buf[:len(p)], buf[len(p):]
	}
	return out
}

// gotPacket is a received packet with its own copy of the payload.
type gotPacket struct {
	Packet
	data []byte
}

// recvN receives exactly n datagrams with Receive calls of outLen packets.
func recvN(t testing.TB, r *Receiver, n, outLen int) []gotPacket {
	t.Helper()
	ctx := testCtx(t)
	out := make([]Packet, outLen)
	var got []gotPacket
	for len(got) < n {
		k, err := r.Receive(ctx, out)
		if err != nil {
			t.Fatalf("Receive after %d of %d datagrams: %v", len(got), n, err)
		}
		if k > len(out) {
			t.Fatalf("Receive returned %d packets into %d", k, len(out))
		}
		for _, p := range out[:k] {
			got = append(got, gotPacket{p, slices.Clone(p.Data)})
		}
	}
	if len(got) != n {
		t.Fatalf("received %d datagrams; want %d", len(got), n)
	}
	return got
}

// samePayloads checks that got holds exactly want, in order, from src on
// lo.
func samePayloads(t testing.TB, got []gotPacket, want [][]byte, src netip.AddrPort) {
	t.Helper()
	samePayloadsOn(t, got, want, src, "lo")
}

func samePayloadsOn(t testing.TB, got []gotPacket, want [][]byte, src netip.AddrPort, ifname string) {
	t.Helper()
	for i, p := range got {
		if !bytes.Equal(p.data, want[i]) || p.Size != len(want[i]) || p.Truncated {
			t.Fatalf("datagram %d: %d bytes (size %d, truncated %v) starting %x; want %d bytes starting %x",
				i, len(p.data), p.Size, p.Truncated, p.data[:min(8, len(p.data))], len(want[i]), want[i][:min(8, len(want[i]))])
		}
		if p.Src != src || p.IfName != ifname || p.Kind != Unicast || p.TTL <= 0 {
			t.Fatalf("datagram %d: from %v on %q kind %v ttl %d; want %v on %s, unicast, a TTL", i, p.Src, p.IfName, p.Kind, p.TTL, src, ifname)
		}
	}
}

func srcOf(s *Sender) netip.AddrPort { return netip.AddrPortFrom(loopback, s.LocalAddr().Port()) }

func TestPlan(t *testing.T) {
	s := &Sender{}
	s.gso.maxSeg.Store(gsoMaxBytes)
	sizes := func(ns ...int) [][]byte {
		ps := make([][]byte, len(ns))
		for i, n := range ns {
			ps[i] = make([]byte, n)
		}
		return ps
	}
	rep := func(n, size int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = size
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		sizes  []int
		maxSeg int
		want   []chunk
	}{
		{"equal", rep(5, 100), 0, []chunk{{0, 5, 100}}},
		{"last shorter", []int{100, 100, 100, 40}, 0, []chunk{{0, 4, 100}}},
		{"shorter ends a run", []int{100, 40, 100, 100}, 0, []chunk{{0, 2, 100}, {2, 4, 100}}},
		{"longer starts a run", []int{100, 200, 200}, 0, []chunk{{0, 1, 100}, {1, 3, 200}}},
		{"64 per send", rep(130, 10), 0, []chunk{{0, 64, 10}, {64, 128, 10}, {128, 130, 10}}},
		{"65507 bytes per send", rep(50, 1400), 0, []chunk{{0, 46, 1400}, {46, 50, 1400}}},
		{"short one within the byte limit", append(rep(46, 1400), 1100), 0, []chunk{{0, 47, 1400}}},
		{"short one past the byte limit", append(rep(46, 1400), 1200), 0, []chunk{{0, 46, 1400}, {46, 47, 1200}}},
		{"empty goes alone", []int{0, 0, 10, 10}, 0, []chunk{{0, 1, 0}, {1, 2, 0}, {2, 4, 10}}},
		{"empty does not end a run", []int{10, 10, 0}, 0, []chunk{{0, 2, 10}, {2, 3, 0}}},
		{"too large for GSO", []int{65508, 65508}, 0, []chunk{{0, 1, 65508}, {1, 2, 65508}}},
		{"above maxSeg after EMSGSIZE", []int{1500, 1500, 1000, 1000}, 1400, []chunk{{0, 1, 1500}, {1, 2, 1500}, {2, 4, 1000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.gso.maxSeg.Store(gsoMaxBytes)
			if tc.maxSeg > 0 {
				s.gso.maxSeg.Store(int64(tc.maxSeg))
			}
			if got := s.plan(sizes(tc.sizes...)); !slices.Equal(got, tc.want) {
				t.Errorf("plan = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	buf := []byte("aaabbbcccdd")
	a, b, c, d := buf[0:3], buf[3:6], buf[6:9], buf[9:11]
	other := []byte("eee")
	prev := [][]byte{buf[:0:3]} // an earlier send's buffer that ends where a starts
	for _, tc := range []struct {
		name string
		dst  [][]byte
		ps   [][]byte
		want []string
	}{
		{"adjacent merge", nil, [][]byte{a, b, c}, []string{"aaabbbccc"}},
		{"a gap splits", nil, [][]byte{a, c, d}, []string{"aaa", "cccdd"}},
		{"out of order", nil, [][]byte{b, a}, []string{"bbb", "aaa"}},
		{"other array", nil, [][]byte{a, other, d}, []string{"aaa", "eee", "dd"}},
		{"not into an earlier send", prev, [][]byte{a, b}, []string{"", "aaabbb"}},
		{"capacity ends the run", nil, [][]byte{buf[0:3:3], b}, []string{"aaa", "bbb"}},
		{"an empty one joins too", nil, [][]byte{a, buf[3:3], b}, []string{"aaabbb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range join(slices.Clone(tc.dst), tc.ps) {
				got = append(got, string(p))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("join = %q; want %q", got, tc.want)
			}
		})
	}
}

// TestSendManyGSO sends runs of equal-size datagrams with UDP_SEGMENT to a
// receiver without GRO: the kernel must split them into the same datagrams.
func TestSendManyGSO(t *testing.T) {
	r := listen(t, ReceiverConfig{RecvBuffer: 8 << 20})
	s := newSender(t, SenderConfig{GSO: true})
	if !s.GSO() || s.GSOError() != nil || s.Path() != "" {
		t.Fatalf("new GSO sender: GSO %v (%v), path %q; want on, no error, no path yet", s.GSO(), s.GSOError(), s.Path())
	}
	to := netip.AddrPortFrom(loopback, port(r))
	for _, tc := range []struct {
		name             string
		payloads         [][]byte
		sends, segments  uint64
		plainDatagrams   uint64
		outLen           int
		wantPath         string
		wantDatagramsGSO bool
	}{
		// 150 = 64 + 64 + 22, the last shorter.
		{"150 of 1000, last 300", numbered(150, 1000, 300), 3, 150, 0, 32, "gso", true},
		{"40 of 1400", numbered(40, 1400, 0), 1, 40, 0, 7, "gso", true},
		// Cut from one buffer: one iovec per send, and never one
		// running on into the next send.
		{"150 of 700 from one buffer", contiguous(numbered(150, 700, 0)), 3, 150, 0, 32, "gso", true},
		{"all sizes differ", [][]byte{make([]byte, 10), make([]byte, 20), make([]byte, 30)}, 0, 0, 3, 32, "sendmmsg", false},
		{"one", numbered(1, 100, 0), 0, 0, 1, 1, "sendmmsg", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats()
			n, err := s.SendMany(tc.payloads, to)
			if err != nil || n != len(tc.payloads) {
				t.Fatalf("SendMany = %d, %v; want %d, nil", n, err, len(tc.payloads))
			}
			st := s.Stats()
			if d := (SendStats{st.GSOSends - before.GSOSends, st.GSODatagrams - before.GSODatagrams, st.Datagrams - before.Datagrams, st.Refused}); d != (SendStats{tc.sends, tc.segments, tc.plainDatagrams, 0}) {
				t.Errorf("stats moved by %+v; want %d sends of %d datagrams, %d plain", d, tc.sends, tc.segments, tc.plainDatagrams)
			}
			if s.Path() != tc.wantPath {
				t.Errorf("Path %q; want %q", s.Path(), tc.wantPath)
			}
			samePayloads(t, recvN(t, r, len(tc.payloads), tc.outLen), tc.payloads, srcOf(s))
			if r.Coalesced() != 0 {
				t.Errorf("a receiver without GRO counted %d coalesced datagrams", r.Coalesced())
			}
		})
	}
}

// TestGRO receives with UDP_GRO on, from a GSO sender (coalesced buffers
// to split) and from a plain one (single datagrams).
func TestGRO(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gso      bool
		outLen   int
		payloads [][]byte
	}{
		{"gso sender, room for all", true, 256, numbered(150, 1000, 300)},
		{"gso sender, 7 at a time", true, 7, numbered(150, 1000, 300)},
		{"gso sender, one at a time", true, 1, numbered(70, 64, 5)},
		{"plain sender", false, 32, numbered(50, 1000, 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := listen(t, ReceiverConfig{GRO: true, RecvBuffer: 8 << 20})
			if !r.GRO() || len(r.Warnings()) != 0 {
				t.Fatalf("GRO %v, warnings %q; want on and none", r.GRO(), r.Warnings())
			}
			s := newSender(t, SenderConfig{GSO: tc.gso})
			to := netip.AddrPortFrom(loopback, port(r))
			if n, err := s.SendMany(tc.payloads, to); err != nil || n != len(tc.payloads) {
				t.Fatalf("SendMany = %d, %v", n, err)
			}
			samePayloads(t, recvN(t, r, len(tc.payloads), tc.outLen), tc.payloads, srcOf(s))
			switch c := r.Coalesced(); {
			case tc.gso && c != uint64(len(tc.payloads)):
				t.Errorf("coalesced %d; want all %d of a GSO sender's datagrams", c, len(tc.payloads))
			case !tc.gso && c != 0:
				t.Errorf("coalesced %d datagrams sent one by one over loopback; want 0", c)
			}
			expectNothing(t, r, 100*time.Millisecond)
		})
	}
}

// TestGROKeepsBufSize: with GRO the buffers grow to 64 KiB, but each
// datagram is still cut at BufSize and says so.
func TestGROKeepsBufSize(t *testing.T) {
	r := listen(t, ReceiverConfig{GRO: true, BufSize: 600, RecvBuffer: 4 << 20})
	s := newSender(t, SenderConfig{GSO: true})
	payloads := numbered(10, 1000, 700)
	if _, err := s.SendMany(payloads, netip.AddrPortFrom(loopback, port(r))); err != nil {
		t.Fatal(err)
	}
	for i, p := range recvN(t, r, len(payloads), 32) {
		if !p.Truncated || p.Size != len(payloads[i]) || !bytes.Equal(p.data, payloads[i][:600]) {
			t.Errorf("datagram %d: %d bytes, size %d, truncated %v; want the first 600 of %d, truncated", i, len(p.data), p.Size, p.Truncated, len(payloads[i]))
		}
	}
}

// TestSplitFakeGRO feeds drain a GRO buffer as recvmmsg would store it:
// segments, a short last one, a buffer the kernel cut (MSG_TRUNC), the
// Iface filter counting datagrams, and out filling up mid-buffer.
func TestSplitFakeGRO(t *testing.T) {
	r := listen(t, ReceiverConfig{Iface: "lo"})
	lo, err := InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	ctl := func(ifindex, gro int) msghdr.Control {
		return msghdr.Control{Has: msghdr.FlagPktInfo4 | msghdr.FlagTTL | msghdr.FlagUDPGRO, IfIndex: ifindex, Dst: loopback, SpecDst: loopback, TTL: 9, GRO: gro}
	}
	buf := []byte("aaaabbbbcc")
	cut := fakeMessage([]byte("xxxxyy"), netip.AddrPortFrom(otherHost, 2), ctl(lo.Index, 4))
	cut.Size, cut.Flags = 10, unix.MSG_TRUNC // 10 bytes sent, 6 kept
	ms := []dgram.Message{
		fakeMessage(buf, netip.AddrPortFrom(otherHost, 1), ctl(lo.Index, 4)),
		fakeMessage([]byte("zzzzzzzz"), netip.AddrPortFrom(otherHost, 3), ctl(lo.Index+1000, 4)), // filtered: 2 datagrams
		cut,
	}
	type seg struct {
		data      string
		size      int
		truncated bool
		port      uint16
	}
	want := []seg{{"aaaa", 4, false, 1}, {"bbbb", 4, false, 1}, {"cc", 2, false, 1}, {"xxxx", 4, false, 2}, {"yy", 4, true, 2}, {"", 2, true, 2}}
	out := make([]Packet, 2)
	var got []seg
	n := r.fill(ms, out)
	for {
		for _, p := range out[:n] {
			if p.TTL != 9 || p.IfName != "lo" || p.Kind != Unicast {
				t.Errorf("packet %q lost its metadata: %+v", p.Data, p)
			}
			got = append(got, seg{string(p.Data), p.Size, p.Truncated, p.Src.Port()})
		}
		if !r.split.pending() {
			break
		}
		n = r.drain(out)
	}
	if !slices.Equal(got, want) {
		t.Errorf("split into %+v; want %+v", got, want)
	}
	if r.Filtered() != 2 || r.Coalesced() != 8 {
		t.Errorf("filtered %d, coalesced %d; want 2 and 8", r.Filtered(), r.Coalesced())
	}
}

// failGSO wraps s's sendmmsg so that the UDP_SEGMENT message at index
// after (or later) of each call fails with errno, as a kernel or device
// that refuses GSO would: the messages before it are really sent.
func failGSO(s *Sender, errno unix.Errno, after int) *int {
	calls := new(int)
	real := s.sendmmsg
	s.sendmmsg = func(ms []dgram.Message, flags int) (int, error) {
		*calls++
		for i := range ms {
			var c msghdr.Control
			if c.Parse(ms[i].Control) == nil && c.Has&msghdr.FlagUDPSegment != 0 && i >= after {
				n, err := real(ms[:i], flags)
				if err == nil {
					err = &dgram.Error{Op: "sendmmsg", Err: os.NewSyscallError("sendmmsg", errno)}
				}
				return n, err
			}
		}
		return real(ms, flags)
	}
	return calls
}

func TestSendManyFallsBack(t *testing.T) {
	t.Run("EIO injected after one GSO send", func(t *testing.T) {
		r := listen(t, ReceiverConfig{RecvBuffer: 8 << 20})
		s := newSender(t, SenderConfig{GSO: true})
		failGSO(s, unix.EIO, 1)
		to := netip.AddrPortFrom(loopback, port(r))
		payloads := numbered(200, 500, 0) // 64 + 64 + 64 + 8: the second send fails
		if n, err := s.SendMany(payloads, to); err != nil || n != len(payloads) {
			t.Fatalf("SendMany = %d, %v; want all %d and no error", n, err, len(payloads))
		}
		samePayloads(t, recvN(t, r, len(payloads), 64), payloads, srcOf(s))
		expectNothing(t, r, 100*time.Millisecond) // no datagram twice
		if st := s.Stats(); st != (SendStats{GSOSends: 1, GSODatagrams: 64, Datagrams: 136, Refused: 1}) {
			t.Errorf("stats %+v; want one GSO send of 64, 136 plain, one refusal", st)
		}
		if s.GSO() || !errors.Is(s.GSOError(), unix.EIO) || s.Path() != "gso" {
			t.Errorf("after EIO: GSO %v, error %v, path %q; want off, EIO, gso (the first send was)", s.GSO(), s.GSOError(), s.Path())
		}
		// From now on one datagram per message, without trying GSO.
		if n, err := s.SendMany(payloads[:10], to); err != nil || n != 10 || s.Path() != "sendmmsg" {
			t.Fatalf("SendMany after the refusal = %d, %v, path %q", n, err, s.Path())
		}
		samePayloads(t, recvN(t, r, 10, 64), payloads[:10], srcOf(s))
	})

	// SO_NO_CHECK (no UDP checksum) makes the kernel itself refuse every
	// UDP_SEGMENT send with EINVAL, while plain datagrams still go.
	t.Run("EINVAL from the kernel", func(t *testing.T) {
		r := listen(t, ReceiverConfig{RecvBuffer: 8 << 20})
		s := newSender(t, SenderConfig{GSO: true})
		if err := s.Socket().SetOptionBool(unix.SOL_SOCKET, unix.SO_NO_CHECK, true); err != nil {
			t.Fatal(err)
		}
		to := netip.AddrPortFrom(loopback, port(r))
		payloads := numbered(100, 800, 100)
		if n, err := s.SendMany(payloads, to); err != nil || n != len(payloads) {
			t.Fatalf("SendMany = %d, %v; want all %d and no error", n, err, len(payloads))
		}
		samePayloads(t, recvN(t, r, len(payloads), 32), payloads, srcOf(s))
		if s.GSO() || !errors.Is(s.GSOError(), unix.EINVAL) || s.Path() != "sendmmsg" || s.Stats().Refused != 1 {
			t.Errorf("after EINVAL: GSO %v, error %v, path %q, stats %+v; want off, EINVAL, sendmmsg, one refusal", s.GSO(), s.GSOError(), s.Path(), s.Stats())
		}
	})

	// EMSGSIZE only retires the segment size that was refused.
	t.Run("EMSGSIZE injected", func(t *testing.T) {
		r := listen(t, ReceiverConfig{RecvBuffer: 8 << 20})
		s := newSender(t, SenderConfig{GSO: true})
		calls := failGSO(s, unix.EMSGSIZE, 0)
		to := netip.AddrPortFrom(loopback, port(r))
		big := numbered(20, 1500, 0)
		if n, err := s.SendMany(big, to); err != nil || n != len(big) {
			t.Fatalf("SendMany = %d, %v", n, err)
		}
		samePayloads(t, recvN(t, r, len(big), 32), big, srcOf(s))
		if !s.GSO() || !errors.Is(s.GSOError(), unix.EMSGSIZE) {
			t.Errorf("after EMSGSIZE: GSO %v, error %v; want still on, EMSGSIZE", s.GSO(), s.GSOError())
		}
		// 1500-byte runs go plain without asking again; a smaller size
		// is still tried with GSO (and refused again by the wrapper, so
		// its limit drops below that size too).
		*calls = 0
		if n, err := s.SendMany(big, to); err != nil || n != len(big) || *calls != 1 || s.Path() != "sendmmsg" {
			t.Errorf("1500 again: %d, %v, %d calls, path %q; want one plain sendmmsg", n, err, *calls, s.Path())
		}
		recvN(t, r, len(big), 32)
		small := numbered(20, 1000, 0)
		*calls = 0
		if n, err := s.SendMany(small, to); err != nil || n != len(small) || *calls != 2 {
			t.Errorf("1000 after the 1500 refusal: %d, %v, %d calls; want GSO tried (2 calls with the fallback)", n, err, *calls)
		}
		samePayloads(t, recvN(t, r, len(small), 32), small, srcOf(s))
	})

	// An errno that plain datagrams get as well is not GSO's fault: the
	// error reaches the caller and GSO stays on.
	t.Run("not GSO's fault", func(t *testing.T) {
		s := newSender(t, SenderConfig{GSO: true})
		s.sendmmsg = func(ms []dgram.Message, flags int) (int, error) {
			return 0, &dgram.Error{Op: "sendmmsg", Err: os.NewSyscallError("sendmmsg", unix.EINVAL)}
		}
		n, err := s.SendMany(numbered(10, 100, 0), netip.AddrPortFrom(loopback, 9))
		if n != 0 || !errors.Is(err, unix.EINVAL) {
			t.Errorf("SendMany = %d, %v; want 0 and EINVAL", n, err)
		}
		if !s.GSO() || s.GSOError() != nil || s.Stats().Refused != 0 {
			t.Errorf("GSO %v, error %v, stats %+v; want on, none, no refusal", s.GSO(), s.GSOError(), s.Stats())
		}
	})

	// A hard error on a GSO send is returned with the count before it.
	t.Run("other errors surface", func(t *testing.T) {
		s := newSender(t, SenderConfig{GSO: true})
		failGSO(s, unix.ENOBUFS, 1)
		r := listen(t, ReceiverConfig{RecvBuffer: 4 << 20})
		n, err := s.SendMany(numbered(100, 100, 0), netip.AddrPortFrom(loopback, port(r)))
		if n != 64 || !errors.Is(err, unix.ENOBUFS) || !s.GSO() {
			t.Errorf("SendMany = %d, %v, GSO %v; want 64 sent, ENOBUFS, GSO still on", n, err, s.GSO())
		}
	})
}

func TestSendManyWithoutGSO(t *testing.T) {
	r := listen(t, ReceiverConfig{RecvBuffer: 4 << 20})
	s := newSender(t, SenderConfig{Iface: "lo", Src: loopback})
	if s.GSO() || s.GSOError() != nil {
		t.Errorf("GSO %v, %v without asking; want off and no error", s.GSO(), s.GSOError())
	}
	payloads := numbered(70, 300, 0)
	if n, err := s.SendMany(payloads, netip.AddrPortFrom(loopback, port(r))); err != nil || n != len(payloads) || s.Path() != "sendmmsg" {
		t.Fatalf("SendMany = %d, %v, path %q", n, err, s.Path())
	}
	samePayloads(t, recvN(t, r, len(payloads), 32), payloads, srcOf(s))
}

// GSO over IPv6, and from a dual-stack socket to an IPv4 receiver.
func TestSendManyGSOIPv6(t *testing.T) {
	s := newSender(t, SenderConfig{Network: "udp6", GSO: true})
	for _, tc := range []struct {
		name string
		rcfg ReceiverConfig
		to   netip.Addr
		src  netip.Addr
	}{
		{"ipv6", ReceiverConfig{Network: "udp6", GRO: true, RecvBuffer: 4 << 20}, netip.IPv6Loopback(), netip.IPv6Loopback()},
		{"dual-stack to ipv4", ReceiverConfig{RecvBuffer: 4 << 20}, loopback, loopback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := listen(t, tc.rcfg)
			payloads := numbered(100, 1200, 50)
			if n, err := s.SendMany(payloads, netip.AddrPortFrom(tc.to, port(r))); err != nil || n != len(payloads) || s.Path() != "gso" {
				t.Fatalf("SendMany = %d, %v, path %q (%v); want all by GSO", n, err, s.Path(), s.GSOError())
			}
			samePayloads(t, recvN(t, r, len(payloads), 32), payloads, netip.AddrPortFrom(tc.src, s.LocalAddr().Port()))
		})
	}
}

// GSO with IP_PKTINFO: both control messages in every send.
func TestSendManyGSOWithPktInfo(t *testing.T) {
	r := listen(t, ReceiverConfig{RecvBuffer: 4 << 20})
	src := netip.MustParseAddr("127.0.0.5")
	s := newSender(t, SenderConfig{GSO: true, Iface: "lo", Src: src})
	payloads := numbered(100, 200, 0)
	if n, err := s.SendMany(payloads, netip.AddrPortFrom(loopback, port(r))); err != nil || n != len(payloads) || s.Path() != "gso" {
		t.Fatalf("SendMany = %d, %v, path %q; want all by GSO", n, err, s.Path())
	}
	samePayloads(t, recvN(t, r, len(payloads), 32), payloads, netip.AddrPortFrom(src, s.LocalAddr().Port()))
}

func TestConnect(t *testing.T) {
	r := listen(t, ReceiverConfig{RecvBuffer: 4 << 20})
	s := newSender(t, SenderConfig{GSO: true})
	to := netip.AddrPortFrom(loopback, port(r))
	if err := s.Connect(to); err != nil {
		t.Fatal(err)
	}
	if s.Peer() != to {
		t.Errorf("Peer %v; want %v", s.Peer(), to)
	}
	var addrs []dgram.Addr
	real := s.sendmmsg
	s.sendmmsg = func(ms []dgram.Message, flags int) (int, error) {
		for _, m := range ms {
			addrs = append(addrs, m.Addr)
		}
		return real(ms, flags)
	}
	payloads := numbered(10, 100, 0)
	if err := s.Send(payloads[0], to); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendBatch(payloads[1:3], to); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendMany(payloads[3:], to); err != nil {
		t.Fatal(err)
	}
	samePayloads(t, recvN(t, r, len(payloads), 32), payloads, srcOf(s))
	for i, a := range addrs {
		if !a.IsZero() {
			t.Errorf("message %d to the connected peer carried address %v", i, a)
		}
	}

	// Elsewhere still works, with the address.
	other := listen(t, ReceiverConfig{})
	if err := s.Send([]byte("elsewhere"), netip.AddrPortFrom(loopback, port(other))); err != nil {
		t.Fatal(err)
	}
	if _, data := recvOne(t, other); data != "elsewhere" {
		t.Errorf("send elsewhere while connected: %q", data)
	}

	// Proof that Send to the peer passes no address: with the kernel's
	// association dissolved behind the Sender's back, it has none to use.
	if err := s.Socket().Connect(dgram.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Send([]byte("x"), to); !errors.Is(err, unix.EDESTADDRREQ) {
		t.Errorf("Send to the peer after a hidden disconnect: %v; want EDESTADDRREQ", err)
	}
	if err := s.Connect(netip.AddrPort{}); err != nil || s.Peer().IsValid() {
		t.Fatalf("Connect(zero) = %v, peer %v", err, s.Peer())
	}
	if err := s.Send([]byte("addressed again"), to); err != nil {
		t.Fatal(err)
	}
	if _, data := recvOne(t, r); data != "addressed again" {
		t.Errorf("after disconnect: %q", data)
	}

	if err := newSender(t, SenderConfig{}).Connect(netip.MustParseAddrPort("[::1]:9")); err == nil {
		t.Error("udp4 Sender connected to an IPv6 address")
	}
}

// A connected Sender hears of a closed port: the documented ECONNREFUSED.
func TestConnectRefused(t *testing.T) {
	closed := listen(t, ReceiverConfig{})
	to := netip.AddrPortFrom(loopback, port(closed))
	closed.Close()
	s := newSender(t, SenderConfig{})
	if err := s.Connect(to); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 10 {
		if err = s.Send([]byte("anyone?"), to); err != nil {
			break
		}
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("sends to a closed port on a connected socket: %v; want ECONNREFUSED", err)
	}
}

func TestSpeedPathsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: sync.Pool drops items at random, so allocation counts are meaningless; the plain test run checks them")
	}
	for _, tc := range []struct {
		name      string
		gso, gro  bool
		connected bool
	}{
		{"SendMany GSO + Receive GRO", true, true, false},
		{"SendMany GSO connected + Receive", true, false, true},
		{"SendMany sendmmsg + Receive GRO", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := listen(t, ReceiverConfig{GRO: tc.gro, RecvBuffer: 8 << 20})
			s := newSender(t, SenderConfig{GSO: tc.gso})
			to := netip.AddrPortFrom(loopback, port(r))
			if tc.connected {
				if err := s.Connect(to); err != nil {
					t.Fatal(err)
				}
			}
			payloads := numbered(100, 500, 100)
			out := make([]Packet, 32)
			ctx := testCtx(t)
			allocs := testing.AllocsPerRun(50, func() {
				if n, err := s.SendMany(payloads, to); err != nil || n != len(payloads) {
					t.Fatalf("SendMany = %d, %v", n, err)
				}
				for got := 0; got < len(payloads); {
					n, err := r.Receive(ctx, out)
					if err != nil {
						t.Fatal(err)
					}
					got += n
				}
			})
			if allocs != 0 {
				t.Errorf("SendMany of %d + Receive: %v allocations per call; want 0", len(payloads), allocs)
			}
			if tc.gso && s.Path() != "gso" {
				t.Errorf("path %q; want gso", s.Path())
			}
			if tc.gso && tc.gro && r.Coalesced() == 0 {
				t.Error("nothing coalesced")
			}
		})
	}
}

// FuzzSplit feeds Receive's splitting whatever the kernel could report for
// one message: any control bytes (a UDP_GRO size or none, or garbage), any
// real size, any number of bytes kept, any room in out and any BufSize.
// The Packets must cover the datagram exactly, in order, with Data taken
// from the right place of the buffer and never longer than BufSize.
func FuzzSplit(f *testing.F) {
	gro := func(size int) []byte { return msghdr.AppendUDPGRO(nil, size) }
	f.Add(gro(4), uint16(10), uint16(10), uint8(2), uint16(100)) // 4+4+2
	f.Add(gro(4), uint16(10), uint16(6), uint8(8), uint16(100))  // cut by the kernel
	f.Add(gro(1000), uint16(64000), uint16(64000), uint8(7), uint16(600))
	f.Add(gro(0), uint16(10), uint16(10), uint8(1), uint16(100))      // a zero segment size
	f.Add(gro(-5), uint16(10), uint16(10), uint8(1), uint16(100))     // a negative one
	f.Add([]byte(nil), uint16(0), uint16(0), uint8(1), uint16(1))     // an empty datagram
	f.Add([]byte{1, 2, 3}, uint16(5), uint16(5), uint8(3), uint16(2)) // malformed control
	r := listen(f, ReceiverConfig{})
	src := netip.AddrPortFrom(loopback, 7)
	f.Fuzz(func(t *testing.T, ctl []byte, size, kept uint16, outLen uint8, limit uint16) {
		kept = min(kept, size)
		buf := make([]byte, kept)
		for i := range buf {
			buf[i] = byte(i)
		}
		r.cfg.BufSize = int(limit) + 1
		m := dgram.Message{Buffers: [][]byte{buf}, Control: ctl, Addr: dgram.AddrFrom(src), N: int(kept), Size: int(size)}
		if kept < size {
			m.Flags = unix.MSG_TRUNC
		}
		out := make([]Packet, int(outLen)+1)
		off, count := 0, 0
		n := r.fill([]dgram.Message{m}, out)
		for {
			for _, p := range out[:n] {
				count++
				if p.Src != src || len(p.Data) > p.Size || len(p.Data) > r.cfg.BufSize || p.Truncated != (len(p.Data) < p.Size) {
					t.Fatalf("datagram %d: src %v, %d bytes of %d (BufSize %d), truncated %v", count, p.Src, len(p.Data), p.Size, r.cfg.BufSize, p.Truncated)
				}
				if len(p.Data) > 0 && (off+len(p.Data) > len(buf) || !bytes.Equal(p.Data, buf[off:off+len(p.Data)])) {
					t.Fatalf("datagram %d at offset %d: data is not the buffer's bytes there", count, off)
				}
				off += p.Size
			}
			if !r.split.pending() {
				break
			}
			if count > int(size)+1 {
				t.Fatalf("%d datagrams out of a %d-byte buffer", count, size)
			}
			n = r.drain(out)
		}
		if off != int(size) || count == 0 {
			t.Fatalf("%d datagrams covering %d bytes; want %d bytes", count, off, size)
		}
	})
}
