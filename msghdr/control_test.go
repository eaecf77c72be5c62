package msghdr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// diffControl describes how got differs from want, or returns "".
func diffControl(got, want *Control) string {
	var d []string
	add := func(field string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %v; want %v", field, g, w))
		}
	}
	add("Has", got.Has, want.Has)
	add("IfIndex", got.IfIndex, want.IfIndex)
	add("Dst", got.Dst, want.Dst)
	add("SpecDst", got.SpecDst, want.SpecDst)
	add("TTL", got.TTL, want.TTL)
	add("TOS", got.TOS, want.TOS)
	add("Timestamp", got.Timestamp, want.Timestamp)
	add("Drops", got.Drops, want.Drops)
	add("Segment", got.Segment, want.Segment)
	add("GRO", got.GRO, want.GRO)
	add("Creds", got.Creds, want.Creds)
	add("Unknown", got.Unknown, want.Unknown)
	if !bytes.Equal(got.rights, want.rights) || (got.rights == nil) != (want.rights == nil) {
		d = append(d, fmt.Sprintf("rights = %v; want %v", got.Rights(nil), want.Rights(nil)))
	}
	return strings.Join(d, "\n")
}

func rightsOf(fds ...int) []byte {
	return AppendRights(nil, fds...)[hdrLen : hdrLen+4*len(fds)]
}

var (
	addrA = netip.MustParseAddr("192.0.2.10")
	addrB = netip.MustParseAddr("198.51.100.255")
	addr6 = netip.MustParseAddr("ff02::1")
)

type parseCase struct {
	name      string
	b         []byte
	want      Control
	canonical bool // Append(Parse(b)) gives b back byte for byte
}

func parseCases() []parseCase {
	ts := unix.Timespec{Sec: 1700000000, Nsec: 999999999}
	return []parseCase{
		{"IP_PKTINFO", appendPktInfo4(nil, 4, addrA, addrB),
			Control{Has: FlagPktInfo4, IfIndex: 4, SpecDst: addrA, Dst: addrB}, true},
		{"IP_PKTINFO from AppendPktInfo4", AppendPktInfo4(nil, 1, addrA),
			Control{Has: FlagPktInfo4, IfIndex: 1, SpecDst: addrA, Dst: netip.IPv4Unspecified()}, true},
		{"IPV6_PKTINFO", AppendPktInfo6(nil, 7, addr6),
			Control{Has: FlagPktInfo6, IfIndex: 7, Dst: addr6}, true},
		{"IPV6_PKTINFO v4-mapped is unmapped", AppendPktInfo6(nil, 7, netip.MustParseAddr("::ffff:192.0.2.10")),
			Control{Has: FlagPktInfo6, IfIndex: 7, Dst: addrA}, true},
		{"IP_TTL", AppendTTL(nil, 255), Control{Has: FlagTTL, TTL: 255}, true},
		{"IPV6_HOPLIMIT", AppendHopLimit(nil, 1), Control{Has: FlagHopLimit, TTL: 1}, true},
		{"IP_TOS int", AppendTOS(nil, 0x2e<<2|3), Control{Has: FlagTOS, TOS: 0xbb}, true},
		{"IP_TOS byte as Linux sends it", AppendCmsg(nil, unix.SOL_IP, unix.IP_TOS, []byte{0xff}),
			Control{Has: FlagTOS, TOS: 255}, false},
		{"IPV6_TCLASS", AppendTrafficClass(nil, 0x42), Control{Has: FlagTrafficClass, TOS: 0x42}, true},
		{"SO_TIMESTAMPNS", AppendTimestampNS(nil, ts), Control{Has: FlagTimestamp, Timestamp: ts}, true},
		{"SO_TIMESTAMPNS_NEW", AppendCmsg(nil, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW,
			append(ne64(1700000000), ne64(999999999)...)), Control{Has: FlagTimestamp, Timestamp: ts}, false},
		{"SO_RXQ_OVFL", AppendRxqOvfl(nil, 12345), Control{Has: FlagRxqOvfl, Drops: 12345}, true},
		{"SCM_RIGHTS", AppendRights(nil, 5, 6, 7, 8), Control{Has: FlagRights, rights: rightsOf(5, 6, 7, 8)}, true},
		{"SCM_RIGHTS empty", AppendRights(nil), Control{Has: FlagRights, rights: []byte{}}, true},
		{"SCM_CREDENTIALS", AppendCredentials(nil, unix.Ucred{Pid: 99, Uid: 0xffffffff, Gid: 5}),
			Control{Has: FlagCredentials, Creds: unix.Ucred{Pid: 99, Uid: 0xffffffff, Gid: 5}}, true},
		{"UDP_SEGMENT", AppendUDPSegment(nil, 0xffff), Control{Has: FlagUDPSegment, Segment: 0xffff}, true},
		{"UDP_GRO", AppendUDPGRO(nil, 1472), Control{Has: FlagUDPGRO, GRO: 1472}, true},
		{"unknown level", AppendCmsg(nil, 1234, unix.IP_TTL, ne32(1)), Control{Unknown: 1}, false},
		{"unknown type at a known level", AppendCmsg(nil, unix.SOL_IP, 99, nil), Control{Unknown: 1}, false},
		{"SO_TIMESTAMP (microseconds) is not ours", AppendCmsg(nil, unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16)),
			Control{Unknown: 1}, false},
		{"empty buffer", nil, Control{}, true},
	}
}

func ne64(v uint64) []byte { return appendU64(nil, v) }

func TestParseEach(t *testing.T) {
	for _, tt := range parseCases() {
		t.Run(tt.name, func(t *testing.T) {
			var c Control
			if err := c.Parse(tt.b); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d := diffControl(&c, &tt.want); d != "" {
				t.Fatal(d)
			}
			back := c.Append(nil)
			if tt.canonical && !bytes.Equal(back, tt.b) {
				t.Errorf("Append(Parse(b)) = % x; want b = % x", back, tt.b)
			}
			var c2 Control
			if err := c2.Parse(back); err != nil {
				t.Fatalf("Parse(Append(c)): %v", err)
			}
			want := tt.want
			want.Unknown = 0 // Append does not rebuild unknown messages
			if d := diffControl(&c2, &want); d != "" {
				t.Errorf("after a round trip:\n%s", d)
			}
		})
	}
}

// Every kind of message, interleaved with unknown ones, in one buffer.
func TestParseMany(t *testing.T) {
	var b []byte
	var want Control
	for i, tt := range parseCases() {
		if tt.want.Has&(FlagPktInfo6|FlagHopLimit|FlagTrafficClass) != 0 {
			continue // the IPv4 forms take precedence; tested on their own
		}
		if tt.want.Has&FlagRights != 0 && want.Has&FlagRights != 0 {
			continue // one SCM_RIGHTS per message
		}
		b = append(b, tt.b...)
		b = AppendCmsg(b, 200, int32(i), make([]byte, i)) // unknown, of every length mod 8
		want = mergeControl(want, tt.want)
		want.Unknown++ // the interleaved one
	}
	var c Control
	if err := c.Parse(b); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if d := diffControl(&c, &want); d != "" {
		t.Fatal(d)
	}
}

// mergeControl is what parsing next's messages after acc's gives: the fields
// flagged in next replace acc's, flags and unknown counts add up.
func mergeControl(acc, next Control) Control {
	f := next.Has
	if f&FlagPktInfo4 != 0 {
		acc.IfIndex, acc.Dst, acc.SpecDst = next.IfIndex, next.Dst, next.SpecDst
	}
	if f&FlagTTL != 0 {
		acc.TTL = next.TTL
	}
	if f&FlagTOS != 0 {
		acc.TOS = next.TOS
	}
	if f&FlagTimestamp != 0 {
		acc.Timestamp = next.Timestamp
	}
	if f&FlagRxqOvfl != 0 {
		acc.Drops = next.Drops
	}
	if f&FlagRights != 0 {
		acc.rights = next.rights
	}
	if f&FlagCredentials != 0 {
		acc.Creds = next.Creds
	}
	if f&FlagUDPSegment != 0 {
		acc.Segment = next.Segment
	}
	if f&FlagUDPGRO != 0 {
		acc.GRO = next.GRO
	}
	acc.Has |= next.Has
	acc.Unknown += next.Unknown
	return acc
}

func TestParseWrongLength(t *testing.T) {
	for i := range kinds {
		k := &kinds[i]
		for _, n := range []int{0, 1, 2, 3, 4, 5, k.size - 1, k.size + 1, 2*k.size + 1, 64} {
			if n < 0 || k.lenOK(n) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d bytes", k.name, n), func(t *testing.T) {
				b := AppendTTL(nil, 1) // a good message first: the offset must point past it
				b = AppendCmsg(b, k.level, k.typ, make([]byte, n))
				var c Control
				err := c.Parse(b)
				checkMalformed(t, err, Space(4), true, k.name)
				if !strings.Contains(err.Error(), fmt.Sprintf("data length %d", n)) {
					t.Errorf("error %q does not give the length %d", err, n)
				}
				if c.Has != FlagTTL || c.TTL != 1 {
					t.Errorf("after the error c = %+v; want the IP_TTL before the bad message kept", c)
				}
			})
		}
	}
}

func TestParseAcceptedLengths(t *testing.T) {
	tests := []struct {
		name       string
		level, typ int32
		n          int
	}{
		{"IP_TOS byte", unix.SOL_IP, unix.IP_TOS, 1},
		{"IP_TOS int", unix.SOL_IP, unix.IP_TOS, 4},
		{"SCM_RIGHTS none", unix.SOL_SOCKET, unix.SCM_RIGHTS, 0},
		{"SCM_RIGHTS one", unix.SOL_SOCKET, unix.SCM_RIGHTS, 4},
		{"SCM_RIGHTS 253 (SCM_MAX_FD)", unix.SOL_SOCKET, unix.SCM_RIGHTS, 4 * 253},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Control
			if err := c.Parse(AppendCmsg(nil, tt.level, tt.typ, make([]byte, tt.n))); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestRights(t *testing.T) {
	b := AppendCredentials(nil, unix.Ucred{Pid: 1})
	b = AppendRights(b, 3, 4, 5, 1<<30, 0)
	var c Control
	if err := c.Parse(b); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if n := c.NumRights(); n != 5 {
		t.Errorf("NumRights = %d; want 5", n)
	}
	got := c.Rights([]int{-7})
	if want := []int{-7, 3, 4, 5, 1 << 30, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Rights([-7]) = %v; want %v (appended to dst)", got, want)
	}
	dst := make([]int, 0, 8)
	if allocs := testing.AllocsPerRun(100, func() { dst = c.Rights(dst[:0]) }); allocs != 0 {
		t.Errorf("Rights with room in dst: %v allocations; want 0", allocs)
	}

	var empty Control
	if got := empty.Rights(nil); len(got) != 0 || empty.NumRights() != 0 {
		t.Errorf("without SCM_RIGHTS: Rights = %v, NumRights = %d; want none", got, empty.NumRights())
	}
}

// Two SCM_RIGHTS messages are an error, but no descriptor may be lost:
// CollectRights finds all of them so that the caller can close them.
func TestRightsSecondMessage(t *testing.T) {
	b := AppendRights(nil, 10, 11)
	b = AppendTTL(b, 3)
	b = AppendRights(b, 12)
	b = append(b, 1, 2, 3) // and a bad tail
	var c Control
	err := c.Parse(b)
	checkMalformed(t, err, Space(8)+Space(4), true, "second SCM_RIGHTS")
	if got := c.Rights(nil); fmt.Sprint(got) != "[10 11]" {
		t.Errorf("Rights after the error = %v; want [10 11]", got)
	}
	if got := CollectRights(b, nil); fmt.Sprint(got) != "[10 11 12]" {
		t.Errorf("CollectRights = %v; want [10 11 12]", got)
	}
	// A bad length still gives up the whole descriptors in it.
	odd := AppendCmsg(nil, unix.SOL_SOCKET, unix.SCM_RIGHTS, append(ne32(9), 1, 1))
	if got := CollectRights(odd, nil); fmt.Sprint(got) != "[9]" {
		t.Errorf("CollectRights(6-byte SCM_RIGHTS) = %v; want [9]", got)
	}
}

// With both address families' options on, the IPv4 message fills the shared
// fields whatever the order, so that Append's output parses back the same.
func TestParsePrecedence(t *testing.T) {
	v4 := appendPktInfo4(nil, 2, addrA, addrB)
	v6 := AppendPktInfo6(nil, 3, addr6)
	ttl, hop := AppendTTL(nil, 10), AppendHopLimit(nil, 20)
	tos, tc := AppendTOS(nil, 1), AppendTrafficClass(nil, 2)
	want := Control{
		Has:     FlagPktInfo4 | FlagPktInfo6 | FlagTTL | FlagHopLimit | FlagTOS | FlagTrafficClass,
		IfIndex: 2, Dst: addrB, SpecDst: addrA, TTL: 10, TOS: 1,
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"IPv4 first", cat(v4, ttl, tos, v6, hop, tc)},
		{"IPv6 first", cat(v6, hop, tc, v4, ttl, tos)},
		{"mixed", cat(v6, ttl, tc, v4, hop, tos)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Control
			if err := c.Parse(tt.b); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d := diffControl(&c, &want); d != "" {
				t.Fatal(d)
			}
			var c2 Control
			if err := c2.Parse(c.Append(nil)); err != nil {
				t.Fatalf("Parse(Append): %v", err)
			}
			if d := diffControl(&c2, &want); d != "" {
				t.Errorf("after a round trip:\n%s", d)
			}
		})
	}
}

func TestParseRepeated(t *testing.T) {
	var c Control
	if err := c.Parse(cat(AppendTTL(nil, 1), AppendTTL(nil, 2))); err != nil {
		t.Fatal(err)
	}
	if c.TTL != 2 {
		t.Errorf("TTL = %d; want 2, the later message", c.TTL)
	}
}

func TestParseResets(t *testing.T) {
	var c Control
	if err := c.Parse(cat(AppendTTL(nil, 5), AppendRights(nil, 1), AppendCmsg(nil, 9, 9, nil))); err != nil {
		t.Fatal(err)
	}
	if err := c.Parse(AppendTOS(nil, 3)); err != nil {
		t.Fatal(err)
	}
	want := Control{Has: FlagTOS, TOS: 3}
	if d := diffControl(&c, &want); d != "" {
		t.Error(d)
	}
}

// fullControl has every field set, as a receive on a busy socket might.
func fullControl(fds int) Control {
	fdList := make([]int, fds)
	for i := range fdList {
		fdList[i] = 100 + i
	}
	return Control{
		Has:       flagEnd - 1,
		IfIndex:   3,
		Dst:       addrB,
		SpecDst:   addrA,
		TTL:       64,
		TOS:       0xb8,
		Timestamp: unix.Timespec{Sec: 1, Nsec: 2},
		Drops:     7,
		Segment:   1200,
		GRO:       1400,
		Creds:     unix.Ucred{Pid: 1, Uid: 2, Gid: 3},
		rights:    rightsOf(fdList...),
	}
}

func TestParseNoAlloc(t *testing.T) {
	full := fullControl(4)
	b := full.Append(nil)
	b = AppendCmsg(b, 300, 1, []byte("unknown"))
	var c Control
	allocs := testing.AllocsPerRun(200, func() {
		if err := c.Parse(b); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse: %v allocations; want 0", allocs)
	}
	if c.Has != full.Has {
		t.Errorf("Has = %v; want %v", c.Has, full.Has)
	}
}

func TestAppendNoAlloc(t *testing.T) {
	full := fullControl(2)
	buf := make([]byte, 0, 1024)
	var out []byte
	allocs := testing.AllocsPerRun(200, func() { out = full.Append(buf[:0]) })
	if allocs != 0 {
		t.Errorf("Append: %v allocations; want 0", allocs)
	}
	if cap(out) != cap(buf) {
		t.Errorf("cap grew from %d to %d", cap(buf), cap(out))
	}
}

func TestFlagsSpace(t *testing.T) {
	for _, fds := range []int{0, 1, 3, 64} {
		c := fullControl(fds)
		if got, want := c.Has.Space(fds), len(c.Append(nil)); got != want {
			t.Errorf("Space(%d) of every flag = %d; want %d, the length Append writes", fds, got, want)
		}
	}
	tests := []struct {
		f    Flags
		fds  int
		want int
	}{
		{0, 5, 0},
		{FlagTTL, 0, Space(4)},
		{FlagPktInfo4 | FlagTOS, 0, Space(12) + Space(4)},
		{FlagRights, 3, Space(12)},
		{FlagRights, -1, Space(0)},
		{FlagTimestamp, 0, Space(2 * timeWidth)},
	}
	for _, tt := range tests {
		if got := tt.f.Space(tt.fds); got != tt.want {
			t.Errorf("(%v).Space(%d) = %d; want %d", tt.f, tt.fds, got, tt.want)
		}
	}
}

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, "0"},
		{FlagPktInfo4, "IP_PKTINFO"},
		{FlagTTL | FlagUDPGRO, "IP_TTL|UDP_GRO"},
		{FlagRights | 1<<31, "SCM_RIGHTS|0x80000000"},
		{1 << 20, "0x100000"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Flags(%#x).String() = %q; want %q", uint32(tt.f), got, tt.want)
		}
	}
	if n := len(flagNames); Flags(1)<<n != flagEnd {
		t.Errorf("%d flag names for %d flags", n, bitsBelow(flagEnd))
	}
}

func bitsBelow(f Flags) int {
	n := 0
	for ; f > 1; f >>= 1 {
		n++
	}
	return n
}

func TestTimeAndECN(t *testing.T) {
	var c Control
	if !c.Time().IsZero() {
		t.Errorf("Time without a timestamp = %v; want the zero Time", c.Time())
	}
	c.Has = FlagTimestamp
	c.Timestamp = unix.Timespec{Sec: 1700000000, Nsec: 5}
	if want := time.Unix(1700000000, 5); !c.Time().Equal(want) {
		t.Errorf("Time = %v; want %v", c.Time(), want)
	}
	for tos, want := range map[int]int{0: 0, 1: 1, 2: 2, 3: 3, 0xb8: 0, 0xbb: 3, 0x4d: 1} {
		c.TOS = tos
		if got := c.ECN(); got != want {
			t.Errorf("ECN of TOS %#x = %d; want %d", tos, got, want)
		}
	}
}

func TestMalformedErrorText(t *testing.T) {
	b := AppendCmsg(AppendTTL(nil, 1), unix.SOL_UDP, unix.UDP_SEGMENT, []byte{1, 2, 3})
	var c Control
	err := c.Parse(b)
	want := fmt.Sprintf("msghdr: malformed control message at offset %d (SOL_UDP/UDP_SEGMENT, cmsg_len %d, %d bytes left): data length 3, want 2",
		Space(4), Len(3), Space(3))
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("errors.Is(%v, ErrMalformed) = false", err)
	}
}

// kernelLikeReceive is what a UDP socket with IP_PKTINFO, IP_RECVTTL,
// IP_RECVTOS, SO_TIMESTAMPNS and SO_RXQ_OVFL on gets: TOS as one byte, the
// timestamp first, and no padding after the last message.
func kernelLikeReceive() []byte {
	b := AppendTimestampNS(nil, unix.Timespec{Sec: 1700000000, Nsec: 1})
	b = AppendRxqOvfl(b, 2)
	b = appendPktInfo4(b, 1, addrA, addrB)
	b = AppendTTL(b, 64)
	b = AppendCmsg(b, unix.SOL_IP, unix.IP_TOS, []byte{0x02})
	return b[:len(b)-Space(1)+Len(1)]
}

// FuzzParse feeds arbitrary bytes to Next, Parse and CollectRights: nothing
// may panic or read out of range, every failure must be ErrMalformed, and a
// buffer Parse accepts must survive Append and Parse unchanged (except for
// unknown messages, which Append does not rebuild).
func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add(kernelLikeReceive())
	f.Add(func() []byte { c := fullControl(3); return c.Append(nil) }())
	f.Add(cat(AppendPktInfo6(nil, 2, addr6), AppendHopLimit(nil, 1), AppendTrafficClass(nil, 1), AppendPktInfo4(nil, 3, addrA)))
	f.Add(cat(AppendRights(nil, 1, 2), AppendCredentials(nil, unix.Ucred{Pid: 1}), AppendCmsg(nil, 7, 7, []byte("x"))))
	f.Add(header(hdrLen-1, 0, 0))
	f.Add(header(1<<40, unix.SOL_SOCKET, unix.SCM_RIGHTS))
	f.Fuzz(func(t *testing.T, b []byte) {
		rest := b
		for steps := 0; ; steps++ {
			if steps > len(b)/hdrLen {
				t.Fatalf("Next did not finish after %d steps on %d bytes", steps, len(b))
			}
			m, r, err := Next(rest)
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Next error %v does not wrap ErrMalformed", err)
				}
				break
			}
			if len(rest)-len(r) < hdrLen || len(m.Data) > len(rest)-hdrLen {
				t.Fatalf("Next consumed %d of %d bytes with %d data bytes", len(rest)-len(r), len(rest), len(m.Data))
			}
			rest = r
		}
		_ = CollectRights(b, nil)

		var c Control
		if err := c.Parse(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if c.Has&^(flagEnd-1) != 0 {
			t.Fatalf("Has = %v sets bits no message has", c.Has)
		}
		b2 := c.Append(nil)
		if len(b2) != c.Has.Space(c.NumRights()) {
			t.Errorf("Append wrote %d bytes; Has.Space says %d", len(b2), c.Has.Space(c.NumRights()))
		}
		var c2 Control
		if err := c2.Parse(b2); err != nil {
			t.Fatalf("Parse(Append(Parse(b))): %v\nb = % x\nAppend = % x", err, b, b2)
		}
		want := c
		want.Unknown = 0
		if d := diffControl(&c2, &want); d != "" {
			t.Fatalf("Parse(Append(Parse(b))) differs:\n%s\nb = % x", d, b)
		}
		if b3 := c2.Append(nil); !bytes.Equal(b3, b2) {
			t.Fatalf("Append is not stable:\nfirst  % x\nsecond % x", b2, b3)
		}
	})
}

// FuzzRoundTrip builds a Control from fuzzed values, in the canonical form
// Parse produces, and checks that Append and Parse give it back exactly.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint32(flagEnd-1), int32(3), []byte{192, 0, 2, 1}, []byte{10, 0, 0, 1}, int32(64), int32(0xb8),
		int64(1700000000), int64(5), uint32(1), uint16(1200), int32(1400), int32(42), uint32(1000), uint32(1000), []byte{3, 0, 0, 0})
	f.Add(uint32(FlagPktInfo6|FlagHopLimit|FlagTrafficClass), int32(-1), addr6.AsSlice(), []byte(nil), int32(-1), int32(-1),
		int64(-1), int64(-1), uint32(0), uint16(0), int32(0), int32(0), uint32(0), uint32(0), []byte(nil))
	f.Add(uint32(FlagRights|FlagCredentials), int32(0), []byte(nil), []byte(nil), int32(0), int32(0),
		int64(0), int64(0), uint32(0), uint16(0), int32(0), int32(-7), uint32(0xffffffff), uint32(0), []byte{1, 0, 0, 0, 2, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, has uint32, ifindex int32, dst, spec []byte, ttl, tos int32,
		sec, nsec int64, drops uint32, seg uint16, gro, pid int32, uid, gid uint32, rights []byte) {
		c := Control{Has: Flags(has) & (flagEnd - 1)}
		if c.Has&(FlagPktInfo4|FlagPktInfo6) != 0 {
			c.IfIndex = int(ifindex)
		}
		switch {
		case c.Has&FlagPktInfo4 != 0:
			c.Dst = netip.AddrFrom4([4]byte(padTo(dst, 4)))
			c.SpecDst = netip.AddrFrom4([4]byte(padTo(spec, 4)))
		case c.Has&FlagPktInfo6 != 0:
			c.Dst = netip.AddrFrom16([16]byte(padTo(dst, 16))).Unmap()
		}
		if c.Has&(FlagTTL|FlagHopLimit) != 0 {
			c.TTL = int(ttl)
		}
		if c.Has&(FlagTOS|FlagTrafficClass) != 0 {
			c.TOS = int(tos)
		}
		if c.Has&FlagTimestamp != 0 {
			setWord(&c.Timestamp.Sec, sec)
			setWord(&c.Timestamp.Nsec, nsec)
		}
		if c.Has&FlagRxqOvfl != 0 {
			c.Drops = drops
		}
		if c.Has&FlagUDPSegment != 0 {
			c.Segment = int(seg)
		}
		if c.Has&FlagUDPGRO != 0 {
			c.GRO = int(gro)
		}
		if c.Has&FlagCredentials != 0 {
			c.Creds = unix.Ucred{Pid: pid, Uid: uid, Gid: gid}
		}
		if c.Has&FlagRights != 0 {
			c.rights = append([]byte{}, rights[:len(rights)&^3]...)
		}

		b := c.Append(make([]byte, 0, 8)) // grows: must still be right
		if len(b) != c.Has.Space(c.NumRights()) {
			t.Errorf("Append wrote %d bytes; Has.Space says %d", len(b), c.Has.Space(c.NumRights()))
		}
		var got Control
		if err := got.Parse(b); err != nil {
			t.Fatalf("Parse(Append(c)): %v\nc = %+v", err, c)
		}
		if d := diffControl(&got, &c); d != "" {
			t.Fatalf("Parse(Append(c)) differs:\n%s", d)
		}
	})
}

// padTo returns the first n bytes of b, zero-filled when b is shorter.
func padTo(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

// BenchmarkParse parses what a busy UDP receive socket gets per datagram.
func BenchmarkParse(b *testing.B) {
	oob := kernelLikeReceive()
	var c Control
	b.ReportAllocs()
	b.SetBytes(int64(len(oob)))
	for b.Loop() {
		if err := c.Parse(oob); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend builds a send-side control buffer into a reused slice.
func BenchmarkAppend(b *testing.B) {
	src := netip.MustParseAddr("192.0.2.1")
	oob := make([]byte, 0, 128)
	b.ReportAllocs()
	b.SetBytes(int64(Space(unix.SizeofInet4Pktinfo) + 2*Space(4) + Space(2)))
	for b.Loop() {
		oob = AppendPktInfo4(oob[:0], 2, src)
		oob = AppendTTL(oob, 1)
		oob = AppendTOS(oob, 0x2a)
		oob = AppendUDPSegment(oob, 1200)
	}
}
