package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/multicast"
	"golang.org/x/sys/unix"
)

// fixture is a fake host: files under Proc and Sys, and canned answers.
type fixture struct {
	cfg   Config
	files map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	fx := &fixture{files: map[string]string{
		"proc/sys/net/ipv4/conf/all/rp_filter":  "0",
		"proc/sys/net/ipv4/conf/eth0/rp_filter": "2",
		"proc/sys/net/core/rmem_default":        "212992",
		"proc/sys/net/core/rmem_max":            "8388608",
		"proc/net/snmp":                         "Udp: InDatagrams RcvbufErrors InCsumErrors\nUdp: 10 0 0\n",
		"proc/net/udp":                          "  sl  local_address rem_address st ...\n",
		"sys/class/net/eth0/carrier":            "1",
	}}
	eth0 := broadcast.Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast, MTU: 1500,
		Addrs: []broadcast.IfAddr{{Prefix: netip.MustParsePrefix("192.168.1.5/24"), Broadcast: netip.MustParseAddr("192.168.1.255")}}}
	lo := broadcast.Interface{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback, MTU: 65536,
		Addrs: []broadcast.IfAddr{{Prefix: netip.MustParsePrefix("127.0.0.1/8")}}}
	fx.cfg = Config{
		Proc: filepath.Join(dir, "proc"),
		Sys:  filepath.Join(dir, "sys"),
		Run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			if name == "nft" {
				return nil, nil
			}
			return nil, ErrNotInstalled
		},
		Route: func(dst netip.Addr, oif int) (Route, error) {
			typ := "broadcast"
			if dst.IsMulticast() {
				typ = "multicast"
			}
			return Route{Type: typ, OIF: 2, PrefSrc: netip.MustParseAddr("192.168.1.5")}, nil
		},
		Interfaces:  func() ([]broadcast.Interface, error) { return []broadcast.Interface{lo, eth0}, nil },
		Memberships: func() ([]multicast.HostMembership, error) { return nil, nil },
	}
	fx.write(t, dir)
	return fx
}

func (fx *fixture) write(t *testing.T, dir string) {
	t.Helper()
	for p, content := range fx.files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (fx *fixture) set(t *testing.T, path, content string) {
	t.Helper()
	full := filepath.Join(filepath.Dir(fx.cfg.Proc), path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// find returns the findings of one check.
func find(fs []Finding, check string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

func mustHave(t *testing.T, fs []Finding, check string, level Level, substr string) {
	t.Helper()
	for _, f := range find(fs, check) {
		if f.Level == level && strings.Contains(f.Message+" "+f.Fix, substr) {
			return
		}
	}
	t.Errorf("no %s finding in %q containing %q; have:\n%s", level, check, substr, dump(fs))
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %-4s %-10s %s | %s\n", f.Level, f.Check, f.Message, f.Fix)
	}
	return b.String()
}

func TestRunHealthy(t *testing.T) {
	fx := newFixture(t)
	fs := Run(context.Background(), fx.cfg)
	if w := Worst(fs); w != OK {
		t.Errorf("healthy host: worst %v; findings:\n%s", w, dump(fs))
	}
	mustHave(t, fs, "interfaces", OK, "eth0: broadcast to 192.168.1.255, multicast")
	mustHave(t, fs, "routes", OK, "255.255.255.255 leaves by eth0 from 192.168.1.5")
	mustHave(t, fs, "rp_filter", OK, "no strict")
	mustHave(t, fs, "buffers", OK, "at most 8 MiB")
	mustHave(t, fs, "firewall", OK, "nft: no rules loaded")
	if len(find(fs, "interfaces")) != 1 {
		t.Errorf("loopback should be left out when another interface exists:\n%s", dump(fs))
	}
}

func TestRunProblems(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Port = 5353
	fx.cfg.Group, _ = multicast.ParseGroup("239.1.2.3")
	fx.set(t, "proc/sys/net/ipv4/conf/all/rp_filter", "1")
	fx.set(t, "proc/sys/net/ipv4/conf/eth0/rp_filter", "0") // the kernel takes max(all, eth0)
	fx.set(t, "proc/sys/net/core/rmem_max", "212992")
	fx.set(t, "proc/net/snmp", "Udp: InDatagrams RcvbufErrors InCsumErrors\nUdp: 10 42 0\n")
	fx.set(t, "proc/net/udp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"+
		" 1: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   107        0 999999999 2 0000000000000000 17\n")
	fx.cfg.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
		return []byte(nftDropInput), nil
	}
	fx.cfg.Route = func(dst netip.Addr, oif int) (Route, error) {
		return Route{}, os.NewSyscallError("RTM_GETROUTE", unix.ENETUNREACH)
	}
	fs := Run(context.Background(), fx.cfg)
	mustHave(t, fs, "rp_filter", Warn, "sysctl -w net.ipv4.conf.all.rp_filter=2")
	mustHave(t, fs, "buffers", Warn, "net.core.rmem_max=8388608")
	mustHave(t, fs, "buffers", Warn, "dropped 42 IPv4 UDP datagrams")
	mustHave(t, fs, "routes", Warn, "no route for 255.255.255.255")
	mustHave(t, fs, "routes", Warn, "ip route add 224.0.0.0/4")
	mustHave(t, fs, "port", Warn, "udp 0.0.0.0:5353 is held by an unknown process, uid 107")
	mustHave(t, fs, "port", Warn, "dropped 17 datagrams")
	mustHave(t, fs, "firewall", Warn, "nft insert rule inet filter input udp dport 5353 accept")
	mustHave(t, fs, "group", Info, "bcast listen --group 239.1.2.3")
	if w := Worst(fs); w != Warn {
		t.Errorf("worst = %v; want WARN", w)
	}
}

func TestRunIfaceChecks(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Iface = "eth0"
	fx.set(t, "sys/class/net/eth0/carrier", "0")
	fs := Run(context.Background(), fx.cfg)
	mustHave(t, fs, "interfaces", Fail, "eth0 has no carrier")

	fx.cfg.Iface = "nosuch0"
	fs = Run(context.Background(), fx.cfg)
	mustHave(t, fs, "interfaces", Fail, "nosuch0")
	if Worst(fs) != Fail {
		t.Errorf("unknown interface: worst %v; want FAIL", Worst(fs))
	}
}

func TestRunNoMulticastFlag(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Group, _ = multicast.ParseGroup("239.1.2.3")
	fx.cfg.Interfaces = func() ([]broadcast.Interface, error) {
		return []broadcast.Interface{{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast,
			Addrs: []broadcast.IfAddr{{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Broadcast: netip.MustParseAddr("10.0.0.255")}}}}, nil
	}
	fx.cfg.Memberships = func() ([]multicast.HostMembership, error) {
		return []multicast.HostMembership{{IfIndex: 2, IfName: "eth0", Group: netip.MustParseAddr("239.1.2.3"), Users: 2}}, nil
	}
	fs := Run(context.Background(), fx.cfg)
	mustHave(t, fs, "interfaces", Warn, "ip link set eth0 multicast on")
	mustHave(t, fs, "group", OK, "239.1.2.3 is joined on eth0 (2 users)")
}

func TestRunFirewallUnreadable(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
		return []byte("Error: Operation not permitted\n"), errors.New("exit status 1")
	}
	fs := Run(context.Background(), fx.cfg)
	mustHave(t, fs, "firewall", Info, "Operation not permitted")
}

func TestSocketOwnersFindsThisProcess(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	f, err := os.Open("/proc/self/net/udp")
	if err != nil {
		t.Skip("no /proc/self/net/udp")
	}
	ss, err := ParseUDP(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var inode uint64
	for _, s := range ss {
		if int(s.Local.Port()) == port {
			inode = s.Inode
		}
	}
	if inode == 0 {
		t.Fatalf("port %d not in /proc/self/net/udp", port)
	}
	owners := SocketOwners("/proc", []uint64{inode})
	if o := owners[inode]; o.PID != os.Getpid() {
		t.Errorf("owner of inode %d = %+v; want pid %d", inode, o, os.Getpid())
	}
}

func TestLevelText(t *testing.T) {
	b, _ := Warn.MarshalText()
	if string(b) != "WARN" || Level(9).String() != "?" {
		t.Errorf("Level text: %s %s", b, Level(9))
	}
}

// TestPortGrades: what blocks reception is WARN (never FAIL: doctor runs
// as a pre-flight check before the receiver starts), what does not is
// INFO.
func TestPortGrades(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	sock := func(local string, drops int) string {
		return fmt.Sprintf(" 1: %s 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 %d\n", local, drops)
	}
	tests := []struct {
		name  string
		udp   string
		level Level
		words string
	}{
		{"nothing bound", "", Warn, "no socket on this host is bound to udp port 9999: datagrams to it are dropped until one is"},
		{"nothing bound: the fix", "", Warn, "before it starts, this is expected"},
		{"wildcard", sock("00000000:270F", 0), Info, "udp 0.0.0.0:9999 is held by"},
		{"unicast", sock("0100007F:270F", 0), Warn, "bound to a unicast address, it never sees broadcasts or multicast"},
		{"unicast: the fix", sock("0100007F:270F", 0), Warn, "bind the wildcard address"},
		{"group", sock("030201EF:270F", 0), Info, "bound to the group's address"},
		{"drops", sock("00000000:270F", 5), Warn, "dropped 5 datagrams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.cfg.Port = 9999
			fx.set(t, "proc/net/udp", header+tt.udp)
			fs := Run(context.Background(), fx.cfg)
			mustHave(t, fs, "port", tt.level, tt.words)
			if Worst(fs) == Fail {
				t.Errorf("a port finding made doctor fail:\n%s", dump(fs))
			}
		})
	}
}
