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
// GOMAXPROCS processors. The runtime asks for it back every 10 ms (the
// kernel call ends with EINTR on its signal); when two such requests, or a
// whole 25 ms slice, pass without a datagram, the wait goes on in the
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
	interrupted := 0
	for {
		if s.waitIdle.Load() {
			n, err := s.pollerBatch(ctx, ms, flags)
			if err == nil {
				s.waitIdle.Store(false)
			}
			return n, err
		}
		n, err, stop := s.kernelBatch(ctx, ms, flags)
		switch stop {
		case stopNone:
			return n, err
		case stopInterrupted:
			// The runtime asks for the processor of a goroutine that kept
			// it 10 ms, which a busy receive loop does too: only a second
			// interruption without a datagram in between means idle.
			if interrupted++; interrupted < 2 {
				continue
			}
		}
		// A whole slice, or two preemptions, without a datagram: an idle
		// socket waits in the poller, where it costs nothing.
		interrupted = 0
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

// kernelBatch waits in the kernel for a batch. stop is stopNone when it
// returns a result (datagrams or an error), else why the wait ended
// without one: stopTimeout (a whole slice) or stopInterrupted (a signal).
func (s *Socket) kernelBatch(ctx context.Context, ms []Message, flags int) (n int, err error, stop int) {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return 0, err, stopNone
		}
	}
	op := s.takeRecvOp()
	defer s.keepRecvOp(op)
	if err := op.prepareRecv(ms, s.family); err != nil {
		return 0, err, stopNone
	}
	op.flags = s.recvFlags(flags) | unix.MSG_WAITFORONE
	op.trap = unix.SYS_RECVMMSG
	op.ctx = ctx
	op.stop = stopNone
	err = s.rc.Read(op.waitFn)
	op.ctx = nil
	if err != nil {
		return 0, err, stopNone
	}
	switch op.stop {
	case stopClosed:
		return 0, net.ErrClosed, stopNone
	case stopDeadline:
		return 0, os.ErrDeadlineExceeded, stopNone
	case stopContext:
		return 0, ctx.Err(), stopNone
	case stopTimeout, stopInterrupted:
		// Off the descriptor (a Close waiting for it goes on); leave
		// the processor for a moment too: the runtime may have asked.
		runtime.Gosched()
		return 0, nil, op.stop
	}
	n, err = op.finishRecv(ms)
	return n, err, stopNone
}

// Why a kernel wait ended without a datagram.
const (
	stopNone        = iota // the call returned: datagrams or an errno
	stopClosed             // Close was called
	stopDeadline           // the read deadline passed
	stopContext            // the context ended
	stopTimeout            // a whole slice passed without a datagram
	stopInterrupted        // a signal, most often the runtime's preemption
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
		r, _, e := unix.RawSyscall6(op.trap, fd, uintptr(unsafe.Pointer(&op.hdrs[0])), uintptr(op.vlen), uintptr(op.flags), 0, 0)
		switch e {
		case 0:
			op.ret, op.errno = int(r), 0
			return true
		case unix.EAGAIN:
			op.stop = stopTimeout // the slice ran out
			return true
		case unix.EINTR:
			// A signal (SO_RCVTIMEO makes the call fail instead of
			// restarting): most often the runtime asking for its
			// processor, for a garbage collection or another goroutine.
			op.stop = stopInterrupted
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

// setRecvTimeout sets SO_RCVTIMEO to about d nanoseconds. It runs under the
// descriptor's read lock, one receive at a time. Near a deadline (d shorter
// than a slice) a timeout already set between d/2 and d plus a millisecond
// is kept: otherwise every wait would set its own, a setsockopt per burst,
// and the kernel counts in clock ticks of 1-10 ms anyway.
func (s *Socket) setRecvTimeout(fd uintptr, d int64) unix.Errno {
	cur := s.rcvTimeo.Load()
	if cur == d || (d < int64(waitSlice) && cur >= d/2 && cur <= d+int64(time.Millisecond)) {
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
