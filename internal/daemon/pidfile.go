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
// for as long as the process runs: the lock, not the file's presence or
// the pid inside, says that a daemon runs. The pid is for people and
// scripts.
type PIDFile struct {
	path  string
	base  string // last element of path, in dirfd
	dirfd int    // the directory, kept to unlink at exit after the privilege drop
	f     *os.File
	stale int
}

// ParsePID reads the content of a pid file: a decimal process id, optionally
// surrounded by white space. An empty file gives 0 and no error (a writer
// died between creating and filling it). The error does not quote the
// content: the file may be anything a path was pointed at.
func ParsePID(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 || strings.ContainsAny(s, "+- \t\n") {
		return 0, fmt.Errorf("%d bytes that are not a process id", len(data))
	}
	return pid, nil
}

// AcquirePIDFile takes the pid file at path for this process and writes
// its pid. The file is opened as files.go describes (no symbolic link, a
// regular file of this account's with one link, in a directory that others
// cannot write unless it is sticky); it is created mode 0644 if missing.
//
// The lock says whether a daemon runs: when another process holds it,
// AcquirePIDFile refuses and names the pid written in the file. When nobody
// holds it the file is stale and is taken over, whatever pid it names: pids
// are reused, so a live process under the old number proves nothing. A
// file that holds something other than a pid is refused, not overwritten:
// it is probably not a pid file. No error quotes the file.
func AcquirePIDFile(path string) (*PIDFile, error) {
	dir, base, err := splitPath(path)
	if err != nil {
		return nil, fmt.Errorf("pidfile: %w", err)
	}
	dirfd, err := openDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	f, err := openAt(dirfd, path, base, unix.O_RDWR, 0o644, []int{os.Geteuid()})
	if err != nil {
		unix.Close(dirfd)
		return nil, fmt.Errorf("pidfile: %w", err)
	}
	fail := func(err error) (*PIDFile, error) {
		f.Close()
		unix.Close(dirfd)
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
		return fail(fmt.Errorf("pidfile %s holds %w: it is probably not a pid file; remove it or choose another --pidfile", path, parseErr))
	}
	if err := f.Truncate(0); err != nil {
		return fail(fmt.Errorf("pidfile %s: %w", path, err))
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fail(fmt.Errorf("pidfile %s: %w", path, err))
	}
	p := &PIDFile{path: path, base: base, dirfd: dirfd, f: f}
	if pid != os.Getpid() {
		p.stale = pid
	}
	return p, nil
}

// Path is where the pid file lives.
func (p *PIDFile) Path() string { return p.path }

// Stale is the pid named in the stale file that was taken over (nobody held
// its lock), or 0.
func (p *PIDFile) Stale() int { return p.stale }

// Remove deletes the pid file, if it is still the one this process wrote,
// and releases the lock. It unlinks through the directory descriptor opened
// at start, so it works after the privilege drop when the directory is
// writable by the account the daemon now runs as; when it is not, the
// error says so and the file stays, to be taken over at the next start.
func (p *PIDFile) Remove() error {
	defer unix.Close(p.dirfd)
	// Deferred calls run last-in first-out: the file (and its lock) is
	// closed after the unlink, so no other daemon takes the old file
	// between the two.
	defer p.f.Close()
	ours, err := sameFile(p.dirfd, p.base, p.f)
	if err != nil {
		return fmt.Errorf("pidfile %s: %w", p.path, err)
	}
	if !ours {
		return nil // removed or replaced by someone else: not ours to delete
	}
	if err := unix.Unlinkat(p.dirfd, p.base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("pidfile %s cannot be removed by uid %d (%w): its directory must be writable by the --user account; the next start takes the stale file over", p.path, os.Geteuid(), err)
		}
		return fmt.Errorf("pidfile %s: unlink: %w", p.path, err)
	}
	return nil
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
