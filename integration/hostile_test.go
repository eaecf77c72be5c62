package integration

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/forge"
	"github.com/bcastdev/bcast/internal/netns"
)

// hostileSettle is how long a scenario waits after its forged datagrams for
// whatever they set off to show in the counters. A loop runs at tens of
// thousands of datagrams a second, so a second shows one clearly.
const hostileSettle = 1500 * time.Millisecond

// TestIntegrationHostileLAN plays an attacker on LAN A against the echo
// servers (the listen daemon on a2, bcast echo on a3) with forged
// datagrams, and counts with nftables what the servers send and what
// reaches the victim a4. Each case is one the echo servers once fell for:
// see cmd/listen/README.md, Security.
func TestIntegrationHostileLAN(t *testing.T) {
	tp := netns.StandardTopology(t)
	listen, bcast := bin(t, "listen"), bin(t, "bcast")
	attacker, a2, a3, victim := tp.Host("a1"), tp.Host("a2"), tp.Host("a3"), tp.Host("a4")
	ip := func(h string) netip.Addr { return tp.NIC(h, "eth0").Addr4() }

	// What each host sends from the servers' ports, and what reaches the
	// victim from them.
	serverPorts := "{ 7777, 7778, 7790, 8888, 8889 }"
	for _, h := range []*netns.Host{a2, a3} {
		nftApply(t, h, fmt.Sprintf(`table inet hostile {
	counter out {}
	chain output { type filter hook output priority 0; udp sport %s counter name out; }
}
`, serverPorts))
	}
	nftApply(t, victim, fmt.Sprintf(`table inet hostile {
	counter in {}
	chain input { type filter hook input priority 0; udp sport %s counter name in; }
}
`, serverPorts))
	counts := func() (a2out, a3out, victimIn uint64) {
		return nftCounter(t, a2, "hostile", "out"), nftCounter(t, a3, "hostile", "out"), nftCounter(t, victim, "hostile", "in")
	}

	daemon := start(t, a2, listen, "--udp", ":7777", "--udp", "[::]:7778")
	limited := start(t, a2, listen, "--udp", ":7790", "--limit", "50")
	echo := start(t, a3, bcast, "echo", "--listen", ":8888", "--json", "--quiet")
	echoBroadcast := start(t, a3, bcast, "echo", "--listen", ":8889", "--broadcast", "--limit", "10", "--json", "--quiet")
	waitSockets(t, a2, "udp", 7777, 1)
	waitSockets(t, a2, "udp", 7778, 1)
	waitSockets(t, a2, "udp", 7790, 1)
	waitSockets(t, a3, "udp", 8888, 1)
	waitSockets(t, a3, "udp", 8889, 1)

	send := func(t *testing.T, n int, src, dst netip.AddrPort, payload string) {
		t.Helper()
		ds := make([]forge.Datagram, n)
		for i := range ds {
			ds[i] = forge.Datagram{Src: src, Dst: dst, Payload: fmt.Appendf(nil, "%s %d", payload, i)}
		}
		if err := attacker.Do(func() error { return forge.Send("eth0", ds...) }); err != nil {
			t.Fatal(err)
		}
	}
	// sentBy runs a scenario and returns what the servers sent and what the
	// victim received while it ran and settled.
	sentBy := func(t *testing.T, scenario func()) (a2out, a3out, victimIn uint64) {
		t.Helper()
		b2, b3, bv := counts()
		scenario()
		time.Sleep(hostileSettle)
		e2, e3, ev := counts()
		t.Logf("a2 sent %d, a3 sent %d, the victim received %d", e2-b2, e3-b3, ev-bv)
		return e2 - b2, e3 - b3, ev - bv
	}
	port := func(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

	t.Run("two echo servers and one forged datagram", func(t *testing.T) {
		for _, dst := range []uint16{7777, 7778} { // IPv4 socket, dual-stack socket
			a2out, a3out, _ := sentBy(t, func() { send(t, 1, port(ip("a3"), 8888), port(ip("a2"), dst), "ping-pong") })
			if total := 1 + a2out + a3out; total > 4 || a2out == 0 {
				t.Errorf("to a2:%d from a3:8888 (forged): %d datagrams in all (a2 %d, a3 %d); want at most 4, and a2's first answer", dst, total, a2out, a3out)
			}
		}
	})

	t.Run("source 0.0.0.0 to 255.255.255.255", func(t *testing.T) {
		// Answered, the reply to 0.0.0.0 would be delivered to a2 itself,
		// which would answer it again, forever.
		a2out, _, _ := sentBy(t, func() {
			send(t, 1, netip.MustParseAddrPort("0.0.0.0:40000"), netip.MustParseAddrPort("255.255.255.255:7777"), "self")
			send(t, 1, netip.MustParseAddrPort("0.0.0.0:40000"), netip.MustParseAddrPort("255.255.255.255:7778"), "self")
		})
		if a2out != 0 {
			t.Errorf("a2 sent %d datagrams; want none", a2out)
		}
	})

	t.Run("fraggle: a victim's address to the subnet broadcast", func(t *testing.T) {
		bcastAddr := tp.A.Broadcast4()
		a2out, a3out, victimIn := sentBy(t, func() {
			send(t, 100, port(ip("a4"), 40000), port(bcastAddr, 7777), "fraggle")
			send(t, 100, port(ip("a4"), 40000), port(bcastAddr, 8888), "fraggle")
		})
		if a2out != 0 || a3out != 0 || victimIn != 0 {
			t.Errorf("without --broadcast: a2 sent %d, a3 sent %d, the victim got %d; want none", a2out, a3out, victimIn)
		}
		// With --broadcast --limit 10: the victim gets at most a burst.
		_, a3out, victimIn = sentBy(t, func() { send(t, 100, port(ip("a4"), 40000), port(bcastAddr, 8889), "fraggle") })
		if victimIn == 0 || victimIn > 11 || a3out > 11 {
			t.Errorf("--broadcast --limit 10, 100 forged at once: a3 sent %d, the victim got %d; want 1 to 11", a3out, victimIn)
		}
	})

	t.Run("a responder that changes its payload is held to the per-source limit", func(t *testing.T) {
		// A chargen-like service on a high port of the victim: every
		// datagram gets an answer that differs from the last.
		var c *net.UDPConn
		if err := victim.Do(func() (err error) {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 9999})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stop := time.Now().Add(hostileSettle + time.Second)
		done := make(chan int)
		go func() {
			buf := make([]byte, 2048)
			n := 0
			for n < 100000 && time.Now().Before(stop) {
				c.SetReadDeadline(stop)
				_, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					break
				}
				n++
				c.WriteToUDPAddrPort(binary.BigEndian.AppendUint64(nil, uint64(n)), from)
			}
			done <- n
		}()
		a2out, _, _ := sentBy(t, func() { send(t, 1, port(ip("a4"), 9999), port(ip("a2"), 7790), "start") })
		answered := <-done
		// --limit 50: a burst of 50, then 50 a second for the 1.5 s.
		if a2out < 50 || a2out > 50+50*3 {
			t.Errorf("a2 (--limit 50) sent %d datagrams to a responder on a high port (it answered %d); want 50 to 200", a2out, answered)
		}
	})

	t.Run("a group joined by another program on the host", func(t *testing.T) {
		group := netip.MustParseAddr("239.71.9.9")
		other := start(t, a2, bcast, "listen", "--listen", ":5999", "--group", group.String(), "--iface", "eth0", "--quiet")
		waitSockets(t, a2, "udp", 5999, 1)
		a2out, _, _ := sentBy(t, func() { send(t, 10, port(ip("a4"), 40000), port(group, 7777), "group") })
		if a2out != 0 {
			t.Errorf("a2 sent %d datagrams for a group it did not join; want none", a2out)
		}
		other.mustSucceed(other.interrupt())
	})

	// Every datagram left unanswered is counted by reason.
	daemon.mustSucceed(daemon.interrupt())
	limited.mustSucceed(limited.interrupt())
	echo.mustSucceed(echo.interrupt())
	echoBroadcast.mustSucceed(echoBroadcast.interrupt())
	log := daemon.stderr.String()
	stopped := ""
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "msg=stopped") {
			stopped = line
		}
	}
	for _, want := range []string{"loop=", "unspecified_source=", "broadcast_dest="} {
		if !strings.Contains(stopped, want) {
			t.Errorf("the daemon's stop line lacks %s:\n%s", want, stopped)
		}
	}
	// IP_MULTICAST_ALL is off: the group never reached the daemon.
	if strings.Contains(stopped, "multicast_dest=") {
		t.Errorf("the daemon received datagrams for a group it never joined:\n%s", stopped)
	}
	if !strings.Contains(echoBroadcast.stdout.String(), `"rate_limited":`) {
		t.Errorf("bcast echo --broadcast --limit 10 summary lacks rate_limited:\n%s", echoBroadcast.stdout.String())
	}
}
