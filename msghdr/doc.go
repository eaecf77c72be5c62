// Package msghdr encodes and decodes the parts of a struct msghdr that are
// not the payload: control messages (ancillary data, msg_control) and
// scatter/gather arrays (msg_iov). It only knows bytes. It never opens,
// reads or closes a file descriptor; package dgram makes the system calls
// and hands the bytes here.
//
// # Control messages
//
// A control buffer is a run of messages, each a struct cmsghdr (cmsg_len,
// cmsg_level, cmsg_type) followed by its data and padded so that the next
// one starts aligned. Builders append one message each to a caller's slice:
//
//	oob := msghdr.AppendPktInfo4(oob[:0], ifindex, src)
//	oob = msghdr.AppendTTL(oob, 1)
//
// On receive, Control.Parse decodes a whole buffer into fixed fields, and
// Next walks it message by message for anything else. AppendCmsg builds a
// message of any level and type.
//
// # Alignment and byte order
//
// The helpers mirror the C macros of <sys/socket.h> and are computed from
// the unix.Sizeof constants of the architecture, never assumed:
//
//	Align(n)  CMSG_ALIGN  n rounded up to sizeof(long): 8 on amd64 and arm64
//	Len(n)    CMSG_LEN    cmsg_len of a message with n data bytes (no tail padding)
//	Space(n)  CMSG_SPACE  bytes the message occupies in the buffer, padding included
//	Next      CMSG_FIRSTHDR, CMSG_NXTHDR and CMSG_DATA, with length checks
//
// cmsg_len is a size_t (8 bytes on 64-bit Linux); cmsg_level, cmsg_type and
// every integer in the data are in the host's byte order
// (binary.NativeEndian). A C int is 4 bytes. Builders zero the padding, so
// stale bytes in a reused buffer never reach the kernel. The kernel may
// leave out the padding after the last message it writes; Next accepts
// that. Size receive buffers with Flags.Space: a buffer that is too small
// makes the kernel drop messages and set MSG_CTRUNC.
//
// # What each message means
//
// Most messages mean one thing on receive, when a socket option asks the
// kernel for them, and another on send, where they override a setting for
// one datagram:
//
//	message          level       receive (enable with)                        send
//	IP_PKTINFO       SOL_IP      arrival interface, header destination,       outgoing interface and
//	                             local reply address (IP_PKTINFO)             source address
//	IPV6_PKTINFO     SOL_IPV6    arrival interface and header destination     outgoing interface and
//	                             (IPV6_RECVPKTINFO)                           source address
//	IP_TTL           SOL_IP      TTL of the packet (IP_RECVTTL)               TTL of this datagram
//	IPV6_HOPLIMIT    SOL_IPV6    hop limit (IPV6_RECVHOPLIMIT)                hop limit of this datagram
//	IP_TOS           SOL_IP      TOS byte incl. ECN, 1 byte (IP_RECVTOS)      TOS of this datagram, an int
//	IPV6_TCLASS      SOL_IPV6    traffic class incl. ECN (IPV6_RECVTCLASS)    traffic class of this datagram
//	SO_TIMESTAMPNS   SOL_SOCKET  kernel receive time (SO_TIMESTAMPNS)         -
//	SO_RXQ_OVFL      SOL_SOCKET  drops on this socket so far, sent once       -
//	                             non-zero (SO_RXQ_OVFL)
//	SCM_RIGHTS       SOL_SOCKET  descriptors passed to us: we own them        descriptors to pass (AF_UNIX)
//	SCM_CREDENTIALS  SOL_SOCKET  sender's pid, uid, gid (SO_PASSCRED)         credentials to claim, checked
//	UDP_SEGMENT      SOL_UDP     -                                            GSO: split into datagrams of this size
//	UDP_GRO          SOL_UDP     size of the coalesced datagrams (UDP_GRO)    -
//
// The builders for receive-only messages (AppendTimestampNS, AppendRxqOvfl,
// AppendUDPGRO) exist for tests and for Control.Append.
//
// # Parsing
//
// Control.Parse resets the Control, walks the buffer and fills one field per
// known message; Has tells which are present. Unknown messages are counted
// in Unknown and skipped. A buffer that cannot be walked, or a known message
// with the wrong data length, is an error wrapping ErrMalformed (a
// *MalformedError giving the offset, level, type and length): it never
// panics and never reads outside the buffer. Parse and Control.Append are
// inverses, which the fuzz tests check in both directions.
//
// Received descriptors are the receiver's to close. Control.Rights lists
// them; if Parse fails, CollectRights still finds them.
//
// # Scatter/gather
//
// Iovecs is the list of buffers of one readv, writev, sendmsg or recvmsg —
// the old socket_iovec_alloc, add, delete, set, fetch and free — together
// with the []unix.Iovec the kernel reads (Kernel). After a read of n bytes,
// Spread tells which part of each buffer was filled.
//
// # Allocation
//
// "Does not allocate" here means: the call itself makes no heap allocation
// when the caller's slice has room. Builders and Control.Append append in
// place when cap(b) suffices (they grow b like append otherwise);
// Control.Parse and Next keep views into the buffer instead of copying, so
// the buffer must stay untouched while the Control is in use; Iovecs.Kernel
// rebuilds its array only after the buffers changed, into the capacity it
// kept. A receive loop that reuses one control buffer, one Control and one
// Iovecs therefore allocates nothing per datagram. Errors do allocate: they
// are off the hot path.
package msghdr
