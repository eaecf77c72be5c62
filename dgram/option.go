package dgram

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Get/SetOption family is socket_get_option / socket_set_option, typed
// by the C type of the option value. level and name are the C constants from
// golang.org/x/sys/unix (unix.SOL_SOCKET, unix.SO_BROADCAST, ...). Errors
// name the option by level and number, and keep the errno.

func optName(level, name int) string {
	if n, ok := knownOpts[[2]int{level, name}]; ok {
		return "setsockopt " + n
	}
	return fmt.Sprintf("setsockopt level %d option %d", level, name)
}

var knownOpts = map[[2]int]string{
	{unix.SOL_SOCKET, unix.SO_BROADCAST}:          "SO_BROADCAST",
	{unix.SOL_SOCKET, unix.SO_REUSEADDR}:          "SO_REUSEADDR",
	{unix.SOL_SOCKET, unix.SO_REUSEPORT}:          "SO_REUSEPORT",
	{unix.SOL_SOCKET, unix.SO_RCVBUF}:             "SO_RCVBUF",
	{unix.SOL_SOCKET, unix.SO_SNDBUF}:             "SO_SNDBUF",
	{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE}:        "SO_RCVBUFFORCE",
	{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE}:        "SO_SNDBUFFORCE",
	{unix.SOL_SOCKET, unix.SO_BINDTODEVICE}:       "SO_BINDTODEVICE",
	{unix.SOL_SOCKET, unix.SO_LINGER}:             "SO_LINGER",
	{unix.SOL_SOCKET, unix.SO_RCVTIMEO}:           "SO_RCVTIMEO",
	{unix.SOL_SOCKET, unix.SO_SNDTIMEO}:           "SO_SNDTIMEO",
	{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS}:        "SO_TIMESTAMPNS",
	{unix.SOL_SOCKET, unix.SO_RXQ_OVFL}:           "SO_RXQ_OVFL",
	{unix.SOL_SOCKET, unix.SO_PASSCRED}:           "SO_PASSCRED",
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE}:          "SO_KEEPALIVE",
	{unix.SOL_SOCKET, unix.SO_ERROR}:              "SO_ERROR",
	{unix.SOL_SOCKET, unix.SO_TYPE}:               "SO_TYPE",
	{unix.IPPROTO_IP, unix.IP_PKTINFO}:            "IP_PKTINFO",
	{unix.IPPROTO_IP, unix.IP_RECVTTL}:            "IP_RECVTTL",
	{unix.IPPROTO_IP, unix.IP_RECVTOS}:            "IP_RECVTOS",
	{unix.IPPROTO_IP, unix.IP_TTL}:                "IP_TTL",
	{unix.IPPROTO_IP, unix.IP_TOS}:                "IP_TOS",
	{unix.IPPROTO_IP, unix.IP_MULTICAST_TTL}:      "IP_MULTICAST_TTL",
	{unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP}:     "IP_MULTICAST_LOOP",
	{unix.IPPROTO_IP, unix.IP_MULTICAST_ALL}:      "IP_MULTICAST_ALL",
	{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER}:       "IP_MTU_DISCOVER",
	{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO}:    "IPV6_RECVPKTINFO",
	{unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT}:   "IPV6_RECVHOPLIMIT",
	{unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS}:     "IPV6_RECVTCLASS",
	{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY}:         "IPV6_V6ONLY",
	{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS}:   "IPV6_UNICAST_HOPS",
	{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS}: "IPV6_MULTICAST_HOPS",
	{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP}: "IPV6_MULTICAST_LOOP",
	{unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL}:  "IPV6_MULTICAST_ALL",
	{unix.IPPROTO_IPV6, unix.IPV6_TCLASS}:         "IPV6_TCLASS",
	{unix.IPPROTO_UDP, unix.UDP_SEGMENT}:          "UDP_SEGMENT",
	{unix.IPPROTO_UDP, unix.UDP_GRO}:              "UDP_GRO",
	{unix.IPPROTO_TCP, unix.TCP_NODELAY}:          "TCP_NODELAY",
}

func getName(level, name int) string {
	return "get" + optName(level, name)[3:]
}

// SetOptionInt sets an int-valued option.
func (s *Socket) SetOptionInt(level, name, value int) error {
	return s.control(optName(level, name), "", func(fd int) error {
		return osErr("setsockopt", unix.SetsockoptInt(fd, level, name, value))
	})
}

// OptionInt reads an int-valued option.
func (s *Socket) OptionInt(level, name int) (int, error) {
	var v int
	err := s.control(getName(level, name), "", func(fd int) (err error) {
		v, err = unix.GetsockoptInt(fd, level, name)
		return osErr("getsockopt", err)
	})
	return v, err
}

// SetOptionBool sets a boolean (int 0/1) option.
func (s *Socket) SetOptionBool(level, name int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return s.SetOptionInt(level, name, v)
}

// OptionBool reads a boolean option.
func (s *Socket) OptionBool(level, name int) (bool, error) {
	v, err := s.OptionInt(level, name)
	return v != 0, err
}

// SetLinger sets SO_LINGER. on=false restores the default (close returns at
// once, the kernel sends what is left); on=true with d=0 makes Close reset
// the connection.
func (s *Socket) SetLinger(on bool, d time.Duration) error {
	l := unix.Linger{Linger: int32(d / time.Second)}
	if on {
		l.Onoff = 1
	}
	return s.control(optName(unix.SOL_SOCKET, unix.SO_LINGER), "", func(fd int) error {
		return osErr("setsockopt", unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l))
	})
}

// Linger reads SO_LINGER.
func (s *Socket) Linger() (on bool, d time.Duration, err error) {
	err = s.control(getName(unix.SOL_SOCKET, unix.SO_LINGER), "", func(fd int) error {
		l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
		if err != nil {
			return osErr("getsockopt", err)
		}
		on, d = l.Onoff != 0, time.Duration(l.Linger)*time.Second
		return nil
	})
	return on, d, err
}

// SetOptionTimeval sets a struct timeval option (SO_RCVTIMEO, SO_SNDTIMEO).
// Note that a Socket never blocks in the kernel, so these two matter only
// to other users of the descriptor; use deadlines here.
func (s *Socket) SetOptionTimeval(level, name int, d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return s.control(optName(level, name), "", func(fd int) error {
		return osErr("setsockopt", unix.SetsockoptTimeval(fd, level, name, &tv))
	})
}

// OptionTimeval reads a struct timeval option.
func (s *Socket) OptionTimeval(level, name int) (time.Duration, error) {
	var d time.Duration
	err := s.control(getName(level, name), "", func(fd int) error {
		tv, err := unix.GetsockoptTimeval(fd, level, name)
		if err != nil {
			return osErr("getsockopt", err)
		}
		d = time.Duration(tv.Nano())
		return nil
	})
	return d, err
}

// SetOptionString sets a string option, such as SO_BINDTODEVICE.
func (s *Socket) SetOptionString(level, name int, v string) error {
	return s.control(optName(level, name), v, func(fd int) error {
		return osErr("setsockopt", unix.SetsockoptString(fd, level, name, v))
	})
}

// OptionString reads a string option, such as SO_BINDTODEVICE.
func (s *Socket) OptionString(level, name int) (string, error) {
	var v string
	err := s.control(getName(level, name), "", func(fd int) (err error) {
		v, err = unix.GetsockoptString(fd, level, name)
		return osErr("getsockopt", err)
	})
	return v, err
}

// SetOptionBytes sets an option from raw bytes, for structures this package
// does not type.
func (s *Socket) SetOptionBytes(level, name int, v []byte) error {
	return s.control(optName(level, name), "", func(fd int) error {
		var p unsafe.Pointer
		if len(v) > 0 {
			p = unsafe.Pointer(&v[0])
		}
		_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(p), uintptr(len(v)), 0)
		if e != 0 {
			return syscallErr("setsockopt", e)
		}
		return nil
	})
}

// OptionBytes reads an option into buf and returns the filled prefix.
func (s *Socket) OptionBytes(level, name int, buf []byte) ([]byte, error) {
	n := uint32(len(buf))
	err := s.control(getName(level, name), "", func(fd int) error {
		var p unsafe.Pointer
		if len(buf) > 0 {
			p = unsafe.Pointer(&buf[0])
		}
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(p), uintptr(unsafe.Pointer(&n)), 0)
		if e != 0 {
			return syscallErr("getsockopt", e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func osErr(call string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(call, err)
}

// Convenience setters for the options every datagram program needs.

// SetBroadcast sets SO_BROADCAST; without it a send to a broadcast address
// fails with EACCES.
func (s *Socket) SetBroadcast(on bool) error {
	return s.SetOptionBool(unix.SOL_SOCKET, unix.SO_BROADCAST, on)
}

// SetReuseAddr sets SO_REUSEADDR.
func (s *Socket) SetReuseAddr(on bool) error {
	return s.SetOptionBool(unix.SOL_SOCKET, unix.SO_REUSEADDR, on)
}

// SetReusePort sets SO_REUSEPORT, letting several sockets (and processes)
// bind the same port: each receives its own copy of broadcast and multicast
// datagrams; unicast is spread among them.
func (s *Socket) SetReusePort(on bool) error {
	return s.SetOptionBool(unix.SOL_SOCKET, unix.SO_REUSEPORT, on)
}

// SetRecvBuffer sets SO_RCVBUF. The kernel doubles the value and caps it at
// net.core.rmem_max; as root, SO_RCVBUFFORCE passes the cap, and this method
// tries it first. It returns the size the kernel granted.
func (s *Socket) SetRecvBuffer(bytes int) (int, error) {
	return s.setBuffer(unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, bytes)
}

// setBuffer tries the privileged option quietly (EPERM for an unprivileged
// caller is expected, not an error worth keeping in LastError) and falls
// back to the capped one.
func (s *Socket) setBuffer(force, plain, bytes int) (int, error) {
	var got int
	err := s.control(optName(unix.SOL_SOCKET, plain), "", func(fd int) error {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, bytes) != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, bytes); err != nil {
				return os.NewSyscallError("setsockopt", err)
			}
		}
		var err error
		got, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, plain)
		return osErr("getsockopt", err)
	})
	return got, err
}

// skMeminfoDrops is SK_MEMINFO_DROPS, the index of the drop counter in
// SO_MEMINFO's array of u32 (linux/sock_diag.h; the array has held it since
// Linux 4.7, and a shorter answer from an older kernel is an error here).
const skMeminfoDrops = 8

// Drops is how many datagrams the kernel has dropped on this socket (the
// socket's sk_drops: a full receive buffer, mostly), read now with
// getsockopt SO_MEMINFO. It is the counter SO_RXQ_OVFL attaches to received
// datagrams, without asking for a control message per datagram, and without
// waiting for the next datagram to arrive. It wraps at 2^32.
func (s *Socket) Drops() (uint32, error) {
	var info [skMeminfoDrops + 1]uint32
	b, err := s.OptionBytes(unix.SOL_SOCKET, unix.SO_MEMINFO, unsafe.Slice((*byte)(unsafe.Pointer(&info[0])), len(info)*4))
	if err != nil {
		return 0, err
	}
	if len(b) < len(info)*4 {
		return 0, fmt.Errorf("dgram: SO_MEMINFO: the kernel gave %d bytes, too few to hold the drop counter", len(b))
	}
	return info[skMeminfoDrops], nil
}

// SetSendBuffer is SetRecvBuffer for SO_SNDBUF.
func (s *Socket) SetSendBuffer(bytes int) (int, error) {
	return s.setBuffer(unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, bytes)
}

// BindToDevice sets SO_BINDTODEVICE: the socket sends and receives only on
// the named interface ("" removes the binding). It needs CAP_NET_RAW on
// kernels before 5.7.
func (s *Socket) BindToDevice(ifname string) error {
	return s.SetOptionString(unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
}
