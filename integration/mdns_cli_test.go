package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// jsonObjects parses the JSON lines of a command's standard output.
func jsonObjects(t *testing.T, stdout string) []map[string]any {
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

// TestIntegrationMDNSCommands runs the mDNS forms of bcast discover,
// announce and resolve, and the listen daemon's announce mode, against
// avahi on LAN A: what a person types to see what is on a LAN.
func TestIntegrationMDNSCommands(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	bcast, listen := bin(t, "bcast"), bin(t, "listen")
	a1, a2, a3, a4 := tp.Host("a1"), tp.Host("a2"), tp.Host("a3"), tp.Host("a4")
	pub := startAvahi(t, a2, "avahi-a2", "eth0")
	browse := startAvahi(t, a3, "avahi-a3", "eth0")
	svc := pub.publish("-s", "Avahi Web", "_http._tcp", "8080", "path=/x")

	t.Run("discover finds what avahi publishes", func(t *testing.T) {
		stdout, stderr, err := run(t, a1, 15*time.Second, bcast, "discover", "_http._tcp", "--proto", "mdns", "--iface", "eth0", "--timeout", "3s", "--json")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		var found map[string]any
		for _, o := range jsonObjects(t, stdout) {
			if o["type"] == "peer" && o["instance"] == "Avahi Web" && o["port"] == float64(8080) {
				found = o
			}
		}
		if found == nil {
			t.Fatalf("no peer Avahi Web, port 8080:\n%s", stdout)
		}
		text, _ := found["text"].(map[string]any)
		addrs, _ := found["addrs"].([]any)
		if text["path"] != "/x" || found["host"] != "avahi-a2.local." || !slices.Contains(addrs, any("10.71.1.2")) {
			t.Errorf("peer %v; want TXT path=/x, host avahi-a2.local., address 10.71.1.2", found)
		}
	})
	t.Run("discover with no type lists the service types", func(t *testing.T) {
		stdout, stderr, err := run(t, a1, 15*time.Second, bcast, "discover", "--proto", "mdns", "--timeout", "3s", "--json")
		if err != nil || !strings.Contains(stdout, `"service":"_http._tcp"`) || !strings.Contains(stdout, `"type":"service_type"`) {
			t.Errorf("%v: types:\n%s\n%s", err, stdout, stderr)
		}
	})
	t.Run("resolve a host name avahi publishes", func(t *testing.T) {
		stdout, stderr, err := run(t, a1, 15*time.Second, bcast, "resolve", "avahi-a2.local", "--network", "udp4")
		if err != nil || !strings.HasPrefix(stdout, "avahi-a2.local\t10.71.1.2") || !strings.Contains(stdout, "on eth0") {
			t.Errorf("%v: %q\n%s", err, stdout, stderr)
		}
		_, _, err = run(t, a1, 15*time.Second, bcast, "resolve", "nobody-here.local", "--timeout", "500ms")
		if code := exitCode(err); code != 3 {
			t.Errorf("resolve of a name nobody has: exit %d; want 3", code)
		}
	})
	t.Run("announce: avahi resolves it; its name taken, it renames", func(t *testing.T) {
		ann := start(t, a1, bcast, "announce", "--proto", "mdns", "--service", "_http._tcp", "--instance", "Avahi Web",
			"--port", "9090", "--host", "bcast-a1", "--text", "who=bcast", "--iface", "eth0")
		ann.waitStdout("a rename", func(l string) bool { return strings.Contains(l, `now "Avahi Web (2)"`) })
		lines := browse.resolved("_http._tcp", 10*time.Second, func(lines []string) bool {
			return hasLine(lines, "eth0", "IPv4", `Avahi\032Web\032\0402\041`, "_http._tcp", "bcast-a1.local", "10.71.1.1", 9090)
		})
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, `"who=bcast"`) }) {
			t.Errorf("avahi-browse lines lack who=bcast:\n%s", strings.Join(lines, "\n"))
		}
		stdout, stderr, err := run(t, a4, 15*time.Second, bcast, "resolve", "bcast-a1.local", "--network", "udp4")
		if err != nil || !strings.Contains(stdout, "10.71.1.1") {
			t.Errorf("resolve bcast-a1.local: %v %q\n%s", err, stdout, stderr)
		}
		ann.mustSucceed(ann.interrupt())
		if !strings.Contains(ann.stderr.String(), "goodbye sent for \"Avahi Web (2)\"") {
			t.Errorf("announce's last words:\n%s", ann.stderr.String())
		}
	})
	t.Run("the listen daemon announces its listener", func(t *testing.T) {
		d := start(t, a4, listen, "--tcp", ":7007", "--mode", "announce", "--proto", "mdns", "--service", "_echo._tcp",
			"--instance", "bcast echo", "--discovery-iface", "eth0")
		browse.resolved("_echo._tcp", 10*time.Second, func(lines []string) bool {
			return slices.ContainsFunc(lines, func(l string) bool {
				return strings.HasPrefix(l, "=;eth0;IPv4;bcast\\032echo;_echo._tcp;local;") && strings.HasSuffix(strings.Split(l, ";\"")[0], ";10.71.1.4;7007") ||
					strings.Contains(l, ";10.71.1.4;7007;")
			})
		})
		d.mustSucceed(d.interrupt())
	})
	svc.mustSucceed(svc.interrupt())
}
