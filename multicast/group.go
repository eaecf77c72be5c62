package multicast

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// A Group is a multicast group to join: any-source (ASM), or
// source-specific (SSM) when Source is set.
type Group struct {
	// Addr is the group address. An IPv6 group of interface-local or
	// link-local scope (ffx1::/16, ffx2::/16, such as ff02::fb) exists once
	// per link, so it carries its interface as the zone: ff02::fb%eth0.
	// No other group has a zone.
	Addr netip.Addr

	// Source is the one sender an SSM group accepts; the zero Addr means any
	// source. It has the family of Addr and never a zone.
	Source netip.Addr
}

// ParseGroup reads a group as people write it:
//
//	239.1.2.3              IPv4 any-source
//	ff15::1234             IPv6 any-source (site scope)
//	ff02::fb%eth0          IPv6 link-local scope: the zone names the interface
//	10.0.0.1,232.1.1.1     source-specific: SOURCE,GROUP
//	2001:db8::1,ff3e::8000:1
//
// An IPv4-mapped IPv6 address (::ffff:239.1.2.3) is read as the IPv4 group.
// Errors name the text and what is wrong with it.
//
// The SSM ranges (232.0.0.0/8, ff3x::/32) are where source-specific groups
// belong, but a SOURCE,GROUP outside them is accepted: the kernel filters by
// source on any group, and some networks run SSM elsewhere. An any-source
// group inside the SSM ranges is accepted too, and works on one link, but
// routers ignore any-source joins there. InSSMRange lets a tool warn.
func ParseGroup(s string) (Group, error) {
	g, err := parseGroup(s)
	if err != nil {
		return Group{}, fmt.Errorf("multicast: group %q: %w", s, err)
	}
	return g, nil
}

func parseGroup(s string) (Group, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Group{}, errors.New("empty; want GROUP or SOURCE,GROUP")
	}
	var g Group
	srcText, groupText, ssm := strings.Cut(text, ",")
	if !ssm {
		groupText = text
	}
	if strings.Contains(groupText, ",") {
		return Group{}, errors.New("more than one comma; want GROUP or SOURCE,GROUP")
	}
	a, err := parseAddr(strings.TrimSpace(groupText))
	if err != nil {
		return Group{}, err
	}
	g.Addr = a
	if ssm {
		src, err := parseAddr(strings.TrimSpace(srcText))
		if err != nil {
			return Group{}, fmt.Errorf("source: %w", err)
		}
		g.Source = src
	}
	if err := g.check(); err != nil {
		return Group{}, err
	}
	if needsZone(g.Addr) && g.Addr.Zone() == "" {
		return Group{}, fmt.Errorf("%s is a %s scope group and needs its interface as a zone, e.g. %s%%eth0",
			g.Addr, scopeName(g.Addr), g.Addr)
	}
	return g, nil
}

// parseAddr parses one address, keeping the zone of an IPv4-mapped address
// from silently disappearing in Unmap.
func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("empty address")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("not an IP address: %w", err)
	}
	if a.Is4In6() && a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s: an IPv4-mapped address takes no zone", s)
	}
	return a.Unmap(), nil
}

// check reports what makes g unusable. A link-local scope group without a
// zone passes: Join and Leave apply it on each interface they pick.
func (g Group) check() error {
	a := g.Addr
	if !a.IsValid() {
		return errors.New("no group address")
	}
	if a.Is4In6() {
		return fmt.Errorf("%s: an IPv4-mapped group; use the IPv4 form %s", a, a.Unmap())
	}
	if !a.IsMulticast() {
		return fmt.Errorf("%s is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)", a)
	}
	if a.Zone() != "" && !needsZone(a) {
		return fmt.Errorf("%s: zone %q only belongs on an interface- or link-local scope IPv6 group (ffx1::, ffx2::); name the interface to join on instead",
			a, a.Zone())
	}
	if !g.Source.IsValid() {
		return nil
	}
	src := g.Source
	switch {
	case src.Is4In6():
		return fmt.Errorf("source %s: an IPv4-mapped source; use the IPv4 form %s", src, src.Unmap())
	case src.Zone() != "":
		return fmt.Errorf("source %s takes no zone; the group's zone or Join's interface picks the link", src)
	case src.Is4() != a.Is4():
		return fmt.Errorf("source %s is %s but group %s is %s", src, family(src), a, family(a))
	case src.IsMulticast():
		return fmt.Errorf("source %s is a multicast address; the source is the sender's unicast address", src)
	case src.IsUnspecified():
		return fmt.Errorf("source %s is the unspecified address; leave the source out for any-source", src)
	}
	return nil
}

// needsZone reports whether a is an IPv6 multicast group of interface-local
// or link-local scope (RFC 4291 section 2.7), which exists once per link.
func needsZone(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() || !a.IsMulticast() {
		return false
	}
	scope := a.As16()[1] & 0x0f
	return scope == 1 || scope == 2
}

func scopeName(a netip.Addr) string {
	if a.As16()[1]&0x0f == 1 {
		return "interface-local"
	}
	return "link-local"
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// String formats g as ParseGroup reads it: "239.1.2.3", "ff02::fb%eth0",
// "10.0.0.1,232.1.1.1". The zero Group is "".
func (g Group) String() string {
	if !g.Addr.IsValid() {
		return ""
	}
	if g.Source.IsValid() {
		return g.Source.String() + "," + g.Addr.String()
	}
	return g.Addr.String()
}

// IsSSM reports whether g is source-specific.
func (g Group) IsSSM() bool { return g.Source.IsValid() }

// Is6 reports whether g is an IPv6 group.
func (g Group) Is6() bool { return g.Addr.Is6() }

// InSSMRange reports whether the group address lies in the range reserved
// for source-specific multicast: 232.0.0.0/8 or ff3x::/32 (RFC 4607).
// ParseGroup does not require it; a tool may warn when IsSSM and InSSMRange
// disagree.
func (g Group) InSSMRange() bool {
	a := g.Addr
	if a.Is4() {
		return a.As4()[0] == 232
	}
	if !a.Is6() {
		return false
	}
	b := a.As16()
	return b[0] == 0xff && b[1]&0xf0 == 0x30 && b[2] == 0 && b[3] == 0
}

// zoned returns g with its address zoned to ifname when its scope asks for a
// zone; other groups are returned unchanged.
func (g Group) zoned(ifname string) Group {
	if needsZone(g.Addr) {
		g.Addr = g.Addr.WithZone(ifname)
	}
	return g
}
