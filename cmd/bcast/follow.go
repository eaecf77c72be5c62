package main

import (
	"fmt"
	"slices"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/multicast"
	"github.com/urfave/cli/v2"
)

// followIfaces is how a long-running command (listen, echo, relay,
// discover, announce) lives with interfaces that go down, go away or come
// back while it runs: it says so on stderr, keeps running, and calls
// changed (from the watch's goroutine) after saying it, for every change,
// so that the command does what it needs to receive or send there again
// once the interface is up (join its groups anew, follow a new index).
// changed may be nil. stop ends the watch; after it returns nothing more
// is printed.
func followIfaces(name string, names []string, stderr *out, changed func(broadcast.IfChange)) (stop func(), err error) {
	if len(names) == 0 {
		return func() {}, nil
	}
	f, err := broadcast.FollowInterfaces(names, func(c broadcast.IfChange) {
		if text := ifChangeText(c); text != "" {
			stderr.Printf("%s: %s", name, text)
		}
		if changed != nil {
			changed(c)
		}
	})
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ifChangeText says what a change means for the command, or "" when it
// means nothing to say (addresses that changed on an interface that stays
// up).
func ifChangeText(c broadcast.IfChange) string {
	switch {
	case c.To == broadcast.IfGone:
		return fmt.Sprintf("interface %s went away; carrying on, and on it again when it is back", c.Name)
	case c.To == broadcast.IfDown && c.From == broadcast.IfGone:
		return fmt.Sprintf("interface %s is back (index %d), but down; waiting for it to come up", c.Name, c.Index)
	case c.To == broadcast.IfDown:
		return fmt.Sprintf("interface %s is down; waiting for it to come up", c.Name)
	case c.To == broadcast.IfNoCarrier && c.From != broadcast.IfNoCarrier:
		return fmt.Sprintf("interface %s has no carrier (cable, or the other end, down); waiting", c.Name)
	case c.To == broadcast.IfUp && (c.From == broadcast.IfGone || c.Recreated()):
		return fmt.Sprintf("interface %s is back (index %d) and up: on it again", c.Name, c.Index)
	case c.To == broadcast.IfUp && c.From != broadcast.IfUp:
		return fmt.Sprintf("interface %s is up again", c.Name)
	}
	return ""
}

// followReceiver keeps a receiver of listen or echo working across its
// interfaces' changes: the --iface it filters on (with --bind-device, is
// bound to) and every interface a group was joined on. When one is up
// again, the receiver follows a new index and the groups are joined there
// again (a deleted interface takes its memberships with it; one that was
// only down keeps them, and joining again is then a no-op).
func followReceiver(name string, r *broadcast.Receiver, cfg broadcast.ReceiverConfig, groups []multicast.Group, joined []multicast.Membership, stderr *out) (stop func(), err error) {
	var names []string
	if cfg.Iface != "" {
		names = append(names, cfg.Iface)
	}
	for _, m := range joined {
		if !slices.Contains(names, m.IfName) {
			names = append(names, m.IfName)
		}
	}
	return followIfaces(name, names, stderr, func(c broadcast.IfChange) {
		if c.To != broadcast.IfUp {
			return
		}
		// The receiver names arrival interfaces from a view it refreshes
		// at most once a second; a new one is named at once.
		if err := r.Refresh(); err != nil {
			stderr.Printf("%s: warning: listing interfaces: %s", name, explained(err))
		}
		if c.Name == cfg.Iface {
			if _, err := r.Reattach(); err != nil {
				stderr.Printf("%s: warning: interface %s: %s", name, c.Name, explained(err))
			}
		}
		for _, g := range groups {
			if z := g.Addr.Zone(); z != "" && z != c.Name {
				continue
			}
			if cfg.Iface == "" && !slices.ContainsFunc(joined, func(m multicast.Membership) bool {
				return m.IfName == c.Name && m.Group.Addr.WithZone("") == g.Addr.WithZone("")
			}) {
				continue // the group was never joined there
			}
			ms, _, err := multicast.Join(r.Socket(), g, c.Name)
			if err != nil {
				stderr.Printf("%s: warning: joining %s on %s again: %s", name, g, c.Name, explained(err))
			}
			for _, m := range ms {
				stderr.Printf("%s: joined %s again", name, m)
			}
		}
	})
}

// followLinkIfaces gives discover and announce, whose discovery engine
// lists interfaces anew for every message it sends and joins groups on
// new ones itself, what the other long-running commands say: the --iface
// interfaces that go down, go away or come back, on stderr. It wraps the
// command's action, so that the command's own file keeps to discovery.
func followLinkIfaces(cmd *cli.Command) {
	action := cmd.Action
	name := "bcast " + cmd.Name
	cmd.Action = func(c *cli.Context) error {
		stop, err := followIfaces(name, c.StringSlice("iface"), newOut(c.App.ErrWriter), nil)
		if err != nil {
			return failure(name, "following interfaces: %s", explained(err))
		}
		defer stop()
		return action(c)
	}
}
