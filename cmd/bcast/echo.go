package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/pace"
	"github.com/urfave/cli/v2"
)

const echoDescription = `A UDP echo server for latency tests: each datagram goes back to its sender,
from the address it was sent to and out of the interface it came in by.

   bcast echo --listen :7777
   bcast echo --listen :7777 --group 239.1.2.3 --limit 5
   (elsewhere)  bcast ping --to HOST:7777

Datagrams sent to a broadcast address or a group are answered at most
--limit times a second in all (bursts of as many), so one flood to the
whole LAN cannot make this host flood back; --limit 0 answers unicast only.
Never answered: datagrams from port 0 or from the port echo listens on (its
own, and two echo servers would otherwise bounce one datagram between them
forever), and truncated ones (the reply would be wrong).`

func echoCommand() *cli.Command {
	return &cli.Command{
		Name:        "echo",
		Usage:       "UDP echo server for bcast ping",
		UsageText:   "bcast echo --listen [ADDR:]PORT [options]",
		Description: echoDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, EnvVars: []string{envListen}, Usage: "bind `[ADDR:]PORT`"},
			groupFlag("also answer datagrams to multicast group `G` (repeatable; rate-limited)"),
			ifaceFlag("only datagrams that arrived on interface `NAME`"),
			&cli.Float64Flag{Name: "limit", Value: 10, Usage: "answers a second to broadcast and multicast datagrams, all senders together (`N`; 0: none)"},
			&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}, Usage: "stop after answering `N` datagrams (0: no limit)"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"w"}, Usage: "stop after `D`; exit status 3 if nothing arrived"},
			quietFlag("no line per datagram"),
			jsonFlag(),
		},
		Action: runEcho,
	}
}

type echoOut struct {
	Type   string `json:"type"`
	TS     string `json:"ts"`
	Src    string `json:"src"`
	Sport  uint16 `json:"sport"`
	Dst    string `json:"dst"`
	Kind   string `json:"kind"`
	IfName string `json:"ifname"`
	Len    int    `json:"len"`
	Action string `json:"action"` // "replied", "error", or why it was not answered
	Error  string `json:"error,omitempty"`
}

// Reasons a datagram is not answered.
const (
	skipPortZero  = "source port 0"
	skipSamePort  = "source port is the echo port (echo loop)"
	skipTruncated = "truncated"
	skipLimit     = "over --limit"
	skipNoLimit   = "broadcast/multicast with --limit 0"
)

func runEcho(c *cli.Context) error {
	const name = "bcast echo"
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q", c.Args().First())
	}
	addr, err := parseEndpoint(c.Context, "listen", c.String("listen"), true)
	if err != nil {
		return usageError(name, "%v", err)
	}
	groups, err := parseGroups(c.StringSlice("group"))
	if err != nil {
		return usageError(name, "%v", err)
	}
	limit := c.Float64("limit")
	if limit < 0 {
		return usageError(name, "--limit %v: must not be negative", limit)
	}
	timeout := c.Duration("timeout")
	cfg := broadcast.ReceiverConfig{Network: "udp4", Addr: addr, Iface: c.String("iface")}
	if a := addr.Addr(); a.Is6() && !a.Is4In6() {
		cfg.Network = "udp6"
	}
	for _, g := range groups {
		if g.Is6() && cfg.Network == "udp4" {
			if !addr.Addr().IsUnspecified() {
				return usageError(name, "--group %s is IPv6 but --listen %s is IPv4", g, addr)
			}
			cfg.Network, cfg.Addr = "udp6", netip.AddrPortFrom(netip.IPv6Unspecified(), addr.Port())
		}
	}
	quiet, asJSON := c.Bool("quiet"), c.Bool("json")
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	r, _, err := openReceiver(name, cfg, groups, stderr, asJSON)
	if err != nil {
		return err
	}
	defer r.Close()
	local := r.LocalAddr()
	if asJSON {
		stdout.JSON(map[string]any{"type": "listening", "addr": local.String(), "network": cfg.Network})
	} else {
		stderr.Printf("%s: listening on %s (%s)", name, local, cfg.Network)
	}

	ctx := c.Context
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	lim := pace.NewLimiter(limit, max(int(limit), 1))
	var received, replied, skipped, failed uint64
	pkts := make([]broadcast.Packet, 32)
	var recvErr error
	count := c.Uint64("count")
loop:
	for {
		n, err := r.Receive(ctx, pkts)
		if err != nil {
			recvErr = err
			break
		}
		for i := range pkts[:n] {
			pk := &pkts[i]
			received++
			now := pk.Time
			if now.IsZero() {
				now = time.Now()
			}
			action, errText := "replied", ""
			switch {
			case pk.Src.Port() == 0:
				action = skipPortZero
			case pk.Src.Port() == local.Port():
				// Also every datagram of this very socket.
				action = skipSamePort
			case pk.Truncated:
				action = skipTruncated
			case pk.Kind != broadcast.Unicast && limit == 0:
				action = skipNoLimit
			case pk.Kind != broadcast.Unicast && !lim.Allow(now):
				action = skipLimit
			}
			if action == "replied" {
				if err := r.Reply(pk, pk.Data); err != nil {
					action, errText = "error", explained(err)
					failed++
				} else {
					replied++
				}
			} else {
				skipped++
			}
			if asJSON {
				if !quiet || errText != "" {
					stdout.JSON(echoOut{Type: "echo", TS: now.Format(time.RFC3339Nano), Src: pk.Src.Addr().String(), Sport: pk.Src.Port(),
						Dst: addrText(pk.Dst), Kind: pk.Kind.String(), IfName: pk.IfName, Len: pk.Size, Action: action, Error: errText})
				}
			} else if errText != "" {
				stderr.Printf("%s %s: reply to %s failed: %s", tsText(now), name, pk.Src, errText)
			} else if !quiet {
				verb := "echoed"
				if action != "replied" {
					verb = "ignored (" + action + ")"
				}
				stdout.Printf("%s %s > %s %s %s len %d %s", tsText(now), pk.Src, addrText(pk.Dst), pk.Kind, pk.IfName, pk.Size, verb)
			}
			if count > 0 && replied >= count {
				break loop
			}
		}
	}
	if asJSON {
		stdout.JSON(map[string]any{"type": "summary", "received": received, "replied": replied, "ignored": skipped, "errors": failed})
	} else {
		stderr.Printf("%s: %d datagrams, %d answered, %d ignored, %d reply errors", name, received, replied, skipped, failed)
	}
	switch {
	case recvErr == nil, c.Context.Err() != nil:
		return nil
	case errors.Is(recvErr, context.DeadlineExceeded):
		if received == 0 {
			return cli.Exit(fmt.Sprintf("%s: nothing received within %v", name, timeout), exitTimeout)
		}
		return nil
	}
	return failure(name, "%s", explained(recvErr))
}
