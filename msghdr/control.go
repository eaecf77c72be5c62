package msghdr

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Flags says which fields of a Control are present: one bit per kind of
// control message.
type Flags uint32

const (
	FlagPktInfo4     Flags = 1 << iota // IP_PKTINFO: IfIndex, Dst, SpecDst
	FlagPktInfo6                       // IPV6_PKTINFO: IfIndex, Dst
	FlagTTL                            // IP_TTL: TTL
	FlagHopLimit                       // IPV6_HOPLIMIT: TTL
	FlagTOS                            // IP_TOS: TOS
	FlagTrafficClass                   // IPV6_TCLASS: TOS
	FlagTimestamp                      // SO_TIMESTAMPNS: Timestamp
	FlagRxqOvfl                        // SO_RXQ_OVFL: Drops
	FlagRights                         // SCM_RIGHTS: Rights
	FlagCredentials                    // SCM_CREDENTIALS: Creds
	FlagUDPSegment                     // UDP_SEGMENT: Segment
	FlagUDPGRO                         // UDP_GRO: GRO

	flagEnd // one past the last flag
)

// flagNames is indexed by bit number.
var flagNames = [...]string{
	"IP_PKTINFO", "IPV6_PKTINFO", "IP_TTL", "IPV6_HOPLIMIT", "IP_TOS", "IPV6_TCLASS",
	"SO_TIMESTAMPNS", "SO_RXQ_OVFL", "SCM_RIGHTS", "SCM_CREDENTIALS", "UDP_SEGMENT", "UDP_GRO",
}

// String names the flags by their C constants: "IP_PKTINFO|IP_TTL".
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var s strings.Builder
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if s.Len() > 0 {
			s.WriteByte('|')
		}
		s.WriteString(name)
	}
	if rest := f &^ (flagEnd - 1); rest != 0 {
		if s.Len() > 0 {
			s.WriteByte('|')
		}
		s.WriteString("0x" + strconv.FormatUint(uint64(rest), 16))
	}
	return s.String()
}

// Space is the control buffer size needed to hold one message of each kind
// in f, as the kernel writes them, with room for fds descriptors when f has
// FlagRights. Size a receive buffer with it: a buffer that is too small
// makes the kernel drop messages and set MSG_CTRUNC.
func (f Flags) Space(fds int) int {
	n := 0
	for i := range kinds {
		k := &kinds[i]
		if f&k.flag == 0 || k.build == nil {
			continue
		}
		if k.array {
			n += Space(k.size * max(fds, 0))
		} else {
			n += Space(k.size)
		}
	}
	return n
}

// Control is the parsed control data of one message. Parse fills it in place
// without allocating; keep one per receive loop and reuse it.
type Control struct {
	Has Flags // which of the fields below are present

	// IfIndex is the arrival interface on receive (ipi_ifindex of
	// IP_PKTINFO, ipi6_ifindex of IPV6_PKTINFO).
	IfIndex int
	// Dst is the destination address in the packet header (ipi_addr,
	// ipi6_addr): a unicast, broadcast or multicast address. It has no zone;
	// IfIndex names the link. IPv4-mapped addresses are unmapped.
	Dst netip.Addr
	// SpecDst is ipi_spec_dst of IP_PKTINFO (IPv4 only): the local address
	// the kernel would answer from.
	SpecDst netip.Addr
	// TTL is IP_TTL or IPV6_HOPLIMIT: the TTL or hop limit the packet
	// arrived with.
	TTL int
	// TOS is IP_TOS or IPV6_TCLASS: the whole TOS / traffic class byte,
	// ECN bits included (see ECN).
	TOS int
	// Timestamp is SO_TIMESTAMPNS: when the kernel received the packet.
	Timestamp unix.Timespec
	// Drops is SO_RXQ_OVFL: packets the kernel dropped on this socket so
	// far, for lack of receive buffer. Linux sends it only once it is
	// non-zero.
	Drops uint32
	// Segment is UDP_SEGMENT: the GSO segment size.
	Segment int
	// GRO is UDP_GRO: the size of each datagram coalesced into this one;
	// the payload is a run of datagrams of that size, the last one shorter.
	GRO int
	// Creds is SCM_CREDENTIALS: the sender's pid, uid and gid.
	Creds unix.Ucred
	// Unknown counts messages of other levels or types. Parse skips them;
	// they are never an error.
	Unknown int

	rights []byte // SCM_RIGHTS data: a view into the parsed buffer
}

// Parse decodes the control buffer b (msg_control, msg_controllen bytes) into
// c. It resets c first and keeps views into b (for Rights), so b must not be
// reused while c is in use. Parse does not allocate unless it fails.
//
// A buffer that cannot be walked (see Next), a known message whose data has
// the wrong length, or a second SCM_RIGHTS message returns an error wrapping
// ErrMalformed that names the level, type and length. IP_TOS is accepted
// with 1 byte (what Linux sends on receive) or a 4-byte int. On error, c
// holds the messages before the bad one; descriptors received after it can
// only be found with CollectRights, so that they can be closed.
//
// When both IPv4 and IPv6 forms of the same information arrive (a
// dual-stack socket with both options on), the IPv4 one fills the field and
// both flags are set: IP_PKTINFO over IPV6_PKTINFO, IP_TTL over
// IPV6_HOPLIMIT, IP_TOS over IPV6_TCLASS. A repeated message overrides the
// earlier one.
func (c *Control) Parse(b []byte) error {
	*c = Control{}
	for rest := b; len(rest) > 0; {
		off := len(b) - len(rest)
		m, after, err := next(rest, off)
		if err != nil {
			return err
		}
		k := lookup(m.Level, m.Type)
		switch {
		case k == nil:
			c.Unknown++
		case !k.lenOK(len(m.Data)):
			return malformed(off, m, uint64(Len(len(m.Data))), len(rest), k.wantLen(len(m.Data)))
		case k.flag == FlagRights && c.Has&FlagRights != 0:
			return malformed(off, m, uint64(Len(len(m.Data))), len(rest), "a second SCM_RIGHTS message (Linux sends one)")
		default:
			k.parse(c, m.Data)
			c.Has |= k.flag
		}
		rest = after
	}
	return nil
}

// Append appends every present field of c as a control message, in flag
// order: the inverse of Parse, up to the choices Parse made (one message of
// each kind, IP_TOS as an int, no unknown messages). Dst and SpecDst go where
// Parse found them, so for sending a source address use AppendPktInfo4 or
// AppendPktInfo6. Append does not allocate when cap(b) suffices.
func (c *Control) Append(b []byte) []byte {
	for i := range kinds {
		k := &kinds[i]
		if c.Has&k.flag != 0 && k.build != nil {
			b = k.build(c, b)
		}
	}
	return b
}

// Rights appends the descriptors of SCM_RIGHTS to dst and returns it. The
// receiver owns them: close every one it does not keep, or they leak.
func (c *Control) Rights(dst []int) []int {
	return appendFDs(dst, c.rights)
}

// NumRights is the number of descriptors Rights would append.
func (c *Control) NumRights() int { return len(c.rights) / 4 }

// ECN is the ECN field: the low two bits of TOS (0 Not-ECT, 1 ECT(1),
// 2 ECT(0), 3 CE).
func (c *Control) ECN() int { return c.TOS & 3 }

// Time is Timestamp as a time.Time, or the zero Time without FlagTimestamp.
func (c *Control) Time() time.Time {
	if c.Has&FlagTimestamp == 0 {
		return time.Time{}
	}
	return time.Unix(int64(c.Timestamp.Sec), int64(c.Timestamp.Nsec))
}

// CollectRights appends to dst the descriptors of every SCM_RIGHTS message
// in b, up to the first header that cannot be walked. It exists for the
// error path: when Parse fails, the descriptors that did arrive still belong
// to the receiver and must be closed.
func CollectRights(b []byte, dst []int) []int {
	for {
		m, rest, err := Next(b)
		if err != nil {
			return dst
		}
		if m.Level == unix.SOL_SOCKET && m.Type == unix.SCM_RIGHTS {
			dst = appendFDs(dst, m.Data)
		}
		b = rest
	}
}

func appendFDs(dst []int, d []byte) []int {
	for ; len(d) >= 4; d = d[4:] {
		dst = append(dst, int(int32(binary.NativeEndian.Uint32(d))))
	}
	return dst
}

// kind is one entry of the table of known control messages: how to check,
// decode and encode it. A table rather than a switch keeps names, lengths
// and both directions of each message in one place.
type kind struct {
	flag  Flags
	level int32
	typ   int32
	name  string
	size  int  // data length the kernel uses
	alt   int  // another accepted data length, 0 if none
	array bool // data is zero or more items of size bytes
	parse func(c *Control, d []byte)
	build func(c *Control, b []byte) []byte // nil: an alternative encoding Append does not produce
}

func (k *kind) lenOK(n int) bool {
	if k.array {
		return n%k.size == 0
	}
	return n == k.size || (k.alt != 0 && n == k.alt)
}

func (k *kind) wantLen(n int) string {
	switch {
	case k.array:
		return "data length " + strconv.Itoa(n) + ", want a multiple of " + strconv.Itoa(k.size)
	case k.alt != 0:
		return "data length " + strconv.Itoa(n) + ", want " + strconv.Itoa(k.alt) + " or " + strconv.Itoa(k.size)
	}
	return "data length " + strconv.Itoa(n) + ", want " + strconv.Itoa(k.size)
}

func lookup(level, typ int32) *kind {
	for i := range kinds {
		if kinds[i].typ == typ && kinds[i].level == level {
			return &kinds[i]
		}
	}
	return nil
}

func getInt(d []byte) int { return int(int32(binary.NativeEndian.Uint32(d))) }

// setWord stores v in a timespec field, whose Go type follows the ABI.
func setWord[T ~int32 | ~int64](p *T, v int64) { *p = T(v) }

func getWord(d []byte, width int) int64 {
	if width == 8 {
		return int64(binary.NativeEndian.Uint64(d))
	}
	return int64(int32(binary.NativeEndian.Uint32(d)))
}

// kinds is ordered by flag, which is the order Append writes.
var kinds = [...]kind{
	{
		flag: FlagPktInfo4, level: unix.SOL_IP, typ: unix.IP_PKTINFO, name: "IP_PKTINFO", size: unix.SizeofInet4Pktinfo,
		parse: func(c *Control, d []byte) {
			c.IfIndex = getInt(d)
			c.SpecDst = netip.AddrFrom4([4]byte(d[4:8]))
			c.Dst = netip.AddrFrom4([4]byte(d[8:12]))
		},
		build: func(c *Control, b []byte) []byte { return appendPktInfo4(b, c.IfIndex, c.SpecDst, c.Dst) },
	},
	{
		flag: FlagPktInfo6, level: unix.SOL_IPV6, typ: unix.IPV6_PKTINFO, name: "IPV6_PKTINFO", size: unix.SizeofInet6Pktinfo,
		parse: func(c *Control, d []byte) {
			if c.Has&FlagPktInfo4 == 0 {
				c.Dst = netip.AddrFrom16([16]byte(d[:16])).Unmap()
				c.IfIndex = getInt(d[16:])
			}
		},
		build: func(c *Control, b []byte) []byte { return AppendPktInfo6(b, c.IfIndex, c.Dst) },
	},
	{
		flag: FlagTTL, level: unix.SOL_IP, typ: unix.IP_TTL, name: "IP_TTL", size: 4,
		parse: func(c *Control, d []byte) { c.TTL = getInt(d) },
		build: func(c *Control, b []byte) []byte { return AppendTTL(b, c.TTL) },
	},
	{
		flag: FlagHopLimit, level: unix.SOL_IPV6, typ: unix.IPV6_HOPLIMIT, name: "IPV6_HOPLIMIT", size: 4,
		parse: func(c *Control, d []byte) {
			if c.Has&FlagTTL == 0 {
				c.TTL = getInt(d)
			}
		},
		build: func(c *Control, b []byte) []byte { return AppendHopLimit(b, c.TTL) },
	},
	{
		flag: FlagTOS, level: unix.SOL_IP, typ: unix.IP_TOS, name: "IP_TOS", size: 4, alt: 1,
		parse: func(c *Control, d []byte) {
			if len(d) == 1 {
				c.TOS = int(d[0])
			} else {
				c.TOS = getInt(d)
			}
		},
		build: func(c *Control, b []byte) []byte { return AppendTOS(b, c.TOS) },
	},
	{
		flag: FlagTrafficClass, level: unix.SOL_IPV6, typ: unix.IPV6_TCLASS, name: "IPV6_TCLASS", size: 4,
		parse: func(c *Control, d []byte) {
			if c.Has&FlagTOS == 0 {
				c.TOS = getInt(d)
			}
		},
		build: func(c *Control, b []byte) []byte { return AppendTrafficClass(b, c.TOS) },
	},
	{
		flag: FlagTimestamp, level: unix.SOL_SOCKET, typ: unix.SO_TIMESTAMPNS, name: "SO_TIMESTAMPNS", size: 2 * timeWidth,
		parse: func(c *Control, d []byte) {
			setWord(&c.Timestamp.Sec, getWord(d, timeWidth))
			setWord(&c.Timestamp.Nsec, getWord(d[timeWidth:], timeWidth))
		},
		build: func(c *Control, b []byte) []byte { return AppendTimestampNS(b, c.Timestamp) },
	},
	{
		// A socket that enabled SO_TIMESTAMPNS_NEW gets a struct
		// __kernel_timespec (two int64) whatever the word size. On 64-bit
		// Linux that is the same layout under another type number.
		flag: FlagTimestamp, level: unix.SOL_SOCKET, typ: unix.SO_TIMESTAMPNS_NEW, name: "SO_TIMESTAMPNS_NEW", size: 16,
		parse: func(c *Control, d []byte) {
			setWord(&c.Timestamp.Sec, getWord(d, 8))
			setWord(&c.Timestamp.Nsec, getWord(d[8:], 8))
		},
	},
	{
		flag: FlagRxqOvfl, level: unix.SOL_SOCKET, typ: unix.SO_RXQ_OVFL, name: "SO_RXQ_OVFL", size: 4,
		parse: func(c *Control, d []byte) { c.Drops = binary.NativeEndian.Uint32(d) },
		build: func(c *Control, b []byte) []byte { return AppendRxqOvfl(b, c.Drops) },
	},
	{
		flag: FlagRights, level: unix.SOL_SOCKET, typ: unix.SCM_RIGHTS, name: "SCM_RIGHTS", size: 4, array: true,
		parse: func(c *Control, d []byte) { c.rights = d },
		build: func(c *Control, b []byte) []byte {
			return AppendCmsg(b, unix.SOL_SOCKET, unix.SCM_RIGHTS, c.rights)
		},
	},
	{
		flag: FlagCredentials, level: unix.SOL_SOCKET, typ: unix.SCM_CREDENTIALS, name: "SCM_CREDENTIALS", size: unix.SizeofUcred,
		parse: func(c *Control, d []byte) {
			c.Creds = unix.Ucred{
				Pid: int32(binary.NativeEndian.Uint32(d)),
				Uid: binary.NativeEndian.Uint32(d[4:]),
				Gid: binary.NativeEndian.Uint32(d[8:]),
			}
		},
		build: func(c *Control, b []byte) []byte { return AppendCredentials(b, c.Creds) },
	},
	{
		flag: FlagUDPSegment, level: unix.SOL_UDP, typ: unix.UDP_SEGMENT, name: "UDP_SEGMENT", size: 2,
		parse: func(c *Control, d []byte) { c.Segment = int(binary.NativeEndian.Uint16(d)) },
		build: func(c *Control, b []byte) []byte { return AppendUDPSegment(b, uint16(c.Segment)) },
	},
	{
		flag: FlagUDPGRO, level: unix.SOL_UDP, typ: unix.UDP_GRO, name: "UDP_GRO", size: 4,
		parse: func(c *Control, d []byte) { c.GRO = getInt(d) },
		build: func(c *Control, b []byte) []byte { return AppendUDPGRO(b, c.GRO) },
	},
}
