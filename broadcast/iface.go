package broadcast

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Interface is one network interface with every address on it, as the kernel
// reports them over rtnetlink.
type Interface struct {
	Index        int
	Name         string
	Flags        net.Flags
	MTU          int
	HardwareAddr net.HardwareAddr
	Addrs        []IfAddr // every address, IPv4 and IPv6, primary ones first
}

// IfAddr is one address of an interface.
type IfAddr struct {
	// Prefix is the address with its real prefix length, as configured:
	// 10.0.0.7/22 is not 10.0.0.7/24, and the subnet's broadcast address
	// differs accordingly.
	Prefix netip.Prefix
	// Broadcast is the IPv4 directed broadcast address of the subnet: the
	// kernel's IFA_BROADCAST when it has one, otherwise the subnet's all-ones
	// host address. It is the zero Addr for IPv6 (which has no broadcast)
	// and for /31 and /32, which have no room for one (RFC 3021).
	Broadcast netip.Addr
	// LinkLocal marks 169.254.0.0/16 (APIPA, RFC 3927) and fe80::/10.
	LinkLocal bool
}

func (a IfAddr) String() string {
	if a.Broadcast.IsValid() {
		return a.Prefix.String() + " brd " + a.Broadcast.String()
	}
	return a.Prefix.String()
}

// IPv4 returns the interface's IPv4 addresses.
func (i Interface) IPv4() []IfAddr {
	var out []IfAddr
	for _, a := range i.Addrs {
		if a.Prefix.Addr().Is4() {
			out = append(out, a)
		}
	}
	return out
}

// CanBroadcast reports whether IPv4 broadcasts can be sent out of i and,
// when they cannot, why, in words fit for a person: "down", "loopback",
// "no BROADCAST flag", "no IPv4 address" or "only link-local IPv4
// addresses". BroadcastInterfaces returns exactly the interfaces for which it
// is true.
func (i Interface) CanBroadcast() (bool, string) {
	switch {
	case i.Flags&net.FlagUp == 0:
		return false, "down"
	case i.Flags&net.FlagLoopback != 0:
		return false, "loopback"
	case i.Flags&net.FlagBroadcast == 0:
		return false, "no BROADCAST flag"
	}
	v4 := i.IPv4()
	if len(v4) == 0 {
		return false, "no IPv4 address"
	}
	for _, a := range v4 {
		if !a.LinkLocal {
			return true, ""
		}
	}
	return false, "only link-local IPv4 addresses"
}

// source4 is the address broadcasts out of i are sent from: want when it is
// one of i's addresses, else i's first IPv4 address that is not link-local,
// else its first IPv4 address, else the zero Addr (the kernel's choice).
func (i Interface) source4(want netip.Addr) netip.Addr {
	var first, linkLocal netip.Addr
	for _, a := range i.Addrs {
		ip := a.Prefix.Addr()
		switch {
		case !ip.Is4():
		case want.IsValid() && ip == want:
			return ip
		case !a.LinkLocal && !first.IsValid():
			first = ip
		case a.LinkLocal && !linkLocal.IsValid():
			linkLocal = ip
		}
	}
	if first.IsValid() {
		return first
	}
	return linkLocal
}

// has reports whether ip is one of i's addresses.
func (i Interface) has(ip netip.Addr) bool {
	for _, a := range i.Addrs {
		if a.Prefix.Addr() == ip {
			return true
		}
	}
	return false
}

func (i Interface) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: %s <%v> mtu %d", i.Index, i.Name, i.Flags, i.MTU)
	for _, a := range i.Addrs {
		b.WriteString(" ")
		b.WriteString(a.String())
	}
	return b.String()
}

// Interfaces returns every interface that is up (IFF_UP), in index order,
// in the network namespace of the calling thread.
func Interfaces() ([]Interface, error) {
	all, err := allInterfaces()
	if err != nil {
		return nil, err
	}
	return upOnly(all), nil
}

// BroadcastInterfaces returns the interfaces IPv4 broadcasts can leave by:
// up, with the BROADCAST flag, not loopback, and with at least one IPv4
// address that is not link-local. See Interface.CanBroadcast.
func BroadcastInterfaces() ([]Interface, error) {
	all, err := allInterfaces()
	if err != nil {
		return nil, err
	}
	return broadcastOnly(all), nil
}

// InterfaceByName returns the interface called name, up or down. The error
// names it and lists the interfaces that do exist.
func InterfaceByName(name string) (Interface, error) {
	all, err := allInterfaces()
	if err != nil {
		return Interface{}, err
	}
	return findByName(all, name)
}

// InterfaceByIndex returns the interface with index i, up or down.
func InterfaceByIndex(i int) (Interface, error) {
	all, err := allInterfaces()
	if err != nil {
		return Interface{}, err
	}
	return findByIndex(all, i)
}

func allInterfaces() ([]Interface, error) {
	nl, err := openRTNL()
	if err != nil {
		return nil, err
	}
	defer nl.Close()
	return nl.interfaces()
}

func upOnly(all []Interface) []Interface {
	var out []Interface
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp != 0 {
			out = append(out, ifi)
		}
	}
	return out
}

func broadcastOnly(all []Interface) []Interface {
	var out []Interface
	for _, ifi := range all {
		if ok, _ := ifi.CanBroadcast(); ok {
			out = append(out, ifi)
		}
	}
	return out
}

func findByName(all []Interface, name string) (Interface, error) {
	for _, ifi := range all {
		if ifi.Name == name {
			return ifi, nil
		}
	}
	return Interface{}, fmt.Errorf("broadcast: no interface named %q (there are: %s)", name, names(all))
}

func findByIndex(all []Interface, index int) (Interface, error) {
	for _, ifi := range all {
		if ifi.Index == index {
			return ifi, nil
		}
	}
	return Interface{}, fmt.Errorf("broadcast: no interface with index %d (there are: %s)", index, names(all))
}

func names(all []Interface) string {
	if len(all) == 0 {
		return "none"
	}
	s := make([]string, len(all))
	for i, ifi := range all {
		s[i] = fmt.Sprintf("%d %s", ifi.Index, ifi.Name)
	}
	return strings.Join(s, ", ")
}

// whyNot lists every interface with the reason it cannot broadcast, for the
// error of a fan-out that found none.
func whyNot(all []Interface) string {
	if len(all) == 0 {
		return "no interfaces at all"
	}
	s := make([]string, 0, len(all))
	for _, ifi := range all {
		if ok, why := ifi.CanBroadcast(); !ok {
			s = append(s, ifi.Name+": "+why)
		}
	}
	return strings.Join(s, "; ")
}

func sortByIndex(ifs []Interface) {
	slices.SortFunc(ifs, func(a, b Interface) int { return a.Index - b.Index })
}
