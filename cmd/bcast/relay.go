package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/relay"
	"github.com/urfave/cli/v2"
)

const relayDescription = `Forward broadcasts (and multicast) from one LAN to others, as
udp-broadcast-relay does: a datagram arriving on a --from-iface interface goes out
of every --to-iface interface but the one it came in by, with its payload
unchanged, to the same port: a limited broadcast as a limited broadcast, a
directed broadcast to each --to-iface interface's own subnet, a group to the
same group.

   bcast relay --port 9999 --from-iface eth0 --to-iface eth1
   bcast relay --port 9999 --from-iface eth0 --from-iface eth1 --to-iface eth0 --to-iface eth1   (both ways)
   bcast relay --port 5000 --group 239.1.2.3 --no-broadcast --from-iface eth0 --to-iface wg0 --ttl 2

A relayed datagram is never relayed back:
  1. datagrams from this host's own addresses are not relayed;
  2. each relayed datagram is remembered (a digest of payload and port, with
     its source) for --window: the same payload coming back from another
     source within it is a copy that went round a loop (through another
     relay or a bridge) and is dropped; the same source repeating itself is
     not affected;
  3. nothing goes back out of the interface it arrived on.

The relayed copy leaves from this host's address and an ephemeral port: a
receiver that answers the source answers the relay. An interface that goes
down or away while the relay runs is said so on standard error and left
out; once it is back (deleted and made again too) the relay takes from it
(joining the groups anew) and sends out of it again.`

func relayCommand() *cli.Command {
	return &cli.Command{
		Name:        "relay",
		Usage:       "forward broadcasts and multicast between interfaces, without loops",
		UsageText:   "bcast relay --port PORT --from-iface NAME... --to-iface NAME... [--group G]... [options]",
		Description: relayDescription,
		Flags: []cli.Flag{
			&cli.UintFlag{Name: "port", Aliases: []string{"p"}, Usage: "the UDP `PORT` to relay"},
			&cli.StringSliceFlag{Name: "from-iface", Usage: "take datagrams arriving on interface `NAME` (repeatable)"},
			&cli.StringSliceFlag{Name: "to-iface", Usage: "send them out of interface `NAME` (repeatable)"},
			oldName("from", "from-iface"),
			groupFlag("also relay multicast group `G`, joined on each --from interface (repeatable)"),
			&cli.BoolFlag{Name: "no-broadcast", Usage: "relay only the --group datagrams"},
			ttlFlag("TTL of relayed multicast (`N`, default 1)"),
			&cli.DurationFlag{Name: "window", Value: relay.DefaultWindow, Usage: "how long a relayed datagram is remembered for loop detection (`D`)"},
			&cli.IntFlag{Name: "recv-buffer", Usage: "socket receive buffer (SO_RCVBUF) in `BYTES`"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"w"}, Usage: "stop after `D` (0: until Ctrl-C)"},
			quietFlag("no line per datagram"),
			jsonFlag(),
		},
		Action: runRelay,
	}
}

type relayOut struct {
	Type   string   `json:"type"`
	TS     string   `json:"ts"`
	Src    string   `json:"src"`
	Sport  uint16   `json:"sport"`
	Dst    string   `json:"dst"`
	Dport  uint16   `json:"dport"`
	IfName string   `json:"ifname"`
	Kind   string   `json:"kind"`
	Len    int      `json:"len"`
	Action string   `json:"action"` // "relayed" or "dropped"
	Reason string   `json:"reason,omitempty"`
	Out    []string `json:"out,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

func runRelay(c *cli.Context) error {
	const name = "bcast relay"
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q", c.Args().First())
	}
	from := append(c.StringSlice("from-iface"), c.StringSlice("from")...)
	if c.IsSet("from") {
		fmt.Fprintf(c.App.ErrWriter, "%s: note: --from is now --from-iface; the old name goes in the next release\n", name)
	}
	var missing []string
	for _, f := range []struct {
		name  string
		given bool
	}{{"--port", c.IsSet("port")}, {"--from-iface", len(from) > 0}, {"--to-iface", c.IsSet("to-iface")}} {
		if !f.given {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		verb := "are"
		if len(missing) == 1 {
			verb = "is"
		}
		return usageError(name, "%s %s required: the UDP port to relay, the interfaces to take datagrams from (--from-iface) and to send them out of (--to-iface)",
			listWords(missing), verb)
	}
	port := c.Uint("port")
	if err := inRange(c, "port", port, 1, 65535); err != nil {
		return usageError(name, "%v", err)
	}
	groups, err := parseGroups(c, c.StringSlice("group"))
	if err != nil {
		return usageError(name, "%v", err)
	}
	cfg := relay.Config{
		Port: uint16(port), From: from, To: c.StringSlice("to-iface"),
		Broadcast: !c.Bool("no-broadcast"), Groups: groups, Window: c.Duration("window"),
		RecvBuffer: c.Int("recv-buffer"),
	}
	if err := inRange(c, "recv-buffer", cfg.RecvBuffer, 0, maxRecvBuffer); err != nil {
		return usageError(name, "%v", err)
	}
	for _, f := range []struct {
		flag  string
		names []string
	}{{"from-iface", cfg.From}, {"to-iface", cfg.To}} {
		for _, n := range f.names {
			if err := ifaceCheck(c, f.flag, n); err != nil {
				return usageError(name, "%v", err)
			}
		}
	}
	switch {
	case !cfg.Broadcast && len(groups) == 0:
		return usageError(name, "--no-broadcast leaves nothing to relay: add --group")
	case cfg.Window <= 0:
		return usageError(name, "%s: must be above 0", flagVal(c, "window", cfg.Window))
	}
	for _, g := range groups {
		if g.Is6() {
			cfg.Network = "udp6"
		}
	}
	if cfg.Network == "udp6" && cfg.Broadcast {
		return usageError(name, "IPv6 groups need --no-broadcast (IPv6 has no broadcast; run a second relay for IPv4)")
	}
	if c.IsSet("ttl") {
		if err := inRange(c, "ttl", c.Int("ttl"), 1, 255); err != nil {
			return usageError(name, "%v", err)
		}
		cfg.TTL = c.Int("ttl")
	}
	quiet, asJSON := c.Bool("quiet"), c.Bool("json")
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)

	r, err := relay.New(cfg)
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	defer r.Close()
	what := []string{}
	if cfg.Broadcast {
		what = append(what, "broadcasts")
	}
	for _, m := range r.Memberships() {
		what = append(what, m.String())
	}
	if asJSON {
		stdout.JSON(map[string]any{"type": "relaying", "port": port, "from": cfg.From, "to": cfg.To, "what": what})
	} else {
		stderr.Printf("%s: relaying %s on port %d from %s to %s", name, strings.Join(what, ", "), port,
			strings.Join(cfg.From, ","), strings.Join(cfg.To, ","))
	}

	// Interfaces that go down or away while the relay runs are left out
	// (and said so); when back, they are relayed from and to again.
	var names []string
	for _, n := range append(slices.Clone(cfg.From), cfg.To...) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	stopFollow, err := followIfaces(name, names, stderr, func(ch broadcast.IfChange) {
		joined, err := r.Refresh(ch.Name)
		if err != nil {
			stderr.Printf("%s: warning: interface %s: %s", name, ch.Name, explained(err))
		}
		for _, m := range joined {
			stderr.Printf("%s: joined %s again", name, m)
		}
	})
	if err != nil {
		return failure(name, "following interfaces: %s", explained(err))
	}
	defer stopFollow()

	ctx := c.Context
	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	err = r.Run(ctx, func(ev relay.Event) {
		if quiet && !slices.ContainsFunc(ev.Out, func(r broadcast.Result) bool { return r.Err != nil }) {
			return // --quiet still reports send failures
		}
		reportRelay(stdout, ev, asJSON)
	})
	stopFollow() // nothing said after the summary
	st := r.Stats()
	if asJSON {
		stdout.JSON(map[string]any{"type": "summary", "received": st.Received, "relayed": st.Relayed,
			"dropped": st.Dropped, "loops": st.Loops, "send_errors": st.SendErrors})
	} else {
		stderr.Printf("%s: %d received, %d relayed, %d dropped (%d loops), %d send errors",
			name, st.Received, st.Relayed, st.Dropped, st.Loops, st.SendErrors)
	}
	if err != nil && !errors.Is(err, ctx.Err()) {
		return failure(name, "%s", explained(err))
	}
	return nil
}

func reportRelay(stdout *out, ev relay.Event, asJSON bool) {
	var outs, errs []string
	for _, o := range ev.Out {
		if o.Err != nil {
			errs = append(errs, explained(o.Err))
		} else {
			outs = append(outs, fmt.Sprintf("%s (%s)", o.Iface.Name, o.To.Addr()))
		}
	}
	if asJSON {
		j := relayOut{Type: "relay", TS: ev.Time.Format(time.RFC3339Nano), Src: addrText(ev.Src.Addr()), Sport: ev.Src.Port(), Dst: addrText(ev.Dst.Addr()), Dport: ev.Dst.Port(),
			IfName: ev.IfName, Kind: ev.Kind.String(), Len: ev.Size, Action: "relayed", Reason: ev.Dropped, Out: outs, Errors: errs}
		if ev.Dropped != "" {
			j.Action = "dropped"
		}
		stdout.JSON(j)
		return
	}
	head := fmt.Sprintf("%s %s > %s %s %s len %d", tsText(ev.Time), ev.Src, ev.Dst, ev.Kind, ev.IfName, ev.Size)
	if ev.Dropped != "" {
		stdout.Printf("%s dropped: %s", head, ev.Dropped)
		return
	}
	line := head + " relayed to " + strings.Join(outs, ", ")
	for _, e := range errs {
		line += "\n  FAIL " + e
	}
	stdout.Printf("%s", line)
}
