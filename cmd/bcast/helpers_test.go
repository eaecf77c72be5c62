package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// result is one in-process run of the command tree.
type result struct {
	stdout, stderr string
	code           int
}

// runApp runs bcast with args (without the program name) in-process,
// with stdin as standard input, and returns what it printed and its exit
// code. It fails the test if the command runs longer than 20 seconds.
func runApp(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return runAppContext(t, ctx, stdin, args...)
}

func runAppContext(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := newApp(&stdout, &stderr)
	app.Reader = strings.NewReader(stdin)
	code := exitCode(app.RunContext(ctx, reorder(app, append([]string{"bcast"}, args...))), &stderr)
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("bcast %s: still running after the test's deadline", strings.Join(args, " "))
	}
	return result{stdout.String(), stderr.String(), code}
}

// started is a command running in the background whose stdout is read line
// by line as JSON objects.
type started struct {
	t      *testing.T
	lines  chan map[string]any
	done   chan result
	cancel context.CancelFunc
	stderr *lockedBuffer
	// firstAddr is the "addr" of the first line, when it has one.
	firstAddr string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs bcast with args in a goroutine; args must include --json.
// The first line (the "listening" object of listen and echo) is returned.
func start(t *testing.T, args ...string) (*started, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	pr, pw := io.Pipe()
	s := &started{t: t, lines: make(chan map[string]any, 1024), done: make(chan result, 1), cancel: cancel, stderr: &lockedBuffer{}}
	app := newApp(pw, s.stderr)
	app.Reader = strings.NewReader("")
	go func() {
		code := exitCode(app.RunContext(ctx, append([]string{"bcast"}, args...)), s.stderr)
		pw.Close()
		s.done <- result{stderr: s.stderr.String(), code: code}
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"type": "not-json", "line": sc.Text()}
			}
			s.lines <- m
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Errorf("bcast %s did not stop after cancel", strings.Join(args, " "))
		}
	})
	first := s.next()
	if first == nil {
		r := <-s.done
		t.Fatalf("bcast %s printed nothing; exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	s.firstAddr, _ = first["addr"].(string)
	return s, first
}

// next returns the next JSON line, or nil at the end of output; it fails the
// test after 10 seconds.
func (s *started) next() map[string]any {
	s.t.Helper()
	select {
	case m, ok := <-s.lines:
		if !ok {
			return nil
		}
		return m
	case <-time.After(10 * time.Second):
		s.t.Fatalf("no output within 10s; stderr so far:\n%s", s.stderr.String())
		return nil
	}
}

// rest reads lines until the command's output ends, then its exit status.
func (s *started) rest() ([]map[string]any, result) {
	s.t.Helper()
	var all []map[string]any
	for {
		m := s.next()
		if m == nil {
			break
		}
		all = append(all, m)
	}
	select {
	case r := <-s.done:
		s.done <- r // for the cleanup
		return all, r
	case <-time.After(10 * time.Second):
		s.t.Fatal("command did not exit after its output ended")
		return nil, result{}
	}
}

// interrupt ends the command as Ctrl-C does.
func (s *started) interrupt() { s.cancel() }

// ofType keeps the lines whose "type" is typ.
func ofType(lines []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["type"] == typ {
			out = append(out, l)
		}
	}
	return out
}

// num reads a JSON number field.
func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("field %q = %#v (%T) in %v; want a number", key, m[key], m[key], m)
	}
	return v
}
