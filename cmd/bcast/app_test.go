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
		{"help for unknown command", "", []string{"help", "nosuch"}, `bcast: no command "nosuch" (bcast help lists the commands)`},
		{"unknown flag", "", []string{"send", "--nosuch"}, "bcast send: unknown flag --nosuch\n"},
		{"flag without value", "", []string{"send", "--to"}, "bcast send: --to needs a value"},
		{"send without --to", "", []string{"send", "-m", "x"}, "--to is required"},
		{"send bad --to", "", []string{"send", "--to", "1.2.3.4", "-m", "x"}, "--to 1.2.3.4: no port; want ADDR:PORT"},
		{"send bad port", "", []string{"send", "--to", "1.2.3.4:99999", "-m", "x"}, "--to 1.2.3.4:99999: port 99999 is out of range (0 to 65535)"},
		{"send port 0", "", []string{"send", "--to", "127.0.0.1:0", "-m", "x"}, "port 0"},
		{"send unresolvable", "", []string{"send", "--to", "no-such-host.invalid:9", "-m", "x"}, `cannot resolve "no-such-host.invalid"`},
		{"send :PORT alone", "", []string{"send", "--to", ":9", "-m", "x"}, "with --all-interfaces"},
		{"send --all-interfaces unicast", "", []string{"send", "--to", "127.0.0.1:9", "--all-interfaces", "-m", "x"}, "--all-interfaces needs"},
		{"send ttl", "", []string{"send", "--to", "127.0.0.1:9", "--ttl", "300", "-m", "x"}, "--ttl 300: must be 1 to 255"},
		{"send tos", "", []string{"send", "--to", "127.0.0.1:9", "--tos", "-1", "-m", "x"}, "--tos -1"},
		{"send rate and interval", "", []string{"send", "--to", "127.0.0.1:9", "--rate", "5", "--interval", "1s", "-m", "x"}, "--rate and --interval"},
		{"send seq size", "", []string{"send", "--to", "127.0.0.1:9", "--seq", "--size", "10"}, "--size 10: --seq needs at least 40"},
		{"send size below message", "", []string{"send", "--to", "127.0.0.1:9", "--size", "2", "-m", "hello"}, "--size 2: smaller than the 5-byte payload"},
		{"send size too big", "", []string{"send", "--to", "127.0.0.1:9", "--size", "70000"}, "--size 70000"},
		{"send message and file", "", []string{"send", "--to", "127.0.0.1:9", "-m", "x", "--file", "y"}, "--message and --file"},
		{"send missing file", "", []string{"send", "--to", "127.0.0.1:9", "--file", "/nonexistent/payload"}, "--file /nonexistent/payload: no such file or directory"},
		{"send nothing", "", []string{"send", "--to", "127.0.0.1:9"}, "nothing to send"},
		{"send stdin too big", strings.Repeat("x", maxPayload4+1), []string{"send", "--to", "127.0.0.1:9"}, "more than 65507 bytes"},
		{"send stdin too big IPv6", strings.Repeat("x", maxPayload6+1), []string{"send", "--to", "[::1]:9"}, "more than 65527 bytes, the most a UDP datagram carries over IPv6"},
		{"send unknown iface", "", []string{"send", "--to", "127.0.0.1:9", "--iface", "nosuch0", "-m", "x"}, "--iface: no interface nosuch0; the interfaces here are lo"},
		{"send zone and iface differ", "", []string{"send", "--to", "[ff02::1%lo]:9", "--iface", "nosuch0", "-m", "x"}, "names interface lo but --iface is nosuch0"},
		{"send bind-device without iface", "", []string{"send", "--to", "127.0.0.1:9", "--bind-device", "-m", "x"}, "--bind-device needs --iface"},
		{"send src family", "", []string{"send", "--to", "127.0.0.1:9", "--src", "::1", "-m", "x"}, "different IP versions"},
		{"send bad src", "", []string{"send", "--to", "127.0.0.1:9", "--src", "nope", "-m", "x"}, "--src nope: not an IP address"},
		{"send argument", "", []string{"send", "--to", "127.0.0.1:9", "hello"}, `unexpected argument "hello"`},
		{"listen without --listen", "", []string{"listen"}, "--listen is required"},
		{"listen bad group", "", []string{"listen", "--listen", ":9", "--group", "1.2.3.4"}, "--group 1.2.3.4: 1.2.3.4 is not a multicast address"},
		{"listen v6 group on v4 address", "", []string{"listen", "--listen", "127.0.0.1:9", "--group", "ff05::1"}, "is IPv6 but --listen 127.0.0.1:9 is IPv4"},
		{"listen expect without seq", "", []string{"listen", "--listen", ":9", "--expect", "5"}, "--expect needs --seq"},
		{"listen buffer", "", []string{"listen", "--listen", ":9", "--buffer", "0"}, "--buffer 0"},
		{"listen negative timeout", "", []string{"listen", "--listen", ":9", "--timeout", "-1s"}, "must not be negative"},
		{"recv alias", "", []string{"recv", "--listen", "x:y:z"}, "--listen x:y:z: too many colons"},
		{"echo bad listen", "", []string{"echo", "--listen", "nope"}, "--listen nope: no port"},
		{"echo negative limit", "", []string{"echo", "--listen", ":9", "--limit", "-1"}, "--limit -1"},
		{"ping without --to", "", []string{"ping"}, "--to is required"},
		{"ping size", "", []string{"ping", "--to", "127.0.0.1:9", "--size", "10"}, "--size 10: must be 40 to 65507"},
		{"relay without --from-iface", "", []string{"relay", "--port", "9", "--to-iface", "lo"}, "--from-iface is required"},
		{"relay without port", "", []string{"relay", "--from-iface", "lo", "--to-iface", "lo"}, "--port is required"},
		{"relay nothing", "", []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--no-broadcast"}, "leaves nothing to relay"},
		{"relay v6 with broadcast", "", []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--group", "ff05::1"}, "IPv6 groups need --no-broadcast"},
		{"doctor bad group", "", []string{"doctor", "--group", "1.2.3.4"}, "--group 1.2.3.4: 1.2.3.4 is not a multicast address"},
		{"doctor bad port", "", []string{"doctor", "--port", "70000"}, "--port 70000"},
		{"doctor unknown iface", "", []string{"doctor", "--iface", "nosuch0"}, "--iface: no interface nosuch0; the interfaces here are lo"},
		{"ifaces unknown iface", "", []string{"ifaces", "--iface", "nosuch0"}, "nosuch0"},
		{"discover transport", "", []string{"discover", "--transport", "pigeon"}, `--transport "pigeon"`},
		{"discover v6 broadcast", "", []string{"discover", "--network", "udp6", "--transport", "broadcast"}, "IPv6 has no broadcast"},
		{"announce without service", "", []string{"announce"}, "--service is required"},
		{"announce bad text", "", []string{"announce", "--service", "x", "--text", "novalue"}, `--text "novalue"`},
		{"flag typo", "", []string{"send", "--ton", "127.0.0.1:9"}, "unknown flag --ton (did you mean --to?)"},
		{"bool value", "", []string{"send", "--json=maybe"}, "--json maybe: want true or false"},
		{"negative count", "", []string{"send", "--to", "127.0.0.1:9", "--count", "-1"}, "--count -1: must not be negative"},
		{"duration without unit", "", []string{"send", "--to", "127.0.0.1:9", "--interval", "5"}, "--interval 5: a duration needs a unit: 5s"},
		{"listen port out of range", "", []string{"listen", "--listen", "65536"}, "--listen 65536: port 65536 is out of range (0 to 65535)"},
		{"listen star", "", []string{"listen", "--listen", "*:5000"}, "--listen *:5000: * is not an address; leave the address out (:5000)"},
		{"hex literal", "", []string{"send", "--to", "0x7f000001:9", "-m", "x"}, "write 127.0.0.1"},
		{"short literal", "", []string{"send", "--to", "127.1:9", "-m", "x"}, "--to 127.1:9: the short form some tools accept; write 127.0.0.1"},
		{"literal above 255", "", []string{"send", "--to", "300.1.1.1:9", "-m", "x"}, "--to 300.1.1.1:9: 300 is above 255"},
		{"empty zone", "", []string{"send", "--to", "[::1%]:9", "-m", "x"}, "--to [::1%]:9: empty zone after %"},
		{"v6 without brackets", "", []string{"send", "--to", "ff02::1:9", "-m", "x"}, "an IPv6 address with a port goes in brackets"},
		{"link-local group without iface", "", []string{"send", "--to", "[ff02::1]:9", "-m", "x"}, "--to [ff02::1]:9: ff02::1 exists once per link: name the interface with --iface NAME"},
		{"link-local unicast without iface", "", []string{"send", "--to", "[fe80::1]:9", "-m", "x"}, "--to [fe80::1]:9: fe80::1 exists once per link"},
		{"ping link-local without iface", "", []string{"ping", "--to", "[fe80::1]:9"}, "fe80::1 exists once per link"},
		{"zone unknown", "", []string{"send", "--to", "[fe80::1%nosuch0]:9", "-m", "x"}, "--to [fe80::1%nosuch0]:9: no interface nosuch0"},
		{"group comma", "", []string{"listen", "--listen", ":9", "--group", ","}, "--group ,: no group in it"},
		{"group empty zone", "", []string{"listen", "--listen", ":9", "--group", "ff02::1%"}, "--group ff02::1%: empty zone after %"},
		{"group bad literal", "", []string{"listen", "--listen", ":9", "--group", "224.0.0.300"}, "--group 224.0.0.300: 300 is above 255"},
		{"relay nothing given", "", []string{"relay"}, "bcast relay: --port, --from-iface and --to-iface are required"},
		{"relay recv-buffer wraps", "", []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--recv-buffer", "5000000000"}, "--recv-buffer 5000000000: must be 0 to 1073741823"},
		{"relay recv-buffer negative", "", []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--recv-buffer", "-5"}, "--recv-buffer -5: must be 0 to 1073741823"},
		{"relay unknown iface", "", []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "nosuch0"}, "--to-iface: no interface nosuch0"},
		{"relay negative timeout", "", []string{"relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--timeout", "-1s"}, "--timeout -1s: must not be negative"},
		{"listen recv-buffer wraps", "", []string{"listen", "--listen", ":9", "--recv-buffer", "5000000000"}, "--recv-buffer 5000000000: must be 0 to 1073741823"},
		{"bench rate NaN", "", []string{"bench", "--rate", "NaN"}, "--rate NaN: not a finite number"},
		{"send rate NaN", "", []string{"send", "--to", "127.0.0.1:9", "--rate", "NaN", "-m", "x"}, "--rate NaN: not a finite number"},
		{"send rate Inf", "", []string{"send", "--to", "127.0.0.1:9", "--rate", "Inf", "-m", "x"}, "--rate +Inf: not a finite number"},
		{"echo unknown iface", "", []string{"echo", "--listen", ":9", "--iface", "nosuch0"}, "--iface: no interface nosuch0"},
		{"echo negative timeout", "", []string{"echo", "--listen", ":9", "--timeout", "-1s"}, "--timeout -1s: must not be negative"},
		{"discover unknown iface", "", []string{"discover", "--iface", "nosuch0"}, "--iface: no interface nosuch0"},
		{"discover negative timeout", "", []string{"discover", "--timeout", "-1s"}, "--timeout -1s: must not be negative"},
		{"announce negative timeout", "", []string{"announce", "--service", "x", "--timeout", "-1s"}, "--timeout -1s: must not be negative"},
		{"ping unknown iface", "", []string{"ping", "--to", "127.0.0.1:9", "--iface", "nosuch0"}, "--iface: no interface nosuch0"},
		{"listen unknown iface", "", []string{"listen", "--listen", ":9", "--iface", "nosuch0"}, "--iface: no interface nosuch0"},
		{"relay old --to", "", []string{"relay", "--port", "9", "--from-iface", "lo", "--to", "lo"}, "unknown flag --to (the interfaces to send out of are --to-iface now"},
		{"announce old --ttl", "", []string{"announce", "--service", "x", "--ttl", "5s"}, "unknown flag --ttl (how long browsers keep the instance is --lifetime now"},
		{"ping -w is not --wait", "", []string{"ping", "--to", "127.0.0.1:9", "-w", "1s"}, "unknown flag -w"},
		{"send negative rate", "", []string{"send", "--to", "127.0.0.1:9", "--rate", "-1", "-m", "x"}, "--rate -1: must be 0 (as fast as possible) to 1e9"},
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
	tests := []struct {
		env, value string
		args       []string
		want       string
	}{
		{envTTL, "many", []string{"send", "--to", "127.0.0.1:9", "-m", "x"}, "bcast send: BCAST_TTL=many (for --ttl): not a whole number"},
		{envTTL, "300", []string{"send", "--to", "127.0.0.1:9", "-m", "x"}, "bcast send: BCAST_TTL=300 (for --ttl): must be 1 to 255"},
		{envJSON, "maybe", []string{"send", "--to", "127.0.0.1:9", "-m", "x"}, "bcast send: BCAST_JSON=maybe (for --json): want true or false"},
		{envIface, "nosuch0", []string{"send", "--to", "127.0.0.1:9", "-m", "x"}, "bcast send: BCAST_IFACE (for --iface): no interface nosuch0; the interfaces here are lo"},
		{envIface, "nosuch0", []string{"listen", "--listen", ":9"}, "bcast listen: BCAST_IFACE (for --iface): no interface nosuch0"},
		{envTo, "127.1:9", []string{"send", "-m", "x"}, "bcast send: BCAST_TO=127.1:9 (for --to): the short form"},
		{envListen, "65536", []string{"listen"}, "bcast listen: BCAST_LISTEN=65536 (for --listen): port 65536 is out of range"},
		{envPort, "70000", []string{"doctor"}, "bcast doctor: BCAST_PORT=70000 (for --port): must be 0 to 65535"},
		{envGroup, "1.2.3.4", []string{"listen", "--listen", ":9"}, "bcast listen: BCAST_GROUP=1.2.3.4 (for --group): 1.2.3.4 is not a multicast address"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			r := runApp(t, "", tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 saying %q", r.code, r.stderr, tt.want)
			}
		})
	}
	// The command line wins over the variable, and then the flag is named.
	t.Setenv(envIface, "lo")
	r := runApp(t, "", "send", "--to", "127.0.0.1:9", "--iface", "nosuch0", "-m", "x")
	if r.code != exitUsage || !strings.Contains(r.stderr, "bcast send: --iface: no interface nosuch0") {
		t.Errorf("exit %d, stderr:\n%s\nwant the flag named", r.code, r.stderr)
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
