package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// out writes whole lines, each flushed at once, so that a pipe reader (jq,
// grep, a test) sees every datagram as it arrives. It is safe for
// concurrent use: the live statistics goroutine shares stderr with errors.
type out struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
	enc *json.Encoder
}

func newOut(w io.Writer) *out {
	o := &out{w: bufio.NewWriterSize(w, 64<<10)}
	o.enc = json.NewEncoder(o.w)
	o.enc.SetEscapeHTML(false)
	return o
}

// JSON writes v as one line.
func (o *out) JSON(v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(v) // Encode ends the line
	_ = o.w.Flush()
}

// Printf writes one formatted line (a newline is added).
func (o *out) Printf(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = fmt.Appendf(o.buf[:0], format, args...)
	o.buf = append(o.buf, '\n')
	_, _ = o.w.Write(o.buf)
	_ = o.w.Flush()
}

// Write writes b as is and flushes.
func (o *out) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.w.Write(b)
	if err == nil {
		err = o.w.Flush()
	}
	return n, err
}

// printable reports whether b reads as text: valid UTF-8 of printable
// characters, tabs and line ends.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

// appendPayload appends how a payload reads to a person: quoted text, or a
// note that it is binary.
func appendPayload(b, payload []byte) []byte {
	if len(payload) == 0 {
		return b
	}
	if printable(payload) {
		return strconv.AppendQuote(append(b, ' '), string(payload))
	}
	return fmt.Appendf(b, " (%d bytes binary; --hex shows them)", len(payload))
}

// appendHexdump appends b as `hexdump -C` does, each line indented by two
// spaces: offset, 16 bytes in hex, and the printable ones.
func appendHexdump(dst, b []byte) []byte {
	const hexd = "0123456789abcdef"
	for off := 0; off < len(b); off += 16 {
		line := b[off:min(off+16, len(b))]
		dst = fmt.Appendf(dst, "  %08x  ", off)
		for i := range 16 {
			if i < len(line) {
				dst = append(dst, hexd[line[i]>>4], hexd[line[i]&15], ' ')
			} else {
				dst = append(dst, "   "...)
			}
			if i == 7 {
				dst = append(dst, ' ')
			}
		}
		dst = append(dst, " |"...)
		for _, c := range line {
			if c >= 0x20 && c < 0x7f {
				dst = append(dst, c)
			} else {
				dst = append(dst, '.')
			}
		}
		dst = append(dst, "|\n"...)
	}
	return dst
}

// ms formats a duration in milliseconds with three decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// micros is a duration in microseconds, for JSON.
func micros(d time.Duration) float64 {
	return float64(d.Nanoseconds()) / 1e3
}

// tsText is the local wall-clock time of a datagram, to the microsecond.
func tsText(t time.Time) string { return t.Format("15:04:05.000000") }

// plural is "1 datagram" or "2 datagrams".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatUint(n, 10) + " " + noun + "s"
}
