package seq

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Quantile(0.99) != 0 {
		t.Errorf("empty histogram not all zero")
	}
}

func TestHistogramExactSmall(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{5, 1, 3, 2, 4} {
		h.Add(d)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.2, 1}, {0.5, 3}, {0.99, 5}, {1, 5}}
	for _, tt := range tests {
		if got := h.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v; want %v", tt.q, got, tt.want)
		}
	}
	if h.Min() != 1 || h.Max() != 5 || h.Mean() != 3 || h.Count() != 5 {
		t.Errorf("min/max/mean/count = %v/%v/%v/%d", h.Min(), h.Max(), h.Mean(), h.Count())
	}
}

func TestHistogramNegativeIsZero(t *testing.T) {
	var h Histogram
	h.Add(-time.Second)
	if h.Min() != 0 || h.Quantile(1) != 0 {
		t.Errorf("negative sample: min %v q1 %v; want 0", h.Min(), h.Quantile(1))
	}
}

func TestHistogramPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 20000 {
		// Log-uniform from 1µs to 10s.
		d := time.Duration(float64(time.Microsecond) * math.Pow(10, rng.Float64()*7))
		h.Add(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		idx := int(math.Ceil(float64(len(all))*q)) - 1
		exact := all[max(idx, 0)]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.008 || diff < -0.008 {
			t.Errorf("Quantile(%v) = %v; exact %v (off by %.2f%%)", q, got, exact, diff*100)
		}
	}
	if h.Max() != all[len(all)-1] || h.Min() != all[0] {
		t.Errorf("min/max %v/%v; want %v/%v", h.Min(), h.Max(), all[0], all[len(all)-1])
	}
}

func TestHistIndexMonotonic(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<20 + 1, 1 << 40, 1<<63 - 1} {
		i := histIndex(v)
		if i < prev || i >= histBuckets {
			t.Errorf("histIndex(%d) = %d (prev %d, buckets %d)", v, i, prev, histBuckets)
		}
		prev = i
		mid := histValue(i)
		if v >= histExact {
			if rel := float64(int64(mid)-int64(v)) / float64(v); rel > 0.008 || rel < -0.008 {
				t.Errorf("histValue(histIndex(%d)) = %d, off %.3f%%", v, mid, rel*100)
			}
		} else if mid != v {
			t.Errorf("histValue(histIndex(%d)) = %d", v, mid)
		}
	}
}
