package netns

import (
	"net/netip"
	"testing"
)

// A Topology is a Lab built to a fixed plan, with its parts by name.
type Topology struct {
	Lab  *Lab
	A, B *LAN

	hosts map[string]*Host
	order []string
}

// standardPlan is the address plan of StandardTopology. The addresses exist
// only inside the Lab's namespaces.
var standardPlan = []struct {
	host, ifname, lan string
	v4, v6            string
}{
	{"a1", "eth0", "A", "10.71.1.1", "fd00:71:1::1"},
	{"a2", "eth0", "A", "10.71.1.2", "fd00:71:1::2"},
	{"a3", "eth0", "A", "10.71.1.3", "fd00:71:1::3"},
	{"a4", "eth0", "A", "10.71.1.4", "fd00:71:1::4"},
	{"b1", "eth0", "B", "10.71.2.1", "fd00:71:2::1"},
	{"b2", "eth0", "B", "10.71.2.2", "fd00:71:2::2"},
	{"r", "eth0", "A", "10.71.1.254", "fd00:71:1::254"},
	{"r", "eth1", "B", "10.71.2.254", "fd00:71:2::254"},
}

// StandardTopology builds, in a new Lab, the two LANs the integration tests
// share:
//
//	LAN A  10.71.1.0/24  fd00:71:1::/64   a1 a2 a3 a4 (.1-.4, ::1-::4), r eth0 (.254, ::254)
//	LAN B  10.71.2.0/24  fd00:71:2::/64   b1 b2 (.1-.2, ::1-::2),       r eth1 (.254, ::254)
//
// Every host NIC is eth0; r has eth0 on A and eth1 on B and does not
// forward. No namespace has a default route, only the connected /24 and
// /64, so a host on A cannot reach B, and a datagram to 255.255.255.255
// must name its interface.
func StandardTopology(t testing.TB) *Topology {
	t.Helper()
	l := New(t)
	tp := &Topology{
		Lab:   l,
		A:     l.LAN("A", netip.MustParsePrefix("10.71.1.0/24"), netip.MustParsePrefix("fd00:71:1::/64")),
		B:     l.LAN("B", netip.MustParsePrefix("10.71.2.0/24"), netip.MustParsePrefix("fd00:71:2::/64")),
		hosts: map[string]*Host{},
	}
	for _, p := range standardPlan {
		h := tp.hosts[p.host]
		if h == nil {
			h = l.Host(p.host)
			tp.hosts[p.host] = h
			tp.order = append(tp.order, p.host)
		}
		lan := tp.A
		if p.lan == "B" {
			lan = tp.B
		}
		h.Attach(lan, p.ifname, netip.MustParseAddr(p.v4), netip.MustParseAddr(p.v6))
	}
	return tp
}

// Host returns the host called name (a1..a4, b1, b2, r), failing the test
// if there is none.
func (tp *Topology) Host(name string) *Host {
	tp.Lab.t.Helper()
	h := tp.hosts[name]
	if h == nil {
		tp.Lab.t.Fatalf("netns: the topology has no host %q; it has %v", name, tp.order)
	}
	return h
}

// NIC returns host's interface ifname, failing the test if there is none.
func (tp *Topology) NIC(host, ifname string) *NIC {
	tp.Lab.t.Helper()
	n := tp.Host(host).NIC(ifname)
	if n == nil {
		tp.Lab.t.Fatalf("netns: host %s has no interface %q", host, ifname)
	}
	return n
}

// HostNames returns the host names in the order they were created.
func (tp *Topology) HostNames() []string {
	return append([]string(nil), tp.order...)
}
