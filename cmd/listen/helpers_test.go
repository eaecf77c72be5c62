package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the daemon, built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "listen-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Open to all: one test runs the binary as nobody.
	os.Chmod(dir, 0o755)
	binPath = filepath.Join(dir, "listen")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command(goTool(), append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the daemon: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if raceEnabled {
		// Report a race in the daemon at once, and skip the race
		// runtime's one-second sleep at exit.
		os.Setenv("GORACE", "halt_on_error=1 atexit_sleep_ms=0")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// logLine is one JSON log record of the daemon.
type logLine map[string]any

func (l logLine) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// proc is a running daemon.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	pid   int
	addrs map[string][]string // network -> bound addresses, from the "listening" lines

	mu    sync.Mutex
	lines []logLine
	text  []string // stderr lines that are not JSON (error messages)
	newer chan struct{}

	exited  chan struct{}
	exitErr error
}

// startDaemon runs the daemon with JSON logs on stderr and waits until it
// logs "serving". The test fails if it exits first.
func startDaemon(t *testing.T, args ...string) *proc {
	t.Helper()
	p := launch(t, exec.Command(binPath, append([]string{"--log-format", "json"}, args...)...))
	if _, ok := p.waitLog("serving", 10*time.Second); !ok {
		p.kill()
		t.Fatalf("daemon did not start: %s", p.stderr())
	}
	for _, l := range p.logged("listening") {
		p.addrs[l.str("network")] = append(p.addrs[l.str("network")], l.str("addr"))
	}
	return p
}

// launch starts cmd with its stderr collected; it is killed at cleanup if
// still running.
func launch(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, pid: cmd.Process.Pid, addrs: map[string][]string{}, newer: make(chan struct{}), exited: make(chan struct{})}
	go p.collect(stderr)
	t.Cleanup(func() {
		p.kill()
	})
	return p
}

func (p *proc) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logLine
		p.mu.Lock()
		if err := json.Unmarshal(sc.Bytes(), &l); err == nil {
			p.lines = append(p.lines, l)
		} else {
			p.text = append(p.text, sc.Text())
		}
		close(p.newer)
		p.newer = make(chan struct{})
		p.mu.Unlock()
	}
	p.exitErr = p.cmd.Wait()
	close(p.exited)
}

// logged returns the records with this msg so far.
func (p *proc) logged(msg string) []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logLine
	for _, l := range p.lines {
		if l.str("msg") == msg {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits for the first record with msg.
func (p *proc) waitLog(msg string, timeout time.Duration) (logLine, bool) {
	return p.waitLogN(msg, 1, timeout)
}

// waitLogN waits until n records with msg were logged and returns the nth.
func (p *proc) waitLogN(msg string, n int, timeout time.Duration) (logLine, bool) {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		newer := p.newer
		p.mu.Unlock()
		if ls := p.logged(msg); len(ls) >= n {
			return ls[n-1], true
		}
		select {
		case <-newer:
		case <-p.exited:
			if ls := p.logged(msg); len(ls) >= n {
				return ls[n-1], true
			}
			return nil, false
		case <-deadline:
			return nil, false
		}
	}
}

// stderr is everything the daemon wrote, for failure messages.
func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.lines {
		j, _ := json.Marshal(l)
		b.Write(j)
		b.WriteByte('\n')
	}
	for _, s := range p.text {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(p.pid, sig); err != nil {
		p.t.Fatalf("kill -%d %d: %v", sig, p.pid, err)
	}
}

// wait waits for the exit and returns the exit code.
func (p *proc) wait(timeout time.Duration) (int, bool) {
	select {
	case <-p.exited:
	case <-time.After(timeout):
		return -1, false
	}
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		return ee.ExitCode(), true
	}
	if p.exitErr != nil {
		return -1, true
	}
	return 0, true
}

func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	syscall.Kill(p.pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}

// fds counts the daemon's open descriptors.
func (p *proc) fds() int {
	p.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	if err != nil {
		p.t.Fatalf("counting fds: %v", err)
	}
	return len(ents)
}

// waitFDs waits until the daemon holds want descriptors.
func (p *proc) waitFDs(want int, timeout time.Duration) int {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := p.fds()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) addr(network string) string {
	p.t.Helper()
	a := p.addrs[network]
	if len(a) == 0 {
		p.t.Fatalf("the daemon logged no %s listener", network)
	}
	return a[0]
}

// runToExit runs the daemon expecting it to stop by itself, and returns its
// exit code and stderr.
func runToExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), stderr.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, stderr.String()
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("listen %v did not exit: %s", args, stderr.String())
		return -1, ""
	}
}

// dial connects to a stream listener.
func dial(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg and reads exactly len(msg) bytes back.
func roundTrip(c net.Conn, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// readAll reads until EOF, within timeout.
func readAll(c net.Conn, timeout time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

// expectEOF checks that the daemon closed c (after sending want).
func expectEOF(t *testing.T, c net.Conn, want string, timeout time.Duration) {
	t.Helper()
	got, err := readAll(c, timeout)
	if err != nil {
		t.Fatalf("reading to EOF: got %q and %v; want %q then EOF", got, err, want)
	}
	if got != want {
		t.Fatalf("got %q then EOF; want %q", got, want)
	}
}
