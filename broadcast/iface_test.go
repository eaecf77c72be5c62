package broadcast

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// ipAddrJSON is the part of `ip -j addr` output these tests compare.
type ipAddrJSON struct {
	Index    int      `json:"ifindex"`
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	Address  string   `json:"address"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Broadcast string `json:"broadcast"`
	} `json:"addr_info"`
}

// TestInterfacesMatchIP compares the netlink listing with iproute2's: the
// same interfaces, the same addresses with the same prefix lengths, and the
// broadcast address ip shows wherever it shows one.
func TestInterfacesMatchIP(t *testing.T) {
	out, err := exec.Command("ip", "-j", "addr", "show").Output()
	if err != nil {
		t.Skipf("iproute2 with JSON output is needed: %v", err)
	}
	var want []ipAddrJSON
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("parse `ip -j addr show`: %v", err)
	}
	all, err := allInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("%d interfaces (%s); ip lists %d", len(all), names(all), len(want))
	}
	for i, w := range want {
		got := all[i]
		if got.Index != w.Index || got.Name != w.Name || got.MTU != w.MTU {
			t.Errorf("interface %d: %d %s mtu %d; ip says %d %s mtu %d", i, got.Index, got.Name, got.MTU, w.Index, w.Name, w.MTU)
		}
		if up := slices.Contains(w.Flags, "UP"); up != (got.Flags&net.FlagUp != 0) {
			t.Errorf("%s: flags %v; ip says %v", got.Name, got.Flags, w.Flags)
		}
		if hw := got.HardwareAddr.String(); hw != w.Address && !(hw == "" && strings.Trim(w.Address, "0:") == "") {
			t.Errorf("%s: hardware address %q; ip says %q", got.Name, hw, w.Address)
		}
		if len(got.Addrs) != len(w.AddrInfo) {
			t.Errorf("%s: %d addresses %v; ip lists %d", got.Name, len(got.Addrs), got.Addrs, len(w.AddrInfo))
			continue
		}
		for j, wa := range w.AddrInfo {
			ga := got.Addrs[j]
			wantPrefix := fmt.Sprintf("%s/%d", wa.Local, wa.PrefixLen)
			if ga.Prefix.String() != wantPrefix {
				t.Errorf("%s: address %v; ip says %s", got.Name, ga.Prefix, wantPrefix)
			}
			switch {
			case wa.Broadcast != "" && ga.Prefix.Bits() < 31 && ga.Broadcast.String() != wa.Broadcast:
				t.Errorf("%s %v: broadcast %v; ip says %s", got.Name, ga.Prefix, ga.Broadcast, wa.Broadcast)
			case wa.Family == "inet" && wa.PrefixLen < 31 && !ga.Broadcast.IsValid():
				t.Errorf("%s %v: no broadcast address", got.Name, ga.Prefix)
			case wa.Family == "inet6" && ga.Broadcast.IsValid():
				t.Errorf("%s %v: IPv6 with broadcast %v", got.Name, ga.Prefix, ga.Broadcast)
			}
		}
	}
}

// TestInterfaceSets checks the filtered listings against their promises.
// (The comparison with the standard library's net.Interfaces is left out on
// purpose: it fills Go's process-wide IPv6 zone cache with the root
// namespace's interface indexes, which breaks zone lookups that the
// namespace tests of this package make later.)
func TestInterfaceSets(t *testing.T) {
	up, err := Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range up {
		if ifi.Flags&net.FlagUp == 0 {
			t.Errorf("Interfaces returned %s, which is down", ifi.Name)
		}
	}
	bc, err := BroadcastInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range bc {
		if ok, why := ifi.CanBroadcast(); !ok {
			t.Errorf("BroadcastInterfaces returned %s, which cannot broadcast: %s", ifi.Name, why)
		}
	}
}

func TestInterfaceLookupErrors(t *testing.T) {
	lo, err := InterfaceByName("lo")
	if err != nil || lo.Flags&net.FlagLoopback == 0 {
		t.Fatalf("InterfaceByName(lo): %v, %v", lo, err)
	}
	_, err = InterfaceByName("nosuch0")
	if err == nil || !strings.Contains(err.Error(), `"nosuch0"`) || !strings.Contains(err.Error(), " lo") {
		t.Errorf("missing name: %v; want it named and lo listed", err)
	}
	if _, err := InterfaceByIndex(1 << 30); err == nil || !strings.Contains(err.Error(), fmt.Sprint(1<<30)) {
		t.Errorf("missing index: %v", err)
	}
}

func TestCanBroadcast(t *testing.T) {
	v4 := IfAddr{Prefix: netip.MustParsePrefix("10.0.0.2/24"), Broadcast: netip.MustParseAddr("10.0.0.255")}
	apipa := IfAddr{Prefix: netip.MustParsePrefix("169.254.1.2/16"), LinkLocal: true}
	v6 := IfAddr{Prefix: netip.MustParsePrefix("fd00::1/64")}
	ether := net.FlagUp | net.FlagBroadcast | net.FlagMulticast
	for _, tc := range []struct {
		flags net.Flags
		addrs []IfAddr
		ok    bool
		why   string
	}{
		{ether, []IfAddr{v6, v4}, true, ""},
		{ether &^ net.FlagUp, []IfAddr{v4}, false, "down"},
		{ether | net.FlagLoopback, []IfAddr{v4}, false, "loopback"},
		{net.FlagUp | net.FlagPointToPoint, []IfAddr{v4}, false, "no BROADCAST flag"},
		{ether, []IfAddr{v6}, false, "no IPv4 address"},
		{ether, []IfAddr{apipa}, false, "only link-local IPv4 addresses"},
		{ether, []IfAddr{apipa, v4}, true, ""},
	} {
		ifi := Interface{Name: "x", Flags: tc.flags, Addrs: tc.addrs}
		if ok, why := ifi.CanBroadcast(); ok != tc.ok || why != tc.why {
			t.Errorf("%v %v: %v %q; want %v %q", tc.flags, tc.addrs, ok, why, tc.ok, tc.why)
		}
	}
	all := []Interface{{Name: "lo", Flags: net.FlagUp | net.FlagLoopback}, {Name: "eth1", Flags: ether}}
	if got := whyNot(all); got != "lo: loopback; eth1: no IPv4 address" {
		t.Errorf("whyNot: %q", got)
	}
	// Fan-outs send from the first non-link-local address, or from a
	// configured source the interface owns.
	ifi := Interface{Flags: ether, Addrs: []IfAddr{v6, apipa, v4, {Prefix: netip.MustParsePrefix("10.0.1.2/24")}}}
	for want, src := range map[string]netip.Addr{"10.0.0.2": {}, "10.0.1.2": netip.MustParseAddr("10.0.1.2")} {
		if got := ifi.source4(src); got.String() != want {
			t.Errorf("source4(%v) = %v; want %s", src, got, want)
		}
	}
	if got := (Interface{Addrs: []IfAddr{apipa}}).source4(netip.Addr{}); got != apipa.Prefix.Addr() {
		t.Errorf("source4 with only APIPA = %v", got)
	}
}

func TestKind(t *testing.T) {
	snap := newSnapshot([]Interface{{Index: 2, Addrs: []IfAddr{newIfAddr(netip.MustParsePrefix("10.0.0.2/22"), netip.Addr{})}}})
	a := netip.MustParseAddr
	for _, tc := range []struct {
		dst, spec netip.Addr
		want      Kind
	}{
		{netip.Addr{}, netip.Addr{}, Unknown},
		{a("239.1.2.3"), a("10.0.0.2"), Multicast},
		{a("ff02::1"), netip.Addr{}, Multicast},
		{a("fd00::1"), netip.Addr{}, Unicast},
		{a("255.255.255.255"), a("10.0.0.2"), Broadcast},
		{a("10.0.0.2"), a("10.0.0.2"), Unicast}, // the kernel's verdict: spec_dst == dst
		{a("10.0.9.9"), a("10.0.0.2"), Broadcast},
		{a("10.0.3.255"), netip.Addr{}, Broadcast}, // no spec_dst: the interface list decides
		{a("10.0.3.255"), netip.IPv4Unspecified(), Broadcast},
		{a("10.0.0.2"), netip.Addr{}, Unicast},
	} {
		if got := classify(tc.dst, tc.spec, snap); got != tc.want {
			t.Errorf("classify(%v, %v) = %v; want %v", tc.dst, tc.spec, got, tc.want)
		}
	}
	for k, want := range map[Kind]string{Unknown: "unknown", Unicast: "unicast", Broadcast: "broadcast", Multicast: "multicast", 9: "kind(9)"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q; want %q", k, k.String(), want)
		}
	}
	if LimitedBroadcast().String() != "255.255.255.255" {
		t.Errorf("LimitedBroadcast() = %v", LimitedBroadcast())
	}
}

func TestExplain(t *testing.T) {
	for errno, words := range map[unix.Errno][]string{
		unix.ENETUNREACH:   {"default route", "--iface", "--all-interfaces"},
		unix.EACCES:        {"SO_BROADCAST"},
		unix.EADDRNOTAVAIL: {"ip addr", "wildcard"},
		unix.ENODEV:        {"ip link"},
		unix.EPERM:         {"firewall", "CAP_NET_RAW"},
		unix.EMSGSIZE:      {"65507", "MTU"},
	} {
		err := fmt.Errorf("sendmsg: %w", errno)
		got := Explain(err)
		for _, w := range words {
			if !strings.Contains(got, w) {
				t.Errorf("Explain(%s) = %q; want it to mention %q", unix.ErrnoName(errno), got, w)
			}
		}
	}
	// The system call and address say more than the errno.
	for _, tt := range []struct {
		err   *dgram.Error
		words []string
	}{
		{&dgram.Error{Op: "bind", Addr: "0.0.0.0:80", Err: os.NewSyscallError("bind", unix.EACCES)}, []string{"below 1024", "CAP_NET_BIND_SERVICE"}},
		{&dgram.Error{Op: "bind", Addr: "[::]:1023", Err: os.NewSyscallError("bind", unix.EACCES)}, []string{"CAP_NET_BIND_SERVICE"}},
		{&dgram.Error{Op: "bind", Addr: "0.0.0.0:1024", Err: os.NewSyscallError("bind", unix.EACCES)}, []string{"SO_BROADCAST"}},
		{&dgram.Error{Op: "sendmsg", Addr: "192.168.1.255:80", Err: os.NewSyscallError("sendmsg", unix.EACCES)}, []string{"SO_BROADCAST"}},
		{&dgram.Error{Op: "sendmsg", Addr: "239.1.2.3:5000", Err: os.NewSyscallError("sendmsg", unix.ENETUNREACH)}, []string{"group", "224.0.0.0/4", "--iface"}},
		{&dgram.Error{Op: "sendmsg", Addr: "[ff05::1]:5000", Err: os.NewSyscallError("sendmsg", unix.ENETUNREACH)}, []string{"group", "ff00::/8"}},
		{&dgram.Error{Op: "sendmsg", Addr: "255.255.255.255:9", Err: os.NewSyscallError("sendmsg", unix.ENETUNREACH)}, []string{"255.255.255.255", "--all-interfaces"}},
	} {
		got := Explain(fmt.Errorf("wrapped: %w", tt.err))
		for _, w := range tt.words {
			if !strings.Contains(got, w) {
				t.Errorf("Explain(%v) = %q; want it to mention %q", tt.err, got, w)
			}
		}
		if strings.Contains(got, "CAP_NET_BIND_SERVICE") && tt.err.Op != "bind" {
			t.Errorf("Explain(%v) = %q; a send is not a privileged bind", tt.err, got)
		}
	}
	for _, err := range []error{nil, errors.New("plain"), fmt.Errorf("x: %w", unix.ECHILD)} {
		if got := Explain(err); got != "" {
			t.Errorf("Explain(%v) = %q; want \"\"", err, got)
		}
	}
}
