package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testTimeout bounds every read, command and wait in these tests.
const testTimeout = 5 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 4*testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// listenIn opens a UDP socket inside h; it stays in h's namespace and is
// read from the test goroutine.
func listenIn(t *testing.T, h *Host, ap netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		return err
	})
	if err != nil {
		t.Fatalf("listen on %v in %s: %v", ap, h, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendFrom sends one datagram from inside h to dst.
func sendFrom(h *Host, dst netip.AddrPort, payload string) error {
	return h.Do(func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(payload))
		return err
	})
}

func recvOne(t *testing.T, c *net.UDPConn) (string, netip.Addr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read on %v: %v", c.LocalAddr(), err)
	}
	return string(buf[:n]), from.Addr().Unmap()
}

func netnsList(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestIntegrationStandardTopology(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	start := time.Now()
	tp := StandardTopology(t)
	t.Logf("standard topology up in %v", time.Since(start))
	ctx := testCtx(t)

	if got, want := strings.Join(tp.HostNames(), " "), "a1 a2 a3 a4 b1 b2 r"; got != want {
		t.Errorf("HostNames() = %q; want %q", got, want)
	}
	listed := strings.Join(netnsList(t), " ") + " "
	for _, ns := range []string{tp.A.NS(), tp.B.NS()} {
		if !strings.Contains(listed, ns+" ") {
			t.Errorf("namespace %s missing from %s: %s", ns, netnsDir, listed)
		}
	}

	for _, p := range standardPlan {
		n := tp.NIC(p.host, p.ifname)
		if got := n.Addr4().String(); got != p.v4 {
			t.Errorf("%v: Addr4 = %s; want %s", n, got, p.v4)
		}
		if got := n.Addr6().String(); got != p.v6 {
			t.Errorf("%v: Addr6 = %s; want %s", n, got, p.v6)
		}
		if n.LAN().Name() != p.lan || n.Host().Name() != p.host || n.Name() != p.ifname {
			t.Errorf("%v: LAN/Host/Name = %s/%s/%s; want %s/%s/%s", n, n.LAN().Name(), n.Host().Name(), n.Name(), p.lan, p.host, p.ifname)
		}
		// The index must be the kernel's, seen from inside the host.
		var idx int
		if err := n.Host().Do(func() error {
			ifi, err := net.InterfaceByName(n.Name())
			if ifi != nil {
				idx = ifi.Index
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n.Index() <= 0 || n.Index() != idx {
			t.Errorf("%v: Index() = %d; the kernel says %d", n, n.Index(), idx)
		}
	}

	for _, name := range tp.HostNames() {
		h := tp.Host(name)
		if !strings.Contains(listed, h.NS()+" ") || !strings.HasPrefix(h.NS(), tp.Lab.Prefix()+"-") {
			t.Errorf("%v: namespace not listed in %s or without the lab prefix: %s", h, netnsDir, listed)
		}
		for _, family := range []string{"-4", "-6"} {
			out, err := tp.Lab.Shell(ctx, "ip", "-n", h.NS(), family, "route", "show", "default")
			if err != nil {
				t.Fatal(err)
			}
			if len(bytes.TrimSpace(out)) != 0 {
				t.Errorf("%v has a default route (%s): %s", h, family, out)
			}
		}
		// Sysctls written through a thread in the namespace must be
		// what a process in the namespace sees.
		out, err := h.Run(ctx, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/eth0/keep_addr_on_down")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(out)); strings.Join(got, " ") != "0 0 1" {
			t.Errorf("%v: accept_dad ip_forward keep_addr_on_down = %q; want 0 0 1", h, got)
		}
	}

	for _, lan := range []*LAN{tp.A, tp.B} {
		out, err := tp.Lab.Shell(ctx, "ip", "-n", lan.NS(), "-json", "-details", "link", "show", "dev", BridgeName)
		if err != nil {
			t.Fatal(err)
		}
		var links []struct {
			OperState string `json:"operstate"`
			LinkInfo  struct {
				Kind string `json:"info_kind"`
				Data struct {
					STP      *int `json:"stp_state"`
					Snooping *int `json:"mcast_snooping"`
				} `json:"info_data"`
			} `json:"linkinfo"`
		}
		if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
			t.Fatalf("%v: ip -json output %q: %v", lan, out, err)
		}
		b := links[0]
		if b.LinkInfo.Kind != "bridge" || b.OperState == "DOWN" || b.LinkInfo.Data.STP == nil || *b.LinkInfo.Data.STP != 0 ||
			b.LinkInfo.Data.Snooping == nil || *b.LinkInfo.Data.Snooping != 0 {
			t.Errorf("%v: bridge %s: %s; want an up bridge with stp_state 0 and mcast_snooping 0", lan, BridgeName, out)
		}
	}
	if got, want := tp.A.Broadcast4().String(), "10.71.1.255"; got != want {
		t.Errorf("A.Broadcast4() = %s; want %s", got, want)
	}
}

func TestIntegrationUnicastUDP(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	tp := StandardTopology(t)
	a1, a2 := tp.NIC("a1", "eth0"), tp.NIC("a2", "eth0")
	for _, fam := range []struct {
		name     string
		src, dst netip.Addr
	}{
		{"IPv4", a1.Addr4(), a2.Addr4()},
		{"IPv6", a1.Addr6(), a2.Addr6()},
	} {
		rx := listenIn(t, a2.Host(), netip.AddrPortFrom(fam.dst, 0))
		dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
		want := "hello from a1 over " + fam.name
		if err := sendFrom(a1.Host(), dst, want); err != nil {
			t.Fatalf("%s: send a1 -> %v: %v", fam.name, dst, err)
		}
		got, from := recvOne(t, rx)
		if got != want || from != fam.src {
			t.Errorf("%s: a2 got %q from %v; want %q from %v", fam.name, got, from, want, fam.src)
		}
	}
}

func TestIntegrationBroadcastStaysOnItsLAN(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	tp := StandardTopology(t)
	const port = 7100 // each host has its own port space
	any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	rx := map[string]*net.UDPConn{}
	for _, name := range []string{"a2", "a3", "a4", "r", "b1"} {
		rx[name] = listenIn(t, tp.Host(name), any4)
	}
	b1 := tp.NIC("b1", "eth0").Addr4()

	// Directed broadcast from a1 reaches every other host on A.
	a1 := tp.NIC("a1", "eth0").Addr4()
	if err := sendFrom(tp.Host("a1"), netip.AddrPortFrom(tp.A.Broadcast4(), port), "directed"); err != nil {
		t.Fatalf("a1 -> %v: %v", tp.A.Broadcast4(), err)
	}
	for _, name := range []string{"a2", "a3", "a4", "r"} {
		if got, from := recvOne(t, rx[name]); got != "directed" || from != a1 {
			t.Errorf("%s got %q from %v; want \"directed\" from %v", name, got, from, a1)
		}
	}

	// Limited broadcast from r, bound to eth0, reaches A again.
	r := tp.Host("r")
	err := r.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := bindToDevice(c, "eth0"); err != nil {
			return err
		}
		_, err = c.WriteToUDPAddrPort([]byte("limited"), netip.AddrPortFrom(limitedBroadcast, port))
		return err
	})
	if err != nil {
		t.Fatalf("r: limited broadcast on eth0: %v", err)
	}
	rA := tp.NIC("r", "eth0").Addr4()
	for _, name := range []string{"a2", "a3", "a4"} {
		if got, from := recvOne(t, rx[name]); got != "limited" || from != rA {
			t.Errorf("%s got %q from %v; want \"limited\" from %v", name, got, from, rA)
		}
	}

	// Neither reached B: a later unicast on B must be b1's first datagram.
	if err := sendFrom(tp.Host("b2"), netip.AddrPortFrom(b1, port), "marker"); err != nil {
		t.Fatalf("b2 -> b1: %v", err)
	}
	if got, from := recvOne(t, rx["b1"]); got != "marker" {
		t.Errorf("b1 first got %q from %v; want the marker from b2: a broadcast on A leaked to B", got, from)
	}
}

func bindToDevice(c *net.UDPConn, ifname string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt SO_BINDTODEVICE", serr)
}

func TestIntegrationNoRouteOffTheLAN(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	tp := StandardTopology(t)
	a4 := tp.Host("a4")
	b1 := tp.NIC("b1", "eth0")
	for _, dst := range []netip.Addr{b1.Addr4(), b1.Addr6(), limitedBroadcast} {
		err := sendFrom(a4, netip.AddrPortFrom(dst, 9), "x")
		if !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("a4 -> %v: got %v; want ENETUNREACH (no route)", dst, err)
		}
	}
}

func TestIntegrationDelete(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	tp := StandardTopology(t)
	ctx := testCtx(t)
	b2 := tp.Host("b2")
	nic := tp.NIC("b2", "eth0")
	ns, port := b2.NS(), nic.Peer()

	cmd := b2.Command(ctx, "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	tp.Lab.Delete(b2)

	select {
	case err := <-waited:
		if err == nil {
			t.Errorf("sleep in the deleted host exited cleanly; want it killed")
		}
	case <-time.After(testTimeout):
		t.Fatalf("sleep (pid %d) still running %v after Delete", cmd.Process.Pid, testTimeout)
	}
	if strings.Contains(" "+strings.Join(netnsList(t), " ")+" ", " "+ns+" ") {
		t.Errorf("namespace %s still listed after Delete", ns)
	}
	if out, err := tp.Lab.Shell(ctx, "ip", "-n", tp.B.NS(), "link", "show", "dev", port); err == nil {
		t.Errorf("bridge port %s still exists after Delete: %s", port, out)
	}
	if err := b2.Do(func() error { return nil }); !errors.Is(err, errDeleted) {
		t.Errorf("Do on a deleted host: got %v; want errDeleted", err)
	}
	if _, err := b2.Run(ctx, "true"); !errors.Is(err, errDeleted) {
		t.Errorf("Run on a deleted host: got %v; want errDeleted", err)
	}
	if err := b2.Command(ctx, "true").Start(); !errors.Is(err, errDeleted) {
		t.Errorf("Command on a deleted host: Start got %v; want errDeleted", err)
	}
	if err := tp.Lab.deleteHost(b2); !errors.Is(err, errDeleted) {
		t.Errorf("second Delete: got %v; want errDeleted", err)
	}

	// The name and the addresses are free again: the machine comes back.
	again := tp.Lab.Host("b2")
	back := again.Attach(tp.B, "eth0", nic.Addr4(), nic.Addr6())
	rx := listenIn(t, again, netip.AddrPortFrom(back.Addr4(), 0))
	if err := sendFrom(tp.Host("b1"), rx.LocalAddr().(*net.UDPAddr).AddrPort(), "welcome back"); err != nil {
		t.Fatal(err)
	}
	if got, _ := recvOne(t, rx); got != "welcome back" {
		t.Errorf("new b2 got %q; want \"welcome back\"", got)
	}
}

func TestIntegrationCleanupLeavesNothing(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	var prefix string
	exited := make(chan error, 1)
	t.Run("lab", func(t *testing.T) {
		tp := StandardTopology(t)
		prefix = tp.Lab.Prefix()
		// Not tied to a context: only the Lab's cleanup can stop it.
		cmd := tp.Host("a1").Command(context.Background(), "sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { exited <- cmd.Wait() }()
	})
	select {
	case err := <-exited:
		if err == nil {
			t.Errorf("sleep exited cleanly; want it killed by the cleanup")
		}
	case <-time.After(testTimeout):
		t.Fatalf("sleep still running %v after the lab's cleanup", testTimeout)
	}
	checkNoLeftovers(t, prefix)
}

func checkNoLeftovers(t *testing.T, prefix string) {
	t.Helper()
	ctx := testCtx(t)
	for _, ns := range netnsList(t) {
		if strings.HasPrefix(ns, prefix+"-") {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	for _, argv := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}} {
		out, err := rootCmd(ctx, argv)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte(prefix)) {
			t.Errorf("`%s` still shows %s:\n%s", strings.Join(argv, " "), prefix, out)
		}
	}
}

// rootCmd runs a root-namespace command outside any Lab.
func rootCmd(ctx context.Context, argv []string) ([]byte, error) {
	l := &Lab{t: nopTB{}}
	return l.run(ctx, argv)
}

// fakeTB records what the Lab reports instead of ending the test, so the
// failure paths can be driven on purpose. Fatal and Skip end the calling
// goroutine, as testing's do.
type fakeTB struct {
	testing.TB // the real test, for Logf and Helper

	mu       sync.Mutex
	cleanups []func()
	fatal    string
	errs     []string
	skipped  string
}

func (f *fakeTB) Cleanup(fn func()) { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}
func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any) {
	f.mu.Lock()
	f.skipped = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// runFake runs fn on its own goroutine with f, then f's cleanups, newest
// first, as testing does.
func runFake(f *fakeTB, fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// nopTB swallows logs; rootCmd uses it for commands outside any Lab.
type nopTB struct{ testing.TB }

func (nopTB) Helper()             {}
func (nopTB) Logf(string, ...any) {}

func TestIntegrationCleanupAfterFailure(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	f := &fakeTB{TB: t}
	var prefix string
	runFake(f, func(tb testing.TB) {
		l := New(tb)
		prefix = l.Prefix()
		lan := l.LAN("X", netip.MustParsePrefix("10.72.0.0/24"), netip.Prefix{})
		h := l.Host("h1")
		h.Attach(lan, "eth0", netip.MustParseAddr("10.72.0.1"), netip.Addr{})
		l.Host("h2").Attach(lan, "eth0", netip.MustParseAddr("10.99.0.2"), netip.Addr{}) // outside the subnet
		t.Error("Attach with an address outside the LAN did not fail the test")
	})
	if !strings.Contains(f.fatal, "10.99.0.2 is outside the LAN's subnet 10.72.0.0/24") {
		t.Errorf("fatal message %q does not name the bad address and subnet", f.fatal)
	}
	if len(f.errs) > 0 {
		t.Errorf("cleanup reported errors: %q", f.errs)
	}
	checkNoLeftovers(t, prefix)
}

func TestIntegrationAttachRejects(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	l := New(t)
	lan := l.LAN("Y", netip.MustParsePrefix("10.73.0.0/24"), netip.MustParsePrefix("fd00:73::/64"))
	h := l.Host("h")
	h.Attach(lan, "eth0", netip.MustParseAddr("10.73.0.1"), netip.MustParseAddr("fd00:73::1"))
	other := l.Host("o")
	for _, c := range []struct {
		h      *Host
		ifname string
		v4, v6 string
		want   string
	}{
		{h, "eth0", "10.73.0.2", "", "already has eth0"},
		{other, "eth0", "10.73.0.1", "", "10.73.0.1 is already used by eth0 of host h"},
		{other, "eth0", "", "fd00:73::1", "fd00:73::1 is already used"},
		{other, "eth0", "10.73.0.0", "", "subnet address"},
		{other, "eth0", "10.73.0.255", "", "broadcast address"},
		{other, "eth0", "fd00:73::5", "", "not a plain IPv4 address"},
		{other, "eth0", "", "10.73.0.5", "not a plain IPv6 address"},
		{other, "an-interface-name", "", "", "invalid interface name"},
	} {
		var v4, v6 netip.Addr
		if c.v4 != "" {
			v4 = netip.MustParseAddr(c.v4)
		}
		if c.v6 != "" {
			v6 = netip.MustParseAddr(c.v6)
		}
		_, err := c.h.attach(lan, c.ifname, v4, v6)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("attach(%s, %s, %q, %q) = %v; want an error containing %q", c.h.Name(), c.ifname, c.v4, c.v6, err, c.want)
		}
	}
	if _, err := l.newHost("h"); err == nil || !strings.Contains(err.Error(), "already has a namespace") {
		t.Errorf("second host h: got %v; want a duplicate-name error", err)
	}
	if _, err := l.newLAN("Z", netip.MustParsePrefix("fd00::/64"), netip.Prefix{}); err == nil {
		t.Errorf("LAN with an IPv6 prefix as its IPv4 one: no error")
	}
}

func TestIntegrationDo(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	l := New(t)
	h := l.Host("h")
	root, err := rootNS, rootNSErr
	if err != nil {
		t.Fatal(err)
	}

	// Many calls, so that restored threads go back to the pool.
	for i := range 50 {
		err := h.Do(func() error {
			in, err := os.Readlink("/proc/thread-self/ns/net")
			if err != nil {
				return err
			}
			if in == root {
				return fmt.Errorf("fn runs in the root namespace %s", in)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Do #%d: %v", i, err)
		}
	}
	// Every thread the runtime hands out now must be back in the root
	// namespace; lock many goroutines at once to visit many threads.
	var wg sync.WaitGroup
	bad := make(chan string, 64)
	for range 64 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if ns, err := os.Readlink("/proc/thread-self/ns/net"); err != nil || ns != root {
				bad <- fmt.Sprintf("%s (%v)", ns, err)
			}
			time.Sleep(time.Millisecond)
		})
	}
	wg.Wait()
	close(bad)
	for b := range bad {
		t.Errorf("a thread outside Do is in namespace %s; want root %s", b, root)
	}

	sentinel := errors.New("sentinel")
	if err := h.Do(func() error { return sentinel }); err != sentinel {
		t.Errorf("Do returned %v; want fn's error", err)
	}
	if err := h.Do(func() error { runtime.Goexit(); return nil }); err == nil || !strings.Contains(err.Error(), "Goexit") {
		t.Errorf("Do with Goexit in fn: got %v; want an error naming Goexit", err)
	}
	func() {
		defer func() {
			p := recover()
			if s, _ := p.(string); !strings.Contains(s, "boom") || !strings.Contains(s, h.NS()) {
				t.Errorf("recovered %v; want fn's panic naming %s", p, h.NS())
			}
		}()
		h.Do(func() error { panic("boom") })
		t.Errorf("Do returned after fn panicked")
	}()
}

func TestIntegrationSysctl(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	l := New(t)
	h := l.Host("h")
	ctx := testCtx(t)
	const key, file = "net.ipv4.conf.all.arp_ignore", "/proc/sys/net/ipv4/conf/all/arp_ignore"
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "2"
	if strings.TrimSpace(string(before)) == want {
		want = "1"
	}
	if err := h.Sysctl(key, want); err != nil {
		t.Fatal(err)
	}
	out, err := h.Run(ctx, "cat", file)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("%s in %s = %s; want %s", key, h.NS(), got, want)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
		t.Errorf("%s in the root namespace changed from %q to %q", key, before, after)
	}
	if err := h.Sysctl("kernel.hostname", "x"); err == nil {
		t.Errorf("Sysctl(kernel.hostname) succeeded; want it refused (not per namespace)")
	}
	if err := h.Sysctl("net.ipv4.no_such_key", "1"); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Errorf("Sysctl of a missing key: got %v; want an error naming it", err)
	}
}

func TestIntegrationSetDownSetUp(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	tp := StandardTopology(t)
	a1, a3 := tp.NIC("a1", "eth0"), tp.NIC("a3", "eth0")
	rx := listenIn(t, a3.Host(), netip.AddrPortFrom(a3.Addr6(), 0))
	dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()

	a3.SetDown()
	err := a3.Host().Do(func() error {
		ifi, err := net.InterfaceByName(a3.Name())
		if err != nil {
			return err
		}
		if ifi.Flags&net.FlagUp != 0 {
			return fmt.Errorf("%s still up after SetDown: %v", a3.Name(), ifi.Flags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	a3.SetUp() // fails the test unless the IPv6 address survived
	if err := sendFrom(a1.Host(), dst, "after up"); err != nil {
		t.Fatal(err)
	}
	if got, _ := recvOne(t, rx); got != "after up" {
		t.Errorf("a3 got %q after SetUp; want \"after up\"", got)
	}
}

func TestIntegrationCommandOutput(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	l := New(t)
	h := l.Host("h")
	ctx := testCtx(t)
	out, err := h.Run(ctx, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; got != 1 || !strings.Contains(string(out), "lo:") {
		t.Errorf("links in a fresh host: %q; want only lo", out)
	}
	_, err = h.Run(ctx, "sh", "-c", "echo oops >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing Run: got %v; want the exit status and output", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := h.Run(short, "sleep", "10"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run past its deadline: got %v; want DeadlineExceeded", err)
	}
}

// rootNS is the test process's own namespace, read during package
// initialization, before any Do, on the main thread.
var rootNS, rootNSErr = os.Readlink("/proc/thread-self/ns/net")

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
