// Command speedstat turns the samples bench/run.sh collects (one value per
// round, row and metric) into the figures of its tables: medians with a
// distribution-free 95 % interval from order statistics, and medians of
// per-round ratios of interleaved runs with their own interval.
//
//	speedstat fill SAMPLES < TEMPLATE   fill a Markdown template's placeholders
//	speedstat summary SAMPLES ROW METRIC [REF]
//	                                    n, median, lo, hi, coverage (tab-separated);
//	                                    with REF, of the per-round ratios ROW / REF
//	speedstat ranks N                   the ranks l, u of the interval for N runs,
//	                                    and its exact coverage
//
// Placeholders are described at Fill. Exit status 2 for bad usage, 1 when
// the samples file cannot be read.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  speedstat fill SAMPLES < TEMPLATE
  speedstat summary SAMPLES ROW METRIC [REF]
  speedstat ranks N
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "speedstat: "+format+"\n", a...)
		if code == 2 {
			fmt.Fprint(stderr, usage)
		}
		return code
	}
	if len(args) == 0 {
		return fail(2, "no command")
	}
	switch cmd := args[0]; {
	case cmd == "ranks" && len(args) == 2:
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > 10000 {
			return fail(2, "ranks: N must be a whole number 1..10000, got %q", args[1])
		}
		l, u, cov := MedianRanks(n, Level)
		fmt.Fprintf(stdout, "%d\t%d\t%.4f\n", l, u, cov)
		return 0
	case cmd == "fill" && len(args) == 2, cmd == "summary" && (len(args) == 4 || len(args) == 5):
		s, err := readSamplesFile(args[1])
		if err != nil {
			return fail(1, "%v", err)
		}
		if cmd == "fill" {
			if err := Fill(s, stdin, stdout); err != nil {
				return fail(1, "fill: %v", err)
			}
			return 0
		}
		row, metric := args[2], args[3]
		xs := s.Values(row, metric)
		if len(args) == 5 {
			xs = Ratios(s[key(row, metric)], s[key(args[4], metric)])
		}
		sum := Summarize(xs)
		fmt.Fprintf(stdout, "%d\t%g\t%g\t%g\t%.4f\n", sum.N, sum.Median, sum.Lo, sum.Hi, sum.Coverage)
		return 0
	default:
		return fail(2, "unknown command or wrong number of arguments: %q", args)
	}
}

func readSamplesFile(path string) (Samples, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := ReadSamples(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
