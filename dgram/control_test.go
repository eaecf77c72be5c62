package dgram

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

func enable(t *testing.T, s *Socket, opts ...[2]int) {
	t.Helper()
	for _, o := range opts {
		if err := s.SetOptionBool(o[0], o[1], true); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPktInfoBothWays sends with an IP_PKTINFO / IPV6_PKTINFO choosing the
// interface and source, and reads the destination and arrival interface back
// from the receiver's control messages.
func TestPktInfoBothWays(t *testing.T) {
	families(t, func(t *testing.T, family int) {
		rx, tx, to := udpPair(t, family)
		bound(t, rx, tx)
		const lo = 1 // the loopback interface is index 1 in every namespace
		var ctl []byte
		if family == unix.AF_INET {
			enable(t, rx, [2]int{unix.IPPROTO_IP, unix.IP_PKTINFO})
			ctl = msghdr.AppendPktInfo4(nil, lo, to.AddrPort.Addr())
		} else {
			enable(t, rx, [2]int{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO})
			ctl = msghdr.AppendPktInfo6(nil, lo, to.AddrPort.Addr())
		}
		out := Message{Buffers: [][]byte{[]byte("p")}, Control: ctl, Addr: to}
		if err := tx.SendMsg(&out, 0); err != nil {
			t.Fatal(err)
		}
		in := Message{Buffers: [][]byte{make([]byte, 8)}, Control: make([]byte, 0, 128)}
		if err := rx.RecvMsg(&in, 0); err != nil {
			t.Fatal(err)
		}
		var c msghdr.Control
		if err := c.Parse(in.Control); err != nil {
			t.Fatal(err)
		}
		if c.Has&(msghdr.FlagPktInfo4|msghdr.FlagPktInfo6) == 0 {
			t.Fatalf("no pktinfo among %d control bytes", len(in.Control))
		}
		if c.IfIndex != lo || c.Dst != to.AddrPort.Addr() {
			t.Errorf("pktinfo ifindex=%d dst=%v; want %d %v", c.IfIndex, c.Dst, lo, to.AddrPort.Addr())
		}
		if in.Addr.AddrPort.Addr() != to.AddrPort.Addr() {
			t.Errorf("source %v; want %v (the source the sender chose)", in.Addr, to.AddrPort.Addr())
		}
	})
}

func TestTTLAndTOS(t *testing.T) {
	families(t, func(t *testing.T, family int) {
		rx, tx, to := udpPair(t, family)
		bound(t, rx, tx)
		var ctl []byte
		if family == unix.AF_INET {
			enable(t, rx, [2]int{unix.IPPROTO_IP, unix.IP_RECVTTL}, [2]int{unix.IPPROTO_IP, unix.IP_RECVTOS})
			ctl = msghdr.AppendTTL(nil, 7)
			ctl = msghdr.AppendTOS(ctl, 0x22)
		} else {
			enable(t, rx, [2]int{unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT}, [2]int{unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS})
			ctl = msghdr.AppendHopLimit(nil, 7)
			ctl = msghdr.AppendTrafficClass(ctl, 0x22)
		}
		out := Message{Buffers: [][]byte{[]byte("t")}, Control: ctl, Addr: to}
		if err := tx.SendMsg(&out, 0); err != nil {
			t.Fatal(err)
		}
		in := Message{Buffers: [][]byte{make([]byte, 8)}, Control: make([]byte, 0, 128)}
		if err := rx.RecvMsg(&in, 0); err != nil {
			t.Fatal(err)
		}
		var c msghdr.Control
		if err := c.Parse(in.Control); err != nil {
			t.Fatal(err)
		}
		if c.TTL != 7 || c.TOS != 0x22 || c.ECN() != 2 {
			t.Errorf("ttl=%d tos=%#x ecn=%d; want 7 0x22 2", c.TTL, c.TOS, c.ECN())
		}
	})
}

func TestKernelTimestampAndDrops(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	bound(t, rx, tx)
	enable(t, rx, [2]int{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS}, [2]int{unix.SOL_SOCKET, unix.SO_RXQ_OVFL})
	before := time.Now()
	if _, err := tx.SendTo([]byte("ts"), 0, to); err != nil {
		t.Fatal(err)
	}
	in := Message{Buffers: [][]byte{make([]byte, 8)}, Control: make([]byte, 0, 128)}
	if err := rx.RecvMsg(&in, 0); err != nil {
		t.Fatal(err)
	}
	var c msghdr.Control
	if err := c.Parse(in.Control); err != nil {
		t.Fatal(err)
	}
	ts := c.Time()
	if c.Has&msghdr.FlagTimestamp == 0 || ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %v (present %v); want one between %v and now", ts, c.Has&msghdr.FlagTimestamp != 0, before)
	}
	// The kernel stamps each queued datagram with the drop count at the
	// time it was queued, and sends SO_RXQ_OVFL only when that is nonzero:
	// overflow a tiny buffer, drain it, then the next datagram carries it.
	if _, err := rx.SetRecvBuffer(1); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		tx.SendTo(make([]byte, 1000), 0, to)
	}
	rx.SetNonblock(true)
	for range 200 {
		if err := rx.RecvMsg(&in, 0); err != nil {
			break
		}
	}
	rx.SetNonblock(false)
	if _, err := tx.SendTo([]byte("after"), 0, to); err != nil {
		t.Fatal(err)
	}
	if err := rx.RecvMsg(&in, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Parse(in.Control); err != nil {
		t.Fatal(err)
	}
	if c.Has&msghdr.FlagRxqOvfl == 0 || c.Drops == 0 {
		t.Errorf("after overflowing the buffer: drops=%d (present %v); want > 0", c.Drops, c.Has&msghdr.FlagRxqOvfl != 0)
	}
}

func TestRightsOverSocketpair(t *testing.T) {
	a, b := mustPair(t, unix.SOCK_DGRAM)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	prc, _ := r.SyscallConn()
	var pipeFD int
	prc.Control(func(fd uintptr) { pipeFD = int(fd) })

	out := Message{Buffers: [][]byte{[]byte("fd")}, Control: msghdr.AppendRights(nil, pipeFD)}
	if err := a.SendMsg(&out, 0); err != nil {
		t.Fatal(err)
	}
	in := Message{Buffers: [][]byte{make([]byte, 8)}, Control: make([]byte, 0, msghdr.Space(4*4))}
	if err := b.RecvMsg(&in, 0); err != nil {
		t.Fatal(err)
	}
	var c msghdr.Control
	if err := c.Parse(in.Control); err != nil {
		t.Fatal(err)
	}
	fds := c.Rights(nil)
	if len(fds) != 1 {
		t.Fatalf("received %d fds; want 1", len(fds))
	}
	if fl, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("passed fd flags %#x, %v; want FD_CLOEXEC (MSG_CMSG_CLOEXEC)", fl, err)
	}
	got := os.NewFile(uintptr(fds[0]), "passed pipe")
	defer got.Close()
	if _, err := w.Write([]byte("through the passed fd")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := got.Read(buf)
	if err != nil || string(buf[:n]) != "through the passed fd" {
		t.Errorf("read %q, %v from the passed fd; want the pipe's data", buf[:n], err)
	}
}

func TestControlTruncationIsReported(t *testing.T) {
	a, b := mustPair(t, unix.SOCK_DGRAM)
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	rc, _ := r.SyscallConn()
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	out := Message{Buffers: [][]byte{[]byte("x")}, Control: msghdr.AppendRights(nil, fd, fd, fd, fd)}
	if err := a.SendMsg(&out, 0); err != nil {
		t.Fatal(err)
	}
	in := Message{Buffers: [][]byte{make([]byte, 8)}, Control: make([]byte, 0, msghdr.Space(4))}
	if err := b.RecvMsg(&in, 0); err != nil {
		t.Fatal(err)
	}
	if !in.ControlTruncated() {
		t.Errorf("4 fds into room for 1: ControlTruncated() = false; want true (MSG_CTRUNC)")
	}
	var c msghdr.Control
	if err := c.Parse(in.Control); err == nil {
		for _, f := range c.Rights(nil) {
			unix.Close(f)
		}
	}
}

func TestCredentials(t *testing.T) {
	a, b := mustPair(t, unix.SOCK_DGRAM)
	enable(t, b, [2]int{unix.SOL_SOCKET, unix.SO_PASSCRED})
	if _, err := a.Write([]byte("who")); err != nil {
		t.Fatal(err)
	}
	in := Message{Buffers: [][]byte{make([]byte, 8)}, Control: make([]byte, 0, 64)}
	if err := b.RecvMsg(&in, 0); err != nil {
		t.Fatal(err)
	}
	var c msghdr.Control
	if err := c.Parse(in.Control); err != nil {
		t.Fatal(err)
	}
	if c.Has&msghdr.FlagCredentials == 0 || int(c.Creds.Pid) != os.Getpid() || int(c.Creds.Uid) != os.Getuid() {
		t.Errorf("credentials %+v (present %v); want pid %d uid %d", c.Creds, c.Has&msghdr.FlagCredentials != 0, os.Getpid(), os.Getuid())
	}
}

func TestIPv6LinkLocalZoneRoundTrip(t *testing.T) {
	s := mustOpen(t, unix.AF_INET6, unix.SOCK_DGRAM)
	var ra rawAddr
	in := AddrFrom(netip.MustParseAddrPort("[fe80::1%lo]:9"))
	if err := ra.set(in, unix.AF_INET6, s); err != nil {
		t.Fatal(err)
	}
	sa := (*unix.RawSockaddrInet6)(ra.ptr())
	if sa.Scope_id != 1 {
		t.Errorf("scope id %d; want 1 (lo)", sa.Scope_id)
	}
	if got := ra.addr(s); got != in {
		t.Errorf("decoded %v; want %v", got, in)
	}
	if err := ra.set(AddrFrom(netip.MustParseAddrPort("[fe80::1%nosuchif0]:9")), unix.AF_INET6, s); err == nil {
		t.Error("zone naming no interface: no error")
	}
}

// Zones must name interfaces of the socket's own network namespace, even
// when the call runs on a thread of another one.
func TestIntegrationZoneFollowsSocketNamespace(t *testing.T) {
	lab := netns.New(t)
	lan := lab.LAN("z", netip.MustParsePrefix("10.72.0.0/24"), netip.MustParsePrefix("fd00:72::/64"))
	h := lab.Host("h")
	nic := h.Attach(lan, "zone7", netip.MustParseAddr("10.72.0.1"), netip.MustParseAddr("fd00:72::1"))
	var s *Socket
	if err := h.Do(func() (err error) {
		s, err = Open(unix.AF_INET6, unix.SOCK_DGRAM, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// This goroutine is in the root namespace, which has no "zone7".
	idx, err := s.zoneIndex("zone7")
	if err != nil || idx != nic.Index() {
		t.Errorf("zoneIndex(zone7) = %d, %v; want %d, the index inside the socket's namespace", idx, err, nic.Index())
	}
	if name := s.zoneName(nic.Index()); name != "zone7" {
		t.Errorf("zoneName(%d) = %q; want zone7", nic.Index(), name)
	}
}
