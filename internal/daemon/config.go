package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
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
var TunableKeys = []string{"max-clients", "idle-timeout", "max-line", "shutdown-timeout", "log-level"}

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

// Validate checks every tunable; the error names the flag and its value.
func (t Tunables) Validate() error {
	for _, key := range TunableKeys {
		if err := t.check(key); err != nil {
			return fmt.Errorf("--%s %s: %w", key, t.value(key), err)
		}
	}
	return nil
}

func (t Tunables) check(key string) error {
	switch key {
	case "max-clients":
		if t.MaxClients < 1 || t.MaxClients > MaxMaxClients {
			return fmt.Errorf("must be between 1 and %d", MaxMaxClients)
		}
	case "max-line":
		if t.MaxLine < 1 || t.MaxLine > MaxMaxLine {
			return fmt.Errorf("must be between 1 and %d", MaxMaxLine)
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
			return nil, fmt.Errorf("line %d: %q: want key = value", n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !isTunable(key) {
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

func isTunable(key string) bool {
	for _, k := range TunableKeys {
		if k == key {
			return true
		}
	}
	return false
}
