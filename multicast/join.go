package multicast

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Membership is one group joined on one interface.
type Membership struct {
	Group   Group // zoned to the interface when its scope asks for a zone
	IfIndex int
	IfName  string
}

func (m Membership) String() string { return m.Group.String() + " on " + m.IfName }

// Join joins g on s, on each interface named in ifaces or, with none, on
// every interface fit for it:
//
//   - up, with the MULTICAST flag, and with an address of g's family;
//   - not loopback, unless no other interface qualifies (a machine whose
//     only multicast interface is lo, as in a test namespace, still works).
//     Loopback is joined whenever it is named.
//
// An interface named explicitly is joined even when it is down or has no
// address yet (the kernel keeps the membership, and it takes effect when
// the interface comes up); only a missing MULTICAST flag skips it.
//
// A group with a zone (ff02::fb%eth0) is joined on that interface; ifaces,
// if given, must name the same one. A link-local scope group without a zone
// (a Group built in code; ParseGroup insists on the zone) is joined on each
// interface picked, and each Membership carries its zone.
//
// Join first turns multicast-all off on s for g's family (see
// SetMulticastAll and the package guide): from then on s receives only the
// groups it joined itself. Call SetMulticastAll(s, true) afterwards to undo.
//
// It returns the memberships made, the interfaces passed over with the
// reason (an interface where s is a member already is passed over with
// ReasonJoined), and the failures, one *Error per interface, joined with
// errors.Join. A failure on one interface does not stop the others. If
// nothing was joined and nothing failed, the error wraps
// ErrNoUsableInterface.
//
// Interface names are those of the calling thread's network namespace.
func Join(s *dgram.Socket, g Group, ifaces ...string) ([]Membership, []Skipped, error) {
	if err := g.check(); err != nil {
		return nil, nil, &Error{Op: "join", Group: g, Err: err}
	}
	if err := checkFamily(s, g); err != nil {
		return nil, nil, &Error{Op: "join", Group: g, Err: err}
	}
	targets, skipped, errs := joinTargets(g, ifaces)
	if len(targets) == 0 {
		if len(errs) == 0 {
			errs = append(errs, &Error{Op: "join", Group: g, Err: noUsable(skipped)})
		}
		return nil, skipped, errors.Join(errs...)
	}
	if err := setMulticastAll(s, g.Is6(), false); err != nil {
		return nil, skipped, errors.Join(append(errs, &Error{Op: "join", Group: g, Err: err})...)
	}
	c, err := openGroupConn(s)
	if err != nil {
		return nil, skipped, errors.Join(append(errs, &Error{Op: "join", Group: g, Err: err})...)
	}

	var ms []Membership
	for _, t := range targets {
		err := c.join(t)
		switch {
		case alreadyJoined(t.group, err):
			skipped = append(skipped, Skipped{t.ifi.Name, ReasonJoined})
		case err != nil:
			errs = append(errs, &Error{Op: "join", Group: t.group, IfName: t.ifi.Name, Err: err})
		default:
			ms = append(ms, Membership{Group: t.group, IfIndex: t.ifi.Index, IfName: t.ifi.Name})
		}
	}
	if err := c.Close(); err != nil {
		errs = append(errs, &Error{Op: "join", Group: g, Err: err})
	}
	return ms, skipped, errors.Join(errs...)
}

func noUsable(skipped []Skipped) error {
	if len(skipped) == 0 {
		return fmt.Errorf("%w: the namespace has no interfaces", ErrNoUsableInterface)
	}
	return fmt.Errorf("%w (skipped %v)", ErrNoUsableInterface, skipped)
}

// Leave leaves g on s, on each interface named in ifaces, or on the zone's
// interface for a zoned group. A named interface where s is not a member is
// an error.
//
// With no interfaces named, it leaves g wherever s joined it: every
// interface is tried, those where s is not a member are passed over, and
// it is an error only if s was a member nowhere. For a source-specific
// group only that source is left; the membership ends with its last source.
func Leave(s *dgram.Socket, g Group, ifaces ...string) error {
	if err := g.check(); err != nil {
		return &Error{Op: "leave", Group: g, Err: err}
	}
	if err := checkFamily(s, g); err != nil {
		return &Error{Op: "leave", Group: g, Err: err}
	}
	all, err := net.Interfaces()
	if err != nil {
		return &Error{Op: "leave", Group: g, Err: fmt.Errorf("listing interfaces: %w", err)}
	}
	ifis, explicit, errs := named("leave", g, all, ifaces)
	if !explicit {
		ifis = all
	}
	if len(ifis) == 0 && len(errs) > 0 {
		return errors.Join(errs...)
	}
	c, err := openGroupConn(s)
	if err != nil {
		return errors.Join(append(errs, &Error{Op: "leave", Group: g, Err: err})...)
	}
	left := 0
	for _, ifi := range ifis {
		t := target{ifi, g.zoned(ifi.Name)}
		err := c.leave(t)
		switch {
		case err == nil:
			left++
		case !explicit && notMember(t.group, err):
		default:
			errs = append(errs, &Error{Op: "leave", Group: t.group, IfName: ifi.Name, Err: err})
		}
	}
	if err := c.Close(); err != nil {
		errs = append(errs, &Error{Op: "leave", Group: g, Err: err})
	}
	if left == 0 && !explicit && len(errs) == 0 {
		errs = append(errs, &Error{Op: "leave", Group: g, Err: fmt.Errorf("the socket is not a member on any interface: %w", unix.EADDRNOTAVAIL)})
	}
	return errors.Join(errs...)
}

// alreadyJoined reports whether a join failed because the socket holds
// that membership already: EADDRINUSE for a group, EADDRNOTAVAIL for a
// source already in the group's source filter.
func alreadyJoined(g Group, err error) bool {
	return errors.Is(err, unix.EADDRINUSE) || g.IsSSM() && errors.Is(err, unix.EADDRNOTAVAIL)
}

// notMember reports whether a leave failed because the socket held no such
// membership on that interface: EADDRNOTAVAIL for a group (or a source) it
// never joined there, and, for a source-specific group, EINVAL when it holds
// no membership of the group there at all.
func notMember(g Group, err error) bool {
	return errors.Is(err, unix.EADDRNOTAVAIL) || g.IsSSM() && errors.Is(err, unix.EINVAL)
}

// checkFamily reports a group the socket cannot join. An IPv6 socket that is
// not IPv6-only receives IPv4 too (as IPv4-mapped), and joins IPv4 groups
// at the IPv4 level.
func checkFamily(s *dgram.Socket, g Group) error {
	switch s.Family() {
	case unix.AF_INET:
		if g.Is6() {
			return fmt.Errorf("an IPv6 group on an IPv4 socket: %w", dgram.ErrWrongFamily)
		}
	case unix.AF_INET6:
		if g.Is6() {
			return nil
		}
		only, err := s.OptionBool(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		if err != nil {
			return err
		}
		if only {
			return fmt.Errorf("an IPv4 group on an IPv6-only socket (IPV6_V6ONLY): %w", dgram.ErrWrongFamily)
		}
	default:
		return fmt.Errorf("%s is not an IP socket: %w", s, dgram.ErrWrongFamily)
	}
	return nil
}

// groupConn does the membership calls through golang.org/x/net.
//
// Why x/net on a duplicate and not raw setsockopt through dgram: x/net's
// marshalling of struct group_req and group_source_req (MCAST_JOIN_GROUP,
// MCAST_JOIN_SOURCE_GROUP and their LEAVE twins, for both families, with
// the sockaddr padding the kernel expects) is reviewed and used widely;
// redoing it with unsafe here would only add a place for layout bugs. It
// needs a *net.UDPConn, which dgram gives as a duplicate of the descriptor.
// A membership belongs to the socket, not to a descriptor, so it outlives
// the duplicate (TestIntegrationMembershipOutlivesDuplicate checks). The
// price, two dups and a poller registration per call, is paid once per Join
// or Leave, never per datagram. Plain int options (TTL, loop, multicast-all)
// go straight through dgram, which needs no duplicate.
type groupConn struct {
	pc net.PacketConn
	v4 *ipv4.PacketConn
	v6 *ipv6.PacketConn
}

func openGroupConn(s *dgram.Socket) (*groupConn, error) {
	pc, err := s.PacketConn()
	if err != nil {
		return nil, err
	}
	return &groupConn{pc: pc, v4: ipv4.NewPacketConn(pc), v6: ipv6.NewPacketConn(pc)}, nil
}

func (c *groupConn) Close() error {
	if err := c.pc.Close(); err != nil {
		return fmt.Errorf("closing the duplicate descriptor: %w", err)
	}
	return nil
}

func (c *groupConn) join(t target) error {
	grp := &net.UDPAddr{IP: t.group.Addr.AsSlice()}
	v6 := t.group.Is6()
	if t.group.IsSSM() {
		src := &net.UDPAddr{IP: t.group.Source.AsSlice()}
		if v6 {
			return sockErr("MCAST_JOIN_SOURCE_GROUP", c.v6.JoinSourceSpecificGroup(&t.ifi, grp, src))
		}
		return sockErr("MCAST_JOIN_SOURCE_GROUP", c.v4.JoinSourceSpecificGroup(&t.ifi, grp, src))
	}
	if v6 {
		return sockErr("MCAST_JOIN_GROUP", c.v6.JoinGroup(&t.ifi, grp))
	}
	return sockErr("MCAST_JOIN_GROUP", c.v4.JoinGroup(&t.ifi, grp))
}

func (c *groupConn) leave(t target) error {
	grp := &net.UDPAddr{IP: t.group.Addr.AsSlice()}
	v6 := t.group.Is6()
	if t.group.IsSSM() {
		src := &net.UDPAddr{IP: t.group.Source.AsSlice()}
		if v6 {
			return sockErr("MCAST_LEAVE_SOURCE_GROUP", c.v6.LeaveSourceSpecificGroup(&t.ifi, grp, src))
		}
		return sockErr("MCAST_LEAVE_SOURCE_GROUP", c.v4.LeaveSourceSpecificGroup(&t.ifi, grp, src))
	}
	if v6 {
		return sockErr("MCAST_LEAVE_GROUP", c.v6.LeaveGroup(&t.ifi, grp))
	}
	return sockErr("MCAST_LEAVE_GROUP", c.v4.LeaveGroup(&t.ifi, grp))
}

// sockErr gives an x/net failure the shape of every other socket error in
// bcast, a *dgram.Error naming the option and keeping the errno.
func sockErr(opt string, err error) error {
	if err == nil {
		return nil
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se
	}
	return &dgram.Error{Op: "setsockopt " + opt, Err: err}
}
