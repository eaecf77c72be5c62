package multicast

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Skipped is an interface that Join or Interfaces passed over, and why.
type Skipped struct {
	IfName string
	Reason string // one of the Reason constants
}

func (s Skipped) String() string { return s.IfName + ": " + s.Reason }

// Reasons an interface is skipped.
const (
	ReasonDown        = "down"
	ReasonNoMulticast = "no MULTICAST flag (ip link set DEV multicast on)"
	ReasonNoIPv4      = "no IPv4 address"
	ReasonNoIPv6      = "no IPv6 address"
	ReasonLoopback    = "loopback (name it to join there)"
	ReasonJoined      = "already joined on this socket"
)

var (
	// ErrUnknownInterface is wrapped by errors about an interface name (or
	// zone) that no interface has.
	ErrUnknownInterface = errors.New("no such network interface")

	// ErrNoUsableInterface is wrapped by the error of a Join that found no
	// interface to join on; the Skipped list says why each was passed over.
	ErrNoUsableInterface = errors.New("no usable interface")
)

// Interfaces lists the interfaces multicast can use, those that are up and
// have the MULTICAST flag, in index order, and the others with the reason
// they cannot. Loopback is listed like any other interface; Join's choice
// among these is described there.
//
// Interfaces belong to a network namespace; this lists those of the calling
// thread's namespace.
func Interfaces() ([]net.Interface, []Skipped, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, nil, fmt.Errorf("multicast: listing interfaces: %w", err)
	}
	var ok []net.Interface
	var skipped []Skipped
	for _, ifi := range all {
		if r := flagReason(ifi); r != "" {
			skipped = append(skipped, Skipped{ifi.Name, r})
			continue
		}
		ok = append(ok, ifi)
	}
	return ok, skipped, nil
}

func flagReason(ifi net.Interface) string {
	switch {
	case ifi.Flags&net.FlagMulticast == 0:
		return ReasonNoMulticast
	case ifi.Flags&net.FlagUp == 0:
		return ReasonDown
	}
	return ""
}

// target is one interface a group operation applies to, with the group as
// applied there (zoned to it when its scope asks).
type target struct {
	ifi   net.Interface
	group Group
}

// lookup finds an interface by name, or by index when name is a number (as
// in a numeric zone, ff02::1%2).
func lookup(all []net.Interface, name string) (net.Interface, bool) {
	for _, ifi := range all {
		if ifi.Name == name {
			return ifi, true
		}
	}
	if idx, err := strconv.Atoi(name); err == nil {
		for _, ifi := range all {
			if ifi.Index == idx {
				return ifi, true
			}
		}
	}
	return net.Interface{}, false
}

// named resolves the interfaces an operation was asked for: the group's zone
// if it has one (names, if given, must agree with it), else the names given,
// once each. ok is false when neither a zone nor names say which.
func named(op string, g Group, all []net.Interface, names []string) (ifis []net.Interface, ok bool, errs []error) {
	if zone := g.Addr.Zone(); zone != "" {
		z, found := lookup(all, zone)
		if !found {
			return nil, true, []error{&Error{Op: op, Group: g, IfName: zone, Err: fmt.Errorf("zone %q: %w", zone, ErrUnknownInterface)}}
		}
		for _, name := range names {
			if ifi, found := lookup(all, name); !found || ifi.Index != z.Index {
				errs = append(errs, &Error{Op: op, Group: g, IfName: name,
					Err: fmt.Errorf("the group is scoped to %s by its zone; it cannot be used on another interface", z.Name)})
			}
		}
		if errs != nil {
			return nil, true, errs
		}
		return []net.Interface{z}, true, nil
	}
	if len(names) == 0 {
		return nil, false, nil
	}
	seen := make(map[int]bool, len(names))
	for _, name := range names {
		ifi, found := lookup(all, name)
		if !found {
			errs = append(errs, &Error{Op: op, Group: g, IfName: name, Err: ErrUnknownInterface})
			continue
		}
		if !seen[ifi.Index] {
			seen[ifi.Index] = true
			ifis = append(ifis, ifi)
		}
	}
	return ifis, true, errs
}

// joinTargets picks the interfaces Join uses; see Join for the rules.
func joinTargets(g Group, names []string) ([]target, []Skipped, []error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, nil, []error{&Error{Op: "join", Group: g, Err: fmt.Errorf("listing interfaces: %w", err)}}
	}
	ifis, explicit, errs := named("join", g, all, names)
	var targets []target
	var skipped []Skipped
	if explicit {
		for _, ifi := range ifis {
			// Only the flag: the kernel keeps a membership on a down or
			// not yet addressed interface, and it works once the
			// interface does, which is what a daemon started early needs.
			if ifi.Flags&net.FlagMulticast == 0 {
				skipped = append(skipped, Skipped{ifi.Name, ReasonNoMulticast})
				continue
			}
			targets = append(targets, target{ifi, g.zoned(ifi.Name)})
		}
		return targets, skipped, errs
	}
	var loopbacks []target
	var loopSkips []Skipped
	for _, ifi := range all {
		if r := flagReason(ifi); r != "" {
			skipped = append(skipped, Skipped{ifi.Name, r})
			continue
		}
		has, err := hasAddr(ifi, g.Is6())
		if err != nil {
			errs = append(errs, &Error{Op: "join", Group: g, IfName: ifi.Name, Err: fmt.Errorf("listing addresses: %w", err)})
			continue
		}
		if !has {
			r := ReasonNoIPv4
			if g.Is6() {
				r = ReasonNoIPv6
			}
			skipped = append(skipped, Skipped{ifi.Name, r})
			continue
		}
		t := target{ifi, g.zoned(ifi.Name)}
		if ifi.Flags&net.FlagLoopback != 0 {
			loopbacks = append(loopbacks, t)
			loopSkips = append(loopSkips, Skipped{ifi.Name, ReasonLoopback})
			continue
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 && len(errs) == 0 {
		return loopbacks, skipped, nil
	}
	return targets, append(skipped, loopSkips...), errs
}

// hasAddr reports whether ifi has an address of the family.
func hasAddr(ifi net.Interface, v6 bool) (bool, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && (ipn.IP.To4() == nil) == v6 {
			return true, nil
		}
	}
	return false, nil
}
