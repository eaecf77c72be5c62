package dgram

import (
	"context"
	"io"
	"unsafe"

	"github.com/bcastdev/bcast/msghdr"
	"golang.org/x/sys/unix"
)

// setBuffer points the iovec array at one buffer, without the [][]byte a
// Message would need.
func (op *msgOp) setBuffer(b []byte) {
	var v unix.Iovec
	if len(b) > 0 {
		v.Base = unsafe.SliceData(b)
	}
	v.SetLen(len(b))
	op.iov = append(op.iov[:0], v)
	op.hdr.Iov = &op.iov[0]
	op.hdr.SetIovlen(1)
}

// recv1 receives into one buffer; n is what was stored, size the real length.
func (s *Socket) recv1(b []byte, flags int, from *Addr) (n, size int, err error) {
	op := getMsgOp(s)
	defer op.put()
	op.setBuffer(b)
	if from != nil {
		op.hdr.Name = (*byte)(op.name.ptr())
		op.hdr.Namelen = uint32(unsafe.Sizeof(op.name.any))
	}
	if s.datagramish() {
		flags |= unix.MSG_TRUNC
	}
	op.flags, op.park = s.callFlags(flags)
	op.trap = unix.SYS_RECVMSG
	if err := s.rc.Read(op.callFn); err != nil {
		return 0, 0, err
	}
	if op.errno != 0 {
		return 0, 0, syscallErr("recvmsg", op.errno)
	}
	if from != nil {
		op.name.len = op.hdr.Namelen
		*from = op.name.addr(s)
	}
	if op.ret == 0 && s.zeroIsEOF() && len(b) > 0 {
		return 0, 0, io.EOF
	}
	return min(op.ret, len(b)), op.ret, nil
}

// send1 sends one buffer, to the connected peer when to is zero.
func (s *Socket) send1(b []byte, flags int, to Addr) (int, error) {
	op := getMsgOp(s)
	defer op.put()
	op.setBuffer(b)
	if !to.IsZero() {
		if err := op.name.set(to, s.family, s); err != nil {
			return 0, err
		}
		op.hdr.Name = (*byte)(op.name.ptr())
		op.hdr.Namelen = op.name.len
	}
	op.flags, op.park = s.callFlags(flags | unix.MSG_NOSIGNAL)
	op.trap = op.sendTrap()
	if err := s.rc.Write(op.callFn); err != nil {
		return 0, err
	}
	if op.errno != 0 {
		return 0, syscallErr("sendmsg", op.errno)
	}
	return op.ret, nil
}

// truncated reports a datagram cut by a plain read: Read and Recv have no
// Message to carry the flag, and losing bytes silently is not allowed.
func truncated(n, size int) error {
	if size > n {
		return &TruncatedError{N: n, Size: size}
	}
	return nil
}

// TruncatedError is returned by Read, Recv and RecvFrom when a datagram was
// larger than the buffer: N bytes were stored, the datagram had Size. The
// bytes stored are valid; the rest is gone. RecvMsg reports the same through
// Message.Truncated instead of an error.
type TruncatedError struct{ N, Size int }

func (e *TruncatedError) Error() string {
	return "datagram truncated: " + itoa(e.Size) + " bytes arrived, " + itoa(e.N) + " fit in the buffer"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Read is socket_read: one recv into b. On a datagram socket it reads one
// datagram; if the datagram was larger than b, n is len(b) and the error is a
// *TruncatedError with the real size. On a stream socket, io.EOF at the end.
func (s *Socket) Read(b []byte) (int, error) {
	n, size, err := s.recv1(b, 0, nil)
	if err == io.EOF {
		return 0, io.EOF
	}
	if err != nil {
		return 0, s.wrapErr("read", "", err)
	}
	return n, s.wrapErr("read", "", truncated(n, size))
}

// ReadContext is Read that also returns when ctx ends.
func (s *Socket) ReadContext(ctx context.Context, b []byte) (int, error) {
	done := s.watch(ctx, true)
	n, size, err := s.recv1(b, 0, nil)
	err = done(err)
	if err == io.EOF {
		return 0, io.EOF
	}
	if err != nil {
		return 0, s.wrapErr("read", "", err)
	}
	return n, s.wrapErr("read", "", truncated(n, size))
}

// Write is socket_write. On a stream socket it writes all of b (looping over
// short writes, as io.Writer requires); on a datagram socket it sends b as
// one datagram to the connected peer.
func (s *Socket) Write(b []byte) (int, error) {
	if s.datagramish() {
		n, err := s.send1(b, 0, Addr{})
		return n, s.wrapErr("write", "", err)
	}
	written := 0
	for written < len(b) || len(b) == 0 {
		n, err := s.send1(b[written:], 0, Addr{})
		written += n
		if err != nil {
			return written, s.wrapErr("write", "", err)
		}
		if len(b) == 0 {
			break
		}
	}
	return written, nil
}

// Recv is socket_recv: one recv into b with MSG_* flags (MSG_PEEK,
// MSG_WAITALL, MSG_DONTWAIT, ...). Truncation is reported as in Read.
func (s *Socket) Recv(b []byte, flags int) (int, error) {
	n, size, err := s.recv1(b, flags, nil)
	if err == io.EOF {
		return 0, io.EOF
	}
	if err != nil {
		return 0, s.wrapErr("recv", "", err)
	}
	return n, s.wrapErr("recv", "", truncated(n, size))
}

// Send is socket_send: one send of b with MSG_* flags to the connected
// peer. On a stream socket it may send less than len(b); n says how much.
func (s *Socket) Send(b []byte, flags int) (int, error) {
	n, err := s.send1(b, flags, Addr{})
	return n, s.wrapErr("send", "", err)
}

// RecvFrom is socket_recvfrom: one datagram into b and where it came from.
// Truncation is reported as in Read (the source is still returned).
func (s *Socket) RecvFrom(b []byte, flags int) (int, Addr, error) {
	var from Addr
	n, size, err := s.recv1(b, flags, &from)
	if err == io.EOF {
		return 0, from, io.EOF
	}
	if err != nil {
		return 0, Addr{}, s.wrapErr("recvfrom", "", err)
	}
	return n, from, s.wrapErr("recvfrom", "", truncated(n, size))
}

// RecvFromContext is RecvFrom that also returns when ctx ends.
func (s *Socket) RecvFromContext(ctx context.Context, b []byte, flags int) (int, Addr, error) {
	done := s.watch(ctx, true)
	var from Addr
	n, size, err := s.recv1(b, flags, &from)
	err = done(err)
	if err == io.EOF {
		return 0, from, io.EOF
	}
	if err != nil {
		return 0, Addr{}, s.wrapErr("recvfrom", "", err)
	}
	return n, from, s.wrapErr("recvfrom", "", truncated(n, size))
}

// SendTo is socket_sendto: b as one datagram to the address to.
func (s *Socket) SendTo(b []byte, flags int, to Addr) (int, error) {
	n, err := s.send1(b, flags, to)
	if err != nil {
		return n, s.wrapErr("sendto", to.String(), err)
	}
	return n, nil
}

// ReadV is socket_readv: one recv scattered over the buffers of v. n is
// the number of bytes stored; v.Spread(n, nil) tells which buffer holds what.
// A truncated datagram is reported as in Read.
func (s *Socket) ReadV(v *msghdr.Iovecs) (int, error) {
	op := getMsgOp(s)
	defer op.put()
	kv := v.Kernel()
	op.hdr.Iov = nil
	if len(kv) > 0 {
		op.hdr.Iov = &kv[0]
	}
	op.hdr.SetIovlen(len(kv))
	flags := 0
	if s.datagramish() {
		flags = unix.MSG_TRUNC
	}
	op.flags, op.park = s.callFlags(flags)
	op.trap = unix.SYS_RECVMSG
	if err := s.rc.Read(op.callFn); err != nil {
		return 0, s.wrapErr("readv", "", err)
	}
	if op.errno != 0 {
		return 0, s.wrapErr("readv", "", syscallErr("recvmsg", op.errno))
	}
	size := op.ret
	if size == 0 && s.zeroIsEOF() && v.Size() > 0 {
		return 0, io.EOF
	}
	n := min(size, v.Size())
	return n, s.wrapErr("readv", "", truncated(n, size))
}

// WriteV is socket_writev: the buffers of v gathered into one send (one
// datagram on a datagram socket). On a stream socket it may be short.
func (s *Socket) WriteV(v *msghdr.Iovecs) (int, error) {
	op := getMsgOp(s)
	defer op.put()
	kv := v.Kernel()
	op.hdr.Iov = nil
	if len(kv) > 0 {
		op.hdr.Iov = &kv[0]
	}
	op.hdr.SetIovlen(len(kv))
	op.flags, op.park = s.callFlags(unix.MSG_NOSIGNAL)
	op.trap = unix.SYS_SENDMSG
	if err := s.rc.Write(op.callFn); err != nil {
		return 0, s.wrapErr("writev", "", err)
	}
	if op.errno != 0 {
		return 0, s.wrapErr("writev", "", syscallErr("sendmsg", op.errno))
	}
	return op.ret, nil
}
