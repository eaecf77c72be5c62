package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bcastdev/bcast/internal/cmdline"
	"golang.org/x/sys/unix"
)

// Limits on the tunables: wide enough for any real use, narrow enough that a
// typo cannot ask for a terabyte line buffer.
const (
	MaxMaxClients = 1 << 20
	MaxMaxLine    = 16 << 20
)

// Tunables are the settings a running daemon re-reads on SIGHUP. Their
// names in a config file are the long names of the matching flags.
type Tunables struct {
	Settings
	LogLevel slog.Level
}

// TunableKeys lists the names a config file may set, in the order the
// documentation gives them.
var TunableKeys = []string{"max-clients", "idle-timeout", "max-line", "client-memory", "shutdown-timeout", "log-level"}

// Set parses value for the tunable key and stores it; the error names the
// key and the value.
func (t *Tunables) Set(key, value string) error {
	bad := func(why string) error { return fmt.Errorf("%s %q: %s", key, value, why) }
	switch key {
	case "max-clients", "max-line":
		n, err := strconv.Atoi(value)
		if err != nil {
			return bad("want a whole number")
		}
		if key == "max-clients" {
			t.MaxClients = n
		} else {
			t.MaxLine = n
		}
	case "idle-timeout", "shutdown-timeout":
		d, err := time.ParseDuration(value)
		if err != nil {
			return bad("want a duration such as 90s or 5m")
		}
		if key == "idle-timeout" {
			t.IdleTimeout = d
		} else {
			t.ShutdownTimeout = d
		}
	case "client-memory":
		n, err := cmdline.ParseSize(value)
		if err != nil {
			return bad(err.Error())
		}
		t.ClientMemory = n
	case "log-level":
		lv, err := ParseLogLevel(value)
		if err != nil {
			return bad(err.Error())
		}
		t.LogLevel = lv
	default:
		return fmt.Errorf("unknown setting %q: want one of %s", key, strings.Join(TunableKeys, ", "))
	}
	if err := t.check(key); err != nil {
		return bad(err.Error())
	}
	return nil
}

// Validate checks every tunable, and those that must fit together; the
// error names the flag and its value.
func (t Tunables) Validate() error {
	for _, key := range TunableKeys {
		if err := t.check(key); err != nil {
			return fmt.Errorf("--%s %s: %w", key, t.value(key), err)
		}
	}
	return t.CheckTogether()
}

// CheckTogether checks what no single tunable decides: client-memory must
// leave a client that holds data room for two lines of max-line (see
// budget.go), or a long line could never be completed.
func (t Tunables) CheckTogether() error {
	if need := minClientMemory(t.MaxLine); t.ClientMemory < need {
		return fmt.Errorf("--client-memory %s is too small for --max-line %d: it must hold two such lines with their newlines (%d bytes at least)",
			cmdline.FormatSize(t.ClientMemory), t.MaxLine, need)
	}
	return nil
}

func (t Tunables) check(key string) error {
	switch key {
	case "max-clients":
		if t.MaxClients < 1 || t.MaxClients > MaxMaxClients {
			return fmt.Errorf("must be 1 to %d", MaxMaxClients)
		}
	case "max-line":
		if t.MaxLine < 1 || t.MaxLine > MaxMaxLine {
			return fmt.Errorf("must be 1 to %d", MaxMaxLine)
		}
	case "client-memory":
		if t.ClientMemory < MinClientMemory || t.ClientMemory > MaxClientMemory {
			return fmt.Errorf("must be %s to %s", cmdline.FormatSize(MinClientMemory), cmdline.FormatSize(MaxClientMemory))
		}
	case "idle-timeout", "shutdown-timeout":
		if d := t.duration(key); d < 0 {
			return fmt.Errorf("must not be negative (0 means %s)", map[string]string{"idle-timeout": "never", "shutdown-timeout": "close clients at once"}[key])
		}
	}
	return nil
}

func (t Tunables) duration(key string) time.Duration {
	if key == "idle-timeout" {
		return t.IdleTimeout
	}
	return t.ShutdownTimeout
}

func (t Tunables) value(key string) string {
	switch key {
	case "max-clients":
		return strconv.Itoa(t.MaxClients)
	case "max-line":
		return strconv.Itoa(t.MaxLine)
	case "client-memory":
		return cmdline.FormatSize(t.ClientMemory)
	case "idle-timeout", "shutdown-timeout":
		return t.duration(key).String()
	}
	return LogLevelName(t.LogLevel)
}

// ParseLogLevel reads debug, info, warn or error.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q: want debug, info, warn or error", s)
}

// LogLevelName is the config-file spelling of a level.
func LogLevelName(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	}
	return "error"
}

// Entry is one "key = value" line of a config file.
type Entry struct {
	Line       int
	Key, Value string
}

// ParseConfig reads a config file: one "key = value" a line, blank lines and
// lines starting with '#' ignored, keys from TunableKeys, each at most once.
// Values are not interpreted here (see Tunables.Set); errors name the line.
func ParseConfig(data []byte) ([]Entry, error) {
	var entries []Entry
	seen := map[string]int{}
	for n := 1; len(data) > 0; n++ {
		var raw []byte
		raw, data, _ = bytes.Cut(data, []byte{'\n'})
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			// The line is not quoted: the path may have been pointed
			// at a file that is not a config file, and an error must
			// not show its content.
			return nil, fmt.Errorf("line %d: want key = value", n)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !isTunable(key) {
			if !keyShaped(key) {
				return nil, fmt.Errorf("line %d: unknown setting: want one of %s", n, strings.Join(TunableKeys, ", "))
			}
			return nil, fmt.Errorf("line %d: unknown setting %q: want one of %s", n, key, strings.Join(TunableKeys, ", "))
		}
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s is set twice (first on line %d)", n, key, first)
		}
		seen[key] = n
		entries = append(entries, Entry{Line: n, Key: key, Value: value})
	}
	return entries, nil
}

// keyShaped reports whether an unknown key looks like a misspelt setting
// (short, of lower-case letters, digits, '-' and '_'), which is worth quoting back; anything
// else may be the content of a file that is not a config file.
func keyShaped(key string) bool {
	if len(key) > 32 {
		return false
	}
	for _, r := range key {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

func isTunable(key string) bool {
	for _, k := range TunableKeys {
		if k == key {
			return true
		}
	}
	return false
}

// maxConfigSize bounds what is read of a config file: a page of settings is
// plenty, and a path pointed at something huge must not be slurped.
const maxConfigSize = 1 << 20

// ConfigFile is the --config file. It is opened at start, before the
// privilege drop, and the descriptor is kept: a file only root may read
// (mode 0600) can then still be re-read on SIGHUP by the unprivileged
// daemon, as long as it is edited in place.
type ConfigFile struct {
	path string
	f    *os.File
}

// OpenConfigFile opens path for reading; it must be a regular file.
func OpenConfigFile(path string) (*ConfigFile, error) {
	f, err := openConfig(path)
	if err != nil {
		return nil, err
	}
	return &ConfigFile{path: path, f: f}, nil
}

func openConfig(path string) (*os.File, error) {
	// Symbolic links are followed (a config file is often one, and it is
	// only read). O_NONBLOCK keeps a fifo from blocking the open.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is %s, not a regular file", path, fileKind(st.Mode))
	}
	unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), path), nil
}

// Path is the file's path.
func (c *ConfigFile) Path() string { return c.path }

// Read returns the current content of the file. It opens the path again
// first, so that a file replaced by rename (as many editors and sed -i
// save) is seen; when this process may not open it (after the privilege
// drop, a file only root can read), it reads through the descriptor kept
// from the start, if the path still names that file. A replaced file that
// cannot be opened is an error that says so: the old content is not
// silently served.
func (c *ConfigFile) Read() ([]byte, error) {
	f, err := openConfig(c.path)
	if err == nil {
		c.f.Close()
		c.f = f
		return readLimited(f, c.path)
	}
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return nil, err
	}
	var held, now unix.Stat_t
	if serr := unix.Fstat(int(c.f.Fd()), &held); serr != nil {
		return nil, &os.PathError{Op: "fstat", Path: c.path, Err: serr}
	}
	if serr := unix.Stat(c.path, &now); serr != nil || held.Dev != now.Dev || held.Ino != now.Ino {
		return nil, fmt.Errorf("%w, and it is not the file opened at start (it was replaced, as editors that save by rename do): edit it in place, make it readable by uid %d, or restart the daemon", err, os.Geteuid())
	}
	return readLimited(c.f, c.path)
}

// readLimited reads f from offset 0 (pread: the kept descriptor is read
// again at every reload) up to maxConfigSize.
func readLimited(f *os.File, path string) ([]byte, error) {
	data, err := io.ReadAll(io.NewSectionReader(f, 0, maxConfigSize+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a config file", path, maxConfigSize)
	}
	return data, nil
}

// Close closes the kept descriptor.
func (c *ConfigFile) Close() error { return c.f.Close() }
