package doctor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Route is the kernel's answer to "ip route get DST": how a datagram to DST
// would leave this host.
type Route struct {
	Type    string // "unicast", "local", "broadcast", "multicast", "unreachable", ...
	OIF     int    // outgoing interface index (0: none)
	Gateway netip.Addr
	PrefSrc netip.Addr // the source address the kernel would pick
	Table   int
}

// routeTypes names the RTN_* constants.
var routeTypes = map[uint8]string{
	unix.RTN_UNSPEC:      "unspec",
	unix.RTN_UNICAST:     "unicast",
	unix.RTN_LOCAL:       "local",
	unix.RTN_BROADCAST:   "broadcast",
	unix.RTN_ANYCAST:     "anycast",
	unix.RTN_MULTICAST:   "multicast",
	unix.RTN_BLACKHOLE:   "blackhole",
	unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_PROHIBIT:    "prohibit",
	unix.RTN_THROW:       "throw",
	unix.RTN_NAT:         "nat",
}

// RouteGet asks the kernel, over rtnetlink (RTM_GETROUTE, what `ip route get`
// does), how a datagram to dst would be routed, out of the interface with
// index oif if oif is not 0. No route is an error wrapping the errno the
// kernel gave (ENETUNREACH, EHOSTUNREACH, ...). The answer comes from the
// network namespace of the calling thread.
func RouteGet(dst netip.Addr, oif int) (Route, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return Route{}, os.NewSyscallError("socket AF_NETLINK", err)
	}
	defer unix.Close(fd)
	// The kernel answers at once; the timeout only guards a broken kernel.
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return Route{}, os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Route{}, os.NewSyscallError("bind netlink", err)
	}
	const seq = 1
	req := appendRouteRequest(nil, dst, oif, seq)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Route{}, os.NewSyscallError("sendto netlink", err)
	}
	buf := make([]byte, 8192)
	for range 8 { // skip anything not ours; bounded
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return Route{}, os.NewSyscallError("recvfrom netlink", err)
		}
		rt, mine, err := parseRouteReply(buf[:n], seq)
		if err != nil {
			return Route{}, fmt.Errorf("route to %s: %w", dst, err)
		}
		if mine {
			return rt, nil
		}
	}
	return Route{}, fmt.Errorf("route to %s: no answer from the kernel", dst)
}

// appendRouteRequest builds nlmsghdr + rtmsg + RTA_DST (+ RTA_OIF).
func appendRouteRequest(b []byte, dst netip.Addr, oif, seq int) []byte {
	family, bits := uint8(unix.AF_INET), 32
	if dst.Is6() && !dst.Is4In6() {
		family, bits = unix.AF_INET6, 128
	}
	raw := dst.Unmap().AsSlice()
	attrs := rtaLen(len(raw))
	if oif != 0 {
		attrs += rtaLen(4)
	}
	total := unix.SizeofNlMsghdr + unix.SizeofRtMsg + attrs
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, uint32(total))
	b = ne.AppendUint16(b, unix.RTM_GETROUTE)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST)
	b = ne.AppendUint32(b, uint32(seq))
	b = ne.AppendUint32(b, 0) // pid: the kernel fills it in
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
	b = append(b, family, uint8(bits), 0, 0, 0, 0, 0, 0)
	b = ne.AppendUint32(b, 0)
	b = appendRta(b, unix.RTA_DST, raw)
	if oif != 0 {
		b = appendRta(b, unix.RTA_OIF, ne.AppendUint32(nil, uint32(oif)))
	}
	return b
}

func rtaLen(data int) int { return (unix.SizeofRtAttr + data + 3) &^ 3 }

func appendRta(b []byte, typ uint16, data []byte) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = ne.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// errMalformedNetlink is wrapped by every parse failure.
var errMalformedNetlink = errors.New("malformed netlink message")

// parseRouteReply reads the kernel's answer: an RTM_NEWROUTE, or an
// NLMSG_ERROR carrying a negative errno. mine is false when the buffer holds
// only messages of another sequence number. Every length is checked against
// the buffer.
func parseRouteReply(b []byte, seq int) (rt Route, mine bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return Route{}, false, fmt.Errorf("%w: %d bytes left, a header needs %d", errMalformedNetlink, len(b), unix.SizeofNlMsghdr)
		}
		l := int(ne.Uint32(b))
		typ := ne.Uint16(b[4:])
		s := ne.Uint32(b[8:])
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return Route{}, false, fmt.Errorf("%w: message length %d with %d bytes", errMalformedNetlink, l, len(b))
		}
		body := b[unix.SizeofNlMsghdr:l]
		next := (l + 3) &^ 3
		if next > len(b) {
			next = len(b)
		}
		b = b[next:]
		if int(s) != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return Route{}, true, fmt.Errorf("%w: short NLMSG_ERROR", errMalformedNetlink)
			}
			code := int32(ne.Uint32(body))
			if code == 0 {
				return Route{}, true, errors.New("kernel acknowledged without a route")
			}
			return Route{}, true, os.NewSyscallError("RTM_GETROUTE", unix.Errno(-code))
		case unix.RTM_NEWROUTE:
			rt, err := parseRtMsg(body)
			return rt, true, err
		}
	}
	return Route{}, false, nil
}

func parseRtMsg(b []byte) (Route, error) {
	ne := binary.NativeEndian
	if len(b) < unix.SizeofRtMsg {
		return Route{}, fmt.Errorf("%w: rtmsg of %d bytes", errMalformedNetlink, len(b))
	}
	family, typ := b[0], b[7]
	rt := Route{Table: int(b[4])}
	if name, ok := routeTypes[typ]; ok {
		rt.Type = name
	} else {
		rt.Type = fmt.Sprintf("type %d", typ)
	}
	b = b[unix.SizeofRtMsg:]
	for len(b) >= unix.SizeofRtAttr {
		l := int(ne.Uint16(b))
		at := ne.Uint16(b[2:])
		if l < unix.SizeofRtAttr || l > len(b) {
			return Route{}, fmt.Errorf("%w: attribute length %d with %d bytes", errMalformedNetlink, l, len(b))
		}
		data := b[unix.SizeofRtAttr:l]
		switch at {
		case unix.RTA_OIF:
			if len(data) == 4 {
				rt.OIF = int(ne.Uint32(data))
			}
		case unix.RTA_TABLE:
			if len(data) == 4 {
				rt.Table = int(ne.Uint32(data))
			}
		case unix.RTA_GATEWAY:
			rt.Gateway = addrOf(family, data)
		case unix.RTA_PREFSRC:
			rt.PrefSrc = addrOf(family, data)
		}
		next := (l + 3) &^ 3
		if next > len(b) {
			next = len(b)
		}
		b = b[next:]
	}
	return rt, nil
}

func addrOf(family uint8, data []byte) netip.Addr {
	switch {
	case family == unix.AF_INET && len(data) == 4:
		return netip.AddrFrom4([4]byte(data))
	case family == unix.AF_INET6 && len(data) == 16:
		return netip.AddrFrom16([16]byte(data))
	}
	return netip.Addr{}
}
