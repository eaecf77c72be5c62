package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestMedianRanks(t *testing.T) {
	// Ranks from the binomial (n, 1/2) by hand, checked against the usual
	// tables of distribution-free intervals for the median.
	for _, tc := range []struct {
		n, l, u  int
		coverage float64
	}{
		{1, 1, 1, 0},
		{2, 1, 2, 0.5},
		{5, 1, 5, 1 - 2.0/32},              // no 95 % interval: min..max, 93.75 %
		{6, 1, 6, 1 - 2.0/64},              // the first n with one
		{10, 2, 9, 1 - 2*11.0/1024},        // P(B<=1) = 11/1024
		{20, 6, 15, 1 - 2*21700.0/(1<<20)}, // P(B<=5) = 21700/2^20
		{21, 6, 16, 1 - 2*27896.0/(1<<21)}, // P(B<=5) = 27896/2^21; P(B<=6) = 0.039
	} {
		l, u, cov := MedianRanks(tc.n, 0.95)
		if l != tc.l || u != tc.u || math.Abs(cov-tc.coverage) > 1e-9 {
			t.Errorf("MedianRanks(%d) = %d, %d, %.6f; want %d, %d, %.6f", tc.n, l, u, cov, tc.l, tc.u, tc.coverage)
		}
	}
}

func TestMedianRanksCoverAtLeastLevel(t *testing.T) {
	for n := 6; n <= 200; n++ {
		l, u, cov := MedianRanks(n, 0.95)
		if cov < 0.95 || u != n+1-l || l < 1 {
			t.Fatalf("n=%d: ranks %d..%d, coverage %.4f; want a symmetric interval covering 95 %%", n, l, u, cov)
		}
		// One rank narrower must fall below 95 %, or l is not the largest.
		if l+1 <= u-1 {
			if narrower := 1 - 2*binomCDF(n, l); narrower >= 0.95 {
				t.Fatalf("n=%d: ranks %d..%d would still cover %.4f; l=%d is not the largest", n, l+1, u-1, narrower, l)
			}
		}
	}
}

func TestMedian(t *testing.T) {
	xs := []float64{5, 1, 4}
	if got := Median(xs); got != 4 {
		t.Errorf("Median(5 1 4) = %g; want 4", got)
	}
	if xs[0] != 5 {
		t.Errorf("Median sorted its argument: %v", xs)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median(4 1 3 2) = %g; want 2.5", got)
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %g; want NaN", got)
	}
}

func TestSummarize21(t *testing.T) {
	// 21 runs, shuffled: the interval is the 6th and 16th smallest.
	xs := []float64{21, 3, 17, 8, 1, 12, 20, 5, 14, 9, 2, 19, 6, 16, 11, 4, 18, 7, 15, 10, 13}
	s := Summarize(xs)
	if s.N != 21 || s.Median != 11 || s.Lo != 6 || s.Hi != 16 {
		t.Errorf("Summarize(1..21) = %+v; want median 11 in [6, 16]", s)
	}
}

func TestRatiosPairByRound(t *testing.T) {
	a := map[int]float64{1: 2, 2: 3, 3: 10, 5: 8}
	b := map[int]float64{1: 1, 2: 2, 4: 7, 5: 0}
	// Round 3 has no b, round 4 no a, round 5 a zero b: only 1 and 2 pair.
	got := Ratios(a, b)
	if len(got) != 2 || got[0] != 2 || got[1] != 1.5 {
		t.Errorf("Ratios = %v; want [2 1.5]", got)
	}
}

func TestFill(t *testing.T) {
	samples := "# round row metric value\n" +
		"1\tc\tcpu\t100\n1\tgo\tcpu\t150\n" +
		"2\tc\tcpu\t200\n2\tgo\tcpu\t260\n" +
		"3\tc\tcpu\t110\n3\tgo\tcpu\t121\n" +
		"4\tgo\tcpu\t999\n"
	s, err := ReadSamples(strings.NewReader(samples))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := "| c | {m c cpu} | {n c cpu} |\n" +
		"| go | {m go cpu} | {v go cpu} | {r go c cpu} | {n go cpu} |\n" +
		"| none | {m none cpu} | {r none c cpu} |\n"
	var out bytes.Buffer
	if err := Fill(s, strings.NewReader(tmpl), &out); err != nil {
		t.Fatal(err)
	}
	// go/c per round: 1.5, 1.3, 1.1 (round 4 has no c); go's own median
	// is over its 4 rounds: (150 + 260) / 2.
	want := "| c | 110 [100, 200] | 3 |\n" +
		"| go | 205 [121, 999] | 205 | 1.30 [1.10, 1.50] | 4 |\n" +
		"| none | - | - |\n"
	if out.String() != want {
		t.Errorf("Fill:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestFillRefusesMalformedPlaceholder(t *testing.T) {
	var out bytes.Buffer
	if err := Fill(Samples{}, strings.NewReader("{r go cpu}\n"), &out); err == nil {
		t.Errorf("Fill({r go cpu}) = nil error; want one (ratio needs ROW REF METRIC)")
	}
}

func TestReadSamplesRefusesBadLines(t *testing.T) {
	for _, in := range []string{
		"1\tc\tcpu\n",
		"0\tc\tcpu\t1\n",
		"x\tc\tcpu\t1\n",
		"1\tc\tcpu\tNaN\n",
		"1\tc\tcpu\tfast\n",
	} {
		if _, err := ReadSamples(strings.NewReader(in)); err == nil {
			t.Errorf("ReadSamples(%q) = nil error; want one", in)
		}
	}
}

func TestNumber(t *testing.T) {
	for v, want := range map[float64]string{1234.4: "1234", 123.4: "123", 12.34: "12.3", 1.234: "1.23", 0.0123: "0.01"} {
		if got := number(v); got != want {
			t.Errorf("number(%g) = %q; want %q", v, got, want)
		}
	}
}

func TestRunRanks(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"ranks", "21"}, nil, &out, &errb); code != 0 || out.String() != "6\t16\t0.9734\n" {
		t.Errorf("speedstat ranks 21: exit %d, %q (stderr %q); want 0, \"6\\t16\\t0.9734\\n\"", code, out.String(), errb.String())
	}
	if code := run([]string{"ranks", "0"}, nil, &out, &errb); code != 2 {
		t.Errorf("speedstat ranks 0: exit %d; want 2", code)
	}
}
