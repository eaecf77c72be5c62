package cmdline

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the suffixes ParseSize takes. The binary ones are what
// memory is counted in; K, M, G and T mean the same, as systemd, GNU tools
// and Docker read them; KB, MB, GB and TB are powers of 1000, as disks and
// networks are sold.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KiB": 1 << 10, "k": 1 << 10,
	"M": 1 << 20, "MiB": 1 << 20, "m": 1 << 20,
	"G": 1 << 30, "GiB": 1 << 30, "g": 1 << 30,
	"T": 1 << 40, "TiB": 1 << 40, "t": 1 << 40,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// unitWords is the error's list of units, in the words the user should
// read.
const unitWords = "a number of bytes, or one with a unit: KiB, MiB, GiB, TiB (K, M, G, T: the same), or KB, MB, GB, TB (powers of 1000)"

// ParseSize reads a size in bytes: a whole number, optionally followed
// (with or without a space) by a unit from sizeUnits, such as 65536, 64KiB,
// 256 MiB or 1G. The error says what is wrong without the flag's name,
// which the caller puts in front.
func ParseSize(text string) (int64, error) {
	digits := strings.TrimRight(text, " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	unit := strings.TrimLeft(text[len(digits):], " ")
	mult, ok := sizeUnits[unit]
	switch {
	case digits == "":
		return 0, fmt.Errorf("want %s", unitWords)
	case strings.HasPrefix(digits, "-"):
		return 0, errors.New("must not be negative")
	case strings.ContainsAny(digits, ".,eE"):
		return 0, errors.New("want a whole number; write 1536MiB rather than 1.5GiB")
	case !ok:
		return 0, fmt.Errorf("unknown unit %s: want %s", Quote(unit), unitWords)
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errors.New("too large")
		}
		return 0, fmt.Errorf("want %s", unitWords)
	}
	if n > uint64(math.MaxInt64/mult) {
		return 0, errors.New("too large")
	}
	return int64(n) * mult, nil
}

// FormatSize writes n the way ParseSize reads it back, in the largest
// binary unit that divides it: 268435456 is 256MiB, 1000 is 1000 (bytes).
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
