package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/echoguard"
)

func TestEchoPingLoopback(t *testing.T) {
	e, first := start(t, "echo", "--listen", "127.0.0.1:0", "--json")
	addr := first["addr"].(string)
	r := runApp(t, "", "ping", "--to", addr, "--count", "3", "--interval", "10ms", "--json")
	if r.code != 0 {
		t.Fatalf("ping: exit %d\n%s", r.code, r.stderr)
	}
	var replies int
	var sum string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		switch {
		case strings.Contains(line, `"type":"reply"`):
			replies++
		case strings.Contains(line, `"type":"summary"`):
			sum = line
		}
	}
	if replies != 3 {
		t.Errorf("%d replies; want 3:\n%s", replies, r.stdout)
	}
	for _, want := range []string{`"sent":3`, `"received":3`, `"missing":0`, `"rtt_min_ms"`, `"rtt_avg_ms"`, `"rtt_max_ms"`, `"rtt_p99_ms"`} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %s: %s", want, sum)
		}
	}
	for range 3 {
		if ev := e.next(); ev["action"] != "replied" || ev["kind"] != "unicast" {
			t.Errorf("echo event %v; want a unicast reply", ev)
		}
	}
}

func TestPingText(t *testing.T) {
	_, first := start(t, "echo", "--listen", "127.0.0.1:0", "--json", "--quiet")
	r := runApp(t, "", "ping", "--to", first["addr"].(string), "--count", "2", "--interval", "10ms")
	if r.code != 0 || !strings.Contains(r.stdout, "seq 2 rtt ") || !strings.Contains(r.stdout, "2 sent, 2 received, 0.0% loss") ||
		!strings.Contains(r.stdout, "rtt min/avg/max/p99 = ") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
}

func TestPingNoReplyIsTimeout(t *testing.T) {
	// Nothing listens: the kernel answers with port unreachable, ping
	// reads on and gives up after --wait.
	_, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "1")
	_ = first
	r := runApp(t, "", "ping", "--to", "127.0.0.1:9", "--count", "2", "--interval", "10ms", "--wait", "200ms")
	if r.code != exitTimeout || !strings.Contains(r.stderr, "no reply from 127.0.0.1:9") || !strings.Contains(r.stdout, "100.0% loss") {
		t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitTimeout, r.stdout, r.stderr)
	}
}

func TestEchoBroadcastNeedsFlag(t *testing.T) {
	tests := []struct {
		flags   []string
		replies bool
	}{{nil, false}, {[]string{"--broadcast"}, true}, {[]string{"--broadcast", "--limit", "1"}, true}}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"echo"}, tt.flags...), " "), func(t *testing.T) {
			e, first := start(t, append([]string{"echo", "--listen", "0", "--json"}, tt.flags...)...)
			port := netip.MustParseAddrPort(first["addr"].(string)).Port()
			to := netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port).String()
			r := runApp(t, "", "ping", "--to", to, "--count", "1", "--wait", "300ms", "--json")
			ev := e.next()
			if tt.replies {
				if r.code != 0 || ev["action"] != "replied" || ev["kind"] != "broadcast" {
					t.Errorf("ping exit %d, echo event %v; want a reply to the broadcast", r.code, ev)
				}
				return
			}
			if want := echoguard.DestBroadcast.String(); r.code != exitTimeout || ev["action"] != want {
				t.Errorf("ping exit %d, echo event %v; want no reply (%s)", r.code, ev, want)
			}
		})
	}
}

func TestEchoIgnoresSourceOnEchoPort(t *testing.T) {
	e, first := start(t, "echo", "--listen", "127.0.0.1:0", "--json")
	echoAddr := netip.MustParseAddrPort(first["addr"].(string))
	// What another echo server on the same port would send: a datagram from
	// that port. 127.0.0.2 is loopback too, so the port is free there.
	peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), echoAddr.Port())))
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer peer.Close()
	if _, err := peer.WriteToUDPAddrPort([]byte("bounce?"), echoAddr); err != nil {
		t.Fatal(err)
	}
	if ev, want := e.next(), echoguard.OwnPort.String(); ev["action"] != want {
		t.Errorf("echo event %v; want %q", ev, want)
	}
}

func TestEchoTimeout(t *testing.T) {
	r := runApp(t, "", "echo", "--listen", "127.0.0.1:0", "--timeout", "100ms", "--quiet")
	if r.code != exitTimeout {
		t.Errorf("exit %d; want %d\n%s", r.code, exitTimeout, r.stderr)
	}
}

func TestPingInterruptedWithNothingBackIsTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	r := runAppContext(t, ctx, "", "ping", "--to", "127.0.0.1:9", "--count", "0", "--interval", "50ms")
	if r.code != exitTimeout || !strings.Contains(r.stdout, "100.0% loss") {
		t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitTimeout, r.stdout, r.stderr)
	}
}
