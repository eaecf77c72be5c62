package dgram

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Events is a set of readiness conditions.
type Events uint32

const (
	Readable Events = unix.EPOLLIN    // data, a connection to accept, or EOF
	Writable Events = unix.EPOLLOUT   // room to send, or a finished connect
	Priority Events = unix.EPOLLPRI   // out-of-band data
	Hangup   Events = unix.EPOLLHUP   // both directions closed (always reported)
	PeerShut Events = unix.EPOLLRDHUP // the peer shut down its write side
	Failed   Events = unix.EPOLLERR   // an error is pending: read it with SO_ERROR (always reported)
	allEvent        = Readable | Writable | Priority | PeerShut
)

func (e Events) String() string {
	names := []struct {
		ev   Events
		name string
	}{{Readable, "readable"}, {Writable, "writable"}, {Priority, "priority"}, {Hangup, "hangup"}, {PeerShut, "peer-shut"}, {Failed, "error"}}
	out := ""
	for _, n := range names {
		if e&n.ev != 0 {
			if out != "" {
				out += "|"
			}
			out += n.name
		}
	}
	if out == "" {
		return "none"
	}
	return out
}

// Ready is one socket that Wait found ready.
type Ready struct {
	Socket *Socket
	Events Events
}

// Poller watches many sockets for readiness: socket_select without the
// fd_set limits, for one goroutine serving many clients. It is an epoll
// instance that is itself registered with the Go runtime poller, so Wait
// parks the goroutine (no OS thread blocked, no busy loop); deadlines,
// contexts and Close wake it.
//
// Sockets are watched level-triggered: a socket stays ready until it is
// drained. A Socket closed while registered is dropped by the kernel; call
// Remove first to also drop it from the Poller's table.
type Poller struct {
	file   *os.File
	rc     syscall.RawConn
	epfd   int
	closed atomic.Bool

	mu     sync.Mutex
	byTok  map[uint64]*Socket
	tokens map[*Socket]uint64
	next   uint64

	// Wait's scratch, serialised by waitMu; pollFn is bound once so that a
	// Wait allocates nothing.
	waitMu   sync.Mutex
	events   []unix.EpollEvent
	got      int
	waitErr  error
	justLook bool
	pollFn   func(uintptr) bool
}

// poll runs inside the runtime poller's read callback: false parks until the
// epoll descriptor turns readable.
func (p *Poller) poll(uintptr) bool {
	for {
		n, err := unix.EpollWait(p.epfd, p.events, 0)
		if err == unix.EINTR {
			continue
		}
		p.got, p.waitErr = n, err
		return err != nil || n > 0 || p.justLook
	}
}

// NewPoller makes an empty Poller.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, &Error{Op: "epoll_create1", Err: os.NewSyscallError("epoll_create1", err)}
	}
	// The runtime poller needs a nonblocking descriptor to take it in.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, &Error{Op: "fcntl O_NONBLOCK", Err: os.NewSyscallError("fcntl", err)}
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, &Error{Op: "epoll", Err: err}
	}
	p := &Poller{file: f, rc: rc, epfd: epfd, byTok: map[uint64]*Socket{}, tokens: map[*Socket]uint64{}, events: make([]unix.EpollEvent, 128)}
	p.pollFn = p.poll
	return p, nil
}

// Close releases the Poller; a goroutine in Wait returns net.ErrClosed. The
// sockets are not closed.
func (p *Poller) Close() error {
	p.closed.Store(true)
	if err := p.file.Close(); err != nil {
		return &Error{Op: "close poller", Err: closedErr(err, true)}
	}
	return nil
}

// Add starts watching s for ev. Hangup and Failed are always reported.
func (p *Poller) Add(s *Socket, ev Events) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.tokens[s]; ok {
		return &Error{Op: "epoll_ctl add", Addr: s.String(), Err: os.NewSyscallError("epoll_ctl", unix.EEXIST)}
	}
	p.next++
	tok := p.next
	if err := p.ctl(unix.EPOLL_CTL_ADD, s, ev, tok); err != nil {
		return err
	}
	p.byTok[tok] = s
	p.tokens[s] = tok
	return nil
}

// Modify changes the events watched for s.
func (p *Poller) Modify(s *Socket, ev Events) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	tok, ok := p.tokens[s]
	if !ok {
		return &Error{Op: "epoll_ctl mod", Addr: s.String(), Err: os.NewSyscallError("epoll_ctl", unix.ENOENT)}
	}
	return p.ctl(unix.EPOLL_CTL_MOD, s, ev, tok)
}

// Remove stops watching s. Removing a socket that was closed already only
// drops it from the table.
func (p *Poller) Remove(s *Socket) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	tok, ok := p.tokens[s]
	if !ok {
		return &Error{Op: "epoll_ctl del", Addr: s.String(), Err: os.NewSyscallError("epoll_ctl", unix.ENOENT)}
	}
	delete(p.tokens, s)
	delete(p.byTok, tok)
	err := p.ctl(unix.EPOLL_CTL_DEL, s, 0, tok)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Len is the number of sockets watched.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tokens)
}

func (p *Poller) ctl(op int, s *Socket, ev Events, tok uint64) error {
	name := map[int]string{unix.EPOLL_CTL_ADD: "epoll_ctl add", unix.EPOLL_CTL_MOD: "epoll_ctl mod", unix.EPOLL_CTL_DEL: "epoll_ctl del"}[op]
	return s.control(name, "", func(fd int) error {
		e := unix.EpollEvent{Events: uint32(ev & allEvent)}
		// The event's 8 data bytes carry our token, not the fd: a closed
		// socket's number can be reused by a new one.
		e.Fd, e.Pad = int32(uint32(tok)), int32(uint32(tok>>32))
		if err := unix.EpollCtl(p.epfd, op, fd, &e); err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		return nil
	})
}

// Wait waits until at least one watched socket is ready, ctx ends, or the
// timeout passes (timeout < 0: no limit; 0: just look), and appends what is
// ready to dst. A timeout is not an error: it returns no Ready.
func (p *Poller) Wait(ctx context.Context, timeout time.Duration, dst []Ready) ([]Ready, error) {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	p.got, p.waitErr, p.justLook = 0, nil, timeout == 0
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	// The epoll descriptor is ours alone, so its deadline is free to carry
	// the timeout, and a cancelled ctx pulls it into the past.
	if timeout > 0 {
		p.file.SetReadDeadline(time.Now().Add(timeout))
	}
	var w *waker
	if ctx.Done() != nil {
		w = newWaker(ctx, func() { p.file.SetReadDeadline(time.Unix(1, 0)) })
	}
	err := p.rc.Read(p.pollFn)
	if w != nil {
		w.finish()
	}
	p.file.SetReadDeadline(time.Time{})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ctxErr := ctx.Err(); ctxErr != nil {
			return dst, ctxErr
		}
		return dst, nil // the timeout: nothing ready
	case err != nil:
		return dst, &Error{Op: "epoll_wait", Err: closedErr(err, p.closed.Load())}
	case p.waitErr != nil:
		return dst, &Error{Op: "epoll_wait", Err: os.NewSyscallError("epoll_wait", p.waitErr)}
	}
	p.mu.Lock()
	for _, e := range p.events[:p.got] {
		tok := uint64(uint32(e.Fd)) | uint64(uint32(e.Pad))<<32
		if s, ok := p.byTok[tok]; ok {
			dst = append(dst, Ready{Socket: s, Events: Events(e.Events)})
		}
	}
	p.mu.Unlock()
	return dst, nil
}

// Select is socket_select: it waits until a socket in read is readable or
// one in write is writable (or has an error), up to timeout (negative: no
// limit; zero: poll), and returns the ready subsets. It is the one-shot form;
// a server that selects in a loop should keep a Poller instead.
func Select(ctx context.Context, read, write []*Socket, timeout time.Duration) (readable, writable []*Socket, err error) {
	p, err := NewPoller()
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	want := map[*Socket]Events{}
	for _, s := range read {
		want[s] |= Readable
	}
	for _, s := range write {
		want[s] |= Writable
	}
	for s, ev := range want {
		if err := p.Add(s, ev); err != nil {
			return nil, nil, fmt.Errorf("select: %w", err)
		}
	}
	ready, err := p.Wait(ctx, timeout, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range ready {
		// An error or hangup makes a socket "ready" in both sets, as
		// select(2) does: the next call on it returns the error.
		bad := r.Events&(Failed|Hangup) != 0
		if want[r.Socket]&Readable != 0 && (r.Events&(Readable|PeerShut) != 0 || bad) {
			readable = append(readable, r.Socket)
		}
		if want[r.Socket]&Writable != 0 && (r.Events&Writable != 0 || bad) {
			writable = append(writable, r.Socket)
		}
	}
	return readable, writable, nil
}
