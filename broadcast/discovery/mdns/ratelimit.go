package mdns

import (
	"net/netip"
	"time"
)

// limiter is a token bucket per source address with a bounded table: it
// decides whether a source may have another unicast reply. When the
// table is full, the source heard from least recently gives up its slot.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int
	m     map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst, max int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), max: max, m: make(map[netip.Addr]*bucket)}
}

func (l *limiter) allow(now time.Time, a netip.Addr) bool {
	a = a.Unmap()
	b := l.m[a]
	if b == nil {
		if len(l.m) >= l.max {
			var oldest netip.Addr
			var t time.Time
			for k, v := range l.m {
				if t.IsZero() || v.last.Before(t) {
					oldest, t = k, v.last
				}
			}
			delete(l.m, oldest)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.m[a] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
