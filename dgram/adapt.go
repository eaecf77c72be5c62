package dgram

import (
	"fmt"
	"net"
)

// The adapters hand a Socket to the rest of Go. Each returns a standard
// library type (*net.UDPConn, *net.TCPConn, *net.UnixConn, *net.IPConn,
// *net.TCPListener, *net.UnixListener) built on a duplicate of the
// descriptor, because libraries such as golang.org/x/net/ipv4 and ipv6
// accept only those concrete types. The two share one kernel socket
// (options, bound address, queued data) but not deadlines or closing: close
// both when done.
//
// The standard library's conversion briefly switches the shared descriptor
// to blocking mode (it calls os.File.Fd) before setting it back; the
// Socket's own calls pass MSG_DONTWAIT, so they never block meanwhile.

// PacketConn returns s as a net.PacketConn, usable with
// ipv4.NewPacketConn and ipv6.NewPacketConn.
func (s *Socket) PacketConn() (net.PacketConn, error) {
	f, err := s.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := net.FilePacketConn(f)
	if err != nil {
		return nil, s.wrapErr("packetconn", s.String(), fmt.Errorf("the socket is not a datagram socket net understands: %w", err))
	}
	return c, nil
}

// Conn returns s (connected) as a net.Conn.
func (s *Socket) Conn() (net.Conn, error) {
	f, err := s.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, s.wrapErr("conn", s.String(), err)
	}
	return c, nil
}

// Listener returns s (listening) as a net.Listener.
func (s *Socket) Listener() (net.Listener, error) {
	f, err := s.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, s.wrapErr("listener", s.String(), err)
	}
	return l, nil
}
