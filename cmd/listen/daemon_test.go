package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file holds %q", b)
	}
	return pid
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(binPath, "--help")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestPIDFile(t *testing.T) {
	t.Run("written and removed", func(t *testing.T) {
		pf := filepath.Join(t.TempDir(), "listen.pid")
		p := startDaemon(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		if got := readPID(t, pf); got != p.pid {
			t.Fatalf("pid file says %d; the daemon is %d", got, p.pid)
		}
		p.signal(syscall.SIGTERM)
		if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
			t.Fatalf("exit code %d (exited %v); want 0", code, ok)
		}
		if _, err := os.Stat(pf); !os.IsNotExist(err) {
			t.Fatalf("pid file still there after exit: %v", err)
		}
	})
	t.Run("unrelated live pid taken over", func(t *testing.T) {
		// pid 1 always runs, but nobody holds the file's lock: the
		// file is stale, whatever process has the number now.
		pf := filepath.Join(t.TempDir(), "listen.pid")
		os.WriteFile(pf, []byte("1\n"), 0o644)
		p := startDaemon(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		if got := readPID(t, pf); got != p.pid {
			t.Fatalf("pid file says %d; want the new daemon's %d", got, p.pid)
		}
		if l, ok := p.waitLog("took over a stale pid file: nobody held its lock", 0); !ok || l["old_pid"] != float64(1) {
			t.Errorf("want the take-over logged with old_pid 1; logged %v", l)
		}
	})
	t.Run("stale replaced", func(t *testing.T) {
		pf := filepath.Join(t.TempDir(), "listen.pid")
		os.WriteFile(pf, []byte(strconv.Itoa(deadPID(t))+"\n"), 0o644)
		p := startDaemon(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		if got := readPID(t, pf); got != p.pid {
			t.Fatalf("pid file says %d; want the new daemon's %d", got, p.pid)
		}
	})
	t.Run("empty replaced", func(t *testing.T) {
		pf := filepath.Join(t.TempDir(), "listen.pid")
		os.WriteFile(pf, nil, 0o644)
		p := startDaemon(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		if got := readPID(t, pf); got != p.pid {
			t.Fatalf("pid file says %d; want %d", got, p.pid)
		}
	})
	t.Run("held by a running daemon", func(t *testing.T) {
		pf := filepath.Join(t.TempDir(), "listen.pid")
		p := startDaemon(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		code, stderr := runToExit(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		if code != exitFailure || !strings.Contains(stderr, "locked") || !strings.Contains(stderr, strconv.Itoa(p.pid)) {
			t.Fatalf("exit code %d, stderr %q; want 1, naming the lock and pid %d", code, stderr, p.pid)
		}
	})
	t.Run("not a pid file", func(t *testing.T) {
		pf := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(pf, []byte("my notes\n"), 0o644)
		code, stderr := runToExit(t, "--tcp", "127.0.0.1:0", "--pidfile", pf)
		if code != exitFailure || !strings.Contains(stderr, "not a process id") || strings.Contains(stderr, "my notes") {
			t.Fatalf("exit code %d, stderr %q; want 1 and the content refused without being quoted", code, stderr)
		}
		if b, _ := os.ReadFile(pf); string(b) != "my notes\n" {
			t.Fatalf("the file was changed to %q", b)
		}
	})
}

// TestSIGTERMWithClients: SIGTERM stops accepting, lets clients have the
// replies due, closes them, removes the pid and socket files and exits 0
// within --shutdown-timeout even when a client never reads.
func TestSIGTERMWithClients(t *testing.T) {
	dir := t.TempDir()
	pf, sock := filepath.Join(dir, "listen.pid"), filepath.Join(dir, "s")
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--unix", sock, "--pidfile", pf, "--shutdown-timeout", "2s")
	addr := p.addr("tcp")
	var idle []net.Conn
	for range 5 {
		idle = append(idle, dial(t, "tcp", addr))
	}
	idle = append(idle, dial(t, "unix", sock))
	partial := dial(t, "tcp", addr)
	io.WriteString(partial, "no newline yet")
	talker := dial(t, "tcp", addr)
	if got, err := roundTrip(talker, "before\n"); err != nil || got != "before\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	// A client that sends a lot and never reads keeps replies pending
	// until the deadline. Its receive buffer is kept small (set before
	// connect, so the kernel does not grow it): with the default one the
	// kernel could take all the pending replies, the connection would
	// then linger and close at the linger timeout, which is also 2s, not
	// at the shutdown deadline.
	small := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	stuck, err := small.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	var written atomic.Int64
	go func() {
		stuck.SetWriteDeadline(time.Now().Add(10 * time.Second))
		line := []byte(strings.Repeat("z", 1000) + "\n")
		for {
			n, err := stuck.Write(line)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	// Wait until the daemon has stopped reading the stuck client (its
	// replies are over the backlog limit, so its writes block): only then
	// are replies sure to be pending at SIGTERM, however slowly a loaded
	// machine ran the writer.
	for deadline, last := time.Now().Add(8*time.Second), int64(-1); ; {
		time.Sleep(100 * time.Millisecond)
		now := written.Load()
		if now == last && now > 256<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stuck client's writes never blocked (%d bytes written)", now)
		}
		last = now
	}
	io.WriteString(talker, "sent just before\n")
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	p.signal(syscall.SIGTERM)
	if _, ok := p.waitLog("shutting down", 5*time.Second); !ok {
		t.Fatalf("no shutdown logged:\n%s", p.stderr())
	}
	// New connections are refused at once.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("a connection was accepted after SIGTERM")
	}
	for i, c := range idle {
		expectEOF(t, c, "", time.Second)
		_ = i
	}
	// The unfinished line comes back, ended, as nc users expect.
	expectEOF(t, partial, "no newline yet\n", time.Second)
	expectEOF(t, talker, "sent just before\n", time.Second)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the well-behaved clients were closed %v after SIGTERM", d)
	}
	code, ok := p.wait(5 * time.Second)
	d := time.Since(start)
	if !ok || code != 0 {
		t.Fatalf("exit code %d (exited %v) after SIGTERM; want 0:\n%s", code, ok, p.stderr())
	}
	if d < 1500*time.Millisecond || d > 3500*time.Millisecond {
		t.Errorf("exited %v after SIGTERM; want about the 2s deadline (one client never read)", d)
	}
	if l, ok := p.waitLog("shutdown deadline passed: closing clients", 0); !ok || l["clients"] != float64(1) {
		t.Errorf("want one client closed at the deadline; logged %v\n%s", l, p.stderr())
	}
	for _, f := range []string{pf, sock} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind after exit (%v)", f, err)
		}
	}
}

// TestSecondSignal: a second SIGTERM closes every client at once.
func TestSecondSignal(t *testing.T) {
	p := startDaemon(t, "--tcp", "127.0.0.1:0", "--shutdown-timeout", "1m")
	stuck := dial(t, "tcp", p.addr("tcp"))
	io.WriteString(stuck, "waiting for its reply to be read\n")
	go func() {
		stuck.SetWriteDeadline(time.Now().Add(10 * time.Second))
		line := []byte(strings.Repeat("y", 1000) + "\n")
		for {
			if _, err := stuck.Write(line); err != nil {
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	p.signal(syscall.SIGTERM)
	p.waitLog("shutting down", 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.signal(syscall.SIGINT)
	code, ok := p.wait(5 * time.Second)
	if !ok || code != 0 {
		t.Fatalf("exit code %d (exited %v); want 0", code, ok)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("exited %v after the second signal", d)
	}
}

// TestSIGHUP: the config file is re-read and the log file reopened.
func TestSIGHUP(t *testing.T) {
	dir := t.TempDir()
	conf, logPath := filepath.Join(dir, "listen.conf"), filepath.Join(dir, "listen.log")
	os.WriteFile(conf, []byte("# start\nmax-clients = 100\nidle-timeout = 1h\n"), 0o644)
	p := launch(t, exec.Command(binPath, "--tcp", "127.0.0.1:0", "--config", conf, "--log", logPath, "--log-format", "json"))
	addr := waitFileLog(t, logPath, `"msg":"listening"`, 10*time.Second)
	addr = addr[strings.Index(addr, `"addr":"`)+8:]
	addr = addr[:strings.IndexByte(addr, '"')]

	first := dial(t, "tcp", addr)
	if got, err := roundTrip(first, "one\n"); err != nil || got != "one\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	// logrotate moves the file away, then sends SIGHUP.
	os.Rename(logPath, logPath+".1")
	os.WriteFile(conf, []byte("max-clients = 1\nlog-level = debug\n"), 0o644)
	p.signal(syscall.SIGHUP)
	waitFileLog(t, logPath, `"msg":"settings reloaded","max_clients":1`, 5*time.Second)
	second := dial(t, "tcp", addr)
	expectEOF(t, second, "error: too many clients (max 1)\n", 5*time.Second)
	// log-level = debug took effect: the rejection's close shows up.
	waitFileLog(t, logPath, `"msg":"client rejected`, 5*time.Second)
	if old, _ := os.ReadFile(logPath + ".1"); strings.Contains(string(old), "reloaded") {
		t.Errorf("the old log file got records after SIGHUP")
	}

	// A broken config is logged and the running settings stay.
	os.WriteFile(conf, []byte("max-clients = none\n"), 0o644)
	p.signal(syscall.SIGHUP)
	waitFileLog(t, logPath, `reload failed; keeping the running settings`, 5*time.Second)
	if got, err := roundTrip(first, "still here\n"); err != nil || got != "still here\n" {
		t.Fatalf("after a bad reload: got %q, %v", got, err)
	}

	// client-memory reloads, and max-clients, given nowhere now, follows
	// it: 64KiB / 2KiB per client.
	os.WriteFile(conf, []byte("client-memory = 64KiB\n"), 0o644)
	p.signal(syscall.SIGHUP)
	if line := waitFileLog(t, logPath, `"msg":"settings reloaded","max_clients":32,`, 5*time.Second); !strings.Contains(line, `"client_memory":65536`) {
		t.Errorf("reloaded %s; want client_memory 65536", line)
	}
	first.Close()
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
		t.Fatalf("exit code %d (exited %v)", code, ok)
	}
}

// waitFileLog waits for a line containing want in a log file and returns it.
func waitFileLog(t *testing.T, path, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if strings.Contains(sc.Text(), want) {
					f.Close()
					return sc.Text()
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(path)
			t.Fatalf("%s has no line with %q:\n%s", path, want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// activated runs the daemon as systemd would: the sockets from fd 3 on and
// LISTEN_PID set to the daemon's own pid, which the shell knows before it
// execs the daemon in its place.
func activated(listenPID string, files []*os.File, names string, args ...string) *exec.Cmd {
	script := `LISTEN_PID=` + listenPID + ` LISTEN_FDS=` + strconv.Itoa(len(files)) + ` LISTEN_FDNAMES=` + names + ` exec "$0" "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, binPath, "--log-format", "json"}, args...)...)
	cmd.ExtraFiles = files
	return cmd
}

func TestSocketActivation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnFile, _ := ln.(*net.TCPListener).File()
	defer lnFile.Close()
	gramPath := filepath.Join(t.TempDir(), "g")
	gram, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: gramPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer gram.Close()
	gramFile, _ := gram.File()
	defer gramFile.Close()

	t.Run("adopted", func(t *testing.T) {
		p := launch(t, activated("$$", []*os.File{lnFile, gramFile}, "web:gram", "--udp", "127.0.0.1:0"))
		if _, ok := p.waitLog("serving", 10*time.Second); !ok {
			t.Fatalf("no start:\n%s", p.stderr())
		}
		got := map[string]string{}
		for _, l := range p.logged("listening") {
			got[l.str("network")+" "+l.str("fd_name")] = l.str("addr")
		}
		want := map[string]string{"tcp web": ln.Addr().String(), "unixgram gram": gramPath}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("listening %s: got %q; want %q (all: %v)", k, got[k], v, got)
			}
		}
		c := dial(t, "tcp", ln.Addr().String())
		if got, err := roundTrip(c, "activated\n"); err != nil || got != "activated\n" {
			t.Fatalf("got %q, %v", got, err)
		}
		local := filepath.Join(t.TempDir(), "c")
		u, err := net.DialUnix("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"}, &net.UnixAddr{Name: gramPath, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		if got, err := roundTrip(u, "gram\n"); err != nil || got != "gram\n" {
			t.Fatalf("unixgram: got %q, %v", got, err)
		}
		c.Close()
		p.signal(syscall.SIGTERM)
		if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
			t.Fatalf("exit code %d", code)
		}
		// systemd owns the socket file: it stays.
		if _, err := os.Stat(gramPath); err != nil {
			t.Errorf("the activated socket's file was removed: %v", err)
		}
	})
	t.Run("other pid", func(t *testing.T) {
		p := launch(t, activated("1", []*os.File{lnFile}, "web"))
		if code, ok := p.wait(10 * time.Second); !ok || code != exitUsage {
			t.Fatalf("exit code %d; want %d (sockets for pid 1 are not ours):\n%s", code, exitUsage, p.stderr())
		}
		if !strings.Contains(p.stderr(), "no listeners") {
			t.Errorf("stderr: %s", p.stderr())
		}
	})
	t.Run("not listening", func(t *testing.T) {
		c := dial(t, "tcp", ln.Addr().String())
		cf, _ := c.(*net.TCPConn).File()
		defer cf.Close()
		p := launch(t, activated("$$", []*os.File{cf}, "conn"))
		if code, ok := p.wait(10 * time.Second); !ok || code != exitFailure {
			t.Fatalf("exit code %d; want %d:\n%s", code, exitFailure, p.stderr())
		}
		if s := p.stderr(); !strings.Contains(s, "fd 3 (conn)") || !strings.Contains(s, "not listening") {
			t.Errorf("stderr: %s", s)
		}
	})
}

// TestPrivilegeDrop (as root): bind a port below 1024, then run as nobody;
// /proc shows every uid and gid of every thread changed and no
// supplementary group left.
func TestPrivilegeDrop(t *testing.T) {
	requireRoot(t, "the daemon must start privileged to drop privileges")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	addr := "127.0.0.1:7"
	if l, err := net.Listen("tcp", addr); err != nil {
		t.Logf("port 7 is taken (%v); using a kernel-chosen port", err)
		addr = "127.0.0.1:0"
	} else {
		l.Close()
	}
	p := startDaemon(t, "--tcp", addr, "--user", "nobody")
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	checkThreads(t, p.pid, uid, gid)
	if l, ok := p.waitLog("dropped privileges", 0); !ok || l.str("user") != "nobody" {
		t.Errorf("dropped privileges log: %v", l)
	}
	c := dial(t, "tcp", p.addr("tcp"))
	if got, err := roundTrip(c, "as nobody\n"); err != nil || got != "as nobody\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	c.Close()
	p.signal(syscall.SIGTERM)
	if code, ok := p.wait(5 * time.Second); !ok || code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestPrivilegeDropRefused: without root, changing user is a runtime
// failure, and nothing is served. As root the test starts the daemon as
// nobody to get there.
func TestPrivilegeDropRefused(t *testing.T) {
	cmd := exec.Command(binPath, "--tcp", "127.0.0.1:0", "--user", "0")
	if os.Geteuid() == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("no user nobody to start unprivileged: %v", err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure || !strings.Contains(stderr.String(), "setgroups") {
		t.Fatalf("got %v, stderr %q; want exit code 1 and the failed call named", err, stderr.String())
	}
}

// TestBindToDevice: --iface reaches SO_BINDTODEVICE.
func TestBindToDevice(t *testing.T) {
	code, stderr := runToExit(t, "--tcp", "127.0.0.1:0", "--iface", "nosuchdev0")
	// An interface that is not there is caught before any bind.
	if code != exitUsage || !strings.Contains(stderr, "--iface: no interface nosuchdev0") {
		t.Fatalf("exit code %d, stderr %q; want 2 naming --iface", code, stderr)
	}
	p := launch(t, exec.Command(binPath, "--log-format", "json", "--tcp", "127.0.0.1:0", "--iface", "lo"))
	if _, ok := p.waitLog("serving", 10*time.Second); !ok {
		if strings.Contains(p.stderr(), "EPERM") {
			t.Skip("binding to a device needs CAP_NET_RAW on this kernel")
		}
		t.Fatalf("no start on lo:\n%s", p.stderr())
	}
	l, _ := p.waitLog("listening", 0)
	c := dial(t, "tcp", l.str("addr"))
	if got, err := roundTrip(c, "on lo\n"); err != nil || got != "on lo\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}
