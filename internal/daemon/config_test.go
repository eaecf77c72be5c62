package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	good := "# listen settings\n\nmax-clients = 200\n  idle-timeout=90s  \r\nlog-level = debug\n"
	entries, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{3, "max-clients", "200"}, {4, "idle-timeout", "90s"}, {5, "log-level", "debug"}}
	if !slices.Equal(entries, want) {
		t.Fatalf("got %v; want %v", entries, want)
	}
	bad := map[string]string{
		"no equals":   "max-clients 200\n",
		"unknown key": "max_clients = 3\n",
		"twice":       "max-line = 1\nmax-line = 2\n",
		"empty key":   "= 3\n",
	}
	wantErr := map[string]string{
		"no equals":   "line 1:",
		"unknown key": `line 1: unknown setting "max_clients"`,
		"twice":       "line 2: max-line is set twice (first on line 1)",
		"empty key":   `line 1: unknown setting ""`,
	}
	for name, text := range bad {
		_, err := ParseConfig([]byte(text))
		if err == nil || !strings.Contains(err.Error(), wantErr[name]) {
			t.Errorf("%s: error %v; want one containing %q", name, err, wantErr[name])
		}
	}
}

func TestTunablesSet(t *testing.T) {
	var tu Tunables
	for _, kv := range [][2]string{{"max-clients", "7"}, {"idle-timeout", "2m"}, {"max-line", "100"}, {"shutdown-timeout", "0"}, {"log-level", "warn"}} {
		if err := tu.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%q, %q): %v", kv[0], kv[1], err)
		}
	}
	want := Tunables{Settings: Settings{MaxClients: 7, IdleTimeout: 2 * time.Minute, MaxLine: 100}, LogLevel: slog.LevelWarn}
	if tu != want {
		t.Fatalf("got %+v; want %+v", tu, want)
	}
	for _, kv := range [][3]string{
		{"max-clients", "0", `max-clients "0": must be 1 to`},
		{"max-clients", "lots", `max-clients "lots": want a whole number`},
		{"max-line", fmt.Sprint(MaxMaxLine + 1), "must be 1 to"},
		{"idle-timeout", "-1s", "must not be negative"},
		{"shutdown-timeout", "soon", "want a duration"},
		{"log-level", "loud", "unknown log level"},
		{"colour", "red", `unknown setting "colour"`},
	} {
		err := tu.Set(kv[0], kv[1])
		if err == nil || !strings.Contains(err.Error(), kv[2]) {
			t.Errorf("Set(%q, %q): %v; want an error containing %q", kv[0], kv[1], err, kv[2])
		}
	}
	if err := (Tunables{Settings: Settings{MaxClients: 1, MaxLine: 0}}).Validate(); err == nil || !strings.Contains(err.Error(), "--max-line 0") {
		t.Errorf("Validate: %v; want the flag named", err)
	}
}

// FuzzParseConfig: the parser never panics, and what it accepts prints
// back to a file that parses to the same entries.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("max-clients = 10\n# c\nidle-timeout=1s\n"))
	f.Add([]byte("log-level = debug\r\nmax-line=  5 \n\n"))
	f.Add([]byte("max-line\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseConfig(data)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, e := range entries {
			if !isTunable(e.Key) || strings.ContainsAny(e.Value, "\n") {
				t.Fatalf("accepted entry %+v", e)
			}
			fmt.Fprintf(&b, "%s = %s\n", e.Key, e.Value)
		}
		again, err := ParseConfig([]byte(b.String()))
		if err != nil {
			t.Fatalf("reparse of %q: %v", b.String(), err)
		}
		if len(again) != len(entries) {
			t.Fatalf("reparse gave %d entries; want %d", len(again), len(entries))
		}
		for i := range again {
			if again[i].Key != entries[i].Key || again[i].Value != entries[i].Value {
				t.Fatalf("entry %d: %+v after reparse; was %+v", i, again[i], entries[i])
			}
		}
	})
}

func TestConfigFileRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "listen.conf")
	os.WriteFile(path, []byte("max-clients = 1\n"), 0o600)
	c, err := OpenConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func(want string) {
		t.Helper()
		got, err := c.Read()
		if err != nil || string(got) != want {
			t.Fatalf("Read() = %q, %v; want %q", got, err, want)
		}
	}
	read("max-clients = 1\n")
	// Edited in place.
	os.WriteFile(path, []byte("max-clients = 2\n"), 0o600)
	read("max-clients = 2\n")
	// Replaced by rename, as editors save: the new file is read.
	os.WriteFile(path+".tmp", []byte("max-clients = 3\n"), 0o600)
	os.Rename(path+".tmp", path)
	read("max-clients = 3\n")

	os.WriteFile(path, make([]byte, maxConfigSize+1), 0o600)
	if _, err := c.Read(); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a huge file: got %v", err)
	}
	os.Remove(path)
	if _, err := c.Read(); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("a removed file: got %v", err)
	}
	if _, err := OpenConfigFile(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("a directory: got %v", err)
	}
}

func TestParseConfigQuotesNoContent(t *testing.T) {
	// Pointed at a file that is not a config file, the errors do not
	// show what it holds.
	for _, text := range []string{"root:$6$salt$hash:19000:0:99999:7:::\n", "API_TOKEN=abc123\n"} {
		_, err := ParseConfig([]byte(text))
		if err == nil {
			t.Fatalf("ParseConfig(%q) succeeded", text)
		}
		for _, secret := range []string{"salt", "hash", "TOKEN", "abc123"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseConfig(%q): error %q shows %q", text, err, secret)
			}
		}
	}
}
