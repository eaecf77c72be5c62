package multicast

import (
	"errors"
	"strings"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// Error is the failure of one operation on one group and interface:
//
//	multicast: join 239.1.2.3 on eth0: setsockopt MCAST_JOIN_GROUP: no buffer space available (ENOBUFS); ...
//
// errors.Is(err, unix.ENOBUFS) and errors.As(err, **dgram.Error) see
// through it. Join and Leave return one Error per failed interface, joined
// with errors.Join.
type Error struct {
	Op     string // "join", "leave", "set interface", ...
	Group  Group  // zero when the operation is not about a group
	IfName string // "" when it is not about one interface
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("multicast: ")
	b.WriteString(e.Op)
	if g := e.Group.String(); g != "" {
		b.WriteByte(' ')
		b.WriteString(g)
	}
	if e.IfName != "" {
		b.WriteString(" on ")
		b.WriteString(e.IfName)
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "dgram: "))
	if h := e.hint(); h != "" {
		b.WriteString("; ")
		b.WriteString(h)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// hint explains the errnos whose cause is not obvious from their text.
func (e *Error) hint() string {
	var de *dgram.Error
	if !errors.As(e.Err, &de) {
		return ""
	}
	switch de.Errno() {
	case unix.ENOBUFS:
		if e.Op == "join" && !e.Group.Is6() {
			if e.Group.IsSSM() {
				return "a socket holds at most net.ipv4.igmp_max_memberships groups (default 20) and net.ipv4.igmp_max_msf sources (default 10)"
			}
			return "a socket holds at most net.ipv4.igmp_max_memberships groups (default 20); use more sockets or raise it"
		}
		if e.Op == "join" && e.Group.IsSSM() {
			return "a socket holds at most net.ipv6.mld_max_msf sources per group (default 64)"
		}
	case unix.EINVAL:
		if e.Op == "leave" && e.Group.IsSSM() {
			return "the socket holds no membership of this group on this interface"
		}
	case unix.EADDRNOTAVAIL:
		if e.Op == "leave" {
			return "the socket is not a member of this group (or source) on this interface"
		}
	case unix.ENODEV:
		return "the interface is gone, or has no configuration for this address family"
	}
	return ""
}
