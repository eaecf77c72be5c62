package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/internal/daemon"
	"github.com/urfave/cli/v2"
)

const catAnnounce = "Announce (--mode announce)"

var announceFlags = []cli.Flag{
	&cli.StringFlag{Name: "service", Category: catAnnounce, Usage: "announce service `NAME` on the LAN and answer discovery queries for it"},
	&cli.StringFlag{Name: "instance", Category: catAnnounce, Usage: "instance `ID` to announce (default: the host name)"},
	&cli.StringSliceFlag{Name: "text", Category: catAnnounce, Usage: "announce the pair `KEY=VALUE` (repeatable)"},
	&cli.UintFlag{Name: "discovery-port", Category: catAnnounce, Value: discovery.DefaultPort, Usage: "discovery messages travel to UDP `PORT`"},
	&cli.StringSliceFlag{Name: "discovery-to", Category: catAnnounce, Usage: "send discovery messages to `ADDR` (IP:PORT) instead of broadcasting (repeatable)"},
	&cli.StringSliceFlag{Name: "discovery-interface", Category: catAnnounce, Usage: "take part in discovery on interface `NAME` only (repeatable)"},
}

// parseAnnounce checks the announce flags: with --mode announce it returns
// the configuration (its Port is filled in once the listeners are bound);
// in other modes the announce flags are refused.
func parseAnnounce(c *cli.Context, announce bool) (*discovery.AnnouncerConfig, error) {
	if !announce {
		for _, f := range announceFlags {
			if name := f.Names()[0]; c.IsSet(name) {
				return nil, fmt.Errorf("--%s is used only with --mode announce", name)
			}
		}
		return nil, nil
	}
	cfg := &discovery.AnnouncerConfig{Service: c.String("service"), Instance: c.String("instance")}
	if cfg.Service == "" {
		return nil, fmt.Errorf("--mode announce needs --service NAME")
	}
	if cfg.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--instance not given and no host name to use: %w", err)
		}
		cfg.Instance = host
	}
	for _, kv := range c.StringSlice("text") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--text %q: want KEY=VALUE", kv)
		}
		if cfg.Text == nil {
			cfg.Text = map[string]string{}
		}
		if _, dup := cfg.Text[k]; dup {
			return nil, fmt.Errorf("--text %q: key %q given twice", kv, k)
		}
		cfg.Text[k] = v
	}
	probe := discovery.Message{Type: discovery.TypeAnnounce, TTL: 1, Service: cfg.Service, Instance: cfg.Instance, Text: cfg.Text}
	if err := probe.Validate(); err != nil {
		return nil, fmt.Errorf("--service %q --instance %q: %w", cfg.Service, cfg.Instance, err)
	}
	port := c.Uint("discovery-port")
	if port == 0 || port > 65535 {
		return nil, fmt.Errorf("--discovery-port %d: want 1-65535", port)
	}
	cfg.Link.Port = uint16(port)
	for _, text := range c.StringSlice("discovery-to") {
		ap, err := netip.ParseAddrPort(text)
		if err != nil {
			return nil, fmt.Errorf("--discovery-to %q: want IP:PORT", text)
		}
		cfg.Link.Destinations = append(cfg.Link.Destinations, ap)
	}
	cfg.Link.Interfaces = c.StringSlice("discovery-interface")
	return cfg, nil
}

// servicePort is the port to announce: the first TCP listener's, else the
// first UDP listener's, else 0 (an announcement of presence only).
func servicePort(ls []*daemon.Listener) uint16 {
	for _, network := range []string{"tcp", "udp"} {
		for _, l := range ls {
			if l.Network() == network {
				return l.Addr().AddrPort.Port()
			}
		}
	}
	return 0
}

// startAnnouncer announces cfg until ctx ends: the Goodbye goes out as
// soon as the shutdown starts, so that browsers stop sending clients while
// the last ones finish. The returned function waits for it and is safe to
// call in any case.
func startAnnouncer(ctx context.Context, cfg discovery.AnnouncerConfig, log *slog.Logger) (func(), error) {
	a, err := discovery.Announce(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("announcing", "service", a.Service(), "instance", a.Instance(), "port", cfg.Port, "discovery_port", cfg.Link.Port)
	var once sync.Once
	goodbye := func() {
		once.Do(func() {
			if err := a.Close(); err != nil {
				log.Warn("saying goodbye", "service", a.Service(), "err", err)
			}
			st := a.Stats()
			log.Info("announcer stopped", "service", a.Service(), "sent", st.Sent, "queries", st.Queries, "answered", st.Answered, "refused", st.Refused)
		})
	}
	stop := context.AfterFunc(ctx, goodbye)
	return func() {
		stop()
		goodbye()
	}, nil
}
