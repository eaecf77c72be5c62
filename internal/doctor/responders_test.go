package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/multicast"
)

// procSocket makes /proc/PID/fd/FD a link to socket:[INODE] and names the
// process in /proc/PID/comm, as the kernel shows a socket's holder.
func procSocket(t *testing.T, proc string, pid, fd int, inode uint64, comm string) {
	t.Helper()
	dir := filepath.Join(proc, fmt.Sprint(pid))
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(dir, "fd", fmt.Sprint(fd))); err != nil {
		t.Fatal(err)
	}
}

// TestResponders: the programs on the mDNS and SSDP ports are named, but
// for this process; the finding is WARN when doctor is asked about the
// protocol (its port or group) and INFO otherwise; nothing is said when no
// one else holds the port.
func TestResponders(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	line := func(local string, inode int) string {
		return fmt.Sprintf(" 1: %s 00000000:0000 07 00000000:00000000 00:00000000 00000000   107        0 %d 2 0000000000000000 0\n", local, inode)
	}
	const any6 = "00000000000000000000000000000000"
	const (
		avahi4 = 100 + iota
		avahi6
		ours
		unseen
		upnp
	)
	group := func(s string) multicast.Group {
		g, err := multicast.ParseGroup(s)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	avahi := "udp port 5353 (mDNS) is held by another mDNS responder or querier: avahi-daemon (pid 412) on 0.0.0.0:5353, [::]:5353; multicast queries"
	tests := []struct {
		name       string
		udp, udp6  string
		port       uint16
		group      string
		mdns, ssdp Level // -1: no finding
		words      []string
		absent     []string
	}{
		{name: "avahi and miniupnpd, nothing asked", udp: line("00000000:14E9", avahi4) + line("00000000:076C", upnp), udp6: line(any6+":14E9", avahi6),
			mdns: Info, ssdp: Info,
			words: []string{avahi, "a unicast datagram to port 5353 reaches only one of them", "dig -p 5353",
				"two responders on one host both answer", "miniupnpd (pid 77) on 0.0.0.0:1900", "search from a port of its own"}},
		{name: "asked about port 5353", udp: line("00000000:14E9", avahi4) + line("00000000:076C", upnp), udp6: line(any6+":14E9", avahi6),
			port: 5353, mdns: Warn, ssdp: Info, words: []string{avahi, "stop the other (such as avahi-daemon)"}},
		{name: "asked about 224.0.0.251", udp: line("00000000:14E9", avahi4), group: "224.0.0.251", mdns: Warn, ssdp: -1},
		{name: "asked about ff02::fb on eth0", udp: line("00000000:14E9", avahi4), group: "ff02::fb%eth0", mdns: Warn, ssdp: -1},
		{name: "asked about port 1900", udp: line("00000000:14E9", avahi4) + line("00000000:076C", upnp), port: 1900, mdns: Info, ssdp: Warn,
			words: []string{"stop the other (such as miniupnpd or minissdpd)"}},
		{name: "asked about 239.255.255.250", udp: line("00000000:076C", upnp), group: "239.255.255.250", mdns: -1, ssdp: Warn},
		{name: "this process only", udp: line("00000000:14E9", ours), port: 5353, mdns: -1, ssdp: -1},
		{name: "this process beside avahi", udp: line("00000000:14E9", ours) + line("00000000:14E9", avahi4), mdns: Info, ssdp: -1,
			absent: []string{"pid 999"}},
		{name: "an owner doctor cannot see", udp: line("FB0000E0:14E9", unseen), port: 5353, mdns: Warn, ssdp: -1,
			words: []string{"a process doctor cannot see (run as root to name it) on 224.0.0.251:5353"}},
		{name: "other ports only", udp: line("00000000:270F", avahi4), mdns: -1, ssdp: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.cfg.pid = 999
			fx.cfg.Port = tt.port
			if tt.group != "" {
				fx.cfg.Group = group(tt.group)
				fx.cfg.Iface = "" // the zone's interface is not the fixture's concern here
			}
			fx.set(t, "proc/net/udp", header+tt.udp)
			if tt.udp6 != "" {
				fx.set(t, "proc/net/udp6", header+tt.udp6)
			}
			procSocket(t, fx.cfg.Proc, 412, 11, avahi4, "avahi-daemon")
			procSocket(t, fx.cfg.Proc, 412, 12, avahi6, "avahi-daemon")
			procSocket(t, fx.cfg.Proc, 77, 5, upnp, "miniupnpd")
			procSocket(t, fx.cfg.Proc, 999, 7, ours, "bcast")
			fs := Run(context.Background(), fx.cfg)
			for _, c := range []struct {
				check string
				want  Level
			}{{"mdns", tt.mdns}, {"ssdp", tt.ssdp}} {
				got := find(fs, c.check)
				switch {
				case c.want < 0 && len(got) != 0:
					t.Errorf("%s: got %v; want no finding", c.check, dump(got))
				case c.want >= 0 && (len(got) != 1 || got[0].Level != c.want):
					t.Errorf("%s: got %v; want one %v finding", c.check, dump(got), c.want)
				}
			}
			all := dump(fs)
			for _, w := range tt.words {
				if !strings.Contains(all, w) {
					t.Errorf("findings do not say %q:\n%s", w, all)
				}
			}
			for _, w := range tt.absent {
				if strings.Contains(all, w) {
					t.Errorf("findings say %q:\n%s", w, all)
				}
			}
			if Worst(fs) == Fail {
				t.Errorf("a responder made doctor fail:\n%s", all)
			}
		})
	}
}
