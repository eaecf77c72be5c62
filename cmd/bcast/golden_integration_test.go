package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/bcastdev/bcast/internal/netns"
)

// goldenCase is one command line with bad input. prog is "bcast" or
// "listen" (the daemon); env is set for the run.
type goldenCase struct {
	class string
	env   []string
	prog  string
	args  []string
}

// goldenCases run every command with each class of bad input. Their exit
// codes and whole messages are in testdata/errors.golden, which a person
// reads when it changes: a list of forbidden words would let new Go
// identifiers through, a reviewed file does not.
var goldenCases = []goldenCase{
	{class: "unknown interface", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--iface", "eht0", "-m", "x"}},
	{class: "unknown interface", prog: "bcast", args: []string{"listen", "--listen", ":9", "--iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"echo", "--listen", ":7", "--iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"ping", "--to", "127.0.0.1:7", "--iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"discover", "--iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"announce", "--service", "s", "--iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"doctor", "--iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"ifaces", "--iface", "eht0"}},
	{class: "unknown interface", prog: "bcast", args: []string{"send", "--to", "[fe80::1%eht0]:9", "-m", "x"}},
	{class: "unknown interface", prog: "listen", args: []string{"--udp", "127.0.0.1:0", "--iface", "eht0"}},
	{class: "unknown interface", prog: "listen", args: []string{"--mode", "announce", "--service", "s", "--discovery-iface", "eht0"}},

	{class: "bad port", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:70000", "-m", "x"}},
	{class: "bad port", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:0", "-m", "x"}},
	{class: "bad port", prog: "bcast", args: []string{"listen", "--listen", "65536"}},
	{class: "bad port", prog: "bcast", args: []string{"ping", "--to", "127.0.0.1:http"}},
	{class: "bad port", prog: "bcast", args: []string{"relay", "--port", "70000", "--from-iface", "lo", "--to-iface", "lo"}},
	{class: "bad port", prog: "bcast", args: []string{"doctor", "--port", "70000"}},
	{class: "bad port", prog: "listen", args: []string{"--udp", ":99999"}},

	{class: "out-of-range number", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--ttl", "300", "-m", "x"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--count", "-1", "-m", "x"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--rate", "NaN", "-m", "x"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"listen", "--listen", ":9", "--recv-buffer", "5000000000"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--recv-buffer", "-5"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"bench", "--rate", "NaN"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"echo", "--listen", ":7", "--limit", "Inf"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"ping", "--to", "127.0.0.1:7", "--size", "10"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"demo", "--count", "0"}},
	{class: "out-of-range number", prog: "listen", args: []string{"--udp", "127.0.0.1:0", "--max-clients", "0"}},

	{class: "negative duration", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--interval", "-1s", "-m", "x"}},
	{class: "negative duration", prog: "bcast", args: []string{"listen", "--listen", ":9", "--timeout", "-1s"}},
	{class: "negative duration", prog: "bcast", args: []string{"echo", "--listen", ":7", "--timeout", "-1s"}},
	{class: "negative duration", prog: "bcast", args: []string{"ping", "--to", "127.0.0.1:7", "--wait", "-1s"}},
	{class: "negative duration", prog: "bcast", args: []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--timeout", "-1s"}},
	{class: "negative duration", prog: "bcast", args: []string{"discover", "--timeout", "-1s"}},
	{class: "negative duration", prog: "bcast", args: []string{"announce", "--service", "s", "--lifetime", "-1s"}},
	{class: "negative duration", prog: "bcast", args: []string{"bench", "--duration", "-1s"}},
	{class: "negative duration", prog: "listen", args: []string{"--udp", "127.0.0.1:0", "--idle-timeout", "-1s"}},
	{class: "duration without unit", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--interval", "5", "-m", "x"}},
	{class: "duration without unit", prog: "listen", args: []string{"--udp", "127.0.0.1:0", "--shutdown-timeout", "5"}},

	{class: "bad address literal", prog: "bcast", args: []string{"send", "--to", "0x7f000001:9", "-m", "x"}},
	{class: "bad address literal", prog: "bcast", args: []string{"send", "--to", "127.1:9", "-m", "x"}},
	{class: "bad address literal", prog: "bcast", args: []string{"send", "--to", "300.1.1.1:9", "-m", "x"}},
	{class: "bad address literal", prog: "bcast", args: []string{"send", "--to", "[::1%]:9", "-m", "x"}},
	{class: "bad address literal", prog: "bcast", args: []string{"send", "--to", "ff02::1:9", "-m", "x"}},
	{class: "bad address literal", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--src", "10.1", "-m", "x"}},
	{class: "bad address literal", prog: "bcast", args: []string{"listen", "--listen", "*:5000"}},
	{class: "bad address literal", prog: "bcast", args: []string{"listen", "--listen", ":9", "--group", "224.0.0.300"}},
	{class: "bad address literal", prog: "bcast", args: []string{"listen", "--listen", ":9", "--group", "ff02::1%"}},
	{class: "bad address literal", prog: "bcast", args: []string{"listen", "--listen", ":9", "--group", ","}},
	{class: "bad address literal", prog: "bcast", args: []string{"echo", "--listen", "300.1.1.1:7"}},
	{class: "bad address literal", prog: "bcast", args: []string{"ping", "--to", "0x7f000001:7"}},
	{class: "bad address literal", prog: "bcast", args: []string{"discover", "--dest", "[::1%]:62278"}},
	{class: "bad address literal", prog: "bcast", args: []string{"doctor", "--group", "239.1"}},

	{class: "link-local without interface", prog: "bcast", args: []string{"send", "--to", "[ff02::1]:9", "-m", "x"}},
	{class: "link-local without interface", prog: "bcast", args: []string{"send", "--to", "[fe80::1]:9", "-m", "x"}},
	{class: "link-local without interface", prog: "bcast", args: []string{"ping", "--to", "[fe80::1]:7"}},
	{class: "link-local without interface", prog: "bcast", args: []string{"listen", "--listen", "[::]:9", "--group", "ff02::1234"}},

	{class: "bad env variable", env: []string{"BCAST_IFACE=eht0"}, prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "-m", "x"}},
	{class: "bad env variable", env: []string{"BCAST_JSON=maybe"}, prog: "bcast", args: []string{"listen", "--listen", ":9"}},
	{class: "bad env variable", env: []string{"BCAST_TTL=many"}, prog: "bcast", args: []string{"ping", "--to", "127.0.0.1:7"}},
	{class: "bad env variable", env: []string{"BCAST_PORT=70000"}, prog: "bcast", args: []string{"doctor"}},
	{class: "bad env variable", env: []string{"BCAST_LISTEN=127.1:7"}, prog: "bcast", args: []string{"echo"}},
	{class: "bad env variable", env: []string{"BCAST_GROUP=,"}, prog: "bcast", args: []string{"listen", "--listen", ":9"}},
	{class: "bad env variable", env: []string{"BCAST_TO=[fe80::1]:9"}, prog: "bcast", args: []string{"send", "-m", "x"}},

	{class: "unknown flag", prog: "bcast", args: []string{"send", "--frob"}},
	{class: "unknown flag", prog: "bcast", args: []string{"relay", "--to", "eth1"}},
	{class: "unknown flag", prog: "bcast", args: []string{"announce", "--service", "s", "--ttl", "5s"}},
	{class: "unknown flag", prog: "listen", args: []string{"--group", "www"}},
	{class: "out-of-range number", prog: "bcast", args: []string{"send", "--to", "[::1]:9", "--size", "65528"}},
	{class: "conflicting flags", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "--lines", "-m", "x"}},
	{class: "conflicting flags", prog: "bcast", args: []string{"listen", "--listen", ":9", "--progress", "--no-progress"}},
	{class: "conflicting flags", prog: "bcast", args: []string{"ping", "--to", "127.0.0.1:7", "--back-to-back", "--interval", "10ms"}},
	{class: "several repliers", prog: "bcast", args: []string{"ping", "--to", "255.255.255.255:7", "--back-to-back"}},
	{class: "several repliers", prog: "bcast", args: []string{"ping", "--to", "239.1.2.3:7", "--back-to-back"}},
	{class: "several repliers", prog: "bcast", args: []string{"ping", "--to", "127.255.255.255:7", "--back-to-back"}},
	{class: "stray argument", prog: "bcast", args: []string{"demo", "extra"}},
	{class: "stray argument", prog: "bcast", args: []string{"send", "--to", "127.0.0.1:9", "hello"}},
	{class: "missing arguments", prog: "bcast", args: []string{"relay"}},
	{class: "missing arguments", prog: "bcast", args: []string{"help", "nosuch"}},
}

// buildListen builds the daemon next to the bcast binary.
func buildListen(t *testing.T) string {
	t.Helper()
	out := filepath.Join(filepath.Dir(binary), "listen")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if b, err := exec.Command(gobin, "build", "-o", out, "../listen").CombinedOutput(); err != nil {
		t.Fatalf("building listen: %v\n%s", err, b)
	}
	return out
}

// TestIntegrationGoldenErrors runs the built binaries with bad input on a
// host whose only interface is lo (so interface lists are the same
// everywhere) and compares exit codes and whole messages with
// testdata/errors.golden (go test -run TestIntegrationGoldenErrors
// -update ./cmd/bcast rewrites it; review the diff).
func TestIntegrationGoldenErrors(t *testing.T) {
	lab := netns.New(t)
	h := lab.Host("golden")
	progs := map[string]string{"bcast": binary, "listen": buildListen(t)}
	var b strings.Builder
	for _, tc := range goldenCases {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		// env -i: the variables of the machine running the test stay out.
		args := append([]string{"-i"}, tc.env...)
		args = append(append(args, progs[tc.prog]), tc.args...)
		cmd := h.Command(ctx, "env", args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s %s: %v", tc.prog, strings.Join(tc.args, " "), err)
		}
		if code != exitUsage {
			t.Errorf("%s %s: exit %d; want %d (usage)\n%s", tc.prog, strings.Join(tc.args, " "), code, exitUsage, stderr.String())
		}
		if stdout.Len() > 0 {
			t.Errorf("%s %s: a usage error printed on standard output: %q", tc.prog, strings.Join(tc.args, " "), stdout.String())
		}
		fmt.Fprintf(&b, "# %s\n$ %s%s %s\nexit %d\n%s\n", tc.class, envPrefix(tc.env), tc.prog, cmdline.ShellQuote(tc.args), code, stderr.String())
	}
	golden := filepath.Join("testdata", "errors.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it, then review it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("%s line %d:\n got  %q\n want %q\n(run with -update if the change is meant, and review the diff)", golden, i+1, g, w)
				break
			}
		}
	}
}

func envPrefix(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return cmdline.ShellQuote(env) + " "
}
