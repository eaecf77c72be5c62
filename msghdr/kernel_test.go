package msghdr

// These tests hand what the builders write to the real kernel and parse
// what the kernel writes back: the layouts, lengths and alignment are then
// Linux's, not only our own idea of them. They use loopback and socketpairs
// only; every receive has a timeout so that a lost datagram fails the test
// instead of hanging it.

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socket opens a close-on-exec socket that is closed when the test ends and
// whose receives give up after five seconds.
func socket(t *testing.T, family, typ int) int {
	t.Helper()
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if family == unix.AF_INET6 && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT)) {
			t.Skipf("no IPv6 here: socket: %v", err)
		}
		t.Fatalf("socket(%d, %d): %v", family, typ, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatalf("setsockopt SO_RCVTIMEO: %v", err)
	}
	return fd
}

func setInt(t *testing.T, fd, level, opt int, name string, v int) {
	t.Helper()
	if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
		t.Fatalf("setsockopt %s: %v", name, err)
	}
}

func bindLoopback(t *testing.T, fd int, sa unix.Sockaddr) unix.Sockaddr {
	t.Helper()
	if err := unix.Bind(fd, sa); err != nil {
		if _, v6 := sa.(*unix.SockaddrInet6); v6 && errors.Is(err, unix.EADDRNOTAVAIL) {
			t.Skipf("no ::1 here: bind: %v", err)
		}
		t.Fatalf("bind %+v: %v", sa, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return got
}

func loIndex(t *testing.T) int {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	return lo.Index
}

// recv receives one datagram with a control buffer of exactly
// room.Space(fds) bytes, fails on MSG_CTRUNC (a buffer sized by Flags.Space
// must be enough) or when a message in want is missing, and returns the
// payload and the parsed control data.
func recv(t *testing.T, fd int, room Flags, fds int, want Flags) ([]byte, *Control) {
	t.Helper()
	buf := make([]byte, 65536)
	oob := make([]byte, room.Space(fds))
	n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, 0)
	if err != nil {
		t.Fatalf("recvmsg: %v", err)
	}
	if flags&unix.MSG_CTRUNC != 0 {
		t.Fatalf("MSG_CTRUNC with a control buffer of Flags(%v).Space(%d) = %d bytes", room, fds, len(oob))
	}
	c := new(Control)
	if err := c.Parse(oob[:oobn]); err != nil {
		t.Fatalf("Parse of what the kernel sent: %v\n% x", err, oob[:oobn])
	}
	if c.Has&want != want {
		t.Fatalf("kernel sent %v; want at least %v", c.Has, want)
	}
	return buf[:n], c
}

func checkRecent(t *testing.T, c *Control) {
	t.Helper()
	if d := time.Since(c.Time()); d < -time.Minute || d > time.Minute {
		t.Errorf("Timestamp %v is %v away from now", c.Time(), d)
	}
}

func TestKernelUDP4(t *testing.T) {
	lo := loIndex(t)
	rx := socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	setInt(t, rx, unix.SOL_IP, unix.IP_PKTINFO, "IP_PKTINFO", 1)
	setInt(t, rx, unix.SOL_IP, unix.IP_RECVTTL, "IP_RECVTTL", 1)
	setInt(t, rx, unix.SOL_IP, unix.IP_RECVTOS, "IP_RECVTOS", 1)
	setInt(t, rx, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, "SO_TIMESTAMPNS", 1)
	setInt(t, rx, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, "SO_RXQ_OVFL", 1)
	to := bindLoopback(t, rx, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})

	tx := socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	oob := AppendTTL(nil, 7)
	oob = AppendTOS(oob, 0x28|2) // a DSCP with ECT(0)
	oob = AppendPktInfo4(oob, lo, netip.MustParseAddr("127.0.0.1"))
	if _, err := unix.SendmsgN(tx, []byte("hello"), oob, to, 0); err != nil {
		t.Fatalf("sendmsg with our IP_TTL, IP_TOS and IP_PKTINFO: %v", err)
	}

	on := FlagPktInfo4 | FlagTTL | FlagTOS | FlagTimestamp
	p, c := recv(t, rx, on|FlagRxqOvfl, 0, on)
	if string(p) != "hello" {
		t.Errorf("payload %q; want hello", p)
	}
	loop := netip.MustParseAddr("127.0.0.1")
	if c.TTL != 7 || c.TOS != 0x2a || c.ECN() != 2 || c.Dst != loop || c.SpecDst != loop || c.IfIndex != lo {
		t.Errorf("got TTL %d TOS %#x ECN %d Dst %v SpecDst %v IfIndex %d; want 7 0x2a 2 %v %v %d",
			c.TTL, c.TOS, c.ECN(), c.Dst, c.SpecDst, c.IfIndex, loop, loop, lo)
	}
	checkRecent(t, c)
	if c.Has&FlagRxqOvfl != 0 || c.Unknown != 0 {
		t.Errorf("Has %v, Unknown %d; want no SO_RXQ_OVFL before any drop and nothing unknown", c.Has, c.Unknown)
	}
}

// SO_RXQ_OVFL arrives once the socket has dropped something: overflow a
// small receive buffer, drain it, and the next datagram carries the count.
func TestKernelRxqOvfl(t *testing.T) {
	rx := socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	setInt(t, rx, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, "SO_RXQ_OVFL", 1)
	setInt(t, rx, unix.SOL_SOCKET, unix.SO_RCVBUF, "SO_RCVBUF", 1) // the kernel's minimum
	to := bindLoopback(t, rx, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	tx := socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	payload := make([]byte, 1000)
	const sent = 64 // far more than a minimal buffer holds
	for range sent {
		if err := unix.Sendto(tx, payload, 0, to); err != nil {
			t.Fatalf("sendto: %v", err)
		}
	}
	queued := 0
	for ; queued < sent; queued++ {
		if _, _, _, _, err := unix.Recvmsg(rx, payload, nil, unix.MSG_DONTWAIT); err != nil {
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			t.Fatalf("recvmsg: %v", err)
		}
	}
	if queued == sent {
		t.Skipf("all %d datagrams fit in the receive buffer; nothing dropped", sent)
	}
	if err := unix.Sendto(tx, []byte("after"), 0, to); err != nil {
		t.Fatalf("sendto: %v", err)
	}
	_, c := recv(t, rx, FlagRxqOvfl, 0, FlagRxqOvfl)
	if want := uint32(sent - queued); c.Drops != want {
		t.Errorf("Drops = %d; want %d (%d sent, %d queued)", c.Drops, want, sent, queued)
	}
}

func TestKernelUDP6(t *testing.T) {
	lo := loIndex(t)
	rx := socket(t, unix.AF_INET6, unix.SOCK_DGRAM)
	setInt(t, rx, unix.SOL_IPV6, unix.IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", 1)
	setInt(t, rx, unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT, "IPV6_RECVHOPLIMIT", 1)
	setInt(t, rx, unix.SOL_IPV6, unix.IPV6_RECVTCLASS, "IPV6_RECVTCLASS", 1)
	setInt(t, rx, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, "SO_TIMESTAMPNS", 1)
	to := bindLoopback(t, rx, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()})

	tx := socket(t, unix.AF_INET6, unix.SOCK_DGRAM)
	oob := AppendHopLimit(nil, 9)
	oob = AppendTrafficClass(oob, 0x21)
	oob = AppendPktInfo6(oob, lo, netip.IPv6Loopback())
	if _, err := unix.SendmsgN(tx, []byte("hi6"), oob, to, 0); err != nil {
		t.Fatalf("sendmsg with our IPV6_HOPLIMIT, IPV6_TCLASS and IPV6_PKTINFO: %v", err)
	}
	on := FlagPktInfo6 | FlagHopLimit | FlagTrafficClass | FlagTimestamp
	_, c := recv(t, rx, on, 0, on)
	if c.TTL != 9 || c.TOS != 0x21 || c.ECN() != 1 || c.Dst != netip.IPv6Loopback() || c.IfIndex != lo {
		t.Errorf("got hop limit %d tclass %#x ECN %d Dst %v IfIndex %d; want 9 0x21 1 ::1 %d",
			c.TTL, c.TOS, c.ECN(), c.Dst, c.IfIndex, lo)
	}
	checkRecent(t, c)
}

// A dual-stack socket with both families' options on gets both forms for an
// IPv4 datagram; Parse must give the IPv4 ones.
func TestKernelDualStack(t *testing.T) {
	rx := socket(t, unix.AF_INET6, unix.SOCK_DGRAM)
	setInt(t, rx, unix.SOL_IPV6, unix.IPV6_V6ONLY, "IPV6_V6ONLY", 0)
	setInt(t, rx, unix.SOL_IPV6, unix.IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", 1)
	setInt(t, rx, unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT, "IPV6_RECVHOPLIMIT", 1)
	setInt(t, rx, unix.SOL_IP, unix.IP_PKTINFO, "IP_PKTINFO", 1)
	setInt(t, rx, unix.SOL_IP, unix.IP_RECVTTL, "IP_RECVTTL", 1)
	sa := bindLoopback(t, rx, &unix.SockaddrInet6{}).(*unix.SockaddrInet6)

	tx := socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	setInt(t, tx, unix.SOL_IP, unix.IP_TTL, "IP_TTL", 33)
	if err := unix.Sendto(tx, []byte("v4"), 0, &unix.SockaddrInet4{Port: sa.Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("sendto: %v", err)
	}
	on := FlagPktInfo4 | FlagPktInfo6 | FlagTTL | FlagHopLimit
	_, c := recv(t, rx, on, 0, FlagPktInfo4|FlagTTL)
	loop := netip.MustParseAddr("127.0.0.1")
	if c.Dst != loop || c.SpecDst != loop || c.TTL != 33 {
		t.Errorf("Has %v Dst %v SpecDst %v TTL %d; want %v, %v and 33", c.Has, c.Dst, c.SpecDst, c.TTL, loop, loop)
	}
	t.Logf("a dual-stack socket got %v for an IPv4 datagram", c.Has)
}

func TestKernelRightsAndCredentials(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	setInt(t, fds[1], unix.SOL_SOCKET, unix.SO_PASSCRED, "SO_PASSCRED", 1)
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fds[1], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatalf("setsockopt SO_RCVTIMEO: %v", err)
	}

	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	t.Cleanup(func() { unix.Close(pipe[0]); unix.Close(pipe[1]) })

	me := unix.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	oob := AppendCredentials(nil, me)
	oob = AppendRights(oob, pipe[1], pipe[0], pipe[1])
	if _, err := unix.SendmsgN(fds[0], []byte("fds"), oob, nil, 0); err != nil {
		t.Fatalf("sendmsg with our SCM_CREDENTIALS and SCM_RIGHTS: %v", err)
	}
	_, c := recv(t, fds[1], FlagRights|FlagCredentials, 3, FlagRights|FlagCredentials)
	got := c.Rights(nil)
	t.Cleanup(func() {
		for _, fd := range got {
			unix.Close(fd)
		}
	})
	if c.Creds != me {
		t.Errorf("Creds = %+v; want %+v", c.Creds, me)
	}
	if len(got) != 3 {
		t.Fatalf("received %d descriptors %v; want 3", len(got), got)
	}
	// The first received descriptor is a new write end of our pipe.
	if _, err := unix.Write(got[0], []byte("x")); err != nil {
		t.Fatalf("write to received descriptor %d: %v", got[0], err)
	}
	b := make([]byte, 1)
	if n, err := unix.Read(pipe[0], b); err != nil || n != 1 || b[0] != 'x' {
		t.Errorf("read from the pipe = %d %q %v; want the byte written through the passed descriptor", n, b, err)
	}
}

// UDP GSO on send and GRO on receive, over loopback: the kernel splits by
// our UDP_SEGMENT and tells the coalesced size with UDP_GRO.
func TestKernelGSOGRO(t *testing.T) {
	rx := socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	if err := unix.SetsockoptInt(rx, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
		t.Skipf("no UDP_GRO here: %v", err)
	}
	to := bindLoopback(t, rx, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	tx := socket(t, unix.AF_INET, unix.SOCK_DGRAM)
	const seg = 1000
	payload := make([]byte, 3*seg+100) // three whole segments and a short one
	if _, err := unix.SendmsgN(tx, payload, AppendUDPSegment(nil, seg), to, 0); err != nil {
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) {
			t.Skipf("no UDP GSO here: sendmsg: %v", err)
		}
		t.Fatalf("sendmsg with our UDP_SEGMENT: %v", err)
	}
	total := 0
	for total < len(payload) {
		p, c := recv(t, rx, FlagUDPGRO, 0, 0)
		total += len(p)
		if c.Has&FlagUDPGRO != 0 && c.GRO != seg {
			t.Errorf("UDP_GRO = %d; want %d", c.GRO, seg)
		}
		if c.Has&FlagUDPGRO == 0 && len(p) > seg {
			t.Errorf("a %d-byte read without UDP_GRO; want segments of at most %d", len(p), seg)
		}
		t.Logf("read %d bytes, control %v GRO %d", len(p), c.Has, c.GRO)
	}
	if total != len(payload) {
		t.Errorf("received %d bytes; want %d", total, len(payload))
	}
}

// The iovec array from Kernel, zero-length entries included, drives a real
// sendmsg and recvmsg.
func TestKernelIovecs(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })

	out := NewIovecs([]byte("scatter"), nil, []byte("/"), make([]byte, 0, 4), []byte("gather"))
	sendIovecs(t, fds[0], out)

	a, b, c := make([]byte, 4), make([]byte, 0), make([]byte, 20)
	in := NewIovecs(a, b, c)
	n := recvIovecs(t, fds[1], in)
	if want := out.Size(); n != want {
		t.Fatalf("received %d bytes; want %d", n, want)
	}
	got := in.Spread(n, nil)
	if string(got[0]) != "scat" || len(got[1]) != 0 || string(got[2]) != "ter/gather" {
		t.Errorf("Spread(%d) = %q; want [scat  ter/gather]", n, got)
	}
}

func sendIovecs(t *testing.T, fd int, v *Iovecs) {
	t.Helper()
	iov := v.Kernel()
	msg := unix.Msghdr{Iov: &iov[0]}
	msg.SetIovlen(len(iov))
	_, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if e != 0 {
		t.Fatalf("sendmsg: %v", e)
	}
}

func recvIovecs(t *testing.T, fd int, v *Iovecs) int {
	t.Helper()
	iov := v.Kernel()
	msg := unix.Msghdr{Iov: &iov[0]}
	msg.SetIovlen(len(iov))
	n, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if e != 0 {
		t.Fatalf("recvmsg: %v", e)
	}
	return int(n)
}
