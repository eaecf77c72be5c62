package main

import (
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// waitStderr waits until the process has said want on standard error.
func waitStderr(t *testing.T, p *binProc, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not say %q within 10s; stderr:\n%s", strings.Join(p.cmd.Args, " "), want, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// followLab is two hosts on one LAN: a receives on eth0, b sends.
func followLab(t *testing.T) (lan *netns.LAN, a, b *netns.Host, na *netns.NIC) {
	t.Helper()
	lab := netns.New(t)
	lan = lab.LAN("f", netip.MustParsePrefix("10.77.0.0/24"), netip.MustParsePrefix("fd00:77::/64"))
	a, b = lab.Host("a"), lab.Host("b")
	na = a.Attach(lan, "eth0", netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd00:77::1"))
	b.Attach(lan, "eth0", netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd00:77::2"))
	return lan, a, b, na
}

// TestIntegrationReceiversFollowTheirInterface runs listen and echo on
// --iface eth0 with a group, and takes eth0 down and up, then deletes it
// and makes it again (a new index): each time they say so, keep running,
// and receive on it again once it is back.
func TestIntegrationReceiversFollowTheirInterface(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, p *binProc, b *netns.Host, msg string)
	}{
		{"listen", []string{"listen", "--listen", ":9500", "--iface", "eth0", "--bind-device", "--group", "239.77.0.1", "--json"},
			func(t *testing.T, p *binProc, b *netns.Host, msg string) {
				t.Helper()
				if r := nsRun(t, b, "send", "--to", "239.77.0.1:9500", "--iface", "eth0", "-m", msg); r.code != 0 {
					t.Fatalf("send %s: exit %d\n%s", msg, r.code, r.stderr)
				}
				if d := p.next(t); d["type"] != "datagram" || d["text"] != msg || d["ifname"] != "eth0" {
					t.Fatalf("after %q: got %v; want the datagram %q on eth0\nstderr:\n%s", msg, d, msg, p.stderr.String())
				}
			}},
		{"echo", []string{"echo", "--listen", ":7", "--iface", "eth0", "--group", "239.77.0.1", "--json"},
			func(t *testing.T, p *binProc, b *netns.Host, msg string) {
				t.Helper()
				if r := nsRun(t, b, "ping", "--to", "239.77.0.1:7", "--iface", "eth0", "--count", "1", "--wait", "1s"); r.code != 0 {
					t.Fatalf("ping (%s): exit %d\n%s%s\necho's stderr:\n%s", msg, r.code, r.stdout, r.stderr, p.stderr.String())
				}
				if d := p.next(t); d["type"] != "echo" || d["action"] != "replied" || d["ifname"] != "eth0" {
					t.Fatalf("after the ping (%s): got %v; want a reply on eth0", msg, d)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lan, a, b, na := followLab(t)
			p, first := nsStart(t, a, tc.args...)
			if first["type"] != "listening" {
				t.Fatalf("first line %v", first)
			}
			tc.check(t, p, b, "before")

			na.SetDown()
			waitStderr(t, p, "interface eth0 is down; waiting for it to come up")
			na.SetUp()
			waitStderr(t, p, "interface eth0 is up again")
			tc.check(t, p, b, "after down and up")

			na.Remove()
			waitStderr(t, p, "interface eth0 went away")
			a.Attach(lan, "eth0", netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd00:77::1"))
			waitStderr(t, p, "interface eth0 is back (index ")
			waitStderr(t, p, "joined 239.77.0.1 on eth0 again")
			tc.check(t, p, b, "after a new eth0")

			if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if _, code := p.wait(t); code != 0 {
				t.Errorf("exit %d after SIGINT; want 0\n%s", code, p.stderr.String())
			}
		})
	}
}

// TestIntegrationRelayFollowsItsInterfaces takes the relay's interfaces
// down and up, and deletes and re-creates both: it says so, keeps
// running, and relays broadcasts and its group again once they are back.
func TestIntegrationRelayFollowsItsInterfaces(t *testing.T) {
	tp := netns.StandardTopology(t)
	r := tp.Host("r")
	rel, first := nsStart(t, r, "relay", "--port", "9600", "--from-iface", "eth0", "--to-iface", "eth1", "--group", "239.78.0.1", "--json")
	if first["type"] != "relaying" {
		t.Fatalf("first line %v", first)
	}
	check := func(msg string) {
		t.Helper()
		l, _ := nsStart(t, tp.Host("b1"), "listen", "--listen", ":9600", "--group", "239.78.0.1", "--count", "2", "--timeout", "10s", "--json")
		for _, to := range []string{"255.255.255.255:9600", "239.78.0.1:9600"} {
			if s := nsRun(t, tp.Host("a1"), "send", "--to", to, "--iface", "eth0", "-m", msg+" to "+to); s.code != 0 {
				t.Fatalf("send: exit %d\n%s", s.code, s.stderr)
			}
		}
		lines, code := l.wait(t)
		var texts []string
		for _, d := range ofType(lines, "datagram") {
			texts = append(texts, d["text"].(string))
		}
		if code != 0 || len(texts) != 2 {
			_ = rel.cmd.Process.Signal(syscall.SIGINT)
			events, _ := rel.wait(t)
			t.Fatalf("%s: b1 got %q (exit %d); want the broadcast and the group datagram relayed\nrelay's stderr:\n%s\nrelay's events: %v", msg, texts, code, rel.stderr.String(), events)
		}
	}
	check("at the start")

	r.NIC("eth0").SetDown()
	waitStderr(t, rel, "interface eth0 is down; waiting for it to come up")
	r.NIC("eth0").SetUp()
	waitStderr(t, rel, "interface eth0 is up again")
	check("after eth0 down and up")

	r.NIC("eth1").Remove()
	waitStderr(t, rel, "interface eth1 went away")
	r.NIC("eth0").Remove()
	waitStderr(t, rel, "interface eth0 went away")
	r.Attach(tp.B, "eth1", netip.MustParseAddr("10.71.2.254"), netip.MustParseAddr("fd00:71:2::254"))
	waitStderr(t, rel, "interface eth1 is back (index ")
	r.Attach(tp.A, "eth0", netip.MustParseAddr("10.71.1.254"), netip.MustParseAddr("fd00:71:1::254"))
	waitStderr(t, rel, "interface eth0 is back (index ")
	waitStderr(t, rel, "joined 239.78.0.1 on eth0 again")
	check("after new eth0 and eth1")

	if err := rel.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if _, code := rel.wait(t); code != 0 {
		t.Errorf("relay: exit %d after SIGINT; want 0\n%s", code, rel.stderr.String())
	}
}

// TestIntegrationDiscoveryFollowsItsInterfaces deletes and re-creates the
// --iface of announce, then of discover: each says so, keeps running, and
// the instance is lost while the link is gone and found again once it is
// back.
func TestIntegrationDiscoveryFollowsItsInterfaces(t *testing.T) {
	lan, a, b, _ := followLab(t)
	ann, _ := nsStart(t, a, "announce", "--service", "follow", "--instance", "one", "--port", "7", "--iface", "eth0",
		"--interval", "300ms", "--lifetime", "1s", "--json")
	// discover --json says nothing before it finds something: its first
	// line is the instance found.
	disc, first := nsStart(t, b, "discover", "--service", "follow", "--iface", "eth0", "--json")
	if first["event"] != "found" || first["instance"] != "one" {
		t.Fatalf("discover's first line %v; want instance one found", first)
	}
	event := func(want string) {
		t.Helper()
		for {
			ev := disc.next(t)
			if ev == nil {
				t.Fatalf("discover ended before %q; stderr:\n%s", want, disc.stderr.String())
			}
			if ev["type"] == "peer" && ev["event"] == want && ev["instance"] == "one" {
				return
			}
		}
	}
	reattach := func(h *netns.Host, v4, v6 string) {
		t.Helper()
		h.Attach(lan, "eth0", netip.MustParseAddr(v4), netip.MustParseAddr(v6))
	}

	a.NIC("eth0").Remove()
	waitStderr(t, ann, "interface eth0 went away")
	event("lost")
	reattach(a, "10.77.0.1", "fd00:77::1")
	waitStderr(t, ann, "interface eth0 is back (index ")
	event("found")

	b.NIC("eth0").Remove()
	waitStderr(t, disc, "interface eth0 went away")
	event("lost")
	reattach(b, "10.77.0.2", "fd00:77::2")
	waitStderr(t, disc, "interface eth0 is back (index ")
	event("found")

	for _, p := range []*binProc{ann, disc} {
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if _, code := p.wait(t); code != 0 {
			t.Errorf("%s: exit %d after SIGINT; want 0\n%s", p.cmd.Args, code, p.stderr.String())
		}
	}
}

// TestIntegrationDaemonFollowsItsInterface runs the listen daemon with a
// UDP echo listener bound to --iface eth0 and deletes and re-creates eth0:
// the daemon logs it, binds the listener to the new eth0, and answers
// there again.
func TestIntegrationDaemonFollowsItsInterface(t *testing.T) {
	lan, a, b, na := followLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := a.Command(ctx, buildListen(t), "--udp", ":7", "--iface", "eth0", "--log-format", "json")
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // by its own handle
			_ = cmd.Wait()
		}
	})
	waitLog := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the daemon did not log %q within 10s:\n%s", want, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ping := func(when string) {
		t.Helper()
		if r := nsRun(t, b, "ping", "--to", "10.77.0.1:7", "--count", "1", "--wait", "1s"); r.code != 0 {
			t.Fatalf("ping %s: exit %d\n%s%s\ndaemon's log:\n%s", when, r.code, r.stdout, r.stderr, logs.String())
		}
	}
	waitLog(`"msg":"serving"`)
	ping("at the start")

	na.Remove()
	waitLog(`"msg":"interface gone; serving on, and on it again when it is back","iface":"eth0"`)
	a.Attach(lan, "eth0", netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd00:77::1"))
	waitLog(`"msg":"listener bound to the new interface","iface":"eth0","network":"udp"`)
	waitLog(`"msg":"interface up: serving on it again","iface":"eth0"`)
	// The new eth0 has a new MAC address, which b learns only when its
	// neighbour entry for 10.77.0.1 times out: forget it now.
	if out, err := b.Run(ctx, "ip", "neigh", "flush", "dev", "eth0"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ping("after a new eth0")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("daemon: %v after SIGTERM; want exit 0\n%s", err, logs.String())
	}
}
