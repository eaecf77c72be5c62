package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bcastdev/bcast/broadcast/discovery/mdns"
	"github.com/urfave/cli/v2"
)

// mdnsLink reads --iface and --network for the mDNS commands: both IP
// families unless --network names one.
func mdnsLink(c *cli.Context) (mdns.LinkConfig, error) {
	l := mdns.LinkConfig{Interfaces: c.StringSlice("iface")}
	for _, n := range l.Interfaces {
		if err := ifaceCheck(c, "iface", n); err != nil {
			return l, err
		}
	}
	if c.IsSet("network") {
		switch n := c.String("network"); n {
		case "udp4", "udp6":
			l.Network = n
		default:
			return l, fmt.Errorf("%s: want udp4 or udp6 (both when not given)", flagVal(c, "network", n))
		}
	}
	return l, nil
}

// splitSubtype reads "_printer._sub._http._tcp" as the subtype _printer of
// _http._tcp, and anything else as a type.
func splitSubtype(service string) (typ, subtype string) {
	if sub, typ, ok := strings.Cut(service, "._sub."); ok {
		return typ, sub
	}
	return service, ""
}

// mdnsPeerOut is a "peer" line of discover --proto mdns --json; the names
// it shares with the other protocols mean the same. A TXT attribute with a
// value is a string in text (or text_base64, for one that is not UTF-8);
// one present without a value ("a boolean") is true in text.
type mdnsPeerOut struct {
	Type       string            `json:"type"`
	Proto      string            `json:"proto"`
	Event      string            `json:"event"`
	TS         string            `json:"ts"`
	Service    string            `json:"service"`
	Instance   string            `json:"instance,omitempty"`
	Name       string            `json:"name"`
	Host       string            `json:"host,omitempty"`
	Port       uint16            `json:"port,omitempty"`
	Addrs      []string          `json:"addrs"`
	Interfaces []string          `json:"interfaces"`
	Text       map[string]any    `json:"text,omitempty"`
	TextBase64 map[string]string `json:"text_base64,omitempty"`
}

func runDiscoverMDNS(c *cli.Context, name string) error {
	service, err := serviceArg(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	link, err := mdnsLink(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	cfg := mdns.BrowserConfig{LinkConfig: link}
	cfg.MaxInstances = c.Int("max-peers")
	b, err := mdns.NewBrowser(cfg)
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	defer b.Close()
	types := service == ""
	if types {
		_, err = b.BrowseTypes()
	} else {
		typ, sub := splitSubtype(service)
		_, err = b.Browse(typ, sub)
	}
	if err != nil {
		return usageError(name, "%v", strings.TrimPrefix(err.Error(), "mdns: "))
	}
	asJSON := c.Bool("json")
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	if !asJSON {
		what := service
		if types {
			what = "the service types on the LAN"
		}
		stderr.Printf("%s: looking for %s (mDNS)", name, what)
	}
	found := 0
	defer func() {
		st := b.Stats()
		if asJSON {
			writeJSON(stdout, map[string]any{"type": "summary", "proto": protoMDNS, "found": found,
				"queries_sent": st.QueriesSent, "off_link": st.OffLink, "bad_ttl": st.BadTTL, "malformed": st.Malformed,
				"cache_records": st.CacheRecords, "cache_dropped": st.CacheDropped, "instances_refused": st.InstancesRefused,
				"events_dropped": st.EventsDropped})
			return
		}
		stderr.Printf("%s: %d found; %d queries sent; ignored %d from off-link sources, %d with an IP TTL other than 255, %d malformed; %d instances over --max-peers",
			name, found, st.QueriesSent, st.OffLink, st.BadTTL, st.Malformed, st.InstancesRefused)
	}()
	return followEvents(c, name, b.Events(), &found,
		func(ev mdns.Event) bool { return ev.Kind == mdns.Found },
		func(ev mdns.Event) { printMDNS(stdout, ev, types, asJSON) },
		func() error { return failure(name, "the browser stopped") })
}

func printMDNS(o *out, ev mdns.Event, types, asJSON bool) {
	kind := strings.ToLower(ev.Kind.String())
	addrs := make([]string, 0, len(ev.Addrs))
	for _, a := range ev.Addrs {
		addrs = append(addrs, a.String())
	}
	if asJSON {
		po := mdnsPeerOut{Type: "peer", Proto: protoMDNS, Event: kind, TS: time.Now().Format(time.RFC3339Nano),
			Service: ev.Service, Instance: ev.Instance, Name: ev.Name, Host: ev.Host, Port: ev.Port,
			Addrs: addrs, Interfaces: []string{ev.IfName}}
		if types {
			po.Type = "service_type"
		}
		for _, it := range ev.Text {
			switch {
			case !it.HasValue:
				if po.Text == nil {
					po.Text = map[string]any{}
				}
				po.Text[it.Key] = true
			case utf8.Valid(it.Value):
				if po.Text == nil {
					po.Text = map[string]any{}
				}
				po.Text[it.Key] = string(it.Value)
			default:
				if po.TextBase64 == nil {
					po.TextBase64 = map[string]string{}
				}
				po.TextBase64[it.Key] = base64.StdEncoding.EncodeToString(it.Value)
			}
		}
		writeJSON(o, po)
		return
	}
	if types {
		o.Printf("%s %-7s type %s on %s", tsText(time.Now()), kind, safeText(ev.Service), ev.IfName)
		return
	}
	line := fmt.Sprintf("%s %-7s %s", tsText(time.Now()), kind, safeText(mdns.FormatInstanceName(ev.Instance, ev.Service)))
	if ev.Host != "" {
		line += fmt.Sprintf(" host %s port %d", safeText(ev.Host), ev.Port)
	}
	if len(addrs) > 0 {
		line += " " + strings.Join(addrs, " ")
	}
	line += " on " + ev.IfName
	for _, it := range ev.Text {
		if it.HasValue {
			line += fmt.Sprintf(" %s=%q", safeText(it.Key), it.Value)
		} else {
			line += " " + safeText(it.Key)
		}
	}
	o.Printf("%s", line)
}

func runAnnounceMDNS(c *cli.Context, name string) error {
	service, err := serviceArg(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	if service == "" {
		return usageError(name, "--service is required: the service type, e.g. _http._tcp")
	}
	typ, sub := splitSubtype(service)
	port := c.Uint("port")
	if port == 0 || port > 65535 {
		return usageError(name, "--port %d: the port the service listens on, 1 to 65535", port)
	}
	link, err := mdnsLink(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	host := c.String("host")
	instance := c.String("instance")
	if instance == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return usageError(name, "--instance not given and no host name to use")
		}
		instance, _, _ = strings.Cut(h, ".")
	}
	var text []mdns.TXTItem
	for _, kv := range c.StringSlice("text") {
		it, err := mdns.ParseTXTItem(kv)
		if err != nil {
			return usageError(name, "--text %q: %v", kv, strings.TrimPrefix(err.Error(), "mdns: "))
		}
		text = append(text, it)
	}
	svc := mdns.Service{Instance: instance, Type: typ, Port: uint16(port), Text: text}
	if sub != "" {
		svc.Subtypes = []string{sub}
	}
	s, err := mdns.NewServer(mdns.ServerConfig{ResponderConfig: mdns.ResponderConfig{Host: host}, LinkConfig: link})
	if err != nil {
		if errors.Is(err, mdns.ErrDotInLabel) {
			return usageError(name, "--host %s: %v", host, err)
		}
		return failure(name, "%s", explained(err))
	}
	id, err := s.Register(svc)
	if err != nil {
		s.Close()
		return usageError(name, "%v", strings.TrimPrefix(err.Error(), "mdns: "))
	}
	asJSON := c.Bool("json")
	o := newOut(c.App.Writer)
	if asJSON {
		writeJSON(o, map[string]any{"type": "announcing", "proto": protoMDNS, "service": typ, "instance": instance, "port": port})
	} else {
		o.Printf("announcing %s port %d (probing for the name; Ctrl-C says goodbye)", safeText(mdns.FormatInstanceName(instance, typ)), port)
	}
	ctx := c.Context
	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case ev := <-s.Events():
			printResponderEvent(o, ev, id, asJSON)
		}
	}
	final, _ := s.Name(id)
	closeErr := s.Close()
	st := s.Stats()
	if asJSON {
		writeJSON(o, map[string]any{"type": "summary", "proto": protoMDNS, "instance": final, "conflicts": st.Conflicts,
			"queries": st.Queries, "responses": st.ResponsesSent, "unicast_replies": st.UnicastReplies + st.LegacyReplies,
			"off_link": st.OffLink, "rate_limited": st.UnicastLimited})
	} else {
		fmt.Fprintf(c.App.ErrWriter, "%s: goodbye sent for %s; %d conflicts, %d queries, %d multicast responses and %d unicast replies; %d off-link and %d over the unicast rate refused\n",
			name, safeText(final), st.Conflicts, st.Queries, st.ResponsesSent, st.UnicastReplies+st.LegacyReplies, st.OffLink, st.UnicastLimited)
	}
	if closeErr != nil {
		return failure(name, "%s", explained(closeErr))
	}
	return nil
}

func printResponderEvent(o *out, ev mdns.ResponderEvent, id mdns.ServiceID, asJSON bool) {
	what := "service"
	if ev.Service != id {
		what = "host"
	}
	kind := strings.ToLower(ev.Kind.String())
	if asJSON {
		m := map[string]any{"type": kind, "proto": protoMDNS, "what": what, "name": ev.Name}
		if ev.OldName != "" {
			m["old_name"] = ev.OldName
		}
		writeJSON(o, m)
		return
	}
	switch ev.Kind {
	case mdns.Renamed:
		o.Printf("%s %s: %s is taken on the LAN; now %s", what, kind, safeText(ev.OldName), safeText(ev.Name))
	default:
		o.Printf("%s %s: %s", what, kind, safeText(ev.Name))
	}
}
