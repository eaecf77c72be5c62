// Package dgram is the socket core of bcast: one Socket type owning one file
// descriptor, nonblocking and close-on-exec, integrated with the Go runtime
// poller, with a method for every call of the classic BSD-socket API.
//
// It is datagram-first: sendto/recvfrom, sendmsg/recvmsg with control
// messages over iovec arrays, and batches (sendmmsg/recvmmsg) are the center,
// and they cost no allocation per datagram. Stream sockets, accept,
// readiness and shutdown are covered as well, so every call of that API has a
// home here.
//
// # Waiting
//
// Every call that would block parks its goroutine in the runtime poller:
// no OS thread is blocked, nothing spins. Deadlines (SetDeadline,
// SetReadDeadline, SetWriteDeadline) and Close wake waiters, with errors
// matching os.ErrDeadlineExceeded and net.ErrClosed. The ...Context variants
// also end when their context does; they do not start a goroutine per call.
// SetNonblock(true) gives the old socket_set_nonblock behaviour instead:
// a call that would wait fails at once with an error matching unix.EAGAIN.
//
// One family of calls waits in the kernel instead, for speed:
// RecvBatchWait and RecvBatchWaitContext. While datagrams keep coming they
// block in recvmmsg on their own thread (MSG_WAITFORONE, a 25 ms
// SO_RCVTIMEO), holding one of GOMAXPROCS processors, which saves the
// poller's park and wake-up per burst; after about 20 ms without a
// datagram they go back to the poller, so an idle socket costs nothing.
// Close, deadlines and contexts end them within 25 ms, signals and the
// garbage collector interrupt them at once. They are for a receive loop
// that owns its goroutine; every other call waits in the poller.
// SetSendKeepsProcessor is their counterpart for sends, which never wait
// in the kernel: it makes them enter it without handing the processor to
// the runtime, for a request-response loop that owns its goroutine.
//
// # Truncation is never silent
//
// Datagram receives ask the kernel for the real length (MSG_TRUNC). RecvMsg
// and RecvBatch report Message.Size and Message.Truncated; Read, Recv,
// RecvFrom and ReadV return the bytes that fit together with a
// *TruncatedError naming both lengths.
//
// # Errors
//
// Every failure is a *Error naming the operation, the address and the errno
// by its C name ("dgram: sendmsg 10.0.0.255:9: permission denied (EACCES)").
// errors.Is(err, unix.EACCES) works, Errno(err) extracts the number,
// Strerror formats one, and each Socket keeps its LastError until
// ClearError.
//
// # The BSD-socket API, call by call
//
//	socket_create            Open(family, type, proto)
//	socket_create_pair       Pair(type)
//	socket_create_listen     Listen(network, address, backlog); ListenPacket for datagrams
//	socket_bind              (*Socket).Bind
//	socket_connect           (*Socket).Connect, ConnectContext; Dial
//	socket_listen            (*Socket).Listen
//	socket_accept            (*Socket).Accept, AcceptContext
//	socket_shutdown          (*Socket).Shutdown(ShutRead | ShutWrite | ShutReadWrite)
//	socket_close             (*Socket).Close
//	socket_get_option        (*Socket).OptionInt, OptionBool, Linger, OptionTimeval, OptionString, OptionBytes
//	socket_set_option        (*Socket).SetOptionInt, SetOptionBool, SetLinger, SetOptionTimeval, SetOptionString, SetOptionBytes
//	                         (and SetBroadcast, SetReuseAddr, SetReusePort, SetRecvBuffer, SetSendBuffer, BindToDevice)
//	socket_getsockname       (*Socket).Sockname
//	socket_getpeername       (*Socket).Peername
//	socket_read / write      (*Socket).Read, ReadContext / Write
//	socket_readv / writev    (*Socket).ReadV / WriteV over a *msghdr.Iovecs
//	socket_recv / send       (*Socket).Recv / Send, with MSG_* flags
//	socket_recvfrom / sendto (*Socket).RecvFrom, RecvFromContext / SendTo
//	socket_recvmsg / sendmsg (*Socket).RecvMsg, RecvMsgContext / SendMsg over a *Message
//	(recvmmsg / sendmmsg)    (*Socket).RecvBatch, RecvBatchContext / SendBatch;
//	                         RecvBatchWait, RecvBatchWaitContext (waiting in the kernel);
//	                         Offer sizes a receive loop's batches to what arrives
//	socket_select            Select(ctx, read, write, timeout); a Poller for loops
//	socket_set_nonblock      (*Socket).SetNonblock(true)
//	socket_set_block         (*Socket).SetNonblock(false)
//	socket_strerror          Strerror(errno)
//	socket_last_error        (*Socket).LastError
//	socket_clear_error       (*Socket).ClearError
//	socket_iovec_*           package msghdr: Iovecs (NewIovecs, Add, Delete, Set, Fetch, Reset)
//
// # Addresses
//
// An Addr is an IP endpoint (netip.AddrPort; an IPv6 link-local address
// carries its interface as the zone) or a unix-domain path ("@name" for the
// abstract namespace). Zones are resolved through the socket's own
// descriptor, so they name interfaces of the socket's network namespace
// whichever thread runs the call, and are cached per socket: decoding an IP
// source allocates nothing.
//
// # The rest of Go
//
// PacketConn, Conn and Listener hand the socket to code that wants
// net.PacketConn, net.Conn or net.Listener, as standard library types that
// golang.org/x/net/ipv4 and ipv6 accept. SyscallConn gives raw access.
//
// # The classic programs
//
// The sockets manual this package follows has a few programs every reader
// types in; each is an example here, run by go test:
//
//   - the parrot server (Example_parrotServer): Listen, Accept, Read, Write,
//     "quit" closes one client and the server goes on. The listen daemon
//     is the same server made for production: listen --tcp :10000.
//   - the HEAD client (Example_headClient): the service port from
//     /etc/services, the host from /etc/hosts, Dial, write the request,
//     read until the server closes.
//   - the select() server (Example_selectServer): many clients, one
//     goroutine, a Poller.
//   - the UDP broadcast sender is broadcast's Example_broadcastSender.
package dgram
