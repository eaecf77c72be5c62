package dgram

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// resolve turns a Go-style network and address into what Open and Bind
// need. Only literal addresses are accepted: a datagram tool must not hang
// on DNS, and names are the caller's to resolve. An empty host is the IPv4
// wildcard for "udp"/"tcp" (broadcast is IPv4), and "::" for "udp6"/"tcp6".
func resolve(network, address string) (family, sotype int, a Addr, err error) {
	switch network {
	case "udp", "udp4", "udp6":
		sotype = unix.SOCK_DGRAM
	case "tcp", "tcp4", "tcp6":
		sotype = unix.SOCK_STREAM
	case "unix":
		return unix.AF_UNIX, unix.SOCK_STREAM, UnixAddr(address), nil
	case "unixgram":
		return unix.AF_UNIX, unix.SOCK_DGRAM, UnixAddr(address), nil
	case "unixpacket":
		return unix.AF_UNIX, unix.SOCK_SEQPACKET, UnixAddr(address), nil
	default:
		return 0, 0, Addr{}, fmt.Errorf("dgram: unknown network %q: want udp, udp4, udp6, tcp, tcp4, tcp6, unix, unixgram or unixpacket", network)
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return 0, 0, Addr{}, fmt.Errorf("dgram: bad address %q: %w", address, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return 0, 0, Addr{}, fmt.Errorf("dgram: bad port %q in %q: want 0-65535", portText, address)
	}
	var ip netip.Addr
	switch {
	case host == "" && network[len(network)-1] == '6':
		ip = netip.IPv6Unspecified()
	case host == "":
		ip = netip.IPv4Unspecified()
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return 0, 0, Addr{}, fmt.Errorf("dgram: bad IP %q in %q: want a literal address (names are not resolved)", host, address)
		}
	}
	ip = ip.Unmap()
	family = unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	switch {
	case network[len(network)-1] == '4' && family != unix.AF_INET:
		return 0, 0, Addr{}, fmt.Errorf("dgram: %s needs an IPv4 address, got %q", network, host)
	case network[len(network)-1] == '6' && family != unix.AF_INET6:
		return 0, 0, Addr{}, fmt.Errorf("dgram: %s needs an IPv6 address, got %q", network, host)
	}
	return family, sotype, AddrFrom(netip.AddrPortFrom(ip, uint16(port))), nil
}

// Listen is socket_create_listen: a stream (or seqpacket) socket bound to
// address and listening, with SO_REUSEADDR on IP sockets so a restarted
// server can bind at once. backlog <= 0 is SOMAXCONN.
func Listen(network, address string, backlog int) (*Socket, error) {
	family, sotype, a, err := resolve(network, address)
	if err != nil {
		return nil, err
	}
	if sotype == unix.SOCK_DGRAM {
		return nil, fmt.Errorf("dgram: Listen needs a stream network, not %q; use ListenPacket", network)
	}
	s, err := Open(family, sotype, 0)
	if err != nil {
		return nil, err
	}
	if family != unix.AF_UNIX {
		if err := s.SetReuseAddr(true); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.Bind(a); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Listen(backlog); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ListenPacket is a datagram socket bound to address ("udp", "udp4",
// "udp6" or "unixgram").
func ListenPacket(network, address string) (*Socket, error) {
	family, sotype, a, err := resolve(network, address)
	if err != nil {
		return nil, err
	}
	if sotype != unix.SOCK_DGRAM {
		return nil, fmt.Errorf("dgram: ListenPacket needs a datagram network, not %q; use Listen", network)
	}
	s, err := Open(family, sotype, 0)
	if err != nil {
		return nil, err
	}
	if err := s.Bind(a); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Dial opens a socket and connects it to address. For "udp" it only fixes
// the peer (no packet is sent); for streams it waits for the handshake or
// ctx.
func Dial(ctx context.Context, network, address string) (*Socket, error) {
	family, sotype, a, err := resolve(network, address)
	if err != nil {
		return nil, err
	}
	s, err := Open(family, sotype, 0)
	if err != nil {
		return nil, err
	}
	if err := s.ConnectContext(ctx, a); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
