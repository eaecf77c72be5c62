package cmdline

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

var testFlags = []cli.Flag{
	&cli.DurationFlag{Name: "interval"},
	&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}},
	&cli.IntFlag{Name: "size"},
	&cli.Float64Flag{Name: "rate"},
	&cli.BoolFlag{Name: "json"},
	&cli.StringFlag{Name: "from"},
	&cli.StringFlag{Name: "iface"},
}

// parseErr is the error the flag package gives for args, as urfave/cli
// sees it.
func parseErr(t *testing.T, args ...string) error {
	t.Helper()
	set := flag.NewFlagSet("x", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range testFlags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	err := set.Parse(args)
	if err == nil {
		t.Fatalf("%q parsed; want an error", args)
	}
	return err
}

func TestParseError(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--frob"}, "unknown flag --frob (did you mean --from?)"},
		{[]string{"-frob"}, "unknown flag --frob (did you mean --from?)"},
		{[]string{"--parrot"}, "unknown flag --parrot"},
		{[]string{"--ttl", "5s"}, "unknown flag --ttl (--ttl is a hop count; a lifetime is --lifetime)"},
		{[]string{"--fro"}, "unknown flag --fro (did you mean --from?)"},
		{[]string{"--ifcae", "x"}, "unknown flag --ifcae (did you mean --iface?)"},
		{[]string{"-z"}, "unknown flag -z"},
		{[]string{"--interval"}, "--interval needs a value"},
		{[]string{"--interval", "5"}, "--interval 5: a duration needs a unit: 5s (or ms, m, h)"},
		{[]string{"--interval", "0.5"}, "--interval 0.5: a duration needs a unit: 0.5s (or ms, m, h)"},
		{[]string{"--interval", "soon"}, "--interval soon: not a duration; write it like 500ms, 5s, 1m30s or 2h"},
		{[]string{"--interval", "99999999999h"}, "--interval 99999999999h: too long a duration (at most 2562047h)"},
		{[]string{"--count", "-1"}, "--count -1: must not be negative"},
		{[]string{"-c", "-1"}, "--count -1: must not be negative"},
		{[]string{"--count", "99999999999999999999"}, "--count 99999999999999999999: too large a number"},
		{[]string{"--count", "1e3"}, "--count 1e3: write it as a whole number without exponent or decimal point"},
		{[]string{"--size", "ten"}, "--size ten: not a whole number"},
		{[]string{"--rate", "fast"}, "--rate fast: not a number"},
		{[]string{"--json=maybe"}, "--json maybe: want true or false (or 1 or 0)"},
		{[]string{"--size", "two words"}, `--size "two words": not a whole number`},
		{[]string{"---x"}, `"---x" is not a flag (flags are --name or --name=value)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := ParseError(testFlags, map[string]string{"ttl": "--ttl is a hop count; a lifetime is --lifetime"}, parseErr(t, tt.args...))
			if got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
			for _, goism := range []string{"strconv", "parse error", "provided but not defined", "ParseBool", "for flag -"} {
				if strings.Contains(got, goism) {
					t.Errorf("got %q: names %q", got, goism)
				}
			}
		})
	}
	if got := ParseError(testFlags, nil, errors.New("something else")); got != "something else" {
		t.Errorf("an unknown error: got %q; want it unchanged", got)
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct {
		host    string
		literal bool
		problem string // "" for a valid address; else words it must hold
	}{
		{"127.0.0.1", true, ""},
		{"::1", true, ""},
		{"fe80::1%eth0", true, ""},
		{"printer.lan", false, ""},
		{"localhost", false, ""},
		{"3com", false, ""},
		{"0x7f000001", true, "write 127.0.0.1"},
		{"2130706433", true, "write 127.0.0.1"},
		{"127.1", true, "write 127.0.0.1"},
		{"10.1.2", true, "write 10.1.0.2"},
		{"300.1.1.1", true, "300 is above 255"},
		{"010.1.1.1", true, "write 8.1.1.1"},
		{"1.2.3.4.5", true, "four numbers"},
		{"1..2.3", true, "empty number"},
		{"::1%", true, "empty zone"},
		{"1.2.3.4%eth0", true, "IPv4 address takes no zone"},
		{"fe80::zz", true, "not a valid IPv6 address"},
		{"[::1]", true, "brackets"},
		{"99999999999", true, "not a number from 0 to 255"},
	}
	for _, tt := range tests {
		if got := LooksLiteral(tt.host); got != tt.literal {
			t.Errorf("LooksLiteral(%q) = %v; want %v", tt.host, got, tt.literal)
		}
		if !tt.literal {
			continue
		}
		got := LiteralProblem(tt.host)
		_, perr := netip.ParseAddr(tt.host)
		switch {
		case tt.problem == "" && got != "":
			t.Errorf("LiteralProblem(%q) = %q; want none", tt.host, got)
		case tt.problem != "" && !strings.Contains(got, tt.problem):
			t.Errorf("LiteralProblem(%q) = %q; want it to say %q", tt.host, got, tt.problem)
		case (got == "") != (perr == nil):
			t.Errorf("LiteralProblem(%q) = %q but ParseAddr says %v", tt.host, got, perr)
		}
		if strings.Contains(got, "ParseAddr") {
			t.Errorf("LiteralProblem(%q) = %q names a Go function", tt.host, got)
		}
	}
}

func FuzzLiteralProblem(f *testing.F) {
	for _, s := range []string{"127.1", "0x7f000001", "::1%", "300.1.1.1", "fe80::1%eth0", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := LiteralProblem(s)
		_, err := netip.ParseAddr(s)
		if (p == "") != (err == nil) {
			t.Errorf("LiteralProblem(%q) = %q but ParseAddr says %v", s, p, err)
		}
	})
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"fro", "from"}, {"ifcae", "iface"}, {"jsno", "json"}, {"zzzzzz", ""}, {"rat", "rate"}, {"c", ""},
	}
	for _, tt := range tests {
		if got := Suggest(testFlags, tt.in); got != tt.want {
			t.Errorf("Suggest(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckInterface(t *testing.T) {
	if err := CheckInterface("--iface", "lo"); err != nil {
		t.Errorf("lo: %v", err)
	}
	err := CheckInterface("BCAST_IFACE (for --iface)", "nosuch0")
	if err == nil {
		t.Fatal("nosuch0 accepted")
	}
	for _, w := range []string{"BCAST_IFACE (for --iface): no interface nosuch0", "the interfaces here are", "lo"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got %q; want it to say %q", err, w)
		}
	}
}

func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	want := "v1.2.3, revision 0123456789ab (2026-01-02T03:04:05Z) with local changes, go1.26.0"
	if got := versionText(bi); got != want {
		t.Errorf("got %q; want %q", got, want)
	}
	if got := versionText(&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}); got != "(devel), go1.26.0" {
		t.Errorf("without VCS: got %q", got)
	}
}

func TestNamesUnique(t *testing.T) {
	long, short := map[string]bool{}, map[string]string{}
	for _, n := range Names {
		if long[n.Long] {
			t.Errorf("--%s listed twice", n.Long)
		}
		long[n.Long] = true
		if n.Short == "" {
			continue
		}
		if other, ok := short[n.Short]; ok {
			t.Errorf("-%s is both --%s and --%s", n.Short, other, n.Long)
		}
		short[n.Short] = n.Long
	}
}
