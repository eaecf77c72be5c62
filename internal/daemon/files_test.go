package daemon

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// requireRoot stops a test that needs root: a skip with the reason off CI,
// a failure with CI=true, where the tests run as root.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "needs root: " + why
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// nobody returns the uid and gid of the account nobody.
func nobody(t *testing.T) (int, int) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// secret is a file outside the test's directory that the daemon must never
// write; check says whether it is untouched, content and mode.
type secret struct{ path string }

func newSecret(t *testing.T) secret {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("root's secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return secret{p}
}

func (s secret) check(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(s.path)
	if err != nil || string(b) != "root's secret\n" {
		t.Errorf("the target file now holds %q (%v); want it untouched", b, err)
	}
	if fi, err := os.Stat(s.path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the target file's mode is %v (%v); want 0600", fi.Mode(), err)
	}
}

// openers are the two files the daemon opens for writing as root.
var openers = map[string]func(path string) error{
	"pidfile": func(path string) error {
		p, err := AcquirePIDFile(path)
		if err == nil {
			p.Remove()
		}
		return err
	},
	"log": func(path string) error {
		l, err := OpenLogFile(path, -1, -1)
		if err == nil {
			l.Close()
		}
		return err
	},
}

func TestOpenRefusesUnsafeFiles(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, dir, path string, s secret)
		want  string // in the error; "" for success
	}{
		{"symlink to another file", func(t *testing.T, dir, path string, s secret) {
			os.Symlink(s.path, path)
		}, "is a symbolic link"},
		{"dangling symlink", func(t *testing.T, dir, path string, s secret) {
			// O_CREAT through it would create the file it names.
			os.Symlink(s.path+".new", path)
		}, "is a symbolic link"},
		{"fifo", func(t *testing.T, dir, path string, s secret) {
			if err := unix.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is a fifo"},
		{"directory", func(t *testing.T, dir, path string, s secret) {
			os.Mkdir(path, 0o755)
		}, "is a directory"},
		{"hard link", func(t *testing.T, dir, path string, s secret) {
			if err := os.Link(s.path, path); err != nil {
				t.Skipf("hard link across the temporary directories: %v", err)
			}
		}, "2 hard links"},
		{"group-writable directory", func(t *testing.T, dir, path string, s secret) {
			os.Chmod(dir, 0o775)
		}, "writable by group and not sticky"},
		{"world-writable directory", func(t *testing.T, dir, path string, s secret) {
			os.Chmod(dir, 0o757)
		}, "writable by others and not sticky"},
		{"world-writable sticky directory", func(t *testing.T, dir, path string, s secret) {
			os.Chmod(dir, os.ModeSticky|0o777)
		}, ""},
		{"not a file name", func(t *testing.T, dir, path string, s secret) {}, ""},
	}
	for kind, open := range openers {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				s := newSecret(t)
				// Both temporary directories are under the same
				// parent, so a hard link between them works.
				dir := filepath.Join(filepath.Dir(s.path), "d")
				os.Mkdir(dir, 0o755)
				path := filepath.Join(dir, "f")
				tt.plant(t, dir, path, s)
				if tt.name == "not a file name" {
					path = "/"
					tt.want = "does not name a file"
				}
				err := open(path)
				switch {
				case tt.want == "" && err != nil:
					t.Fatalf("got %v; want success", err)
				case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
					t.Fatalf("got %v; want an error with %q", err, tt.want)
				}
				s.check(t)
				if _, err := os.Stat(s.path + ".new"); !os.IsNotExist(err) {
					t.Errorf("a file was created through the dangling link (%v)", err)
				}
			})
		}
	}
}

// TestOpenRefusesFilesOfOthers: as root, a file that another account
// (which can write the directory) left at the path is not written to.
func TestOpenRefusesFilesOfOthers(t *testing.T) {
	requireRoot(t, "files owned by another account")
	uid, gid := nobody(t)
	for kind, open := range openers {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			os.Chown(dir, uid, gid)
			path := filepath.Join(dir, "f")
			os.WriteFile(path, nil, 0o644)
			os.Chown(path, uid, gid)
			err := open(path)
			if err == nil || !strings.Contains(err.Error(), "belongs to uid "+strconv.Itoa(uid)) {
				t.Fatalf("got %v; want the owner named", err)
			}
			// A symlink planted by that account, to a root-owned
			// file, is refused the same way.
			s := newSecret(t)
			link := filepath.Join(dir, "l")
			os.Symlink(s.path, link)
			os.Lchown(link, uid, gid)
			if err := open(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("got %v; want the symbolic link refused", err)
			}
			s.check(t)
		})
	}
}

func TestLogFileOwnerAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "listen.log")
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid, gid = nobody(t)
	}
	l, err := OpenLogFile(path, uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o640 {
		t.Errorf("mode %#o; want 0640", st.Mode&0o777)
	}
	if uid >= 0 && (int(st.Uid) != uid || int(st.Gid) != gid) {
		t.Errorf("owner %d:%d; want %d:%d (the --user account)", st.Uid, st.Gid, uid, gid)
	}
	l.Write([]byte("one\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("two\n"))
	for p, want := range map[string]string{path + ".1": "one\n", path: "two\n"} {
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s holds %q; want %q", p, b, want)
		}
	}
	// A symbolic link put in place of the rotated file is refused, and
	// the old file stays in use.
	s := newSecret(t)
	os.Rename(path, path+".2")
	os.Symlink(s.path, path)
	if err := l.Reopen(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Reopen through a symbolic link: %v", err)
	}
	l.Write([]byte("three\n"))
	if b, _ := os.ReadFile(path + ".2"); string(b) != "two\nthree\n" {
		t.Errorf("after the refused reopen the old file holds %q", b)
	}
	s.check(t)
}
