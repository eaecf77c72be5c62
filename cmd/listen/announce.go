package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/bcastdev/bcast/internal/daemon"
	"github.com/urfave/cli/v2"
)

const catAnnounce = "Announce (--mode announce)"

var announceFlags = []cli.Flag{
	&cli.StringFlag{Name: "proto", Category: catAnnounce, Value: "bcast", Usage: "`PROTOCOL`: bcast (bcast's own discovery) or mdns (mDNS/DNS-SD, which avahi and Bonjour browse; --service is then a type such as _echo._tcp)"},
	&cli.StringFlag{Name: "service", Category: catAnnounce, Usage: "announce service `NAME` on the LAN and answer discovery queries for it"},
	&cli.StringFlag{Name: "instance", Category: catAnnounce, Usage: "instance `ID` to announce (default: the host name; one longer than 63 bytes is cut to its first 54 and '-' and 8 hex digits of its SHA-256)"},
	&cli.StringSliceFlag{Name: "text", Category: catAnnounce, Usage: "announce the pair `KEY=VALUE` (repeatable)"},
	&cli.UintFlag{Name: "discovery-port", Category: catAnnounce, Value: discovery.DefaultPort, Usage: "discovery messages travel to UDP `PORT`"},
	&cli.StringSliceFlag{Name: "discovery-dest", Category: catAnnounce, Usage: "send discovery messages to `ADDR` (IP:PORT) instead of broadcasting (repeatable)"},
	&cli.StringSliceFlag{Name: "discovery-iface", Category: catAnnounce, Usage: "take part in discovery on interface `NAME` only (repeatable)"},
	&cli.StringSliceFlag{Name: "discovery-to", Hidden: true, Usage: "old name of --discovery-dest"},
	&cli.StringSliceFlag{Name: "discovery-interface", Hidden: true, Usage: "old name of --discovery-iface"},
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
	switch p := c.String("proto"); p {
	case "bcast":
	case "mdns":
		return parseAnnounceMDNS(c, cfg)
	default:
		return nil, fmt.Errorf("--proto %q: want bcast or mdns", p)
	}
	fromHost := false
	if cfg.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--instance not given and no host name to use: %w", err)
		}
		cfg.Instance, fromHost = instanceFromHost(host), true
	}
	var err error
	if cfg.Text, err = parseText(c); err != nil {
		return nil, err
	}
	probe := discovery.Message{Type: discovery.TypeAnnounce, TTL: 1, Service: cfg.Service, Instance: cfg.Instance, Text: cfg.Text}
	if err := probe.Validate(); err != nil {
		if fromHost {
			return nil, fmt.Errorf("--service %q with the host name %q as instance: %w; give --instance", cfg.Service, cfg.Instance, err)
		}
		return nil, fmt.Errorf("--service %q --instance %q: %w", cfg.Service, cfg.Instance, err)
	}
	port := c.Uint("discovery-port")
	if port == 0 || port > 65535 {
		return nil, fmt.Errorf("--discovery-port %d: want 1-65535", port)
	}
	cfg.Link.Port = uint16(port)
	for _, text := range append(c.StringSlice("discovery-dest"), c.StringSlice("discovery-to")...) {
		ap, err := netip.ParseAddrPort(text)
		if err != nil {
			return nil, fmt.Errorf("--discovery-dest %q: want IP:PORT", text)
		}
		cfg.Link.Destinations = append(cfg.Link.Destinations, ap)
	}
	cfg.Link.Interfaces = append(c.StringSlice("discovery-iface"), c.StringSlice("discovery-interface")...)
	for _, n := range cfg.Link.Interfaces {
		if err := cmdline.CheckInterface("--discovery-iface", n); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// parseAnnounceMDNS is parseAnnounce for --proto mdns: the service is a
// DNS-SD type, the instance the name people see (the host name by
// default), and the discovery link flags of bcast's own protocol do not
// apply.
func parseAnnounceMDNS(c *cli.Context, cfg *discovery.AnnouncerConfig) (*discovery.AnnouncerConfig, error) {
	cfg.Protocol = discovery.MDNS
	for _, name := range []string{"discovery-port", "discovery-dest", "discovery-to"} {
		if c.IsSet(name) {
			return nil, fmt.Errorf("--%s is for --proto bcast; mDNS always speaks on port 5353 to its groups", name)
		}
	}
	if cfg.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--instance not given and no host name to use: %w", err)
		}
		cfg.Instance, _, _ = strings.Cut(host, ".")
	}
	var err error
	if cfg.Text, err = parseText(c); err != nil {
		return nil, err
	}
	cfg.Link.Interfaces = append(c.StringSlice("discovery-iface"), c.StringSlice("discovery-interface")...)
	for _, n := range cfg.Link.Interfaces {
		if err := cmdline.CheckInterface("--discovery-iface", n); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// parseText reads the --text KEY=VALUE pairs; nil when there are none.
func parseText(c *cli.Context) (map[string]string, error) {
	var text map[string]string
	for _, kv := range c.StringSlice("text") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--text %q: want KEY=VALUE", kv)
		}
		if text == nil {
			text = map[string]string{}
		}
		if _, dup := text[k]; dup {
			return nil, fmt.Errorf("--text %q: key %q given twice", kv, k)
		}
		text[k] = v
	}
	return text, nil
}

// instanceFromHost makes the default instance id of a host name. Linux
// allows 64 bytes, the wire 63 (discovery.MaxNameLen): a longer name is
// cut to its first 54 bytes (at a character boundary) and given '-' and
// the first 8 hex digits of its SHA-256, so that the id is the same at
// every start, still reads as the host's, and two long names that differ
// only at the end stay apart.
func instanceFromHost(host string) string {
	if len(host) <= discovery.MaxNameLen {
		return host
	}
	sum := sha256.Sum256([]byte(host))
	cut := 54
	for cut > 0 && !utf8.RuneStart(host[cut]) {
		cut--
	}
	return host[:cut] + "-" + hex.EncodeToString(sum[:4])
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

// statsEvery is how often announce mode looks at the answer counters and
// logs what was refused since it last did, if anything was.
const statsEvery = time.Minute

// startAnnouncer announces cfg until ctx ends: the Goodbye goes out as
// soon as the shutdown starts, so that browsers stop sending clients while
// the last ones finish. The returned function waits for it and is safe to
// call in any case.
func startAnnouncer(ctx context.Context, cfg discovery.AnnouncerConfig, log *slog.Logger) (func(), error) {
	a, err := discovery.Announce(cfg)
	if err != nil {
		return nil, err
	}
	if host, _ := os.Hostname(); cfg.Instance != host && host != "" && instanceFromHost(host) == cfg.Instance {
		log.Info("the host name is longer than an instance id may be; announcing a shortened one",
			"host", host, "instance", cfg.Instance, "max_bytes", discovery.MaxNameLen)
	}
	if cfg.Protocol == discovery.MDNS {
		log.Info("announcing", "proto", "mdns", "service", a.Service(), "instance", a.Instance(), "port", cfg.Port)
	} else {
		log.Info("announcing", "proto", "bcast", "service", a.Service(), "instance", a.Instance(), "port", cfg.Port, "discovery_port", cfg.Link.Port)
	}
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchRefusals(a, log, stopWatch, statsEvery)
	}()
	var once sync.Once
	goodbye := func() {
		once.Do(func() {
			close(stopWatch)
			<-watched
			if err := a.Close(); err != nil {
				log.Warn("saying goodbye", "service", a.Service(), "err", err)
			}
			st := a.Stats()
			log.Info("announcer stopped", append([]any{"service", a.Service(), "sent", st.Sent}, answerAttrs(st)...)...)
		})
	}
	stop := context.AfterFunc(ctx, goodbye)
	return func() {
		stop()
		goodbye()
	}, nil
}

// answerAttrs are the counters of queries and what became of them.
func answerAttrs(st discovery.Stats) []any {
	return []any{"queries", st.Queries, "answered", st.Answered, "group_answers", st.GroupAnswers,
		"coalesced", st.Coalesced, "refused", st.Refused, "off_link", st.OffLink, "limited", st.Limited,
		"oversize", st.Oversize, "conflicts", st.Conflicts}
}

// watchRefusals logs, every interval until stop, the queries refused
// since the last look, when there were any: a forged or off-link flood
// shows in the log within a minute, at one line a minute.
func watchRefusals(a *discovery.Announcer, log *slog.Logger, stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	// A rename (mDNS, when another host holds the name) is logged within
	// a second: the name browsers see changed.
	names := time.NewTicker(time.Second)
	defer names.Stop()
	var last discovery.Stats
	name := a.Instance()
	for {
		select {
		case <-stop:
			return
		case <-names.C:
			if now := a.Instance(); now != name {
				log.Warn("instance renamed: its name is taken on the LAN", "service", a.Service(), "old", name, "instance", now)
				name = now
			}
			continue
		case <-t.C:
		}
		st := a.Stats()
		if st.Refused != last.Refused || st.Conflicts != last.Conflicts {
			log.Warn("discovery queries refused or instance id in conflict since the last report",
				append([]any{"service", a.Service(), "new_refused", st.Refused - last.Refused,
					"new_conflicts", st.Conflicts - last.Conflicts}, answerAttrs(st)...)...)
		}
		last = st
	}
}
