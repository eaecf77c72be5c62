package cmdline

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0":          0,
		"65536":      65536,
		"512B":       512,
		"64KiB":      64 << 10,
		"64K":        64 << 10,
		"64k":        64 << 10,
		"256MiB":     256 << 20,
		"256 MiB":    256 << 20,
		"256M":       256 << 20,
		"1GiB":       1 << 30,
		"1G":         1 << 30,
		"2TiB":       2 << 40,
		"10kB":       10000,
		"10KB":       10000,
		"5MB":        5000000,
		"3GB":        3000000000,
		"1TB":        1000000000000,
		"007MiB":     7 << 20,
		"8388607TiB": 8388607 << 40,
	}
	for text, want := range good {
		got, err := ParseSize(text)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
	bad := map[string]string{
		"":                     "want a number of bytes",
		"MiB":                  "want a number of bytes",
		"lots":                 "want a number of bytes",
		"-1":                   "must not be negative",
		"-64MiB":               "must not be negative",
		"1.5GiB":               "want a whole number; write 1536MiB rather than 1.5GiB",
		"1e9":                  "want a whole number",
		"64X":                  "unknown unit X: want a number of bytes",
		"64Mb":                 "unknown unit Mb",
		"64 mebibytes":         "unknown unit mebibytes",
		"0x100":                "want a number of bytes",
		"8388608TiB":           "too large",
		"99999999999999999999": "too large",
	}
	for text, want := range bad {
		got, err := ParseSize(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSize(%q) = %d, %v; want an error saying %q", text, got, err, want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1000: "1000", 1024: "1KiB", 64 << 10: "64KiB", 256 << 20: "256MiB",
		1536 << 20: "1536MiB", 1 << 30: "1GiB", 3 << 40: "3TiB", 256<<20 + 1: "268435457",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q; want %q", n, got, want)
		}
		if back, err := ParseSize(FormatSize(n)); err != nil || back != n {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

// FuzzParseSize: a size that parses prints back to the same number.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64KiB", "256 MiB", "1.5G", "-1", "8388608TiB", "10kB", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		if back, err := ParseSize(FormatSize(n)); err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, which prints as %q and reads back as %d, %v", s, n, FormatSize(n), back, err)
		}
	})
}
