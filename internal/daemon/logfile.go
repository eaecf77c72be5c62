package daemon

import (
	"fmt"
	"os"
	"sync"
)

// LogFile is a log destination that can be reopened, so that after
// logrotate moves the file away a SIGHUP makes the daemon write to a new
// file at the same path.
type LogFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenLogFile opens path for appending, creating it (mode 0640) if needed.
func OpenLogFile(path string) (*LogFile, error) {
	f, err := openLog(path)
	if err != nil {
		return nil, err
	}
	return &LogFile{path: path, f: f}, nil
}

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
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
// file cannot be created, for example after privileges were dropped) the
// old file stays in use.
func (l *LogFile) Reopen() error {
	f, err := openLog(l.path)
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
