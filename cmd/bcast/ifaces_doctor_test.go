package main

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/broadcast"
)

func TestIfacesText(t *testing.T) {
	r := runApp(t, "", "ifaces")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "IFACE") || !strings.Contains(r.stdout, "\nlo ") || !strings.Contains(r.stdout, "127.0.0.1/8") ||
		!strings.Contains(r.stdout, "local only: 127.255.255.255") || strings.Contains(r.stdout, "no: loopback") {
		t.Errorf("ifaces output:\n%s", r.stdout)
	}
}

func TestIfacesJSON(t *testing.T) {
	r := runApp(t, "", "ifaces", "--json", "--iface", "lo")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var lo ifaceOut
	if err := json.Unmarshal([]byte(r.stdout), &lo); err != nil {
		t.Fatalf("%v: %q", err, r.stdout)
	}
	if lo.Type != "iface" || lo.Name != "lo" || lo.CanBroadcast || !strings.Contains(lo.BroadcastReason, "127.255.255.255 reaches its programs") ||
		!slices.Equal(lo.LocalBroadcast, []string{"127.255.255.255"}) || len(lo.Addrs) == 0 || lo.Addrs[0].Prefix != "127.0.0.1/8" {
		t.Errorf("lo = %+v", lo)
	}
	if lo.Groups == nil || lo.Flags == nil {
		t.Errorf("groups and flags must be lists, even empty: %+v", lo)
	}
}

func TestDoctorJSON(t *testing.T) {
	r := runApp(t, "", "doctor", "--port", "9", "--group", "239.1.2.3", "--json")
	if r.code != 0 && r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	checks := map[string]bool{}
	sawFail := false
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	for _, line := range lines[:len(lines)-1] {
		var f struct{ Type, Check, Level, Message, Fix string }
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if f.Type != "finding" || f.Message == "" || !strings.Contains("OK INFO WARN FAIL", f.Level) {
			t.Errorf("finding %+v", f)
		}
		checks[f.Check] = true
		sawFail = sawFail || f.Level == "FAIL"
	}
	var sum struct {
		Type                 string
		Findings             int
		Worst                string
		OK, Info, Warn, Fail int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" ||
		sum.Findings != len(lines)-1 || sum.OK+sum.Info+sum.Warn+sum.Fail != sum.Findings || (sum.Fail > 0) != sawFail {
		t.Errorf("last line %q (%v); want the summary of the %d findings", lines[len(lines)-1], err, len(lines)-1)
	}
	for _, c := range []string{"routes", "rp_filter", "buffers", "port", "firewall", "group"} {
		if !checks[c] {
			t.Errorf("no %q finding:\n%s", c, r.stdout)
		}
	}
	if sawFail != (r.code == 1) {
		t.Errorf("exit %d with FAIL findings %v", r.code, sawFail)
	}
}

func TestDoctorText(t *testing.T) {
	r := runApp(t, "", "doctor", "--iface", "lo", "--port", "9")
	if r.code != 0 && r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "routes") || !strings.Contains(r.stdout, "255.255.255.255 on lo") {
		t.Errorf("doctor output:\n%s", r.stdout)
	}
}

func TestLoopbackBroadcasts(t *testing.T) {
	tests := []struct {
		prefixes []string
		want     []string
	}{
		{[]string{"127.0.0.1/8"}, []string{"127.255.255.255"}},
		{[]string{"127.0.0.1/8", "127.1.2.3/16", "127.0.0.9/8"}, []string{"127.255.255.255", "127.1.255.255"}},
		{[]string{"127.0.0.1/31", "127.0.0.2/32", "::1/128"}, nil},
	}
	for _, tt := range tests {
		var ifi broadcast.Interface
		for _, p := range tt.prefixes {
			ifi.Addrs = append(ifi.Addrs, broadcast.IfAddr{Prefix: netip.MustParsePrefix(p)})
		}
		if got := loopbackBroadcasts(ifi); !slices.Equal(got, tt.want) {
			t.Errorf("loopbackBroadcasts(%v) = %v; want %v", tt.prefixes, got, tt.want)
		}
	}
}
