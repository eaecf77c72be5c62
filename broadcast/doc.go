// Package broadcast sends and receives UDP broadcasts on Linux the way they
// actually work on real hosts: several interfaces, no default route, subnets
// that are not /24, and a host that hears itself.
//
// It is policy on top of package dgram: which socket options, which
// interfaces, which addresses. The sockets are dgram.Sockets (see
// Sender.Socket and Receiver.Socket) and the control messages are built and
// parsed by package msghdr; nothing here makes a system call of its own.
//
// # Interfaces and their subnets
//
// Interfaces, BroadcastInterfaces, InterfaceByName and InterfaceByIndex
// list interfaces with every address and its real prefix length, read from
// rtnetlink, together with the subnet's broadcast address as the kernel has
// it (IFA_BROADCAST) or, when it has none, as the subnet implies: a host on
// 172.16.0.9/22 broadcasts to 172.16.3.255, not 172.16.0.255.
// Interface.CanBroadcast says why an interface is unfit ("down", "no IPv4
// address", ...).
//
// The listing is done in the network namespace of the calling thread. A
// Sender or Receiver keeps its own netlink socket, opened with it, so it
// keeps seeing the interfaces of the namespace it was made in even when
// used from goroutines that run in another.
//
// # Limited and directed broadcast
//
// A limited broadcast goes to 255.255.255.255: every host on the link it is
// sent out of, whatever their addresses, never past a router. A directed
// broadcast goes to a subnet's broadcast address (192.168.1.255 for
// 192.168.1.0/24): in practice the same hosts, but it names the subnet, so
// only hosts configured on that subnet take it as theirs, and receivers can
// tell which subnet was meant. Routers drop directed broadcasts from other
// subnets by default (RFC 2644), so both stay on the local link.
//
// Both need SO_BROADCAST on the sending socket, or the kernel answers EACCES;
// NewSender sets it.
//
// # Why send once per interface
//
// The kernel routes 255.255.255.255 like any other destination: a datagram
// sent to it without naming an interface leaves by the interface of the
// default route, only that one, and on a host without a default route (an
// isolated LAN, a lab, a container) the send fails with ENETUNREACH.
// Sender.SendAllLimited therefore sends one datagram out of each broadcast
// interface, naming the interface per datagram with IP_PKTINFO (ipi_ifindex)
// and the source address with ipi_spec_dst, so that every link hears it with
// a source on that link. Sender.SendAllDirected does the same for every
// subnet's broadcast address. SenderConfig.Iface restricts a Sender to one
// interface; Explain turns the errno of a failed send into advice.
//
// # Why receive on the wildcard address
//
// A socket bound to a unicast address (192.168.1.7:9999) receives only
// datagrams addressed to exactly that address: the kernel delivers
// broadcasts only to sockets bound to the wildcard address (or to the
// broadcast address itself), and drops them for the others without any
// error or counter. Bind 0.0.0.0 (the default) and use ReceiverConfig.Iface
// to keep only one interface's datagrams; Receiver.Warnings says when the
// bind address will lose broadcasts.
//
// Each Packet says how it was addressed (Kind: unicast, broadcast or
// multicast, from the header destination that IP_PKTINFO reports and the
// kernel's own routing verdict), where it arrived (IfIndex, IfName), with
// what TTL and TOS, when (the kernel's timestamp), whether it was cut short
// (Truncated, with the real Size), and how many datagrams the kernel has
// dropped on the socket (Drops). Receive reads a batch with one recvmmsg and
// allocates nothing per datagram.
//
// # Hearing yourself
//
// A broadcast is delivered to every socket on the port on every host of the
// link, the sending host included: the kernel loops a copy of each
// broadcast back to local sockets. A program that both announces and
// listens, or two programs on one machine, therefore see their own
// datagrams. Packet.Own marks them (the source is one of this host's
// addresses), so a discovery protocol can ignore itself without comparing
// payloads.
//
// # Answering
//
// Receiver.Reply answers a datagram from the address it was sent to, when
// that was this host's unicast address, and otherwise from this host's
// address on the arrival interface in the sender's subnet, out of the
// arrival interface. A reply from a broadcast address is invalid, and one
// left to the routing table may leave by another interface with another
// source, which the asker will not recognise.
//
// # Keeping interface names current
//
// A Receiver caches the interface list (names for Packet.IfName, addresses
// for Packet.Own and Reply). A netlink subscription marks it stale when the
// kernel announces a change of links or addresses, and a datagram arriving
// on an interface index the cache does not know marks it too; the receiving
// goroutine then refreshes it, at most once a second, so a flood of
// changes or of unknown indexes costs at most one dump per second.
//
// # Speed
//
// Sending, from the slowest path to the fastest:
//
//	Send, SendVia        one sendmsg per datagram
//	SendBatch            one sendmmsg for a whole batch (the kernel takes up to
//	                     1024 messages per call; more take more calls)
//	SendMany             SendBatch, or with SenderConfig.GSO: each run of up to
//	                     64 equal-size datagrams (the last may be shorter,
//	                     65507 bytes at most) as one UDP_SEGMENT send, all the
//	                     runs of a call in one sendmmsg. The kernel, or the
//	                     network card, cuts them into datagrams; the receiver
//	                     sees ordinary datagrams.
//
// SendMany decides per call: runs of equal sizes go by GSO, anything else
// (sizes that all differ, empty or over-long datagrams, a single one) goes
// one per message in the same sendmmsg. Payloads cut one after another out
// of one buffer reach the kernel as one iovec per run, which it copies
// faster than many short ones. Every path costs no allocation per call
// once warm.
//
// GSO needs Linux 4.18; NewSender asks the kernel whether it knows
// UDP_SEGMENT (reading the option, nothing is sent). Whether the route and
// the device take it shows at the first send, and a refusal is never the
// caller's error: the refused send's datagrams and the rest of the call go
// one per message at once. EIO (a device without checksum offload, an IPsec
// route), EINVAL, ENOPROTOOPT and EOPNOTSUPP turn GSO off for the Sender
// for good, since every later send would meet the same refusal; EMSGSIZE
// (a segment larger than the route's MTU, where a plain datagram is
// fragmented instead) only stops GSO for segments of that size and larger.
// The decision is per Sender, not per destination: make another Sender to
// try again. If the plain datagrams then fail the same way, GSO was not at
// fault: it stays on and the error is returned. Sender.Path, GSO, GSOError
// and Stats tell which path the sends took and why.
//
// Sender.Connect is the fast path for a stream to one destination: the
// kernel keeps the route of the connected socket instead of looking it up
// for every sendmsg, and datagrams go without an address. It also changes
// what the socket receives and where it sends from (see Connect), so it is
// for a Sender that talks to one destination, never done by the fan-outs,
// and not for a Sender that fans out. IP_PKTINFO (Iface, Src) makes the
// kernel look the route up per datagram regardless.
//
// Which to use: Send for a datagram now and then; SendMany for a stream or
// a burst to one destination, with GSO when the datagrams are of one size
// (a flood, a file in equal pieces), after Connect when nothing else is
// sent from the Sender; SendAllLimited and SendAllDirected for broadcasts
// out of every interface. The benchmarks in this package
// (BenchmarkSendManyGSO, BenchmarkSendManyBatch, BenchmarkSendOneByOne,
// BenchmarkSendConnected) measure the difference on a machine; over
// loopback GSO cuts the cost per datagram several times over, and Connect
// by a few percent.
//
// Receiving: Receive reads up to Batch datagrams with one recvmmsg, parses
// their control messages in place and allocates nothing per datagram. With
// ReceiverConfig.GRO (Linux 5.0) the kernel hands over a run of datagrams
// from one sender, such as a GSO send over loopback or a run that a network
// card with GRO coalesced, as one buffer with its segment size; Receive cuts
// it back into Packets that differ from those of single datagrams only in
// costing less. Where the kernel lacks UDP_GRO, Listen goes on without it
// (Receiver.GRO, Warnings). Receiver.Coalesced counts the datagrams that
// arrived coalesced.
//
// A receive loop should keep its context and deadline: Receive costs nothing
// extra while ctx stays the same, but each SetReadDeadline resets a runtime
// timer, a cost to pay once in a while (a deadline a second ahead, renewed
// every few hundred milliseconds), not per call.
package broadcast
