package multicast

import (
	"net/netip"
	"strings"
	"testing"
)

func mustGroup(t *testing.T, s string) Group {
	t.Helper()
	g, err := ParseGroup(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestParseGroup(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // String() of the result; "" when an error is wanted
		ssm  bool
		v6   bool
		err  string // a part of the error text
	}{
		{in: "239.1.2.3", want: "239.1.2.3"},
		{in: "  224.0.0.251 ", want: "224.0.0.251"},
		{in: "::ffff:239.1.2.3", want: "239.1.2.3"},
		{in: "ff15::1234", want: "ff15::1234", v6: true},
		{in: "FF1E::1", want: "ff1e::1", v6: true},
		{in: "ff02::fb%eth0", want: "ff02::fb%eth0", v6: true},
		{in: "ff01::1%lo", want: "ff01::1%lo", v6: true},
		{in: "ff12::1234%2", want: "ff12::1234%2", v6: true},
		{in: "ff32::8000:1%eth0", want: "ff32::8000:1%eth0", v6: true},
		{in: "10.0.0.1,232.1.1.1", want: "10.0.0.1,232.1.1.1", ssm: true},
		{in: "10.0.0.1 , 239.1.1.1", want: "10.0.0.1,239.1.1.1", ssm: true}, // SSM outside 232/8 is allowed
		{in: "::ffff:10.0.0.1,232.1.1.1", want: "10.0.0.1,232.1.1.1", ssm: true},
		{in: "2001:db8::1,ff3e::8000:1", want: "2001:db8::1,ff3e::8000:1", ssm: true, v6: true},
		{in: "fe80::1,ff32::8000:1%eth0", want: "fe80::1,ff32::8000:1%eth0", ssm: true, v6: true},

		{in: "", err: "empty"},
		{in: "   ", err: "empty"},
		{in: "10.0.0.1", err: "10.0.0.1 is not a multicast address"},
		{in: "2001:db8::1", err: "not a multicast address"},
		{in: "240.0.0.1", err: "not a multicast address"},
		{in: "239.1.2", err: "not an IP address"},
		{in: "printer.local", err: "not an IP address"},
		{in: "239.1.2.3%eth0", err: "not an IP address"},
		{in: "::ffff:239.1.2.3%eth0", err: "IPv4-mapped address takes no zone"},
		{in: "ff02::fb", err: "link-local scope group and needs its interface as a zone, e.g. ff02::fb%eth0"},
		{in: "ff12::1234", err: "link-local scope group"},
		{in: "ff01::1", err: "interface-local scope group"},
		{in: "ff15::1%eth0", err: `zone "eth0" only belongs on an interface- or link-local`},
		{in: "a,b,c", err: "more than one comma"},
		{in: ",232.1.1.1", err: "source: empty address"},
		{in: "10.0.0.1,", err: "empty address"},
		{in: "2001:db8::1,232.1.1.1", err: "source 2001:db8::1 is IPv6 but group 232.1.1.1 is IPv4"},
		{in: "10.0.0.1,ff3e::1", err: "source 10.0.0.1 is IPv4 but group ff3e::1 is IPv6"},
		{in: "239.9.9.9,232.1.1.1", err: "source 239.9.9.9 is a multicast address"},
		{in: "0.0.0.0,232.1.1.1", err: "unspecified"},
		{in: "fe80::1%eth0,ff3e::1", err: "takes no zone"},
		{in: "10.0.0.1,10.0.0.2", err: "10.0.0.2 is not a multicast address"},
	} {
		g, err := ParseGroup(tc.in)
		if tc.err != "" {
			if err == nil {
				t.Errorf("ParseGroup(%q) = %v; want an error containing %q", tc.in, g, tc.err)
				continue
			}
			if !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParseGroup(%q) error %q; want it to quote the text and contain %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseGroup(%q): %v", tc.in, err)
			continue
		}
		if got := g.String(); got != tc.want {
			t.Errorf("ParseGroup(%q).String() = %q; want %q", tc.in, got, tc.want)
		}
		if g.IsSSM() != tc.ssm || g.Is6() != tc.v6 {
			t.Errorf("ParseGroup(%q): IsSSM %v, Is6 %v; want %v, %v", tc.in, g.IsSSM(), g.Is6(), tc.ssm, tc.v6)
		}
	}
}

func TestGroupZeroAndRange(t *testing.T) {
	if s := (Group{}).String(); s != "" {
		t.Errorf("Group{}.String() = %q; want empty", s)
	}
	if err := (Group{}).check(); err == nil {
		t.Error("Group{}.check() = nil; want an error")
	}
	for in, want := range map[string]bool{
		"232.0.0.1":            true,
		"232.255.255.255":      true,
		"231.255.255.255":      false,
		"233.0.0.1":            false,
		"ff3e::8000:1":         true,
		"ff32::1%eth0":         true,
		"ff3e:1::1":            false, // ff3x::/32 means the next 16 bits are zero
		"ff1e::1":              false,
		"10.0.0.1,232.1.1.1":   true,
		"10.0.0.1,239.1.1.1":   false,
		"2001:db8::1,ff35::80": true,
	} {
		if got := mustGroup(t, in).InSSMRange(); got != want {
			t.Errorf("%s: InSSMRange() = %v; want %v", in, got, want)
		}
	}
}

// TestGroupCheck covers Groups built in code, which skip ParseGroup.
func TestGroupCheck(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		g   Group
		err string
	}{
		{Group{Addr: a("ff02::fb")}, ""}, // no zone: Join picks interfaces
		{Group{Addr: a("::ffff:239.1.1.1")}, "use the IPv4 form 239.1.1.1"},
		{Group{Addr: a("239.1.1.1"), Source: a("::ffff:10.0.0.1")}, "use the IPv4 form 10.0.0.1"},
		{Group{Addr: a("ff3e::1"), Source: a("::")}, "unspecified"},
		{Group{Source: a("10.0.0.1")}, "no group address"},
	} {
		err := tc.g.check()
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%#v.check() = %v; want %q", tc.g, err, tc.err)
		}
	}
}

// FuzzParseGroup checks that ParseGroup never panics, that what it accepts
// is a valid group, and that String gives it back.
func FuzzParseGroup(f *testing.F) {
	for _, s := range []string{"239.1.2.3", "ff02::fb%eth0", "10.0.0.1,232.1.1.1", "2001:db8::1,ff3e::8000:1", "::ffff:239.1.1.1", "ff15::1%x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGroup(s)
		if err != nil {
			return
		}
		if err := g.check(); err != nil {
			t.Fatalf("ParseGroup(%q) = %v, which check rejects: %v", s, g, err)
		}
		if needsZone(g.Addr) != (g.Addr.Zone() != "") {
			t.Fatalf("ParseGroup(%q) = %v: zone %q on a group whose scope needs one: %v", s, g, g.Addr.Zone(), needsZone(g.Addr))
		}
		back, err := ParseGroup(g.String())
		if err != nil || back != g {
			t.Fatalf("ParseGroup(%q) = %v; ParseGroup(%q) = %v, %v; want the same group", s, g, g.String(), back, err)
		}
	})
}
