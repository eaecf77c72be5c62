package broadcast

import (
	"net"
	"net/netip"
)

// Addrs is a live view of this host's addresses: the checks a server needs
// before it answers a datagram (is the source one of ours, a broadcast
// address, is the destination a broadcast) without a system call per
// datagram. It follows rtnetlink notifications and refreshes on demand, at
// most once a second, in the network namespace it was made in.
type Addrs struct {
	v     *view
	owned bool // Close releases v
}

// WatchAddrs opens a view of this host's addresses in the calling thread's
// network namespace. Close releases its two netlink sockets.
func WatchAddrs() (*Addrs, error) {
	v, err := newView()
	if err != nil {
		return nil, err
	}
	return &Addrs{v: v, owned: true}, nil
}

// Addrs returns the Receiver's own view of this host's addresses; it lives
// as long as the Receiver, and its Close does nothing.
func (r *Receiver) Addrs() *Addrs { return &Addrs{v: r.view} }

// IsLocal reports whether ip (zone and IPv4-mapping ignored) is an address
// of this host.
func (a *Addrs) IsLocal(ip netip.Addr) bool { return a.v.current().isLocal(ip) }

// IsBroadcast reports whether ip is 255.255.255.255 or the directed
// broadcast address of a subnet this host is on.
func (a *Addrs) IsBroadcast(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip == limitedBroadcast || a.v.current().isBroadcast(ip)
}

// Kind tells how a datagram was addressed from its header destination dst
// and, for IPv4, the kernel's ipi_spec_dst (the zero Addr if unknown), as
// Packet.Kind does.
func (a *Addrs) Kind(dst, specDst netip.Addr) Kind {
	return classify(dst.Unmap(), specDst.Unmap(), a.v.current())
}

// Close releases the view's sockets, if WatchAddrs made it.
func (a *Addrs) Close() error {
	if !a.owned {
		return nil
	}
	return a.v.Close()
}

// IsLoopback reports whether the interface with this index is a loopback
// interface.
func (a *Addrs) IsLoopback(ifindex int) bool {
	if ifindex <= 0 {
		return false
	}
	_, ifi := a.v.lookup(a.v.current(), ifindex)
	return ifi != nil && ifi.Flags&net.FlagLoopback != 0
}
