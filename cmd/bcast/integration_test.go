package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// These tests run the built binary on hosts of a namespace lab (see
// internal/netns): two LANs, hosts without a default route, r on both.
// They need root; broadcast across hosts, fan-out and relaying are tested
// in integration/ too.

// nsRun runs the binary on h to completion.
func nsRun(t *testing.T, h *netns.Host, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := h.Command(ctx, binary, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// nsStart starts the binary on h; args must include --json.
func nsStart(t *testing.T, h *netns.Host, args ...string) (*binProc, map[string]any) {
	t.Helper()
	return startCmd(t, h.Command(context.Background(), binary, args...))
}

// jsonLines parses stdout of a --json run.
func jsonLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func TestIntegrationPingEchoAcrossHosts(t *testing.T) {
	tp := netns.StandardTopology(t)
	for _, h := range []string{"a2", "a3"} {
		nsStart(t, tp.Host(h), "echo", "--listen", ":7777", "--broadcast", "--json", "--quiet")
	}
	a1 := tp.Host("a1")

	r := nsRun(t, a1, "ping", "--to", "10.71.1.2:7777", "--count", "3", "--interval", "10ms", "--json")
	lines := jsonLines(t, r.stdout)
	replies, sum := ofType(lines, "reply"), ofType(lines, "summary")
	if r.code != 0 || len(replies) != 3 || len(sum) != 1 || sum[0]["received"] != float64(3) {
		t.Fatalf("unicast ping: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if replies[0]["src"] != "10.71.1.2" {
		t.Errorf("reply from %v; want 10.71.1.2, the address pinged", replies[0]["src"])
	}

	// A directed broadcast reaches both echo servers: each datagram is
	// answered twice, and the second answer is a duplicate.
	r = nsRun(t, a1, "ping", "--to", "10.71.1.255:7777", "--count", "2", "--interval", "50ms", "--wait", "500ms", "--json")
	lines = jsonLines(t, r.stdout)
	sum = ofType(lines, "summary")
	if r.code != 0 || len(sum) != 1 || sum[0]["received"] != float64(2) || sum[0]["duplicates"] != float64(2) || sum[0]["missing"] != float64(0) {
		t.Errorf("broadcast ping: exit %d summary %v\n%s", r.code, sum, r.stderr)
	}
	srcs := map[any]bool{}
	for _, rep := range ofType(lines, "reply") {
		srcs[rep["src"]] = true
	}
	if !srcs["10.71.1.2"] || !srcs["10.71.1.3"] || len(srcs) != 2 {
		t.Errorf("broadcast ping answered by %v; want 10.71.1.2 and 10.71.1.3, each from its own address", srcs)
	}
}

func TestIntegrationPingBackToBackAcrossHosts(t *testing.T) {
	tp := netns.StandardTopology(t)
	for _, h := range []string{"a2", "a3"} {
		nsStart(t, tp.Host(h), "echo", "--listen", ":7777", "--broadcast", "--json", "--quiet")
	}
	a1 := tp.Host("a1")

	r := nsRun(t, a1, "ping", "--to", "10.71.1.2:7777", "--back-to-back", "--count", "500", "--wait", "1s", "--quiet", "--json")
	sum := ofType(jsonLines(t, r.stdout), "summary")
	if r.code != 0 || len(sum) != 1 || sum[0]["mode"] != "back-to-back" || sum[0]["received"] != float64(500) || sum[0]["duplicates"] != float64(0) {
		t.Fatalf("back-to-back ping: exit %d summary %v\n%s", r.code, sum, r.stderr)
	}
	if tps := num(t, sum[0], "transactions_per_s"); tps <= 0 {
		t.Errorf("transactions_per_s %v; want above 0", tps)
	}

	// Several servers would answer a broadcast: refused before anything is
	// sent, whether the address is a subnet's or one only the routing
	// table calls a broadcast.
	if out, err := a1.Run(context.Background(), "ip", "route", "add", "broadcast", "198.51.100.77", "dev", "lo", "table", "local"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, tc := range []struct{ to, why string }{
		{"10.71.1.255:7777", "(a broadcast address)"},
		{"198.51.100.77:7777", "(the kernel routes it as a broadcast)"},
	} {
		r = nsRun(t, a1, "ping", "--to", tc.to, "--back-to-back", "--count", "1")
		if r.code != exitUsage || !strings.Contains(r.stderr, "--back-to-back needs a single echo server, and --to "+tc.to+" may reach several "+tc.why) {
			t.Errorf("back-to-back to %s: exit %d; want %d\n%s", tc.to, r.code, exitUsage, r.stderr)
		}
	}
}

func TestIntegrationDoctorWithoutDefaultRoute(t *testing.T) {
	tp := netns.StandardTopology(t)
	a1 := tp.Host("a1")
	r := nsRun(t, a1, "doctor", "--port", "9", "--group", "239.71.5.5", "--json")
	found := func(level, substr string) bool {
		for _, f := range ofType(jsonLines(t, r.stdout), "finding") {
			fix, _ := f["fix"].(string)
			if f["level"] == level && strings.Contains(f["message"].(string)+" "+fix, substr) {
				return true
			}
		}
		return false
	}
	if !found("WARN", "no route for 255.255.255.255") || !found("WARN", "--all-interfaces") {
		t.Errorf("doctor on a host without a default route does not warn about 255.255.255.255:\n%s", r.stdout)
	}
	if !found("WARN", "ip route add 224.0.0.0/4") {
		t.Errorf("doctor does not warn about the missing multicast route:\n%s", r.stdout)
	}
	// Naming the interface, as the advice says, makes both routes work.
	r = nsRun(t, a1, "doctor", "--iface", "eth0", "--group", "239.71.5.5", "--json")
	if !found("OK", "255.255.255.255 on eth0 leaves by eth0 from 10.71.1.1") {
		t.Errorf("doctor --iface eth0:\n%s", r.stdout)
	}
}

func TestIntegrationSendGroupOutOfEveryInterface(t *testing.T) {
	tp := netns.StandardTopology(t)
	const group = "239.71.9.9"
	la, _ := nsStart(t, tp.Host("a2"), "listen", "--listen", ":9300", "--group", group, "--json", "--count", "1", "--timeout", "10s")
	lb, _ := nsStart(t, tp.Host("b1"), "listen", "--listen", ":9300", "--group", group, "--json", "--count", "1", "--timeout", "10s")
	r := nsRun(t, tp.Host("r"), "send", "--to", group+":9300", "--all-interfaces", "-m", "both LANs", "--json")
	sent := ofType(jsonLines(t, r.stdout), "sent")
	ifs := map[any]bool{}
	for _, s := range sent {
		ifs[s["iface"]] = true
	}
	if r.code != 0 || len(sent) != 2 || !ifs["eth0"] || !ifs["eth1"] {
		t.Fatalf("send --all-interfaces to a group: exit %d, sent %v\n%s", r.code, sent, r.stderr)
	}
	for name, l := range map[string]*binProc{"a2": la, "b1": lb} {
		lines, code := l.wait(t)
		ds := ofType(lines, "datagram")
		if code != 0 || len(ds) != 1 || ds[0]["text"] != "both LANs" || ds[0]["kind"] != "multicast" || ds[0]["ttl"] != float64(1) {
			t.Errorf("%s: exit %d, datagrams %v", name, code, ds)
		}
	}
}

func TestIntegrationLimitedBroadcastErrorExplained(t *testing.T) {
	tp := netns.StandardTopology(t)
	r := nsRun(t, tp.Host("a1"), "send", "--to", "255.255.255.255:9301", "-m", "x")
	if r.code != exitFailure || !strings.Contains(r.stderr, "ENETUNREACH") || !strings.Contains(r.stderr, "--iface") {
		t.Errorf("exit %d; want 1 with ENETUNREACH explained:\n%s", r.code, r.stderr)
	}
	l, _ := nsStart(t, tp.Host("a2"), "listen", "--listen", ":9301", "--json", "--count", "1", "--timeout", "10s")
	if r := nsRun(t, tp.Host("a1"), "send", "--to", "255.255.255.255:9301", "--iface", "eth0", "-m", "x"); r.code != 0 {
		t.Fatalf("with --iface: exit %d\n%s", r.code, r.stderr)
	}
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	lines, _ := l.wait(t)
	if ds := ofType(lines, "datagram"); len(ds) != 1 || ds[0]["dst"] != "255.255.255.255" {
		t.Errorf("a2 got %v", ds)
	}
}

// --iface is the zone of a link-scoped group given without one, as it is
// for send's destination; a zone that names another interface is refused.
func TestIntegrationListenGroupZoneFromIface(t *testing.T) {
	tp := netns.StandardTopology(t)
	a1 := tp.Host("a1")
	r := nsRun(t, a1, "listen", "--listen", "[::]:0", "--group", "ff12::77", "--iface", "eth0", "--timeout", "100ms")
	if r.code != exitTimeout || !strings.Contains(r.stderr, "joined ff12::77%eth0 on eth0") {
		t.Errorf("exit %d; want %d after joining ff12::77%%eth0\n%s", r.code, exitTimeout, r.stderr)
	}
	r = nsRun(t, a1, "listen", "--listen", "[::]:0", "--group", "ff12::77%lo", "--iface", "eth0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "names interface lo but --iface is eth0") {
		t.Errorf("zone lo with --iface eth0: exit %d; want %d\n%s", r.code, exitUsage, r.stderr)
	}
}

// TestIntegrationSSDPCommands runs announce and discover --proto ssdp on
// the two-LAN topology: r, on both LANs, announces a device; a host on
// each LAN finds it with a LOCATION on that LAN's address of r, fetches
// the description bcast serves there, and sees the byebye.
func TestIntegrationSSDPCommands(t *testing.T) {
	tp := netns.StandardTopology(t)
	r, a1, b1 := tp.Host("r"), tp.Host("a1"), tp.Host("b1")
	const uuid = "uuid:2fac1234-31f8-11b4-a222-08002b34c003"
	ann, first := nsStart(t, r, "announce", "--proto", "ssdp", "--service", "urn:schemas-upnp-org:device:Basic:1",
		"--instance", uuid, "--port", "8080", "--path", "/description.xml", "--describe", "--json")
	if first["type"] != "announcing" || first["instance"] != uuid {
		t.Fatalf("first line %v", first)
	}
	for _, tc := range []struct {
		h    *netns.Host
		addr string
	}{{a1, "10.71.1.254"}, {b1, "10.71.2.254"}} {
		res := nsRun(t, tc.h, "discover", "--proto", "ssdp", "--service", "upnp:rootdevice", "--network", "udp4", "--timeout", "3s", "--json")
		peers := ofType(jsonLines(t, res.stdout), "peer")
		want := "http://" + tc.addr + ":8080/description.xml"
		if res.code != 0 || len(peers) != 1 || peers[0]["location"] != want || peers[0]["instance"] != uuid+"::upnp:rootdevice" {
			t.Errorf("%s: exit %d, peers %v; want one root device at %s\n%s", tc.h.Name(), res.code, peers, want, res.stderr)
		}
	}
	// The unicast search of one device.
	res := nsRun(t, a1, "discover", "--proto", "ssdp", "--to", "10.71.1.254:1900", "--timeout", "3s", "--json")
	if peers := ofType(jsonLines(t, res.stdout), "peer"); res.code != 0 || len(peers) == 0 {
		t.Errorf("unicast search: exit %d, %d peers\n%s", res.code, len(peers), res.stderr)
	}
	// The description document, fetched as a control point would.
	get := "GET /description.xml HTTP/1.0\r\nHost: 10.71.2.254:8080\r\n\r\n"
	res = nsRunIn(t, b1, get, "connect", "10.71.2.254:8080", "--timeout", "5s")
	if res.code != 0 || !strings.Contains(res.stdout, "200 OK") || !strings.Contains(res.stdout, "<UDN>"+uuid+"</UDN>") {
		t.Errorf("description from LAN B: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	ann.cmd.Process.Signal(syscall.SIGINT)
	lines, code := ann.wait(t)
	if sum := ofType(lines, "summary"); code != 0 || len(sum) != 1 {
		t.Errorf("announce after SIGINT: exit %d, %v", code, lines)
	}
}
