package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PIDFile is a pid file held by this process. The file is locked (flock)
// for as long as the process runs, so two daemons started at the same
// moment cannot both take it; the pid inside is for people and scripts.
type PIDFile struct {
	path string
	f    *os.File
}

// ParsePID reads the content of a pid file: a decimal process id, optionally
// surrounded by white space. An empty file gives 0 and no error (a writer
// died between creating and filling it).
func ParsePID(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 || strings.ContainsAny(s, "+- \t\n") {
		return 0, fmt.Errorf("%q is not a process id", truncateText(s, 40))
	}
	return pid, nil
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// AcquirePIDFile takes the pid file at path for this process. It refuses
// when another process holds the file's lock, or when the pid written in it
// belongs to a live process other than this one; a pid file left by a dead
// process (stale) is replaced. A file that does not hold a pid is refused,
// not overwritten: it is probably not a pid file.
func AcquirePIDFile(path string) (*PIDFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pidfile: %w", err)
	}
	fail := func(err error) (*PIDFile, error) {
		f.Close()
		return nil, err
	}
	lockErr := flock(f)
	old, readErr := readAll(f)
	if readErr != nil {
		return fail(fmt.Errorf("pidfile %s: %w", path, readErr))
	}
	pid, parseErr := ParsePID(old)
	if lockErr != nil {
		if errors.Is(lockErr, unix.EWOULDBLOCK) {
			return fail(fmt.Errorf("pidfile %s is locked by a running process%s: is another listen running?", path, describePID(pid)))
		}
		return fail(fmt.Errorf("pidfile %s: %w", path, lockErr))
	}
	if parseErr != nil {
		return fail(fmt.Errorf("pidfile %s holds %w; remove it or choose another --pidfile", path, parseErr))
	}
	if pid != 0 && pid != os.Getpid() && alive(pid) {
		return fail(fmt.Errorf("pidfile %s: pid %d%s is running: is another listen running?", path, pid, describeComm(pid)))
	}
	if err := f.Truncate(0); err != nil {
		return fail(fmt.Errorf("pidfile %s: %w", path, err))
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fail(fmt.Errorf("pidfile %s: %w", path, err))
	}
	return &PIDFile{path: path, f: f}, nil
}

// Path is where the pid file lives.
func (p *PIDFile) Path() string { return p.path }

// Remove deletes the pid file, if it is still the one this process wrote,
// and releases the lock.
func (p *PIDFile) Remove() error {
	defer p.f.Close()
	var held, now unix.Stat_t
	if err := unix.Fstat(int(p.fd()), &held); err != nil {
		return fmt.Errorf("pidfile %s: fstat: %w", p.path, err)
	}
	if err := unix.Stat(p.path, &now); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // someone removed it already
		}
		return fmt.Errorf("pidfile %s: stat: %w", p.path, err)
	}
	if held.Dev != now.Dev || held.Ino != now.Ino {
		return nil // replaced by someone else: not ours to delete
	}
	if err := os.Remove(p.path); err != nil {
		return fmt.Errorf("pidfile: %w", err)
	}
	return nil
}

func (p *PIDFile) fd() uintptr {
	var fd uintptr
	if rc, err := p.f.SyscallConn(); err == nil {
		rc.Control(func(d uintptr) { fd = d })
	}
	return fd
}

func readAll(f *os.File) ([]byte, error) {
	// A pid file is a few bytes; more than a page is not a pid file, and
	// reading stops there rather than slurping whatever the path names.
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n < len(buf) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lockErr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if lockErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if lockErr != nil {
		return os.NewSyscallError("flock", lockErr)
	}
	return nil
}

// alive reports whether a process with this pid exists. EPERM means it
// exists but belongs to someone else.
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

func describePID(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d%s)", pid, describeComm(pid))
}

// describeComm names the process, so that an operator can tell a real
// daemon from an unrelated process that reused a stale pid.
func describeComm(pid int) string {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return " (" + strings.TrimSpace(string(comm)) + ")"
}
