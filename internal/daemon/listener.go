package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
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
	// guard decides which datagrams a datagram listener answers; its
	// packetServer owns it while it runs.
	guard *echoguard.Guard
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
	switch {
	case portText == "":
		return dgram.Addr{}, errors.New("no port after the colon")
	case err != nil && strings.Trim(portText, "0123456789") == "":
		return dgram.Addr{}, fmt.Errorf("port %s is out of range (0 to 65535)", portText)
	case err != nil:
		return dgram.Addr{}, fmt.Errorf("port %q is not a number", portText)
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return dgram.Addr{}, fmt.Errorf("host %s: want a literal IP address (names are not resolved)", host)
		}
	}
	return dgram.AddrFrom(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
}

// ListenOptions are the settings of ListenWith beyond the address.
type ListenOptions struct {
	// Device, if not empty, binds IP sockets to that interface
	// (SO_BINDTODEVICE) before bind, so the bind itself is per device.
	Device string
	// SocketMode is the permission bits of a unix socket file. A client
	// needs write permission on the file to connect or send.
	SocketMode uint32
	// SocketUID and SocketGID own a unix socket file; -1 leaves the
	// creator's.
	SocketUID, SocketGID int
}

// DefaultSocketMode lets every local account connect, as to a TCP port.
const DefaultSocketMode = 0o666

// Listen is ListenWith with device and the default socket file mode and
// owner.
func Listen(network string, a dgram.Addr, device string) (*Listener, error) {
	return ListenWith(network, a, ListenOptions{Device: device, SocketMode: DefaultSocketMode, SocketUID: -1, SocketGID: -1})
}

// ListenWith opens a listener: for tcp and unix a listening stream socket,
// for udp and unixgram a bound datagram socket. A unix socket file left by
// a dead server is removed first; one a live server answers on is not. A
// new socket file gets its mode and owner before it appears at its path
// (see bindUnixFile).
func ListenWith(network string, a dgram.Addr, o ListenOptions) (*Listener, error) {
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
	if err := setUp(s, a, o, sotype); err != nil {
		s.Close()
		return nil, err
	}
	l, err := newListener(s, network, path, "")
	if err != nil {
		if path != "" {
			os.Remove(path)
		}
		return nil, err
	}
	if path != "" {
		// getsockname names the private directory the socket was bound
		// in; clients use the path it was moved to.
		l.addr = a
	}
	return l, nil
}

func setUp(s *dgram.Socket, a dgram.Addr, o ListenOptions, sotype int) error {
	if o.Device != "" && !a.Unix {
		if err := s.BindToDevice(o.Device); err != nil {
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
	var err error
	if a.Unix && !strings.HasPrefix(a.Path, "@") {
		err = bindUnixFile(s, a.Path, o)
	} else {
		err = s.Bind(a)
	}
	if err != nil {
		return err
	}
	if sotype == unix.SOCK_STREAM {
		return s.Listen(0)
	}
	return nil
}

// beforeLink, when set by a test, runs between the bind in the private
// directory and the link into place: the moment an attacker would swap
// the path.
var beforeLink func()

// bindUnixFile binds s to a socket file at path with o's mode and owner.
//
// bind creates the file with mode 0777 &^ umask and the daemon's owner, at
// a path in a directory another account may write. Setting the umask
// around bind would make the file never wider than asked, but the umask is
// process-wide, and the chown and chmod that follow would still work on a
// path that account can swap (for a hard link to another socket, say)
// between bind and chmod. So the socket is bound inside a fresh directory
// of the daemon's own, mode 0700, next to path, where no one else can
// reach it whatever its mode; it gets its owner and mode there, and is then
// hard-linked into place, which fails if anything appeared at path since
// the stale-socket check, rather than replace it. The socket file therefore
// never exists at path with another mode or owner than asked for.
func bindUnixFile(s *dgram.Socket, path string, o ListenOptions) error {
	dir, base, err := splitPath(path)
	if err != nil {
		return err
	}
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open directory", Path: dir, Err: err}
	}
	defer unix.Close(dirfd)
	tmpName, tmpfd, err := privateDir(dirfd, dir)
	if err != nil {
		return err
	}
	defer func() {
		unix.Unlinkat(tmpfd, base, 0) // gone already when linked into place
		unix.Close(tmpfd)
		unix.Unlinkat(dirfd, tmpName, unix.AT_REMOVEDIR)
	}()
	// bind has no *at form: reach the private directory by its path, or
	// through /proc/self/fd when that path is too long for sun_path.
	bindPath := filepath.Join(dir, tmpName, base)
	if via := fmt.Sprintf("/proc/self/fd/%d/%s", tmpfd, base); len(via) < len(bindPath) {
		bindPath = via
	}
	if len(bindPath) > 107 {
		return fmt.Errorf("socket file name %q is too long to bind through a private directory (%d bytes of 107)", base, len(bindPath))
	}
	if err := s.Bind(dgram.UnixAddr(bindPath)); err != nil {
		return err
	}
	if o.SocketUID >= 0 || o.SocketGID >= 0 {
		if err := unix.Fchownat(tmpfd, base, o.SocketUID, o.SocketGID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("giving the socket file to uid %d gid %d: %w", o.SocketUID, o.SocketGID, os.NewSyscallError("fchownat", err))
		}
	}
	// No one else can enter the private directory: what is at base is the
	// socket just bound, so following links is not a concern here.
	if err := unix.Fchmodat(tmpfd, base, o.SocketMode, 0); err != nil {
		return fmt.Errorf("socket file mode %#o: %w", o.SocketMode, os.NewSyscallError("fchmodat", err))
	}
	if beforeLink != nil {
		beforeLink()
	}
	if err := unix.Linkat(tmpfd, base, dirfd, base, 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%s appeared while the socket was being set up: not replacing it", path)
		}
		return fmt.Errorf("%s: %w", path, os.NewSyscallError("linkat", err))
	}
	return nil
}

// privateDir makes a directory only this process's account can enter, in
// dirfd, and returns its name and a descriptor of it.
func privateDir(dirfd int, dir string) (string, int, error) {
	var rnd [8]byte
	for range 3 {
		rand.Read(rnd[:])
		name := ".listen-" + hex.EncodeToString(rnd[:])
		if err := unix.Mkdirat(dirfd, name, 0o700); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			return "", -1, &os.PathError{Op: "mkdir", Path: filepath.Join(dir, name), Err: err}
		}
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
			return "", -1, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
		}
		// Whoever can write dir could have put their own directory
		// under this name between mkdir and open.
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 {
			unix.Close(fd)
			return "", -1, fmt.Errorf("%s was replaced while the socket was being set up", filepath.Join(dir, name))
		}
		return name, fd, nil
	}
	return "", -1, fmt.Errorf("cannot make a private directory in %s: names keep being taken", dir)
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
