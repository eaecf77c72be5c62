package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDemoSendsAndListensOnLoopback(t *testing.T) {
	var out, errOut strings.Builder
	code := run([]string{"bcast", "demo", "--count", "2"}, strings.NewReader(""), &out, &errOut)
	if code != exitOK {
		t.Fatalf("bcast demo exit %d; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"> 127.0.0.1:", "unicast lo", "> 127.255.255.255:", "broadcast lo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "sent 4 received 4 missing 0") {
		t.Errorf("stderr lacks the exact loss summary:\n%s", errOut.String())
	}
	// The commands are printed as a shell reads them: the message, which
	// has spaces, in quotes.
	if want := "--message 'hello from bcast demo'\n"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks the quoted %q:\n%s", want, errOut.String())
	}
}

func TestDemoJSONOnlyJSONOnStdout(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"bcast", "demo", "--count", "1", "--json"}, strings.NewReader(""), &out, &errOut); code != exitOK {
		t.Fatalf("bcast demo --json exit %d; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	types := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", line, err)
		}
		typ, _ := m["type"].(string)
		types[typ]++
	}
	if types["listening"] != 1 || types["datagram"] != 2 || types["summary"] != 1 || len(types) != 3 {
		t.Errorf("stdout object types %v; want the listener's alone: listening 1, datagram 2, summary 1", types)
	}
	for _, want := range []string{"$ bcast listen ", " --json &\n", "sent 61 bytes to 127.0.0.1:", "' >&2\n"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestDemoUsage(t *testing.T) {
	for _, args := range [][]string{{"demo", "--count", "0"}, {"demo", "extra"}} {
		if r := runApp(t, "", args...); r.code != exitUsage || !strings.Contains(r.stderr, "Run 'bcast demo --help'") {
			t.Errorf("bcast %s: exit %d, stderr %q; want %d with a pointer to --help", strings.Join(args, " "), r.code, r.stderr, exitUsage)
		}
	}
}
