package dgram

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is one socket file descriptor, nonblocking and close-on-exec,
// registered with the Go runtime poller. Every call that would block parks
// the calling goroutine in the poller (never an OS thread, never a loop);
// deadlines, context cancellation and Close wake it.
//
// A Socket is safe for concurrent use. Reads may run alongside writes;
// concurrent readers (or writers) are served one datagram each.
type Socket struct {
	file   *os.File
	rc     syscall.RawConn
	family int
	sotype int
	proto  int

	// nonblock makes calls that would wait fail with EAGAIN instead
	// (socket_set_nonblock). The descriptor is nonblocking either way.
	nonblock atomic.Bool
	closed   atomic.Bool
	lastErr  atomic.Pointer[Error]

	zones zones // IPv6 zone names of this socket's network namespace

	// The caller's deadlines in Unix nanoseconds (0 = none), kept so that a
	// context-aware call can put them back after its context fired.
	readDeadline, writeDeadline atomic.Int64

	// recvOp is the scratch of the last RecvBatch, kept for the next one
	// (see takeRecvOp).
	recvOp atomic.Pointer[batchOp]

	// kernelWait: RecvBatchWait turned O_NONBLOCK off; rcvTimeo is the
	// SO_RCVTIMEO it last set, in nanoseconds (0: never set); waitIdle:
	// its last wait slice ran out without a datagram.
	kernelWait atomic.Bool
	waitIdle   atomic.Bool
	rcvTimeo   atomic.Int64

	// keepSend: sends enter the kernel without leaving the processor
	// (SetSendKeepsProcessor).
	keepSend atomic.Bool
}

// Open is socket_create: a new socket of the given family (unix.AF_INET,
// AF_INET6, AF_UNIX), type (unix.SOCK_DGRAM, SOCK_STREAM, SOCK_SEQPACKET,
// SOCK_RAW) and protocol (0 for the default).
func Open(family, sotype, proto int) (*Socket, error) {
	fd, err := unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, &Error{Op: "socket", Addr: describeKind(family, sotype), Err: os.NewSyscallError("socket", err)}
	}
	return newSocket(fd, family, sotype, proto, "socket")
}

// Pair is socket_create_pair: two connected unix-domain sockets of the given
// type (SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET).
func Pair(sotype int) (*Socket, *Socket, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &Error{Op: "socketpair", Addr: describeKind(unix.AF_UNIX, sotype), Err: os.NewSyscallError("socketpair", err)}
	}
	a, err := newSocket(fds[0], unix.AF_UNIX, sotype, 0, "socketpair")
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := newSocket(fds[1], unix.AF_UNIX, sotype, 0, "socketpair")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// FromFile adopts a duplicate of a socket descriptor held by f (for example
// from systemd socket activation or another library). The family and type are
// read from the kernel. f stays the caller's to close. The descriptor is
// taken through f.SyscallConn, never f.Fd, which would switch the shared
// socket to blocking mode.
func FromFile(f *os.File) (*Socket, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, &Error{Op: "adopt", Addr: f.Name(), Err: err}
	}
	nfd := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) { nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, &Error{Op: "adopt", Addr: f.Name(), Err: err}
	}
	if dupErr != nil {
		return nil, &Error{Op: "dup", Addr: f.Name(), Err: os.NewSyscallError("fcntl", dupErr)}
	}
	return fromFD(nfd)
}

// FromFD takes ownership of the socket descriptor fd: it is made nonblocking
// and close-on-exec, and closed when the Socket is (or when FromFD fails).
func FromFD(fd int) (*Socket, error) {
	unix.CloseOnExec(fd)
	return fromFD(fd)
}

func fromFD(fd int) (*Socket, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, &Error{Op: "fcntl O_NONBLOCK", Err: os.NewSyscallError("fcntl", err)}
	}
	family, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	sotype, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, err3 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			unix.Close(fd)
			return nil, &Error{Op: "getsockopt SO_DOMAIN/SO_TYPE", Addr: fmt.Sprintf("fd %d", fd), Err: os.NewSyscallError("getsockopt", err)}
		}
	}
	return newSocket(fd, family, sotype, proto, "adopt")
}

// newSocket registers fd with the runtime poller. On failure fd is closed:
// no error path leaks a descriptor.
func newSocket(fd, family, sotype, proto int, op string) (*Socket, error) {
	f := os.NewFile(uintptr(fd), describeKind(family, sotype))
	if f == nil {
		unix.Close(fd)
		return nil, &Error{Op: op, Err: unix.EBADF}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, &Error{Op: op, Err: err}
	}
	return &Socket{file: f, rc: rc, family: family, sotype: sotype, proto: proto}, nil
}

func describeKind(family, sotype int) string {
	fam := map[int]string{unix.AF_INET: "inet", unix.AF_INET6: "inet6", unix.AF_UNIX: "unix", unix.AF_PACKET: "packet", unix.AF_NETLINK: "netlink"}[family]
	if fam == "" {
		fam = fmt.Sprintf("family %d", family)
	}
	typ := map[int]string{unix.SOCK_DGRAM: "dgram", unix.SOCK_STREAM: "stream", unix.SOCK_SEQPACKET: "seqpacket", unix.SOCK_RAW: "raw"}[sotype]
	if typ == "" {
		typ = fmt.Sprintf("type %d", sotype)
	}
	return fam + "/" + typ
}

// Family returns the address family the socket was opened with.
func (s *Socket) Family() int { return s.family }

// Type returns the socket type (unix.SOCK_DGRAM, SOCK_STREAM, ...).
func (s *Socket) Type() int { return s.sotype }

// Protocol returns the protocol number (0 when the default was chosen).
func (s *Socket) Protocol() int { return s.proto }

func (s *Socket) String() string { return describeKind(s.family, s.sotype) }

// File returns a duplicate of the descriptor as an *os.File that the caller
// owns and closes, as (*net.UDPConn).File does: for a child process
// (exec.Cmd.ExtraFiles) or for SCM_RIGHTS. The Socket is unaffected by
// anything done to the duplicate's *os.File (its Fd method may switch the
// descriptor to blocking mode; the Socket's calls stay nonblocking through
// MSG_DONTWAIT).
func (s *Socket) File() (*os.File, error) {
	nfd := -1
	err := s.control("dup", "", func(fd int) (err error) {
		nfd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return osErr("fcntl", err)
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), s.String()), nil
}

// SyscallConn gives raw access to the descriptor through the poller, as
// *net.UDPConn does; it lets x/net and other libraries set options on s.
func (s *Socket) SyscallConn() (syscall.RawConn, error) { return s.rc, nil }

// Close is socket_close. Every goroutine blocked in a call on s returns
// an error matching net.ErrClosed. Closing twice returns that error too.
func (s *Socket) Close() error {
	s.closed.Store(true)
	err := s.file.Close()
	s.dropRecvOp()
	return s.wrapErr("close", "", err)
}

// SetNonblock is socket_set_nonblock (on=true) and socket_set_block
// (on=false). In nonblocking mode a call that would wait fails at once with
// an error matching unix.EAGAIN; in blocking mode (the default) it waits in
// the poller until ready, a deadline, or Close.
func (s *Socket) SetNonblock(on bool) { s.nonblock.Store(on) }

// Nonblock reports whether the socket is in nonblocking mode.
func (s *Socket) Nonblock() bool { return s.nonblock.Load() }

// SetDeadline sets the read and write deadlines; a zero t means none.
func (s *Socket) SetDeadline(t time.Time) error {
	s.readDeadline.Store(unixNano(t))
	s.writeDeadline.Store(unixNano(t))
	return s.wrapErr("set deadline", "", s.file.SetDeadline(t))
}

// SetReadDeadline bounds every receive, accept and readiness wait.
func (s *Socket) SetReadDeadline(t time.Time) error {
	s.readDeadline.Store(unixNano(t))
	return s.wrapErr("set read deadline", "", s.file.SetReadDeadline(t))
}

// SetWriteDeadline bounds every send and connect.
func (s *Socket) SetWriteDeadline(t time.Time) error {
	s.writeDeadline.Store(unixNano(t))
	return s.wrapErr("set write deadline", "", s.file.SetWriteDeadline(t))
}

// control runs fn with the descriptor, holding it against a concurrent
// Close. For calls that never wait (options, bind, names).
func (s *Socket) control(op, addr string, fn func(fd int) error) error {
	var opErr error
	if err := s.rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return s.wrapErr(op, addr, err)
	}
	return s.wrapErr(op, addr, opErr)
}

// watch makes the waits of one call end when ctx ends. It does not start a
// goroutine per call: context.AfterFunc runs only if ctx is cancelled, and
// then pulls the deadline into the past so the poller wakes the waiter.
// The returned function puts the caller's own deadline back and turns the
// deadline error into ctx.Err() when the context was what ended the wait.
// It takes and returns unwrapped errors.
func (s *Socket) watch(ctx context.Context, read bool) func(error) error {
	if ctx.Done() == nil {
		return func(err error) error { return err }
	}
	setDeadline, own := s.file.SetWriteDeadline, &s.writeDeadline
	if read {
		setDeadline, own = s.file.SetReadDeadline, &s.readDeadline
	}
	restore := func(err error) error {
		if d := own.Load(); d != 0 {
			setDeadline(time.Unix(0, d))
		} else {
			setDeadline(time.Time{})
		}
		// Only the wait is turned into the context's error: a call that
		// got its datagram before the context ended returns it.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ctx.Err()
		}
		return err
	}
	if ctx.Err() != nil {
		// Already over: a deadline in the past makes the poller refuse
		// the call before it takes anything from the socket.
		setDeadline(time.Unix(1, 0))
		return restore
	}
	w := newWaker(ctx, func() { setDeadline(time.Unix(1, 0)) })
	return func(err error) error {
		if !w.finish() {
			return err
		}
		return restore(err)
	}
}

// waker runs wake once when ctx ends, unless finish came first. The mutex
// makes the two exclusive: once finish returns, wake has either run to the
// end or will never run, so a late wake cannot spoil the next call's
// deadline.
type waker struct {
	mu       sync.Mutex
	fired    bool
	finished bool
	stop     func() bool
}

func newWaker(ctx context.Context, wake func()) *waker {
	w := &waker{}
	w.stop = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.finished {
			w.fired = true
			wake()
		}
	})
	return w
}

// finish disarms the waker and reports whether wake ran.
func (w *waker) finish() bool {
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	return w.fired
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
