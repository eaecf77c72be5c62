package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/internal/netns"
)

// TestIntegrationDoctorNamesMDNSResponder: a program holding udp 5353
// with SO_REUSEPORT (bcast listen, standing in for avahi-daemon: it only
// receives) is named by doctor in the same namespace, as a WARN when
// doctor is asked about mDNS, INFO otherwise, and not at all in another
// namespace or once it is gone.
func TestIntegrationDoctorNamesMDNSResponder(t *testing.T) {
	lab := netns.New(t)
	lan := lab.LAN("one", netip.MustParsePrefix("10.86.1.0/24"), netip.MustParsePrefix("fd00:86:1::/64"))
	a, b := lab.Host("a"), lab.Host("b")
	a.Attach(lan, "eth0", netip.MustParseAddr("10.86.1.1"), netip.MustParseAddr("fd00:86:1::1"))
	b.Attach(lan, "eth0", netip.MustParseAddr("10.86.1.2"), netip.MustParseAddr("fd00:86:1::2"))

	mdns := func(h *netns.Host, args ...string) []map[string]any {
		t.Helper()
		r := nsRun(t, h, append([]string{"doctor", "--json"}, args...)...)
		var out []map[string]any
		for _, f := range jsonLines(t, r.stdout) {
			if f["check"] == "mdns" {
				out = append(out, f)
			}
		}
		return out
	}
	if fs := mdns(a, "--port", "5353"); len(fs) != 0 {
		t.Fatalf("nothing on 5353 yet, but doctor says %v", fs)
	}

	holder, _ := nsStart(t, a, "listen", "--listen", ":5353", "--reuse-port", "--json")
	who := fmt.Sprintf("bcast (pid %d) on 0.0.0.0:5353", holder.cmd.Process.Pid)
	for _, tc := range []struct {
		args  []string
		level string
	}{
		{[]string{"--port", "5353"}, "WARN"},
		{[]string{"--group", "224.0.0.251"}, "WARN"},
		{nil, "INFO"},
		{[]string{"--port", "9"}, "INFO"},
	} {
		fs := mdns(a, tc.args...)
		if len(fs) != 1 || fs[0]["level"] != tc.level || !strings.Contains(fs[0]["message"].(string), who) ||
			!strings.Contains(fs[0]["message"].(string), "a unicast datagram to port 5353 reaches only one of them") {
			t.Errorf("doctor %v: mdns findings %v; want one %s naming %s and what sharing means", tc.args, fs, tc.level, who)
		}
	}
	if fs := mdns(b, "--port", "5353"); len(fs) != 0 {
		t.Errorf("host b has nothing on 5353, but doctor there says %v", fs)
	}
	_ = holder.cmd.Process.Kill() // by its own handle
	_ = holder.cmd.Wait()
	if fs := mdns(a, "--port", "5353"); len(fs) != 0 {
		t.Errorf("the holder is gone, but doctor says %v", fs)
	}
}
