package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
)

// DefaultPort is the UDP port discovery messages travel to, in the IANA
// dynamic range (never assigned) and above Linux's default ephemeral range.
const DefaultPort = 62278

// The default multicast groups, as text for the sake of constness.
const (
	// DefaultGroup4 is in the IPv4 organization-local scope (RFC 2365).
	DefaultGroup4 = "239.255.62.78"
	// DefaultGroup6 is link-local scope, with a group ID from the dynamic
	// range of RFC 3307. It is joined and sent to on each interface.
	DefaultGroup6 = "ff02::8000:6278"
)

// Transport says how discovery messages reach the other hosts of a link.
type Transport uint8

const (
	// Auto is Broadcast on udp4 and Multicast on udp6.
	Auto Transport = iota
	// Broadcast sends to 255.255.255.255 out of each interface that can
	// broadcast. IPv4 only.
	Broadcast
	// Multicast sends to Link.Group out of each multicast interface, and
	// joins the group on each of them.
	Multicast
)

func (t Transport) String() string {
	switch t {
	case Auto:
		return "auto"
	case Broadcast:
		return "broadcast"
	case Multicast:
		return "multicast"
	}
	return "transport(" + strconv.Itoa(int(t)) + ")"
}

// Link says where discovery messages travel. An Announcer and the Browsers
// that are to find it need the same Network, Transport, Port and Group.
type Link struct {
	// Network is "udp4" (the default) or "udp6". A udp6 socket is
	// dual-stack, so a udp6 Browser also hears udp4 Announcers on its port
	// (and a udp6 Announcer answers their queries); a udp4 one hears only
	// IPv4.
	Network string

	// Transport is Auto (the default), Broadcast or Multicast.
	Transport Transport

	// Port is the discovery port; 0 means DefaultPort.
	Port uint16

	// Group is the multicast group; the zero Addr means DefaultGroup4 or
	// DefaultGroup6. An IPv6 group of link-local scope without a zone is
	// used on every interface; with a zone, on that interface alone.
	Group netip.Addr

	// Interfaces, when set, limits discovery to the interfaces named:
	// nothing is sent out of, and nothing is accepted from, any other.
	// Loopback takes part in Multicast only when it is named here.
	Interfaces []string

	// Destinations, when set, replaces broadcast and multicast: messages go
	// to exactly these addresses (unicast peers, a directed broadcast
	// address, or 127.255.255.255 for every program on this host). Queries
	// from these addresses are answered even when they are not on-link.
	Destinations []netip.AddrPort
}

// link is a Link with its defaults filled in.
type link struct {
	Link
	v6        bool
	transport Transport
	port      uint16
	group     netip.Addr
}

var errBroadcast6 = errors.New("discovery: IPv6 has no broadcast; use Multicast (or Auto) with udp6")

func (l Link) resolve() (link, error) {
	r := link{Link: l, port: l.Port, transport: l.Transport}
	r.Interfaces = slices.Clone(l.Interfaces)
	r.Destinations = slices.Clone(l.Destinations)
	switch l.Network {
	case "", "udp4":
		r.Network = "udp4"
	case "udp6":
		r.Network, r.v6 = "udp6", true
	default:
		return r, fmt.Errorf("discovery: network %q: want udp4 or udp6", l.Network)
	}
	if r.port == 0 {
		r.port = DefaultPort
	}
	switch l.Transport {
	case Auto:
		r.transport = Broadcast
		if r.v6 {
			r.transport = Multicast
		}
	case Broadcast:
		if r.v6 {
			return r, errBroadcast6
		}
	case Multicast:
	default:
		return r, fmt.Errorf("discovery: unknown transport %d", l.Transport)
	}
	r.group = l.Group
	if !r.group.IsValid() {
		r.group = netip.MustParseAddr(DefaultGroup4)
		if r.v6 {
			r.group = netip.MustParseAddr(DefaultGroup6)
		}
	}
	if !r.group.IsMulticast() {
		return r, fmt.Errorf("discovery: group %v is not a multicast address", r.group)
	}
	if r.group.Is4() == r.v6 {
		return r, fmt.Errorf("discovery: group %v does not belong to %s", r.group, r.Network)
	}
	for _, d := range r.Destinations {
		a := d.Addr().Unmap()
		if !d.IsValid() || d.Port() == 0 {
			return r, fmt.Errorf("discovery: destination %v needs an address and a port", d)
		}
		if a.Is4() == r.v6 {
			return r, fmt.Errorf("discovery: destination %v does not belong to %s", d, r.Network)
		}
	}
	return r, nil
}

// wants reports whether the interface named takes part.
func (l *link) wants(ifname string) bool {
	return len(l.Interfaces) == 0 || slices.Contains(l.Interfaces, ifname)
}

// named reports whether the interface was named in Interfaces.
func (l *link) named(ifname string) bool { return slices.Contains(l.Interfaces, ifname) }

// self lists the instances announced by this process, so that a Browser
// can mark them: service, then instance, then how many Announcers.
var self struct {
	sync.Mutex
	m map[string]map[string]int
}

func addSelf(k key) {
	self.Lock()
	defer self.Unlock()
	if self.m == nil {
		self.m = make(map[string]map[string]int)
	}
	if self.m[k.service] == nil {
		self.m[k.service] = make(map[string]int)
	}
	self.m[k.service][k.instance]++
}

func dropSelf(k key) {
	self.Lock()
	defer self.Unlock()
	m := self.m[k.service]
	if m[k.instance]--; m[k.instance] <= 0 {
		delete(m, k.instance)
	}
	if len(m) == 0 {
		delete(self.m, k.service)
	}
}

// isSelf takes the names as bytes; the lookups do not allocate.
func isSelf(service, instance []byte) bool {
	self.Lock()
	defer self.Unlock()
	return self.m[string(service)][string(instance)] > 0
}
