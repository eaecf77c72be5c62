package dgram

import (
	"context"
	"io"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Message is one datagram (or one stream read/write) with its address,
// control data and flags: the Go shape of struct msghdr. Keep a Message and
// its buffers and reuse them: RecvMsg and SendMsg then allocate nothing.
type Message struct {
	// Buffers is the scatter/gather list (the iovec array). On receive the
	// payload fills them in order; on send they are sent as one datagram.
	Buffers [][]byte

	// Control holds control messages (see package msghdr). On receive its
	// whole capacity is offered to the kernel and its length is set to what
	// arrived, so a Message can be reused without re-slicing; on send its
	// length is what is sent.
	Control []byte

	// Addr is the source on receive and the destination on send (zero on
	// send: the connected peer).
	Addr Addr

	// N is the number of payload bytes placed in Buffers (receive) or sent
	// (send).
	N int

	// Size is the real length of the received datagram. Size > N means the
	// datagram did not fit in Buffers and the rest was discarded by the
	// kernel; Truncated reports it. For stream sockets Size == N.
	Size int

	// Flags are the msg_flags the kernel returned on receive: unix.MSG_TRUNC,
	// unix.MSG_CTRUNC, unix.MSG_EOR, unix.MSG_ERRQUEUE, ...
	Flags int
}

// Truncated reports whether the datagram was larger than Buffers (MSG_TRUNC);
// Size then holds its real length.
func (m *Message) Truncated() bool { return m.Flags&unix.MSG_TRUNC != 0 }

// ControlTruncated reports whether control messages were dropped for lack of
// room in Control (MSG_CTRUNC).
func (m *Message) ControlTruncated() bool { return m.Flags&unix.MSG_CTRUNC != 0 }

// msgOp is the scratch state of one recvmsg or sendmsg. Ops live in a pool,
// and their callbacks are method values bound once when the op is made, so
// that a call costs no allocation: no closure, no sockaddr, no msghdr.
type msgOp struct {
	s     *Socket
	hdr   unix.Msghdr
	iov   []unix.Iovec
	name  rawAddr
	trap  uintptr // unix.SYS_RECVMSG or unix.SYS_SENDMSG
	flags int
	park  bool // wait in the poller on EAGAIN (blocking mode, no MSG_DONTWAIT)
	ret   int
	errno unix.Errno

	callFn func(uintptr) bool
}

var msgOps = sync.Pool{New: func() any {
	op := &msgOp{iov: make([]unix.Iovec, 0, 4)}
	op.callFn = op.call
	return op
}}

func getMsgOp(s *Socket) *msgOp {
	op := msgOps.Get().(*msgOp)
	op.s = s
	op.ret, op.errno = 0, 0
	return op
}

// callFlags decides whether a call waits and returns the flags for the
// kernel. MSG_DONTWAIT is always passed: the kernel must never block a
// thread, even if someone else switched the shared descriptor to blocking
// mode (os.File.Fd does that).
func (s *Socket) callFlags(flags int) (int, bool) {
	park := flags&unix.MSG_DONTWAIT == 0 && !s.nonblock.Load()
	return flags | unix.MSG_DONTWAIT, park
}

// put drops every reference to caller memory before pooling the op.
func (op *msgOp) put() {
	clear(op.iov)
	op.iov = op.iov[:0]
	op.hdr = unix.Msghdr{}
	op.s = nil
	msgOps.Put(op)
}

// setBuffers points the iovec array at bufs.
func (op *msgOp) setBuffers(bufs [][]byte) {
	op.iov = op.iov[:0]
	for _, b := range bufs {
		var v unix.Iovec
		if len(b) > 0 {
			v.Base = unsafe.SliceData(b)
		}
		v.SetLen(len(b))
		op.iov = append(op.iov, v)
	}
	op.hdr.Iov = nil
	if len(op.iov) > 0 {
		op.hdr.Iov = unsafe.SliceData(op.iov)
	}
	op.hdr.SetIovlen(len(op.iov))
}

func (op *msgOp) setControl(b []byte) {
	op.hdr.Control = nil
	op.hdr.SetControllen(0)
	if len(b) > 0 {
		op.hdr.Control = unsafe.SliceData(b)
		op.hdr.SetControllen(len(b))
	}
}

// call runs op.trap (recvmsg, sendmsg or sendto) once the descriptor is
// ready. Returning false parks the goroutine in the poller until the
// descriptor turns readable or writable, whichever Read or Write waits for.
func (op *msgOp) call(fd uintptr) bool {
	keep := op.trap != unix.SYS_RECVMSG && op.s.keepSend.Load()
	for {
		var r uintptr
		var e unix.Errno
		switch {
		case op.trap == unix.SYS_SENDTO && keep:
			r, _, e = unix.RawSyscall6(op.trap, fd, uintptr(unsafe.Pointer(op.iov[0].Base)), uintptr(op.iov[0].Len), uintptr(op.flags),
				uintptr(unsafe.Pointer(op.hdr.Name)), uintptr(op.hdr.Namelen))
		case op.trap == unix.SYS_SENDTO:
			r, _, e = unix.Syscall6(op.trap, fd, uintptr(unsafe.Pointer(op.iov[0].Base)), uintptr(op.iov[0].Len), uintptr(op.flags),
				uintptr(unsafe.Pointer(op.hdr.Name)), uintptr(op.hdr.Namelen))
		case keep:
			r, _, e = unix.RawSyscall(op.trap, fd, uintptr(unsafe.Pointer(&op.hdr)), uintptr(op.flags))
		default:
			r, _, e = unix.Syscall(op.trap, fd, uintptr(unsafe.Pointer(&op.hdr)), uintptr(op.flags))
		}
		if e == unix.EINTR {
			continue
		}
		if e == unix.EAGAIN && op.park {
			return false
		}
		op.ret, op.errno = int(r), e
		return true
	}
}

// sendTrap is the call that sends what op holds: sendto(2) for one buffer
// without control data, which spares the kernel copying and checking a
// msghdr and an iovec array (about 50 ns a datagram), else sendmsg(2).
func (op *msgOp) sendTrap() uintptr {
	if len(op.iov) == 1 && op.hdr.Controllen == 0 {
		return unix.SYS_SENDTO
	}
	return unix.SYS_SENDMSG
}

// datagramish reports whether a recv on s returns whole messages, for which
// MSG_TRUNC asks the kernel for the real length (on a TCP socket the same
// flag would discard data).
func (s *Socket) datagramish() bool {
	return s.sotype == unix.SOCK_DGRAM || s.sotype == unix.SOCK_SEQPACKET || s.sotype == unix.SOCK_RAW
}

// recvFlags adds what every receive with control data wants: the real
// length of a datagram (MSG_TRUNC; on a stream it would discard data) and
// close-on-exec for descriptors passed with SCM_RIGHTS, so a child process
// never inherits them by accident.
func (s *Socket) recvFlags(flags int) int {
	if s.datagramish() {
		flags |= unix.MSG_TRUNC
	}
	if s.family == unix.AF_UNIX {
		flags |= unix.MSG_CMSG_CLOEXEC
	}
	return flags
}

// recvmsg fills m and returns an unwrapped error.
func (s *Socket) recvmsg(m *Message, flags int) error {
	op := getMsgOp(s)
	defer op.put()
	op.setBuffers(m.Buffers)
	ctl := m.Control[:cap(m.Control)]
	op.setControl(ctl)
	op.hdr.Name = (*byte)(op.name.ptr())
	op.hdr.Namelen = uint32(unsafe.Sizeof(op.name.any))
	flags = s.recvFlags(flags)
	op.flags, op.park = s.callFlags(flags)
	op.trap = unix.SYS_RECVMSG
	if err := s.rc.Read(op.callFn); err != nil {
		return err
	}
	if op.errno != 0 {
		return syscallErr("recvmsg", op.errno)
	}
	total := 0
	for _, b := range m.Buffers {
		total += len(b)
	}
	m.Size = op.ret
	m.N = min(op.ret, total)
	m.Flags = int(op.hdr.Flags)
	m.Control = ctl[:op.hdr.Controllen]
	op.name.len = op.hdr.Namelen
	m.Addr = op.name.addr(s)
	if op.ret == 0 && s.zeroIsEOF() && total > 0 {
		return io.EOF
	}
	return nil
}

// sendmsg sends m and returns an unwrapped error.
func (s *Socket) sendmsg(m *Message, flags int) error {
	op := getMsgOp(s)
	defer op.put()
	op.setBuffers(m.Buffers)
	op.setControl(m.Control)
	if !m.Addr.IsZero() {
		if err := op.name.set(m.Addr, s.family, s); err != nil {
			return err
		}
		op.hdr.Name = (*byte)(op.name.ptr())
		op.hdr.Namelen = op.name.len
	}
	op.flags, op.park = s.callFlags(flags | unix.MSG_NOSIGNAL)
	op.trap = op.sendTrap()
	if err := s.rc.Write(op.callFn); err != nil {
		return err
	}
	if op.errno != 0 {
		return syscallErr("sendmsg", op.errno)
	}
	m.N = op.ret
	return nil
}

// RecvMsg is socket_recvmsg: it receives one datagram (or stream chunk) into
// m.Buffers and m.Control, and sets m.Addr, m.N, m.Size and m.Flags. A
// datagram larger than the buffers is not an error: m.Truncated() is true and
// m.Size is its real length. On a stream socket the end of input is io.EOF.
// flags are MSG_* values (MSG_PEEK, MSG_DONTWAIT, MSG_ERRQUEUE, ...).
// It allocates nothing for IP sockets.
func (s *Socket) RecvMsg(m *Message, flags int) error {
	err := s.recvmsg(m, flags)
	if err == nil || err == io.EOF {
		return err
	}
	return s.wrapErr("recvmsg", "", err)
}

// RecvMsgContext is RecvMsg that also returns when ctx ends.
func (s *Socket) RecvMsgContext(ctx context.Context, m *Message, flags int) error {
	done := s.watch(ctx, true)
	err := done(s.recvmsg(m, flags))
	if err == nil || err == io.EOF {
		return err
	}
	return s.wrapErr("recvmsg", "", err)
}

// SendMsg is socket_sendmsg: it sends m.Buffers as one datagram with
// m.Control to m.Addr (or to the connected peer when m.Addr is zero) and sets
// m.N. MSG_NOSIGNAL is always added: a closed stream peer is an EPIPE error,
// never a signal.
func (s *Socket) SendMsg(m *Message, flags int) error {
	if err := s.sendmsg(m, flags); err != nil {
		return s.wrapErr("sendmsg", addrText(m.Addr), err)
	}
	return nil
}

func addrText(a Addr) string {
	if a.IsZero() {
		return ""
	}
	return a.String()
}

// zeroIsEOF reports whether a zero-byte receive means the peer is gone.
// On a seqpacket socket it could also be an empty message; like Go's net
// package we read it as the end, which is what a shut-down peer produces.
func (s *Socket) zeroIsEOF() bool {
	return s.sotype == unix.SOCK_STREAM || s.sotype == unix.SOCK_SEQPACKET
}
