package daemon

import (
	"context"
	"log/slog"
)

// Client memory.
//
// What a stream client makes the daemon hold between two events is its
// reply backlog (what its socket would not take yet) and the start of a
// line it has not ended. Settings.ClientMemory bounds the sum over all
// clients, Server.held, so that many clients that each fill their buffers
// cannot take more than that, however many there are.
//
// The accounting is exact because nothing else is held: replies are built
// in one buffer the loop shares between clients (it serves one at a time)
// and sent at once; only what the socket does not take is copied out, into
// a buffer of the client's own of exactly its size, and an unfinished line
// is kept the same way. A client that reads its replies, and every idle
// client, holds no buffer at all between events.
//
// A read takes at most what the budget has left, less room for the one
// reply not made of bytes read (the over-long-line error): n bytes read
// add at most n bytes held (each byte ends up in the backlog, in the
// unfinished line, or nowhere), so held never passes the budget. The last
// quarter of the budget is kept for clients that hold nothing: a client
// already holding data (it does not read its replies, or its line does not
// end) is read only while held stays under three quarters. A few clients
// that never read therefore cannot stop the others, whose lines come and
// go within one event.
//
// A client the budget keeps from being read loses its Readable interest
// and waits in a stalled list; once held has fallen enough for its class,
// the loop settles it again.

const (
	// DefaultClientMemory is the budget without --client-memory: a
	// thousand clients at a full backlog (outLimit) each, and the default
	// --max-clients keeps the clients' fixed cost within the same figure.
	DefaultClientMemory = 256 << 20
	// MinClientMemory leaves room for a few reads; MaxClientMemory is
	// where a typo stops.
	MinClientMemory = 64 << 10
	MaxClientMemory = 1 << 40
	// errReplyRoom is kept free in every read's allowance for the error
	// reply to an over-long line (and the newline that ends a line at
	// shutdown).
	errReplyRoom = 64
)

// minClientMemory is the least budget that lets one client holding data
// complete a line of maxLine bytes: three quarters of it must hold the
// line, its newline and errReplyRoom. Twice the line does from 127 bytes
// up; MinClientMemory covers shorter ones.
func minClientMemory(maxLine int) int64 {
	return max(MinClientMemory, 2*(int64(maxLine)+1))
}

// budget classes: a client that holds data is held to three quarters of
// the budget, one that holds nothing may use all of it.
const (
	notStalled uint8 = iota
	stalledEmpty
	stalledHolding
)

// holdLimit is what held may reach when a client of class k reads.
func (s *Server) holdLimit(k uint8) int64 {
	if k == stalledHolding {
		return s.set.ClientMemory - s.set.ClientMemory/4
	}
	return s.set.ClientMemory
}

// data is what c holds now: during an event it may differ from c.held, the
// figure counted in s.held at its start.
func (c *conn) data() int { return c.pending() + len(c.lines.partial) }

func budgetClass(c *conn) uint8 {
	if c.data() > 0 {
		return stalledHolding
	}
	return stalledEmpty
}

// readRoom is how many bytes c may be read now. Only an open echo client
// turns what it sends into data held; the others are read freely.
func (s *Server) readRoom(c *conn) int {
	if s.mode != Echo || c.state != stateOpen {
		return len(s.scratch)
	}
	room := s.holdLimit(budgetClass(c)) - (s.held - int64(c.held)) - int64(c.data()) - errReplyRoom
	return int(max(0, min(room, int64(len(s.scratch)))))
}

// replyBuf gives c somewhere to put replies: its backlog if it has one,
// else the shared buffer, borrowed until keep.
func (s *Server) replyBuf(c *conn) {
	if c.out == nil {
		c.out = s.replyShared[:0]
		c.borrowed = true
	}
}

// giveBack returns the shared buffer c borrowed, with what it grew to
// (within reason: one event's replies are bounded by outLimit and a read).
func (s *Server) giveBack(c *conn) {
	if !c.borrowed {
		return
	}
	c.borrowed = false
	if cap(c.out) <= outLimit+readBuf {
		s.replyShared = c.out[:0]
	}
}

// keep ends an event of c: what c still holds moves into buffers of its
// own of exactly its size, and s.held follows.
func (s *Server) keep(c *conn) {
	if c.pending() == 0 {
		s.giveBack(c)
		c.out, c.sent = nil, 0
	} else if c.borrowed || c.sent > 0 || cap(c.out) != len(c.out) {
		own := make([]byte, c.pending())
		copy(own, c.out[c.sent:])
		s.giveBack(c)
		c.out, c.sent = own, 0
	}
	if p := c.lines.partial; len(p) == 0 {
		c.lines.partial = nil
	} else if cap(p) != len(p) {
		c.lines.partial = append(make([]byte, 0, len(p)), p...)
	}
	if held := int32(c.data()); held != c.held {
		s.held += int64(held - c.held)
		c.held = held
		s.heldNow.Store(s.held)
		if s.held > s.heldPeak.Load() {
			s.heldPeak.Store(s.held)
		}
	}
}

// forget drops what a closed connection held from the count.
func (s *Server) forget(c *conn) {
	s.giveBack(c)
	if c.held != 0 {
		s.held -= int64(c.held)
		c.held = 0
		s.heldNow.Store(s.held)
	}
	c.stalled = notStalled
}

// stall parks c, which wants to be read but has no room in the budget,
// until held falls.
func (s *Server) stall(c *conn) {
	k := budgetClass(c)
	if c.stalled == k {
		return
	}
	c.stalled = k
	list := s.stalled[k]
	if len(list) > 2*(s.active.n+s.linger.n)+64 {
		// Entries of clients closed or stalled in the other class since
		// pile up while the budget stays full; drop them.
		n := 0
		for _, o := range list {
			if o.stalled == k {
				list[n] = o
				n++
			}
		}
		clear(list[n:])
		list = list[:n]
	}
	s.stalled[k] = append(list, c)
	if n, ok := s.warn.limit("client-memory", s.now); ok {
		s.log.Warn("client-memory reached: clients wait to be read until others take their replies",
			"client_memory", s.set.ClientMemory, "held", s.held, "repeats", n)
	}
}

// resumeStalled settles again the clients of each class once the budget
// has room for a read for that class. It runs once per loop iteration,
// after everything that can lower held.
func (s *Server) resumeStalled() {
	for _, k := range []uint8{stalledEmpty, stalledHolding} {
		list := s.stalled[k]
		if len(list) == 0 {
			continue
		}
		limit := s.holdLimit(k)
		if limit-s.held < min(readBuf, limit/8) {
			continue
		}
		// Take the list first: settling may stall a client again, onto
		// a fresh list. Marking before settling skips duplicates (a
		// client stalled, moved to the other class and back).
		s.stalled[k] = nil
		n := 0
		for _, c := range list {
			if c.stalled == k && !c.closed {
				c.stalled = notStalled
				list[n] = c
				n++
			}
		}
		for i, c := range list[:n] {
			list[i] = nil
			s.settle(c)
		}
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("stalled clients resumed", "clients", n, "held", s.held, "client_memory", s.set.ClientMemory)
		}
	}
}

// wantsInput reports whether c's input is wanted now; stalled is set when
// only the budget stands in the way.
func (s *Server) wantsInput(c *conn) (want, stalled bool) {
	switch c.state {
	case stateOpen:
		if c.eof || c.pending() >= outLimit {
			return false, false
		}
		if s.readRoom(c) == 0 {
			return false, true
		}
		return true, false
	case stateLingering:
		return true, false
	}
	return false, false
}

// Buffered reports the bytes stream clients hold now, and the most they
// held at once since New. Safe to call from any goroutine.
func (s *Server) Buffered() (now, peak int64) {
	return s.heldNow.Load(), s.heldPeak.Load()
}
