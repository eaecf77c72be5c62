// Package daemon is the machinery of cmd/listen: an event-loop server on
// the dgram core, and the daemon chores around it (pid file, privilege
// drop, systemd socket activation, a reopenable log file, the config file).
//
// # The event loop
//
// A Server runs one goroutine around one dgram.Poller, which watches every
// listener and every client socket, all nonblocking: a call that would wait
// returns EAGAIN instead, and the loop moves on. Each stream client has its
// reply backlog, made only of what its socket would not take (replies are
// built in one buffer the clients share); the loop asks to hear about
// writability only while replies are pending, and stops reading a client
// whose backlog passes 256 KiB until the client takes it, so a slow reader
// costs bounded memory and never delays anyone else. All clients together
// hold at most Settings.ClientMemory (see budget.go). Datagrams are taken
// with recvmmsg and answered with sendmmsg, a batch at a time.
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
