package dgram

import (
	"context"
	"net"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitSlice is the longest RecvBatchWait stays in the kernel at a time
// (SO_RCVTIMEO): between two slices it sees Close, a deadline or an ended
// context, so each of them ends it within one slice, even if the runtime
// never interrupts the wait (GODEBUG=asyncpreemptoff=1).
const waitSlice = 25 * time.Millisecond

// RecvBatchWait is RecvBatch that, while datagrams keep coming, waits in
// the kernel rather than in the runtime poller: one blocking recvmmsg
// (MSG_WAITFORONE) with a receive timeout, on the goroutine's own thread,
// instead of a nonblocking try, a park in the poller and a wake-up for
// every burst. Under a steady stream of small bursts that park and wake
// cycle (epoll, futex and scheduler wake-ups) costs more CPU than the
// datagrams; a receive loop that owns its goroutine saves it here. It
// returns what RecvBatch returns.
//
// While it waits in the kernel, the goroutine holds its thread and one of
// GOMAXPROCS processors. When nothing comes for about 10 ms (the runtime
// then asks for the processor back, and the kernel call ends with EINTR
// on its signal) or for a whole 25 ms slice, the wait goes on in the
// poller, as RecvBatch's does, until the next datagram: an idle socket
// costs no CPU and holds no processor. A garbage collection or a signal
// interrupts a kernel wait at once; Close, a read deadline
// (SetReadDeadline) and, for RecvBatchWaitContext, the context end it
// within a slice. Close may itself wait up to that long for the receive
// to leave the kernel.
//
// The first call turns the descriptor's O_NONBLOCK off (every other call of
// Socket passes MSG_DONTWAIT and never blocks regardless) and from then on
// the socket's SO_RCVTIMEO belongs to it. On a socket other than
// SOCK_DGRAM or SOCK_RAW (a stream or SOCK_SEQPACKET one would block in
// accept and connect), in nonblocking mode, or with MSG_DONTWAIT in flags
// it is RecvBatch.
func (s *Socket) RecvBatchWait(ms []Message, flags int) (int, error) {
	n, err := s.recvBatchWait(nil, ms, flags)
	return n, s.wrapErr("recvmmsg", "", err)
}

// RecvBatchWaitContext is RecvBatchWait that also returns ctx.Err() when
// ctx ends, within one wait slice (25 ms). In the kernel it starts nothing
// per call; a wait in the poller arms the context as RecvBatchContext does.
func (s *Socket) RecvBatchWaitContext(ctx context.Context, ms []Message, flags int) (int, error) {
	n, err := s.recvBatchWait(ctx, ms, flags)
	return n, s.wrapErr("recvmmsg", "", err)
}

func (s *Socket) recvBatchWait(ctx context.Context, ms []Message, flags int) (int, error) {
	// Connectionless sockets only: a blocking SOCK_SEQPACKET or stream
	// descriptor would block a thread in accept or connect.
	if (s.sotype != unix.SOCK_DGRAM && s.sotype != unix.SOCK_RAW) || s.nonblock.Load() || flags&unix.MSG_DONTWAIT != 0 {
		return s.pollerBatch(ctx, ms, flags)
	}
	if len(ms) == 0 {
		return 0, nil
	}
	if err := s.blockingOnce(); err != nil {
		return 0, err
	}
	for {
		if s.waitIdle.Load() {
			n, err := s.pollerBatch(ctx, ms, flags)
			if err == nil {
				s.waitIdle.Store(false)
			}
			return n, err
		}
		n, err, idle := s.kernelBatch(ctx, ms, flags)
		if !idle {
			return n, err
		}
		if !stayInKernel {
			s.waitIdle.Store(true)
		}
	}
}

// stayInKernel keeps RecvBatchWait in the kernel when idle, slice after
// slice, so that tests can end a wait that is there.
var stayInKernel bool

// pollerBatch is RecvBatch or RecvBatchContext.
func (s *Socket) pollerBatch(ctx context.Context, ms []Message, flags int) (int, error) {
	if ctx == nil {
		return s.recvBatch(ms, flags)
	}
	done := s.watch(ctx, true)
	n, err := s.recvBatch(ms, flags)
	return n, done(err)
}

// kernelBatch waits in the kernel for a batch. idle reports that nothing
// came for a while (a wait slice, or the runtime's 10 ms preemption), and
// the wait should go on in the poller.
func (s *Socket) kernelBatch(ctx context.Context, ms []Message, flags int) (n int, err error, idle bool) {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return 0, err, false
		}
	}
	op := s.takeRecvOp()
	defer s.keepRecvOp(op)
	if err := op.prepareRecv(ms, s.family); err != nil {
		return 0, err, false
	}
	op.flags = s.recvFlags(flags) | unix.MSG_WAITFORONE
	op.trap = unix.SYS_RECVMMSG
	op.ctx = ctx
	op.stop = stopNone
	err = s.rc.Read(op.waitFn)
	op.ctx = nil
	if err != nil {
		return 0, err, false
	}
	switch op.stop {
	case stopClosed:
		return 0, net.ErrClosed, false
	case stopDeadline:
		return 0, os.ErrDeadlineExceeded, false
	case stopContext:
		return 0, ctx.Err(), false
	case stopIdle:
		// Leave the processor for a moment first: the runtime asked for
		// it, or has waited a whole slice.
		runtime.Gosched()
		return 0, nil, true
	}
	n, err = op.finishRecv(ms)
	return n, err, false
}

// Why a kernel wait ended without a datagram.
const (
	stopNone     = iota // the call returned: datagrams or an errno
	stopClosed          // Close was called
	stopDeadline        // the read deadline passed
	stopContext         // the context ended
	stopIdle            // nothing came for a while: wait in the poller
)

// wait runs the blocking recvmmsg in slices until a datagram comes or
// something ends the wait. It never parks in the poller.
func (op *batchOp) wait(fd uintptr) bool {
	s := op.s
	for {
		if s.closed.Load() {
			op.stop = stopClosed
			return true
		}
		if op.ctx != nil && op.ctx.Err() != nil {
			op.stop = stopContext
			return true
		}
		slice := int64(waitSlice)
		if dl := s.readDeadline.Load(); dl != 0 {
			left := dl - time.Now().UnixNano()
			if left <= 0 {
				op.stop = stopDeadline
				return true
			}
			slice = min(slice, left)
		}
		if e := s.setRecvTimeout(fd, slice); e != 0 {
			op.ret, op.errno = 0, e
			return true
		}
		// RawSyscall6: the goroutine keeps its processor while the
		// kernel waits. Handing it off (Syscall6) and taking it back per
		// burst costs what waiting in the kernel is meant to save.
		r, _, e := unix.RawSyscall6(op.trap, fd, uintptr(unsafe.Pointer(&op.hdrs[0])), uintptr(len(op.hdrs)), uintptr(op.flags), 0, 0)
		switch e {
		case 0:
			op.ret, op.errno = int(r), 0
			return true
		case unix.EAGAIN, unix.EINTR:
			// EAGAIN: the slice ran out. EINTR: a signal, most often the
			// runtime asking for its processor back after 10 ms of this
			// wait (SO_RCVTIMEO makes the call fail instead of
			// restarting). Either way nothing came for a while: an idle
			// socket waits in the poller, where it costs nothing, and
			// the runtime gets its turn.
			op.stop = stopIdle
			return true
		default:
			op.ret, op.errno = 0, e
			return true
		}
	}
}

// blockingOnce clears O_NONBLOCK the first time a kernel wait runs on s.
func (s *Socket) blockingOnce() error {
	if s.kernelWait.Load() {
		return nil
	}
	return s.control("fcntl O_NONBLOCK", "", func(fd int) error {
		if err := unix.SetNonblock(fd, false); err != nil {
			return osErr("fcntl", err)
		}
		s.kernelWait.Store(true)
		return nil
	})
}

// setRecvTimeout sets SO_RCVTIMEO to d nanoseconds unless it already is.
// It runs under the descriptor's read lock, one receive at a time.
func (s *Socket) setRecvTimeout(fd uintptr, d int64) unix.Errno {
	if s.rcvTimeo.Load() == d {
		return 0
	}
	// Never zero: a zero SO_RCVTIMEO means wait forever. The kernel
	// rounds up to its clock tick.
	tv := unix.NsecToTimeval(max(d, int64(time.Microsecond)))
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, uintptr(unsafe.Pointer(&tv)), unsafe.Sizeof(tv), 0)
	if e != 0 {
		return e
	}
	s.rcvTimeo.Store(d)
	return 0
}
