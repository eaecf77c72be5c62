package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

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
		"--text", "version=1", "--discovery-port", strconv.Itoa(int(port)), "--discovery-dest", dest,
		"--discovery-iface", "lo", "--tcp", "127.0.0.1:0")
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
		{"bad destination", []string{"--mode", "announce", "--service", "s", "--discovery-dest", "255.255.255.255"}, `--discovery-dest "255.255.255.255"`},
		{"old name of destination", []string{"--mode", "announce", "--service", "s", "--discovery-to", "255.255.255.255"}, `--discovery-dest "255.255.255.255"`},
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

func TestInstanceFromHost(t *testing.T) {
	long := strings.Repeat("h", 60) + "-0001" // 65 bytes
	tests := []struct {
		host string
		want int // length of the result
		same bool
	}{
		{"office-1", 8, true},
		{strings.Repeat("a", 63), 63, true},
		{strings.Repeat("a", 64), 63, false},
		{long, 63, false},
		{"a" + strings.Repeat("é", 40), 62, false}, // 81 bytes: byte 54 is inside an é, so the cut is at 53
	}
	for _, tt := range tests {
		got := instanceFromHost(tt.host)
		if len(got) != tt.want || (got == tt.host) != tt.same || !utf8.ValidString(got) {
			t.Errorf("instanceFromHost(%q) = %q (%d bytes); want %d bytes, same %v, valid UTF-8", tt.host, got, len(got), tt.want, tt.same)
		}
		if !tt.same && !strings.HasPrefix(got, tt.host[:len(got)-9]) {
			t.Errorf("instanceFromHost(%q) = %q; want it to start as the host name does", tt.host, got)
		}
	}
	// Predictable, and apart for names that differ only at the end.
	other := strings.Repeat("h", 60) + "-0002"
	if instanceFromHost(long) != instanceFromHost(long) || instanceFromHost(long) == instanceFromHost(other) {
		t.Errorf("%q and %q give %q and %q", long, other, instanceFromHost(long), instanceFromHost(other))
	}
}

// TestAnnounceLongHostName: a host named with the 64 bytes Linux allows
// starts in announce mode, announcing the shortened id. The daemon runs in
// a UTS namespace of its own (unshare -u), so the machine's name is not
// touched; discovery stays on loopback.
func TestAnnounceLongHostName(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a UTS namespace (unshare -u)")
	}
	host := strings.Repeat("n", 52) + ".example.lan"
	if len(host) != 64 {
		t.Fatalf("test host name of %d bytes", len(host))
	}
	port := freeUDPPort(t)
	dest := fmt.Sprintf("127.255.255.255:%d", port)
	args := []string{"-u", "sh", "-c", `hostname "$0" && exec "$@"`, host, binPath, "--log-format", "json",
		"--mode", "announce", "--service", "listen-test", "--discovery-port", strconv.Itoa(int(port)),
		"--discovery-to", dest, "--discovery-interface", "lo", "--tcp", "127.0.0.1:0"}
	p := launch(t, exec.Command("unshare", args...))
	l, ok := p.waitLog("announcing", 10*time.Second)
	if !ok {
		t.Fatalf("daemon did not announce:\n%s", p.stderr())
	}
	if want := instanceFromHost(host); l.str("instance") != want || len(want) != discovery.MaxNameLen {
		t.Errorf("announcing %q; want %q", l.str("instance"), want)
	}
	if _, ok := p.waitLog("the host name is longer than an instance id may be; announcing a shortened one", 0); !ok {
		t.Errorf("the shortening was not logged:\n%s", p.stderr())
	}
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.stderr())
	}
}

// TestAnnounceTextLogEscapesInstance: an instance id with a right-to-left
// override is logged escaped in the text log, where it would otherwise
// reorder the line on a terminal.
func TestAnnounceTextLogEscapesInstance(t *testing.T) {
	port := freeUDPPort(t)
	dest := fmt.Sprintf("127.255.255.255:%d", port)
	p := launch(t, exec.Command(binPath, "--log-format", "text", "--mode", "announce", "--service", "listen-test",
		"--instance", "evil\u202egpj.exe", "--discovery-port", strconv.Itoa(int(port)), "--discovery-to", dest,
		"--discovery-interface", "lo", "--tcp", "127.0.0.1:0"))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr(), "msg=announcing") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.signal(syscall.SIGTERM)
	p.wait(5 * time.Second)
	log := p.stderr()
	if !strings.Contains(log, `instance="evil\u202egpj.exe"`) || strings.ContainsRune(log, '\u202e') {
		t.Errorf("the text log does not escape U+202E:\n%s", log)
	}
	if !strings.Contains(log, "off_link=0") {
		t.Errorf("the stop line lacks the refusal counters:\n%s", log)
	}
}
