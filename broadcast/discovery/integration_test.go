package discovery_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/internal/netns"
)

// The integration test runs Announcers and Browsers in network namespaces.
// They list interfaces from their own goroutines, which a thread that
// entered a namespace (netns.Host.Do) does not cover, so each runs as a
// process of its own inside its host: this test binary, started again with
// helperEnv set, as `ip netns exec HOST discovery.test`.
const helperEnv = "BCAST_DISCOVERY_HELPER"

// helperConfig is what a helper process is told to do.
type helperConfig struct {
	Role     string // "announce" or "browse"
	Link     discovery.Link
	Interval time.Duration // announce
}

// helperLine is one line a helper writes: "ready", an event, or "closed".
type helperLine struct {
	Kind       string
	Instance   string
	Port       uint16
	Addrs      []netip.Addr
	Interfaces []string
	Src        netip.AddrPort
	Goodbye    bool
	Stats      *discovery.Stats `json:",omitempty"` // with LastError moved to Err: an error does not unmarshal
	Err        string           `json:",omitempty"`
}

// closed is the last line of a helper.
func closed(st discovery.Stats) helperLine {
	l := helperLine{Kind: "closed", Stats: &st}
	if st.LastError != nil {
		l.Err = st.LastError.Error()
		st.LastError = nil
	}
	return l
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(helperEnv); cfg != "" {
		os.Exit(helper(cfg))
	}
	os.Exit(m.Run())
}

// helper runs one Announcer or Browser until its stdin ends, writing what
// happens to stdout as JSON lines.
func helper(cfgText string) int {
	var cfg helperConfig
	if err := json.Unmarshal([]byte(cfgText), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		return 2
	}
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	emit := func(l helperLine) {
		mu.Lock()
		defer mu.Unlock()
		out.Encode(l)
	}
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	switch cfg.Role {
	case "announce":
		a, err := discovery.Announce(discovery.AnnouncerConfig{
			Service: "printer", Instance: "server", Port: 631, Interval: cfg.Interval, Link: cfg.Link,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		emit(helperLine{Kind: "ready"})
		<-stdinClosed
		st := a.Stats()
		a.Close()
		emit(closed(st))
	case "browse":
		b, err := discovery.Browse(discovery.BrowserConfig{Service: "printer", Link: cfg.Link})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		emit(helperLine{Kind: "ready"})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range b.Events() {
				p := ev.Peer
				emit(helperLine{Kind: ev.Kind.String(), Instance: p.Instance, Port: p.Port, Addrs: p.Addrs,
					Interfaces: p.Interfaces, Src: p.Src, Goodbye: ev.Goodbye})
			}
		}()
		<-stdinClosed
		st := b.Stats()
		b.Close()
		<-done
		emit(closed(st))
	default:
		fmt.Fprintln(os.Stderr, "unknown role", cfg.Role)
		return 2
	}
	return 0
}

// proc is a helper process seen from the test.
type proc struct {
	name  string
	stdin io.WriteCloser
	lines chan helperLine
	done  chan struct{} // closed when stdout ends
}

func start(t *testing.T, h *netns.Host, cfg helperConfig) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(context.Background(), exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: cfg.Role + "@" + h.Name(), lines: make(chan helperLine, 64), done: make(chan struct{})}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l helperLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = helperLine{Kind: "garbage: " + sc.Text()}
			}
			p.lines <- l
		}
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr:\n%s", p.name, stderr.String())
		}
	})
	p.expect(t, "ready", 10*time.Second)
	return p
}

// expect waits for the next line, which must be of kind.
func (p *proc) expect(t *testing.T, kind string, timeout time.Duration) helperLine {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("%s: ended before %q", p.name, kind)
		}
		if l.Kind != kind {
			t.Fatalf("%s: got %+v; want %q", p.name, l, kind)
		}
		return l
	case <-p.done:
		t.Fatalf("%s: exited before %q", p.name, kind)
	case <-time.After(timeout):
		t.Fatalf("%s: no %q within %v", p.name, kind, timeout)
	}
	panic("unreachable")
}

// quiet checks that nothing arrives for d.
func (p *proc) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case l := <-p.lines:
		t.Fatalf("%s: unexpected %+v", p.name, l)
	case <-time.After(d):
	}
}

// stop closes the helper's stdin and returns its final line.
func (p *proc) stop(t *testing.T) helperLine {
	t.Helper()
	p.stdin.Close()
	return p.expect(t, "closed", 10*time.Second)
}

// TestIntegrationDiscovery, on two LANs:
//
//	LAN A  10.73.1.0/24  fd00:73:1::/64   s eth0 (.1, ::1)   a eth0 (.2, ::2)
//	LAN B  10.73.2.0/24  fd00:73:2::/64   s eth1 (.1, ::1)   b eth0 (.2, ::2)
//
// s announces; a and b browse. Each must learn only the addresses s has on
// its own LAN, from announcements and from answers alike; a must lose s
// when s's link to A goes down, while b keeps it; and both must hear s's
// goodbye.
func TestIntegrationDiscovery(t *testing.T) {
	lab := netns.New(t)
	lanA := lab.LAN("a", netip.MustParsePrefix("10.73.1.0/24"), netip.MustParsePrefix("fd00:73:1::/64"))
	lanB := lab.LAN("b", netip.MustParsePrefix("10.73.2.0/24"), netip.MustParsePrefix("fd00:73:2::/64"))
	s, a, b := lab.Host("s"), lab.Host("a"), lab.Host("b")
	sA := s.Attach(lanA, "eth0", netip.MustParseAddr("10.73.1.1"), netip.MustParseAddr("fd00:73:1::1"))
	s.Attach(lanB, "eth1", netip.MustParseAddr("10.73.2.1"), netip.MustParseAddr("fd00:73:2::1"))
	a.Attach(lanA, "eth0", netip.MustParseAddr("10.73.1.2"), netip.MustParseAddr("fd00:73:1::2"))
	b.Attach(lanB, "eth0", netip.MustParseAddr("10.73.2.2"), netip.MustParseAddr("fd00:73:2::2"))

	for _, tc := range []struct {
		name    string
		link    discovery.Link
		hotplug bool // also browse from a host whose NIC is attached after the Browser started
	}{
		{"udp4-broadcast", discovery.Link{}, false}, // every default: udp4, Auto (broadcast), DefaultPort
		{"udp4-multicast", discovery.Link{Transport: discovery.Multicast, Port: discovery.DefaultPort + 1}, false},
		{"udp6-multicast", discovery.Link{Network: "udp6", Port: discovery.DefaultPort + 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := tc.link.Port
			if port == 0 {
				port = discovery.DefaultPort
			}
			v6 := tc.link.Network == "udp6"
			// The addresses s must show each LAN: its two global addresses
			// there and the link-local one of its interface there, zoned with
			// the browser's interface.
			check := func(t *testing.T, l helperLine, lan *netns.LAN, who string) {
				t.Helper()
				t.Logf("%s: %s %s port %d addrs %v via %v from %v", who, l.Kind, l.Instance, l.Port, l.Addrs, l.Interfaces, l.Src)
				if l.Instance != "server" || l.Port != 631 || !slices.Equal(l.Interfaces, []string{"eth0"}) {
					t.Errorf("%s: %+v", who, l)
				}
				var global, linkLocal int
				for _, ad := range l.Addrs {
					switch {
					case lan.Prefix4().Contains(ad) || lan.Prefix6().Contains(ad):
						global++
					case ad.IsLinkLocalUnicast() && ad.Zone() == "eth0":
						linkLocal++
					default:
						t.Errorf("%s: address %v is not valid on LAN %s (addrs %v)", who, ad, lan.Name(), l.Addrs)
					}
				}
				if global != 2 || linkLocal != 1 {
					t.Errorf("%s: addrs %v; want s's IPv4 and IPv6 address on LAN %s and one zoned link-local", who, l.Addrs, lan.Name())
				}
			}

			// Answers: s announces at start and a second later, then not for
			// an hour, so browsers started after that learn of s only by
			// asking. Answers leave from the discovery port (announcements
			// from the sender's own port), which shows where Found came from.
			ann := start(t, s, helperConfig{Role: "announce", Link: tc.link, Interval: time.Hour})
			time.Sleep(1500 * time.Millisecond)
			ba := start(t, a, helperConfig{Role: "browse", Link: tc.link})
			bb := start(t, b, helperConfig{Role: "browse", Link: tc.link})
			for _, c := range []struct {
				p   *proc
				lan *netns.LAN
				src netip.Addr
			}{{ba, lanA, netip.MustParseAddr("10.73.1.1")}, {bb, lanB, netip.MustParseAddr("10.73.2.1")}} {
				l := c.p.expect(t, "found", 5*time.Second)
				check(t, l, c.lan, c.p.name+" (answer)")
				if l.Src.Port() != port {
					t.Errorf("%s: found from %v, not from port %d: not an answer", c.p.name, l.Src, port)
				}
				if !v6 && l.Src.Addr() != c.src {
					t.Errorf("%s: answer from %v; want s's address on the LAN, %v", c.p.name, l.Src.Addr(), c.src)
				}
			}
			browsers := []*proc{ba, bb}
			var c *netns.Host
			if tc.hotplug {
				// A Browser on a host with no network yet: when a NIC comes up,
				// it joins the group there and asks, within rescanEvery (5 s).
				c = lab.Host("c")
				bc := start(t, c, helperConfig{Role: "browse", Link: tc.link})
				c.Attach(lanA, "eth0", netip.MustParseAddr("10.73.1.3"), netip.MustParseAddr("fd00:73:1::3"))
				l := bc.expect(t, "found", 8*time.Second)
				check(t, l, lanA, bc.name+" (after its NIC came up)")
				if l.Src.Port() != port {
					t.Errorf("%s: found from %v: not an answer", bc.name, l.Src)
				}
				browsers = append(browsers, bc)
			}
			// An answer here (64 bytes: two names, three addresses) is more
			// than twice a query for the service (19 bytes), so it goes to
			// the LAN's broadcast address or group, from the discovery port,
			// where the Browser hears it all the same.
			// (A query that comes less than a second after an answer to its
			// LAN is answered when the second is up, unless the announcer
			// stops first, as here: Queries may exceed Answered+Coalesced.)
			if st := ann.stop(t).Stats; st == nil || st.Answered < 2 || st.GroupAnswers != st.Answered || st.Refused != 0 {
				t.Errorf("announcer stats %+v; want at least one answer per LAN, all to the group, and none refused", st)
			}
			for _, p := range browsers {
				if l := p.expect(t, "lost", 5*time.Second); !l.Goodbye {
					t.Errorf("%s: lost without goodbye after the announcer closed", p.name)
				}
			}
			if c != nil {
				browsers[2].stop(t)
				lab.Delete(c)
			}

			// Link down: s announces every 500 ms (TTL 1.5 s, 2 s on the
			// wire). When its eth0 goes down, a loses it within the TTL; b,
			// on the other LAN, does not.
			ann = start(t, s, helperConfig{Role: "announce", Link: tc.link, Interval: 500 * time.Millisecond})
			check(t, ba.expect(t, "found", 5*time.Second), lanA, ba.name)
			check(t, bb.expect(t, "found", 5*time.Second), lanB, bb.name)
			sA.SetDown()
			down := time.Now()
			l := ba.expect(t, "lost", 5*time.Second)
			if l.Goodbye {
				t.Errorf("%s: lost by goodbye; want expiry", ba.name)
			}
			if d := time.Since(down); d > 3*time.Second {
				t.Errorf("%s: lost %v after the link went down; want within the 2 s TTL", ba.name, d)
			}
			bb.quiet(t, 500*time.Millisecond)
			sA.SetUp()
			check(t, ba.expect(t, "found", 5*time.Second), lanA, ba.name+" (link back up)")
			if st := ann.stop(t).Stats; st == nil || st.Sent == 0 {
				t.Errorf("announcer stats %+v", st)
			}
			for _, p := range []*proc{ba, bb} {
				p.expect(t, "lost", 5*time.Second)
				if st := p.stop(t).Stats; st == nil || st.Malformed+st.Version+st.TooLarge != 0 {
					t.Errorf("%s: stats %+v", p.name, st)
				}
			}
		})
	}
}
