package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Samples holds one value per round for each row and metric: what
// bench/run.sh wrote to its samples file, one "ROUND ROW METRIC VALUE" line
// (tab-separated) per measured value.
type Samples map[string]map[int]float64

func key(row, metric string) string { return row + "\x00" + metric }

// ReadSamples reads the samples file. Blank lines and lines starting with
// '#' are skipped; any other line must have four tab-separated fields, a
// round number and a finite value, or the whole file is refused (a table
// built from half-read data would look right and be wrong). A row, metric
// and round seen twice keeps the last value.
func ReadSamples(r io.Reader) (Samples, error) {
	s := Samples{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if strings.TrimSpace(t) == "" || strings.HasPrefix(t, "#") {
			continue
		}
		f := strings.Split(t, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want ROUND<TAB>ROW<TAB>METRIC<TAB>VALUE, got %d fields: %q", line, len(f), t)
		}
		round, err := strconv.Atoi(f[0])
		if err != nil || round < 1 {
			return nil, fmt.Errorf("line %d: round %q is not a whole number from 1", line, f[0])
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("line %d: value %q is not a finite number", line, f[3])
		}
		k := key(f[1], f[2])
		if s[k] == nil {
			s[k] = map[int]float64{}
		}
		s[k][round] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Values returns a row's values of a metric, in round order.
func (s Samples) Values(row, metric string) []float64 {
	byRound := s[key(row, metric)]
	rounds := slices.Sorted(maps.Keys(byRound))
	out := make([]float64, len(rounds))
	for i, r := range rounds {
		out[i] = byRound[r]
	}
	return out
}

// placeholder matches {m ROW METRIC}, {v ROW METRIC}, {n ROW METRIC} and
// {r ROW REF METRIC}; rows and metrics are words of [A-Za-z0-9_./-].
var placeholder = regexp.MustCompile(`\{([mvnr]) ([A-Za-z0-9_./-]+) ([A-Za-z0-9_./-]+)(?: ([A-Za-z0-9_./-]+))?\}`)

// Fill copies a template to w, replacing each placeholder:
//
//	{m ROW METRIC}      median [lo, hi] of the row's values
//	{v ROW METRIC}      the median alone
//	{n ROW METRIC}      how many rounds have a value
//	{r ROW REF METRIC}  median [lo, hi] of the per-round ratios ROW / REF
//
// A placeholder with no values becomes "-". Anything else is copied as it
// is, so the template is the Markdown table itself.
func Fill(s Samples, template io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(template)
	bw := bufio.NewWriter(w)
	var bad error
	for sc.Scan() {
		out := placeholder.ReplaceAllStringFunc(sc.Text(), func(ph string) string {
			m := placeholder.FindStringSubmatch(ph)
			kind, row, a, b := m[1], m[2], m[3], m[4]
			if (kind == "r") != (b != "") {
				if bad == nil {
					bad = fmt.Errorf("placeholder %s: {r ROW REF METRIC} takes three words, the others two", ph)
				}
				return ph
			}
			switch kind {
			case "n":
				return strconv.Itoa(len(s[key(row, a)]))
			case "v":
				xs := s.Values(row, a)
				if len(xs) == 0 {
					return "-"
				}
				return number(Median(xs))
			case "m":
				return interval(Summarize(s.Values(row, a)), number)
			default: // "r": row, ref = a, metric = b
				return interval(Summarize(Ratios(s[key(row, b)], s[key(a, b)])), ratio)
			}
		})
		if _, err := fmt.Fprintln(bw, out); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if bad != nil {
		return bad
	}
	return bw.Flush()
}

func interval(sum Summary, format func(float64) string) string {
	switch sum.N {
	case 0:
		return "-"
	case 1:
		return format(sum.Median)
	}
	return fmt.Sprintf("%s [%s, %s]", format(sum.Median), format(sum.Lo), format(sum.Hi))
}

// number prints three significant figures or more: 12345, 123, 12.3, 1.23.
func number(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func ratio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
