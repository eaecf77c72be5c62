// Package pace schedules datagrams: a Pacer releases them at a fixed rate
// without drift, and a Limiter (token bucket) caps how often something may
// happen, for an echo server facing a broadcast flood.
package pace

import (
	"context"
	"time"
)

// Pacer releases datagram number i (from 0) at start + i*interval. When the
// caller falls behind (a slow send, a late timer), Wait reports every
// datagram already due at once, up to a cap, so the average rate holds and a
// batch send (sendmmsg) can carry them together; nothing is skipped. An
// interval of 0 means as fast as possible.
type Pacer struct {
	interval time.Duration
	start    time.Time
	released uint64
	timer    *time.Timer
	now      func() time.Time // tests replace the clock
}

// NewPacer returns a Pacer whose first datagram is due at once.
func NewPacer(interval time.Duration) *Pacer {
	return &Pacer{interval: interval, now: time.Now}
}

// Wait blocks until at least one datagram is due, then returns how many are
// due now, between 1 and most (most < 1 counts as 1). The caller sends them
// and calls Wait again. It returns ctx.Err() if ctx ends first.
func (p *Pacer) Wait(ctx context.Context, most int) (int, error) {
	most = max(most, 1)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := p.now()
	if p.start.IsZero() {
		p.start = now
	}
	if p.interval <= 0 {
		p.released += uint64(most)
		return most, nil
	}
	next := p.start.Add(time.Duration(p.released) * p.interval)
	if wait := next.Sub(now); wait > 0 {
		if p.timer == nil {
			p.timer = time.NewTimer(wait)
		} else {
			p.timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			p.timer.Stop()
			return 0, ctx.Err()
		case <-p.timer.C:
		}
		now = p.now()
	}
	// Datagrams released so far is floor(elapsed/interval)+1 when on time.
	due := uint64(now.Sub(p.start)/p.interval) + 1
	n := uint64(1)
	if due > p.released {
		n = due - p.released
	}
	n = min(n, uint64(most))
	p.released += n
	return int(n), nil
}

// Limiter is a token bucket: Allow succeeds at most rate times a second on
// average, with bursts of up to burst. A rate of 0 never allows.
type Limiter struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// NewLimiter returns a full bucket.
func NewLimiter(rate float64, burst int) *Limiter {
	return &Limiter{rate: rate, burst: float64(max(burst, 1)), tokens: float64(max(burst, 1))}
}

// Allow takes one token at time now, if there is one.
func (l *Limiter) Allow(now time.Time) bool {
	if l.rate <= 0 {
		return false
	}
	if !l.last.IsZero() {
		if dt := now.Sub(l.last).Seconds(); dt > 0 {
			l.tokens = min(l.burst, l.tokens+dt*l.rate)
		}
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}
