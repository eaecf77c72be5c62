package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/dgram"
)

// freeUDPPort returns a UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	s, err := dgram.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.Sockname()
	if err != nil {
		t.Fatal(err)
	}
	return a.AddrPort.Port()
}

// TestAnnounce: --mode announce makes the daemon findable by a discovery
// Browser, with the port of its TCP listener, and it says goodbye when it
// stops. Loopback has no broadcast flag, so discovery travels to
// 127.255.255.255, which the kernel delivers to every socket on the port.
func TestAnnounce(t *testing.T) {
	port := freeUDPPort(t)
	dest := fmt.Sprintf("127.255.255.255:%d", port)
	p := startDaemon(t, "--mode", "announce", "--service", "listen-test", "--instance", "test-1",
		"--text", "version=1", "--discovery-port", strconv.Itoa(int(port)), "--discovery-to", dest,
		"--discovery-interface", "lo", "--tcp", "127.0.0.1:0")
	tcp := netip.MustParseAddrPort(p.addr("tcp"))

	b, err := discovery.Browse(discovery.BrowserConfig{Service: "listen-test", Link: discovery.Link{
		Port: port, Interfaces: []string{"lo"}, Destinations: []netip.AddrPort{netip.MustParseAddrPort(dest)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ev := nextEvent(t, b)
	if ev.Kind != discovery.Found || ev.Peer.Instance != "test-1" || ev.Peer.Port != tcp.Port() || ev.Peer.Text["version"] != "1" {
		t.Fatalf("first event %v; want test-1 found on port %d with version=1", ev, tcp.Port())
	}
	// The announced port is the echo service.
	c := dial(t, "tcp", p.addr("tcp"))
	if got, err := roundTrip(c, "found you\n"); err != nil || got != "found you\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	c.Close()

	p.signal(syscall.SIGTERM)
	for {
		ev = nextEvent(t, b)
		if ev.Kind == discovery.Lost {
			break
		}
	}
	if !ev.Goodbye || ev.Peer.Instance != "test-1" {
		t.Fatalf("last event %v; want test-1 lost by goodbye", ev)
	}
	if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
		t.Fatalf("exit code %d", code)
	}
	// The browser's start-up query was answered by the daemon.
	if l, ok := p.waitLog("announcer stopped", 0); !ok || l["answered"].(float64) < 1 {
		t.Errorf("announcer stats %v; want at least one query answered", l)
	}
}

func nextEvent(t *testing.T, b *discovery.Browser) discovery.Event {
	t.Helper()
	select {
	case ev, ok := <-b.Events():
		if !ok {
			t.Fatal("browser events closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("no discovery event within 5s; peers %v, stats %+v", b.Peers(), b.Stats())
		return discovery.Event{}
	}
}

func TestAnnounceUsage(t *testing.T) {
	tcp := []string{"--tcp", "127.0.0.1:0"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"service without announce", append([]string{"--service", "x"}, tcp...), "--service is used only with --mode announce"},
		{"text without announce", append([]string{"--text", "a=b"}, tcp...), "--text is used only with --mode announce"},
		{"announce without service", []string{"--mode", "announce"}, "--mode announce needs --service"},
		{"bad service", []string{"--mode", "announce", "--service", "no spaces"}, `--service "no spaces"`},
		{"bad text", []string{"--mode", "announce", "--service", "s", "--text", "novalue"}, `--text "novalue": want KEY=VALUE`},
		{"bad destination", []string{"--mode", "announce", "--service", "s", "--discovery-to", "255.255.255.255"}, `--discovery-to "255.255.255.255"`},
		{"bad port", []string{"--mode", "announce", "--service", "s", "--discovery-port", "70000"}, "--discovery-port 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runApp(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit code %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}
