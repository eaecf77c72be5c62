package discovery

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/bcastdev/bcast/dgram"
)

// TestBrowserUnreadFloodStaysBounded sends a real Browser, over loopback,
// 60,000 announce/goodbye pairs of distinct instances and then more
// instances than it may keep, while nobody reads its events. Its table
// must stay within MaxPeers, and the instances turned away must be counted
// in Stats.Full. (The same flood grew a Browser from 8 MB to 52 MB.)
func TestBrowserUnreadFloodStaysBounded(t *testing.T) {
	const pairs, maxPeers, extra = 60000, 64, 100
	s, err := dgram.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetBroadcast(true); err != nil {
		t.Fatal(err)
	}
	p, err := dgram.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Sockname()
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	port := a.AddrPort.Port() // free a moment ago
	to := netip.AddrPortFrom(netip.MustParseAddr("127.255.255.255"), port)
	b, err := Browse(BrowserConfig{MaxPeers: maxPeers, Link: Link{Port: port, Interfaces: []string{"lo"}, Destinations: []netip.AddrPort{to}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	dst := dgram.AddrFrom(to)
	send := func(m *Message) {
		buf, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendTo(buf, 0, dst); err != nil {
			t.Fatal(err)
		}
	}
	ann := &Message{Type: TypeAnnounce, TTL: 600, Service: "flood", Port: 1}
	bye := &Message{Type: TypeGoodbye, Service: "flood"}
	for i := range pairs {
		ann.Instance = "pair-" + strconv.Itoa(i)
		bye.Instance = ann.Instance
		send(ann)
		send(bye)
		if i%64 == 63 {
			time.Sleep(time.Millisecond) // let the receiver keep up: a datagram dropped proves nothing
		}
	}
	for i := range maxPeers + extra {
		ann.Instance = "stays-" + strconv.Itoa(i)
		send(ann)
		if i%16 == 15 {
			time.Sleep(time.Millisecond)
		}
	}
	// Wait until the Browser has read everything the kernel kept.
	deadline := time.Now().Add(30 * time.Second)
	for last := uint64(0); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		r := b.Stats().Received
		if r == last {
			break
		}
		last = r
	}
	st := b.Stats()
	b.mu.Lock()
	n, lost, shown, queued, dirty, holes, gone := b.tb.n, b.tb.lost, len(b.tb.shown), len(b.tb.queued), len(b.tb.dirty), b.tb.holes, len(b.tb.gone)
	b.mu.Unlock()
	t.Logf("received %d of %d datagrams (and its own queries); peers %d, lost pending %d, shown %d, queue %d (%d holes), gone %d; full %d",
		st.Received, 2*pairs+maxPeers+extra, n, lost, shown, dirty, holes, gone, st.Full)
	if n+lost > maxPeers || shown > maxPeers || queued > maxPeers || dirty-holes != queued || holes > max(16, queued) || gone > lost {
		t.Errorf("table beyond its bound of %d: peers %d, lost pending %d, shown %d, queued %d, queue %d with %d holes, gone %d",
			maxPeers, n, lost, shown, queued, dirty, holes, gone)
	}
	// Goodbyes the kernel dropped leave their peers behind, so the table
	// fills up with them or with the later instances; either way it is
	// full and turns the rest away.
	if n+lost != maxPeers || st.Full == 0 {
		t.Errorf("peers %d, lost pending %d, Full %d; want the table full (%d) and the instances beyond it counted", n, lost, st.Full, maxPeers)
	}
	if st.Received < uint64(2*pairs)/2 {
		t.Errorf("the Browser read %d datagrams of %d: the flood did not reach it", st.Received, 2*pairs+maxPeers+extra)
	}
}
