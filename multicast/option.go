package multicast

import (
	"errors"
	"fmt"
	"net"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// The sending options apply to the socket's family. An IPv6 socket that is
// not IPv6-only also sends to IPv4 groups (as IPv4-mapped destinations),
// and those sends read the IPv4 options, so on such a socket both levels
// are set.

// levels returns which option levels apply to s: IPv4, IPv6, or both.
func levels(s *dgram.Socket) (v4, v6 bool, err error) {
	switch s.Family() {
	case unix.AF_INET:
		return true, false, nil
	case unix.AF_INET6:
		only, err := s.OptionBool(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		if err != nil {
			return false, false, err
		}
		return !only, true, nil
	}
	return false, false, fmt.Errorf("%s is not an IP socket: %w", s, dgram.ErrWrongFamily)
}

// setBoth sets an int option at the levels that apply to s.
func setBoth(s *dgram.Socket, name4, name6, v int) error {
	v4, v6, err := levels(s)
	if err != nil {
		return err
	}
	if v6 {
		if err := s.SetOptionInt(unix.IPPROTO_IPV6, name6, v); err != nil {
			return err
		}
	}
	if v4 {
		return s.SetOptionInt(unix.IPPROTO_IP, name4, v)
	}
	return nil
}

// SetMulticastAll sets IP_MULTICAST_ALL (IPV6_MULTICAST_ALL on an IPv6
// socket, and both on a dual-stack one).
//
// On, the Linux default, a socket bound to the wildcard address receives
// datagrams for every group that any socket on the host joined on the
// arrival interface, whether it joined or not. Off, it receives only the
// groups (and sources) it joined itself on that interface. Join turns it
// off; this turns it back on for a program that wants the old behaviour.
// IPV6_MULTICAST_ALL needs Linux 4.20.
func SetMulticastAll(s *dgram.Socket, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := setBoth(s, unix.IP_MULTICAST_ALL, unix.IPV6_MULTICAST_ALL, v); err != nil {
		return &Error{Op: "set multicast-all", Err: err}
	}
	return nil
}

// MulticastAll reads the multicast-all setting that governs s's groups of
// the given family (v6 false: IP_MULTICAST_ALL, true: IPV6_MULTICAST_ALL).
func MulticastAll(s *dgram.Socket, v6 bool) (bool, error) {
	level, name := unix.IPPROTO_IP, unix.IP_MULTICAST_ALL
	if v6 {
		level, name = unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL
	}
	on, err := s.OptionBool(level, name)
	if err != nil {
		return false, &Error{Op: "get multicast-all", Err: err}
	}
	return on, nil
}

// setMulticastAll sets the one level that governs groups of one family:
// IPv4 groups on a dual-stack socket are filtered by IP_MULTICAST_ALL.
func setMulticastAll(s *dgram.Socket, v6, on bool) error {
	if v6 {
		return s.SetOptionBool(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, on)
	}
	return s.SetOptionBool(unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, on)
}

// SetTTL sets the TTL (IPv4) or hop limit (IPv6) of the multicast datagrams
// s sends, 0-255: IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS, or both on a
// dual-stack socket. The kernel default is 1: the datagrams stay on the
// local network. 0 does not keep them on this host: Linux sends them on
// the link with TTL 0, neighbours accept them, and only routers drop them.
func SetTTL(s *dgram.Socket, ttl int) error {
	if ttl < 0 || ttl > 255 {
		return &Error{Op: "set TTL", Err: fmt.Errorf("TTL %d out of range 0-255", ttl)}
	}
	if err := setBoth(s, unix.IP_MULTICAST_TTL, unix.IPV6_MULTICAST_HOPS, ttl); err != nil {
		return &Error{Op: "set TTL", Err: err}
	}
	return nil
}

// SetLoopback sets whether s's own multicast datagrams are also delivered
// to the sockets of this host that joined the group (IP_MULTICAST_LOOP,
// IPV6_MULTICAST_LOOP, or both on a dual-stack socket). The kernel default
// is on.
func SetLoopback(s *dgram.Socket, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := setBoth(s, unix.IP_MULTICAST_LOOP, unix.IPV6_MULTICAST_LOOP, v); err != nil {
		return &Error{Op: "set loopback", Err: err}
	}
	return nil
}

// SetInterface sets the interface s sends multicast datagrams from
// (IP_MULTICAST_IF, IPV6_MULTICAST_IF, or both on a dual-stack socket);
// "" returns to the kernel's choice. Without it, a socket bound to one of
// the host's IPv4 addresses sends from that address's interface, and one
// bound to the wildcard follows the route to the group (224.0.0.0/4 or the
// default route), failing with ENETUNREACH when there is none; IPv6 follows
// the ff00::/8 route of the main table (the first interface that came up).
func SetInterface(s *dgram.Socket, ifname string) error {
	var ifi *net.Interface
	if ifname != "" {
		all, err := net.Interfaces()
		if err != nil {
			return &Error{Op: "set interface", IfName: ifname, Err: fmt.Errorf("listing interfaces: %w", err)}
		}
		found, ok := lookup(all, ifname)
		if !ok {
			return &Error{Op: "set interface", IfName: ifname, Err: ErrUnknownInterface}
		}
		ifi = &found
	}
	v4, v6, err := levels(s)
	if err != nil {
		return &Error{Op: "set interface", IfName: ifname, Err: err}
	}
	if err := setInterface(s, ifi, v4, v6); err != nil {
		return &Error{Op: "set interface", IfName: ifname, Err: err}
	}
	return nil
}

func setInterface(s *dgram.Socket, ifi *net.Interface, v4, v6 bool) error {
	c, err := openGroupConn(s)
	if err != nil {
		return err
	}
	if v6 {
		err = sockErr("IPV6_MULTICAST_IF", c.v6.SetMulticastInterface(ifi))
	}
	if v4 && err == nil {
		err = sockErr("IP_MULTICAST_IF", c.v4.SetMulticastInterface(ifi))
	}
	return errors.Join(err, c.Close())
}
