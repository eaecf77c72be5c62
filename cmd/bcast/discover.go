package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/urfave/cli/v2"
)

const discoverDescription = `Find the instances of a service announced with bcast announce (or the
broadcast/discovery Go package), and follow them as they come, change and go.

   bcast discover
   bcast discover --service printer --timeout 3s
   bcast discover --service printer --json
   bcast discover --network udp6                      (multicast ff02::8000:6278 on every link)
   bcast discover --dest 127.255.255.255:62278        (programs on this host, over loopback)

One line per event: found, updated (addresses, port or key/value pairs
changed) or lost (said goodbye, or was not heard within its TTL). With
--timeout, discover stops after that long and exits 3 when nothing was found.`

const announceDescription = `Announce an instance of a service until Ctrl-C (or --timeout), answering
queries from bcast discover; on exit it says goodbye, so browsers drop it at
once.

   bcast announce --service printer --instance office-1 --port 631 --text model=LX-9
   bcast announce --service game --port 27015 --interval 2s
   bcast announce --service demo --dest 127.255.255.255:62278`

// linkFlags are the flags both discovery commands share: where messages go.
func linkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "network", Value: "udp4", Usage: "`NET`: udp4 or udp6"},
		&cli.StringFlag{Name: "transport", Value: "auto", Usage: "`HOW`: auto (broadcast on udp4, multicast on udp6), broadcast or multicast"},
		&cli.UintFlag{Name: "discovery-port", Value: discovery.DefaultPort, Usage: "the discovery `PORT`"},
		&cli.StringFlag{Name: "discovery-group", Usage: "the multicast group `G` (default 239.255.62.78 or ff02::8000:6278)"},
		&cli.StringSliceFlag{Name: "iface", Aliases: []string{"i"}, Usage: "only interface `NAME` (repeatable)"},
		&cli.StringSliceFlag{Name: "dest", Usage: "send to `ADDR:PORT` instead of broadcast or multicast (repeatable)"},
		&cli.StringFlag{Name: "service", Usage: "the service `NAME`"},
		&cli.DurationFlag{Name: "timeout", Aliases: []string{"w"}, Usage: "stop after `D` (0: until Ctrl-C)"},
		protoFlag(),
		jsonFlag(),
	}
}

func parseLink(c *cli.Context) (discovery.Link, error) {
	l := discovery.Link{Network: c.String("network"), Interfaces: c.StringSlice("iface")}
	for _, n := range l.Interfaces {
		if err := ifaceCheck(c, "iface", n); err != nil {
			return l, err
		}
	}
	if l.Network != "udp4" && l.Network != "udp6" {
		return l, fmt.Errorf("--network %q: want udp4 or udp6", l.Network)
	}
	switch c.String("transport") {
	case "auto":
		l.Transport = discovery.Auto
	case "broadcast":
		l.Transport = discovery.Broadcast
	case "multicast":
		l.Transport = discovery.Multicast
	default:
		return l, fmt.Errorf("--transport %q: want auto, broadcast or multicast", c.String("transport"))
	}
	if l.Network == "udp6" && l.Transport == discovery.Broadcast {
		return l, errors.New("--transport broadcast needs --network udp4: IPv6 has no broadcast")
	}
	p := c.Uint("discovery-port")
	if p == 0 || p > 65535 {
		return l, fmt.Errorf("--discovery-port %d: must be 1 to 65535", p)
	}
	l.Port = uint16(p)
	if g := c.String("discovery-group"); g != "" {
		a, err := netip.ParseAddr(g)
		if err != nil || !a.IsMulticast() {
			return l, fmt.Errorf("--discovery-group %q: not a multicast address", g)
		}
		l.Group = a
	}
	for _, d := range c.StringSlice("dest") {
		ap, err := parseEndpoint(c, "dest", d, false)
		if err != nil {
			return l, err
		}
		l.Destinations = append(l.Destinations, ap)
	}
	return l, nil
}

func discoverCommand() *cli.Command {
	flags := append(linkFlags(),
		&cli.IntFlag{Name: "max-peers", Value: discovery.DefaultMaxPeers, Usage: "keep at most `N` peers (present, or lost and not yet printed); new ones beyond are dropped and counted"},
		&cli.StringFlag{Name: "to", Aliases: []string{"t"}, Usage: "--proto ssdp: search one device by unicast M-SEARCH to `HOST:PORT`"},
	)
	return &cli.Command{
		Name:        "discover",
		Usage:       "list the instances of a service as they come and go",
		UsageText:   "bcast discover [SERVICE | --service SERVICE] [--proto bcast|mdns|ssdp] [--timeout D] [--json] [options]",
		Description: discoverDescription,
		Flags:       flags,
		Action:      runDiscover,
	}
}

// peerOut is a "peer" line of --json. Text holds the values that are
// UTF-8, TextBase64 the others (standard base64): each key is in one of
// them, so a consumer gets every byte back.
type peerOut struct {
	Type       string            `json:"type"`
	Event      string            `json:"event"`
	TS         string            `json:"ts"`
	Service    string            `json:"service"`
	Instance   string            `json:"instance"`
	Port       uint16            `json:"port"`
	Addrs      []string          `json:"addrs"`
	Interfaces []string          `json:"interfaces"`
	Src        string            `json:"src"`
	Sport      uint16            `json:"sport"`
	Text       map[string]string `json:"text,omitempty"`
	TextBase64 map[string]string `json:"text_base64,omitempty"`
	Local      bool              `json:"local"`
	Goodbye    bool              `json:"goodbye,omitempty"`
}

// discoverSummary is the last line of discover --json.
type discoverSummary struct {
	Type      string `json:"type"`
	Peers     int    `json:"peers"`
	Found     int    `json:"found"`
	Full      uint64 `json:"full"`
	MaxPeers  int    `json:"max_peers"`
	Received  uint64 `json:"received"`
	Foreign   uint64 `json:"foreign"`
	Version   uint64 `json:"version"`
	TooLarge  uint64 `json:"too_large"`
	Malformed uint64 `json:"malformed"`
	Ignored   uint64 `json:"ignored"`
}

func runDiscover(c *cli.Context) error {
	const name = "bcast discover"
	proto, err := protoOf(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	if err := onlyFor(c, proto, map[string]string{"to": protoSSDP, "transport": protoBcast, "discovery-port": protoBcast,
		"discovery-group": protoBcast, "dest": protoBcast}); err != nil {
		return usageError(name, "%v", err)
	}
	if c.Int("max-peers") < 1 {
		return usageError(name, "--max-peers %d: must be at least 1", c.Int("max-peers"))
	}
	switch proto {
	case protoSSDP:
		return runDiscoverSSDP(c, name)
	case protoMDNS:
		return runDiscoverMDNS(c, name)
	}
	service, err := serviceArg(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	link, err := parseLink(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	maxPeers := c.Int("max-peers")
	if maxPeers < 1 {
		return usageError(name, "--max-peers %d: must be at least 1", maxPeers)
	}
	b, err := discovery.Browse(discovery.BrowserConfig{Service: service, Link: link, MaxPeers: maxPeers})
	if err != nil {
		return failure(name, "%s", explained(err))
	}
	defer b.Close()
	asJSON := c.Bool("json")
	stdout, stderr := newOut(c.App.Writer), newOut(c.App.ErrWriter)
	found := 0
	// The summary says what was dropped: peers beyond --max-peers, and
	// datagrams that were not discovery messages of this version.
	defer func() {
		st := b.Stats()
		sum := discoverSummary{Type: "summary", Peers: len(b.Peers()), Found: found, Full: st.Full, MaxPeers: maxPeers,
			Received: st.Received, Foreign: st.Foreign, Version: st.Version, TooLarge: st.TooLarge,
			Malformed: st.Malformed, Ignored: st.Ignored}
		if asJSON {
			writeJSON(stdout, sum)
			return
		}
		line := fmt.Sprintf("%s: %s now, %d found; %d datagrams read", name, plural(uint64(sum.Peers), "peer"), found, st.Received)
		if st.Full > 0 {
			line += fmt.Sprintf("; %d new peers dropped, the table being full (--max-peers %d)", st.Full, maxPeers)
		}
		if bad := st.Foreign + st.Version + st.TooLarge + st.Malformed; bad > 0 {
			line += fmt.Sprintf("; %d dropped (%d not discovery, %d other version, %d too large, %d malformed)",
				bad, st.Foreign, st.Version, st.TooLarge, st.Malformed)
		}
		stderr.Printf("%s", line)
	}()
	if !asJSON {
		what := service
		if what == "" {
			what = "every service"
		}
		stderr.Printf("%s: looking for %s", name, what)
	}
	return followEvents(c, name, b.Events(), &found,
		func(ev discovery.Event) bool { return ev.Kind == discovery.Found },
		func(ev discovery.Event) { printPeer(stdout, ev, asJSON) },
		func() error { return failure(name, "browser stopped: %v", b.Stats().LastError) })
}

func printPeer(o *out, ev discovery.Event, asJSON bool) {
	p := ev.Peer
	addrs := make([]string, 0, len(p.Addrs))
	for _, a := range p.Addrs {
		addrs = append(addrs, a.String())
	}
	if asJSON {
		ifs := p.Interfaces
		if ifs == nil {
			ifs = []string{}
		}
		po := peerOut{Type: "peer", Event: strings.ToLower(ev.Kind.String()), TS: time.Now().Format(time.RFC3339Nano),
			Service: p.Service, Instance: p.Instance, Port: p.Port, Addrs: addrs, Interfaces: ifs,
			Src: addrText(p.Src.Addr()), Sport: p.Src.Port(), Local: p.Local, Goodbye: ev.Goodbye}
		for k, v := range p.Text {
			if utf8.ValidString(v) {
				if po.Text == nil {
					po.Text = map[string]string{}
				}
				po.Text[k] = v
				continue
			}
			if po.TextBase64 == nil {
				po.TextBase64 = map[string]string{}
			}
			po.TextBase64[k] = base64.StdEncoding.EncodeToString([]byte(v))
		}
		writeJSON(o, po)
		return
	}
	line := fmt.Sprintf("%s %-7s %s/%s port %d %s", tsText(time.Now()), strings.ToLower(ev.Kind.String()), p.Service, safeText(p.Instance), p.Port, strings.Join(addrs, " "))
	if len(p.Interfaces) > 0 {
		line += " on " + strings.Join(p.Interfaces, ",")
	}
	keys := make([]string, 0, len(p.Text))
	for k := range p.Text {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line += fmt.Sprintf(" %s=%s", safeText(k), strconv.Quote(p.Text[k]))
	}
	if ev.Goodbye {
		line += " (goodbye)"
	}
	o.Printf("%s", line)
}

// safeText returns s as is when every character of it is printable and
// none is a space, quote or backslash, and otherwise quoted with Go
// escapes (strconv.Quote): control and format characters (a right-to-left
// override, U+202E, would reorder the rest of the line on a terminal),
// invalid UTF-8 and spaces never reach the terminal raw, and a quoted
// name cannot be mistaken for a plain one.
func safeText(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || r == ' ' || r == '"' || r == '\\' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// writeJSON writes v as one line, with every character that is not
// printable outside ASCII written as a \u escape. encoding/json already
// escapes ASCII control characters, U+2028 and U+2029, and replaces
// invalid UTF-8; the escapes of format characters such as U+202E keep a
// terminal that shows the line from reordering it, and decode to the same
// string.
func writeJSON(o *out, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs and maps of strings are written
	}
	o.Write(append(escapeJSON(b), '\n'))
}

func escapeJSON(b []byte) []byte {
	clean := true
	for _, r := range string(b) {
		if r >= utf8.RuneSelf && !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	e := make([]byte, 0, len(b)+32)
	for _, r := range string(b) {
		if r < utf8.RuneSelf || unicode.IsPrint(r) {
			e = utf8.AppendRune(e, r)
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			e = fmt.Appendf(e, `\u%04x\u%04x`, r1, r2)
			continue
		}
		e = fmt.Appendf(e, `\u%04x`, r)
	}
	return e
}

func announceCommand() *cli.Command {
	flags := append(linkFlags(),
		&cli.StringFlag{Name: "instance", Usage: "the instance `ID`, stable across restarts (default: random)"},
		&cli.UintFlag{Name: "port", Aliases: []string{"p"}, Usage: "the `PORT` the service listens on"},
		&cli.StringSliceFlag{Name: "text", Usage: "a `KEY=VALUE` pair for browsers (repeatable)"},
		&cli.DurationFlag{Name: "interval", Value: discovery.DefaultInterval, Usage: "time between announcements (`D`)"},
		&cli.DurationFlag{Name: "lifetime", Usage: "how long browsers keep the instance without news (`D`; default 3 intervals; ssdp: max-age, default 30m)"},
		&cli.StringFlag{Name: "path", Usage: "--proto ssdp: the `PATH` of the description document in LOCATION (default /description.xml)"},
		&cli.BoolFlag{Name: "describe", Usage: "--proto ssdp: serve a minimal description document at LOCATION"},
		&cli.StringFlag{Name: "host", Usage: "--proto mdns: the host `NAME` (NAME.local) the service's addresses go under (default: this host's name)"},
	)
	return &cli.Command{
		Name:        "announce",
		Usage:       "announce a service instance on the LAN",
		UsageText:   "bcast announce --service NAME [--proto bcast|mdns|ssdp] [--instance ID] [--port PORT] [--text K=V]... [options]",
		Description: announceDescription,
		Flags:       flags,
		Action:      runAnnounce,
	}
}

func runAnnounce(c *cli.Context) error {
	const name = "bcast announce"
	proto, err := protoOf(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	if err := onlyFor(c, proto, map[string]string{"path": protoSSDP, "describe": protoSSDP, "host": protoMDNS, "interval": protoBcast, "transport": protoBcast, "discovery-port": protoBcast, "discovery-group": protoBcast,
		"dest": protoBcast, "text": protoBcast + "," + protoMDNS}); err != nil {
		return usageError(name, "%v", err)
	}
	switch proto {
	case protoSSDP:
		return runAnnounceSSDP(c, name)
	case protoMDNS:
		return runAnnounceMDNS(c, name)
	}
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q", c.Args().First())
	}
	link, err := parseLink(c)
	if err != nil {
		return usageError(name, "%v", err)
	}
	if c.String("service") == "" {
		return usageError(name, "--service is required")
	}
	port := c.Uint("port")
	if port > 65535 {
		return usageError(name, "--port %d: must be 0 to 65535", port)
	}
	text := map[string]string{}
	for _, kv := range c.StringSlice("text") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError(name, "--text %q: want KEY=VALUE", kv)
		}
		text[k] = v
	}
	if c.Duration("interval") <= 0 {
		return usageError(name, "%s: must be above 0", flagVal(c, "interval", c.Duration("interval")))
	}
	cfg := discovery.AnnouncerConfig{Service: c.String("service"), Instance: c.String("instance"), Port: uint16(port),
		Text: text, Interval: c.Duration("interval"), TTL: c.Duration("lifetime"), Link: link}
	if len(text) == 0 {
		cfg.Text = nil
	}
	a, err := discovery.Announce(cfg)
	if err != nil {
		var me *discovery.MessageError
		if errors.As(err, &me) {
			return usageError(name, "%v", err)
		}
		return failure(name, "%s", explained(err))
	}
	asJSON := c.Bool("json")
	o := newOut(c.App.Writer)
	if asJSON {
		writeJSON(o, map[string]any{"type": "announcing", "service": a.Service(), "instance": a.Instance(), "port": port})
	} else {
		o.Printf("announcing %s/%s port %d every %v (Ctrl-C says goodbye)", a.Service(), safeText(a.Instance()), port, cfg.Interval)
	}
	ctxDone := c.Context.Done()
	if d := c.Duration("timeout"); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctxDone:
		case <-t.C:
		}
	} else {
		<-ctxDone
	}
	closeErr := a.Close()
	st := a.Stats()
	if asJSON {
		writeJSON(o, map[string]any{"type": "summary", "sent": st.Sent, "send_errors": st.SendErrors, "queries": st.Queries,
			"answered": st.Answered, "group_answers": st.GroupAnswers, "coalesced": st.Coalesced,
			"refused": st.Refused, "off_link": st.OffLink, "limited": st.Limited, "oversize": st.Oversize,
			"conflicts": st.Conflicts})
	} else {
		fmt.Fprintf(c.App.ErrWriter, "%s: goodbye sent; %d messages sent, %d send errors, %d queries: %d answers (%d to the group), %d covered by a group answer, %d refused (%d off-link, %d over the rate, %d oversize); %d conflicts\n",
			name, st.Sent, st.SendErrors, st.Queries, st.Answered, st.GroupAnswers, st.Coalesced,
			st.Refused, st.OffLink, st.Limited, st.Oversize, st.Conflicts)
	}
	if closeErr != nil {
		return failure(name, "%s", explained(closeErr))
	}
	return nil
}
