package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
	"golang.org/x/sys/unix"
)

// A capture records the UDP datagrams crossing a LAN's bridge, with the
// kernel's receive timestamps (SO_TIMESTAMPNS), from an AF_PACKET socket
// inside the LAN's namespace: tests time what goes over the wire, not
// what a program says it did. Each frame is taken once, as it enters the
// bridge from a host's port; the copies the bridge sends out of the other
// ports, and up to br0 itself, are left out.
type capture struct {
	t      *testing.T
	fd     int
	bridge int // br0's index, whose copies are left out
	port   uint16
	stop   atomic.Bool
	done   chan struct{}

	mu   sync.Mutex
	pkts []captured
}

// A captured datagram.
type captured struct {
	at       time.Time // when the bridge port received it (kernel timestamp)
	src, dst netip.AddrPort
	ttl      int // IPv4 TTL or IPv6 hop limit
	payload  []byte
}

func (c captured) String() string {
	return fmt.Sprintf("%s %v -> %v ttl %d (%d bytes)", c.at.Format("15:04:05.000000"), c.src, c.dst, c.ttl, len(c.payload))
}

// startCapture captures, on lan's bridge, the UDP datagrams from or to
// port, until the test ends.
func startCapture(t *testing.T, lan *netns.LAN, port uint16) *capture {
	t.Helper()
	c := &capture{t: t, fd: -1, port: port, done: make(chan struct{})}
	err := lan.Do(func() error {
		br, err := net.InterfaceByName(netns.BridgeName)
		if err != nil {
			return err
		}
		c.bridge = br.Index
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		c.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		}
		// The read loop wakes every 50 ms to see whether it should stop.
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	})
	if err != nil {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		t.Fatalf("capture on %v: %v", lan, err)
	}
	go c.read()
	t.Cleanup(func() {
		c.stop.Store(true)
		<-c.done
		unix.Close(c.fd)
	})
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *capture) read() {
	defer close(c.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	for !c.stop.Load() {
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			c.t.Errorf("capture: recvmsg: %v", err)
			return
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING || ll.Ifindex == c.bridge {
			continue
		}
		p, ok := parseUDP(buf[:n])
		if !ok || p.src.Port() != c.port && p.dst.Port() != c.port {
			continue
		}
		p.at = stamp(oob[:oobn])
		c.mu.Lock()
		c.pkts = append(c.pkts, p)
		c.mu.Unlock()
	}
}

// stamp reads the SO_TIMESTAMPNS control message.
func stamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Time{}
}

// parseUDP reads an IPv4 or IPv6 packet carrying UDP (IPv6 without
// extension headers, as mDNS sends it).
func parseUDP(b []byte) (captured, bool) {
	var p captured
	var udp []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		if b[9] != unix.IPPROTO_UDP || len(b) < ihl+8 {
			return p, false
		}
		p.ttl = int(b[8])
		src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		udp = b[ihl:]
		p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:2]))
		p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:4]))
	case len(b) >= 48 && b[0]>>4 == 6:
		if b[6] != unix.IPPROTO_UDP {
			return p, false
		}
		p.ttl = int(b[7])
		src, dst := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		udp = b[40:]
		p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:2]))
		p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:4]))
	default:
		return p, false
	}
	n := int(binary.BigEndian.Uint16(udp[4:6]))
	if n < 8 || n > len(udp) {
		return p, false
	}
	p.payload = slices.Clone(udp[8:n])
	return p, true
}

// packets returns what was captured so far, oldest first.
func (c *capture) packets() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pkts)
}

// wait returns the first packet captured at or after since that match
// accepts, waiting at most timeout; t is the (sub)test waiting.
func (c *capture) wait(t *testing.T, what string, since time.Time, timeout time.Duration, match func(captured) bool) captured {
	t.Helper()
	// A short, even pause: tests react to what they see (a probe, to
	// send a competing one before the next), within milliseconds.
	deadline := time.Now().Add(timeout)
	for seen := 0; ; {
		pkts := c.packets()
		for _, p := range pkts[seen:] {
			if !p.at.Before(since) && match(p) {
				return p
			}
		}
		seen = len(pkts)
		if time.Now().After(deadline) {
			t.Fatalf("no captured %s within %v (%d packets captured)", what, timeout, len(pkts))
		}
		time.Sleep(2 * time.Millisecond)
	}
}
