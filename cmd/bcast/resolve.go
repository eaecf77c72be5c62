package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/mdns"
	"github.com/urfave/cli/v2"
)

const resolveDescription = `Ask the LAN for the addresses of a host name with multicast DNS, as
avahi-resolve -n does: one query (from a port of its own, so the answers
come back by unicast), the answers of every interface, each with the
interface it came by. IPv6 link-local addresses carry that interface as
their zone.

   bcast resolve printer.local
   bcast resolve printer.local --iface eth0 --timeout 1s --json

Exit status 3 when nobody answered within --timeout (default 2s).`

func resolveCommand() *cli.Command {
	return &cli.Command{
		Name:        "resolve",
		Usage:       "the addresses of NAME.local, by multicast DNS",
		UsageText:   "bcast resolve NAME.local [--proto mdns] [--iface NAME] [--network udp4|udp6] [--timeout D] [--json]",
		Description: resolveDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "proto", Value: protoMDNS, Usage: "the `PROTOCOL`: mdns (the only one with host names)"},
			&cli.StringSliceFlag{Name: "iface", Aliases: []string{"i"}, Usage: "ask on interface `NAME` only (repeatable)"},
			&cli.StringFlag{Name: "network", Usage: "`NET`: udp4 or udp6 (both when not given)"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"w"}, Value: 2 * time.Second, Usage: "wait at most `D` for an answer; exit 3 if none came"},
			jsonFlag(),
		},
		Action: runResolve,
	}
}

func runResolve(c *cli.Context) error {
	const name = "bcast resolve"
	if p := c.String("proto"); p != protoMDNS {
		return usageError(name, "%s: only mdns resolves host names", flagVal(c, "proto", p))
	}
	switch {
	case c.NArg() == 0:
		return usageError(name, "no host name: give NAME.local")
	case c.NArg() > 1:
		return usageError(name, "unexpected argument %q after the host name", c.Args().Get(1))
	}
	host := c.Args().First()
	if !strings.HasSuffix(strings.TrimSuffix(strings.ToLower(host), "."), ".local") {
		return usageError(name, "%q is not a .local name: multicast DNS answers only for NAME.local (other names belong to unicast DNS)", host)
	}
	link, err := mdnsLink(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return usageError(name, "%s: must be above 0", flagVal(c, "timeout", timeout))
	}
	ctx, cancel := context.WithTimeout(c.Context, timeout)
	defer cancel()
	evs, err := mdns.LookupHost(ctx, mdns.BrowserConfig{LinkConfig: link}, host)
	o := newOut(c.App.Writer)
	asJSON := c.Bool("json")
	if err != nil {
		if errors.Is(err, mdns.ErrNoAnswer) {
			if c.Context.Err() != nil {
				return nil
			}
			return cli.Exit(fmt.Sprintf("%s: no answer for %s within %v", name, host, timeout), exitTimeout)
		}
		return failure(name, "%s", explained(err))
	}
	for _, ev := range evs {
		addrs := make([]string, 0, len(ev.Addrs))
		for _, a := range ev.Addrs {
			addrs = append(addrs, a.String())
		}
		if asJSON {
			writeJSON(o, map[string]any{"type": "host", "proto": protoMDNS, "name": ev.Name, "addrs": addrs, "interfaces": []string{ev.IfName}})
			continue
		}
		o.Printf("%s\t%s\ton %s", safeText(strings.TrimSuffix(ev.Name, ".")), strings.Join(addrs, " "), ev.IfName)
	}
	return nil
}
