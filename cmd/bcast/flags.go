package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bcastdev/bcast/multicast"
	"github.com/urfave/cli/v2"
)

// Flag constructors shared by the commands. Each command gets fresh flag
// values (cli keeps parsed values in the flag), with its own usage text.

func ifaceFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "iface", Aliases: []string{"i"}, EnvVars: []string{envIface}, Usage: usage}
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", EnvVars: []string{envJSON}, Usage: "print one JSON object per line"}
}

func quietFlag(usage string) cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: usage}
}

func ttlFlag(usage string) cli.Flag {
	return &cli.IntFlag{Name: "ttl", EnvVars: []string{envTTL}, Usage: usage, DefaultText: "the kernel's"}
}

func groupFlag(usage string) cli.Flag {
	return &cli.StringSliceFlag{Name: "group", Aliases: []string{"g"}, EnvVars: []string{envGroup}, Usage: usage}
}

// parseEndpoint reads the value of an address flag: "HOST:PORT",
// "[IPV6%ZONE]:PORT", ":PORT" or "PORT" (the wildcard address when
// allowWild), with HOST a literal address or a name resolved now. Errors name
// the flag.
func parseEndpoint(ctx context.Context, flag, s string, allowWild bool) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, fmt.Errorf("--%s is required", flag)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		if allowWild {
			if _, perr := strconv.ParseUint(s, 10, 16); perr == nil {
				host, portText, err = "", s, nil
			}
		}
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("--%s %q: want ADDR:PORT ([ADDR]:PORT for IPv6): %v", flag, s, errText(err))
		}
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--%s %q: port %q is not a number from 0 to 65535", flag, s, portText)
	}
	if host == "" {
		if !allowWild {
			return netip.AddrPort{}, fmt.Errorf("--%s %q: no address", flag, s)
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, uint16(port)), nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("--%s %q: cannot resolve %q: %v", flag, s, host, errText(err))
	}
	pick := addrs[0]
	for _, a := range addrs {
		if a.Unmap().Is4() { // an IPv4 answer first: broadcast is IPv4
			pick = a
			break
		}
	}
	return netip.AddrPortFrom(pick.Unmap(), uint16(port)), nil
}

func errText(err error) string {
	var ae *net.AddrError
	switch {
	case err == nil:
		return "no address"
	case errors.As(err, &ae):
		return ae.Err
	}
	return err.Error()
}

// parseGroups reads every --group value (each may hold several, comma- or
// space-separated, as BCAST_GROUP does; SSM groups are SOURCE,GROUP, so the
// list is split on spaces and on commas between groups).
func parseGroups(values []string) ([]multicast.Group, error) {
	var out []multicast.Group
	for _, v := range values {
		for _, item := range splitGroups(v) {
			g, err := multicast.ParseGroup(item)
			if err != nil {
				return nil, fmt.Errorf("--group %q: %v", item, err)
			}
			out = append(out, g)
		}
	}
	return out, nil
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

// checkRange validates an integer flag.
func checkRange(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("--%s %d: must be %d to %d", flag, v, lo, hi)
	}
	return nil
}
