package msghdr

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every builder appends exactly one control message: a header, the data,
// and zeroed padding up to Space(len(data)), so that the next message starts
// aligned. They grow b only when cap(b) is too small; with enough capacity
// they do not allocate. Integers are written in the host's byte order
// (binary.NativeEndian), as the kernel reads them; a Go int is written as a
// C int (int32) and truncated as a C cast would truncate it.

// timeWidth is the size of each field of struct timespec in the native ABI
// (tv_sec and tv_nsec are both longs): 8 on 64-bit Linux.
const timeWidth = int(unsafe.Sizeof(unix.Timespec{}.Sec))

// appendMsg appends the header of a message with n data bytes and returns
// the extended buffer and the data part to fill. The whole message,
// padding included, is zeroed first: b's spare capacity may hold old bytes,
// and the kernel must never see them.
func appendMsg(b []byte, level, typ int32, n int) (out, data []byte) {
	start := len(b)
	b = slices.Grow(b, Space(n))
	b = b[:start+Space(n)]
	m := b[start:]
	clear(m)
	if lenWidth == 8 {
		binary.NativeEndian.PutUint64(m, uint64(Len(n)))
	} else {
		binary.NativeEndian.PutUint32(m, uint32(Len(n)))
	}
	binary.NativeEndian.PutUint32(m[lenWidth:], uint32(level))
	binary.NativeEndian.PutUint32(m[lenWidth+4:], uint32(typ))
	return b, m[hdrLen : hdrLen+n]
}

// appendInt appends a message whose data is one C int.
func appendInt(b []byte, level, typ int32, v int) []byte {
	b, d := appendMsg(b, level, typ, 4)
	binary.NativeEndian.PutUint32(d, uint32(int32(v)))
	return b
}

// addr4 is a as the 4 bytes of a struct in_addr. IPv4-mapped IPv6 addresses
// are unmapped; anything else that is not IPv4 (including the zero Addr)
// becomes 0.0.0.0, INADDR_ANY, which leaves the choice to the kernel.
func addr4(a netip.Addr) [4]byte {
	if a.Is4() || a.Is4In6() {
		return a.Unmap().As4()
	}
	return [4]byte{}
}

// addr16 is a as the 16 bytes of a struct in6_addr: IPv4 addresses become
// IPv4-mapped (::ffff:a.b.c.d), the form a dual-stack socket uses for them;
// the zero Addr becomes ::. The zone is not part of in6_addr and is dropped.
func addr16(a netip.Addr) [16]byte {
	if !a.IsValid() {
		return [16]byte{}
	}
	return a.As16()
}

// AppendCmsg appends one control message of any level and type with data
// as its payload. The other builders are shorthands for it.
func AppendCmsg(b []byte, level, typ int32, data []byte) []byte {
	b, d := appendMsg(b, level, typ, len(data))
	copy(d, data)
	return b
}

// appendPktInfo4 writes a full struct in_pktinfo: ipi_ifindex, ipi_spec_dst,
// ipi_addr, in that order.
func appendPktInfo4(b []byte, ifindex int, specDst, dst netip.Addr) []byte {
	b, d := appendMsg(b, unix.SOL_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
	binary.NativeEndian.PutUint32(d, uint32(int32(ifindex)))
	s, a := addr4(specDst), addr4(dst)
	copy(d[4:8], s[:])
	copy(d[8:12], a[:])
	return b
}

// AppendPktInfo4 appends an IP_PKTINFO message (SOL_IP, struct in_pktinfo)
// for sending: ipi_ifindex = ifindex picks the outgoing interface (0: by
// route) and ipi_spec_dst = src the source address (the zero Addr, or any
// non-IPv4 address, is written as 0.0.0.0: chosen by the kernel). ipi_addr
// is ignored by the kernel on send and written as 0.0.0.0.
func AppendPktInfo4(b []byte, ifindex int, src netip.Addr) []byte {
	return appendPktInfo4(b, ifindex, src, netip.Addr{})
}

// AppendPktInfo6 appends an IPV6_PKTINFO message (SOL_IPV6, struct
// in6_pktinfo) for sending: ipi6_addr = src is the source address (the zero
// Addr is written as ::, chosen by the kernel; an IPv4 address as
// IPv4-mapped), ipi6_ifindex = ifindex the outgoing interface (0: by route).
func AppendPktInfo6(b []byte, ifindex int, src netip.Addr) []byte {
	b, d := appendMsg(b, unix.SOL_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
	a := addr16(src)
	copy(d[:16], a[:])
	binary.NativeEndian.PutUint32(d[16:], uint32(int32(ifindex)))
	return b
}

// AppendTTL appends an IP_TTL message (SOL_IP, int): on send, the TTL of
// this one datagram.
func AppendTTL(b []byte, ttl int) []byte { return appendInt(b, unix.SOL_IP, unix.IP_TTL, ttl) }

// AppendHopLimit appends an IPV6_HOPLIMIT message (SOL_IPV6, int): on send,
// the hop limit of this one datagram (-1: the socket's default).
func AppendHopLimit(b []byte, hops int) []byte {
	return appendInt(b, unix.SOL_IPV6, unix.IPV6_HOPLIMIT, hops)
}

// AppendTOS appends an IP_TOS message (SOL_IP) as a C int, the form the
// kernel accepts on send. The low two bits are the ECN field.
func AppendTOS(b []byte, tos int) []byte { return appendInt(b, unix.SOL_IP, unix.IP_TOS, tos) }

// AppendTrafficClass appends an IPV6_TCLASS message (SOL_IPV6, int): on send,
// the traffic class of this one datagram (-1: the socket's default).
func AppendTrafficClass(b []byte, tc int) []byte {
	return appendInt(b, unix.SOL_IPV6, unix.IPV6_TCLASS, tc)
}

// AppendTimestampNS appends an SO_TIMESTAMPNS message (SOL_SOCKET, struct
// timespec). Only the kernel sends it, on receive; the builder exists for
// tests and round trips.
func AppendTimestampNS(b []byte, ts unix.Timespec) []byte {
	b, d := appendMsg(b, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 2*timeWidth)
	putWord(d, int64(ts.Sec), timeWidth)
	putWord(d[timeWidth:], int64(ts.Nsec), timeWidth)
	return b
}

func putWord(d []byte, v int64, width int) {
	if width == 8 {
		binary.NativeEndian.PutUint64(d, uint64(v))
	} else {
		binary.NativeEndian.PutUint32(d, uint32(v))
	}
}

// AppendRxqOvfl appends an SO_RXQ_OVFL message (SOL_SOCKET, uint32). Only the
// kernel sends it, on receive; the builder exists for tests and round trips.
func AppendRxqOvfl(b []byte, drops uint32) []byte {
	b, d := appendMsg(b, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 4)
	binary.NativeEndian.PutUint32(d, drops)
	return b
}

// AppendRights appends one SCM_RIGHTS message (SOL_SOCKET) carrying fds, each
// as a C int, for passing descriptors over a unix-domain socket.
func AppendRights(b []byte, fds ...int) []byte {
	b, d := appendMsg(b, unix.SOL_SOCKET, unix.SCM_RIGHTS, 4*len(fds))
	for i, fd := range fds {
		binary.NativeEndian.PutUint32(d[4*i:], uint32(int32(fd)))
	}
	return b
}

// AppendCredentials appends an SCM_CREDENTIALS message (SOL_SOCKET, struct
// ucred). On send over a unix-domain socket the kernel checks that the
// sender may claim these credentials.
func AppendCredentials(b []byte, c unix.Ucred) []byte {
	b, d := appendMsg(b, unix.SOL_SOCKET, unix.SCM_CREDENTIALS, unix.SizeofUcred)
	binary.NativeEndian.PutUint32(d, uint32(c.Pid))
	binary.NativeEndian.PutUint32(d[4:], c.Uid)
	binary.NativeEndian.PutUint32(d[8:], c.Gid)
	return b
}

// AppendUDPSegment appends a UDP_SEGMENT message (SOL_UDP, uint16): on send,
// the kernel splits the payload into datagrams of size bytes (UDP GSO).
func AppendUDPSegment(b []byte, size uint16) []byte {
	b, d := appendMsg(b, unix.SOL_UDP, unix.UDP_SEGMENT, 2)
	binary.NativeEndian.PutUint16(d, size)
	return b
}

// AppendUDPGRO appends a UDP_GRO message (SOL_UDP, int). Only the kernel
// sends it, on receive, with the size of the coalesced datagrams; the builder
// exists for tests and round trips.
func AppendUDPGRO(b []byte, size int) []byte { return appendInt(b, unix.SOL_UDP, unix.UDP_GRO, size) }
