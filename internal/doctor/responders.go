package doctor

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A discoveryPort is a well-known port that discovery programs share on a
// host: bcast's mDNS and SSDP runtimes bind it with SO_REUSEPORT beside
// avahi-daemon, miniupnpd or minissdpd, and the sharing has consequences
// worth saying.
type discoveryPort struct {
	check  string // Finding.Check
	port   uint16
	name   string       // the protocol, as people say it
	groups []netip.Addr // asking about one of these is asking about the protocol
	what   string       // what the other programs are, for the message
	why    string       // the consequence of sharing
	fix    string       // what to do, if anything
}

var discoveryPorts = []discoveryPort{
	{
		check: "mdns", port: 5353, name: "mDNS",
		groups: []netip.Addr{netip.MustParseAddr("224.0.0.251"), netip.MustParseAddr("ff02::fb")},
		what:   "another mDNS responder or querier",
		why: "multicast queries and answers reach every socket on the port, but a unicast datagram to port 5353 reaches only one of them: " +
			"a querier on this host must query by multicast or from a port of its own (bcast discover and resolve --proto mdns do), " +
			"a unicast (legacy) query from another host, such as dig -p 5353, is answered by one responder only, " +
			"and two responders on one host both answer multicast queries, each for its own names",
		fix: "nothing, for bcast's mDNS commands, which share the port; for one responder on this host, " +
			"stop the other (such as avahi-daemon) or publish through it (avahi-publish)",
	},
	{
		check: "ssdp", port: 1900, name: "SSDP",
		groups: []netip.Addr{netip.MustParseAddr("239.255.255.250"), netip.MustParseAddr("ff02::c")},
		what:   "other UPnP software",
		why: "multicast searches and NOTIFYs reach every socket on the port, but a unicast datagram to port 1900 reaches only one of them: " +
			"a searcher on this host must search from a port of its own, where the answers come (bcast discover --proto ssdp does), " +
			"a unicast M-SEARCH from another host reaches one of the devices only, " +
			"and every program on the port answers multicast searches for its own devices",
		fix: "nothing, for bcast's SSDP commands, which share the port; for one SSDP stack on this host, " +
			"stop the other (such as miniupnpd or minissdpd)",
	},
}

// asked reports whether the configuration asks about this protocol: its
// port or one of its groups.
func (d *discoveryPort) asked(cfg Config) bool {
	return cfg.Port == d.port || cfg.Group.Addr.IsValid() && slices.Contains(d.groups, cfg.Group.Addr.WithZone(""))
}

// checkResponders names the programs other than this one that hold the
// mDNS and SSDP ports. It says nothing when none does. The finding is a
// WARN when the configuration asks about that protocol (its port or
// group), and INFO otherwise: worth knowing before running bcast's mDNS
// or SSDP commands here, but no reason for datagrams to another port to
// go missing.
func checkResponders(cfg Config, socks []UDPSocket) []Finding {
	var out []Finding
	for i := range discoveryPorts {
		d := &discoveryPorts[i]
		var held []UDPSocket
		for _, s := range socks {
			if s.Local.Port() == d.port {
				held = append(held, s)
			}
		}
		if len(held) == 0 {
			continue
		}
		inodes := make([]uint64, len(held))
		for i, s := range held {
			inodes[i] = s.Inode
		}
		owners := SocketOwners(cfg.Proc, inodes)
		// Sockets by holder, in the order first seen; this process's own
		// (a program that runs doctor beside its responder) are left out.
		var holders []string
		byHolder := map[string][]string{}
		for _, s := range held {
			who := "a process doctor cannot see (run as root to name it)"
			if o, ok := owners[s.Inode]; ok {
				if o.PID == cfg.pid {
					continue
				}
				who = o.Comm + " (pid " + strconv.Itoa(o.PID) + ")"
			}
			if byHolder[who] == nil {
				holders = append(holders, who)
			}
			byHolder[who] = append(byHolder[who], s.Local.String())
		}
		if len(holders) == 0 {
			continue
		}
		parts := make([]string, len(holders))
		for i, h := range holders {
			parts[i] = h + " on " + strings.Join(byHolder[h], ", ")
		}
		level, fix := Info, ""
		if d.asked(cfg) {
			level, fix = Warn, d.fix
		}
		out = append(out, Finding{Check: d.check, Level: level, Fix: fix,
			Message: fmt.Sprintf("udp port %d (%s) is held by %s: %s; %s", d.port, d.name, d.what, strings.Join(parts, "; "), d.why)})
	}
	return out
}

// readUDP reads every UDP socket of this network namespace from
// /proc/net/udp and /proc/net/udp6; a file that is missing (no IPv6) is
// skipped, one that cannot be read or parsed is a finding.
func readUDP(cfg Config, check string) ([]UDPSocket, []Finding) {
	var socks []UDPSocket
	for _, name := range []string{"net/udp", "net/udp6"} {
		f, err := os.Open(filepath.Join(cfg.Proc, name))
		if err != nil {
			continue
		}
		ss, err := ParseUDP(f)
		f.Close()
		if err != nil {
			return nil, []Finding{{Check: check, Level: Info, Message: "cannot read " + name + ": " + err.Error()}}
		}
		socks = append(socks, ss...)
	}
	return socks, nil
}
