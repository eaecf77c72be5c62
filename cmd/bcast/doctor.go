package main

import (
	"fmt"
	"strings"

	"github.com/bcastdev/bcast/internal/doctor"
	"github.com/urfave/cli/v2"
)

const doctorDescription = `Explain why datagrams may not arrive, by reading this host's configuration
(nothing is sent, nothing is changed): interfaces (up, carrier, BROADCAST and
MULTICAST flags), the kernel's route for 255.255.255.255 and for the group
(what "ip route get" says), reverse-path filtering (rp_filter), receive
buffer limits and the kernel's drop counters, other sockets on the port and
the processes holding them, other programs on the mDNS and SSDP ports (5353,
1900: avahi-daemon, miniupnpd), the firewall ruleset (nft or iptables, when
installed and readable), and who has joined the group.

   bcast doctor
   bcast doctor --port 9999 --iface eth0
   bcast doctor --port 5000 --group 239.1.2.3 --json

Each finding is one line: OK, INFO, WARN (may keep datagrams away) or FAIL
(will), followed by the fix when there is one. Run it as root to see the
firewall rules and every process's sockets.

Exit status 1 when any finding is FAIL, 0 otherwise.`

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:        "doctor",
		Usage:       "explain why broadcast or multicast datagrams may not arrive",
		UsageText:   "bcast doctor [--port PORT] [--group G] [--iface NAME] [--json]",
		Description: doctorDescription,
		Flags: []cli.Flag{
			&cli.UintFlag{Name: "port", Aliases: []string{"p"}, Usage: "the UDP `PORT` datagrams are sent to"},
			&cli.StringFlag{Name: "group", Aliases: []string{"g"}, Usage: "the multicast group `G` (239.1.2.3, ff02::fb%eth0, SOURCE,GROUP)"},
			ifaceFlag("check interface `NAME` only"),
			jsonFlag(),
		},
		Action: runDoctor,
	}
}

// findingOut is a doctor.Finding with the "type" every JSON object has.
type findingOut struct {
	Type string `json:"type"`
	doctor.Finding
}

func runDoctor(c *cli.Context) error {
	const name = "bcast doctor"
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q", c.Args().First())
	}
	port := c.Uint("port")
	if err := inRange(c, "port", port, 0, 65535); err != nil {
		return usageError(name, "%v", err)
	}
	cfg := doctor.Config{Port: uint16(port), Iface: c.String("iface")}
	if g := c.String("group"); g != "" {
		grp, err := parseGroup(g)
		if err != nil {
			return usageError(name, "%s: %v", flagVal(c, "group", g), err)
		}
		cfg.Group = grp
		if z := grp.Addr.Zone(); z != "" && cfg.Iface == "" {
			cfg.Iface = z
		}
	}
	if cfg.Iface != "" {
		if err := ifaceCheck(c, "iface", cfg.Iface); err != nil {
			return usageError(name, "%v", err)
		}
	}
	findings := doctor.Run(c.Context, cfg)
	o := newOut(c.App.Writer)
	for _, f := range findings {
		if c.Bool("json") {
			o.JSON(findingOut{Type: "finding", Finding: f})
			continue
		}
		line := fmt.Sprintf("%-4s  %-10s  %s", f.Level, f.Check, f.Message)
		if f.Fix != "" {
			line += "\n      fix: " + f.Fix
		}
		o.Printf("%s", line)
	}
	if c.Bool("json") {
		counts := map[string]int{}
		for _, f := range findings {
			counts[strings.ToLower(f.Level.String())]++
		}
		o.JSON(map[string]any{"type": "summary", "findings": len(findings), "worst": doctor.Worst(findings),
			"ok": counts["ok"], "info": counts["info"], "warn": counts["warn"], "fail": counts["fail"]})
	}
	if doctor.Worst(findings) == doctor.Fail {
		return cli.Exit("", exitFailure)
	}
	return nil
}
