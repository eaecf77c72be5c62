package dgram

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Error is what every Socket method returns on failure. It keeps the system
// call, the address involved and the errno, so that errors.Is(err,
// unix.EMSGSIZE) and errors.As(err, *unix.Errno) work, and so that the message
// a person reads names the call, the address and the errno by its C name.
//
// Poller errors are kept as they are: errors.Is(err, os.ErrDeadlineExceeded)
// after a deadline, errors.Is(err, net.ErrClosed) after Close, and ctx.Err()
// when a context ended the wait.
type Error struct {
	Op   string // the system call or operation: "bind", "sendmsg", "setsockopt SO_BROADCAST", ...
	Addr string // the address the call was about, if any
	Err  error  // *os.SyscallError (wrapping a unix.Errno), or a poller or context error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dgram: ")
	b.WriteString(e.Op)
	if e.Addr != "" {
		b.WriteByte(' ')
		b.WriteString(e.Addr)
	}
	b.WriteString(": ")
	if errno, ok := errnoOf(e.Err); ok {
		b.WriteString(Strerror(errno))
	} else {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errno is the system error number behind e, or 0 when e is not a system call
// failure (a deadline, Close, or a bad argument caught before the kernel).
func (e *Error) Errno() unix.Errno {
	errno, _ := errnoOf(e.Err)
	return errno
}

// Timeout reports whether e is a deadline expiry, so that *Error satisfies
// the net.Error convention.
func (e *Error) Timeout() bool {
	if errors.Is(e.Err, os.ErrDeadlineExceeded) {
		return true
	}
	errno, ok := errnoOf(e.Err)
	return ok && errno.Timeout()
}

// Temporary is kept for net.Error; it is true for EAGAIN and EINTR.
func (e *Error) Temporary() bool {
	errno, ok := errnoOf(e.Err)
	return ok && errno.Temporary()
}

// Errno extracts the errno from any error returned by this package (or any
// error chain that holds a unix.Errno); 0 when there is none.
func Errno(err error) unix.Errno {
	errno, _ := errnoOf(err)
	return errno
}

func errnoOf(err error) (unix.Errno, bool) {
	if err == nil {
		return 0, false // errors.As would allocate for nothing
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno, true
	}
	return 0, false
}

// Strerror is socket_strerror: the text of an errno followed by its C name,
// e.g. "permission denied (EACCES)". People search for the C name; the text
// tells them what it means.
func Strerror(errno unix.Errno) string {
	name := unix.ErrnoName(errno)
	if name == "" {
		return fmt.Sprintf("%s (errno %d)", errno.Error(), uintptr(errno))
	}
	return errno.Error() + " (" + name + ")"
}

// ErrWrongFamily is returned when an address of one family is given to a
// socket of another (an IP address to a unix-domain socket, or IPv6 to IPv4).
var ErrWrongFamily = errors.New("address family does not match the socket")

// wrapErr builds the public error for a failed call and records it as the
// socket's last error.
func (s *Socket) wrapErr(op string, addr string, err error) error {
	if err == nil {
		return nil
	}
	if s != nil {
		err = closedErr(err, s.closed.Load())
	}
	e := &Error{Op: op, Addr: addr, Err: err}
	if s != nil {
		s.lastErr.Store(e)
	}
	return e
}

// closedErr makes a wait ended by Close match net.ErrClosed. The poller
// reports it for an *os.File as an unexported "use of closed file" error
// that matches nothing a caller can test, so the closed flag decides.
func closedErr(err error, closed bool) error {
	if !closed {
		return err
	}
	if _, isErrno := errnoOf(err); isErrno || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		return err
	}
	return net.ErrClosed
}

// syscallErr wraps a raw errno the way Go's net package does, so that the
// chain is *Error -> *os.SyscallError -> unix.Errno.
func syscallErr(call string, errno unix.Errno) error {
	return os.NewSyscallError(call, errno)
}

// LastError is socket_last_error for this socket: the most recent error any
// method of s returned, or nil. It is kept per socket (never global) and is
// safe to call from any goroutine.
func (s *Socket) LastError() error {
	if e := s.lastErr.Load(); e != nil {
		return e
	}
	return nil
}

// ClearError is socket_clear_error: it forgets the last error and returns it.
func (s *Socket) ClearError() error {
	if e := s.lastErr.Swap(nil); e != nil {
		return e
	}
	return nil
}
