package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/echoguard"
	"golang.org/x/sys/unix"
)

// Listener is one socket the daemon serves: a listening stream socket (tcp,
// unix) whose connections it accepts, or a bound datagram socket (udp,
// unixgram) whose datagrams it answers.
type Listener struct {
	sock    *dgram.Socket
	network string
	addr    dgram.Addr
	path    string // socket file to remove on Close; "" when not ours
	name    string // systemd's FileDescriptorName, if any

	// Event loop state, owned by the Server's goroutine.
	closed      bool
	pausedUntil time.Time // accept paused after EMFILE and friends
	batch       *packetBatch
	guard       *echoguard.Guard // datagram listeners: which datagrams to answer
}

// Network is "tcp", "udp", "unix" or "unixgram".
func (l *Listener) Network() string { return l.network }

// Addr is the bound address (with the port the kernel chose for port 0).
func (l *Listener) Addr() dgram.Addr { return l.addr }

// Name is the systemd FileDescriptorName of an activated socket, or "".
func (l *Listener) Name() string { return l.name }

// Socket is the underlying socket.
func (l *Listener) Socket() *dgram.Socket { return l.sock }

// stream reports whether connections are accepted on l.
func (l *Listener) stream() bool { return l.sock.Type() == unix.SOCK_STREAM }

// Close closes the socket and removes the socket file this process created.
func (l *Listener) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.sock.Close()
	if l.path != "" {
		if rmErr := os.Remove(l.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = errors.Join(err, rmErr)
		}
	}
	return err
}

func newListener(s *dgram.Socket, network, path, name string) (*Listener, error) {
	a, err := s.Sockname()
	if err != nil {
		s.Close()
		return nil, err
	}
	// The event loop never waits inside a call: an empty queue is EAGAIN.
	s.SetNonblock(true)
	if err := askDestination(s); err != nil {
		s.Close()
		return nil, err
	}
	return &Listener{sock: s, network: network, addr: a, path: path, name: name}, nil
}

// askDestination makes a UDP socket report each datagram's destination
// and arrival interface, so that a wildcard-bound listener answers from the
// address the client wrote to: a reply from another of the host's
// addresses never reaches a client with a connected socket (nc -u).
func askDestination(s *dgram.Socket) error {
	if s.Type() != unix.SOCK_DGRAM {
		return nil
	}
	switch s.Family() {
	case unix.AF_INET:
		return s.SetOptionBool(unix.IPPROTO_IP, unix.IP_PKTINFO, true)
	case unix.AF_INET6:
		return s.SetOptionBool(unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, true)
	}
	return nil
}

// ParseListenAddr checks the address of a listener before anything is
// opened: HOST:PORT with a literal IP (an empty host is 0.0.0.0) for tcp and
// udp, a path or @abstract name for unix and unixgram (a "unix:" prefix is
// dropped, so that what dgram.Addr prints parses back).
func ParseListenAddr(network, text string) (dgram.Addr, error) {
	switch network {
	case "unix", "unixgram":
		// As in dgram.ParseAddr, and as dgram.Addr prints a relative path.
		text = strings.TrimPrefix(text, "unix:")
		if text == "" || text == "@" {
			return dgram.Addr{}, errors.New("want a socket path or @abstract-name")
		}
		if len(text) > 107 {
			return dgram.Addr{}, fmt.Errorf("path of %d bytes is longer than a unix socket address holds (107)", len(text))
		}
		return dgram.UnixAddr(text), nil
	case "tcp", "udp":
	default:
		return dgram.Addr{}, fmt.Errorf("unknown network %q", network)
	}
	host, portText, err := net.SplitHostPort(text)
	if err != nil {
		return dgram.Addr{}, errors.New("want HOST:PORT, [IPv6]:PORT or :PORT")
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return dgram.Addr{}, fmt.Errorf("port %q: want 0-65535", portText)
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return dgram.Addr{}, fmt.Errorf("host %q: want a literal IP address (names are not resolved)", host)
		}
	}
	return dgram.AddrFrom(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
}

// Listen opens a listener: for tcp and unix a listening stream socket, for
// udp and unixgram a bound datagram socket. device, if not empty, binds IP
// sockets to that interface (SO_BINDTODEVICE) before bind, so the bind
// itself is per device. A unix socket file left by a dead server is
// removed first; one a live server answers on is not.
func Listen(network string, a dgram.Addr, device string) (*Listener, error) {
	sotype := unix.SOCK_DGRAM
	if network == "tcp" || network == "unix" {
		sotype = unix.SOCK_STREAM
	}
	path := ""
	if a.Unix && !strings.HasPrefix(a.Path, "@") {
		path = a.Path
		if err := removeStaleSocket(path, sotype); err != nil {
			return nil, err
		}
	}
	s, err := dgram.Open(a.Family(), sotype, 0)
	if err != nil {
		return nil, err
	}
	if err := setUp(s, a, device, sotype); err != nil {
		s.Close()
		return nil, err
	}
	l, err := newListener(s, network, path, "")
	if err != nil && path != "" {
		os.Remove(path)
	}
	return l, err
}

func setUp(s *dgram.Socket, a dgram.Addr, device string, sotype int) error {
	if device != "" && !a.Unix {
		if err := s.BindToDevice(device); err != nil {
			return err
		}
	}
	if sotype == unix.SOCK_STREAM && !a.Unix {
		// A restarted daemon must bind while the last one's connections
		// sit in TIME_WAIT.
		if err := s.SetReuseAddr(true); err != nil {
			return err
		}
	}
	if err := s.Bind(a); err != nil {
		return err
	}
	if sotype == unix.SOCK_STREAM {
		return s.Listen(0)
	}
	return nil
}

// removeStaleSocket deletes a socket file no server answers on. Connecting
// tells a dead one (ECONNREFUSED) from a live one; anything that is not a
// socket is left alone.
func removeStaleSocket(path string, sotype int) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	probe, err := dgram.Open(unix.AF_UNIX, sotype, 0)
	if err != nil {
		return err
	}
	defer probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = probe.ConnectContext(ctx, dgram.UnixAddr(path))
	switch {
	case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: a server is answering on this socket", path)
	case errors.Is(err, unix.ECONNREFUSED):
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing stale socket: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%s exists and cannot be probed: %w", path, err)
}
