package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// nsRunIn runs the binary on h with stdin as its standard input.
func nsRunIn(t *testing.T, h *netns.Host, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := h.Command(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
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

// startPeer starts a peer program (socat) on h and waits until it listens
// on TCP port.
func startPeer(t *testing.T, h *netns.Host, port int, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		msg := name + " is not installed (.ci/setup installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := h.Command(context.Background(), name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // by its own handle
		cmd.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		out, _ := h.Run(context.Background(), "ss", "-Hntl", fmt.Sprintf("sport = :%d", port))
		if strings.TrimSpace(string(out)) != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s does not listen on %d", name, h.Name(), port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIntegrationConnect runs bcast connect against independent peers on a
// namespace LAN: socat servers, echo servers answering a broadcast, a
// server whose SYNs are dropped, names from the namespace's hosts file.
func TestIntegrationConnect(t *testing.T) {
	tp := netns.StandardTopology(t)
	a1, a2, a3 := tp.Host("a1"), tp.Host("a2"), tp.Host("a3")
	dns := countDNS(t, a1)
	hosts := "10.71.1.2 parrot.lan\n10.71.1.3 quiet.lan\n"
	if err := os.WriteFile(filepath.Join("/etc/netns", a1.NS(), "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}

	startPeer(t, a2, 7000, "socat", "TCP-LISTEN:7000,reuseaddr,fork", "EXEC:cat")
	startPeer(t, a2, 7001, "socat", "TCP-LISTEN:7001,reuseaddr,fork", "SYSTEM:wc -c")
	for _, h := range []*netns.Host{a2, a3} {
		nsStart(t, h, "echo", "--listen", ":7777", "--broadcast", "--json", "--quiet")
	}
	nftApply(t, a3, "table inet connecttest { chain in { type filter hook input priority 0; tcp dport 7002 drop; }; }")

	t.Run("a name from the namespace's hosts file, echoed by socat", func(t *testing.T) {
		r := nsRunIn(t, a1, "hello, parrot\n", "connect", "parrot.lan:7000")
		if r.code != 0 || r.stdout != "hello, parrot\n" {
			t.Errorf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("a server that answers after the end of input", func(t *testing.T) {
		r := nsRunIn(t, a1, "twelve bytes", "connect", "parrot.lan:7001")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "12" {
			t.Errorf("exit %d, stdout %q; want socat's wc -c to say 12\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("a UDP broadcast answered by two hosts", func(t *testing.T) {
		r := nsRunIn(t, a1, "anyone?\n", "connect", "--udp", "10.71.1.255:7777", "--broadcast", "--iface", "eth0", "--wait", "500ms")
		if r.code != 0 || r.stdout != "anyone?\nanyone?\n" ||
			!strings.Contains(r.stderr, "reply from 10.71.1.2:7777") || !strings.Contains(r.stderr, "reply from 10.71.1.3:7777") {
			t.Errorf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("--connect-timeout when the SYNs are dropped", func(t *testing.T) {
		start := time.Now()
		r := nsRunIn(t, a1, "", "connect", "quiet.lan:7002", "--connect-timeout", "300ms")
		if r.code != exitTimeout || !strings.Contains(r.stderr, "--connect-timeout") || time.Since(start) > 5*time.Second {
			t.Errorf("exit %d after %v\n%s", r.code, time.Since(start), r.stderr)
		}
	})
	if n := dns.n.Load(); n != 0 {
		t.Errorf("%d DNS queries; names in the hosts file need none", n)
	}
}

// nftApply loads an nftables ruleset into h.
func nftApply(t *testing.T, h *netns.Host, ruleset string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(path, []byte(ruleset+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Run(t.Context(), "nft", "-f", path); err != nil {
		t.Fatalf("%s: nft: %v\n%s", h.Name(), err, out)
	}
}
