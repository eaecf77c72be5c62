package netns

import (
	"fmt"
	"net/netip"
)

// BridgeName is the name of the bridge inside every LAN namespace.
const BridgeName = "br0"

// A LAN is one broadcast domain: a bridge alone in its own namespace, with
// STP and multicast snooping off, so every port forwards as soon as its
// link is up and every broadcast and multicast frame reaches every port
// without waiting on IGMP or MLD. The LAN namespace has IPv6 disabled and
// no addresses: it is a switch and never sends anything itself.
type LAN struct {
	lab  *Lab
	name string
	ns   *namespace
	v4   netip.Prefix
	v6   netip.Prefix

	// Guarded by lab.mu.
	ports map[string]bool     // bridge port names in use
	addrs map[netip.Addr]*NIC // addresses in use on this LAN
}

var lanSysctls = [][2]string{
	{"net.ipv6.conf.all.disable_ipv6", "1"},
	{"net.ipv6.conf.default.disable_ipv6", "1"},
}

// LAN creates a namespace named "<prefix>-lan-<name>" holding bridge br0,
// up. v4 and v6 are the subnets that NICs attached to the LAN take their
// addresses and prefix lengths from; either may be the zero Prefix for a
// LAN without that family.
func (l *Lab) LAN(name string, v4, v6 netip.Prefix) *LAN {
	l.t.Helper()
	n, err := l.newLAN(name, v4, v6)
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

func (l *Lab) newLAN(name string, v4, v6 netip.Prefix) (*LAN, error) {
	l.t.Helper()
	if v4.IsValid() && !v4.Addr().Is4() {
		return nil, fmt.Errorf("netns: LAN %s: IPv4 prefix %v is not IPv4", name, v4)
	}
	if v6.IsValid() && (!v6.Addr().Is6() || v6.Addr().Is4In6()) {
		return nil, fmt.Errorf("netns: LAN %s: IPv6 prefix %v is not IPv6", name, v6)
	}
	nsName, err := l.reserve("LAN", name)
	if err != nil {
		return nil, err
	}
	ns, err := l.addNamespace(nsName)
	if err != nil {
		return nil, err
	}
	lan := &LAN{
		lab: l, name: name, ns: ns,
		v4: v4.Masked(), v6: v6.Masked(),
		ports: map[string]bool{BridgeName: true},
		addrs: map[netip.Addr]*NIC{},
	}
	if err := l.setSysctls(ns, lanSysctls); err != nil {
		return nil, err
	}
	err = l.ip(nsName,
		[]string{"link", "add", BridgeName, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		[]string{"link", "set", BridgeName, "up"},
	)
	if err != nil {
		return nil, err
	}
	return lan, nil
}

// Name returns the name given to Lab.LAN.
func (n *LAN) Name() string { return n.name }

// NS returns the `ip netns` name of the LAN's namespace, for commands such
// as `tc -n NS qdisc ...` on a bridge port or `ip netns exec NS tcpdump`.
func (n *LAN) NS() string { return n.ns.name }

// Prefix4 returns the LAN's IPv4 subnet (zero if it has none).
func (n *LAN) Prefix4() netip.Prefix { return n.v4 }

// Prefix6 returns the LAN's IPv6 subnet (zero if it has none).
func (n *LAN) Prefix6() netip.Prefix { return n.v6 }

// Broadcast4 returns the LAN's directed broadcast address, e.g.
// 10.71.1.255 for 10.71.1.0/24, or the zero Addr if it has no IPv4 subnet.
func (n *LAN) Broadcast4() netip.Addr { return broadcast4(n.v4) }

func broadcast4(p netip.Prefix) netip.Addr {
	if !p.IsValid() || !p.Addr().Is4() {
		return netip.Addr{}
	}
	a := p.Addr().As4()
	bits := p.Bits()
	for i := range a {
		// Set every bit past the prefix.
		hostBits := min(max(8*(i+1)-bits, 0), 8)
		a[i] |= byte(1<<hostBits - 1)
	}
	return netip.AddrFrom4(a)
}

// Do runs fn inside the LAN's namespace, where the bridge and its ports
// are: a packet capture on the bridge, for instance, sees every frame of
// the LAN. The rules of Host.Do apply.
func (n *LAN) Do(fn func() error) error { return n.ns.do(fn) }

func (n *LAN) String() string { return "LAN " + n.name + " (" + n.ns.name + ")" }
