package broadcast

import (
	"errors"
	"net/netip"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// explanations are written for the person at the terminal: what the errno
// means for broadcast work, then what to do about it, in the words of the
// command line (bcast's flags, ip, sysctl), never of the Go API: the same
// text reaches a user of the bcast command and of a program built on this
// package.
var explanations = map[unix.Errno]string{
	unix.ENETUNREACH: "The kernel has no route for that destination. On a host without a default route " +
		"(isolated LAN, container, lab namespace) this is what a send to 255.255.255.255 gets when it does not " +
		"name an interface: the limited broadcast is routed like any address unless an interface is chosen. " +
		"Fix: name the interface to send out of (bcast send --iface eth0), or send out of every broadcast " +
		"interface (bcast send --all-interfaces); for a directed broadcast check that this host has an address " +
		"in that subnet (ip -4 addr).",
	unix.EACCES: "The destination is a broadcast address and the socket does not have SO_BROADCAST set; the " +
		"kernel refuses broadcasts without it, including directed ones such as 192.168.1.255 that do not look " +
		"like broadcasts. Fix: set SO_BROADCAST on the socket (bcast send always does). If SO_BROADCAST is " +
		"set, a firewall rule rejecting the packet can also give EACCES.",
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
		"share it with SO_REUSEADDR and SO_REUSEPORT (bcast listen --reuse-port), or choose another port; " +
		"`ss -ulpn` shows who holds it.",
	unix.ENOBUFS: "The kernel had no buffer space for the packet: the interface queue is full, so sends " +
		"outrun the link. Fix: pace the sender, or enlarge the queue (ip link set dev NAME txqueuelen N).",
	unix.EINVAL: "The kernel rejected an argument. For a send with a chosen source or interface this usually " +
		"means the source address is not local, or is of the wrong family for the destination. Fix: check " +
		"the source address against `ip addr` and the interface name against `ip link`.",
}

// privilegedPort explains EACCES from bind: the port is below 1024.
const privilegedPort = "Ports below 1024 are privileged: binding one needs root or the CAP_NET_BIND_SERVICE " +
	"capability (below net.ipv4.ip_unprivileged_port_start, 1024 unless changed). Fix: choose a port of 1024 " +
	"or above, or grant the capability (setcap cap_net_bind_service=+ep on the program, or " +
	"AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit)."

// groupUnreachable explains ENETUNREACH for a datagram to a group.
const groupUnreachable = "The kernel has no route for that group: a datagram to a multicast group that names " +
	"no interface is routed like any address, and on a host without a default route (isolated LAN, " +
	"container, lab namespace) there is none. Fix: name the interface to send out of (bcast send --iface " +
	"eth0), send out of every multicast interface (bcast send --all-interfaces), or add a multicast route " +
	"(ip route add 224.0.0.0/4 dev eth0; for IPv6, ip -6 route add ff00::/8 dev eth0)."

// Explain says in plain words what went wrong in err and how to fix it, for
// the errors broadcast work runs into: ENETUNREACH, EACCES, EADDRNOTAVAIL,
// ENODEV, EPERM, EMSGSIZE, ENETDOWN, EADDRINUSE, ENOBUFS and EINVAL. Where
// the system call and address of a *dgram.Error tell more (EACCES from
// binding a privileged port, ENETUNREACH for a group), it says that
// instead. It returns "" when it has nothing to add to err's own message.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	errno := dgram.Errno(err)
	var de *dgram.Error
	if errors.As(err, &de) {
		ap, perr := netip.ParseAddrPort(de.Addr)
		switch {
		case perr != nil:
		case errno == unix.EACCES && de.Op == "bind" && ap.Port() != 0 && ap.Port() < 1024:
			return privilegedPort
		case errno == unix.ENETUNREACH && ap.Addr().IsMulticast():
			return groupUnreachable
		}
	}
	return explanations[errno]
}
