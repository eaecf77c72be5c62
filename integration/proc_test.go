package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/netns"
)

// exitTimeout bounds the wait for a command to exit: after its --count or
// --timeout is reached, or after SIGINT.
const exitTimeout = 10 * time.Second

// A proc is one command running inside a host, with its output kept for the
// assertions and for the log.
type proc struct {
	t    *testing.T
	desc string // "a2$ bcast listen ...", for messages
	cmd  *exec.Cmd

	stdout, stderr syncBuffer

	done chan struct{} // closed when Wait has returned
	err  error         // Wait's result; read only after done

	logOnce sync.Once
}

// start starts path with args inside h, from the test goroutine as the Lab
// requires. The process is killed, and its output logged, when the test
// ends if it has not exited by then.
func start(t *testing.T, h *netns.Host, path string, args ...string) *proc {
	t.Helper()
	p := newProc(t, h, path, args)
	p.begin()
	return p
}

// newProc prepares path with args inside h; begin starts it.
func newProc(t *testing.T, h *netns.Host, path string, args []string) *proc {
	t.Helper()
	p := &proc{
		t:    t,
		desc: h.Name() + "$ " + shortCmd(path, args),
		done: make(chan struct{}),
	}
	p.cmd = h.Command(t.Context(), path, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.Env = cleanEnv()
	return p
}

func (p *proc) begin() {
	t := p.t
	t.Helper()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: start: %v", p.desc, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	// Registered after netns.New, so it runs before the Lab kills what is
	// left: the log then shows what the command printed up to that point.
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(exitTimeout):
			}
		}
		p.log()
	})
}

// cleanEnv is the test's environment without the BCAST_* variables that
// bcast reads as flag defaults, so that a developer's shell cannot change
// what a test runs. A race-enabled command would sleep a second at exit
// (GORACE atexit_sleep_ms, for goroutines still reporting); a tenth of
// that keeps the suite quick.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BCAST_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	if raceEnabled {
		gorace := "atexit_sleep_ms=100"
		if v := os.Getenv("GORACE"); v != "" {
			gorace = v + " " + gorace
		}
		env = append(env, "GORACE="+gorace)
	}
	return env
}

// waitStdout waits, at most readyTimeout, until the process has printed a
// stdout line for which match is true, and returns that line. It fails the
// test if the process exits first or the time runs out.
func (p *proc) waitStdout(what string, match func(line string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	pause := 2 * time.Millisecond
	for {
		for _, line := range strings.Split(p.stdout.String(), "\n") {
			if match(line) {
				return line
			}
		}
		if !p.running() {
			p.log()
			p.t.Fatalf("%s: exited (%v) before printing %s", p.desc, p.err, what)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: printed no %s within %v", p.desc, what, readyTimeout)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait waits, at most timeout, for the process to exit by itself and
// returns its exit error (nil for status 0). On timeout it kills the
// process and returns an error saying so.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		p.log()
		return p.err
	case <-time.After(timeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.log()
	return fmt.Errorf("%s: still running after %v; killed", p.desc, timeout)
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for the process to
// exit; a command that ignores it is killed and reported.
func (p *proc) interrupt() error {
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: SIGINT: %w", p.desc, err)
	}
	select {
	case <-p.done:
		p.log()
		return p.err
	case <-time.After(exitTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.log()
	return fmt.Errorf("%s: did not exit within %v of SIGINT; killed", p.desc, exitTimeout)
}

// mustSucceed fails the test unless err (from wait or interrupt) is nil.
func (p *proc) mustSucceed(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatalf("%s: %v\nstderr:\n%s", p.desc, err, p.stderr.String())
	}
}

// log writes the command's exit status and output to the test log once,
// so that a failure shows what every command printed.
func (p *proc) log() {
	p.logOnce.Do(func() {
		status := "running"
		select {
		case <-p.done:
			status = "exit 0"
			if p.err != nil {
				status = p.err.Error()
			}
		default:
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s  [%s]", p.desc, status)
		if s := p.stderr.String(); s != "" {
			fmt.Fprintf(&b, "\n  stderr:\n%s", indent(s))
		}
		if s := p.stdout.String(); s != "" {
			fmt.Fprintf(&b, "\n  stdout:\n%s", indent(limitLines(s, 40)))
		}
		p.t.Log(b.String())
	})
}

// run runs a command that is expected to end by itself within timeout and
// returns its output and exit error.
func run(t *testing.T, h *netns.Host, timeout time.Duration, path string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	p := start(t, h, path, args...)
	err = p.wait(timeout)
	return p.stdout.String(), p.stderr.String(), err
}

// mustRun is run that fails the test unless the command exits with status 0.
func mustRun(t *testing.T, h *netns.Host, timeout time.Duration, path string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := run(t, h, timeout, path, args...)
	if err != nil {
		t.Fatalf("%s$ %s: %v\nstderr:\n%s", h.Name(), shortCmd(path, args), err, stderr)
	}
	return stdout, stderr
}

// shortCmd renders a command line with the built binaries' temporary
// directory left out, for messages a person reads.
func shortCmd(path string, args []string) string {
	name := path
	if i := strings.LastIndexByte(path, '/'); i >= 0 && strings.HasPrefix(path, binDir) {
		name = path[i+1:]
	}
	return joinArgs(append([]string{name}, args...))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func limitLines(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return s
	}
	head := strings.Join(lines[:n/2], "")
	tail := strings.Join(lines[len(lines)-n/2:], "")
	return fmt.Sprintf("%s... %d lines left out ...\n%s", head, len(lines)-n, tail)
}

// syncBuffer is a bytes.Buffer that the exec package's copying goroutine
// writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exitCode is the exit status in err from wait or run: 0 for nil, -1 when
// the process did not exit normally.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
