package dgram

import (
	"context"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Bind is socket_bind. An empty unix path on an AF_UNIX socket asks the
// kernel for an autobound abstract name.
//
// To receive broadcasts, bind an IPv4 socket to the wildcard address
// (0.0.0.0): a socket bound to a unicast address does not see datagrams sent
// to a broadcast address, and nothing reports that they were dropped.
func (s *Socket) Bind(a Addr) error {
	var ra rawAddr
	if err := ra.set(a, s.family, s); err != nil {
		return s.wrapErr("bind", a.String(), err)
	}
	if a.IsZero() {
		ra.any.Addr.Family = uint16(s.family)
		ra.len = uint32(sockaddrLen(s.family))
	}
	return s.control("bind", a.String(), func(fd int) error {
		return rawSockaddrCall(unix.SYS_BIND, "bind", fd, &ra)
	})
}

func sockaddrLen(family int) int {
	switch family {
	case unix.AF_INET:
		return unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		return unix.SizeofSockaddrInet6
	}
	return 2 // sa_family_t only: autobind for AF_UNIX
}

func rawSockaddrCall(trap uintptr, name string, fd int, ra *rawAddr) error {
	_, _, e := unix.Syscall(trap, uintptr(fd), uintptr(ra.ptr()), uintptr(ra.len))
	if e != 0 {
		return syscallErr(name, e)
	}
	return nil
}

// Connect is socket_connect. On a datagram socket it fixes the peer (Write
// and Send go there, and only its datagrams are received); a zero Addr
// dissolves the association (AF_UNSPEC). On a stream socket it waits in the
// poller for the handshake, bounded by the write deadline.
func (s *Socket) Connect(a Addr) error {
	return s.ConnectContext(context.Background(), a)
}

// ConnectContext is Connect that gives up when ctx ends.
func (s *Socket) ConnectContext(ctx context.Context, a Addr) error {
	var ra rawAddr
	if a.IsZero() {
		ra.any.Addr.Family = unix.AF_UNSPEC
		ra.len = uint32(unsafe.Sizeof(ra.any.Addr))
	} else if err := ra.set(a, s.family, s); err != nil {
		return s.wrapErr("connect", a.String(), err)
	}
	var inProgress bool
	err := s.control("connect", a.String(), func(fd int) error {
		err := rawSockaddrCall(unix.SYS_CONNECT, "connect", fd, &ra)
		if Errno(err) == unix.EINPROGRESS {
			inProgress = true
			return nil
		}
		return err
	})
	if err != nil || !inProgress {
		return err
	}
	if s.nonblock.Load() {
		return s.wrapErr("connect", a.String(), syscallErr("connect", unix.EINPROGRESS))
	}
	// The handshake finishes when the socket turns writable; SO_ERROR then
	// holds its outcome. The poller calls fn once before it waits, while
	// the handshake may still be under way with SO_ERROR 0: only a peer
	// name (getpeername) says it is done, as Go's net checks too.
	done := s.watch(ctx, false)
	var soErr int
	var getErr error
	werr := s.rc.Write(func(fd uintptr) bool {
		soErr, getErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if getErr != nil {
			return true
		}
		switch unix.Errno(soErr) {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		case 0:
			_, perr := unix.Getpeername(int(fd))
			return perr != unix.ENOTCONN
		}
		return true
	})
	werr = done(werr)
	switch {
	case werr != nil:
		return s.wrapErr("connect", a.String(), werr)
	case getErr != nil:
		return s.wrapErr("connect", a.String(), os.NewSyscallError("getsockopt", getErr))
	case soErr != 0:
		return s.wrapErr("connect", a.String(), syscallErr("connect", unix.Errno(soErr)))
	}
	return nil
}

// Listen is socket_listen: mark a stream or seqpacket socket as accepting
// connections. backlog <= 0 means the system maximum (SOMAXCONN).
func (s *Socket) Listen(backlog int) error {
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	return s.control("listen", "", func(fd int) error {
		if err := unix.Listen(fd, backlog); err != nil {
			return os.NewSyscallError("listen", err)
		}
		return nil
	})
}

// Accept is socket_accept: it waits for a connection and returns it as a new
// Socket (nonblocking, close-on-exec, in the poller) with the peer's address.
func (s *Socket) Accept() (*Socket, Addr, error) {
	return s.AcceptContext(context.Background())
}

// AcceptContext is Accept that gives up when ctx ends.
func (s *Socket) AcceptContext(ctx context.Context) (*Socket, Addr, error) {
	done := s.watch(ctx, true)
	var ra rawAddr
	var nfd int
	var errno unix.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			ra.len = uint32(unsafe.Sizeof(ra.any))
			r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, fd, uintptr(ra.ptr()), uintptr(unsafe.Pointer(&ra.len)),
				unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
			switch e {
			case unix.EINTR, unix.ECONNABORTED:
				continue // the client gave up before we took it; wait for the next
			case unix.EAGAIN:
				if !s.nonblock.Load() {
					return false
				}
			}
			nfd, errno = int(r), e
			return true
		}
	})
	err = done(err)
	if err == nil && errno != 0 {
		err = syscallErr("accept4", errno)
	}
	if err != nil {
		return nil, Addr{}, s.wrapErr("accept", "", err)
	}
	c, err := newSocket(nfd, s.family, s.sotype, s.proto, "accept")
	if err != nil {
		return nil, Addr{}, s.wrapErr("accept", "", err)
	}
	return c, ra.addr(s), nil
}

// How says which direction Shutdown closes.
type How int

const (
	ShutRead      How = unix.SHUT_RD
	ShutWrite     How = unix.SHUT_WR
	ShutReadWrite How = unix.SHUT_RDWR
)

// Shutdown is socket_shutdown. ShutWrite half-closes a stream: the peer
// reads EOF, and this side can still read the peer's replies.
func (s *Socket) Shutdown(how How) error {
	return s.control("shutdown", "", func(fd int) error {
		if err := unix.Shutdown(fd, int(how)); err != nil {
			return os.NewSyscallError("shutdown", err)
		}
		return nil
	})
}

// Sockname is socket_getsockname: the local address.
func (s *Socket) Sockname() (Addr, error) { return s.name(unix.SYS_GETSOCKNAME, "getsockname") }

// Peername is socket_getpeername: the connected peer's address.
func (s *Socket) Peername() (Addr, error) { return s.name(unix.SYS_GETPEERNAME, "getpeername") }

func (s *Socket) name(trap uintptr, call string) (Addr, error) {
	var ra rawAddr
	err := s.control(call, "", func(fd int) error {
		ra.len = uint32(unsafe.Sizeof(ra.any))
		_, _, e := unix.Syscall(trap, uintptr(fd), uintptr(ra.ptr()), uintptr(unsafe.Pointer(&ra.len)))
		if e != 0 {
			return syscallErr(call, e)
		}
		return nil
	})
	if err != nil {
		return Addr{}, err
	}
	a := ra.addr(s)
	if s.family == unix.AF_UNIX {
		a.Unix = true
	}
	return a, nil
}
