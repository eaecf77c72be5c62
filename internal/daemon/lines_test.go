package daemon

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// splitAll feeds data in the given chunks and returns the lines, the tail
// left and the error.
func splitAll(chunks [][]byte, max int) (lines []string, tail string, err error) {
	var l lineSplitter
	for _, c := range chunks {
		err = l.feed(c, max, func(line []byte) bool {
			lines = append(lines, string(line))
			return true
		})
		if err != nil {
			return lines, "", err
		}
	}
	return lines, string(l.take()), nil
}

func TestLineSplitter(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		max    int
		lines  []string
		tail   string
		err    error
	}{
		{"one line", []string{"abc\n"}, 10, []string{"abc\n"}, "", nil},
		{"crlf kept", []string{"a\r\nb\n"}, 10, []string{"a\r\n", "b\n"}, "", nil},
		{"tail", []string{"a\nbc"}, 10, []string{"a\n"}, "bc", nil},
		{"across chunks", []string{"ab", "c", "d\ne"}, 10, []string{"abcd\n"}, "e", nil},
		{"empty lines", []string{"\n\n"}, 0, []string{"\n", "\n"}, "", nil},
		{"exactly max", []string{"abcd\n"}, 4, []string{"abcd\n"}, "", nil},
		{"exactly max in pieces", []string{"ab", "cd", "\n"}, 4, []string{"abcd\n"}, "", nil},
		{"one over", []string{"ok\nabcde\n"}, 4, []string{"ok\n"}, "", errLineTooLong},
		{"over before newline arrives", []string{"abc", "de"}, 4, nil, "", errLineTooLong},
		{"over across pieces", []string{"abc", "de\n"}, 4, nil, "", errLineTooLong},
		{"cr counts", []string{"abcd\r\n"}, 4, nil, "", errLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks [][]byte
			for _, c := range tt.chunks {
				chunks = append(chunks, []byte(c))
			}
			lines, tail, err := splitAll(chunks, tt.max)
			if !slices.Equal(lines, tt.lines) || tail != tt.tail || !errors.Is(err, tt.err) {
				t.Fatalf("got %q tail %q err %v; want %q tail %q err %v", lines, tail, err, tt.lines, tt.tail, tt.err)
			}
		})
	}
}

func TestLineSplitterStop(t *testing.T) {
	var l lineSplitter
	var got []string
	l.feed([]byte("a\nquit\nb\nc"), 100, func(line []byte) bool {
		got = append(got, string(line))
		return !isQuit(line)
	})
	if !slices.Equal(got, []string{"a\n", "quit\n"}) {
		t.Fatalf("got %q; want the lines up to quit", got)
	}
}

func TestLineSplitterNoCopy(t *testing.T) {
	// A complete line inside one read is handed out in place.
	data := []byte("hello\n")
	var l lineSplitter
	l.feed(data, 100, func(line []byte) bool {
		if &line[0] != &data[0] {
			t.Errorf("the line was copied")
		}
		return true
	})
	if l.partial != nil {
		t.Errorf("a buffer was allocated for a line that needed none")
	}
}

func TestIsQuit(t *testing.T) {
	for line, want := range map[string]bool{
		"quit\n": true, "quit\r\n": true, "  quit\t\n": true, "quit": true,
		"QUIT\n": false, "quitting\n": false, "q uit\n": false, "\n": false,
	} {
		if got := isQuit([]byte(line)); got != want {
			t.Errorf("isQuit(%q) = %v; want %v", line, got, want)
		}
	}
}

// FuzzLineSplitter: however the input is cut into reads, the lines handed
// out are those of the whole input, up to the first that is too long.
func FuzzLineSplitter(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 1}, uint16(8))
	f.Add([]byte("a\r\nbb\n\nccc"), []byte{1, 1, 1, 1, 1}, uint16(2))
	f.Add([]byte("xxxxxxxxxxxxxxxxxx\nshort\n"), []byte{5}, uint16(4))
	f.Fuzz(func(t *testing.T, data, cuts []byte, max16 uint16) {
		max := int(max16 % 512)
		// The reference: split the whole input at once.
		var want []string
		var wantErr error
		rest := data
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if len(rest) > max {
					wantErr = errLineTooLong
				}
				break
			}
			if i > max {
				wantErr = errLineTooLong
				break
			}
			want = append(want, string(rest[:i+1]))
			rest = rest[i+1:]
		}
		wantTail := ""
		if wantErr == nil {
			wantTail = string(rest)
		}
		var chunks [][]byte
		rest = data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		got, tail, err := splitAll(chunks, max)
		if !errors.Is(err, wantErr) || !slices.Equal(got, want) || tail != wantTail {
			t.Fatalf("chunks %q max %d: got %q tail %q err %v; want %q tail %q err %v", chunks, max, got, tail, err, want, wantTail, wantErr)
		}
	})
}
