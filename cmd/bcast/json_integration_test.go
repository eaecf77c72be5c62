package main

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/bcastdev/bcast/internal/netns"
)

// TestIntegrationJSONObjectsTyped runs every command that prints JSON on a
// host whose only interface is lo and checks every object: it has a
// "type", and an address field (src, dst) holds an address alone, its port
// being in a field of its own (sport, dport).
func TestIntegrationJSONObjectsTyped(t *testing.T) {
	lab := netns.New(t)
	h := lab.Host("json")
	var all []map[string]any
	take := func(what string, lines []map[string]any) []map[string]any {
		t.Helper()
		if len(lines) == 0 {
			t.Errorf("%s printed no JSON", what)
		}
		for _, l := range lines {
			l["_from"] = what
		}
		all = append(all, lines...)
		return lines
	}
	runJSON := func(want int, args ...string) []map[string]any {
		t.Helper()
		r := nsRun(t, h, args...)
		if r.code != want {
			t.Errorf("bcast %s: exit %d; want %d\n%s", strings.Join(args, " "), r.code, want, r.stderr)
		}
		return take(strings.Join(args, " "), jsonLines(t, r.stdout))
	}

	runJSON(exitOK, "ifaces", "--json")
	runJSON(exitOK, "doctor", "--port", "9", "--iface", "lo", "--json")
	runJSON(exitOK, "bench", "--duration", "200ms", "--json")
	runJSON(exitOK, "demo", "--count", "1", "--json")
	runJSON(exitOK, "relay", "--port", "9", "--from-iface", "lo", "--to-iface", "lo", "--timeout", "200ms", "--json")

	l, first := nsStart(t, h, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "1")
	addr := first["addr"].(string)
	runJSON(exitOK, "send", "--to", addr, "-m", "x", "--json")
	lines, _ := l.wait(t)
	take("listen", append([]map[string]any{first}, lines...))

	e, first := nsStart(t, h, "echo", "--listen", "127.0.0.1:0", "--json", "--count", "1")
	runJSON(exitOK, "ping", "--to", first["addr"].(string), "--count", "1", "--json")
	lines, _ = e.wait(t)
	take("echo", append([]map[string]any{first}, lines...))
	e, first = nsStart(t, h, "echo", "--listen", "127.0.0.1:0", "--json", "--count", "2")
	runJSON(exitOK, "ping", "--to", first["addr"].(string), "--back-to-back", "--count", "2", "--json")
	lines, _ = e.wait(t)
	take("echo", append([]map[string]any{first}, lines...))

	// No route to 10.0.0.0/8 here: both sends fail, and say so in an
	// object of type "error" each.
	for _, cmd := range [][]string{{"send", "--to", "10.9.9.9:9", "-m", "x", "--json"}, {"ping", "--to", "10.9.9.9:7", "--count", "1", "--json"}, {"ping", "--to", "10.9.9.9:7", "--back-to-back", "--count", "1", "--json"}} {
		lines := runJSON(exitFailure, cmd...)
		errs := ofType(lines, "error")
		if len(errs) != 1 || errs[0]["dst"] != "10.9.9.9" || errs[0]["error"] == nil || errs[0]["explain"] == nil {
			t.Errorf("bcast %s: error objects %v; want one for 10.9.9.9 with error and explain", strings.Join(cmd, " "), errs)
		}
	}

	a, first := nsStart(t, h, "announce", "--service", "typed", "--port", "7", "--dest", "127.255.255.255:62279", "--discovery-port", "62279", "--timeout", "5s", "--json")
	take("announce", []map[string]any{first})
	peers := ofType(runJSON(exitOK, "discover", "--service", "typed", "--dest", "127.255.255.255:62279", "--discovery-port", "62279", "--timeout", "2s", "--json"), "peer")
	if len(peers) == 0 || peers[0]["sport"] == nil {
		t.Errorf("discover: peers %v; want the announced one with src and sport", peers)
	}
	_ = a.cmd.Process.Signal(syscall.SIGINT)
	lines, _ = a.wait(t)
	take("announce", lines)

	for _, o := range all {
		typ, _ := o["type"].(string)
		if typ == "" || typ == "not-json" {
			t.Errorf("%s: object without a type: %v", o["_from"], o)
		}
		for _, k := range []string{"src", "dst"} {
			v, ok := o[k].(string)
			if !ok || v == "" {
				continue
			}
			if _, err := netip.ParseAddr(v); err != nil {
				t.Errorf("%s: %q is %q, not an address alone: %v", o["_from"], k, v, o)
			}
		}
		if _, ok := o["to"]; ok && typ != "relaying" {
			t.Errorf("%s: a \"to\" field (dst and dport now): %v", o["_from"], o)
		}
	}
}
