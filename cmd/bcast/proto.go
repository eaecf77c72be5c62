package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/ssdp"
	"github.com/urfave/cli/v2"
)

// The discovery protocols discover and announce speak: bcast's own (the
// default), mDNS/DNS-SD and SSDP.
const (
	protoBcast = "bcast"
	protoMDNS  = "mdns"
	protoSSDP  = "ssdp"
)

func protoFlag() cli.Flag {
	return &cli.StringFlag{Name: "proto", Value: protoBcast, Usage: "the discovery `PROTOCOL`: bcast (bcast's own), mdns (mDNS/DNS-SD: avahi, Bonjour) or ssdp (UPnP)"}
}

// protoOf reads --proto.
func protoOf(c *cli.Context) (string, error) {
	switch p := c.String("proto"); p {
	case protoBcast, protoMDNS, protoSSDP:
		return p, nil
	default:
		return "", fmt.Errorf("%s: want bcast, mdns or ssdp", flagVal(c, "proto", p))
	}
}

// serviceArg is the service named as the argument or by --service, which
// mean the same; both at once must agree.
func serviceArg(c *cli.Context) (string, error) {
	svc := c.String("service")
	switch {
	case c.NArg() > 1:
		return "", fmt.Errorf("unexpected argument %q after the service", c.Args().Get(1))
	case c.NArg() == 1 && svc != "" && svc != c.Args().First():
		return "", fmt.Errorf("the service is %q as an argument and %q as --service: give it once", c.Args().First(), svc)
	case c.NArg() == 1:
		return c.Args().First(), nil
	}
	return svc, nil
}

// onlyFor refuses the flags of other protocols, so that a flag that would
// do nothing is said so.
func onlyFor(c *cli.Context, proto string, flags map[string]string) error {
	for name, p := range flags {
		if c.IsSet(name) && !strings.Contains(p, proto) {
			return fmt.Errorf("--%s goes with --proto %s", name, strings.ReplaceAll(p, ",", " or --proto "))
		}
	}
	return nil
}

// ssdpOut is a "peer" line of discover --proto ssdp --json; the names it
// shares with the other protocols mean the same.
type ssdpOut struct {
	Type       string   `json:"type"`
	Proto      string   `json:"proto"`
	Event      string   `json:"event"`
	TS         string   `json:"ts"`
	Service    string   `json:"service"`  // ST or NT
	Instance   string   `json:"instance"` // USN
	Location   string   `json:"location"`
	Server     string   `json:"server,omitempty"`
	MaxAge     float64  `json:"max_age_s"`
	BootID     int64    `json:"bootid"`
	ConfigID   int64    `json:"configid"`
	Interfaces []string `json:"interfaces"`
	Src        string   `json:"src"`
	Sport      uint16   `json:"sport"`
	Reason     string   `json:"reason,omitempty"`
}

func runDiscoverSSDP(c *cli.Context, name string) error {
	target, err := serviceArg(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	if target == "" {
		target = ssdp.All
	}
	cfg := ssdp.BrowseConfig{SearcherConfig: ssdp.SearcherConfig{Target: target, MaxEntries: c.Int("max-peers")},
		LinkConfig: ssdp.LinkConfig{Interfaces: c.StringSlice("iface")}}
	for _, n := range cfg.Interfaces {
		if err := ifaceCheck(c, "iface", n); err != nil {
			return usageError(name, "%v", err)
		}
	}
	if c.IsSet("network") {
		cfg.Network = c.String("network")
	}
	if to := c.String("to"); to != "" {
		ap, err := parseEndpoint(c, "to", to, false)
		if err != nil {
			return usageError(name, "%v", err)
		}
		cfg.Unicast = ap
	}
	// The engine checks the target and --network without a socket: a bad
	// one is the user's mistake (exit 2), not a failure to run.
	if _, err := ssdp.NewSearcher(cfg.SearcherConfig); err != nil {
		return usageError(name, "%s", ssdpProblem(c, err))
	}
	b, err := ssdp.Browse(cfg)
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	defer b.Close()
	asJSON := c.Bool("json")
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	if !asJSON {
		stderr.Printf("%s: searching for %s (SSDP)", name, target)
	}
	found := 0
	defer func() {
		st := b.Stats()
		if asJSON {
			writeJSON(stdout, map[string]any{"type": "summary", "proto": protoSSDP, "entries": len(b.Entries()), "found": found,
				"full": st.Full, "off_link": st.OffLink, "unsolicited": st.Unsolicited, "not_matching": st.NotMatching,
				"malformed": st.Malformed, "send_errors": st.SendErrors, "events_dropped": st.EventsDropped})
			return
		}
		stderr.Printf("%s: %s now, %d found; %d from off-link sources and %d unsolicited ignored, %d malformed, %d new beyond --max-peers",
			name, plural(uint64(len(b.Entries())), "advertisement"), found, st.OffLink, st.Unsolicited, st.Malformed, st.Full)
	}()
	return followEvents(c, name, b.Events(), &found,
		func(ev ssdp.Event) bool { return ev.Kind == ssdp.Found },
		func(ev ssdp.Event) { printSSDP(stdout, ev, asJSON) },
		func() error { return failure(name, "the browser stopped") })
}

func printSSDP(o *out, ev ssdp.Event, asJSON bool) {
	kind := strings.ToLower(ev.Kind.String())
	if asJSON {
		writeJSON(o, ssdpOut{Type: "peer", Proto: protoSSDP, Event: kind, TS: time.Now().Format(time.RFC3339Nano),
			Service: ev.Target, Instance: ev.USN, Location: ev.Location, Server: ev.Server, MaxAge: ev.MaxAge.Seconds(),
			BootID: ev.BootID, ConfigID: ev.ConfigID, Interfaces: []string{ev.IfName},
			Src: ev.Src.Addr().String(), Sport: ev.Src.Port(), Reason: ev.Reason})
		return
	}
	line := fmt.Sprintf("%s %-7s %s %s", tsText(time.Now()), kind, safeText(ev.Target), safeText(ev.USN))
	if ev.Location != "" {
		line += " location " + safeText(ev.Location)
	}
	if ev.Server != "" {
		line += " server " + safeText(ev.Server)
	}
	if ev.MaxAge > 0 {
		line += fmt.Sprintf(" max-age %ds", int(ev.MaxAge.Seconds()))
	}
	if ev.BootID >= 0 {
		line += fmt.Sprintf(" bootid %d", ev.BootID)
	}
	line += " on " + ev.IfName + " from " + ev.Src.String()
	if ev.Reason != "" {
		line += " (" + ev.Reason + ")"
	}
	o.Printf("%s", line)
}

func runAnnounceSSDP(c *cli.Context, name string) error {
	deviceType, err := serviceArg(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	if deviceType == "" {
		return usageError(name, "--service is required: the device type, e.g. urn:schemas-upnp-org:device:Basic:1")
	}
	port := c.Uint("port")
	if port == 0 || port > 65535 {
		return usageError(name, "--port %d: the HTTP port of the description (LOCATION), 1 to 65535", port)
	}
	uuid := c.String("instance")
	if uuid == "" {
		uuid = "uuid:" + rand.Text()
	}
	host, _ := os.Hostname()
	cfg := ssdp.AnnounceConfig{
		AdvertiserConfig: ssdp.AdvertiserConfig{
			Root: ssdp.Device{UUID: uuid, Type: deviceType, FriendlyName: "bcast on " + host},
			Port: uint16(port), Path: c.String("path"), MaxAge: c.Duration("lifetime"),
		},
		LinkConfig: ssdp.LinkConfig{Interfaces: c.StringSlice("iface")},
		Describe:   c.Bool("describe"),
	}
	if c.IsSet("network") {
		cfg.Network = c.String("network")
	}
	for _, n := range cfg.Interfaces {
		if err := ifaceCheck(c, "iface", n); err != nil {
			return usageError(name, "%v", err)
		}
	}
	if _, err := ssdp.NewAdvertiser(cfg.AdvertiserConfig); err != nil {
		return usageError(name, "%s", ssdpProblem(c, err))
	}
	a, err := ssdp.Announce(cfg)
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	asJSON := c.Bool("json")
	o := newOut(c.App.Writer)
	path := cfg.Path
	if path == "" {
		path = "/description.xml"
	}
	if asJSON {
		writeJSON(o, map[string]any{"type": "announcing", "proto": protoSSDP, "service": deviceType, "instance": uuid,
			"port": port, "path": path, "describe": cfg.Describe})
	} else {
		serving := "LOCATION points to your server"
		if cfg.Describe {
			serving = "bcast serves the description there"
		}
		o.Printf("announcing %s %s at http://ADDR:%d%s, ADDR each interface's own address; %s (Ctrl-C says ssdp:byebye)",
			deviceType, uuid, port, path, serving)
	}
	waitRun(c)
	closeErr := a.Close()
	st := a.Stats()
	if asJSON {
		writeJSON(o, map[string]any{"type": "summary", "proto": protoSSDP, "searches": st.Searches, "responses": st.Responses,
			"notifies": st.Notifies, "rate_limited": st.RateLimited, "off_link": st.OffLink, "send_errors": st.SendErrors})
	} else {
		fmt.Fprintf(c.App.ErrWriter, "%s: byebye sent; %d NOTIFYs, %d searches answered with %d responses; %d searches refused over the rate, %d from off-link sources; %d send errors\n",
			name, st.Notifies, st.Searches, st.Responses, st.RateLimited, st.OffLink, st.SendErrors)
	}
	if closeErr != nil {
		return failure(name, "%s", explained(closeErr))
	}
	return nil
}

// ssdpProblem words an SSDP configuration error for the command line.
func ssdpProblem(c *cli.Context, err error) string {
	msg := strings.TrimPrefix(err.Error(), "ssdp: ")
	if strings.HasPrefix(msg, "network ") {
		return flagVal(c, "network", c.String("network")) + ": want udp4 or udp6 (both when not given)"
	}
	return msg
}

// waitRun waits for Ctrl-C or --timeout.
func waitRun(c *cli.Context) {
	if d := c.Duration("timeout"); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-c.Context.Done():
		case <-t.C:
		}
		return
	}
	<-c.Context.Done()
}

// followEvents prints each event of a browser until Ctrl-C, the end of
// its events (stopped says why), or --timeout, which exits 3 when nothing
// was found; found counts the events isFound says are finds.
func followEvents[E any](c *cli.Context, name string, events <-chan E, found *int, isFound func(E) bool, print func(E), stopped func() error) error {
	var timeout <-chan time.Time
	if d := c.Duration("timeout"); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-c.Context.Done():
			return nil
		case <-timeout:
			if *found == 0 {
				return cli.Exit(fmt.Sprintf("%s: nothing found within %v", name, c.Duration("timeout")), exitTimeout)
			}
			return nil
		case ev, ok := <-events:
			if !ok {
				return stopped()
			}
			if isFound(ev) {
				*found++
			}
			print(ev)
		}
	}
}
