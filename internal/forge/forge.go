// Package forge sends UDP datagrams with any source address, for tests
// that play an attacker on a LAN: source 0.0.0.0, a victim's address, a
// broadcast address, another server's address and port.
//
// A raw IP socket cannot do it (the kernel fills in a zero source address
// and checks others), so forge writes whole IP packets to an AF_PACKET
// socket: the kernel adds only the Ethernet header. It needs
// CAP_NET_RAW, and it sends in the network namespace of the calling
// thread: run it inside netns.Host.Do.
package forge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Datagram is one forged UDP datagram.
type Datagram struct {
	Src, Dst netip.AddrPort // both IPv4 or both IPv6
	Payload  []byte
	TTL      uint8 // 0: 64
	// DstMAC is the Ethernet destination; nil means the broadcast address
	// for IPv4 (every host's kernel takes the frame, and only the one the
	// IP destination names keeps it) and the group's MAC for IPv6 groups.
	DstMAC net.HardwareAddr
}

// Packet returns the IP packet (header, UDP header, payload) of d.
func Packet(d Datagram) ([]byte, error) {
	src, dst := d.Src.Addr(), d.Dst.Addr()
	ttl := d.TTL
	if ttl == 0 {
		ttl = 64
	}
	udpLen := 8 + len(d.Payload)
	switch {
	case src.Unmap().Is4() && dst.Unmap().Is4():
		if 20+udpLen > 65535 {
			return nil, errors.New("forge: payload too large for IPv4")
		}
		s4, d4 := src.Unmap().As4(), dst.Unmap().As4()
		p := make([]byte, 20+udpLen)
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		p[8] = ttl
		p[9] = unix.IPPROTO_UDP
		copy(p[12:16], s4[:])
		copy(p[16:20], d4[:])
		binary.BigEndian.PutUint16(p[10:], checksum(p[:20]))
		udp := p[20:]
		putUDP(udp, d)
		pseudo := make([]byte, 12)
		copy(pseudo[0:4], s4[:])
		copy(pseudo[4:8], d4[:])
		pseudo[9] = unix.IPPROTO_UDP
		binary.BigEndian.PutUint16(pseudo[10:], uint16(udpLen))
		binary.BigEndian.PutUint16(udp[6:], udpChecksum(pseudo, udp))
		return p, nil
	case src.Is6() && dst.Is6() && !src.Is4In6() && !dst.Is4In6():
		if udpLen > 65535 {
			return nil, errors.New("forge: payload too large for IPv6")
		}
		s6, d6 := src.As16(), dst.As16()
		p := make([]byte, 40+udpLen)
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(udpLen))
		p[6] = unix.IPPROTO_UDP
		p[7] = ttl
		copy(p[8:24], s6[:])
		copy(p[24:40], d6[:])
		udp := p[40:]
		putUDP(udp, d)
		pseudo := make([]byte, 40)
		copy(pseudo[0:16], s6[:])
		copy(pseudo[16:32], d6[:])
		binary.BigEndian.PutUint32(pseudo[32:], uint32(udpLen))
		pseudo[39] = unix.IPPROTO_UDP
		binary.BigEndian.PutUint16(udp[6:], udpChecksum(pseudo, udp))
		return p, nil
	}
	return nil, fmt.Errorf("forge: source %v and destination %v are not of one family", src, dst)
}

func putUDP(udp []byte, d Datagram) {
	binary.BigEndian.PutUint16(udp[0:], d.Src.Port())
	binary.BigEndian.PutUint16(udp[2:], d.Dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], d.Payload)
}

func udpChecksum(pseudo, udp []byte) uint16 {
	sum := checksum(append(pseudo, udp...))
	if sum == 0 {
		return 0xffff // 0 means "no checksum" in UDP
	}
	return sum
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Send writes each datagram of ds out of interface ifname, in the calling
// thread's network namespace, through one AF_PACKET socket: closing one
// waits for an RCU grace period (about 13 ms here), so a socket per
// datagram would turn a burst into a trickle of 75 a second.
func Send(ifname string, ds ...Datagram) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("forge: %w", err)
	}
	// Protocol 0: a socket that only sends needs no receive hook; each
	// datagram names its own protocol in its link-layer address.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("forge: AF_PACKET socket: %w", err)
	}
	defer unix.Close(fd)
	for _, d := range ds {
		pkt, err := Packet(d)
		if err != nil {
			return err
		}
		proto := uint16(unix.ETH_P_IP)
		mac := d.DstMAC
		if d.Dst.Addr().Is6() && !d.Dst.Addr().Is4In6() {
			proto = unix.ETH_P_IPV6
			if mac == nil && d.Dst.Addr().IsMulticast() {
				a := d.Dst.Addr().As16()
				mac = net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
			}
		}
		if mac == nil {
			mac = Broadcast
		}
		sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index, Halen: uint8(len(mac))}
		copy(sa.Addr[:], mac)
		if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
			return fmt.Errorf("forge: sendto %s: %w", ifname, err)
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
