package broadcast

import (
	"net"
	"net/netip"
	"slices"
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

// A ChangeWatch calls a function each time the kernel reports that a link
// or an address was added, removed or changed.
type ChangeWatch struct{ w *changeWatcher }

// WatchChanges starts calling changed, from a goroutine of its own, each
// time the kernel announces a change of links or addresses in the calling
// thread's network namespace (and once more if the watch itself fails,
// so that the caller looks again). Calls come in bursts; changed should
// only note that something changed and return.
func WatchChanges(changed func()) (*ChangeWatch, error) {
	w, err := watchChanges(changed)
	if err != nil {
		return nil, err
	}
	return &ChangeWatch{w: w}, nil
}

// Close stops the watch and waits for its goroutine.
func (c *ChangeWatch) Close() error { return c.w.Close() }

// Interfaces lists this host's interfaces as the view last saw them (see
// Receiver.Refresh to list them again now), in the view's network
// namespace whichever thread asks.
func (a *Addrs) Interfaces() []Interface { return slices.Clone(a.v.current().all) }
