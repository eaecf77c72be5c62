package mdns

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// The cache (avahi's cache.c): records heard on each interface, each with
// its TTL, the points at which it wants a refresh, and its end.

// refreshPoints are the fractions of a record's TTL at which a querier
// that still wants it asks again (RFC 6762 §5.2), each plus up to
// refreshJitter of the TTL.
var refreshPoints = [...]float64{0.80, 0.85, 0.90, 0.95}

const refreshJitter = 0.02

// flushGrace is how long a record outlives a goodbye or a cache-flush
// that names it (RFC 6762 §10.1, §10.2).
const flushGrace = time.Second

type rrsetKey struct {
	ifindex int
	name    string // lowerASCII
	typ     dnsmessage.Type
}

type cacheEntry struct {
	ifindex  int
	key      string // ifindex is in the map key, not here
	rec      Record
	received time.Time // when it was last heard
	ttl      time.Duration
	expires  time.Time
	stage    int       // how many refresh points have passed
	refresh  time.Time // the next refresh point, or zero
	doomed   bool      // ends at expires by goodbye or flush, not TTL
	index    int       // in the heap
}

func (e *cacheEntry) next() time.Time {
	if !e.refresh.IsZero() && e.refresh.Before(e.expires) {
		return e.refresh
	}
	return e.expires
}

// remaining is the TTL to give the record in a known-answer list.
func (e *cacheEntry) remaining(now time.Time) uint32 {
	d := e.expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32(d / time.Second)
}

type entryHeap []*cacheEntry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next().Before(h[j].next()) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *entryHeap) Push(x any) {
	e := x.(*cacheEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

type cacheKey struct {
	ifindex int
	key     string
}

type cache struct {
	max     int
	rnd     *rand.Rand
	entries map[cacheKey]*cacheEntry
	sets    map[rrsetKey]map[*cacheEntry]struct{}
	heap    entryHeap
	dropped uint64 // records evicted or refused because the cache was full
}

func newCache(max int, rnd *rand.Rand) *cache {
	return &cache{
		max: max, rnd: rnd,
		entries: make(map[cacheKey]*cacheEntry),
		sets:    make(map[rrsetKey]map[*cacheEntry]struct{}),
	}
}

func (c *cache) len() int { return len(c.entries) }

// nextDeadline is when expire next has work.
func (c *cache) nextDeadline() time.Time {
	if len(c.heap) == 0 {
		return time.Time{}
	}
	return c.heap[0].next()
}

func (c *cache) setRefresh(e *cacheEntry) {
	e.refresh = time.Time{}
	if e.doomed || e.stage >= len(refreshPoints) {
		return
	}
	f := refreshPoints[e.stage] + c.rnd.Float64()*refreshJitter
	e.refresh = e.received.Add(time.Duration(float64(e.ttl) * f))
}

// flush applies a cache-flush record for the rrset of r heard at now:
// other records of the set heard more than a second ago end in a second
// (RFC 6762 §10.2). Records of the same packet or burst survive. It
// reports whether anything changed.
func (c *cache) flush(now time.Time, ifindex int, r *Record) {
	set := c.sets[rrsetKey{ifindex, lowerASCII(r.Name), r.Type}]
	for e := range set {
		if now.Sub(e.received) <= flushGrace || sameRData(&e.rec, r) {
			continue
		}
		if end := now.Add(flushGrace); e.expires.After(end) {
			e.expires, e.doomed = end, true
			c.setRefresh(e)
			heap.Fix(&c.heap, e.index)
		}
	}
}

// add puts a record heard at now in the cache, or renews it, or, for TTL
// 0, dooms it to end in a second (RFC 6762 §10.1). It reports whether the
// cache's content changed (a record new or back), not just a TTL.
func (c *cache) add(now time.Time, ifindex int, r *Record) bool {
	k := cacheKey{ifindex, r.key()}
	e := c.entries[k]
	if r.TTL == 0 {
		if e != nil {
			if end := now.Add(flushGrace); e.expires.After(end) {
				e.expires, e.doomed = end, true
				c.setRefresh(e)
				heap.Fix(&c.heap, e.index)
			}
		}
		return false
	}
	if e != nil {
		e.rec.TTL, e.rec.CacheFlush = r.TTL, r.CacheFlush
		e.received = now
		e.ttl = time.Duration(r.TTL) * time.Second
		e.expires = now.Add(e.ttl)
		e.stage, e.doomed = 0, false
		c.setRefresh(e)
		heap.Fix(&c.heap, e.index)
		return false
	}
	if len(c.entries) >= c.max {
		// Make room by dropping the record nearest its next deadline, so a
		// flood of new records cannot keep the cache full for good.
		c.dropped++
		c.remove(c.heap[0])
	}
	e = &cacheEntry{
		ifindex: ifindex, key: k.key, rec: *r, received: now,
		ttl: time.Duration(r.TTL) * time.Second,
	}
	e.expires = now.Add(e.ttl)
	c.setRefresh(e)
	c.entries[k] = e
	sk := rrsetKey{ifindex, lowerASCII(r.Name), r.Type}
	set := c.sets[sk]
	if set == nil {
		set = make(map[*cacheEntry]struct{})
		c.sets[sk] = set
	}
	set[e] = struct{}{}
	heap.Push(&c.heap, e)
	return true
}

func (c *cache) remove(e *cacheEntry) {
	delete(c.entries, cacheKey{e.ifindex, e.key})
	sk := rrsetKey{e.ifindex, lowerASCII(e.rec.Name), e.rec.Type}
	if set := c.sets[sk]; set != nil {
		delete(set, e)
		if len(set) == 0 {
			delete(c.sets, sk)
		}
	}
	if e.index >= 0 {
		heap.Remove(&c.heap, e.index)
	}
}

// expire runs the cache up to now. It calls gone for each record that
// ended, and due for each record that reached a refresh point.
func (c *cache) expire(now time.Time, gone, due func(*cacheEntry)) {
	for len(c.heap) > 0 {
		e := c.heap[0]
		if e.next().After(now) {
			return
		}
		if !e.expires.After(now) {
			c.remove(e)
			gone(e)
			continue
		}
		e.stage++
		c.setRefresh(e)
		heap.Fix(&c.heap, e.index)
		due(e)
	}
}

// rrset returns the records of a name and type heard on an interface.
func (c *cache) rrset(ifindex int, name string, typ dnsmessage.Type) []*cacheEntry {
	set := c.sets[rrsetKey{ifindex, lowerASCII(name), typ}]
	if len(set) == 0 {
		return nil
	}
	out := make([]*cacheEntry, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	return out
}

// dropInterface forgets everything heard on an interface.
func (c *cache) dropInterface(ifindex int, gone func(*cacheEntry)) {
	for k, e := range c.entries {
		if k.ifindex == ifindex {
			c.remove(e)
			gone(e)
		}
	}
}
