package daemon

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// LogFile is a log destination that can be reopened, so that after
// logrotate moves the file away a SIGHUP makes the daemon write to a new
// file at the same path.
type LogFile struct {
	path     string
	uid, gid int // owner to give the file; -1: leave as created
	mu       sync.Mutex
	f        *os.File
}

// OpenLogFile opens path for appending, creating it (mode 0640) if needed,
// as files.go describes: never through a symbolic link, only a regular file
// with one link that belongs to this process or to uid. When uid or gid is
// not -1 the file is given to them (fchown), so that the daemon, once it
// runs as that account, can still write it and reopen it on SIGHUP.
func OpenLogFile(path string, uid, gid int) (*LogFile, error) {
	l := &LogFile{path: path, uid: uid, gid: gid}
	f, err := l.open()
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

func (l *LogFile) open() (*os.File, error) {
	dir, base, err := splitPath(l.path)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	dirfd, err := openDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", l.path, err)
	}
	defer unix.Close(dirfd)
	owners := []int{os.Geteuid()}
	if l.uid >= 0 {
		owners = append(owners, l.uid)
	}
	f, err := openAt(dirfd, l.path, base, unix.O_WRONLY|unix.O_APPEND, 0o640, owners)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	if l.uid >= 0 || l.gid >= 0 {
		var st unix.Stat_t
		err := unix.Fstat(int(f.Fd()), &st)
		if err == nil && (l.uid >= 0 && int(st.Uid) != l.uid || l.gid >= 0 && int(st.Gid) != l.gid) {
			err = unix.Fchown(int(f.Fd()), l.uid, l.gid)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("log file %s: giving it to uid %d gid %d: %w", l.path, l.uid, l.gid, err)
		}
	}
	return f, nil
}

// Write writes one log record.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens the path again and switches to it. On failure (the new
// file cannot be created, for example because the daemon, now running as
// its --user account, may not write the directory) the old file stays in
// use.
func (l *LogFile) Reopen() error {
	f, err := l.open()
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
