package broadcast

import (
	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// explanations are written for the person at the terminal: what the errno
// means for broadcast work, then what to do about it.
var explanations = map[unix.Errno]string{
	unix.ENETUNREACH: "The kernel has no route for that destination. On a host without a default route " +
		"(isolated LAN, container, lab namespace) this is what a send to 255.255.255.255 gets when it does not " +
		"name an interface: the limited broadcast is routed like any address unless an interface is chosen. " +
		"Fix: name the interface (SenderConfig.Iface, or bcast send --iface eth0), or use SendAllLimited, which " +
		"sends out of every broadcast interface; for a directed broadcast check that this host has an address " +
		"in that subnet (ip -4 addr).",
	unix.EACCES: "The destination is a broadcast address and the socket does not have SO_BROADCAST set; the " +
		"kernel refuses broadcasts without it, including directed ones such as 192.168.1.255 that do not look " +
		"like broadcasts. Fix: SetBroadcast(true) on the socket (a broadcast.Sender does this for you). If " +
		"SO_BROADCAST is set, a firewall rule rejecting the packet can also give EACCES.",
	unix.EADDRNOTAVAIL: "The address is not one of this host's: binding to it, or sending from it " +
		"(IP_PKTINFO source), needs an address assigned to an interface that is up. It may have been " +
		"removed, be still tentative (IPv6 duplicate address detection), or be a typo. Fix: pick an address " +
		"listed by `ip addr`, or bind the wildcard (0.0.0.0 / ::), which broadcast reception needs anyway.",
	unix.ENODEV: "No such network interface: the name or index does not exist in this network namespace; it " +
		"may have been removed or renamed (USB adapters, VPNs, containers). Fix: check `ip link` and use a " +
		"name from it.",
	unix.EPERM: "The operation was not permitted. For a send this is usually a firewall (iptables or " +
		"nftables OUTPUT chain) dropping the packet; for socket options it is a missing capability: " +
		"SO_BINDTODEVICE needs CAP_NET_RAW on kernels before 5.7, and forcing buffer sizes past " +
		"net.core.rmem_max needs CAP_NET_ADMIN. Fix: check `nft list ruleset` / `iptables -S OUTPUT`, or run " +
		"with the capability.",
	unix.EMSGSIZE: "The datagram is too large: UDP carries at most 65507 bytes of payload over IPv4 and " +
		"65527 over IPv6, and with path-MTU discovery set to \"do\" nothing larger than the interface MTU may " +
		"leave unfragmented. Fix: send smaller datagrams; keep them under the MTU (1472 bytes of payload on " +
		"1500-byte Ethernet) so no fragment is lost.",
	unix.ENETDOWN: "The interface is down. Fix: `ip link set dev NAME up`, or choose another interface.",
	unix.EADDRINUSE: "Another socket already uses that address and port. Fix: let every listener on the port " +
		"set SO_REUSEADDR and SO_REUSEPORT (ReceiverConfig.ReusePort) to share it, or choose another port; " +
		"`ss -ulpn` shows who holds it.",
	unix.ENOBUFS: "The kernel had no buffer space for the packet: the interface queue is full, so sends " +
		"outrun the link. Fix: pace the sender, or enlarge the queue (ip link set dev NAME txqueuelen N).",
	unix.EINVAL: "The kernel rejected an argument. For a send with a chosen source or interface this usually " +
		"means the source address is not local, or is of the wrong family for the destination. Fix: check " +
		"the source address against `ip addr` and the interface name against `ip link`.",
}

// Explain says in plain words what went wrong in err and how to fix it, for
// the errors broadcast work runs into: ENETUNREACH, EACCES, EADDRNOTAVAIL,
// ENODEV, EPERM, EMSGSIZE, ENETDOWN, EADDRINUSE, ENOBUFS and EINVAL. It
// returns "" when it has nothing to add to err's own message.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	return explanations[dgram.Errno(err)]
}
