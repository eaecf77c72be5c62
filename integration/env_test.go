package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// readyTimeout bounds every wait for a started command to become ready
// (its socket bound, its groups joined).
const readyTimeout = 5 * time.Second

// settle is how long a test keeps receivers open after the last datagram
// was sent, so that a duplicate or a stray copy would have arrived. On a
// veth and a bridge delivery takes microseconds; this is slack for a
// loaded CI machine.
const settle = 300 * time.Millisecond

// requireCommand stops the test when a tool it drives (nft, tc, ss) is not
// installed: a skip with the reason off CI, a failure with CI=true, where
// .ci/setup should have installed it.
func requireCommand(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed (.ci/setup installs it, with the other tools and interop peers the tests drive)", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// waitFor polls cond with a growing pause until it reports done, at most
// timeout; then it fails the test with what, and cond's last description
// of the state.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; last state: %s", what, timeout, state)
		}
		time.Sleep(pause)
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// waitSockets waits until at least n sockets of proto ("udp", or "tcp" for
// listening ones) in h have local port port, as ss shows them.
func waitSockets(t *testing.T, h *netns.Host, proto string, port, n int) {
	t.Helper()
	requireCommand(t, "ss")
	flags := "-Hnua" // every UDP socket
	if proto == "tcp" {
		flags = "-Hntl" // listening TCP sockets
	}
	waitFor(t, readyTimeout, fmt.Sprintf("%d %s socket(s) on port %d in %s", n, proto, port, h.Name()), func() (bool, string) {
		out, err := h.Run(context.Background(), "ss", flags, fmt.Sprintf("sport = :%d", port))
		if err != nil {
			return false, err.Error()
		}
		s := strings.TrimSpace(string(out))
		got := 0
		if s != "" {
			got = len(strings.Split(s, "\n"))
		}
		return got >= n, fmt.Sprintf("%d found: %q", got, s)
	})
}

// waitUDPQueuesEmpty waits until no UDP socket in h has datagrams waiting
// to be read (ss's Recv-Q is 0 for each).
func waitUDPQueuesEmpty(t *testing.T, h *netns.Host) {
	t.Helper()
	requireCommand(t, "ss")
	waitFor(t, readyTimeout, "every UDP receive queue in "+h.Name()+" read empty", func() (bool, string) {
		out, err := h.Run(context.Background(), "ss", "-Hnua")
		if err != nil {
			return false, err.Error()
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[1] != "0" {
				return false, string(out)
			}
		}
		return true, ""
	})
}

// nftApply loads an nftables ruleset into h from a file, as a person would
// with `nft -f`.
func nftApply(t *testing.T, h *netns.Host, ruleset string) {
	t.Helper()
	requireCommand(t, "nft")
	path := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(path, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s:\n%s", h.Name(), path, indent(ruleset))
	if out, err := h.Run(t.Context(), "nft", "-f", path); err != nil {
		t.Fatalf("%s: nft -f: %v\n%s", h.Name(), err, out)
	}
}

// nftCounter reads the packet count of the named counter in the inet
// table.
func nftCounter(t *testing.T, h *netns.Host, table, name string) uint64 {
	t.Helper()
	out, err := h.Run(t.Context(), "nft", "-j", "list", "counter", "inet", table, name)
	if err != nil {
		t.Fatalf("%s: %v\n%s", h.Name(), err, out)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%s: nft -j list counter inet %s %s: %v\n%s", h.Name(), table, name, err, out)
	}
	for _, o := range doc.Nftables {
		if o.Counter != nil {
			return o.Counter.Packets
		}
	}
	t.Fatalf("%s: no counter %s in nft output:\n%s", h.Name(), name, out)
	return 0
}

// qdiscStats is what `tc -s qdisc` reports for the root qdisc of a device.
type qdiscStats struct {
	Kind    string `json:"kind"`
	Packets uint64 `json:"packets"`
	Drops   uint64 `json:"drops"`
}

// rootQdisc returns the statistics of the root qdisc of dev in the LAN's
// namespace.
func rootQdisc(t *testing.T, lab *netns.Lab, lan *netns.LAN, dev string) qdiscStats {
	t.Helper()
	out, err := lab.Shell(t.Context(), "tc", "-n", lan.NS(), "-s", "-j", "qdisc", "show", "dev", dev, "root")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var qs []qdiscStats
	if err := json.Unmarshal(out, &qs); err != nil || len(qs) == 0 {
		t.Fatalf("tc -s -j qdisc show dev %s: %v\n%s", dev, err, out)
	}
	return qs[0]
}
