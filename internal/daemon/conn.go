package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

type connState uint8

const (
	// stateOpen: reading and replying.
	stateOpen connState = iota
	// stateClosing: no more input is taken (quit, an over-long line or
	// shutdown); the replies already due are sent, then our write side
	// is shut.
	stateClosing
	// stateLingering: our write side is shut; input is read and dropped
	// until the peer closes too or lingerTimeout passes, so the close
	// does not reset the connection before the peer read our last bytes.
	stateLingering
)

// conn is one stream client. All of it belongs to the loop goroutine.
type conn struct {
	sock     *dgram.Socket
	peer     dgram.Addr
	network  string
	since    time.Time
	state    connState
	eof      bool // the peer shut its write side
	closed   bool
	stalled  uint8 // waiting for room in the client memory budget: the class it waits in, or notStalled
	borrowed bool  // out is the server's shared reply buffer, until keep
	reason   string
	lines    lineSplitter
	out      []byte // replies; out[sent:] are not sent yet
	sent     int
	interest dgram.Events
	held     int32 // bytes counted in Server.held for c: its backlog and unfinished line at the end of its last event

	last       time.Time // of the last byte moved (active) or of the write shutdown (linger)
	prev, next *conn
	list       *connList

	bytesIn, bytesOut int64
}

func (c *conn) pending() int { return len(c.out) - c.sent }

// connList is an intrusive doubly linked list of conns. Every connection in
// a list has the same timeout, so ordering by last activity (moving a conn
// to the back when it moves bytes) keeps the next one to expire at the
// front: a timer wheel of one slot, O(1) per update.
type connList struct {
	root conn
	n    int
}

func (l *connList) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *connList) front() *conn {
	if l.n == 0 {
		return nil
	}
	return l.root.next
}

func (l *connList) after(c *conn) *conn {
	if c.next == &l.root {
		return nil
	}
	return c.next
}

func (l *connList) pushBack(c *conn) {
	if c.list != nil {
		c.list.remove(c)
	}
	c.prev, c.next = l.root.prev, &l.root
	l.root.prev.next = c
	l.root.prev = c
	c.list = l
	l.n++
}

func (l *connList) remove(c *conn) {
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next, c.list = nil, nil, nil
	l.n--
}

// touch records traffic on c, which pushes back its idle deadline. A
// lingering connection keeps the deadline it got when it started to linger:
// a peer that keeps sending cannot hold it open.
func (s *Server) touch(c *conn) {
	if c.state == stateLingering {
		return
	}
	c.last = s.now
	if c.list.root.prev != c {
		c.list.pushBack(c)
	}
}

// serveConn handles one readiness report for c.
func (s *Server) serveConn(c *conn, ev dgram.Events) {
	moved := c.bytesIn + c.bytesOut
	if ev&(dgram.Readable|dgram.PeerShut|dgram.Hangup|dgram.Failed) != 0 && s.reading(c) {
		s.readConn(c)
	}
	if !c.closed && c.pending() > 0 {
		s.flush(c)
	}
	if c.closed {
		return
	}
	if ev&(dgram.Hangup|dgram.Failed) != 0 && c.bytesIn+c.bytesOut == moved && !c.eof {
		// An error or hang-up that neither a read nor a write turned
		// into a result: nothing more can happen on this socket, and
		// leaving it would report itself again at once.
		s.closeConn(c, "hang-up", nil)
		return
	}
	s.keep(c)
	s.settle(c)
}

// reading reports whether c's input is wanted now: see wantsInput.
func (s *Server) reading(c *conn) bool {
	want, _ := s.wantsInput(c)
	return want
}

// readConn reads what c has sent, a bounded amount per call, each read
// within what the client memory budget has left.
func (s *Server) readConn(c *conn) {
	for range readsPerEvent {
		buf := s.scratch[:s.readRoom(c)]
		if len(buf) == 0 {
			return
		}
		n, err := c.sock.Read(buf)
		if n > 0 {
			c.bytesIn += int64(n)
			s.touch(c)
			if c.state == stateOpen {
				s.consume(c, buf[:n])
			}
		}
		if err != nil {
			switch {
			case err == io.EOF:
				s.inputEnded(c)
			case dgram.Errno(err) == unix.EAGAIN:
			default:
				s.closeConn(c, "read error", err)
			}
			return
		}
		if n < len(buf) || !s.reading(c) {
			return // drained, or no more input wanted
		}
	}
}

// consume handles input of an open connection.
func (s *Server) consume(c *conn, data []byte) {
	if s.mode == Discard {
		return
	}
	if c.sent > 0 {
		// Move the unsent replies to the front before adding more.
		c.out = c.out[:copy(c.out, c.out[c.sent:])]
		c.sent = 0
	}
	s.replyBuf(c)
	err := c.lines.feed(data, s.set.MaxLine, func(line []byte) bool {
		if isQuit(line) {
			s.startClose(c, "quit")
			return false
		}
		c.out = append(c.out, line...)
		return true
	})
	if errors.Is(err, errLineTooLong) {
		c.out = fmt.Appendf(c.out, "error: line longer than %d bytes\n", s.set.MaxLine)
		s.startClose(c, "line too long")
	}
}

// inputEnded handles the peer's shutdown of its write side: the last line,
// if it had no '\n', is answered too, and c closes once all is sent.
func (s *Server) inputEnded(c *conn) {
	c.eof = true
	if c.state == stateLingering {
		s.closeConn(c, c.reason, nil)
		return
	}
	if c.state == stateOpen && s.mode == Echo {
		if last := c.lines.take(); len(last) > 0 {
			if isQuit(last) {
				s.startClose(c, "quit")
			} else {
				s.replyBuf(c)
				c.out = append(c.out, last...)
			}
		}
	}
	if c.reason == "" {
		c.reason = "client closed"
	}
}

func (s *Server) startClose(c *conn, reason string) {
	c.state = stateClosing
	c.reason = reason
	c.lines.take()
	c.lines.release()
}

// flush sends c's pending replies until done or the socket is full.
func (s *Server) flush(c *conn) {
	for c.pending() > 0 {
		n, err := c.sock.Send(c.out[c.sent:], 0)
		if n > 0 {
			c.sent += n
			c.bytesOut += int64(n)
			s.touch(c)
		}
		if err != nil {
			if dgram.Errno(err) != unix.EAGAIN {
				s.closeConn(c, "write error", err)
			}
			return
		}
	}
	// An idle connection keeps no buffer: a borrowed one goes back, an
	// own one is freed.
	s.giveBack(c)
	c.out, c.sent = nil, 0
}

// settle moves c to its next state and watches for what it waits on now.
func (s *Server) settle(c *conn) {
	var want dgram.Events
	switch c.state {
	case stateOpen:
		if c.eof && c.pending() == 0 {
			s.closeConn(c, c.reason, nil)
			return
		}
		switch read, stalled := s.wantsInput(c); {
		case read:
			want |= dgram.Readable
		case stalled:
			s.stall(c)
		}
	case stateClosing:
		if c.pending() > 0 {
			break
		}
		if c.eof {
			s.closeConn(c, c.reason, nil)
			return
		}
		if err := c.sock.Shutdown(dgram.ShutWrite); err != nil {
			s.closeConn(c, c.reason, err)
			return
		}
		c.state = stateLingering
		c.last = s.now
		s.linger.pushBack(c)
		want = dgram.Readable
	case stateLingering:
		want = dgram.Readable
	}
	if c.pending() > 0 {
		want |= dgram.Writable
	}
	if want != c.interest {
		if err := s.poller.Modify(c.sock, want); err != nil {
			s.closeConn(c, "poller", err)
			return
		}
		c.interest = want
	}
}

// closeConn ends c and logs why.
func (s *Server) closeConn(c *conn, reason string, err error) {
	if c.closed {
		return
	}
	c.closed = true
	if c.list != nil {
		c.list.remove(c)
	}
	delete(s.handlers, c.sock)
	s.poller.Remove(c.sock)
	c.sock.Close()
	s.stats.closed++
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		attrs := []any{"network", c.network, "peer", c.peer.String(), "reason", reason,
			"bytes_in", c.bytesIn, "bytes_out", c.bytesOut, "duration", s.now.Sub(c.since).String()}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		s.log.Debug("client closed", attrs...)
	}
	s.forget(c)
	c.out, c.lines.partial = nil, nil
}
