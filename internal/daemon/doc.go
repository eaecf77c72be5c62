// Package daemon is the machinery of cmd/listen: an event-loop server on
// the dgram core, and the daemon chores around it (pid file, privilege
// drop, systemd socket activation, a reopenable log file, the config file).
//
// # The event loop
//
// A Server runs one goroutine around one dgram.Poller, which watches every
// stream listener and every client socket, all nonblocking: a call that
// would wait returns EAGAIN instead, and the loop moves on. Each stream client has its
// reply backlog, made only of what its socket would not take (replies are
// built in one buffer the clients share); the loop asks to hear about
// writability only while replies are pending, and stops reading a client
// whose backlog passes 256 KiB until the client takes it, so a slow reader
// costs bounded memory and never delays anyone else. All clients together
// hold at most Settings.ClientMemory (see budget.go).
//
// # Datagram listeners
//
// Each datagram listener (udp, unixgram) has a goroutine of its own, a
// receive loop that owns its goroutine: it takes datagrams with recvmmsg
// and answers them with sendmmsg, a batch at a time, and while they keep
// coming it waits for them in the kernel (dgram's RecvBatchWait) rather
// than in an epoll_wait followed by a recvmmsg, its replies keeping the
// processor too (SendKeepsProcessor). A client with one request in flight
// (ping) then costs one blocking recvmmsg and one sendmmsg per round trip,
// as a C server's recvfrom and sendto do; through the event loop it paid an
// epoll_wait besides, and the runtime's park and wake-up whenever the loop
// went idle. Such a goroutine holds one of GOMAXPROCS processors while it
// waits in the kernel, so the goroutines do it only while a processor is
// left for the event loop (or there is no stream listener for it to serve);
// otherwise they wait in the runtime poller. They read MaxLine as Reload
// leaves it, keep their own counts, warnings and guard, and end when Serve
// closes their sockets, before it returns.
//
// Timeouts need no timer per connection. Every connection in a list shares
// one timeout, so keeping the list in order of last activity (a move to the
// back on each byte moved) keeps the next to expire at the front; the loop
// sleeps in Wait until the earliest front, linger end, accept pause end or
// shutdown deadline, whichever comes first.
//
// Other goroutines reach the loop through a unix datagram socket pair: a
// byte on it wakes Wait, and the loop then picks up a Reload, a Hurry or the
// end of Serve's context.
//
// # Closing connections
//
// A connection the server ends (quit, an over-long line, shutdown) first
// gets what is due, then its write side is shut, and it is read and its
// input dropped until the client closes or two seconds pass: closing a
// socket with unread input makes the kernel send a reset, which can destroy
// the replies before the client reads them.
//
// # Daemon chores
//
// AcquirePIDFile, ResolveIdentity with DropPrivileges, Activated (systemd's
// LISTEN_FDS), OpenLogFile and ParseConfig with Tunables are independent of
// the Server; cmd/listen puts them in order: check flags, take the pid file,
// bind, drop privileges, serve.
package daemon
