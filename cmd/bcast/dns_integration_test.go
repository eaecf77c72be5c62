package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// dnsCounter counts the datagrams that reach the name servers a host's
// resolver would ask: 127.0.0.53:53, named by the host's resolv.conf, and
// 127.0.0.1:53, where Go's resolver falls back without one.
type dnsCounter struct{ n atomic.Int64 }

// countDNS points h's resolver at a counter: /etc/netns/NS/resolv.conf,
// which `ip netns exec` mounts over /etc/resolv.conf, names 127.0.0.53,
// and sockets inside h on both addresses count what arrives. Nothing
// answers, so a query times out after one second.
func countDNS(t *testing.T, h *netns.Host) *dnsCounter {
	t.Helper()
	dir := filepath.Join("/etc/netns", h.NS())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n"
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &dnsCounter{}
	var conns []net.PacketConn
	err := h.Do(func() error {
		for _, a := range []string{"127.0.0.53:53", "127.0.0.1:53"} {
			pc, err := net.ListenPacket("udp4", a)
			if err != nil {
				return err
			}
			conns = append(conns, pc)
		}
		return nil
	})
	for _, pc := range conns {
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, _, err := pc.ReadFrom(buf); errors.Is(err, net.ErrClosed) {
					return
				} else if err == nil {
					c.n.Add(1)
				}
			}
		}()
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIntegrationBadLiteralsAreNotResolved(t *testing.T) {
	lab := netns.New(t)
	h := lab.Host("dns")
	dns := countDNS(t, h)

	// The counter works: a real host name is looked up.
	r := nsRun(t, h, "send", "--to", "no-such-host.test:9", "-m", "x")
	if r.code != exitUsage || !strings.Contains(r.stderr, `cannot resolve "no-such-host.test"`) {
		t.Fatalf("a host name: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for deadline := time.Now().Add(2 * time.Second); dns.n.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if dns.n.Load() == 0 {
		t.Fatal("the DNS counter saw no query for a host name; it cannot tell whether literals are resolved")
	}
	before := dns.n.Load()

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"send", "--to", "0x7f000001:9", "-m", "x"}, "write 127.0.0.1"},
		{[]string{"send", "--to", "127.1:9", "-m", "x"}, "write 127.0.0.1"},
		{[]string{"send", "--to", "300.1.1.1:9", "-m", "x"}, "300 is above 255"},
		{[]string{"send", "--to", "[::1%]:9", "-m", "x"}, "empty zone after %"},
		{[]string{"send", "--to", "1.2.3.4.5:9", "-m", "x"}, "four numbers"},
		{[]string{"send", "--to", "2130706433:9", "-m", "x"}, "write 127.0.0.1"},
		{[]string{"ping", "--to", "127.1:7"}, "write 127.0.0.1"},
		{[]string{"listen", "--listen", "*:5000"}, "* is not an address"},
		{[]string{"echo", "--listen", "0x7f000001:7"}, "write 127.0.0.1"},
		{[]string{"discover", "--dest", "127.1:62278"}, "write 127.0.0.1"},
	}
	for _, tt := range tests {
		r := nsRun(t, h, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("bcast %s: exit %d, stderr:\n%s\nwant exit 2 saying %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
	time.Sleep(200 * time.Millisecond) // a query in flight would have arrived
	if n := dns.n.Load() - before; n != 0 {
		t.Errorf("%d DNS queries for IP literals; want none", n)
	}
}
