package dgram

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

func TestPacketConnWithXNet(t *testing.T) {
	rx, tx, to := udpPair(t, unix.AF_INET)
	pc, err := rx.PacketConn()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, ok := pc.(*net.UDPConn); !ok {
		t.Fatalf("PacketConn() is %T; want *net.UDPConn so x/net accepts it", pc)
	}
	p := ipv4.NewPacketConn(pc)
	if err := p.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		t.Fatalf("x/net/ipv4 SetControlMessage on the adapter: %v", err)
	}
	if _, err := tx.SendTo([]byte("x/net"), 0, to); err != nil {
		t.Fatal(err)
	}
	p.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, cm, _, err := p.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "x/net" || cm == nil || cm.Dst.String() != "127.0.0.1" {
		t.Fatalf("ipv4.PacketConn.ReadFrom = %q, %v, %v", buf[:n], cm, err)
	}
	// The Socket still works, in the poller, after the adapter was made.
	rx.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := rx.RecvFrom(buf, 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("RecvFrom on the original after conversion: %v; want a deadline error (the descriptor must stay nonblocking)", err)
	}

	s6, err := ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s6.Close()
	pc6, err := s6.PacketConn()
	if err != nil {
		t.Fatal(err)
	}
	defer pc6.Close()
	if err := ipv6.NewPacketConn(pc6).SetHopLimit(9); err != nil {
		t.Errorf("x/net/ipv6 SetHopLimit on the adapter: %v", err)
	}
	if hl, err := s6.OptionInt(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS); err != nil || hl != 9 {
		t.Errorf("hop limit seen by the Socket = %d, %v; want 9 (one kernel socket)", hl, err)
	}
}

func TestConnAndListener(t *testing.T) {
	ln, err := Listen("tcp4", "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nl, err := ln.Listener()
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go func() {
		c, err := nl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4)
		n, _ := c.Read(buf)
		c.Write(buf[:n])
	}()
	cl, err := Dial(t.Context(), "tcp4", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	nc, err := cl.Conn()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("ping"))
	buf := make([]byte, 4)
	if n, err := nc.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Errorf("echo through net.Conn/net.Listener adapters: %q, %v", buf[:n], err)
	}
}

func TestFromFile(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	f, err := uc.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Family() != unix.AF_INET || s.Type() != unix.SOCK_DGRAM {
		t.Errorf("adopted socket is %v; want inet/dgram", s)
	}
	a, err := s.Sockname()
	if err != nil || a.AddrPort != uc.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("adopted Sockname = %v, %v; want %v", a, err, uc.LocalAddr())
	}
}
