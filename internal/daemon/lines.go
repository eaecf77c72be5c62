package daemon

import (
	"bytes"
	"errors"
)

// errLineTooLong is what a line longer than the limit gets from the splitter.
var errLineTooLong = errors.New("line too long")

// lineSplitter frames a byte stream into lines for the echo protocol. It
// holds the start of a line that has not ended yet, and nothing else: a
// complete line inside one read is handed out without being copied.
type lineSplitter struct {
	partial []byte
}

// feed passes each complete line of data, '\n' included, to fn and keeps the
// unfinished tail. A line whose content (the bytes before '\n') is longer
// than max ends the feed with errLineTooLong; the lines before it were
// passed to fn. When fn returns false the rest of data is dropped. The line
// given to fn is valid only until fn returns.
func (l *lineSplitter) feed(data []byte, max int, fn func(line []byte) bool) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			// Refuse as soon as the line is known to be too long, so a
			// peer cannot make the server hold more than max bytes.
			if len(l.partial)+len(data) > max {
				return errLineTooLong
			}
			l.partial = append(l.partial, data...)
			return nil
		}
		if len(l.partial)+i > max {
			return errLineTooLong
		}
		line := data[:i+1]
		data = data[i+1:]
		if len(l.partial) > 0 {
			l.partial = append(l.partial, line...)
			line = l.partial
			l.partial = l.partial[:0]
		}
		if !fn(line) {
			return nil
		}
	}
	return nil
}

// take returns the unfinished tail, for the last line of a stream that
// ended without '\n', and forgets it. The result is valid until the next
// feed.
func (l *lineSplitter) take() []byte {
	p := l.partial
	l.partial = l.partial[:0]
	return p
}

// release drops a large buffer once it is empty, so that thousands of idle
// connections do not each keep the memory of their longest line.
func (l *lineSplitter) release() {
	if len(l.partial) == 0 && cap(l.partial) > 4096 {
		l.partial = nil
	}
}

// isQuit reports whether line is the echo protocol's "quit" command,
// ignoring surrounding white space and the line ending.
func isQuit(line []byte) bool {
	return string(bytes.TrimSpace(line)) == "quit"
}
