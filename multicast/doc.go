// Package multicast joins and leaves IPv4 and IPv6 multicast groups on a
// dgram.Socket, sets the options for sending to them, and lists what the
// host has joined. It is policy on top of package dgram: which interfaces,
// which options, and the Linux behaviours that surprise people, each
// explained where it bites.
//
// # Joining
//
// A membership belongs to a socket and an interface. Bind a datagram socket
// to the wildcard address and the group's port, then Join:
//
//	s, _ := dgram.ListenPacket("udp4", "0.0.0.0:5000")
//	g, _ := multicast.ParseGroup("239.1.2.3")
//	joined, skipped, err := multicast.Join(s, g) // every usable interface
//	joined, skipped, err = multicast.Join(s, g, "eth0", "wlan0")
//
// Bind to the wildcard, not to an interface address: a socket bound to a
// unicast address does not receive datagrams sent to a group. Use
// SO_REUSEADDR (dgram's SetReuseAddr) when several programs share the port;
// each socket gets its own copy of every datagram.
//
// With no interface named, Join uses every interface that is up, has the
// MULTICAST flag and has an address of the group's family, leaving out
// loopback unless nothing else qualifies. It reports the interfaces it
// passed over and why (Skipped), so a tool can say "lo: no MULTICAST flag"
// rather than stay silent. A failure on one interface does not stop the
// others; every failure is returned, naming the group, the interface and
// the errno:
//
//	multicast: join 239.1.2.3 on eth0: setsockopt MCAST_JOIN_GROUP: no buffer space available (ENOBUFS); a socket holds at most net.ipv4.igmp_max_memberships groups (default 20); ...
//
// Interfaces that appear later (a VPN coming up, a cable plugged in) are not
// joined by themselves: call Join again, for instance when the set of
// Interfaces changes. Interfaces where the socket is already a member are
// reported as skipped with ReasonJoined, so calling Join again is safe.
//
// Leave undoes a Join. With no interface named it leaves the group
// wherever the socket joined it. Closing the socket leaves everything.
//
// # Source-specific
//
// A source-specific group (SSM, RFC 4607) accepts datagrams from one sender
// only. Write it SOURCE,GROUP:
//
//	g, _ := multicast.ParseGroup("10.0.0.1,232.1.1.1")
//	g, _ = multicast.ParseGroup("2001:db8::1,ff3e::8000:1")
//
// Join then filters in the kernel: datagrams to the group from any other
// source are dropped before they reach the socket. Join the same group
// with several sources to accept each; Leave one source to stop accepting
// it, and the membership ends with its last source.
//
// The SSM ranges are 232.0.0.0/8 and ff3x::/32 (InSSMRange tells): there,
// routers serve source-specific joins without a rendezvous point and
// ignore any-source ones. The kernel filters by source in any range, and
// ParseGroup accepts either kind anywhere.
//
// A socket holds one filter per group and interface. If it joined a group
// for any source and then joins it for a source, the kernel turns the
// membership source-specific: the any-source reception silently stops. Use
// separate sockets for the two.
//
// # The multicast-all trap
//
// On Linux, a socket bound to the wildcard address receives datagrams for
// every group that any socket on the host joined on the arrival interface,
// whether or not it joined that group itself. Two programs on one host,
// one listening to 239.1.1.1 and the other to 239.2.2.2 on the same port,
// each see both groups; a program that never joined anything sees every
// group the other joined. This is the IP_MULTICAST_ALL socket option
// (IPV6_MULTICAST_ALL for IPv6), on by default for compatibility.
//
// Join turns it off on the socket, for the family of the group, so that
// the socket receives exactly the groups (and sources) it joined, on the
// interfaces it joined them. SetMulticastAll(s, true) restores the default
// for a program that wants it; SetMulticastAll(s, false) gives the strict
// behaviour to a socket that joins nothing.
//
// While multicast-all is on, Leave does not stop delivery of a group
// that another socket on the host still holds.
//
// # IPv6 zones
//
// An IPv6 group of interface-local or link-local scope (the scope nibble
// is 1 or 2: ff01::1, ff02::fb, ff12::1234) exists separately on every
// link, so naming one needs the link. A Group carries it as the zone of
// the address, as Go does for link-local unicast:
//
//	g, _ := multicast.ParseGroup("ff02::fb%eth0")
//
// ParseGroup rejects such a group without a zone, and rejects a zone on any
// other group (a site or global scope group is one group everywhere; name
// the interfaces to Join instead). Join of a zoned group uses the zone's
// interface. A Group built in code without a zone may still be given to
// Join and Leave, which then use it on each interface they pick, and each
// Membership carries the zone it was joined with: the way to listen for
// ff02::fb on every link.
//
// # Sending
//
// A socket sends to a group like to any address. SetInterface picks the
// interface the datagrams leave from (without it, IPv4 from a
// wildcard-bound socket needs a route to the group), SetTTL how far they
// go (default 1: this link), and SetLoopback whether other sockets of this
// host that joined the group get a copy (default on).
//
// On an IPv6 socket that is not IPv6-only (dual-stack), these options and
// SetMulticastAll set both the IPv6 and the IPv4 level, because the same
// socket sends and receives IPv4 as IPv4-mapped addresses; such a socket
// can also Join IPv4 groups.
//
// # What the host has joined
//
// HostMemberships lists every group the host (the network namespace) has
// joined, on which interface and by how many sockets, from /proc/net/igmp
// and /proc/net/igmp6, which ParseIGMP and ParseIGMP6 read. Groups joined
// by the kernel itself (224.0.0.1, ff02::1, the solicited-node groups) are
// listed too.
//
// # Network namespaces
//
// Interfaces, their names and indexes, and the /proc/net files belong to a
// network namespace. Join, Leave, SetInterface, Interfaces and
// HostMemberships look them up in the namespace of the calling thread, so
// a program that moves a locked OS thread into another namespace must call
// them on that thread; the socket itself keeps the namespace it was
// created in.
//
// # How memberships are set
//
// Join and Leave use golang.org/x/net/ipv4 and ipv6 (MCAST_JOIN_GROUP,
// MCAST_JOIN_SOURCE_GROUP and their LEAVE twins, for both families) on a
// duplicate of the socket's descriptor from dgram's PacketConn, closed
// before they return. Memberships belong to the socket, not to the
// descriptor, so they stay.
package multicast
