package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/bcastdev/bcast/multicast"
	"github.com/urfave/cli/v2"
)

// Flag constructors shared by the commands. Each command gets fresh flag
// values (cli keeps parsed values in the flag), with its own usage text.

func ifaceFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "iface", Aliases: []string{"i"}, Usage: usage}
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print one JSON object per line"}
}

func quietFlag(usage string) cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: usage}
}

func ttlFlag(usage string) cli.Flag {
	return &cli.IntFlag{Name: "ttl", Usage: usage, DefaultText: "the kernel's"}
}

func groupFlag(usage string) cli.Flag {
	return &cli.StringSliceFlag{Name: "group", Aliases: []string{"g"}, Usage: usage}
}

// parseEndpoint reads the value of an address flag: "HOST:PORT",
// "[IPV6%ZONE]:PORT", ":PORT" or "PORT" (the wildcard address when
// allowWild), with HOST a literal address or a name resolved now. Something
// that looks like an IP literal and does not parse is an error with a hint,
// never a DNS query. Errors name the flag (or its environment variable).
func parseEndpoint(c *cli.Context, flag, s string, allowWild bool) (netip.AddrPort, error) {
	ref := flagVal(c, flag, s)
	if s == "" {
		return netip.AddrPort{}, fmt.Errorf("%s is required", flagRef(c, flag))
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if allowWild && onlyDigits(s) {
		port, err := parsePort(s)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%s: %v", ref, err)
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), port), nil
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s: %s", ref, splitProblem(s, err))
	}
	port, err := parsePort(portText)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s: %v", ref, err)
	}
	switch {
	case host == "" && !allowWild:
		return netip.AddrPort{}, fmt.Errorf("%s: no address before the port", ref)
	case host == "":
		return netip.AddrPortFrom(netip.IPv4Unspecified(), port), nil
	case host == "*":
		return netip.AddrPort{}, fmt.Errorf("%s: * is not an address; leave the address out (:%d) for every address", ref, port)
	case cmdline.LooksLiteral(host):
		if p := cmdline.LiteralProblem(host); p != "" {
			return netip.AddrPort{}, fmt.Errorf("%s: %s", ref, p)
		}
		a, _ := netip.ParseAddr(host)
		if a.Is4In6() && a.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("%s: an IPv4-mapped address takes no zone", ref)
		}
		return netip.AddrPortFrom(a, port), nil
	}
	rctx, cancel := context.WithTimeout(c.Context, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s: cannot resolve %q: %s", ref, host, resolveProblem(err))
	}
	pick := addrs[0]
	for _, a := range addrs {
		if a.Unmap().Is4() { // an IPv4 answer first: broadcast is IPv4
			pick = a
			break
		}
	}
	return netip.AddrPortFrom(pick.Unmap(), port), nil
}

func onlyDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// parsePort reads a port number, 0 to 65535.
func parsePort(s string) (uint16, error) {
	if !onlyDigits(s) {
		if s == "" {
			return 0, errors.New("no port after the colon")
		}
		return 0, fmt.Errorf("port %s is not a number", cmdline.Quote(s))
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %s is out of range (0 to 65535)", s)
	}
	return uint16(n), nil
}

// splitProblem says why s is not HOST:PORT, in words.
func splitProblem(s string, err error) string {
	switch {
	case strings.Count(s, ":") > 1 && !strings.Contains(s, "["):
		i := strings.LastIndex(s, ":")
		if _, err := netip.ParseAddr(s[:i]); err == nil {
			return fmt.Sprintf("an IPv6 address with a port goes in brackets: [%s]%s", s[:i], s[i:])
		}
		return "too many colons; want ADDR:PORT ([ADDR]:PORT for IPv6)"
	case !strings.Contains(s, ":"):
		return "no port; want ADDR:PORT ([ADDR]:PORT for IPv6)"
	}
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return ae.Err + "; want ADDR:PORT ([ADDR]:PORT for IPv6)"
	}
	return "want ADDR:PORT ([ADDR]:PORT for IPv6)"
}

// resolveProblem is the resolver's error without the parts that repeat the
// name or name the resolver's internals.
func resolveProblem(err error) string {
	var de *net.DNSError
	switch {
	case err == nil:
		return "no address"
	case errors.As(err, &de) && de.IsNotFound:
		return "no such host"
	case errors.As(err, &de) && de.IsTimeout:
		return "the name server did not answer"
	case errors.As(err, &de):
		return de.Err
	}
	return err.Error()
}

// parseGroups reads every --group value (each may hold several, comma- or
// space-separated, as BCAST_GROUP does; SSM groups are SOURCE,GROUP, so the
// list is split on spaces and on commas between groups).
func parseGroups(c *cli.Context, values []string) ([]multicast.Group, error) {
	var out []multicast.Group
	for _, v := range values {
		items := splitGroups(v)
		if len(items) == 0 {
			return nil, fmt.Errorf("%s: no group in it; want a group such as 239.1.2.3, ff02::fb%%eth0 or SOURCE,GROUP", flagVal(c, "group", v))
		}
		for _, item := range items {
			item = zoneFromIface(c, item)
			g, err := parseGroup(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", flagVal(c, "group", item), err)
			}
			if z, iface := g.Addr.Zone(), c.String("iface"); z != "" && iface != "" && z != iface {
				return nil, fmt.Errorf("%s names interface %s but %s is %s", flagVal(c, "group", item), z, flagRef(c, "iface"), iface)
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// zoneFromIface gives a link-scoped group without a zone the interface of
// --iface as its zone: --iface already says which link is meant, as it
// does for send's destination.
func zoneFromIface(c *cli.Context, item string) string {
	iface := c.String("iface")
	if iface == "" || strings.Contains(item, "%") {
		return item
	}
	last := item[strings.LastIndex(item, ",")+1:]
	if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil && linkScoped(a) {
		return item + "%" + iface
	}
	return item
}

// parseGroup is multicast.ParseGroup with its errors in a user's words: an
// address that does not parse gets the hint of an address flag, and the
// package's "multicast: group ...:" prefix, which repeats what the caller
// says, goes.
func parseGroup(item string) (multicast.Group, error) {
	g, err := multicast.ParseGroup(item)
	if err == nil {
		return g, nil
	}
	if a, aerr := netip.ParseAddr(strings.TrimSpace(item)); aerr == nil && linkScoped(a) && a.Zone() == "" {
		// As send says of such a destination: --iface is the zone too.
		return g, fmt.Errorf("%s exists once per link: name the interface with --iface NAME or as a zone (%s%%NAME); %s", a, a, linkCandidates(true))
	}
	for _, part := range strings.Split(item, ",") {
		part = strings.TrimSpace(part)
		if _, perr := netip.ParseAddr(part); perr != nil && part != "" {
			if p := cmdline.LiteralProblem(part); cmdline.LooksLiteral(part) && p != "" {
				if part == strings.TrimSpace(item) {
					return g, errors.New(p) // the caller names it
				}
				return g, fmt.Errorf("%s: %s", cmdline.Quote(part), p)
			}
			return g, fmt.Errorf("%s is not an IP address; want a group such as 239.1.2.3, ff02::fb%%eth0 or SOURCE,GROUP", cmdline.Quote(part))
		}
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return g, ue.Unwrap()
	}
	return g, err
}

// splitGroups splits "239.1.1.1,10.0.0.1,232.1.1.1 ff02::fb%eth0" into
// groups: a comma joins a source to the group after it only when the part
// before it is not itself multicast.
func splitGroups(v string) []string {
	var out []string
	for _, field := range strings.Fields(v) {
		parts := strings.Split(field, ",")
		for i := 0; i < len(parts); i++ {
			p := parts[i]
			if p == "" {
				continue
			}
			if a, err := netip.ParseAddr(p); err == nil && !a.IsMulticast() && i+1 < len(parts) {
				p += "," + parts[i+1] // SOURCE,GROUP
				i++
			}
			out = append(out, p)
		}
	}
	return out
}

// linkScoped reports whether a exists once per link, so that a datagram to
// it needs an interface: an IPv6 link-local address or an interface- or
// link-local scope IPv6 group.
func linkScoped(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast())
}

// destIface settles the interface of a destination given by --flag and
// the --iface flag: the zone of the address and --iface must agree, either
// one names an interface that exists, and a link-scoped destination gets
// the interface as its zone. Without either, a link-scoped destination is
// a usage error listing the interfaces it could mean: the routing table
// would otherwise pick one without a word.
func destIface(c *cli.Context, flag string, to netip.AddrPort, iface string) (netip.AddrPort, string, error) {
	a := to.Addr()
	if z := a.Zone(); z != "" {
		if iface != "" && iface != z {
			return to, "", fmt.Errorf("%s names interface %s but %s is %s", flagVal(c, flag, c.String(flag)), z, flagRef(c, "iface"), iface)
		}
		if err := cmdline.CheckInterface(flagVal(c, flag, c.String(flag)), z); err != nil {
			return to, "", err
		}
		return to, z, nil
	}
	if iface != "" {
		if err := ifaceCheck(c, "iface", iface); err != nil {
			return to, "", err
		}
		if linkScoped(a) {
			to = netip.AddrPortFrom(a.WithZone(iface), to.Port())
		}
		return to, iface, nil
	}
	if linkScoped(a) {
		return to, "", fmt.Errorf("%s: %s exists once per link: name the interface with --iface NAME or as a zone ([%s%%NAME]:%d); %s",
			flagVal(c, flag, c.String(flag)), a, a, to.Port(), linkCandidates(a.IsMulticast()))
	}
	return to, "", nil
}

// linkCandidates lists the interfaces a link-scoped destination could
// mean: those that are up and do IPv6 (and multicast, for a group).
func linkCandidates(group bool) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return cmdline.InterfaceList()
	}
	var names []string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || (group && ifi.Flags&net.FlagMulticast == 0) {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsLinkLocalUnicast() {
				names = append(names, ifi.Name)
				break
			}
		}
	}
	if len(names) == 0 {
		return "no interface here has an IPv6 link-local address (" + cmdline.InterfaceList() + ")"
	}
	return "it could be " + strings.Join(names, ", ")
}

// literalHint is "; " and why s, which looks like an IP literal, is not
// one, or "".
func literalHint(s string) string {
	if p := cmdline.LiteralProblem(s); cmdline.LooksLiteral(s) && p != "" {
		return ": " + p
	}
	return ""
}

// maxRecvBuffer is the largest SO_RCVBUF the kernel takes: it doubles the
// value into an int, so it caps a request at INT_MAX/2. A larger number
// would wrap on its way into the 32-bit option.
const maxRecvBuffer = math.MaxInt32 / 2

// listWords joins "a", "a and b", "a, b and c".
func listWords(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}
