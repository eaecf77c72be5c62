package daemon

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bcastdev/bcast/dgram"
	"golang.org/x/sys/unix"
)

// listenFDsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// maxListenFDs bounds LISTEN_FDS: more would be a broken environment, not
// a configuration.
const maxListenFDs = 1024

// ParseListenEnv interprets LISTEN_PID and LISTEN_FDS as sd_listen_fds(3)
// does: the number of sockets passed from descriptor 3 on, or 0 when none
// were passed or they were meant for another process (LISTEN_PID is not
// pid). Malformed values are errors that name the variable.
func ParseListenEnv(listenPID, listenFDs string, pid int) (int, error) {
	if listenPID == "" || listenFDs == "" {
		return 0, nil
	}
	p, err := strconv.Atoi(listenPID)
	if err != nil || p <= 0 {
		return 0, fmt.Errorf("LISTEN_PID=%q: not a process id", truncateText(listenPID, 40))
	}
	if p != pid {
		return 0, nil
	}
	n, err := strconv.Atoi(listenFDs)
	if err != nil || n < 0 || n > maxListenFDs {
		return 0, fmt.Errorf("LISTEN_FDS=%q: want a count between 0 and %d", truncateText(listenFDs, 40), maxListenFDs)
	}
	return n, nil
}

// Activated adopts the listening sockets passed by systemd socket activation
// (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES). The variables are removed from
// the environment either way, so that no child takes them for its own.
// Each socket's family and type are read from the kernel; a stream socket
// must already be listening (Accept=no in the .socket unit).
func Activated() ([]*Listener, error) {
	n, err := ParseListenEnv(os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getpid())
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	var ls []*Listener
	for i := 0; i < n; i++ {
		fd := listenFDsStart + i
		name := ""
		if i < len(names) {
			name = names[i]
		}
		l, err := adopt(fd, name)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			for rest := fd + 1; rest < listenFDsStart+n; rest++ {
				unix.Close(rest)
			}
			return nil, fmt.Errorf("socket activation: fd %d%s: %w", fd, fdName(name), err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func fdName(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

func adopt(fd int, name string) (*Listener, error) {
	s, err := dgram.FromFD(fd)
	if err != nil {
		return nil, err
	}
	network, err := networkOf(s.Family(), s.Type())
	if err != nil {
		s.Close()
		return nil, err
	}
	if s.Type() == unix.SOCK_STREAM {
		listening, err := s.OptionBool(unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if err != nil {
			s.Close()
			return nil, err
		}
		if !listening {
			s.Close()
			return nil, fmt.Errorf("%s socket is not listening (per-connection activation, Accept=yes, is not supported)", network)
		}
	}
	return newListener(s, network, "", name)
}

func networkOf(family, sotype int) (string, error) {
	switch {
	case (family == unix.AF_INET || family == unix.AF_INET6) && sotype == unix.SOCK_STREAM:
		return "tcp", nil
	case (family == unix.AF_INET || family == unix.AF_INET6) && sotype == unix.SOCK_DGRAM:
		return "udp", nil
	case family == unix.AF_UNIX && sotype == unix.SOCK_STREAM:
		return "unix", nil
	case family == unix.AF_UNIX && sotype == unix.SOCK_DGRAM:
		return "unixgram", nil
	}
	return "", fmt.Errorf("unsupported socket (family %d, type %d): want TCP, UDP, unix stream or unix datagram", family, sotype)
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
