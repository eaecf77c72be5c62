package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// account is the unprivileged user the tests run the daemon as.
type account struct {
	name     string
	uid, gid int
}

func nobodyAccount(t *testing.T) account {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return account{"nobody", uid, gid}
}

// run runs a command as a, as an unprivileged user would (setpriv from
// util-linux), and fails the test if it fails.
func (a account) run(t *testing.T, args ...string) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is not installed: %v", err)
	}
	cmd := exec.Command(setpriv, append([]string{"--reuid", strconv.Itoa(a.uid), "--regid", strconv.Itoa(a.gid), "--clear-groups", "--"}, args...)...)
	t.Logf("$ %s", strings.Join(cmd.Args, " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// dirs makes a directory every account can traverse, with in it a root-owned
// directory (0755) and one owned by a (0755, like /run/listen chowned to the
// --user account).
func dirs(t *testing.T, a account) (rootDir, userDir string) {
	t.Helper()
	base, err := os.MkdirTemp("", "listen-sec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	rootDir, userDir = filepath.Join(base, "etc"), filepath.Join(base, "run")
	for _, d := range []string{rootDir, userDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(userDir, a.uid, a.gid); err != nil {
		t.Fatal(err)
	}
	return rootDir, userDir
}

// rootFile is a file only root may read or write; untouched checks that
// it still holds what it did, with the same mode and owner.
type rootFile struct{ path string }

const rootSecret = "root:only-root-reads-this\n"

func newRootFile(t *testing.T, dir string) rootFile {
	t.Helper()
	p := filepath.Join(dir, "shadow")
	if err := os.WriteFile(p, []byte(rootSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return rootFile{p}
}

func (f rootFile) untouched(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil || string(b) != rootSecret {
		t.Errorf("%s now holds %q (%v); want it untouched", f.path, b, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(f.path, &st); err != nil || st.Mode&0o7777 != 0o600 || st.Uid != 0 {
		t.Errorf("%s: mode %#o uid %d (%v); want 0600 root", f.path, st.Mode&0o7777, st.Uid, err)
	}
}

// TestFilesAsRootRefuseLinks: an unprivileged user who can write the
// directory of the pid file, the log or a unix socket plants a symbolic
// link there to a root-only file; the daemon, started as root, refuses
// with a clear message and the file is untouched.
func TestFilesAsRootRefuseLinks(t *testing.T) {
	requireRoot(t, "the daemon must run as root to be tricked into writing as root")
	a := nobodyAccount(t)
	tests := []struct {
		name, flag, file, want string
	}{
		{"pidfile", "--pidfile", "listen.pid", "is a symbolic link"},
		{"log", "--log", "listen.log", "is a symbolic link"},
		{"unix socket", "--unix", "echo.sock", "exists and is not a socket"},
		{"unixgram socket", "--unixgram", "echo.sock", "exists and is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootDir, userDir := dirs(t, a)
			target := newRootFile(t, rootDir)
			link := filepath.Join(userDir, tt.file)
			a.run(t, "ln", "-s", target.path, link)
			code, stderr := runToExit(t, "--tcp", "127.0.0.1:0", tt.flag, link)
			if code != exitFailure || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, link) {
				t.Fatalf("exit code %d, stderr %q; want 1, the path and %q", code, stderr, tt.want)
			}
			if strings.Contains(stderr, "only-root-reads-this") {
				t.Errorf("the error shows the target's content: %q", stderr)
			}
			target.untouched(t)
		})
	}
	t.Run("pidfile in a directory others can write", func(t *testing.T) {
		_, userDir := dirs(t, a)
		os.Chmod(userDir, 0o777)
		pf := filepath.Join(userDir, "listen.pid")
		code, stderr := runToExit(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		if code != exitFailure || !strings.Contains(stderr, "writable by group and others and not sticky") {
			t.Fatalf("exit code %d, stderr %q; want 1 and the directory refused", code, stderr)
		}
		if _, err := os.Lstat(pf); !os.IsNotExist(err) {
			t.Errorf("a pid file was created (%v)", err)
		}
	})
}

// threadIDs reads the Uid, Gid and Groups lines of every thread of pid.
func threadIDs(t *testing.T, pid int) []map[string]string {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, task := range tasks {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue // the thread exited
		}
		fields := map[string]string{"task": task.Name()}
		for _, line := range strings.Split(string(status), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "Uid" || k == "Gid" || k == "Groups" {
				fields[k] = strings.Join(strings.Fields(v), " ")
			}
		}
		out = append(out, fields)
	}
	if len(out) == 0 {
		t.Fatalf("no thread of pid %d read", pid)
	}
	return out
}

// checkThreads checks that every thread of pid runs as uid and gid (real,
// effective, saved and filesystem ids) with no supplementary group.
func checkThreads(t *testing.T, pid, uid, gid int) {
	t.Helper()
	wantUID := strings.TrimSpace(strings.Repeat(strconv.Itoa(uid)+" ", 4))
	wantGID := strings.TrimSpace(strings.Repeat(strconv.Itoa(gid)+" ", 4))
	for _, f := range threadIDs(t, pid) {
		if f["Uid"] != wantUID || f["Gid"] != wantGID || f["Groups"] != "" {
			t.Errorf("thread %s: Uid %q Gid %q Groups %q; want Uid %q Gid %q and no group", f["task"], f["Uid"], f["Gid"], f["Groups"], wantUID, wantGID)
		}
	}
}

func fileOwner(t *testing.T, path string) (mode uint32, uid, gid int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Mode, int(st.Uid), int(st.Gid)
}

// TestPrivilegeDropFiles runs the daemon as an operator would: started as
// root with --user, its pid file, log and sockets in a directory owned by
// that user (/run/listen), its config file readable by root only. After
// the drop every thread runs as the user; the socket files are the user's
// and open to all (0666); the pid file is root's; SIGHUP reopens the
// rotated log and re-reads the 0600 config; at exit the pid file and the
// sockets are gone.
func TestPrivilegeDropFiles(t *testing.T) {
	requireRoot(t, "the daemon must start as root to drop privileges")
	a := nobodyAccount(t)
	rootDir, userDir := dirs(t, a)
	conf := filepath.Join(rootDir, "listen.conf")
	if err := os.WriteFile(conf, []byte("max-clients = 100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, logPath := filepath.Join(userDir, "listen.pid"), filepath.Join(userDir, "listen.log")
	sock, gram := filepath.Join(userDir, "echo.sock"), filepath.Join(userDir, "echo.gram")
	p := launch(t, exec.Command(binPath, "--tcp", "127.0.0.1:0", "--unix", sock, "--unixgram", gram,
		"--pidfile", pf, "--log", logPath, "--log-format", "json", "--config", conf, "--user", a.name))
	waitFileLog(t, logPath, `"msg":"serving"`, 10*time.Second)

	checkThreads(t, p.pid, a.uid, a.gid)
	for _, s := range []string{sock, gram} {
		if mode, uid, gid := fileOwner(t, s); mode&syscall.S_IFMT != syscall.S_IFSOCK || mode&0o7777 != 0o666 || uid != a.uid || gid != a.gid {
			t.Errorf("%s: mode %#o owner %d:%d; want a socket, 0666, owned by %d:%d", s, mode, uid, gid, a.uid, a.gid)
		}
	}
	if mode, uid, _ := fileOwner(t, pf); mode&0o7777 != 0o644 || uid != 0 {
		t.Errorf("pid file: mode %#o uid %d; want 0644 root", mode&0o7777, uid)
	}
	if got := readPID(t, pf); got != p.pid {
		t.Errorf("pid file says %d; the daemon is %d", got, p.pid)
	}
	if mode, uid, gid := fileOwner(t, logPath); mode&0o7777 != 0o640 || uid != a.uid || gid != a.gid {
		t.Errorf("log file: mode %#o owner %d:%d; want 0640 %d:%d", mode&0o7777, uid, gid, a.uid, a.gid)
	}
	c := dial(t, "unix", sock)
	if got, err := roundTrip(c, "as nobody\n"); err != nil || got != "as nobody\n" {
		t.Fatalf("unix echo: got %q, %v", got, err)
	}

	// logrotate moves the log away; the config is edited in place.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("max-clients = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	waitFileLog(t, logPath, `"msg":"settings reloaded","max_clients":1`, 5*time.Second)
	if _, uid, _ := fileOwner(t, logPath); uid != a.uid {
		t.Errorf("the reopened log belongs to uid %d; want %d", uid, a.uid)
	}
	second := dial(t, "tcp", waitAddr(t, logPath+".1", "tcp"))
	expectEOF(t, second, "error: too many clients (max 1)\n", 5*time.Second)

	// An editor that saves by rename leaves a new file the daemon may not
	// read: the reload fails and says why, the settings stay.
	os.WriteFile(conf+".new", []byte("max-clients = 7\n"), 0o600)
	os.Rename(conf+".new", conf)
	p.signal(syscall.SIGHUP)
	line := waitFileLog(t, logPath, `reload failed; keeping the running settings`, 5*time.Second)
	if !strings.Contains(line, "replaced") {
		t.Errorf("the failed reload does not say the file was replaced: %s", line)
	}

	c.Close()
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
		t.Fatalf("exit code %d (exited %v):\n%s", code, ok, p.stderr())
	}
	for _, f := range []string{pf, sock, gram} {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind after exit (%v)", f, err)
		}
	}
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "removing pid file") {
		t.Errorf("the pid file removal failed:\n%s", b)
	}
}

// waitAddr returns the address of the first listener of network logged in
// a JSON log file.
func waitAddr(t *testing.T, logPath, network string) string {
	t.Helper()
	line := waitFileLog(t, logPath, `"msg":"listening","network":"`+network+`"`, 5*time.Second)
	addr := line[strings.Index(line, `"addr":"`)+8:]
	return addr[:strings.IndexByte(addr, '"')]
}

// TestPIDFileInRootDirectory: with --user, a pid file in a directory only
// root can write cannot be removed at exit; the daemon says so, and the
// next start takes the stale file over.
func TestPIDFileInRootDirectory(t *testing.T) {
	requireRoot(t, "the daemon must start as root to drop privileges")
	a := nobodyAccount(t)
	rootDir, _ := dirs(t, a)
	pf := filepath.Join(rootDir, "listen.pid")
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--pidfile", pf, "--user", a.name)
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
		t.Fatalf("exit code %d (exited %v)", code, ok)
	}
	if l, ok := p.waitLog("removing pid file", 0); !ok || !strings.Contains(l.str("err"), "directory must be writable by the --user account") {
		t.Errorf("want the failed removal explained; logged %v", l)
	}
	if got := readPID(t, pf); got != p.pid {
		t.Fatalf("pid file says %d; want the old daemon's %d left behind", got, p.pid)
	}
	next := startDaemon(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
	if got := readPID(t, pf); got != next.pid {
		t.Fatalf("pid file says %d; want the new daemon's %d", got, next.pid)
	}
}

// TestUserWithoutEntry: a uid with no passwd entry has no group to take;
// without --run-group that is a usage error, with it the daemon runs as that
// uid and group.
func TestUserWithoutEntry(t *testing.T) {
	uid := ""
	for n := 99999; n < 99999+1000 && uid == ""; n++ {
		if _, err := user.LookupId(strconv.Itoa(n)); err != nil {
			uid = strconv.Itoa(n)
		}
	}
	if uid == "" {
		t.Fatal("no uid without an entry between 99999 and 100998")
	}
	code, stderr := runToExit(t, "--tcp", "127.0.0.1:0", "--user", uid)
	if code != exitUsage || !strings.Contains(stderr, "--user "+uid) || !strings.Contains(stderr, "give --run-group") {
		t.Fatalf("exit code %d, stderr %q; want %d, naming --user %s and asking for --run-group", code, stderr, exitUsage, uid)
	}
	requireRoot(t, "running as another uid")
	a := nobodyAccount(t)
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--user", uid, "--run-group", strconv.Itoa(a.gid))
	n, _ := strconv.Atoi(uid)
	checkThreads(t, p.pid, n, a.gid)
}

// TestSocketMode: --socket-mode sets the socket files' mode; a bad value
// is a usage error.
func TestSocketMode(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	p := startDaemon(t, "--unix", sock, "--socket-mode", "0600")
	if mode, uid, _ := fileOwner(t, sock); mode&0o7777 != 0o600 || uid != os.Geteuid() {
		t.Errorf("mode %#o uid %d; want 0600 and the daemon's own uid %d", mode&0o7777, uid, os.Geteuid())
	}
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.signal(syscall.SIGTERM)
	p.wait(5 * time.Second)
	for _, bad := range []string{"0888", "1777", "rw", "-1"} {
		code, stderr := runToExit(t, "--unix", sock, "--socket-mode", bad)
		if code != exitUsage || !strings.Contains(stderr, `--socket-mode "`+bad+`"`) {
			t.Errorf("--socket-mode %s: exit code %d, stderr %q; want %d and the flag named", bad, code, stderr, exitUsage)
		}
	}
}
