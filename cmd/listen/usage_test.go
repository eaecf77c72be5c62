package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runApp runs the command tree in-process, as run does, without signals.
func runApp(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).RunContext(context.Background(), append([]string{"listen"}, args...))
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runApp(t, "--help")
	if code != exitOK {
		t.Fatalf("--help exit code %d; want 0", code)
	}
	for _, want := range []string{
		"EXIT STATUS", "0  stopped", "1  runtime failure", "2  usage error",
		"--tcp ADDR", "--udp ADDR", "--unix PATH", "--unixgram PATH", "--iface NAME",
		"--mode MODE", "--max-clients", "--idle-timeout", "--max-line BYTES", "--client-memory BYTES", "--shutdown-timeout",
		"--pidfile FILE", "--user USER", "--run-group GROUP", "--config FILE",
		"--log FILE", "--log-format FORMAT", "--log-level LEVEL", "SIGHUP", "SIGTERM",
		"--service NAME", "--instance ID", "--text KEY=VALUE", "--discovery-port PORT", "--discovery-dest ADDR", "announce",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %q:\n%s", want, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.conf")
	os.WriteFile(badConfig, []byte("max-clients = 10\nmax-clientz = 3\n"), 0o644)
	badValue := filepath.Join(dir, "value.conf")
	os.WriteFile(badValue, []byte("# limits\nidle-timeout = soon\n"), 0o644)
	badMemory := filepath.Join(dir, "memory.conf")
	os.WriteFile(badMemory, []byte("client-memory = lots\n"), 0o644)
	smallMemory := filepath.Join(dir, "small.conf")
	os.WriteFile(smallMemory, []byte("max-line = 100000\nclient-memory = 128KiB\n"), 0o644)
	tcp := []string{"--tcp", "127.0.0.1:0"}
	tests := []struct {
		name string
		args []string
		want []string // all must appear in stderr
	}{
		{"no listener", nil, []string{"no listeners", "--tcp"}},
		{"argument", []string{"--tcp", "127.0.0.1:0", "extra"}, []string{`unexpected argument "extra"`}},
		{"unknown flag", []string{"--parrot"}, []string{"parrot"}},
		{"tcp host name", []string{"--tcp", "localhost:7"}, []string{`--tcp localhost:7: host localhost: want a literal IP`}},
		{"tcp no port", []string{"--tcp", "127.0.0.1"}, []string{`--tcp 127.0.0.1: want HOST:PORT`}},
		{"udp port range", []string{"--udp", ":99999"}, []string{`--udp :99999: port 99999 is out of range (0 to 65535)`}},
		{"unix empty", []string{"--unix", ""}, []string{`--unix ""`}},
		{"unixgram too long", []string{"--unixgram", "/" + strings.Repeat("x", 200)}, []string{"--unixgram", "longer than"}},
		{"mode", append([]string{"--mode", "parrot"}, tcp...), []string{"--mode", `"parrot"`, "echo, discard or announce"}},
		{"max-clients zero", append([]string{"--max-clients", "0"}, tcp...), []string{"--max-clients 0", "must be 1 to 1048576"}},
		{"max-clients text", append([]string{"--max-clients", "many"}, tcp...), []string{"max-clients", "many"}},
		{"max-line", append([]string{"--max-line", "-5"}, tcp...), []string{"--max-line -5"}},
		{"client-memory unit", append([]string{"--client-memory", "64X"}, tcp...), []string{`--client-memory "64X": unknown unit X: want a number of bytes, or one with a unit: KiB, MiB, GiB, TiB`}},
		{"client-memory small", append([]string{"--client-memory", "1KiB"}, tcp...), []string{`--client-memory "1KiB": must be 64KiB to 1TiB`}},
		{"client-memory huge", append([]string{"--client-memory", "2TiB"}, tcp...), []string{`--client-memory "2TiB": must be 64KiB to 1TiB`}},
		{"client-memory fraction", append([]string{"--client-memory", "1.5GiB"}, tcp...), []string{`--client-memory "1.5GiB": want a whole number; write 1536MiB rather than 1.5GiB`}},
		{"client-memory negative", append([]string{"--client-memory", "-1"}, tcp...), []string{`--client-memory "-1": must not be negative`}},
		{"client-memory for max-line", append([]string{"--client-memory", "64KiB", "--max-line", "65536"}, tcp...),
			[]string{"--client-memory 64KiB is too small for --max-line 65536: it must hold two such lines with their newlines (131074 bytes at least)"}},
		{"config client-memory", append([]string{"--config", badMemory}, tcp...), []string{"memory.conf line 1", `client-memory "lots": want a number of bytes`}},
		{"config client-memory for max-line", append([]string{"--config", smallMemory}, tcp...), []string{"small.conf: --client-memory 128KiB is too small for --max-line 100000"}},
		{"idle-timeout", append([]string{"--idle-timeout", "-1s"}, tcp...), []string{"--idle-timeout -1s", "negative"}},
		{"shutdown-timeout", append([]string{"--shutdown-timeout", "-2s"}, tcp...), []string{"--shutdown-timeout -2s"}},
		{"log-format", append([]string{"--log-format", "xml"}, tcp...), []string{`--log-format "xml"`}},
		{"log-level", append([]string{"--log-level", "loud"}, tcp...), []string{"--log-level", `"loud"`}},
		{"user", append([]string{"--user", "no-such-user-bcast"}, tcp...), []string{"--user no-such-user-bcast"}},
		{"group", append([]string{"--run-group", "no-such-group-bcast"}, tcp...), []string{"--run-group no-such-group-bcast"}},
		{"old --group", append([]string{"--group", "www"}, tcp...), []string{"unknown flag --group (the Unix group to run as is --run-group now"}},
		{"device unknown", append([]string{"--iface", "nosuch0"}, tcp...), []string{"--iface: no interface nosuch0; the interfaces here are lo"}},
		{"old --device unknown", append([]string{"--device", "nosuch0"}, tcp...), []string{"--iface: no interface nosuch0"}},
		{"discovery iface unknown", []string{"--mode", "announce", "--service", "s", "--discovery-iface", "nosuch0"}, []string{"--discovery-iface: no interface nosuch0"}},
		{"duration unit", append([]string{"--idle-timeout", "5"}, tcp...), []string{"--idle-timeout 5: a duration needs a unit: 5s"}},
		{"config missing", append([]string{"--config", filepath.Join(dir, "none.conf")}, tcp...), []string{"--config", "none.conf"}},
		{"config key", append([]string{"--config", badConfig}, tcp...), []string{"bad.conf", "line 2", `"max-clientz"`}},
		{"config value", append([]string{"--config", badValue}, tcp...), []string{"value.conf line 2", `idle-timeout "soon"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runApp(t, tt.args...)
			if code != exitUsage {
				t.Fatalf("listen %q: exit code %d; want %d (stderr %q)", tt.args, code, exitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
		})
	}
}

// TestRuntimeFailure: a listener that cannot be opened is exit code 1, and
// the message names the flag, the address and the errno.
func TestRuntimeFailure(t *testing.T) {
	dir := t.TempDir()
	notSocket := filepath.Join(dir, "plain")
	os.WriteFile(notSocket, nil, 0o644)
	code, stderr := runToExit(t, "--unix", notSocket)
	if code != exitFailure || !strings.Contains(stderr, "--unix "+notSocket) || !strings.Contains(stderr, "not a socket") {
		t.Fatalf("exit code %d, stderr %q; want 1 and a message naming --unix and the file", code, stderr)
	}
	code, stderr = runToExit(t, "--tcp", "192.0.2.1:0")
	if code != exitFailure || !strings.Contains(stderr, "--tcp 192.0.2.1:0") || !strings.Contains(stderr, "EADDRNOTAVAIL") {
		t.Fatalf("exit code %d, stderr %q; want 1 and a bind error naming --tcp and EADDRNOTAVAIL", code, stderr)
	}
}
