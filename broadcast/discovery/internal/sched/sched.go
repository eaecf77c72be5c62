// Package sched holds the timing pieces the discovery engines (mdns,
// ssdp) share: random delays, deadline arithmetic and a bounded per-source
// token bucket.
package sched

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// Jitter returns a duration drawn uniformly from [lo, hi].
func Jitter(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// NewRand returns r, or a generator seeded at random when r is nil.
func NewRand(r *rand.Rand) *rand.Rand {
	if r != nil {
		return r
	}
	return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
}

// Earliest returns the earlier of two deadlines, the zero Time being none.
func Earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// Limiter is a token bucket per key (a source address) with a bounded
// table: it decides whether a source may have n more replies. When the
// table is full, the key heard from least recently gives up its slot.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int
	m     map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a Limiter of rate tokens a second, burst at once,
// for at most max keys.
func NewLimiter(rate, burst float64, max int) *Limiter {
	return &Limiter{rate: rate, burst: burst, max: max, m: make(map[netip.Addr]*bucket)}
}

// Take takes n tokens for key if it has them all, and reports whether it
// did. The caller normalises the key (unmapped, with or without a zone).
func (l *Limiter) Take(now time.Time, key netip.Addr, n int) bool {
	b := l.m[key]
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
		l.m[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// Len is the number of keys remembered.
func (l *Limiter) Len() int { return len(l.m) }
