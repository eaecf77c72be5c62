package daemon

import (
	"fmt"
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
		want := fmt.Sprintf("locked by a running process (pid %d", os.Getpid())
		if _, err := AcquirePIDFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("second acquire: %v; want %q", err, want)
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
	t.Run("unrelated live pid, no lock", func(t *testing.T) {
		// pid 1 always runs, but holds no lock on the file: the file
		// is stale and is taken over.
		path := filepath.Join(dir, "live.pid")
		os.WriteFile(path, []byte("1\n"), 0o644)
		p, err := AcquirePIDFile(path)
		if err != nil {
			t.Fatalf("got %v; want the stale file taken over", err)
		}
		defer p.Remove()
		if p.Stale() != 1 {
			t.Errorf("Stale() = %d; want 1", p.Stale())
		}
		if b, _ := os.ReadFile(path); string(b) != self {
			t.Fatalf("pid file holds %q; want %q", b, self)
		}
	})
	t.Run("not a pid file", func(t *testing.T) {
		path := filepath.Join(dir, "notes.txt")
		os.WriteFile(path, []byte("token=hunter2\n"), 0o644)
		_, err := AcquirePIDFile(path)
		if err == nil || !strings.Contains(err.Error(), "not a process id") || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("got %v; want a refusal that does not quote the file", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "token=hunter2\n" {
			t.Fatalf("the file was changed to %q", b)
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

// TestPIDFileRemoveThroughDirectory: the pid file is unlinked through the
// directory descriptor opened at start, not by path. (The removal after a
// real privilege drop is tested on the daemon in cmd/listen.)
func TestPIDFileRemoveThroughDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "listen.pid")
	p, err := AcquirePIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The path now leads elsewhere: Remove works on the directory it
	// opened at start.
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(moved) })
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moved, "listen.pid")); !os.IsNotExist(err) {
		t.Fatalf("the pid file is still there (%v)", err)
	}
}
