// Package cmdline holds what the two command-line programs, bcast and the
// listen daemon, share about reading a command line: flag parse errors in
// the user's words instead of the flag package's, what a bad value should
// look like, interfaces named on the command line, and the version.
package cmdline

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// The forms of the errors the flag package returns while parsing (the
// standard library's flag.FlagSet, which urfave/cli parses with).
var (
	reUndefined = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	reNoArg     = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	reInvalid   = regexp.MustCompile(`^invalid value "((?:[^"\\]|\\.)*)" for flag -+([^:]*): `)
	reBadBool   = regexp.MustCompile(`^invalid boolean value "((?:[^"\\]|\\.)*)" for -+([^:]*): `)
	reBoolFlag  = regexp.MustCompile(`^invalid boolean flag ([^:]*): `)
	reSyntax    = regexp.MustCompile(`^bad flag syntax: (.*)$`)
)

// durationForm is what time.ParseDuration reads; a value of this form that
// it refuses is too large for a time.Duration.
var durationForm = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// ParseError says what was wrong with a command line, given the error the
// flag package returned for it and the flags of the command. renamed maps
// a name the command no longer takes to what to write instead. Anything it
// does not recognise is returned as it is.
func ParseError(flags []cli.Flag, renamed map[string]string, err error) string {
	msg := err.Error()
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		s := "unknown flag " + Dashed(m[1])
		name, _, _ := strings.Cut(strings.TrimLeft(m[1], "-"), "=")
		if instead, ok := renamed[name]; ok {
			s += " (" + instead + ")"
		} else if near := Suggest(flags, m[1]); near != "" {
			s += " (did you mean " + Dashed(near) + "?)"
		}
		return s
	}
	if m := reNoArg.FindStringSubmatch(msg); m != nil {
		return Dashed(m[1]) + " needs a value"
	}
	if m := reInvalid.FindStringSubmatch(msg); m != nil {
		return badValue(flags, m[2], unquote(m[1]))
	}
	if m := reBadBool.FindStringSubmatch(msg); m != nil {
		return badValue(flags, m[2], unquote(m[1]))
	}
	if m := reBoolFlag.FindStringSubmatch(msg); m != nil {
		return badValue(flags, m[1], "")
	}
	if m := reSyntax.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%q is not a flag (flags are --name or --name=value)", m[1])
	}
	return msg
}

func unquote(s string) string {
	if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
		return u
	}
	return s
}

func badValue(flags []cli.Flag, name, value string) string {
	f := Lookup(flags, name)
	if f == nil {
		return fmt.Sprintf("%s %q: not a valid value", Dashed(name), value)
	}
	long := f.Names()[0]
	return fmt.Sprintf("%s %s: %s", Dashed(long), Quote(value), ValueProblem(f, value))
}

// Quote shows a value as typed, quoting it only when it would not read
// back as one word.
func Quote(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\n\"'\\`$") || !strconv.IsPrint(firstRune(v)) {
		return strconv.Quote(v)
	}
	return v
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

// Dashed is a flag name as typed: -x for one letter, --name otherwise.
func Dashed(name string) string {
	name = strings.TrimLeft(name, "-")
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// Lookup finds a flag of flags by any of its names.
func Lookup(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// ValueProblem says why value does not fit flag f's type, in the words of
// someone who typed it. It is for values the type's parser refused.
func ValueProblem(f cli.Flag, value string) string {
	v := strings.TrimSpace(value)
	switch f.(type) {
	case *cli.DurationFlag:
		if n, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
			return fmt.Sprintf("a duration needs a unit: %ss (or ms, m, h)", v)
		}
		if durationForm.MatchString(v) {
			return "too long a duration (at most 2562047h)"
		}
		return "not a duration; write it like 500ms, 5s, 1m30s or 2h"
	case *cli.IntFlag, *cli.Int64Flag, *cli.IntSliceFlag, *cli.Int64SliceFlag:
		return wholeProblem(v, true)
	case *cli.UintFlag, *cli.Uint64Flag, *cli.UintSliceFlag, *cli.Uint64SliceFlag:
		return wholeProblem(v, false)
	case *cli.Float64Flag, *cli.Float64SliceFlag:
		return "not a number"
	case *cli.BoolFlag:
		return "want true or false (or 1 or 0)"
	}
	return "not a valid value"
}

// wholeProblem says why v is not a whole number of the flag's kind.
func wholeProblem(v string, signed bool) string {
	if strings.HasPrefix(v, "-") && !signed {
		if _, err := strconv.ParseInt(v, 0, 64); err == nil {
			return "must not be negative"
		}
	}
	var err error
	if signed {
		_, err = strconv.ParseInt(v, 0, 64)
	} else {
		_, err = strconv.ParseUint(v, 0, 64)
	}
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return "too large a number"
	}
	if f, ferr := strconv.ParseFloat(v, 64); ferr == nil && f == math.Trunc(f) {
		return "write it as a whole number without exponent or decimal point"
	}
	return "not a whole number"
}

// Suggest returns the name of the flag of flags that provided most likely
// misspells, or "" when none is close: a prefix of a name, or a name at
// most two edits away (one for short names).
func Suggest(flags []cli.Flag, provided string) string {
	provided = strings.TrimLeft(provided, "-")
	if name, _, ok := strings.Cut(provided, "="); ok {
		provided = name
	}
	best, bestDist := "", 3
	for _, f := range flags {
		if h, ok := f.(interface{ IsVisible() bool }); ok && !h.IsVisible() {
			continue // an old spelling kept for a release is not suggested
		}
		for _, n := range f.Names() {
			if len(n) < 2 || n == "help" {
				continue
			}
			if len(provided) >= 3 && strings.HasPrefix(n, provided) {
				return n
			}
			d := editDistance(provided, n)
			limit := 2
			if len(n) <= 4 {
				limit = 1
			}
			if d <= limit && d < bestDist {
				best, bestDist = n, d
			}
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of neighbours, the
// typist's four mistakes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
