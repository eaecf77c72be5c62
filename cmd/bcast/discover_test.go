package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// freeUDPPort returns a port nothing on 127.0.0.1 is bound to now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func TestAnnounceDiscoverLoopback(t *testing.T) {
	port := fmt.Sprint(freeUDPPort(t))
	dest := "127.255.255.255:" + port
	link := []string{"--discovery-port", port, "--dest", dest}
	a, first := start(t, append([]string{"announce", "--service", "bcast-test", "--instance", "one", "--port", "4242",
		"--text", "k=v", "--interval", "200ms", "--json"}, link...)...)
	if first["type"] != "announcing" || first["instance"] != "one" {
		t.Fatalf("announce said %v", first)
	}
	r := runApp(t, "", append([]string{"discover", "--service", "bcast-test", "--timeout", "1500ms", "--json"}, link...)...)
	if r.code != 0 {
		t.Fatalf("discover: exit %d\n%s", r.code, r.stderr)
	}
	found := strings.Split(strings.TrimSpace(r.stdout), "\n")[0]
	for _, want := range []string{`"event":"found"`, `"service":"bcast-test"`, `"instance":"one"`, `"port":4242`, `"text":{"k":"v"}`} {
		if !strings.Contains(found, want) {
			t.Errorf("first event lacks %s: %s", want, found)
		}
	}
	a.interrupt()
	lines, res := a.rest()
	if res.code != 0 || len(ofType(lines, "summary")) != 1 {
		t.Errorf("announce after Ctrl-C: exit %d, lines %v", res.code, lines)
	}
}

func TestDiscoverNothingIsTimeout(t *testing.T) {
	port := fmt.Sprint(freeUDPPort(t))
	r := runApp(t, "", "discover", "--service", "nobody-here", "--timeout", "300ms",
		"--discovery-port", port, "--dest", "127.255.255.255:"+port)
	if r.code != exitTimeout || !strings.Contains(r.stderr, "nothing found") {
		t.Errorf("exit %d; want %d\n%s", r.code, exitTimeout, r.stderr)
	}
}

func TestSafeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"office-1", "office-1"},
		{"Büro-3", "Büro-3"},
		{"", `""`},
		{"two words", `"two words"`},
		{"evil\u202egpj.exe", `"evil\u202egpj.exe"`},
		{"bell\a", `"bell\a"`},
		{"\xff\xfe", `"\xff\xfe"`},
		{`say "hi"`, `"say \"hi\""`},
		{`back\slash`, `"back\\slash"`},
		{"nbsp\u00a0", `"nbsp\u00a0"`},
	}
	for _, tt := range tests {
		if got := safeText(tt.in); got != tt.want {
			t.Errorf("safeText(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestEscapeJSON(t *testing.T) {
	for _, s := range []string{"plain", "Büro", "evil\u202egpj.exe", "iso\u2066late\u2069", "tag\U000E0041", "zw\u200bsp", "ctl\x01"} {
		b, err := json.Marshal(map[string]string{"instance": s})
		if err != nil {
			t.Fatal(err)
		}
		e := escapeJSON(b)
		for _, r := range string(e) {
			if r >= utf8.RuneSelf && !unicode.IsPrint(r) {
				t.Errorf("%q: %U left raw in %s", s, r, e)
			}
		}
		var back map[string]string
		if err := json.Unmarshal(e, &back); err != nil || back["instance"] != s {
			t.Errorf("%q: %s decodes to %q (%v); want the same string", s, e, back["instance"], err)
		}
	}
}

// TestDiscoverShowsHostileNamesSafely: an instance id with a right-to-left
// override and a text value that is not UTF-8 are escaped in text output
// and kept exactly in JSON, where the value comes back from text_base64.
func TestDiscoverShowsHostileNamesSafely(t *testing.T) {
	port := fmt.Sprint(freeUDPPort(t))
	link := []string{"--discovery-port", port, "--dest", "127.255.255.255:" + port}
	const instance = "evil\u202egpj.exe"
	a, first := start(t, append([]string{"announce", "--service", "bcast-test", "--instance", instance,
		"--text", "bin=\xff\xfe\x00", "--text", "k=v", "--interval", "200ms", "--json"}, link...)...)
	if first["instance"] != instance {
		t.Fatalf("announce said %v", first)
	}
	defer a.interrupt()

	r := runApp(t, "", append([]string{"discover", "--service", "bcast-test", "--timeout", "700ms", "--json"}, link...)...)
	if r.code != 0 {
		t.Fatalf("discover --json: exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if strings.ContainsRune(lines[0], '\u202e') || !strings.Contains(lines[0], `evil\u202egpj.exe`) {
		t.Errorf("JSON line shows U+202E raw or not at all: %s", lines[0])
	}
	var peer struct {
		Instance   string            `json:"instance"`
		Text       map[string]string `json:"text"`
		TextBase64 map[string]string `json:"text_base64"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &peer); err != nil {
		t.Fatal(err)
	}
	bin, err := base64.StdEncoding.DecodeString(peer.TextBase64["bin"])
	if peer.Instance != instance || peer.Text["k"] != "v" || err != nil || string(bin) != "\xff\xfe\x00" || len(peer.Text) != 1 || len(peer.TextBase64) != 1 {
		t.Errorf("peer %+v (bin %q, %v); want instance %q, text {k: v}, text_base64 {bin: \\xff\\xfe\\x00}", peer, bin, err, instance)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum["type"] != "summary" || sum["peers"] != 1.0 || sum["full"] != 0.0 {
		t.Errorf("last line %s (%v); want a summary with 1 peer, none dropped", lines[len(lines)-1], err)
	}

	r = runApp(t, "", append([]string{"discover", "--service", "bcast-test", "--timeout", "700ms"}, link...)...)
	if r.code != 0 {
		t.Fatalf("discover: exit %d\n%s", r.code, r.stderr)
	}
	if strings.ContainsRune(r.stdout, '\u202e') || !strings.Contains(r.stdout, `bcast-test/"evil\u202egpj.exe"`) ||
		!strings.Contains(r.stdout, `bin="\xff\xfe\x00"`) {
		t.Errorf("text output not escaped:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "1 peer now, 1 found") {
		t.Errorf("no summary on stderr:\n%s", r.stderr)
	}
}

func TestDiscoverMaxPeersUsage(t *testing.T) {
	r := runApp(t, "", "discover", "--max-peers", "0", "--dest", "127.255.255.255:9")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--max-peers 0") {
		t.Errorf("exit %d; want %d naming --max-peers\n%s", r.code, exitUsage, r.stderr)
	}
}
