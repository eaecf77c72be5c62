package integration

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bcastdev/bcast/internal/netns"
)

var (
	limited = netip.MustParseAddr("255.255.255.255")
	a1v4    = netip.MustParseAddr("10.71.1.1")
	a4v4    = netip.MustParseAddr("10.71.1.4")
	b1v4    = netip.MustParseAddr("10.71.2.1")
	rAv4    = netip.MustParseAddr("10.71.1.254")
	rBv4    = netip.MustParseAddr("10.71.2.254")
	bcastA  = netip.MustParseAddr("10.71.1.255")
	bcastB  = netip.MustParseAddr("10.71.2.255")
)

// defaultTTL is the TTL bcast send gives unicast and broadcast datagrams.
const defaultTTL = 64

// listenOn starts `bcast listen --listen :port` on each named host and
// returns the listeners by host name.
func listenOn(t *testing.T, tp *netns.Topology, port string, hosts ...string) map[string]*listener {
	t.Helper()
	ls := map[string]*listener{}
	for _, h := range hosts {
		ls[h] = startListen(t, tp.Host(h), "--listen", ":"+port)
	}
	return ls
}

// stopAll stops the listeners and returns their datagrams by host name.
func stopAll(t *testing.T, ls map[string]*listener) map[string][]datagram {
	t.Helper()
	var names []string
	var list []*listener
	for name, l := range ls {
		names = append(names, name)
		list = append(list, l)
	}
	outs := stopListeners(t, list...)
	got := map[string][]datagram{}
	for i, name := range names {
		got[name] = outs[i].datagrams
	}
	return got
}

func TestIntegrationLimitedBroadcastReachesEveryHostOnTheLAN(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	const port = 9101
	ls := listenOn(t, tp, "9101", "a2", "a3", "a4", "r", "b1", "b2")
	const msg = "limited broadcast from a1"
	send(t, tp.Host("a1"), "--to", "255.255.255.255:9101", "--iface", "eth0", "--message", msg)
	got := stopAll(t, ls)

	for _, h := range []string{"a2", "a3", "a4", "r"} {
		checkExactly(t, h, port, got[h], want{src: a1v4, dst: limited, kind: "broadcast", nic: tp.NIC(h, "eth0"), ttl: defaultTTL, payload: msg})
	}
	// LAN B is another link: a limited broadcast never crosses r.
	for _, h := range []string{"b1", "b2"} {
		checkExactly(t, h, port, got[h])
	}
}

func TestIntegrationLimitedBroadcastWithoutInterfaceFailsWithAdvice(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	// No default route: the kernel cannot pick an interface for
	// 255.255.255.255, so the send must fail, loudly, and say what to do.
	stdout, stderr, err := run(t, tp.Host("a1"), exitTimeout, bin(t, "bcast"), "send", "--to", "255.255.255.255:9102", "--message", "x")
	if code := exitCode(err); code != 1 {
		t.Fatalf("bcast send to 255.255.255.255 with no route and no --iface: exit status %d (%v); want 1\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
	}
	for _, w := range []string{"255.255.255.255", "--iface"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("bcast send error does not mention %q:\n%s", w, stderr)
		}
	}
}

func TestIntegrationDirectedBroadcastStaysOnItsSubnet(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	const port = 9103
	ls := listenOn(t, tp, "9103", "a2", "a3", "a4", "r", "b2")
	const fromA, fromB = "directed broadcast from a1 to 10.71.1.255", "directed broadcast from b1 to 10.71.2.255"
	// No --iface: the connected route of each subnet picks the interface.
	send(t, tp.Host("a1"), "--to", "10.71.1.255:9103", "--message", fromA)
	send(t, tp.Host("b1"), "--to", "10.71.2.255:9103", "--message", fromB)
	got := stopAll(t, ls)

	for _, h := range []string{"a2", "a3", "a4"} {
		checkExactly(t, h, port, got[h], want{src: a1v4, dst: bcastA, kind: "broadcast", nic: tp.NIC(h, "eth0"), ttl: defaultTTL, payload: fromA})
	}
	checkExactly(t, "b2", port, got["b2"], want{src: b1v4, dst: bcastB, kind: "broadcast", nic: tp.NIC("b2", "eth0"), ttl: defaultTTL, payload: fromB})
	// r is on both subnets and hears each on its own interface.
	checkExactly(t, "r", port, got["r"],
		want{src: a1v4, dst: bcastA, kind: "broadcast", nic: tp.NIC("r", "eth0"), ttl: defaultTTL, payload: fromA},
		want{src: b1v4, dst: bcastB, kind: "broadcast", nic: tp.NIC("r", "eth1"), ttl: defaultTTL, payload: fromB})

	// A subnet the host is not on has no route: an error, not silence.
	stdout, stderr, err := run(t, tp.Host("a1"), exitTimeout, bin(t, "bcast"), "send", "--to", "10.71.2.255:9103", "--message", "x")
	if code := exitCode(err); code != 1 {
		t.Errorf("bcast send from a1 to LAN B's 10.71.2.255: exit status %d (%v); want 1\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
	}
	if !strings.Contains(stderr, "10.71.2.255") {
		t.Errorf("bcast send error does not name 10.71.2.255:\n%s", stderr)
	}
}

func TestIntegrationTwoNICHostFanOutReachesBothLANsExactlyOnce(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	const port = 9104
	ls := listenOn(t, tp, "9104", "a1", "a2", "a3", "a4", "b1", "b2")
	const lim, dir = "limited out of every interface", "directed to every subnet"
	r := tp.Host("r")
	send(t, r, "--to", "255.255.255.255:9104", "--all-interfaces", "--message", lim)
	send(t, r, "--to", ":9104", "--all-interfaces", "--message", dir)
	got := stopAll(t, ls)

	for _, h := range []string{"a1", "a2", "a3", "a4"} {
		nic := tp.NIC(h, "eth0")
		checkExactly(t, h, port, got[h],
			want{src: rAv4, dst: limited, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: lim},
			want{src: rAv4, dst: bcastA, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: dir})
	}
	for _, h := range []string{"b1", "b2"} {
		nic := tp.NIC(h, "eth0")
		checkExactly(t, h, port, got[h],
			want{src: rBv4, dst: limited, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: lim},
			want{src: rBv4, dst: bcastB, kind: "broadcast", nic: nic, ttl: defaultTTL, payload: dir})
	}
}

func TestIntegrationReceiverReportsWhichInterfaceABroadcastCameInOn(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	const port = 9105
	r := tp.Host("r")
	all := startListen(t, r, "--listen", ":9105", "--reuse-port")
	onlyB := startListen(t, r, "--listen", ":9105", "--reuse-port", "--iface", "eth1")
	const fromA, fromB = "from LAN A", "from LAN B"
	send(t, tp.Host("a1"), "--to", "255.255.255.255:9105", "--iface", "eth0", "--message", fromA)
	send(t, tp.Host("b1"), "--to", "255.255.255.255:9105", "--iface", "eth0", "--message", fromB)
	outs := stopListeners(t, all, onlyB)

	checkExactly(t, "r (every interface)", port, outs[0].datagrams,
		want{src: a1v4, dst: limited, kind: "broadcast", nic: tp.NIC("r", "eth0"), ttl: defaultTTL, payload: fromA},
		want{src: b1v4, dst: limited, kind: "broadcast", nic: tp.NIC("r", "eth1"), ttl: defaultTTL, payload: fromB})
	checkExactly(t, "r (--iface eth1)", port, outs[1].datagrams,
		want{src: b1v4, dst: limited, kind: "broadcast", nic: tp.NIC("r", "eth1"), ttl: defaultTTL, payload: fromB})
	if f := outs[1].summary.Filtered; f != 1 {
		t.Errorf("r (--iface eth1): summary filtered = %d; want 1 (a1's datagram, on eth0)", f)
	}
}

// TestIntegrationDirectedBroadcastUsesTheSubnetsRealPrefix puts a LAN on a
// /22: its broadcast address is 10.72.3.255, not the 10.72.0.255 a /24
// guess would give, which hosts outside 10.72.0.0/24 would ignore.
func TestIntegrationDirectedBroadcastUsesTheSubnetsRealPrefix(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	lan := lab.LAN("W", netip.MustParsePrefix("10.72.0.0/22"), netip.Prefix{})
	addrs := map[string]string{"h1": "10.72.0.1", "h2": "10.72.2.9", "h3": "10.72.3.200"}
	hosts := map[string]*netns.Host{}
	for _, name := range []string{"h1", "h2", "h3"} {
		hosts[name] = lab.Host(name)
		hosts[name].Attach(lan, "eth0", netip.MustParseAddr(addrs[name]), netip.Addr{})
	}
	const port = 9106
	ls := map[string]*listener{
		"h2": startListen(t, hosts["h2"], "--listen", ":9106"),
		"h3": startListen(t, hosts["h3"], "--listen", ":9106"),
	}
	const msg = "every subnet's broadcast"
	send(t, hosts["h1"], "--to", ":9106", "--all-interfaces", "--message", msg)
	got := stopAll(t, ls)
	for _, h := range []string{"h2", "h3"} {
		checkExactly(t, h, port, got[h], want{src: netip.MustParseAddr(addrs["h1"]), dst: netip.MustParseAddr("10.72.3.255"),
			kind: "broadcast", nic: hosts[h].NIC("eth0"), ttl: defaultTTL, payload: msg})
	}
}
