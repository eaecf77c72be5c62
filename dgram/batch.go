package dgram

import (
	"context"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchOp is the scratch of one recvmmsg/sendmmsg: headers, iovecs and
// sockaddrs for every message, grown to the largest batch seen and reused
// from a pool, so that a batch of any size costs no allocation once warm.
type batchOp struct {
	s     *Socket
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []rawAddr
	trap  uintptr // unix.SYS_RECVMMSG or unix.SYS_SENDMMSG
	flags int
	park  bool
	ret   int
	errno unix.Errno

	// recvFor is &ms[0] of the receive batch the headers were last built
	// for (nil when they were built for a send or cleared): see
	// prepareRecv.
	recvFor *Message
	// wrote is how many leading headers the kernel may have written back
	// since they were last reset: the count the last recvmmsg returned.
	wrote int
	// vlen is how many of hdrs the call offers: all of them, or for a
	// receive into a prefix of the messages they were built for, that
	// prefix.
	vlen int

	// For RecvBatchWait: the caller's context and why the wait ended.
	ctx  context.Context
	stop int

	callFn func(uintptr) bool
	waitFn func(uintptr) bool
}

var batchOps = sync.Pool{New: func() any {
	op := &batchOp{}
	op.callFn = op.call
	op.waitFn = op.wait
	return op
}}

func getBatchOp(s *Socket) *batchOp {
	op := batchOps.Get().(*batchOp)
	op.s = s
	op.ret, op.errno = 0, 0
	return op
}

func (op *batchOp) put() {
	clear(op.hdrs)
	clear(op.iovs)
	op.s = nil
	op.recvFor = nil
	op.wrote = 0
	batchOps.Put(op)
}

// takeRecvOp returns the receive op s kept from its last RecvBatch, or
// a pooled one. Keeping it saves a receive loop from rebuilding (and the
// pool from clearing) every header of the batch on every call: under a flood
// each recvmmsg returns a few datagrams, and building 64 headers cost more
// than decoding the few that came.
func (s *Socket) takeRecvOp() *batchOp {
	if op := s.recvOp.Swap(nil); op != nil {
		op.ret, op.errno = 0, 0
		return op
	}
	return getBatchOp(s)
}

// keepRecvOp keeps op for the next RecvBatch on s. It holds the caller's
// buffers until then, or until Close (which pools it, cleared); a second op,
// from a concurrent receive, goes back to the pool.
func (s *Socket) keepRecvOp(op *batchOp) {
	if !s.recvOp.CompareAndSwap(nil, op) {
		op.put()
		return
	}
	if s.closed.Load() {
		s.dropRecvOp()
	}
}

// dropRecvOp pools the kept receive op, dropping its references to caller
// memory.
func (s *Socket) dropRecvOp() {
	if op := s.recvOp.Swap(nil); op != nil {
		op.put()
	}
}

// prepareRecv readies the headers for a recvmmsg into ms. When they were
// built for the same ms (or for a longer slice of the same messages, of
// which ms is the start) by an earlier call, it only checks that every
// buffer and control buffer of ms is still the one they point at, and
// resets the in/out lengths (msg_controllen, msg_namelen) of the headers the
// kernel wrote back, the few the last call returned: loads and compares
// instead of rebuilding. Anything changed means a full rebuild. The check
// costs a few nanoseconds per message offered, so a caller that offers a
// prefix sized to what arrives (broadcast.Receiver does) pays for that
// prefix only.
func (op *batchOp) prepareRecv(ms []Message, family int) error {
	// A prefix shorter than what the last call wrote back would leave
	// written headers (their msg_namelen shrunk to the last sender's
	// address) outside what resetWritten can reach: rebuild then.
	if op.recvFor == &ms[0] && len(ms) <= len(op.hdrs) && op.wrote <= len(ms) && op.stillRecv(ms) {
		op.resetWritten(ms)
		op.vlen = len(ms)
		return nil
	}
	op.recvFor = nil
	if err := op.prepare(ms, true, family); err != nil {
		return err
	}
	op.recvFor = &ms[0]
	return nil
}

// stillRecv reports whether the receive headers still describe ms, the
// whole batch they were built for or its start. It only reads: a header the
// kernel did not write still holds the control length it was given, which
// must be the whole control buffer.
func (op *batchOp) stillRecv(ms []Message) bool {
	iovs, hdrs := op.iovs, op.hdrs[:len(ms)]
	k := 0
	for i := range ms {
		m, h := &ms[i], &hdrs[i]
		bufs := m.Buffers
		if uint64(h.Hdr.Iovlen) != uint64(len(bufs)) || len(bufs) > len(iovs)-k {
			return false
		}
		for j, b := range bufs {
			v := &iovs[k+j]
			if v.Base != sliceBase(b) || uint64(v.Len) != uint64(len(b)) {
				return false
			}
		}
		k += len(bufs)
		ctl := m.Control[:cap(m.Control)]
		if h.Hdr.Control != sliceBase(ctl) || (i >= op.wrote && uint64(h.Hdr.Controllen) != uint64(len(ctl))) {
			return false
		}
	}
	// The whole batch must account for every iovec; a prefix for its own.
	return len(ms) < len(op.hdrs) || k == len(iovs)
}

// resetWritten gives back the whole control and name buffers to the headers
// the last call wrote.
func (op *batchOp) resetWritten(ms []Message) {
	nameLen := uint32(unsafe.Sizeof(op.names[0].any))
	for i := range min(op.wrote, len(ms)) {
		h := &op.hdrs[i]
		h.Hdr.SetControllen(cap(ms[i].Control))
		h.Hdr.Namelen = nameLen
	}
	op.wrote = 0
}

// sliceBase is the address the kernel is given for b: nil when b is empty.
func sliceBase(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return unsafe.SliceData(b)
}

// prepare fills the headers from ms. recv says whether the name buffers are
// offered for the kernel to fill (receive) or hold destinations (send).
func (op *batchOp) prepare(ms []Message, recv bool, family int) error {
	n := len(ms)
	if cap(op.hdrs) < n {
		op.hdrs = make([]unix.Mmsghdr, n)
		op.names = make([]rawAddr, n)
	}
	op.hdrs, op.names = op.hdrs[:n], op.names[:n]
	op.wrote = 0
	op.vlen = n
	niov := 0
	for i := range ms {
		niov += len(ms[i].Buffers)
	}
	if cap(op.iovs) < niov {
		op.iovs = make([]unix.Iovec, niov)
	}
	op.iovs = op.iovs[:niov]
	k := 0
	for i := range ms {
		m := &ms[i]
		h := &op.hdrs[i]
		*h = unix.Mmsghdr{}
		start := k
		for _, b := range m.Buffers {
			v := &op.iovs[k]
			*v = unix.Iovec{}
			if len(b) > 0 {
				v.Base = unsafe.SliceData(b)
			}
			v.SetLen(len(b))
			k++
		}
		if k > start {
			h.Hdr.Iov = &op.iovs[start]
		}
		h.Hdr.SetIovlen(k - start)
		ctl := m.Control
		if recv {
			ctl = ctl[:cap(ctl)]
		}
		if len(ctl) > 0 {
			h.Hdr.Control = unsafe.SliceData(ctl)
			h.Hdr.SetControllen(len(ctl))
		}
		ra := &op.names[i]
		switch {
		case recv:
			h.Hdr.Name = (*byte)(ra.ptr())
			h.Hdr.Namelen = uint32(unsafe.Sizeof(ra.any))
		case !m.Addr.IsZero():
			if err := ra.set(m.Addr, family, op.s); err != nil {
				// Send those before the bad one; the next call reports it
				// with the index it then has, 0.
				if i == 0 {
					return err
				}
				op.hdrs, op.names = op.hdrs[:i], op.names[:i]
				op.vlen = i
				return nil
			}
			h.Hdr.Name = (*byte)(ra.ptr())
			h.Hdr.Namelen = ra.len
		}
	}
	return nil
}

// call runs op.trap (recvmmsg or sendmmsg) once the descriptor is ready;
// false parks the goroutine in the poller.
func (op *batchOp) call(fd uintptr) bool {
	keep := op.trap == unix.SYS_SENDMMSG && op.s.keepSend.Load()
	for {
		var r uintptr
		var e unix.Errno
		if keep {
			r, _, e = unix.RawSyscall6(op.trap, fd, uintptr(unsafe.Pointer(&op.hdrs[0])), uintptr(op.vlen), uintptr(op.flags), 0, 0)
		} else {
			r, _, e = unix.Syscall6(op.trap, fd, uintptr(unsafe.Pointer(&op.hdrs[0])), uintptr(op.vlen), uintptr(op.flags), 0, 0)
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

// RecvBatch receives up to len(ms) datagrams with one recvmmsg: it waits for
// the first, then takes whatever else is already queued without waiting.
// Each received Message is filled as RecvMsg fills it (N, Size, Flags,
// Addr, Control); the count is returned. It allocates nothing for IP sockets.
func (s *Socket) RecvBatch(ms []Message, flags int) (int, error) {
	n, err := s.recvBatch(ms, flags)
	return n, s.wrapErr("recvmmsg", "", err)
}

// RecvBatchContext is RecvBatch that also returns when ctx ends.
func (s *Socket) RecvBatchContext(ctx context.Context, ms []Message, flags int) (int, error) {
	done := s.watch(ctx, true)
	n, err := s.recvBatch(ms, flags)
	return n, s.wrapErr("recvmmsg", "", done(err))
}

func (s *Socket) recvBatch(ms []Message, flags int) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	op := s.takeRecvOp()
	defer s.keepRecvOp(op)
	if err := op.prepareRecv(ms, s.family); err != nil {
		return 0, err
	}
	flags = s.recvFlags(flags)
	// MSG_WAITFORONE: block for the first datagram only, so a batch never
	// holds back datagrams that have already arrived.
	op.flags, op.park = s.callFlags(flags | unix.MSG_WAITFORONE)
	op.trap = unix.SYS_RECVMMSG
	if err := s.rc.Read(op.callFn); err != nil {
		return 0, err
	}
	return op.finishRecv(ms)
}

// finishRecv fills ms from what the kernel wrote into the headers.
func (op *batchOp) finishRecv(ms []Message) (int, error) {
	s := op.s
	if op.errno != 0 {
		// A failed call may have written into the first header.
		op.wrote = 1
		return 0, syscallErr("recvmmsg", op.errno)
	}
	op.wrote = op.ret
	for i := 0; i < op.ret; i++ {
		m, h := &ms[i], &op.hdrs[i]
		total := 0
		for _, b := range m.Buffers {
			total += len(b)
		}
		m.Size = int(h.Len)
		m.N = min(m.Size, total)
		m.Flags = int(h.Hdr.Flags)
		m.Control = m.Control[:h.Hdr.Controllen]
		op.names[i].len = h.Hdr.Namelen
		m.Addr = op.names[i].addr(s)
	}
	return op.ret, nil
}

// SendBatch sends the datagrams of ms with sendmmsg, each to its Addr (or
// the connected peer), and sets each sent Message's N. It keeps calling until
// every datagram is sent or one fails; the count sent is returned with the
// error of the one that failed.
func (s *Socket) SendBatch(ms []Message, flags int) (int, error) {
	sent := 0
	for sent < len(ms) {
		n, err := s.sendBatch(ms[sent:], flags)
		sent += n
		if err == nil && n == 0 {
			err = syscallErr("sendmmsg", unix.EIO) // the kernel sent nothing yet said nothing: never spin
		}
		if err != nil {
			return sent, s.wrapErr("sendmmsg", addrText(ms[sent].Addr), err)
		}
	}
	return sent, nil
}

func (s *Socket) sendBatch(ms []Message, flags int) (int, error) {
	op := getBatchOp(s)
	defer op.put()
	if err := op.prepare(ms, false, s.family); err != nil {
		return 0, err
	}
	op.flags, op.park = s.callFlags(flags | unix.MSG_NOSIGNAL)
	op.trap = unix.SYS_SENDMMSG
	if err := s.rc.Write(op.callFn); err != nil {
		return 0, err
	}
	if op.errno != 0 {
		return 0, syscallErr("sendmmsg", op.errno)
	}
	for i := 0; i < op.ret; i++ {
		ms[i].N = int(op.hdrs[i].Len)
	}
	return op.ret, nil
}
