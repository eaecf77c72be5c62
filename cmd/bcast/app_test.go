package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string // in stderr
	}{
		{"unknown command", "", []string{"nosuch"}, `unknown command "nosuch"`},
		{"help for unknown command", "", []string{"help", "nosuch"}, "No help topic"},
		{"unknown flag", "", []string{"send", "--nosuch"}, "flag provided but not defined: -nosuch"},
		{"flag without value", "", []string{"send", "--to"}, "flag needs an argument"},
		{"send without --to", "", []string{"send", "-m", "x"}, "--to is required"},
		{"send bad --to", "", []string{"send", "--to", "1.2.3.4", "-m", "x"}, `--to "1.2.3.4"`},
		{"send bad port", "", []string{"send", "--to", "1.2.3.4:99999", "-m", "x"}, `port "99999"`},
		{"send port 0", "", []string{"send", "--to", "127.0.0.1:0", "-m", "x"}, "port 0"},
		{"send unresolvable", "", []string{"send", "--to", "no-such-host.invalid:9", "-m", "x"}, `cannot resolve "no-such-host.invalid"`},
		{"send :PORT alone", "", []string{"send", "--to", ":9", "-m", "x"}, "with --all-interfaces"},
		{"send --all-interfaces unicast", "", []string{"send", "--to", "127.0.0.1:9", "--all-interfaces", "-m", "x"}, "--all-interfaces needs"},
		{"send ttl", "", []string{"send", "--to", "127.0.0.1:9", "--ttl", "300", "-m", "x"}, "--ttl 300: must be 1 to 255"},
		{"send tos", "", []string{"send", "--to", "127.0.0.1:9", "--tos", "-1", "-m", "x"}, "--tos -1"},
		{"send rate and interval", "", []string{"send", "--to", "127.0.0.1:9", "--rate", "5", "--interval", "1s", "-m", "x"}, "--rate and --interval"},
		{"send rate zero", "", []string{"send", "--to", "127.0.0.1:9", "--rate", "0", "-m", "x"}, "--rate 0"},
		{"send seq size", "", []string{"send", "--to", "127.0.0.1:9", "--seq", "--size", "10"}, "--size 10: --seq needs at least 40"},
		{"send size below message", "", []string{"send", "--to", "127.0.0.1:9", "--size", "2", "-m", "hello"}, "--size 2: smaller than the 5-byte payload"},
		{"send size too big", "", []string{"send", "--to", "127.0.0.1:9", "--size", "70000"}, "--size 70000"},
		{"send message and file", "", []string{"send", "--to", "127.0.0.1:9", "-m", "x", "--file", "y"}, "--message and --file"},
		{"send missing file", "", []string{"send", "--to", "127.0.0.1:9", "--file", "/nonexistent/payload"}, "--file: open /nonexistent/payload"},
		{"send nothing", "", []string{"send", "--to", "127.0.0.1:9"}, "nothing to send"},
		{"send stdin too big", strings.Repeat("x", maxPayload+1), []string{"send", "--to", "127.0.0.1:9"}, "more than 65507 bytes"},
		{"send unknown iface", "", []string{"send", "--to", "127.0.0.1:9", "--iface", "nosuch0", "-m", "x"}, `--iface "nosuch0"`},
		{"send zone and iface differ", "", []string{"send", "--to", "[ff02::1%lo]:9", "--iface", "nosuch0", "-m", "x"}, "names interface lo but --iface is nosuch0"},
		{"send bind-device without iface", "", []string{"send", "--to", "127.0.0.1:9", "--bind-device", "-m", "x"}, "--bind-device needs --iface"},
		{"send src family", "", []string{"send", "--to", "127.0.0.1:9", "--src", "::1", "-m", "x"}, "different IP versions"},
		{"send bad src", "", []string{"send", "--to", "127.0.0.1:9", "--src", "nope", "-m", "x"}, `--src "nope"`},
		{"send argument", "", []string{"send", "--to", "127.0.0.1:9", "hello"}, `unexpected argument "hello"`},
		{"listen without --listen", "", []string{"listen"}, "--listen is required"},
		{"listen bad group", "", []string{"listen", "--listen", ":9", "--group", "1.2.3.4"}, `--group "1.2.3.4"`},
		{"listen v6 group on v4 address", "", []string{"listen", "--listen", "127.0.0.1:9", "--group", "ff05::1"}, "is IPv6 but --listen 127.0.0.1:9 is IPv4"},
		{"listen expect without seq", "", []string{"listen", "--listen", ":9", "--expect", "5"}, "--expect needs --seq"},
		{"listen buffer", "", []string{"listen", "--listen", ":9", "--buffer", "0"}, "--buffer 0"},
		{"listen negative timeout", "", []string{"listen", "--listen", ":9", "--timeout", "-1s"}, "must not be negative"},
		{"recv alias", "", []string{"recv", "--listen", "x:y:z"}, `--listen "x:y:z"`},
		{"echo bad listen", "", []string{"echo", "--listen", "nope"}, `--listen "nope"`},
		{"echo negative limit", "", []string{"echo", "--listen", ":9", "--limit", "-1"}, "--limit -1"},
		{"ping without --to", "", []string{"ping"}, "--to is required"},
		{"ping size", "", []string{"ping", "--to", "127.0.0.1:9", "--size", "10"}, "--size 10: must be 40 to 65507"},
		{"relay without --from", "", []string{"relay", "--port", "9", "--to", "lo"}, "--from is required"},
		{"relay without port", "", []string{"relay", "--from", "lo", "--to", "lo"}, "--port 0"},
		{"relay nothing", "", []string{"relay", "--port", "9", "--from", "lo", "--to", "lo", "--no-broadcast"}, "leaves nothing to relay"},
		{"relay v6 with broadcast", "", []string{"relay", "--port", "9", "--from", "lo", "--to", "lo", "--group", "ff05::1"}, "IPv6 groups need --no-broadcast"},
		{"doctor bad group", "", []string{"doctor", "--group", "1.2.3.4"}, `--group "1.2.3.4"`},
		{"doctor bad port", "", []string{"doctor", "--port", "70000"}, "--port 70000"},
		{"doctor unknown iface", "", []string{"doctor", "--iface", "nosuch0"}, `--iface "nosuch0"`},
		{"ifaces unknown iface", "", []string{"ifaces", "--iface", "nosuch0"}, "nosuch0"},
		{"discover transport", "", []string{"discover", "--transport", "pigeon"}, `--transport "pigeon"`},
		{"discover v6 broadcast", "", []string{"discover", "--network", "udp6", "--transport", "broadcast"}, "IPv6 has no broadcast"},
		{"announce without service", "", []string{"announce"}, "--service is required"},
		{"announce bad text", "", []string{"announce", "--service", "x", "--text", "novalue"}, `--text "novalue"`},
		{"completion unknown shell", "", []string{"completion", "fish"}, `unknown shell "fish"`},
		{"completion no shell", "", []string{"completion"}, "name a shell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runApp(t, tt.stdin, tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d; want %d (usage); stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

func TestEnvVarBadValueIsUsageError(t *testing.T) {
	t.Setenv(envTTL, "many")
	r := runApp(t, "", "send", "--to", "127.0.0.1:9", "-m", "x")
	if r.code != exitUsage || !strings.Contains(r.stderr, envTTL) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming %s", r.code, r.stderr, envTTL)
	}
}

func TestEnvVarsFillFlags(t *testing.T) {
	l, _ := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "1")
	_ = l
	// BCAST_TO and BCAST_JSON stand in for --to and --json.
	addr := listenAddr(t, l)
	t.Setenv(envTo, addr)
	t.Setenv(envJSON, "true")
	r := runApp(t, "", "send", "-m", "from env")
	if r.code != 0 {
		t.Fatalf("send with BCAST_TO: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &m); err != nil || m["type"] != "sent" {
		t.Errorf("BCAST_JSON did not make JSON: %q (%v)", r.stdout, err)
	}
	if d := l.next(); d["text"] != "from env" {
		t.Errorf("listener got %v", d)
	}
}

func TestHelp(t *testing.T) {
	r := runApp(t, "", "--help")
	for _, want := range []string{"EXIT STATUS", "BCAST_IFACE", "send", "listen, recv", "doctor", "completion"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bcast --help lacks %q", want)
		}
	}
	if r.code != 0 {
		t.Errorf("bcast --help: exit %d", r.code)
	}
	if r := runApp(t, ""); r.code != 0 || !strings.Contains(r.stdout, "COMMANDS") {
		t.Errorf("bcast without arguments: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	for _, cmd := range newApp(nil, nil).Commands {
		t.Run(cmd.Name, func(t *testing.T) {
			r := runApp(t, "", cmd.Name, "--help")
			if r.code != 0 {
				t.Errorf("exit %d", r.code)
			}
			if !strings.Contains(r.stdout, "bcast "+cmd.Name+" ") {
				t.Errorf("help has no example of bcast %s:\n%s", cmd.Name, r.stdout)
			}
			if r2 := runApp(t, "", "help", cmd.Name); r2.stdout != r.stdout {
				t.Errorf("bcast help %s differs from bcast %s --help", cmd.Name, cmd.Name)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	r := runApp(t, "", "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "complete -o bashdefault -o default -F _bcast_complete bcast") {
		t.Errorf("bash script: exit %d\n%s", r.code, r.stdout)
	}
	r = runApp(t, "", "completion", "zsh")
	if r.code != 0 || !strings.Contains(r.stdout, "compdef _bcast bcast") {
		t.Errorf("zsh script: exit %d\n%s", r.code, r.stdout)
	}
	// What the scripts run: the candidates at each level.
	r = runApp(t, "", "--generate-bash-completion")
	for _, want := range []string{"send\n", "listen\n", "doctor\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("top-level candidates lack %q:\n%s", want, r.stdout)
		}
	}
	r = runApp(t, "", "send", "--generate-bash-completion")
	for _, want := range []string{"--to\n", "--all-interfaces\n", "--seq\n", "-t\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("send candidates lack %q:\n%s", want, r.stdout)
		}
	}
	r = runApp(t, "", "completion", "--generate-bash-completion")
	if r.stdout != "bash\nzsh\n" {
		t.Errorf("completion candidates = %q", r.stdout)
	}
}

func TestSplitGroups(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"239.1.1.1", []string{"239.1.1.1"}},
		{"239.1.1.1,239.1.1.2", []string{"239.1.1.1", "239.1.1.2"}},
		{"10.0.0.1,232.1.1.1", []string{"10.0.0.1,232.1.1.1"}},
		{"239.1.1.1,10.0.0.1,232.1.1.1 ff02::fb%eth0", []string{"239.1.1.1", "10.0.0.1,232.1.1.1", "ff02::fb%eth0"}},
		{" ,239.1.1.1,, ", []string{"239.1.1.1"}},
	}
	for _, tt := range tests {
		got := splitGroups(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("splitGroups(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
