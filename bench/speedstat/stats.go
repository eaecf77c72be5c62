package main

import (
	"math"
	"slices"
)

// Summary is a sample's median with a distribution-free confidence interval
// from its order statistics: [Lo, Hi] = [x(L), x(U)] of the sorted sample,
// 1-based ranks, which holds the population median with probability
// Coverage whatever the distribution (continuous) of the runs.
type Summary struct {
	N        int
	Median   float64
	Lo, Hi   float64
	L, U     int
	Coverage float64
}

// Level is the confidence the intervals aim for.
const Level = 0.95

// MedianRanks returns the ranks (1-based) of the order statistics that
// bound the median of n runs with at least the given confidence, and the
// exact confidence. The number of runs below the median is binomial
// (n, 1/2), so [x(l), x(n+1-l)] misses the median with probability
// 2 P(B <= l-1); l is the largest rank that keeps that at most 1-level.
// When even [x(1), x(n)] falls short (n <= 5 for 95 %), that widest
// interval is returned with the confidence it has, below level.
func MedianRanks(n int, level float64) (l, u int, coverage float64) {
	if n <= 0 {
		return 0, 0, 0
	}
	tail := (1 - level) / 2
	// cdf[k] = P(B <= k), built from the pmf's ratio p(k+1)/p(k) = (n-k)/(k+1),
	// starting from p(0) = 2^-n.
	p := math.Ldexp(1, -n)
	cum := 0.0
	l = 1
	for k := 0; k < n; k++ {
		cum += p
		// cum = P(B <= k): rank k+1 is allowed when P(B <= k) <= tail.
		// The slack keeps a tail exactly at the limit on the right side
		// of rounding.
		if cum > tail+1e-12 {
			break
		}
		l = k + 1
		p = p * float64(n-k) / float64(k+1)
	}
	if l > (n+1)/2 {
		l = (n + 1) / 2
	}
	u = n + 1 - l
	coverage = 1 - 2*binomCDF(n, l-1)
	return l, u, coverage
}

// binomCDF is P(B <= k) for B binomial (n, 1/2).
func binomCDF(n, k int) float64 {
	if k < 0 {
		return 0
	}
	p := math.Ldexp(1, -n)
	cum := 0.0
	for i := 0; i <= k && i <= n; i++ {
		cum += p
		p = p * float64(n-i) / float64(i+1)
	}
	return math.Min(cum, 1)
}

// Median is the middle of xs (the mean of the two middle values for an
// even count); NaN for none. xs is not changed.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Summarize gives the median of xs and its interval at Level.
func Summarize(xs []float64) Summary {
	n := len(xs)
	if n == 0 {
		return Summary{Median: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	l, u, cov := MedianRanks(n, Level)
	return Summary{N: n, Median: Median(s), Lo: s[l-1], Hi: s[u-1], L: l, U: u, Coverage: cov}
}

// Ratios pairs a and b by round and returns a[r]/b[r] for every round r
// that has both (and a non-zero b), in round order: ratios of runs that
// were interleaved, so a slow spell of the machine that hit both runs of a
// round cancels out of that round's ratio.
func Ratios(a, b map[int]float64) []float64 {
	rounds := make([]int, 0, len(a))
	for r := range a {
		if v, ok := b[r]; ok && v != 0 {
			rounds = append(rounds, r)
		}
	}
	slices.Sort(rounds)
	out := make([]float64, len(rounds))
	for i, r := range rounds {
		out[i] = a[r] / b[r]
	}
	return out
}
