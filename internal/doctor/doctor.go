// Package doctor explains why broadcast or multicast datagrams may not
// arrive: it reads the host's configuration (interfaces, routes, reverse-path
// filters, buffer limits, firewall, sockets on the port, group memberships)
// and reports each finding as OK, INFO, WARN or FAIL with the fix in words.
//
// It only reads: /proc and /sys, rtnetlink (the kernel's route lookup, as
// `ip route get` does) and, when they are installed, `nft list ruleset` or
// `iptables -S`, which need root to show anything. No datagram is sent.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/multicast"
)

// Level is how bad a finding is.
type Level int

const (
	OK   Level = iota // as it should be
	Info              // worth knowing, not a problem by itself
	Warn              // may keep datagrams from arriving
	Fail              // will keep datagrams from arriving
)

var levelNames = [...]string{"OK", "INFO", "WARN", "FAIL"}

func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "?"
}

// MarshalText makes a Level a JSON string.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// Finding is one result.
type Finding struct {
	Check   string `json:"check"`
	Level   Level  `json:"level"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Config says what to look at.
type Config struct {
	// Port is the UDP port datagrams are sent to; 0 skips the port checks.
	Port uint16
	// Group is the multicast group; the zero Group checks IPv4 multicast
	// in general (224.0.0.0/4) without group-specific checks.
	Group multicast.Group
	// Iface restricts the interface checks to one interface.
	Iface string

	// Proc and Sys are where procfs and sysfs are mounted ("/proc",
	// "/sys" when empty); tests point them at fixtures.
	Proc, Sys string
	// Run runs a read-only command (nft, iptables) and returns its
	// output; nil runs it with a 3-second limit when it is installed.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Route looks a route up; nil is RouteGet.
	Route func(dst netip.Addr, oif int) (Route, error)
	// Interfaces lists the interfaces that are up; nil is
	// broadcast.Interfaces.
	Interfaces func() ([]broadcast.Interface, error)
	// Memberships lists the host's groups; nil is
	// multicast.HostMemberships.
	Memberships func() ([]multicast.HostMembership, error)

	pid int // this process, whose own sockets on the mDNS and SSDP ports are no one else's; 0 is os.Getpid()
}

func (c *Config) defaults() {
	if c.Proc == "" {
		c.Proc = "/proc"
	}
	if c.Sys == "" {
		c.Sys = "/sys"
	}
	if c.Run == nil {
		c.Run = runCommand
	}
	if c.Route == nil {
		c.Route = RouteGet
	}
	if c.Interfaces == nil {
		c.Interfaces = broadcast.Interfaces
	}
	if c.Memberships == nil {
		c.Memberships = multicast.HostMemberships
	}
	if c.pid == 0 {
		c.pid = os.Getpid()
	}
}

// ErrNotInstalled is returned by Config.Run for a program not on PATH.
var ErrNotInstalled = errors.New("not installed")

func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, path, args...).CombinedOutput()
}

// Run makes every check and returns the findings in a stable order:
// interfaces, routes, reverse-path filter, buffers, port, the programs on
// the mDNS and SSDP ports, firewall, group.
func Run(ctx context.Context, cfg Config) []Finding {
	cfg.defaults()
	var out []Finding
	ifs, err := cfg.Interfaces()
	if err != nil {
		out = append(out, Finding{Check: "interfaces", Level: Fail, Message: "cannot list interfaces: " + err.Error()})
	}
	ifs, fs := selectInterfaces(cfg, ifs)
	out = append(out, fs...)
	out = append(out, checkInterfaces(cfg, ifs)...)
	out = append(out, checkRoutes(cfg, ifs)...)
	out = append(out, checkRPFilter(cfg, ifs)...)
	out = append(out, checkBuffers(cfg)...)
	socks, fs := readUDP(cfg, "port")
	switch {
	case cfg.Port != 0 && len(fs) > 0:
		out = append(out, fs...) // without the sockets, nothing to say of the port
	case cfg.Port != 0:
		out = append(out, checkPort(cfg, socks)...)
	}
	out = append(out, checkResponders(cfg, socks)...)
	out = append(out, checkFirewall(ctx, cfg)...)
	out = append(out, checkGroup(cfg, ifs)...)
	return out
}

// Worst is the highest level among fs (OK for none).
func Worst(fs []Finding) Level {
	w := OK
	for _, f := range fs {
		w = max(w, f.Level)
	}
	return w
}

// selectInterfaces keeps the interface asked about, or every non-loopback
// one (loopback only when there is nothing else).
func selectInterfaces(cfg Config, ifs []broadcast.Interface) ([]broadcast.Interface, []Finding) {
	if cfg.Iface != "" {
		for _, ifi := range ifs {
			if ifi.Name == cfg.Iface {
				return []broadcast.Interface{ifi}, nil
			}
		}
		ifi, err := broadcast.InterfaceByName(cfg.Iface)
		if err != nil {
			return nil, []Finding{{Check: "interfaces", Level: Fail, Message: err.Error(), Fix: "name an interface from `bcast ifaces`"}}
		}
		return nil, []Finding{{Check: "interfaces", Level: Fail,
			Message: ifi.Name + " is down: nothing is sent or received on it",
			Fix:     "ip link set " + ifi.Name + " up"}}
	}
	var sel []broadcast.Interface
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback == 0 {
			sel = append(sel, ifi)
		}
	}
	if len(sel) == 0 {
		return ifs, nil
	}
	return sel, nil
}

func (c Config) readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

func checkInterfaces(cfg Config, ifs []broadcast.Interface) []Finding {
	var out []Finding
	canBcast := 0
	for _, ifi := range ifs {
		if c, err := cfg.readTrim(filepath.Join(cfg.Sys, "class/net", ifi.Name, "carrier")); err == nil && c == "0" {
			out = append(out, Finding{Check: "interfaces", Level: Fail,
				Message: ifi.Name + " has no carrier: the cable is unplugged or the other end is down"})
			continue
		}
		var parts []string
		if ok, why := ifi.CanBroadcast(); ok {
			canBcast++
			var bs []string
			for _, a := range ifi.IPv4() {
				if a.Broadcast.IsValid() {
					bs = append(bs, a.Broadcast.String())
				}
			}
			parts = append(parts, "broadcast to "+strings.Join(bs, ", "))
		} else {
			parts = append(parts, "no broadcast ("+why+")")
		}
		level := OK
		fix := ""
		if ifi.Flags&net.FlagMulticast != 0 {
			parts = append(parts, "multicast")
		} else {
			parts = append(parts, "no MULTICAST flag")
			if cfg.Group.Addr.IsValid() {
				level = Warn
				if cfg.Iface != "" {
					level = Fail
				}
				fix = "ip link set " + ifi.Name + " multicast on"
			}
		}
		out = append(out, Finding{Check: "interfaces", Level: level, Message: ifi.Name + ": " + strings.Join(parts, ", "), Fix: fix})
		if cfg.Group.Is6() {
			if v, err := cfg.readTrim(filepath.Join(cfg.Proc, "sys/net/ipv6/conf", ifi.Name, "disable_ipv6")); err == nil && v == "1" {
				out = append(out, Finding{Check: "interfaces", Level: Fail,
					Message: "IPv6 is disabled on " + ifi.Name,
					Fix:     "sysctl -w net.ipv6.conf." + ifi.Name + ".disable_ipv6=0"})
			}
		}
	}
	if canBcast == 0 && len(ifs) > 0 && cfg.Iface == "" {
		out = append(out, Finding{Check: "interfaces", Level: Warn,
			Message: "no interface can send IPv4 broadcasts: only loopback (127.255.255.255) will work",
			Fix:     "bring up an interface with an IPv4 address and the BROADCAST flag"})
	}
	return out
}

func ifName(ifs []broadcast.Interface, index int) string {
	for _, ifi := range ifs {
		if ifi.Index == index {
			return ifi.Name
		}
	}
	if ifi, err := broadcast.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return "#" + strconv.Itoa(index)
}

func checkRoutes(cfg Config, ifs []broadcast.Interface) []Finding {
	oif := 0
	if cfg.Iface != "" {
		if len(ifs) == 0 {
			return nil // reported: the interface is missing or down
		}
		oif = ifs[0].Index
	}
	var out []Finding
	lookup := func(what string, dst netip.Addr, fixNoRoute string) {
		rt, err := cfg.Route(dst, oif)
		if err != nil {
			out = append(out, Finding{Check: "routes", Level: Warn,
				Message: fmt.Sprintf("no route for %s (%v): a send to it that names no interface fails with ENETUNREACH", what, err),
				Fix:     fixNoRoute})
			return
		}
		switch rt.Type {
		case "unicast", "broadcast", "multicast", "local":
		default:
			out = append(out, Finding{Check: "routes", Level: Fail,
				Message: fmt.Sprintf("the route for %s is of type %s: the kernel refuses to send there", what, rt.Type),
				Fix:     "remove the " + rt.Type + " route (ip route show table all)"})
			return
		}
		msg := fmt.Sprintf("%s leaves by %s", what, ifName(ifs, rt.OIF))
		if rt.PrefSrc.IsValid() {
			msg += " from " + rt.PrefSrc.String()
		}
		if rt.Gateway.IsValid() {
			msg += " (by the default route via " + rt.Gateway.String() + ")"
		}
		out = append(out, Finding{Check: "routes", Level: OK, Message: msg})
	}
	if cfg.Iface != "" {
		lookup("255.255.255.255 on "+cfg.Iface, broadcast.LimitedBroadcast(), "ip route add 255.255.255.255/32 dev "+cfg.Iface)
	} else {
		lookup("255.255.255.255", broadcast.LimitedBroadcast(),
			"bcast send --iface NAME or --all-interfaces (or: ip route add 255.255.255.255/32 dev NAME)")
		n := 0
		for _, ifi := range ifs {
			if ok, _ := ifi.CanBroadcast(); ok {
				n++
			}
		}
		if n > 1 {
			out = append(out, Finding{Check: "routes", Level: Info,
				Message: fmt.Sprintf("%d interfaces can broadcast, but a limited broadcast leaves by one only", n),
				Fix:     "bcast send --all-interfaces to reach every link"})
		}
	}
	g := cfg.Group.Addr.WithZone("")
	if !g.IsValid() {
		g = netip.MustParseAddr("239.255.255.250") // a typical group; any in 224.0.0.0/4 routes alike
	}
	dev := "NAME"
	if cfg.Iface != "" {
		dev = cfg.Iface
	}
	if g.Is4() {
		lookup("multicast "+g.String(), g, "bcast send --iface NAME, or: ip route add 224.0.0.0/4 dev "+dev)
	} else {
		lookup("multicast "+g.String(), g, "bcast send --iface NAME, or: ip -6 route add ff00::/8 dev "+dev+" table local")
	}
	return out
}

func checkRPFilter(cfg Config, ifs []broadcast.Interface) []Finding {
	read := func(name string) (int, bool) {
		v, err := cfg.readTrim(filepath.Join(cfg.Proc, "sys/net/ipv4/conf", name, "rp_filter"))
		if err != nil {
			return 0, false
		}
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	all, ok := read("all")
	if !ok {
		return []Finding{{Check: "rp_filter", Level: Info, Message: "cannot read net.ipv4.conf.all.rp_filter"}}
	}
	var out []Finding
	strict := 0
	for _, ifi := range ifs {
		v, ok := read(ifi.Name)
		if !ok {
			continue
		}
		eff := max(all, v) // the kernel uses the larger of "all" and the interface's
		if eff == 1 {
			strict++
			out = append(out, Finding{Check: "rp_filter", Level: Warn,
				Message: fmt.Sprintf("strict reverse-path filtering on %s (rp_filter %d, all %d): a datagram whose source would not be routed back out of %s is dropped without a trace (senders with link-local or unconfigured addresses, multi-homed hosts, relayed traffic)", ifi.Name, v, all, ifi.Name),
				Fix:     fmt.Sprintf("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.%s.rp_filter=2 (loose)", ifi.Name)})
		}
	}
	if strict == 0 {
		out = append(out, Finding{Check: "rp_filter", Level: OK, Message: fmt.Sprintf("no strict reverse-path filter (all=%d)", all)})
	}
	return out
}

func checkBuffers(cfg Config) []Finding {
	var out []Finding
	readInt := func(p string) (int64, bool) {
		v, err := cfg.readTrim(filepath.Join(cfg.Proc, p))
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	def, ok1 := readInt("sys/net/core/rmem_default")
	maxb, ok2 := readInt("sys/net/core/rmem_max")
	if ok1 && ok2 {
		// Each 1500-byte datagram costs about 2.3 KiB of buffer (sk_buff
		// truesize), and the kernel counts SO_RCVBUF doubled.
		msg := fmt.Sprintf("receive buffers: default %s (about %d full-size datagrams), at most %s by SO_RCVBUF",
			kib(def), def/2304, kib(maxb))
		if maxb < 1<<20 {
			out = append(out, Finding{Check: "buffers", Level: Warn, Message: msg + ": a burst larger than that is dropped",
				Fix: "sysctl -w net.core.rmem_max=8388608, then bcast listen --recv-buffer 8388608"})
		} else {
			out = append(out, Finding{Check: "buffers", Level: OK, Message: msg})
		}
	}
	if f, err := os.Open(filepath.Join(cfg.Proc, "net/snmp")); err == nil {
		snmp, err := ParseSNMP(f)
		f.Close()
		if err == nil {
			if n := snmp["Udp"]["RcvbufErrors"]; n > 0 {
				out = append(out, Finding{Check: "buffers", Level: Warn,
					Message: fmt.Sprintf("the kernel has dropped %d IPv4 UDP datagrams since boot because a socket's receive buffer was full (Udp RcvbufErrors)", n),
					Fix:     "read faster, or raise the buffer: bcast listen --recv-buffer, net.core.rmem_max"})
			}
			if n := snmp["Udp"]["InCsumErrors"]; n > 0 {
				out = append(out, Finding{Check: "buffers", Level: Warn,
					Message: fmt.Sprintf("%d IPv4 UDP datagrams arrived with a bad checksum (Udp InCsumErrors): a faulty link or NIC offload", n)})
			}
		}
	}
	if f, err := os.Open(filepath.Join(cfg.Proc, "net/snmp6")); err == nil {
		snmp6, err := ParseSNMP6(f)
		f.Close()
		if err == nil {
			if n := snmp6["Udp6RcvbufErrors"]; n > 0 {
				out = append(out, Finding{Check: "buffers", Level: Warn,
					Message: fmt.Sprintf("the kernel has dropped %d IPv6 UDP datagrams since boot because a socket's receive buffer was full (Udp6RcvbufErrors)", n),
					Fix:     "read faster, or raise the buffer: bcast listen --recv-buffer, net.core.rmem_max"})
			}
		}
	}
	return out
}

func kib(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func checkPort(cfg Config, all []UDPSocket) []Finding {
	var socks []UDPSocket
	for _, s := range all {
		if s.Local.Port() == cfg.Port {
			socks = append(socks, s)
		}
	}
	if len(socks) == 0 {
		// WARN, not FAIL: run as a pre-flight check before the receiver
		// starts, doctor must not fail for what is expected then.
		return []Finding{{Check: "port", Level: Warn,
			Message: fmt.Sprintf("no socket on this host is bound to udp port %d: datagrams to it are dropped until one is", cfg.Port),
			Fix:     fmt.Sprintf("start the receiver (bcast listen --listen :%d); before it starts, this is expected", cfg.Port)}}
	}
	inodes := make([]uint64, len(socks))
	for i, s := range socks {
		inodes[i] = s.Inode
	}
	owners := SocketOwners(cfg.Proc, inodes)
	var out []Finding
	for _, s := range socks {
		who := "an unknown process"
		if o, ok := owners[s.Inode]; ok {
			who = fmt.Sprintf("pid %d (%s)", o.PID, o.Comm)
		}
		msg := fmt.Sprintf("udp %s is held by %s, uid %d", s.Local, who, s.UID)
		level := Info
		fix := ""
		switch {
		case s.Local.Addr().IsUnspecified():
			msg += ": it gets a copy of every broadcast and multicast datagram to the port, but unicast datagrams go to one socket only"
			fix = "both programs need SO_REUSEPORT (bcast listen --reuse-port) to share the port"
		case s.State == 1:
			msg += fmt.Sprintf(", connected to %s", s.Remote)
		case s.Local.Addr().IsMulticast():
			msg += ": bound to the group's address, it gets that group's datagrams only"
		default:
			level = Warn
			msg += ": bound to a unicast address, it never sees broadcasts or multicast"
			fix = fmt.Sprintf("bind the wildcard address to receive them (bcast listen --listen :%d), with --iface to keep one interface's", cfg.Port)
		}
		if s.Drops > 0 {
			level = Warn
			msg += fmt.Sprintf("; it has dropped %d datagrams (receive buffer full)", s.Drops)
		}
		if s.RxQueue > 0 {
			msg += fmt.Sprintf("; %d bytes wait to be read", s.RxQueue)
		}
		out = append(out, Finding{Check: "port", Level: level, Message: msg, Fix: fix})
	}
	return out
}

func checkFirewall(ctx context.Context, cfg Config) []Finding {
	portNote := ""
	if cfg.Port != 0 {
		portNote = fmt.Sprintf(" udp port %d", cfg.Port)
	}
	out, err := cfg.Run(ctx, "nft", "list", "ruleset")
	var fw Firewall
	switch {
	case err == nil:
		fw = AnalyzeNft(string(out), cfg.Port)
	case errors.Is(err, ErrNotInstalled):
		out, err = cfg.Run(ctx, "iptables", "-S")
		switch {
		case err == nil:
			fw = AnalyzeIptables(string(out), cfg.Port)
		case errors.Is(err, ErrNotInstalled):
			if b, err := os.ReadFile(filepath.Join(cfg.Proc, "net/ip_tables_names")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				return []Finding{{Check: "firewall", Level: Info,
					Message: "iptables tables are loaded (" + strings.Join(strings.Fields(string(b)), ", ") + ") but neither nft nor iptables is installed to read them"}}
			}
			return []Finding{{Check: "firewall", Level: OK, Message: "no firewall tool installed and no iptables tables loaded"}}
		default:
			return []Finding{{Check: "firewall", Level: Info, Message: "cannot read the iptables rules: " + firstLine(out, err), Fix: "run bcast doctor as root to see them"}}
		}
	default:
		return []Finding{{Check: "firewall", Level: Info, Message: "cannot read the nftables ruleset: " + firstLine(out, err), Fix: "run bcast doctor as root to see it"}}
	}
	switch {
	case fw.Rules == 0 && len(fw.DropChains) == 0:
		return []Finding{{Check: "firewall", Level: OK, Message: fw.Tool + ": no rules loaded"}}
	case len(fw.DropChains) > 0 && !fw.PortAccepted:
		fix := ""
		if cfg.Port != 0 {
			if fw.Tool == "nft" {
				fix = fmt.Sprintf("nft insert rule %s udp dport %d accept", fw.DropChains[0], cfg.Port)
			} else {
				fix = fmt.Sprintf("iptables -I INPUT -p udp --dport %d -j ACCEPT", cfg.Port)
			}
		}
		return []Finding{{Check: "firewall", Level: Warn,
			Message: fmt.Sprintf("%s: input chain %s drops by default and no rule accepts%s (%d rules; a rule on a named set or a broader accept may still let it in)", fw.Tool, strings.Join(fw.DropChains, ", "), portNote, fw.Rules),
			Fix:     fix}}
	case fw.PortAccepted:
		return []Finding{{Check: "firewall", Level: OK, Message: fmt.Sprintf("%s: a rule accepts%s (%d rules)", fw.Tool, portNote, fw.Rules)}}
	case fw.DropRules > 0:
		return []Finding{{Check: "firewall", Level: Info,
			Message: fmt.Sprintf("%s: %d rules, %d of them drop or reject; check that none matches%s", fw.Tool, fw.Rules, fw.DropRules, portNote)}}
	default:
		return []Finding{{Check: "firewall", Level: OK, Message: fmt.Sprintf("%s: %d rules, none drops", fw.Tool, fw.Rules)}}
	}
}

func firstLine(out []byte, err error) string {
	s := strings.TrimSpace(string(out))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return err.Error()
	}
	return s
}

func checkGroup(cfg Config, ifs []broadcast.Interface) []Finding {
	g := cfg.Group
	if !g.Addr.IsValid() {
		return nil
	}
	var out []Finding
	if g.IsSSM() != g.InSSMRange() {
		if g.IsSSM() {
			out = append(out, Finding{Check: "group", Level: Info,
				Message: g.String() + " is source-specific outside the SSM range (232.0.0.0/8, ff3x::/32): it works on a link, routers may not carry it"})
		} else {
			out = append(out, Finding{Check: "group", Level: Warn,
				Message: g.Addr.String() + " is in the SSM range: routers ignore any-source joins there",
				Fix:     "join it as SOURCE," + g.Addr.String()})
		}
	}
	ms, err := cfg.Memberships()
	if err != nil {
		return append(out, Finding{Check: "group", Level: Info, Message: "cannot list the host's memberships: " + err.Error()})
	}
	var on []string
	for _, m := range ms {
		if m.Group.WithZone("") == g.Addr.WithZone("") {
			on = append(on, fmt.Sprintf("%s (%d users)", m.IfName, m.Users))
		}
	}
	if len(on) == 0 {
		out = append(out, Finding{Check: "group", Level: Info,
			Message: "no socket on this host has joined " + g.Addr.String() + ": a switch with IGMP/MLD snooping forwards the group only to ports that joined",
			Fix:     "bcast listen --group " + g.String()})
	} else {
		slices.Sort(on)
		out = append(out, Finding{Check: "group", Level: OK, Message: g.Addr.String() + " is joined on " + strings.Join(on, ", ")})
	}
	return out
}
