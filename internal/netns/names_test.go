package netns

import (
	"github.com/bcastdev/bcast/internal/cmdline"
	"net/netip"
	"os/exec"
	"path"
	"strings"
	"testing"
)

func TestNameOK(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"a1", true},
		{"r", true},
		{"A.b-c_d", true},
		{"", false},
		{"-a", false},
		{".a", false},
		{"a b", false},
		{"a/b", false},
		{"a:b", false},
		{"a'b", false},
		{strings.Repeat("x", maxNameLen), true},
		{strings.Repeat("x", maxNameLen+1), false},
	} {
		if got := nameOK(c.s, maxNameLen); got != c.want {
			t.Errorf("nameOK(%q) = %v; want %v", c.s, got, c.want)
		}
	}
	if err := checkIfName("eth0"); err != nil {
		t.Errorf("checkIfName(eth0) = %v", err)
	}
	if err := checkIfName("sixteen-chars-xx"); err == nil {
		t.Errorf("checkIfName accepted a 16-byte name; the kernel allows 15")
	}
}

func TestSysctlPath(t *testing.T) {
	for _, c := range []struct {
		key, want string // want "" means refused
	}{
		{"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
		{"net.ipv6.conf.all.accept_dad", "/proc/sys/net/ipv6/conf/all/accept_dad"},
		{"net/ipv4/conf/eth0.5/rp_filter", "/proc/sys/net/ipv4/conf/eth0.5/rp_filter"},
		{"kernel.hostname", ""},
		{"vm.swappiness", ""},
		{"net", ""},
		{"net.", ""},
		{"net..ipv4", ""},
		{"net/../kernel/hostname", ""},
		{"net/ipv4/./ip_forward", ""},
		{"/net/ipv4/ip_forward", ""},
		{"net/ipv4/", ""},
		{"", ""},
	} {
		got, err := sysctlPath(c.key)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q", c.key, got, err, c.want)
		}
	}
}

// FuzzSysctlPath checks that no key reaches outside /proc/sys/net.
func FuzzSysctlPath(f *testing.F) {
	f.Add("net.ipv4.ip_forward")
	f.Add("net/ipv4/conf/eth0.5/rp_filter")
	f.Add("net/../kernel/hostname")
	f.Fuzz(func(t *testing.T, key string) {
		p, err := sysctlPath(key)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/proc/sys/net/") || path.Clean(p) != p || strings.ContainsAny(p, "\x00\n") {
			t.Fatalf("sysctlPath(%q) = %q: outside /proc/sys/net or not clean", key, p)
		}
	})
}

func TestShellQuote(t *testing.T) {
	argv := []string{"ip", "-n", "b1234-a1", "addr", "add", "10.0.0.1/24", "it's", "a b", "", "$HOME", "x;y", "fd00::1"}
	got := cmdline.ShellQuote(argv)
	want := `ip -n b1234-a1 addr add 10.0.0.1/24 'it'\''s' 'a b' '' '$HOME' 'x;y' fd00::1`
	if got != want {
		t.Errorf("shellQuote = %s; want %s", got, want)
	}
	// A shell must read the quoted line back as the same words.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to check the quoting against")
	}
	out, err := exec.Command(sh, "-c", `printf '%s\n' `+cmdline.ShellQuote(argv[1:])).Output()
	if err != nil {
		t.Fatal(err)
	}
	if words := strings.Join(argv[1:], "\n") + "\n"; string(out) != words {
		t.Errorf("sh read %q back as %q", words, out)
	}
}

func TestBroadcast4(t *testing.T) {
	for _, c := range []struct{ prefix, want string }{
		{"10.71.1.0/24", "10.71.1.255"},
		{"10.71.1.7/24", "10.71.1.255"},
		{"172.16.0.0/12", "172.31.255.255"},
		{"192.168.1.64/26", "192.168.1.127"},
		{"10.0.0.4/32", "10.0.0.4"},
		{"0.0.0.0/0", "255.255.255.255"},
	} {
		if got := broadcast4(netip.MustParsePrefix(c.prefix)).String(); got != c.want {
			t.Errorf("broadcast4(%s) = %s; want %s", c.prefix, got, c.want)
		}
	}
	if got := broadcast4(netip.MustParsePrefix("fd00::/64")); got.IsValid() {
		t.Errorf("broadcast4 of an IPv6 prefix = %v; want the zero Addr", got)
	}
}

func TestCheckAddr(t *testing.T) {
	v4 := netip.MustParsePrefix("10.71.1.0/24")
	v6 := netip.MustParsePrefix("fd00:71:1::/64")
	for _, c := range []struct {
		addr   string
		subnet netip.Prefix
		is4    bool
		ok     bool
	}{
		{"10.71.1.1", v4, true, true},
		{"10.71.1.254", v4, true, true},
		{"10.71.1.0", v4, true, false},
		{"10.71.1.255", v4, true, false},
		{"10.71.2.1", v4, true, false},
		{"::ffff:10.71.1.1", v4, true, false},
		{"10.71.1.1", netip.Prefix{}, true, false},
		{"fd00:71:1::1", v6, false, true},
		{"fd00:71:1::", v6, false, false},
		{"fd00:71:2::1", v6, false, false},
		{"fe80::1%eth0", netip.MustParsePrefix("fe80::/64"), false, false},
		{"10.71.1.1", v6, false, false},
	} {
		err := checkAddr(netip.MustParseAddr(c.addr), c.subnet, c.is4)
		if (err == nil) != c.ok {
			t.Errorf("checkAddr(%s, %v) = %v; want ok=%v", c.addr, c.subnet, err, c.ok)
		}
	}
	if err := checkAddr(netip.Addr{}, netip.Prefix{}, true); err != nil {
		t.Errorf("checkAddr(zero) = %v; want nil (family left unconfigured)", err)
	}
}

func TestRequirePrivilege(t *testing.T) {
	for _, c := range []struct {
		missing             string
		ci                  bool
		wantFatal, wantSkip bool
	}{
		{"", false, false, false},
		{"", true, false, false},
		{"effective uid is 1000", false, false, true},
		{"effective uid is 1000", true, true, false},
	} {
		f := &fakeTB{TB: t}
		runFake(f, func(tb testing.TB) { requirePrivilege(tb, c.missing, c.ci) })
		if got := f.fatal != ""; got != c.wantFatal {
			t.Errorf("missing=%q ci=%v: fatal %q; want fatal=%v", c.missing, c.ci, f.fatal, c.wantFatal)
		}
		if got := f.skipped != ""; got != c.wantSkip {
			t.Errorf("missing=%q ci=%v: skip %q; want skip=%v", c.missing, c.ci, f.skipped, c.wantSkip)
		}
		for _, msg := range []string{f.fatal, f.skipped} {
			if msg != "" && (!strings.HasPrefix(msg, rootReason) || !strings.Contains(msg, c.missing)) {
				t.Errorf("message %q: want %q and the reason %q", msg, rootReason, c.missing)
			}
		}
	}
}
