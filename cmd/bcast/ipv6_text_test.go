package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/internal/seq"
)

func TestAppendHostPort(t *testing.T) {
	tests := []struct {
		addr string
		port uint16
		want string
	}{
		{"10.0.0.1", 53, "10.0.0.1:53"},
		{"ff02::1234", 5040, "[ff02::1234]:5040"},
		{"fe80::1%eth0", 7, "[fe80::1%eth0]:7"},
		{"::1", 7, "[::1]:7"},
		{"", 9, ":9"},
	}
	for _, tt := range tests {
		var a netip.Addr
		if tt.addr != "" {
			a = netip.MustParseAddr(tt.addr)
		}
		if got := hostPort(a, tt.port); got != tt.want {
			t.Errorf("hostPort(%q, %d) = %q; want %q", tt.addr, tt.port, got, tt.want)
		}
	}
}

func TestDatagramLineBracketsIPv6(t *testing.T) {
	pk := broadcast.Packet{
		Src: netip.MustParseAddrPort("[fe80::2%veth0]:4000"), Dst: netip.MustParseAddr("ff02::1234"),
		Kind: broadcast.Multicast, IfName: "veth0", TTL: 1, Size: 2, Data: []byte("hi"),
	}
	got := string(appendDatagram(nil, &pk, 5040, time.Unix(0, 0), seq.Header{}, 0, noVerdict, false))
	if want := " [fe80::2%veth0]:4000 > [ff02::1234]:5040 multicast veth0 ttl 1 len 2 \"hi\"\n"; !strings.HasSuffix(got, want) {
		t.Errorf("line %q; want it to end in %q", got, want)
	}
}

// TestIPv6TextOverLoopback runs listen and echo on [::1] and checks that
// every address with a port they print is bracketed.
func TestIPv6TextOverLoopback(t *testing.T) {
	for _, cmd := range []string{"listen", "echo"} {
		t.Run(cmd, func(t *testing.T) {
			c, err := net.ListenPacket("udp6", "[::1]:0")
			if err != nil {
				t.Skipf("no IPv6 on loopback: %v", err)
			}
			addr := c.LocalAddr().String()
			c.Close() // free the port; nothing else takes it in the meantime
			done := make(chan result, 1)
			go func() { done <- runApp(t, "", cmd, "--listen", addr, "--count", "1", "--timeout", "10s") }()
			waitBound(t, addr)
			s := runApp(t, "", "send", "--to", addr, "-m", "six")
			if s.code != 0 || !strings.Contains(s.stdout, "sent 3 bytes to "+addr) {
				t.Errorf("send: exit %d, stdout %q; want \"sent 3 bytes to %s\"", s.code, s.stdout, addr)
			}
			r := <-done
			if r.code != 0 {
				t.Fatalf("%s: exit %d\n%s", cmd, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, " > "+addr+" unicast lo") {
				t.Errorf("%s stdout lacks \" > %s unicast lo\":\n%s", cmd, addr, r.stdout)
			}
			if !strings.Contains(r.stderr, "listening on "+addr) {
				t.Errorf("%s stderr lacks \"listening on %s\":\n%s", cmd, addr, r.stderr)
			}
		})
	}
}
