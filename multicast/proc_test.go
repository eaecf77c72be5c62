package multicast

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// The testdata files are /proc/net/igmp and /proc/net/igmp6 as captured on
// the development machine: *-host.txt from the root namespace, *-ns.txt
// from a namespace with veth links (one with a 13-byte name that runs into
// the colon), sockets holding 239.1.2.3 twice, 224.0.0.251, SSM 232.1.1.1,
// ff15::1234, ff02::fb and ff3e::8000:1.

func memberships(t *testing.T, ms []HostMembership) []string {
	t.Helper()
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d %s %s %d", m.IfIndex, m.IfName, m.Group, m.Users))
	}
	return out
}

// skipBigEndian skips tests on the captures, whose IPv4 groups are in the
// little-endian byte order of the machine they were taken on.
func skipBigEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("testdata/igmp-*.txt were captured on a little-endian machine")
	}
}

func TestParseIGMP(t *testing.T) {
	skipBigEndian(t)
	for file, want := range map[string][]string{
		"testdata/igmp-host.txt": {
			"1 lo 224.0.0.1 1",
			"4 eth0 224.0.0.1 1",
		},
		"testdata/igmp-ns.txt": {
			"1 lo 224.0.0.1 1",
			"2 vlpeer0 224.0.0.1 1",
			"3 verylongname0 239.1.2.3 1",
			"3 verylongname0 224.0.0.1 1",
			"4 d1peer 224.0.0.1 1",
			"5 d1 232.1.1.1 1",
			"5 d1 224.0.0.251 1",
			"5 d1 239.1.2.3 2",
			"5 d1 224.0.0.1 1",
		},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := ParseIGMP(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := memberships(t, ms); !slices.Equal(got, want) {
			t.Errorf("%s: got\n%s\nwant\n%s", file, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestParseIGMP6(t *testing.T) {
	for file, want := range map[string][]string{
		"testdata/igmp6-host.txt": {
			"1 lo ff02::1%lo 1",
			"1 lo ff01::1%lo 1",
			"2 ifb0 ff02::1%ifb0 1",
			"2 ifb0 ff01::1%ifb0 1",
			"3 ifb1 ff02::1%ifb1 1",
			"3 ifb1 ff01::1%ifb1 1",
			"4 eth0 ff02::1:ff00:2%eth0 1",
			"4 eth0 ff02::1:ff00:1%eth0 1",
			"4 eth0 ff02::1%eth0 1",
			"4 eth0 ff01::1%eth0 1",
		},
		"testdata/igmp6-ns.txt": {
			"1 lo ff02::1%lo 1",
			"1 lo ff01::1%lo 1",
			"2 vlpeer0 ff02::1:ffdb:b636%vlpeer0 1",
			"2 vlpeer0 ff02::1%vlpeer0 1",
			"2 vlpeer0 ff01::1%vlpeer0 1",
			"3 verylongname0 ff02::1:ffb3:6f79%verylongname0 1",
			"3 verylongname0 ff02::1%verylongname0 1",
			"3 verylongname0 ff01::1%verylongname0 1",
			"4 d1peer ff02::1:ff8d:fac0%d1peer 1",
			"4 d1peer ff02::1%d1peer 1",
			"4 d1peer ff01::1%d1peer 1",
			"5 d1 ff3e::8000:1 1",
			"5 d1 ff02::fb%d1 1",
			"5 d1 ff15::1234 1",
			"5 d1 ff02::1:ff00:1%d1 1",
			"5 d1 ff02::1:ff73:e261%d1 1",
			"5 d1 ff02::1%d1 1",
			"5 d1 ff01::1%d1 1",
		},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := ParseIGMP6(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := memberships(t, ms); !slices.Equal(got, want) {
			t.Errorf("%s: got\n%s\nwant\n%s", file, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

const igmpHeader = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n"

func TestParseIGMPErrors(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"", "empty"},
		{"1\tlo        :     1      V3\n", "line 1 \"1\\tlo        :     1      V3\": want the header line"},
		{igmpHeader + "\t\t\t\t010000E0     1 0:00000000\t\t0\n", "line 2 .* group line before any interface line"},
		{igmpHeader + "x\tlo :     1      V3\n", "interface index \"x\""},
		{igmpHeader + "0\tlo :     1      V3\n", "interface index \"0\""},
		{igmpHeader + "1 lo :     1      V3\n", "want INDEX<tab>DEVICE"},
		{igmpHeader + "1\tlo      1      V3\n", "no colon"},
		{igmpHeader + "1\t:     1      V3\n", "interface name \"\""},
		{igmpHeader + "1\tname-too-long-16:     1      V3\n", "interface name \"name-too-long-16\""},
		{igmpHeader + "1\tlo :     1\n", "want COUNT QUERIER"},
		{igmpHeader + "1\tlo :     -1      V3\n", "group count \"-1\""},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\t010000E     1 0:00000000\t\t0\n", "line 3 .*want 8 hex digits"},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\t010000EG     1 0:00000000\t\t0\n", "want 8 hex digits"},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\t0100000A     1 0:00000000\t\t0\n", "not a multicast address"},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\tE00000E0     x 0:00000000\t\t0\n", "users \"x\""},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\tE00000E0     1 0-00000000\t\t0\n", "timer \"0-00000000\""},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\tE00000E0     1 2:00000000\t\t0\n", "timer \"2:00000000\""},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\tE00000E0     1 0:00000000\n", "got 3 fields"},
		{igmpHeader + "1\tlo :     1      V3\n\t\t\t\tE00000E0     1 0:00000000\t\t-1\n", "reporter \"-1\""},
		{igmpHeader + strings.Repeat("x", 70000), "line 2: bufio.Scanner: token too long"},
	} {
		_, err := ParseIGMP(strings.NewReader(tc.in))
		checkErr(t, "ParseIGMP", tc.in, err, tc.err)
	}
}

func TestParseIGMP6Errors(t *testing.T) {
	const ok = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n"
	for _, tc := range []struct {
		in, err string
	}{
		{ok + "2    eth0            ff02000000000000000000000000001     1 0000000C 0\n", "line 2 .*want 32 hex digits"},
		{"1    lo              ff02000000000000000000000000000g     1 0000000C 0\n", "want 32 hex digits"},
		{"1    lo              20010db8000000000000000000000001     1 0000000C 0\n", "2001:db8::1, not a multicast address"},
		{"1    lo              ff020000000000000000000000000001     1 0000000C\n", "got 5 fields"},
		{"0    lo              ff020000000000000000000000000001     1 0000000C 0\n", "interface index \"0\""},
		{"1    a/b             ff020000000000000000000000000001     1 0000000C 0\n", "interface name \"a/b\""},
		{"1    lo              ff020000000000000000000000000001    -1 0000000C 0\n", "users \"-1\""},
		{"1    lo              ff020000000000000000000000000001     1 00000000C 0\n", "flags \"00000000C\""},
		{"1    lo              ff020000000000000000000000000001     1 0000000C x\n", "timer \"x\""},
	} {
		_, err := ParseIGMP6(strings.NewReader(tc.in))
		checkErr(t, "ParseIGMP6", tc.in, err, tc.err)
	}
	if ms, err := ParseIGMP6(strings.NewReader("")); err != nil || len(ms) != 0 {
		t.Errorf("ParseIGMP6(\"\") = %v, %v; want no memberships (a kernel with no interfaces)", ms, err)
	}
}

func checkErr(t *testing.T, fn, in string, err error, want string) {
	t.Helper()
	short := in
	if len(short) > 80 {
		short = short[:80] + "..."
	}
	if err == nil {
		t.Errorf("%s(%q) = nil error; want one matching %q", fn, short, want)
		return
	}
	before, after, wild := strings.Cut(want, " .*")
	if !strings.Contains(err.Error(), before) || wild && !strings.Contains(err.Error(), after) {
		t.Errorf("%s(%q) error %q; want it to contain %q", fn, short, err, want)
	}
}

// formatIGMP writes ms in the kernel's /proc/net/igmp format (see
// igmp_mc_seq_show), one interface line per run of the same interface.
func formatIGMP(ms []HostMembership) string {
	var b strings.Builder
	b.WriteString(igmpHeader)
	for i, m := range ms {
		if i == 0 || ms[i-1].IfIndex != m.IfIndex || ms[i-1].IfName != m.IfName {
			n := 0
			for _, o := range ms[i:] {
				if o.IfIndex != m.IfIndex || o.IfName != m.IfName {
					break
				}
				n++
			}
			fmt.Fprintf(&b, "%d\t%-10s: %5d %7s\n", m.IfIndex, m.IfName, n, "V3")
		}
		a := m.Group.As4()
		fmt.Fprintf(&b, "\t\t\t\t%08X %5d %d:%08X\t\t%d\n", binary.NativeEndian.Uint32(a[:]), m.Users, 0, 0, 0)
	}
	return b.String()
}

// formatIGMP6 writes ms in the kernel's /proc/net/igmp6 format (see
// igmp6_mc_seq_show).
func formatIGMP6(ms []HostMembership) string {
	var b strings.Builder
	for _, m := range ms {
		a := m.Group.As16()
		fmt.Fprintf(&b, "%-4d %-15s %s %5d %08X %d\n", m.IfIndex, m.IfName, hex.EncodeToString(a[:]), m.Users, 4, 0)
	}
	return b.String()
}

// TestFormatIGMPMatchesCapture checks that the formatter the fuzz test
// relies on writes what the kernel writes (the capture's timers are all
// stopped, as the formatter writes them).
func TestFormatIGMPMatchesCapture(t *testing.T) {
	skipBigEndian(t)
	b, err := os.ReadFile("testdata/igmp-ns.txt")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ParseIGMP(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := formatIGMP(ms); got != string(b) {
		t.Errorf("formatted\n%s\nwant\n%s", got, b)
	}
}

func checkHostMemberships(t *testing.T, ms []HostMembership) {
	t.Helper()
	for _, m := range ms {
		if m.IfIndex <= 0 || checkIfName(m.IfName) != nil || !m.Group.IsMulticast() || m.Users < 0 ||
			needsZone(m.Group) != (m.Group.Zone() != "") || m.Group.Zone() != "" && m.Group.Zone() != m.IfName {
			t.Fatalf("invalid membership %+v", m)
		}
	}
}

func FuzzParseIGMP(f *testing.F) {
	for _, file := range []string{"testdata/igmp-host.txt", "testdata/igmp-ns.txt"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseIGMP(strings.NewReader(s))
		if err != nil {
			return
		}
		checkHostMemberships(t, ms)
		again, err := ParseIGMP(strings.NewReader(formatIGMP(ms)))
		if err != nil || !slices.Equal(again, ms) {
			t.Fatalf("round trip: parsed %v, formatted %q, parsed again %v, %v", ms, formatIGMP(ms), again, err)
		}
	})
}

func FuzzParseIGMP6(f *testing.F) {
	for _, file := range []string{"testdata/igmp6-host.txt", "testdata/igmp6-ns.txt"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseIGMP6(strings.NewReader(s))
		if err != nil {
			return
		}
		checkHostMemberships(t, ms)
		again, err := ParseIGMP6(strings.NewReader(formatIGMP6(ms)))
		if err != nil || !slices.Equal(again, ms) {
			t.Fatalf("round trip: parsed %v, formatted %q, parsed again %v, %v", ms, formatIGMP6(ms), again, err)
		}
	})
}

// TestHostMemberships reads this namespace's files: whatever groups the
// machine has, the kernel's own all-hosts group is among them on every
// interface that is up and multicast-capable.
func TestHostMemberships(t *testing.T) {
	ms, err := HostMemberships()
	if err != nil {
		t.Fatal(err)
	}
	checkHostMemberships(t, ms)
	allHosts := netip.MustParseAddr("224.0.0.1")
	if !slices.ContainsFunc(ms, func(m HostMembership) bool { return m.Group == allHosts }) {
		t.Errorf("HostMemberships() = %v; want 224.0.0.1 on some interface", ms)
	}
}
