package main

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/multicast"
	"github.com/urfave/cli/v2"
)

const ifacesDescription = `List the interfaces that are up: addresses with their prefix, the directed
broadcast address of each IPv4 subnet, whether broadcasts can leave by it
(and if not, why; on loopback, "local only: 127.255.255.255": a broadcast
there reaches every program on this host bound to the port, nothing else), whether it does multicast, and the groups this host has
joined on it (with how many sockets hold each).

   bcast ifaces
   bcast ifaces --iface eth0
   bcast ifaces --json | jq 'select(.can_broadcast) | .name'`

func ifacesCommand() *cli.Command {
	return &cli.Command{
		Name:        "ifaces",
		Usage:       "interfaces, addresses, broadcast addresses, multicast, memberships",
		UsageText:   "bcast ifaces [--iface NAME] [--json]",
		Description: ifacesDescription,
		Flags: []cli.Flag{
			ifaceFlag("only interface `NAME` (up or down)"),
			jsonFlag(),
		},
		Action: runIfaces,
	}
}

type ifaceOut struct {
	Type            string      `json:"type"` // "iface"
	Name            string      `json:"name"`
	Index           int         `json:"index"`
	MTU             int         `json:"mtu"`
	Flags           []string    `json:"flags"`
	MAC             string      `json:"mac,omitempty"`
	Addrs           []addrOut   `json:"addrs"`
	CanBroadcast    bool        `json:"can_broadcast"`
	BroadcastReason string      `json:"broadcast_reason,omitempty"`
	LocalBroadcast  []string    `json:"local_broadcast,omitempty"` // loopback: broadcast addresses that reach this host's programs
	Multicast       bool        `json:"multicast"`
	Groups          []groupUser `json:"groups"`
}

type addrOut struct {
	Prefix    string `json:"prefix"`
	Broadcast string `json:"broadcast,omitempty"`
	LinkLocal bool   `json:"link_local"`
}

type groupUser struct {
	Group string `json:"group"`
	Users int    `json:"users"`
}

func runIfaces(c *cli.Context) error {
	const name = "bcast ifaces"
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q", c.Args().First())
	}
	var ifs []broadcast.Interface
	if n := c.String("iface"); n != "" {
		if err := ifaceCheck(c, "iface", n); err != nil {
			return usageError(name, "%v", err)
		}
		ifi, err := broadcast.InterfaceByName(n)
		if err != nil {
			return failure(name, "%s: %v", flagRef(c, "iface"), err)
		}
		ifs = []broadcast.Interface{ifi}
	} else {
		var err error
		if ifs, err = broadcast.Interfaces(); err != nil {
			return failure(name, "%v", err)
		}
	}
	groups := map[int][]groupUser{}
	ms, err := multicast.HostMemberships()
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "%s: warning: cannot list group memberships: %v\n", name, err)
	}
	for _, m := range ms {
		groups[m.IfIndex] = append(groups[m.IfIndex], groupUser{Group: m.Group.WithZone("").String(), Users: m.Users})
	}
	rows := make([]ifaceOut, 0, len(ifs))
	for _, ifi := range ifs {
		ok, why := ifi.CanBroadcast()
		r := ifaceOut{Type: "iface", Name: ifi.Name, Index: ifi.Index, MTU: ifi.MTU, Flags: flagNames(ifi.Flags),
			CanBroadcast: ok, BroadcastReason: why, Multicast: ifi.Flags&net.FlagMulticast != 0,
			Groups: groups[ifi.Index], Addrs: []addrOut{}}
		if ifi.Flags&net.FlagLoopback != 0 && ifi.Flags&net.FlagUp != 0 {
			r.LocalBroadcast = loopbackBroadcasts(ifi)
			if len(r.LocalBroadcast) > 0 {
				r.BroadcastReason = "loopback: nothing leaves the host, but " + strings.Join(r.LocalBroadcast, ", ") + " reaches its programs"
			}
		}
		if len(ifi.HardwareAddr) > 0 {
			r.MAC = ifi.HardwareAddr.String()
		}
		if r.Groups == nil {
			r.Groups = []groupUser{}
		}
		sort.Slice(r.Groups, func(i, j int) bool { return r.Groups[i].Group < r.Groups[j].Group })
		for _, a := range ifi.Addrs {
			ao := addrOut{Prefix: a.Prefix.String(), LinkLocal: a.LinkLocal}
			if a.Broadcast.IsValid() {
				ao.Broadcast = a.Broadcast.String()
			}
			r.Addrs = append(r.Addrs, ao)
		}
		rows = append(rows, r)
	}
	if c.Bool("json") {
		o := newOut(c.App.Writer)
		for _, r := range rows {
			o.JSON(r)
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IFACE\tINDEX\tMTU\tADDRESS\tBROADCAST\tCAN BROADCAST\tMULTICAST\tGROUPS (users)")
	for _, r := range rows {
		bc := "yes"
		switch {
		case len(r.LocalBroadcast) > 0:
			bc = "local only: " + strings.Join(r.LocalBroadcast, ", ")
		case !r.CanBroadcast:
			bc = "no: " + r.BroadcastReason
		}
		mc := "no"
		if r.Multicast {
			mc = "yes"
		}
		var gs []string
		for _, g := range r.Groups {
			gs = append(gs, fmt.Sprintf("%s (%d)", g.Group, g.Users))
		}
		n := max(len(r.Addrs), len(gs), 1)
		for i := range n {
			addr, brd, g := "", "", ""
			if i < len(r.Addrs) {
				addr, brd = r.Addrs[i].Prefix, r.Addrs[i].Broadcast
				if r.Addrs[i].LinkLocal {
					addr += " (link-local)"
				}
			} else if i == 0 {
				addr = "-"
			}
			if i < len(gs) {
				g = gs[i]
			}
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Index, r.MTU, addr, dash(brd), bc, mc, dash(g))
			} else {
				fmt.Fprintf(tw, "\t\t\t%s\t%s\t\t\t%s\n", addr, brd, g)
			}
		}
	}
	return tw.Flush()
}

// loopbackBroadcasts are the broadcast addresses of a loopback
// interface's IPv4 subnets (127.255.255.255 for 127.0.0.1/8): the kernel
// has no broadcast flag on lo, yet adds a broadcast route for the last
// address of every subnet wider than /31 there, so that a datagram sent to
// it (with SO_BROADCAST) reaches every program on this host bound to the
// port, as bcast demo shows.
func loopbackBroadcasts(ifi broadcast.Interface) []string {
	var out []string
	for _, a := range ifi.IPv4() {
		p := a.Prefix.Masked()
		if p.Bits() >= 31 {
			continue
		}
		b := p.Addr().As4()
		host := uint32(1)<<(32-p.Bits()) - 1
		for i := range 4 {
			b[i] |= byte(host >> (24 - 8*i))
		}
		if s := netip.AddrFrom4(b).String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func flagNames(f net.Flags) []string {
	if f == 0 {
		return []string{}
	}
	return strings.Split(f.String(), "|")
}
