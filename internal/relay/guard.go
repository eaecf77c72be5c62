package relay

import (
	"hash/maphash"
	"net/netip"
	"time"
)

// Guard remembers the datagrams a relay has sent, so that a copy coming back
// (through another relay, a bridge loop, or a second relay of ours on the
// other side) is recognised and not relayed again.
//
// A datagram is keyed by a digest of its payload and destination port, and
// remembered with its original source for Window. Another datagram with the
// same digest within Window is a relayed copy when its source differs from
// the original's: relays send from their own address, so a copy that went
// round a loop always comes back from a different source. The same source
// sending the same payload again (a periodic announcement) is a new
// datagram and is relayed. A relay that forged the original source (raw
// sockets) would defeat this; bcast's relays never do.
//
// Memory is bounded: at most Capacity digests are held; when full, the
// oldest is forgotten first.
type Guard struct {
	Window time.Duration

	seed    maphash.Seed
	entries map[uint64]guardEntry
	order   []uint64 // digests in the order added: a ring, oldest at head
	head    int
	count   int
}

type guardEntry struct {
	src     netip.Addr
	expires time.Time
}

// NewGuard returns a Guard remembering up to capacity digests for window.
func NewGuard(window time.Duration, capacity int) *Guard {
	capacity = max(capacity, 1)
	return &Guard{
		Window:  window,
		seed:    maphash.MakeSeed(),
		entries: make(map[uint64]guardEntry, capacity),
		order:   make([]uint64, capacity),
	}
}

// Digest is the key of a datagram: its payload and destination port.
func (g *Guard) Digest(payload []byte, port uint16) uint64 {
	var h maphash.Hash
	h.SetSeed(g.seed)
	_, _ = h.Write([]byte{byte(port >> 8), byte(port)})
	_, _ = h.Write(payload)
	return h.Sum64()
}

// Seen reports whether a datagram with digest d arriving from src at now is
// a copy of one this relay sent: same digest within Window, other source.
func (g *Guard) Seen(d uint64, src netip.Addr, now time.Time) bool {
	e, ok := g.entries[d]
	if !ok || now.After(e.expires) {
		return false
	}
	return e.src != src
}

// Sent records that the datagram with digest d from src was relayed at now.
func (g *Guard) Sent(d uint64, src netip.Addr, now time.Time) {
	if _, ok := g.entries[d]; !ok {
		if g.count == len(g.order) {
			// Full: forget the digest recorded first, live or not.
			delete(g.entries, g.order[g.head])
			g.head = (g.head + 1) % len(g.order)
			g.count--
		}
		g.order[(g.head+g.count)%len(g.order)] = d
		g.count++
	}
	g.entries[d] = guardEntry{src: src, expires: now.Add(g.Window)}
	g.expire(now)
}

// expire forgets digests whose window has passed, oldest first, stopping at
// the first live one: amortised O(1) per Sent.
func (g *Guard) expire(now time.Time) {
	for g.count > 0 {
		d := g.order[g.head]
		if e, ok := g.entries[d]; ok && !now.After(e.expires) {
			return
		}
		delete(g.entries, d)
		g.head = (g.head + 1) % len(g.order)
		g.count--
	}
}

// Len is the number of digests held.
func (g *Guard) Len() int { return len(g.entries) }
