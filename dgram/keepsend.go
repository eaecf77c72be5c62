package dgram

// SetSendKeepsProcessor makes the sends of s (Send, SendTo, Write, WriteV,
// SendMsg, SendBatch) enter the kernel without handing their processor to
// the runtime: RawSyscall instead of Syscall, as RecvBatchWait's receives
// do. Every send passes MSG_DONTWAIT, so it never sleeps in the kernel; one
// that finds the send buffer full still waits in the poller.
//
// The hand-off is what a request-response loop on a core it shares with its
// peer pays for. The peer's wake-up preempts the sender inside sendmsg and
// the call looks long to the runtime: its monitor (sysmon), finding the same
// system call on two looks 20 µs apart and no idle processor (GOMAXPROCS=1),
// takes the processor away, and after taking one it looks every 20 µs again,
// each look a thread switch on that core. bcast ping --back-to-back against
// a C echo server on one core: p99 37 µs with Syscall, 15 µs without.
//
// It is for a loop that owns its goroutine. A datagram send returns in
// microseconds; on a stream socket a send copies up to a send buffer's
// worth while keeping the processor, and SendBatch up to its whole batch.
func (s *Socket) SetSendKeepsProcessor(on bool) { s.keepSend.Store(on) }

// SendKeepsProcessor reports whether SetSendKeepsProcessor(true) is in effect.
func (s *Socket) SendKeepsProcessor() bool { return s.keepSend.Load() }
