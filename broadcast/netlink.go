package broadcast

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// Interfaces and addresses come from rtnetlink dumps (RTM_GETLINK,
// RTM_GETADDR) read over a dgram.Socket, not from net.Interfaces: one dump
// carries what net.Interfaces cannot (IFA_BROADCAST, address flags), and a
// netlink socket stays in the network namespace it was opened in. A Sender or
// Receiver made inside a namespace (a test host entered with setns on one
// thread) keeps listing that namespace's interfaces from whatever goroutine
// later uses it, where net.Interfaces would list the namespace of the
// calling thread.

const (
	dumpTimeout  = 5 * time.Second // bounds one dump; the kernel answers in microseconds
	dumpAttempts = 3               // a dump interrupted by a change (NLM_F_DUMP_INTR) is retried this often
	nlBufSize    = 64 << 10        // the kernel caps one dump skb at 32 KiB

	// The two flag bits of nla_type (linux/netlink.h NLA_F_NESTED,
	// NLA_F_NET_BYTEORDER), which x/sys/unix does not name.
	nlaFNested       = 1 << 15
	nlaFNetByteorder = 1 << 14
)

var errDumpInterrupted = errors.New("interface list changed during the netlink dump (NLM_F_DUMP_INTR)")

// rtnl is one NETLINK_ROUTE socket for dumps, used by one dump at a time.
type rtnl struct {
	mu   sync.Mutex
	sock *dgram.Socket
	seq  uint32
	buf  []byte
}

func openRTNL() (*rtnl, error) {
	s, err := dgram.Open(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("broadcast: open rtnetlink socket to list interfaces: %w", err)
	}
	return &rtnl{sock: s, seq: uint32(time.Now().UnixNano()), buf: make([]byte, nlBufSize)}, nil
}

func (r *rtnl) Close() error { return r.sock.Close() }

// interfaces dumps every link and address, retrying a dump that a concurrent
// change interrupted.
func (r *rtnl) interfaces() ([]Interface, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	for range dumpAttempts {
		var ifs []Interface
		ifs, err = r.dumpAll()
		if !errors.Is(err, errDumpInterrupted) {
			return ifs, err
		}
	}
	return nil, err
}

func (r *rtnl) dumpAll() ([]Interface, error) {
	var ifs []Interface
	err := r.dump(unix.RTM_GETLINK, unix.SizeofIfInfomsg, func(typ uint16, data []byte) error {
		if typ != unix.RTM_NEWLINK {
			return nil
		}
		ifi, err := parseLink(data)
		if err != nil {
			return err
		}
		ifs = append(ifs, ifi)
		return nil
	})
	if err != nil {
		return nil, err
	}
	byIndex := make(map[int]int, len(ifs))
	for i := range ifs {
		byIndex[ifs[i].Index] = i
	}
	err = r.dump(unix.RTM_GETADDR, unix.SizeofIfAddrmsg, func(typ uint16, data []byte) error {
		if typ != unix.RTM_NEWADDR {
			return nil
		}
		index, a, ok, err := parseAddr(data)
		if err != nil || !ok {
			return err
		}
		// An address of a link created after the link dump waits for the
		// next refresh; the dump of links is the list of record.
		if i, found := byIndex[index]; found {
			ifs[i].Addrs = append(ifs[i].Addrs, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortByIndex(ifs)
	return ifs, nil
}

// dump sends one NLM_F_DUMP request of type typ with a zeroed family header
// of hdrLen bytes (AF_UNSPEC: every family) and calls fn for each answer.
func (r *rtnl) dump(typ uint16, hdrLen int, fn func(typ uint16, data []byte) error) error {
	r.seq++
	seq := r.seq
	req := make([]byte, unix.SizeofNlMsghdr+hdrLen)
	putNlHeader(req, typ, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq)
	if err := r.sock.SetDeadline(time.Now().Add(dumpTimeout)); err != nil {
		return err
	}
	if _, err := r.sock.Send(req, 0); err != nil {
		return fmt.Errorf("broadcast: rtnetlink dump request: %w", err)
	}
	interrupted := false
	for {
		n, err := r.sock.Recv(r.buf, 0)
		if err != nil {
			return fmt.Errorf("broadcast: rtnetlink dump: %w", err)
		}
		done, intr, err := walkDump(r.buf[:n], seq, fn)
		interrupted = interrupted || intr
		if err != nil {
			return err
		}
		if done {
			if interrupted {
				return errDumpInterrupted
			}
			return nil
		}
	}
}

func putNlHeader(b []byte, typ, flags uint16, seq uint32) {
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	binary.NativeEndian.PutUint32(b[12:], 0) // nlmsg_pid: 0 addresses the kernel
}

// walkDump walks the messages of one netlink datagram. Messages of another
// sequence number (the tail of an earlier dump that timed out) are skipped.
// done is true at NLMSG_DONE; intr when any message carried NLM_F_DUMP_INTR.
func walkDump(b []byte, seq uint32, fn func(typ uint16, data []byte) error) (done, intr bool, err error) {
	for len(b) > 0 {
		var m nlMsg
		m, b, err = nextMsg(b)
		if err != nil {
			return false, intr, err
		}
		if m.seq != seq {
			continue
		}
		if m.flags&unix.NLM_F_DUMP_INTR != 0 {
			intr = true
		}
		switch m.typ {
		case unix.NLMSG_DONE:
			// A dump that failed half-way ends with DONE carrying -errno.
			if len(m.data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.data)); e < 0 {
					return true, intr, fmt.Errorf("broadcast: rtnetlink dump: %w", unix.Errno(-e))
				}
			}
			return true, intr, nil
		case unix.NLMSG_ERROR:
			if len(m.data) < 4 {
				return false, intr, fmt.Errorf("broadcast: rtnetlink: NLMSG_ERROR of %d bytes", len(m.data))
			}
			if e := int32(binary.NativeEndian.Uint32(m.data)); e < 0 {
				return true, intr, fmt.Errorf("broadcast: rtnetlink dump: %w", unix.Errno(-e))
			}
		case unix.NLMSG_NOOP:
		default:
			if err := fn(m.typ, m.data); err != nil {
				return false, intr, err
			}
		}
	}
	return false, intr, nil
}

// nlMsg is one netlink message; data is a view of its payload.
type nlMsg struct {
	typ, flags uint16
	seq        uint32
	data       []byte
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// nextMsg reads the netlink message at the start of b. A header whose length
// is shorter than itself or runs past b is an error, never a panic or a loop.
func nextMsg(b []byte) (nlMsg, []byte, error) {
	if len(b) < unix.SizeofNlMsghdr {
		return nlMsg{}, nil, fmt.Errorf("broadcast: rtnetlink: %d trailing bytes, shorter than a message header", len(b))
	}
	n := int(binary.NativeEndian.Uint32(b))
	if n < unix.SizeofNlMsghdr || n > len(b) {
		return nlMsg{}, nil, fmt.Errorf("broadcast: rtnetlink: message length %d with %d bytes left", n, len(b))
	}
	m := nlMsg{
		typ:   binary.NativeEndian.Uint16(b[4:]),
		flags: binary.NativeEndian.Uint16(b[6:]),
		seq:   binary.NativeEndian.Uint32(b[8:]),
		data:  b[unix.SizeofNlMsghdr:n:n],
	}
	return m, b[min(nlAlign(n), len(b)):], nil
}

// nextAttr reads the route attribute at the start of b (struct rtattr).
// The nested and byte-order bits are masked off the type.
func nextAttr(b []byte) (typ uint16, data, rest []byte, err error) {
	if len(b) < unix.SizeofRtAttr {
		return 0, nil, nil, fmt.Errorf("broadcast: rtnetlink: %d trailing attribute bytes", len(b))
	}
	n := int(binary.NativeEndian.Uint16(b))
	if n < unix.SizeofRtAttr || n > len(b) {
		return 0, nil, nil, fmt.Errorf("broadcast: rtnetlink: attribute length %d with %d bytes left", n, len(b))
	}
	typ = binary.NativeEndian.Uint16(b[2:]) &^ (nlaFNested | nlaFNetByteorder)
	return typ, b[unix.SizeofRtAttr:n:n], b[min(nlAlign(n), len(b)):], nil
}

// parseLink decodes an RTM_NEWLINK payload: struct ifinfomsg, then
// attributes.
func parseLink(b []byte) (Interface, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return Interface{}, fmt.Errorf("broadcast: rtnetlink: RTM_NEWLINK of %d bytes, want at least %d", len(b), unix.SizeofIfInfomsg)
	}
	ifi := Interface{
		Index: int(int32(binary.NativeEndian.Uint32(b[4:]))),
		Flags: linkFlags(binary.NativeEndian.Uint32(b[8:])),
	}
	for rest := b[unix.SizeofIfInfomsg:]; len(rest) > 0; {
		typ, data, next, err := nextAttr(rest)
		if err != nil {
			return Interface{}, err
		}
		rest = next
		switch typ {
		case unix.IFLA_IFNAME:
			ifi.Name = cString(data)
		case unix.IFLA_MTU:
			if len(data) >= 4 {
				ifi.MTU = int(binary.NativeEndian.Uint32(data))
			}
		case unix.IFLA_ADDRESS:
			// All-zero hardware addresses (lo, tunnels) are none at all, as
			// net.Interfaces reports them.
			if nonZero(data) {
				ifi.HardwareAddr = net.HardwareAddr(append([]byte(nil), data...))
			}
		}
	}
	return ifi, nil
}

// parseAddr decodes an RTM_NEWADDR payload: struct ifaddrmsg, then
// attributes. ok is false for families other than IPv4 and IPv6.
func parseAddr(b []byte) (index int, a IfAddr, ok bool, err error) {
	if len(b) < unix.SizeofIfAddrmsg {
		return 0, IfAddr{}, false, fmt.Errorf("broadcast: rtnetlink: RTM_NEWADDR of %d bytes, want at least %d", len(b), unix.SizeofIfAddrmsg)
	}
	family, bits := int(b[0]), int(b[1])
	index = int(binary.NativeEndian.Uint32(b[4:]))
	size := 4
	switch family {
	case unix.AF_INET:
	case unix.AF_INET6:
		size = 16
	default:
		return index, IfAddr{}, false, nil
	}
	var address, local, brd netip.Addr
	for rest := b[unix.SizeofIfAddrmsg:]; len(rest) > 0; {
		typ, data, next, err := nextAttr(rest)
		if err != nil {
			return 0, IfAddr{}, false, err
		}
		rest = next
		if len(data) != size {
			continue
		}
		ip, _ := netip.AddrFromSlice(data)
		switch typ {
		case unix.IFA_ADDRESS:
			address = ip
		case unix.IFA_LOCAL:
			local = ip
		case unix.IFA_BROADCAST:
			brd = ip
		}
	}
	// IFA_LOCAL is this host's address; IFA_ADDRESS is the peer on a
	// point-to-point link and the same address otherwise.
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() || bits > ip.BitLen() {
		return index, IfAddr{}, false, fmt.Errorf("broadcast: rtnetlink: address of interface %d has no IFA_LOCAL/IFA_ADDRESS or prefix length %d", index, bits)
	}
	return index, newIfAddr(netip.PrefixFrom(ip, bits), brd), true, nil
}

// newIfAddr fills IfAddr from a prefix and the kernel's IFA_BROADCAST (zero
// when it gave none).
func newIfAddr(p netip.Prefix, kernelBrd netip.Addr) IfAddr {
	a := IfAddr{Prefix: p, LinkLocal: p.Addr().IsLinkLocalUnicast()}
	if p.Addr().Is4() && p.Bits() < 31 {
		a.Broadcast = kernelBrd
		if !a.Broadcast.Is4() || a.Broadcast.IsUnspecified() {
			a.Broadcast = directedBroadcast(p)
		}
	}
	return a
}

// directedBroadcast is the subnet's all-ones host address: 10.1.2.255 for
// 10.1.2.3/24, what the kernel installs as the subnet's broadcast route.
func directedBroadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

// linkFlags maps IFF_* to net.Flags, as net.Interfaces does.
func linkFlags(raw uint32) net.Flags {
	var f net.Flags
	for _, m := range [...]struct {
		iff  uint32
		flag net.Flags
	}{
		{unix.IFF_UP, net.FlagUp},
		{unix.IFF_BROADCAST, net.FlagBroadcast},
		{unix.IFF_LOOPBACK, net.FlagLoopback},
		{unix.IFF_POINTOPOINT, net.FlagPointToPoint},
		{unix.IFF_MULTICAST, net.FlagMulticast},
		{unix.IFF_RUNNING, net.FlagRunning},
	} {
		if raw&m.iff != 0 {
			f |= m.flag
		}
	}
	return f
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func nonZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return true
		}
	}
	return false
}

// changeWatcher is a netlink socket subscribed to link and address changes.
// Its goroutine only raises a flag; the owner refreshes its view when it
// next needs it, so nothing is dumped while nobody receives.
type changeWatcher struct {
	sock *dgram.Socket
	done chan struct{}
	// stopped is set when the goroutine has ended: the owner can no longer
	// count on being told about changes.
	stopped atomic.Bool
}

func watchChanges(flag func()) (*changeWatcher, error) {
	s, err := dgram.Open(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("broadcast: open rtnetlink socket to watch interfaces: %w", err)
	}
	for _, group := range []int{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR} {
		if err := s.SetOptionInt(unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, group); err != nil {
			s.Close()
			return nil, fmt.Errorf("broadcast: subscribe to rtnetlink group %d: %w", group, err)
		}
	}
	// The kernel skips group members whose port id is 0, and an unbound
	// socket gets one only on its first send (autobind). A NOOP without
	// NLM_F_REQUEST or NLM_F_ACK binds it and draws no answer.
	noop := make([]byte, unix.SizeofNlMsghdr)
	putNlHeader(noop, unix.NLMSG_NOOP, 0, 0)
	if _, err := s.Send(noop, 0); err != nil {
		s.Close()
		return nil, fmt.Errorf("broadcast: bind rtnetlink watch socket: %w", err)
	}
	w := &changeWatcher{sock: s, done: make(chan struct{})}
	go w.run(flag)
	return w, nil
}

func (w *changeWatcher) run(flag func()) {
	defer close(w.done)
	defer w.stopped.Store(true)
	buf := make([]byte, 8<<10)
	for {
		_, err := w.sock.Recv(buf, 0)
		var trunc *dgram.TruncatedError
		switch {
		case err == nil, errors.As(err, &trunc):
			flag()
		case errors.Is(err, unix.ENOBUFS):
			flag() // notifications were lost: something changed
		default:
			// Closed, or a failure that would repeat: stop. The owner
			// sees stopped and falls back to refreshing on demand.
			flag()
			return
		}
	}
}

func (w *changeWatcher) Close() error {
	err := w.sock.Close()
	<-w.done
	return err
}
