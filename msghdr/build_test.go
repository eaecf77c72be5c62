package msghdr

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func ne16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func ne32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

func timespecBytes(sec, nsec int64) []byte {
	b := make([]byte, 2*timeWidth)
	putWord(b, sec, timeWidth)
	putWord(b[timeWidth:], nsec, timeWidth)
	return b
}

type builderCase struct {
	name  string
	build func(b []byte) []byte
	level int32
	typ   int32
	data  []byte // the payload the kernel must see
}

func builderCases() []builderCase {
	mustAddr := netip.MustParseAddr
	return []builderCase{
		{"PktInfo4", func(b []byte) []byte { return AppendPktInfo4(b, 3, mustAddr("192.0.2.7")) },
			unix.SOL_IP, unix.IP_PKTINFO, cat(ne32(3), []byte{192, 0, 2, 7}, []byte{0, 0, 0, 0})},
		{"PktInfo4 zero source", func(b []byte) []byte { return AppendPktInfo4(b, 0, netip.Addr{}) },
			unix.SOL_IP, unix.IP_PKTINFO, make([]byte, 12)},
		{"PktInfo4 mapped source", func(b []byte) []byte { return AppendPktInfo4(b, 1, mustAddr("::ffff:10.1.2.3")) },
			unix.SOL_IP, unix.IP_PKTINFO, cat(ne32(1), []byte{10, 1, 2, 3}, make([]byte, 4))},
		{"PktInfo4 IPv6 source becomes any", func(b []byte) []byte { return AppendPktInfo4(b, 2, mustAddr("2001:db8::1")) },
			unix.SOL_IP, unix.IP_PKTINFO, cat(ne32(2), make([]byte, 8))},
		{"PktInfo6", func(b []byte) []byte { return AppendPktInfo6(b, 9, mustAddr("fe80::1%eth0")) },
			unix.SOL_IPV6, unix.IPV6_PKTINFO, cat([]byte{0xfe, 0x80, 14: 0, 15: 1}, ne32(9))},
		{"PktInfo6 IPv4 source is mapped", func(b []byte) []byte { return AppendPktInfo6(b, 1, mustAddr("192.0.2.1")) },
			unix.SOL_IPV6, unix.IPV6_PKTINFO, cat([]byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}, ne32(1))},
		{"PktInfo6 zero source", func(b []byte) []byte { return AppendPktInfo6(b, 0, netip.Addr{}) },
			unix.SOL_IPV6, unix.IPV6_PKTINFO, make([]byte, 20)},
		{"TTL", func(b []byte) []byte { return AppendTTL(b, 64) }, unix.SOL_IP, unix.IP_TTL, ne32(64)},
		{"HopLimit default", func(b []byte) []byte { return AppendHopLimit(b, -1) }, unix.SOL_IPV6, unix.IPV6_HOPLIMIT, ne32(0xffffffff)},
		{"TOS", func(b []byte) []byte { return AppendTOS(b, 0xb8|1) }, unix.SOL_IP, unix.IP_TOS, ne32(0xb9)},
		{"TrafficClass", func(b []byte) []byte { return AppendTrafficClass(b, 2) }, unix.SOL_IPV6, unix.IPV6_TCLASS, ne32(2)},
		{"TimestampNS", func(b []byte) []byte { return AppendTimestampNS(b, unix.Timespec{Sec: 1700000000, Nsec: 123456789}) },
			unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, timespecBytes(1700000000, 123456789)},
		{"RxqOvfl", func(b []byte) []byte { return AppendRxqOvfl(b, 0xdeadbeef) }, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, ne32(0xdeadbeef)},
		{"Rights none", func(b []byte) []byte { return AppendRights(b) }, unix.SOL_SOCKET, unix.SCM_RIGHTS, []byte{}},
		{"Rights three", func(b []byte) []byte { return AppendRights(b, 0, 7, 1<<20) },
			unix.SOL_SOCKET, unix.SCM_RIGHTS, cat(ne32(0), ne32(7), ne32(1<<20))},
		{"Credentials", func(b []byte) []byte { return AppendCredentials(b, unix.Ucred{Pid: 42, Uid: 1000, Gid: 100}) },
			unix.SOL_SOCKET, unix.SCM_CREDENTIALS, cat(ne32(42), ne32(1000), ne32(100))},
		{"UDPSegment", func(b []byte) []byte { return AppendUDPSegment(b, 1400) }, unix.SOL_UDP, unix.UDP_SEGMENT, ne16(1400)},
		{"UDPGRO", func(b []byte) []byte { return AppendUDPGRO(b, 1200) }, unix.SOL_UDP, unix.UDP_GRO, ne32(1200)},
		{"Cmsg odd length", func(b []byte) []byte { return AppendCmsg(b, 99, 7, []byte{1, 2, 3}) }, 99, 7, []byte{1, 2, 3}},
	}
}

// checkMsg checks that m is exactly one well-formed message with the given
// header and data, padded with zeros to Space.
func checkMsg(t *testing.T, m []byte, level, typ int32, data []byte) {
	t.Helper()
	if len(m) != Space(len(data)) {
		t.Fatalf("message is %d bytes; want Space(%d) = %d", len(m), len(data), Space(len(data)))
	}
	var l uint64
	if lenWidth == 8 {
		l = binary.NativeEndian.Uint64(m)
	} else {
		l = uint64(binary.NativeEndian.Uint32(m))
	}
	if l != uint64(Len(len(data))) {
		t.Errorf("cmsg_len = %d; want Len(%d) = %d", l, len(data), Len(len(data)))
	}
	if got := int32(binary.NativeEndian.Uint32(m[lenWidth:])); got != level {
		t.Errorf("cmsg_level = %d; want %d", got, level)
	}
	if got := int32(binary.NativeEndian.Uint32(m[lenWidth+4:])); got != typ {
		t.Errorf("cmsg_type = %d; want %d", got, typ)
	}
	if got := m[hdrLen : hdrLen+len(data)]; !bytes.Equal(got, data) {
		t.Errorf("data = % x; want % x", got, data)
	}
	if pad := m[hdrLen+len(data):]; !bytes.Equal(pad, make([]byte, len(pad))) {
		t.Errorf("padding = % x; want zeros", pad)
	}
}

func TestBuilders(t *testing.T) {
	for _, tt := range builderCases() {
		t.Run(tt.name, func(t *testing.T) {
			checkMsg(t, tt.build(nil), tt.level, tt.typ, tt.data)

			// Appending keeps what was there, and stale bytes in spare
			// capacity never leak into header, data or padding.
			prefix := AppendTTL(nil, 1)
			dirty := make([]byte, len(prefix), len(prefix)+64)
			copy(dirty, prefix)
			for i := len(dirty); i < cap(dirty); i++ {
				dirty[:cap(dirty)][i] = 0xff
			}
			got := tt.build(dirty)
			if !bytes.Equal(got[:len(prefix)], prefix) {
				t.Fatalf("the message before was changed: % x; want % x", got[:len(prefix)], prefix)
			}
			checkMsg(t, got[len(prefix):], tt.level, tt.typ, tt.data)
		})
	}
}

func TestBuildersNoAlloc(t *testing.T) {
	for _, tt := range builderCases() {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 0, 128)
			var out []byte
			allocs := testing.AllocsPerRun(100, func() { out = tt.build(buf[:0]) })
			if allocs != 0 {
				t.Errorf("%v allocations with enough capacity; want 0", allocs)
			}
			if cap(out) != cap(buf) || &out[:1][0] != &buf[:1][0] {
				t.Errorf("the buffer was reallocated (cap %d -> %d)", cap(buf), cap(out))
			}
		})
	}
}

// Builders grow a buffer that is too small, like append.
func TestBuildersGrow(t *testing.T) {
	b := make([]byte, 0, 3)
	b = AppendTTL(b, 5)
	b = AppendTOS(b, 6)
	want := append(AppendTTL(nil, 5), AppendTOS(nil, 6)...)
	if !bytes.Equal(b, want) {
		t.Errorf("got % x; want % x", b, want)
	}
}

// x/sys encodes some of the same messages with unsafe struct casts: an
// independent check of our layouts.
func TestBuildersMatchXSys(t *testing.T) {
	tests := []struct {
		name      string
		got, want []byte
	}{
		{"SCM_RIGHTS", AppendRights(nil, 3, 4, 5), unix.UnixRights(3, 4, 5)},
		{"SCM_CREDENTIALS", AppendCredentials(nil, unix.Ucred{Pid: 1, Uid: 2, Gid: 3}),
			unix.UnixCredentials(&unix.Ucred{Pid: 1, Uid: 2, Gid: 3})},
		{"IP_PKTINFO", AppendPktInfo4(nil, 5, netip.MustParseAddr("10.0.0.1")),
			unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: 5, Spec_dst: [4]byte{10, 0, 0, 1}})},
		{"IPV6_PKTINFO", AppendPktInfo6(nil, 5, netip.MustParseAddr("2001:db8::2")),
			unix.PktInfo6(&unix.Inet6Pktinfo{Ifindex: 5, Addr: netip.MustParseAddr("2001:db8::2").As16()})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Errorf("got  % x\nwant % x", tt.got, tt.want)
			}
		})
	}
}
