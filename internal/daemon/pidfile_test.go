package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParsePID(t *testing.T) {
	for text, want := range map[string]int{"123\n": 123, " 42 ": 42, "": 0, "\n": 0, "007": 7} {
		if got, err := ParsePID([]byte(text)); err != nil || got != want {
			t.Errorf("ParsePID(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
	for _, text := range []string{"-1", "+5", "0", "12 34", "abc", "1e3", "99999999999999999999"} {
		if got, err := ParsePID([]byte(text)); err == nil {
			t.Errorf("ParsePID(%q) = %d; want an error", text, got)
		}
	}
}

func FuzzParsePID(f *testing.F) {
	f.Add([]byte("123\n"))
	f.Add([]byte(" \t\n"))
	f.Add([]byte("-4"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pid, err := ParsePID(data)
		if err != nil {
			return
		}
		if pid < 0 {
			t.Fatalf("ParsePID(%q) = %d", data, pid)
		}
		if pid > 0 && strconv.Itoa(pid) != strings.TrimLeft(strings.TrimSpace(string(data)), "0") {
			t.Fatalf("ParsePID(%q) = %d: not the number written", data, pid)
		}
	})
}

func TestAcquirePIDFile(t *testing.T) {
	dir := t.TempDir()
	self := strconv.Itoa(os.Getpid()) + "\n"

	t.Run("new", func(t *testing.T) {
		path := filepath.Join(dir, "new.pid")
		p, err := AcquirePIDFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != self {
			t.Fatalf("pid file holds %q; want %q", b, self)
		}
		// A second holder is refused while the first holds the lock.
		if _, err := AcquirePIDFile(path); err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("second acquire: %v; want a lock error", err)
		}
		if err := p.Remove(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("still there after Remove: %v", err)
		}
	})
	t.Run("stale", func(t *testing.T) {
		cmd := exec.Command("/bin/sh", "-c", "exit 0")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "stale.pid")
		os.WriteFile(path, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
		p, err := AcquirePIDFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Remove()
		if b, _ := os.ReadFile(path); string(b) != self {
			t.Fatalf("pid file holds %q; want %q", b, self)
		}
	})
	t.Run("live", func(t *testing.T) {
		path := filepath.Join(dir, "live.pid")
		os.WriteFile(path, []byte("1\n"), 0o644) // pid 1 always runs
		if _, err := AcquirePIDFile(path); err == nil || !strings.Contains(err.Error(), "pid 1") {
			t.Fatalf("got %v; want pid 1 named as running", err)
		}
	})
	t.Run("own pid", func(t *testing.T) {
		// A container restarts its daemon with the same pid: a file
		// naming this very process is stale, not a rival.
		path := filepath.Join(dir, "own.pid")
		os.WriteFile(path, []byte(self), 0o644)
		p, err := AcquirePIDFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p.Remove()
	})
	t.Run("replaced by someone else", func(t *testing.T) {
		path := filepath.Join(dir, "replaced.pid")
		p, err := AcquirePIDFile(path)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(path)
		os.WriteFile(path, []byte("12345\n"), 0o644)
		if err := p.Remove(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != "12345\n" {
			t.Fatalf("Remove deleted or changed a file it no longer owned: %q", b)
		}
	})
	t.Run("no directory", func(t *testing.T) {
		if _, err := AcquirePIDFile(filepath.Join(dir, "none", "x.pid")); err == nil || !strings.Contains(err.Error(), "none/x.pid") {
			t.Fatalf("got %v; want the path named", err)
		}
	})
}
