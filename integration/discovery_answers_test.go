package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/internal/netns"
)

// forgedSender sends UDP datagrams from an address that is not its host's:
// IP_TRANSPARENT lets a socket bind a foreign address and send from it,
// as an attacker's raw socket would. It is made inside h and sends out of
// ifname.
func forgedSender(t *testing.T, h *netns.Host, ifname string, src netip.AddrPort) int {
	t.Helper()
	fd := -1
	err := h.Do(func() error {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		for _, o := range []struct{ level, name int }{
			{unix.SOL_IP, unix.IP_TRANSPARENT}, {unix.SOL_SOCKET, unix.SO_BROADCAST}, {unix.SOL_SOCKET, unix.SO_REUSEADDR},
		} {
			if err := unix.SetsockoptInt(s, o.level, o.name, 1); err != nil {
				unix.Close(s)
				return fmt.Errorf("setsockopt %d/%d: %w", o.level, o.name, err)
			}
		}
		if err := unix.BindToDevice(s, ifname); err != nil {
			unix.Close(s)
			return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, err)
		}
		if err := unix.Bind(s, &unix.SockaddrInet4{Addr: src.Addr().As4(), Port: int(src.Port())}); err != nil {
			unix.Close(s)
			return fmt.Errorf("bind %v: %w", src, err)
		}
		fd = s
		return nil
	})
	if err != nil {
		t.Fatalf("%s: forged socket from %v: %v", h.Name(), src, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// flood sends n copies of b from fd to dst, one every gap, and returns how
// many bytes went out.
func flood(t *testing.T, fd int, dst netip.AddrPort, b []byte, n int, gap time.Duration) int {
	t.Helper()
	to := &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}
	sent := 0
	for range n {
		if err := unix.Sendto(fd, b, 0, to); err != nil {
			t.Fatalf("sendto %v: %v", dst, err)
		}
		sent += len(b)
		time.Sleep(gap)
	}
	return sent
}

// tally counts what one UDP socket inside a host receives from one source
// address: bytes and datagrams of discovery Answers, and of anything.
type tally struct {
	mu                    sync.Mutex
	answers, answerBytes  int
	datagrams, totalBytes int
}

func (c *tally) get() (answers, answerBytes, datagrams, totalBytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answers, c.answerBytes, c.datagrams, c.totalBytes
}

// count opens a UDP socket on port inside h (with SO_REUSEADDR/PORT, so it
// may share the discovery port) and tallies what comes from `from` until
// the test ends.
func count(t *testing.T, h *netns.Host, port uint16, from netip.Addr) *tally {
	t.Helper()
	var c net.PacketConn
	err := h.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
			})
			return errors.Join(err, serr)
		}}
		var err error
		c, err = lc.ListenPacket(t.Context(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen on port %d: %v", h.Name(), port, err)
	}
	tl := &tally{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, a, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if ua, ok := a.(*net.UDPAddr); !ok || ua.AddrPort().Addr().Unmap() != from {
				continue
			}
			tl.mu.Lock()
			tl.datagrams++
			tl.totalBytes += n
			if m, err := discovery.Decode(buf[:n]); err == nil && m.Type == discovery.TypeAnswer {
				tl.answers++
				tl.answerBytes += n
			}
			tl.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return tl
}

// TestIntegrationDiscoveryAnswersNeitherAcrossARouterNorMoreThanTwiceTheQuery
// attacks an announcer the two ways its answers could be turned on a
// third party, on the standard two LANs with r forwarding between them:
//
//	a2 announces (and has a route to LAN B through r);
//	a1 broadcasts queries on LAN A with a forged source, a3 (on-link) or
//	   b2 (off-link, behind r);
//	b1 sends unicast queries to a2 through r with b2's address as source.
//
// The victim on the link, a3, must get at most twice the query bytes by
// unicast, and at most one answer per second to the whole LAN; b2 must
// get nothing at all. A browser on a4 still finds a2 by asking.
func TestIntegrationDiscoveryAnswersNeitherAcrossARouterNorMoreThanTwiceTheQuery(t *testing.T) {
	t.Parallel()
	tp := netns.StandardTopology(t)
	bcast := bin(t, "bcast")
	r, a1, a2, a3, a4, b1, b2 := tp.Host("r"), tp.Host("a1"), tp.Host("a2"), tp.Host("a3"), tp.Host("a4"), tp.Host("b1"), tp.Host("b2")
	if err := r.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []struct {
		h       *netns.Host
		to, via string
	}{{a2, "10.71.2.0/24", "10.71.1.254"}, {b1, "10.71.1.0/24", "10.71.2.254"}, {b2, "10.71.1.0/24", "10.71.2.254"}} {
		if out, err := tp.Lab.Shell(t.Context(), "ip", "-n", rt.h.NS(), "route", "add", rt.to, "via", rt.via); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	announcer := tp.NIC("a2", "eth0").Addr4()
	port := uint16(discovery.DefaultPort)
	const victimPort = 40000

	// What reaches the victims from a2: a3 on the forged port and on the
	// discovery port (answers to the LAN are broadcasts), b2 on the forged
	// port.
	a3Unicast := count(t, a3, victimPort, announcer)
	a3Group := count(t, a3, port, announcer)
	b2Unicast := count(t, b2, victimPort, announcer)

	ann := start(t, a2, bcast, "announce", "--json", "--service", "printer", "--instance", "a2", "--port", "631",
		"--text", "model=LX-9", "--text", "location=second floor, by the window", "--interval", "1h")
	ann.waitStdout(`the "announcing" line`, func(l string) bool { return strings.Contains(l, `"type":"announcing"`) })
	// Past the announcement a second after the start: from here on, a2
	// speaks only to answer.
	time.Sleep(1500 * time.Millisecond)

	// A browser that starts now finds a2 by its query: a 19-byte query
	// whose answer, over twice that, goes to the LAN.
	disc := start(t, a4, bcast, "discover", "--json", "--service", "printer")
	waitPeer(t, disc, "found", "a2", readyTimeout)
	disc.mustSucceed(disc.interrupt())
	time.Sleep(groupSpacing) // the LAN's answer of this second is spent

	query, err := (&discovery.Message{Type: discovery.TypeQuery, Service: "printer"}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	broadcastTo := netip.AddrPortFrom(netip.MustParseAddr("255.255.255.255"), port)
	a3Answers0, a3Bytes0, _, _ := a3Group.get() // a4's query's answer

	var wg sync.WaitGroup
	var onLinkBytes, offLinkBytes, routedBytes int
	began := time.Now()
	spoofA3 := forgedSender(t, a1, "eth0", netip.AddrPortFrom(tp.NIC("a3", "eth0").Addr4(), victimPort))
	spoofB2 := forgedSender(t, a1, "eth0", netip.AddrPortFrom(tp.NIC("b2", "eth0").Addr4(), victimPort))
	viaRouter := forgedSender(t, b1, "eth0", netip.AddrPortFrom(tp.NIC("b2", "eth0").Addr4(), victimPort))
	// 25 queries a second, about the answer rate (20 a second): an
	// announcer that answered each by unicast would send a3 some 110
	// bytes for each 19.
	const n, gap = 30, 40 * time.Millisecond
	wg.Add(3)
	go func() { defer wg.Done(); onLinkBytes = flood(t, spoofA3, broadcastTo, query, n, gap) }()
	go func() { defer wg.Done(); offLinkBytes = flood(t, spoofB2, broadcastTo, query, n, gap) }()
	go func() {
		defer wg.Done()
		routedBytes = flood(t, viaRouter, netip.AddrPortFrom(announcer, port), query, n, gap)
	}()
	wg.Wait()
	time.Sleep(groupSpacing + 200*time.Millisecond) // a scheduled answer to the LAN goes out
	elapsed := time.Since(began)
	ann.mustSucceed(ann.interrupt())

	var sum struct {
		Type         string `json:"type"`
		Queries      uint64 `json:"queries"`
		Answered     uint64 `json:"answered"`
		GroupAnswers uint64 `json:"group_answers"`
		Coalesced    uint64 `json:"coalesced"`
		Refused      uint64 `json:"refused"`
		OffLink      uint64 `json:"off_link"`
		Limited      uint64 `json:"limited"`
		Oversize     uint64 `json:"oversize"`
	}
	lines := strings.Split(strings.TrimSpace(ann.stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" {
		t.Fatalf("announce's last line %q (%v); want its summary", lines[len(lines)-1], err)
	}
	t.Logf("announcer: %+v", sum)

	_, uBytes, uDatagrams, _ := a3Unicast.get()
	gAnswers, gBytes, _, _ := a3Group.get()
	gAnswers, gBytes = gAnswers-a3Answers0, gBytes-a3Bytes0
	_, _, b2Datagrams, b2Bytes := b2Unicast.get()
	t.Logf("a3 (forged on-link): %d query bytes in, %d unicast answer bytes and %d answers to the LAN (%d bytes) out in %v: %.3f unicast bytes out per byte in",
		onLinkBytes, uBytes, gAnswers, gBytes, elapsed.Round(time.Millisecond), float64(uBytes)/float64(onLinkBytes))
	t.Logf("b2 (forged off-link): %d query bytes in from LAN A and %d through r, %d bytes out", offLinkBytes, routedBytes, b2Bytes)

	if uBytes > discovery.AnswerFactor*onLinkBytes {
		t.Errorf("a3 got %d unicast bytes (%d datagrams) for %d query bytes; want at most %d times", uBytes, uDatagrams, onLinkBytes, discovery.AnswerFactor)
	}
	if limit := int(elapsed/groupSpacing) + 1; gAnswers > limit {
		t.Errorf("a3 heard %d answers to the LAN in %v; want at most one a second, %d", gAnswers, elapsed, limit)
	}
	if b2Datagrams != 0 {
		t.Errorf("b2, off-link, got %d datagrams (%d bytes) from a2; want none", b2Datagrams, b2Bytes)
	}
	// The queries did arrive, and were refused for the reason given.
	offLinkSent := uint64(2 * n)
	if sum.OffLink == 0 || sum.OffLink > offLinkSent || sum.Refused != sum.OffLink+sum.Limited+sum.Oversize {
		t.Errorf("summary %+v; want between 1 and %d refused off-link, Refused the sum of the reasons", sum, offLinkSent)
	}
	if sum.Queries < uint64(3*n)*9/10 || sum.GroupAnswers == 0 || sum.Coalesced < uint64(n)/2 {
		t.Errorf("summary %+v; want most of the %d queries seen, those from a3 answered to the LAN, most of them coalesced", sum, 3*n)
	}
}

// groupSpacing is the least time between two answers to one LAN.
const groupSpacing = time.Second
