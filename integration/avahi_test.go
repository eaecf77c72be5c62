package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// avahi is an avahi-daemon of its own inside one test host, with a private
// system bus: the real mDNS peer the interop tests talk to. Nothing of it
// runs in the machine's own namespace.
type avahi struct {
	t      *testing.T
	host   *netns.Host
	dir    string
	bus    string // DBUS_SYSTEM_BUS_ADDRESS for the daemon and its clients
	daemon *proc
	dbus   *proc
}

// startAvahi starts dbus-daemon and avahi-daemon in h, announcing h as
// hostName on ifaces. avahi-daemon keeps its pid file and socket in
// /run/avahi-daemon, so each runs in a mount namespace of its own
// (unshare -m) with a tmpfs there; the bus is private, named by
// DBUS_SYSTEM_BUS_ADDRESS, which libdbus honours for the system bus.
func startAvahi(t *testing.T, h *netns.Host, hostName string, ifaces ...string) *avahi {
	t.Helper()
	a := beginAvahi(t, h, hostName, ifaces...)
	a.ready()
	return a
}

// beginAvahi is startAvahi without the wait for avahi-daemon to finish
// starting (probing its host name): call ready for that, so that many
// daemons can start at once.
func beginAvahi(t *testing.T, h *netns.Host, hostName string, ifaces ...string) *avahi {
	t.Helper()
	for _, cmd := range []string{"avahi-daemon", "dbus-daemon", "avahi-browse", "avahi-publish", "unshare"} {
		requirePeer(t, cmd)
	}
	dir := t.TempDir()
	a := &avahi{t: t, host: h, dir: dir, bus: "unix:path=" + filepath.Join(dir, "system_bus_socket")}
	busConf := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`, a.bus)
	avahiConf := fmt.Sprintf(`[server]
host-name=%s
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=%s
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
[rlimits]
`, hostName, strings.Join(ifaces, ","))
	for name, text := range map[string]string{"bus.conf": busConf, "avahi-daemon.conf": avahiConf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a.dbus = start(t, h, "dbus-daemon", "--config-file="+filepath.Join(dir, "bus.conf"), "--nofork", "--nopidfile", "--nosyslog")
	waitFor(t, readyTimeout, "the private system bus in "+h.Name(), func() (bool, string) {
		_, err := os.Stat(filepath.Join(dir, "system_bus_socket"))
		return err == nil, fmt.Sprint(err)
	})
	script := "mount -t tmpfs tmpfs /run/avahi-daemon 2>/dev/null || { mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon; } && exec avahi-daemon -f " +
		filepath.Join(dir, "avahi-daemon.conf") + " --no-drop-root --no-chroot --no-rlimits --no-proc-title"
	a.daemon = startEnv(t, h, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + a.bus}, "unshare", "-m", "--propagation", "private", "sh", "-c", script)
	return a
}

// ready waits until avahi-daemon has finished starting.
func (a *avahi) ready() {
	t := a.t
	t.Helper()
	waitFor(t, 10*time.Second, "avahi-daemon in "+a.host.Name()+" to finish starting", func() (bool, string) {
		if !a.daemon.running() {
			t.Fatalf("avahi-daemon in %s exited:\n%s", a.host.Name(), a.daemon.stderr.String())
		}
		log := a.daemon.stderr.String()
		return strings.Contains(log, "Server startup complete"), log
	})
}

// requirePeer is requireCommand for the interop peers.
func requirePeer(t *testing.T, name string) {
	t.Helper()
	requireCommand(t, name)
}

// client runs an avahi client tool (avahi-browse, avahi-publish,
// avahi-resolve) against this daemon, to its end, within timeout.
func (a *avahi) client(timeout time.Duration, name string, args ...string) (string, error) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := a.host.Command(ctx, name, args...)
	cmd.Env = append(cleanEnv(), "DBUS_SYSTEM_BUS_ADDRESS="+a.bus)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// publish starts avahi-publish with args (-s NAME TYPE PORT [TXT...]) and
// returns it running; interrupt it to withdraw the service.
func (a *avahi) publish(args ...string) *proc {
	a.t.Helper()
	p := startEnv(a.t, a.host, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + a.bus}, "avahi-publish", args...)
	waitFor(a.t, 10*time.Second, "avahi-publish "+strings.Join(args, " ")+" to be established", func() (bool, string) {
		if !p.running() {
			a.t.Fatalf("avahi-publish exited:\n%s", p.stderr.String())
		}
		out := p.stdout.String() + p.stderr.String()
		return strings.Contains(out, "Established under name"), out
	})
	return p
}

// startEnv is start with extra environment variables.
func startEnv(t *testing.T, h *netns.Host, env []string, path string, args ...string) *proc {
	t.Helper()
	p := newProc(t, h, path, args)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.begin()
	return p
}

// TestIntegrationAvahiHarness checks the peers themselves: two private
// avahi-daemons on one LAN see each other's services, and dig's legacy
// unicast query to port 5353 gets an answer. When this fails, the interop
// tests' failures say nothing about bcast.
func TestIntegrationAvahiHarness(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	requirePeer(t, "dig")
	pub := startAvahi(t, tp.Host("a2"), "avahi-a2", "eth0")
	browse := startAvahi(t, tp.Host("a3"), "avahi-a3", "eth0")
	svc := pub.publish("-s", "harness web", "_http._tcp", "8080", "path=/x")
	var out string
	waitFor(t, 10*time.Second, "avahi-browse on a3 to resolve the service a2 publishes", func() (bool, string) {
		var err error
		out, err = browse.client(5*time.Second, "avahi-browse", "-rptk", "_http._tcp")
		return err == nil && strings.Contains(out, "=;eth0;IPv4;harness\\032web;_http._tcp;local;avahi-a2.local;10.71.1.2;8080;\"path=/x\""), out
	})
	digOut, err := tp.Host("a1").Run(t.Context(), "dig", "+time=2", "+tries=2", "-p", "5353", "@10.71.1.2", "avahi-a2.local", "A")
	if err != nil || !strings.Contains(string(digOut), "10.71.1.2") {
		t.Errorf("dig to avahi on a2, port 5353: %v\n%s", err, digOut)
	}
	svc.mustSucceed(svc.interrupt())
}
