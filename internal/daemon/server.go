package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/echoguard"
	"github.com/bcastdev/bcast/multicast"
	"golang.org/x/sys/unix"
)

// Mode says what the server does with what clients send.
type Mode int

const (
	// Echo replies to each line with the line itself; "quit" closes the
	// connection. Datagrams are sent back to their sender.
	Echo Mode = iota
	// Discard reads and drops everything (RFC 863).
	Discard
)

// ParseMode reads "echo" or "discard".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "echo":
		return Echo, nil
	case "discard":
		return Discard, nil
	}
	return 0, fmt.Errorf("unknown mode %q: want echo or discard", s)
}

func (m Mode) String() string {
	if m == Discard {
		return "discard"
	}
	return "echo"
}

// Settings are the limits of a Server. Reload changes them while it runs.
type Settings struct {
	// MaxClients bounds the stream connections served at once; a client
	// over the limit is told so and disconnected.
	MaxClients int
	// IdleTimeout closes a connection that moved no byte either way for
	// this long; 0 means never.
	IdleTimeout time.Duration
	// MaxLine is the longest line accepted in echo mode, not counting
	// '\n'. A longer line gets an error reply and the connection closes.
	// A datagram longer than MaxLine+1 (64 KiB at most) gets the error
	// reply instead of its echo.
	MaxLine int
	// ShutdownTimeout is how long Serve lets clients finish once its
	// context ends, before closing them.
	ShutdownTimeout time.Duration
	// ClientMemory bounds the bytes all stream clients hold together
	// between reads: reply backlogs and unfinished lines (see budget.go).
	ClientMemory int64
}

// Config is everything New needs.
type Config struct {
	Mode     Mode
	Settings Settings
	Reply    ReplyPolicy  // which datagrams echo mode answers
	Logger   *slog.Logger // nil: slog.Default()
}

const (
	// outLimit is the reply backlog at which a connection stops being
	// read until its peer takes what was sent: a client that writes but
	// never reads costs at most this much memory, not all it sends.
	outLimit = 256 << 10
	// readBuf is the size of the one buffer all reads go through.
	readBuf = 64 << 10
	// readsPerEvent and acceptsPerEvent bound the work done for one
	// socket before the others get their turn.
	readsPerEvent   = 4
	acceptsPerEvent = 64
	// lingerTimeout bounds how long a closing connection is read (and its
	// input dropped) after its replies were sent and our side shut, so
	// that the client reads them instead of a reset.
	lingerTimeout = 2 * time.Second
	// acceptPause is how long accepting stops after the process ran out
	// of descriptors or memory; a level-triggered listener would
	// otherwise report itself ready in a tight loop.
	acceptPause = 100 * time.Millisecond
	// maxDatagram is the largest datagram read whole.
	maxDatagram = 64 << 10
	// logEvery spaces out warnings that a flood could repeat.
	logEvery = 5 * time.Second
)

// Server serves a set of listeners: one goroutine, around one epoll-based
// dgram.Poller, watches the stream listeners and every client socket, all
// of them nonblocking, so no client can hold up another however slowly it
// reads or writes; each datagram listener has a goroutine of its own (see
// packetServer).
type Server struct {
	mode Mode
	set  Settings
	log  *slog.Logger

	poller       *dgram.Poller
	wakeR, wakeW *dgram.Socket

	listeners []*Listener
	handlers  map[*dgram.Socket]any // *Listener, *conn or wakeup{}
	active    connList              // open and closing connections, least recently active first
	linger    connList              // connections whose write side is shut, oldest first
	scratch   []byte
	ready     []dgram.Ready
	now       time.Time

	draining      bool
	drainDeadline time.Time
	hurried       bool // Hurry was called: the shutdown, now or to come, takes no time

	stats stats
	warn  warnings

	// The client memory budget (budget.go).
	held              int64        // bytes clients hold between events
	heldNow, heldPeak atomic.Int64 // held, and its highest, for other goroutines
	replyShared       []byte       // the reply buffer clients borrow during an event
	stalled           [3][]*conn   // clients waiting for room, by class

	replyPolicy ReplyPolicy
	addrs       *broadcast.Addrs // this host's addresses, for the reply checks; nil until a UDP listener is added

	// The datagram listeners' goroutines, and what they read of the
	// settings: MaxLine, which Reload changes.
	packetServers []*packetServer
	packets       sync.WaitGroup
	packetsJoined bool
	maxLine       atomic.Int64

	mu      sync.Mutex // guards what other goroutines hand to the loop
	pending *Settings
	hurry   bool
	served  bool
}

type stats struct {
	accepted, rejected, closed uint64
	datagrams, dropped         uint64
}

type wakeup struct{}

// New makes a Server. Add listeners, then call Serve.
func New(cfg Config) (*Server, error) {
	t := Tunables{Settings: cfg.Settings}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	p, err := dgram.NewPoller()
	if err != nil {
		return nil, err
	}
	// Reload and Hurry come from other goroutines (signal handlers); a
	// byte on this pair wakes the loop out of Wait to pick them up.
	r, w, err := dgram.Pair(unix.SOCK_DGRAM)
	if err != nil {
		p.Close()
		return nil, err
	}
	r.SetNonblock(true)
	w.SetNonblock(true)
	if err := p.Add(r, dgram.Readable); err != nil {
		p.Close()
		r.Close()
		w.Close()
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		mode: cfg.Mode, set: cfg.Settings, log: log,
		poller: p, wakeR: r, wakeW: w,
		handlers:    map[*dgram.Socket]any{r: wakeup{}},
		scratch:     make([]byte, readBuf),
		warn:        warnings{},
		replyPolicy: cfg.Reply,
	}
	s.maxLine.Store(int64(cfg.Settings.MaxLine))
	s.active.init()
	s.linger.init()
	return s, nil
}

// Add hands l to the server, which closes it when Serve returns (or at
// once if Serve already ran).
func (s *Server) Add(l *Listener) error {
	s.mu.Lock()
	served := s.served
	s.mu.Unlock()
	if served {
		l.Close()
		return errors.New("daemon: Add after Serve")
	}
	if !l.stream() {
		if err := s.guardPackets(l); err != nil {
			return err
		}
		s.listeners = append(s.listeners, l)
		return nil
	}
	if err := s.poller.Add(l.sock, dgram.Readable); err != nil {
		return err
	}
	s.listeners = append(s.listeners, l)
	s.handlers[l.sock] = l
	return nil
}

// Close releases a Server whose Serve was never called, with the
// listeners it was given. (Serve releases everything itself.)
func (s *Server) Close() {
	s.mu.Lock()
	served := s.served
	s.served = true
	s.mu.Unlock()
	if !served {
		s.release()
	}
}

// Reload replaces the settings of a running server; connections already
// open keep going under the new limits. Safe to call from any goroutine.
func (s *Server) Reload(set Settings) error {
	if err := (Tunables{Settings: set}).Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.pending = &set
	s.mu.Unlock()
	s.wake()
	return nil
}

// Hurry ends the graceful shutdown at once, or makes it immediate when it
// has not started yet: every client still connected is closed. Safe to
// call from any goroutine.
func (s *Server) Hurry() {
	s.mu.Lock()
	s.hurry = true
	s.mu.Unlock()
	s.wake()
}

func (s *Server) wake() {
	// EAGAIN means wake-ups are already queued; one is enough.
	s.wakeW.Send([]byte{0}, 0)
}

// Serve runs the event loop until ctx ends, then shuts down gracefully:
// the listeners close at once (no new clients), input that already arrived
// is answered, and each connection closes once its replies are sent, or
// when ShutdownTimeout has passed. It returns nil after a shutdown, or the
// error that stopped the loop. Everything the Server holds is closed when
// it returns.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return errors.New("daemon: Serve called twice")
	}
	s.served = true
	s.mu.Unlock()
	defer s.release()

	for _, l := range s.listeners {
		attrs := []any{"network", l.network, "addr", l.addr.String(), "mode", s.mode.String()}
		if l.name != "" {
			attrs = append(attrs, "fd_name", l.name)
		}
		s.log.Info("listening", attrs...)
	}
	attrs := []any{"listeners", len(s.listeners), "max_clients", s.set.MaxClients,
		"idle_timeout", s.set.IdleTimeout.String(), "max_line", s.set.MaxLine, "client_memory", s.set.ClientMemory}
	if wait := s.startPackets(); wait != "" {
		attrs = append(attrs, "datagram_wait", wait)
	}
	s.log.Info("serving", attrs...)
	// The context reaches the loop through the wake-up socket: handing it
	// to every Wait would cost a context.AfterFunc per iteration.
	stop := context.AfterFunc(ctx, s.wake)
	defer stop()
	for {
		var err error
		s.ready, err = s.poller.Wait(context.Background(), s.nextTimeout(), s.ready[:0])
		s.now = time.Now()
		if err != nil {
			return err
		}
		if !s.draining && ctx.Err() != nil {
			s.beginDrain()
		}
		for i, r := range s.ready {
			s.dispatch(r)
			s.ready[i] = dgram.Ready{} // drop the reference until the next Wait
		}
		s.expire()
		s.resumeStalled()
		if s.draining && s.active.n == 0 && s.linger.n == 0 {
			s.joinPackets()
			counts := s.notAnswered()
			attrs := []any{"accepted", s.stats.accepted, "rejected", s.stats.rejected, "client_memory_peak", s.heldPeak.Load(),
				"datagrams", s.stats.datagrams, "replies_dropped", s.stats.dropped, "not_answered", counts.Suppressed()}
			s.log.Info("stopped", append(attrs, counts.Attrs()...)...)
			return nil
		}
	}
}

func (s *Server) dispatch(r dgram.Ready) {
	switch h := s.handlers[r.Socket].(type) {
	case *conn:
		s.serveConn(h, r.Events)
	case *Listener:
		s.accept(h)
	case wakeup:
		s.woken()
	}
}

// woken empties the wake-up socket and applies what was handed over.
func (s *Server) woken() {
	var b [16]byte
	for range 64 {
		if _, err := s.wakeR.Recv(b[:], 0); err != nil {
			break
		}
	}
	s.mu.Lock()
	pending, hurry := s.pending, s.hurry
	s.pending, s.hurry = nil, false
	s.mu.Unlock()
	if pending != nil {
		s.set = *pending
		s.maxLine.Store(int64(s.set.MaxLine))
		s.log.Info("settings reloaded", "max_clients", s.set.MaxClients, "idle_timeout", s.set.IdleTimeout.String(),
			"max_line", s.set.MaxLine, "shutdown_timeout", s.set.ShutdownTimeout.String(), "client_memory", s.set.ClientMemory)
		if s.draining && s.drainDeadline.After(s.now.Add(s.set.ShutdownTimeout)) {
			s.drainDeadline = s.now.Add(s.set.ShutdownTimeout)
		}
	}
	if hurry {
		s.hurried = true
		if s.draining {
			s.drainDeadline = s.now
		}
	}
}

// nextTimeout is how long Wait may sleep: until the earliest idle
// deadline, linger deadline, accept pause end or shutdown deadline.
func (s *Server) nextTimeout() time.Duration {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if c := s.active.front(); c != nil && s.set.IdleTimeout > 0 {
		consider(c.last.Add(s.set.IdleTimeout))
	}
	if c := s.linger.front(); c != nil {
		consider(c.last.Add(s.lingerTimeout()))
	}
	for _, l := range s.listeners {
		if !l.pausedUntil.IsZero() && !l.closed {
			consider(l.pausedUntil)
		}
	}
	if s.draining {
		consider(s.drainDeadline)
	}
	if next.IsZero() {
		return -1
	}
	// Round up: waking a hair early would only go back to sleep.
	return max(time.Until(next)+time.Millisecond, 0)
}

func (s *Server) lingerTimeout() time.Duration {
	if s.set.IdleTimeout > 0 && s.set.IdleTimeout < lingerTimeout {
		return s.set.IdleTimeout
	}
	return lingerTimeout
}

// expire closes the connections whose time ran out and resumes paused
// listeners.
func (s *Server) expire() {
	if s.set.IdleTimeout > 0 {
		for c := s.active.front(); c != nil && !s.now.Before(c.last.Add(s.set.IdleTimeout)); c = s.active.front() {
			s.closeConn(c, "idle timeout", nil)
		}
	}
	for c := s.linger.front(); c != nil && !s.now.Before(c.last.Add(s.lingerTimeout())); c = s.linger.front() {
		s.closeConn(c, c.reason, nil)
	}
	for _, l := range s.listeners {
		if !l.pausedUntil.IsZero() && !s.now.Before(l.pausedUntil) && !l.closed {
			l.pausedUntil = time.Time{}
			if err := s.poller.Modify(l.sock, dgram.Readable); err != nil {
				s.log.Error("resuming accept", "addr", l.addr.String(), "err", err)
			}
		}
	}
	if s.draining && !s.now.Before(s.drainDeadline) {
		n := s.active.n + s.linger.n
		if n > 0 {
			s.log.Warn("shutdown deadline passed: closing clients", "clients", n)
		}
		for c := s.active.front(); c != nil; c = s.active.front() {
			s.closeConn(c, "shutdown deadline", nil)
		}
		for c := s.linger.front(); c != nil; c = s.linger.front() {
			s.closeConn(c, "shutdown deadline", nil)
		}
	}
}

// beginDrain starts the graceful shutdown.
func (s *Server) beginDrain() {
	s.draining = true
	s.drainDeadline = s.now.Add(s.set.ShutdownTimeout)
	if s.hurried {
		s.drainDeadline = s.now
	}
	for _, l := range s.listeners {
		s.closeListener(l)
	}
	s.log.Info("shutting down", "clients", s.active.n+s.linger.n, "deadline", s.set.ShutdownTimeout.String())
	// Collect first: serving a connection moves it between lists.
	var open []*conn
	for c := s.active.front(); c != nil; c = s.active.after(c) {
		if c.state == stateOpen {
			open = append(open, c)
		}
	}
	for _, c := range open {
		if !c.eof {
			s.readConn(c) // answer what already arrived
		}
		if c.closed {
			continue
		}
		if c.state == stateOpen {
			s.echoPartial(c)
			s.startClose(c, "shutdown")
		}
		s.flush(c)
		if !c.closed {
			s.keep(c)
			s.settle(c)
		}
	}
}

// echoPartial answers, at shutdown, the line c had started without ending
// it: an echo client (nc) expects back what it typed, and the connection
// is about to close, so the line is ended for it with '\n'.
func (s *Server) echoPartial(c *conn) {
	if s.mode != Echo {
		return
	}
	last := c.lines.take()
	if len(last) == 0 || isQuit(last) {
		return
	}
	if c.sent > 0 {
		c.out = c.out[:copy(c.out, c.out[c.sent:])]
		c.sent = 0
	}
	s.replyBuf(c)
	c.out = append(append(c.out, last...), '\n')
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("unterminated line echoed at shutdown", "network", c.network, "peer", c.peer.String(), "bytes", len(last))
	}
}

func (s *Server) closeListener(l *Listener) {
	if l.closed {
		return
	}
	l.pausedUntil = time.Time{}
	if l.stream() {
		s.poller.Remove(l.sock)
		delete(s.handlers, l.sock)
	}
	// A datagram listener's goroutine sees the socket closed, within
	// 25 ms if it is waiting in the kernel, and ends.
	if err := l.Close(); err != nil {
		s.log.Warn("closing listener", "network", l.network, "addr", l.addr.String(), "err", err)
	}
}

// release closes everything still open when Serve returns.
func (s *Server) release() {
	for c := s.active.front(); c != nil; c = s.active.front() {
		s.closeConn(c, "server stopped", nil)
	}
	for c := s.linger.front(); c != nil; c = s.linger.front() {
		s.closeConn(c, "server stopped", nil)
	}
	for _, l := range s.listeners {
		s.closeListener(l)
	}
	s.joinPackets()
	s.poller.Close()
	s.wakeR.Close()
	s.wakeW.Close()
	if s.addrs != nil {
		s.addrs.Close()
	}
}

// startPackets starts a goroutine for each datagram listener and says where
// they wait: "kernel", "poller", or "" when there is no datagram listener.
// A goroutine waiting in the kernel holds one of GOMAXPROCS processors
// while datagrams keep coming; they do so only while one is left for the
// event loop (or when there is no stream listener for it to serve), else
// they wait in the runtime poller.
func (s *Server) startPackets() string {
	var packets, streams int
	for _, l := range s.listeners {
		if l.stream() {
			streams++
		} else {
			packets++
		}
	}
	kernel := streams == 0 || packets < runtime.GOMAXPROCS(0)
	for _, l := range s.listeners {
		if l.stream() || l.closed {
			continue
		}
		p := &packetServer{s: s, l: l, kernel: kernel, warn: warnings{}}
		if l.addr.Unix {
			p.dirs = newDirTrust(s.replyPolicy.ReplyDirs)
		} else if s.addrs != nil {
			p.addrs = s.addrs.Memo()
		}
		// The goroutine waits in its receive (every other call on the
		// socket passes MSG_DONTWAIT), and its replies keep the processor
		// as its kernel waits do (see dgram.Socket.SetSendKeepsProcessor).
		l.sock.SetNonblock(false)
		l.sock.SetSendKeepsProcessor(kernel)
		s.packetServers = append(s.packetServers, p)
		s.packets.Add(1)
		go p.run()
	}
	switch {
	case packets == 0:
		return ""
	case kernel:
		return "kernel"
	}
	return "poller"
}

// joinPackets waits for the datagram listeners' goroutines, which end once
// their sockets are closed, and adds up their counts.
func (s *Server) joinPackets() {
	if s.packetsJoined {
		return
	}
	s.packets.Wait()
	s.packetsJoined = true
	for _, p := range s.packetServers {
		s.stats.datagrams += p.datagrams
		s.stats.dropped += p.dropped
	}
}

// guardPackets prepares datagram listener l for echo: a Guard of its own
// (its port is the one never answered), this host's addresses to check
// sources against, and only the multicast groups l itself joined (none):
// with IP_MULTICAST_ALL on, a wildcard socket would take in every group
// that any program on the host joined.
func (s *Server) guardPackets(l *Listener) error {
	l.guard = echoguard.New(s.replyPolicy.guardConfig(l.addr.AddrPort.Port()))
	if l.addr.Unix {
		return nil
	}
	if err := multicast.SetMulticastAll(l.sock, false); err != nil {
		return fmt.Errorf("%s %s: %w", l.network, l.addr, err)
	}
	if s.addrs == nil {
		a, err := broadcast.WatchAddrs()
		if err != nil {
			return fmt.Errorf("watching this host's addresses: %w", err)
		}
		s.addrs = a
	}
	return nil
}

// NotAnswered returns, by reason, the datagrams echo mode did not answer
// on every datagram listener. Call it after Serve returned.
func (s *Server) NotAnswered() echoguard.Counts { return s.notAnswered() }

func (s *Server) notAnswered() echoguard.Counts {
	var all echoguard.Counts
	for _, l := range s.listeners {
		if l.guard != nil {
			c := l.guard.Counts()
			for i := range all {
				all[i] += c[i]
			}
		}
	}
	return all
}

// accept takes the connections waiting on l.
func (s *Server) accept(l *Listener) {
	for range acceptsPerEvent {
		cs, peer, err := l.sock.Accept()
		if err != nil {
			s.acceptFailed(l, err)
			return
		}
		if s.active.n+s.linger.n >= s.set.MaxClients {
			s.reject(cs, peer)
			continue
		}
		cs.SetNonblock(true)
		c := &conn{sock: cs, peer: peer, network: l.network, since: s.now}
		if err := s.poller.Add(cs, dgram.Readable); err != nil {
			s.log.Error("watching client", "peer", peer.String(), "err", err)
			cs.Close()
			continue
		}
		c.interest = dgram.Readable
		s.handlers[cs] = c
		c.last = s.now
		s.active.pushBack(c)
		s.stats.accepted++
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("client connected", "network", l.network, "peer", peer.String(), "clients", s.active.n+s.linger.n)
		}
	}
}

func (s *Server) acceptFailed(l *Listener, err error) {
	switch dgram.Errno(err) {
	case unix.EAGAIN:
		return
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		// The connection stays queued; try again shortly rather than
		// spin on a listener that stays readable.
		l.pausedUntil = s.now.Add(acceptPause)
		if err := s.poller.Modify(l.sock, 0); err != nil {
			s.log.Error("pausing accept", "addr", l.addr.String(), "err", err)
		}
	}
	if n, ok := s.warn.limit("accept "+l.addr.String(), s.now); ok {
		s.log.Warn("accept failed", "network", l.network, "addr", l.addr.String(), "err", err, "repeats", n)
	}
}

// reject tells a client over --max-clients why it is turned away. The
// write is nonblocking; a client that cannot take these few bytes right
// after connecting does not get them.
func (s *Server) reject(cs *dgram.Socket, peer dgram.Addr) {
	cs.SetNonblock(true)
	cs.Send(fmt.Appendf(nil, "error: too many clients (max %d)\n", s.set.MaxClients), 0)
	cs.Close()
	s.stats.rejected++
	if n, ok := s.warn.limit("max-clients", s.now); ok {
		s.log.Warn("client rejected: max-clients reached", "peer", peer.String(), "max_clients", s.set.MaxClients, "repeats", n)
	}
}

// warnings lets each kind of repeated warning through once per logEvery
// and counts the ones held back.
type warnings map[string]*rateLimit

type rateLimit struct {
	last       time.Time
	suppressed int
}

// limit reports whether the warning key may be logged at now, and how many
// were held back since the last one.
func (w warnings) limit(key string, now time.Time) (int, bool) {
	r := w[key]
	if r == nil {
		r = &rateLimit{}
		w[key] = r
	}
	if !r.last.IsZero() && now.Sub(r.last) < logEvery {
		r.suppressed++
		return 0, false
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return n, true
}
