package multicast

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// HostMembership is one group the host (the network namespace) is a member
// of on one interface, as the kernel lists it in /proc/net/igmp and
// /proc/net/igmp6. It includes the groups the kernel joins itself
// (224.0.0.1, ff02::1, the solicited-node groups).
type HostMembership struct {
	IfIndex int
	IfName  string
	Group   netip.Addr // an interface- or link-local scope IPv6 group carries IfName as its zone
	Users   int        // how many sockets (and kernel users) hold it
}

func (m HostMembership) String() string {
	return fmt.Sprintf("%s on %s (users %d)", m.Group.WithZone(""), m.IfName, m.Users)
}

// The files are read through /proc/thread-self, not /proc/net (a link to
// /proc/self/net, the namespace of the process's main thread), so that a
// goroutine locked to a thread in another network namespace sees that
// namespace.
const (
	igmpPath  = "/proc/thread-self/net/igmp"
	igmp6Path = "/proc/thread-self/net/igmp6"
)

// HostMemberships lists the multicast memberships of the calling thread's
// network namespace, IPv4 first. Without IPv6 in the kernel there is no
// igmp6 file, and no IPv6 memberships.
func HostMemberships() ([]HostMembership, error) {
	v4, err := parseFile(igmpPath, ParseIGMP)
	if err != nil {
		return nil, err
	}
	v6, err := parseFile(igmp6Path, ParseIGMP6)
	if errors.Is(err, fs.ErrNotExist) {
		return v4, nil
	}
	if err != nil {
		return nil, err
	}
	return append(v4, v6...), nil
}

func parseFile(path string, parse func(io.Reader) ([]HostMembership, error)) ([]HostMembership, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("multicast: %w", err)
	}
	defer f.Close()
	ms, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%w (reading %s)", err, path)
	}
	return ms, nil
}

// ParseIGMP reads the format of /proc/net/igmp: a header line, then for
// each interface a line "Idx\tDevice: Count Querier" followed by one
// tab-indented line per group, "Group Users Timer Reporter", the group in
// hex as the kernel holds it in memory (so 224.0.0.1 is 010000E0 on a
// little-endian machine). Errors name the line.
func ParseIGMP(r io.Reader) ([]HostMembership, error) {
	sc := bufio.NewScanner(r)
	var ms []HostMembership
	var dev *HostMembership // the interface the group lines belong to
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			if !strings.HasPrefix(line, "Idx") {
				return nil, lineErr("igmp", n, line, errors.New("want the header line starting with Idx"))
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] != '\t' {
			d, err := parseIGMPDevice(line)
			if err != nil {
				return nil, lineErr("igmp", n, line, err)
			}
			dev = &d
			continue
		}
		if dev == nil {
			return nil, lineErr("igmp", n, line, errors.New("group line before any interface line"))
		}
		m, err := parseIGMPGroup(line, *dev)
		if err != nil {
			return nil, lineErr("igmp", n, line, err)
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("multicast: igmp line %d: %w", n+1, err)
	}
	if n == 0 {
		return nil, errors.New("multicast: igmp: empty; want at least the header line")
	}
	return ms, nil
}

// parseIGMPDevice reads "1\tlo        :     1      V3". The name is padded
// to 10 columns, or runs into the colon when longer; names never hold a
// colon or white space.
func parseIGMPDevice(line string) (HostMembership, error) {
	idxText, rest, ok := strings.Cut(line, "\t")
	if !ok {
		return HostMembership{}, errors.New("want INDEX<tab>DEVICE: COUNT QUERIER")
	}
	idx, err := parseIndex(idxText)
	if err != nil {
		return HostMembership{}, err
	}
	nameText, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return HostMembership{}, errors.New("no colon after the interface name")
	}
	name := strings.TrimSpace(nameText)
	if err := checkIfName(name); err != nil {
		return HostMembership{}, err
	}
	f := strings.Fields(rest)
	if len(f) != 2 {
		return HostMembership{}, fmt.Errorf("want COUNT QUERIER after the colon, got %d fields", len(f))
	}
	if _, err := parseCount(f[0], "group count"); err != nil {
		return HostMembership{}, err
	}
	return HostMembership{IfIndex: idx, IfName: name}, nil
}

// parseIGMPGroup reads "\t\t\t\t010000E0     1 0:00000000\t\t0".
func parseIGMPGroup(line string, dev HostMembership) (HostMembership, error) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return HostMembership{}, fmt.Errorf("want GROUP USERS TIMER REPORTER, got %d fields", len(f))
	}
	if len(f[0]) != 8 {
		return HostMembership{}, fmt.Errorf("group %q: want 8 hex digits", f[0])
	}
	v, err := strconv.ParseUint(f[0], 16, 32)
	if err != nil {
		return HostMembership{}, fmt.Errorf("group %q: want 8 hex digits", f[0])
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	grp := netip.AddrFrom4(b)
	if !grp.IsMulticast() {
		return HostMembership{}, fmt.Errorf("group %q is %s, not a multicast address", f[0], grp)
	}
	users, err := parseCount(f[1], "users")
	if err != nil {
		return HostMembership{}, err
	}
	running, expires, ok := strings.Cut(f[2], ":")
	if !ok || (running != "0" && running != "1") || !isHex(expires) {
		return HostMembership{}, fmt.Errorf("timer %q: want RUNNING:HEX", f[2])
	}
	if _, err := parseCount(f[3], "reporter"); err != nil {
		return HostMembership{}, err
	}
	dev.Group, dev.Users = grp, users
	return dev, nil
}

// ParseIGMP6 reads the format of /proc/net/igmp6: one line per group,
// "Idx Device Group Users Flags Timer", the group as 32 hex digits.
// Interface- and link-local scope groups get the interface name as zone.
// Errors name the line.
func ParseIGMP6(r io.Reader) ([]HostMembership, error) {
	sc := bufio.NewScanner(r)
	var ms []HostMembership
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseIGMP6Line(line)
		if err != nil {
			return nil, lineErr("igmp6", n, line, err)
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("multicast: igmp6 line %d: %w", n+1, err)
	}
	return ms, nil
}

// parseIGMP6Line reads "1    lo              ff020000000000000000000000000001     1 0000000C 0".
func parseIGMP6Line(line string) (HostMembership, error) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return HostMembership{}, fmt.Errorf("want INDEX DEVICE GROUP USERS FLAGS TIMER, got %d fields", len(f))
	}
	idx, err := parseIndex(f[0])
	if err != nil {
		return HostMembership{}, err
	}
	if err := checkIfName(f[1]); err != nil {
		return HostMembership{}, err
	}
	var b [16]byte
	if len(f[2]) != 32 {
		return HostMembership{}, fmt.Errorf("group %q: want 32 hex digits", f[2])
	}
	if _, err := hex.Decode(b[:], []byte(f[2])); err != nil {
		return HostMembership{}, fmt.Errorf("group %q: want 32 hex digits", f[2])
	}
	grp := netip.AddrFrom16(b)
	if !grp.IsMulticast() {
		return HostMembership{}, fmt.Errorf("group %q is %s, not a multicast address", f[2], grp)
	}
	if needsZone(grp) {
		grp = grp.WithZone(f[1])
	}
	users, err := parseCount(f[3], "users")
	if err != nil {
		return HostMembership{}, err
	}
	if len(f[4]) > 8 || !isHex(f[4]) {
		return HostMembership{}, fmt.Errorf("flags %q: want up to 8 hex digits", f[4])
	}
	if _, err := strconv.ParseInt(f[5], 10, 64); err != nil {
		return HostMembership{}, fmt.Errorf("timer %q: want a number", f[5])
	}
	return HostMembership{IfIndex: idx, IfName: f[1], Group: grp, Users: users}, nil
}

func lineErr(file string, n int, line string, err error) error {
	const max = 120
	if len(line) > max {
		line = line[:max] + "..."
	}
	return fmt.Errorf("multicast: %s line %d %q: %w", file, n, line, err)
}

func parseIndex(s string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("interface index %q: want a positive number", s)
	}
	return int(v), nil
}

func parseCount(s, what string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s %q: want a number from 0", what, s)
	}
	return int(v), nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkIfName applies the kernel's rules for interface names
// (dev_valid_name): 1 to 15 bytes, not "." or "..", no '/', ':' or white
// space.
func checkIfName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." ||
		strings.ContainsAny(name, "/:") || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return fmt.Errorf("interface name %q is not one the kernel allows", name)
	}
	return nil
}
