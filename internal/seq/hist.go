package seq

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations (round-trip times) in log-linear buckets:
// exact below 256ns, then 128 buckets per power of two, so a percentile is
// within 0.8% of the true value while memory stays fixed (7424 counters)
// however many samples arrive. Min, max and mean are exact.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	min    time.Duration
	max    time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits             // buckets per power of two
	histExact   = 2 * histSub                  // values below this have a bucket each
	histBuckets = histExact + (63-8+1)*histSub // exponents 8..63
)

func histIndex(v uint64) int {
	if v < histExact {
		return int(v)
	}
	e := bits.Len64(v) - 1 // >= 8
	shift := e - histSubBits
	mant := v >> shift // in [128, 255]
	return histExact + (e-8)*histSub + int(mant-histSub)
}

// histValue is the middle of bucket i.
func histValue(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	i -= histExact
	e := i/histSub + 8
	mant := uint64(i%histSub + histSub)
	shift := e - histSubBits
	lo := mant << shift
	return lo + (uint64(1)<<shift)/2
}

// Add records one duration; a negative one is recorded as 0.
func (h *Histogram) Add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if h.n == 0 || d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
	h.counts[histIndex(uint64(d))]++
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min, Max and Mean are exact; all are 0 without samples.
func (h *Histogram) Min() time.Duration { return h.min }

func (h *Histogram) Max() time.Duration { return h.max }

func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank method:
// the smallest sample at or above which q of the samples lie, within the
// bucket precision and clamped to [Min, Max].
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(histValue(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
