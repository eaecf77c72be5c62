package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcastdev/bcast/internal/pinger"
)

// binary is the bcast executable built once by TestMain for the end-to-end
// tests, which run it as a user would.
var binary string

func TestMain(m *testing.M) {
	if spec := os.Getenv(pinger.Env); spec != "" {
		os.Exit(pinger.Run(spec, os.Stderr)) // BenchmarkEchoRoundTrip's client
	}
	dir, err := os.MkdirTemp("", "bcast-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "bcast")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building bcast: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binRun runs the built binary to completion.
func binRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("bcast %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// binProc is the binary running in the background.
type binProc struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr *lockedBuffer
}

// binStart starts the binary with --json output and returns it with its
// first line.
func binStart(t *testing.T, args ...string) (*binProc, map[string]any) {
	t.Helper()
	return startCmd(t, exec.Command(binary, args...))
}

// startCmd starts cmd (the binary, perhaps through ip netns exec) and
// returns it with its first line of output.
func startCmd(t *testing.T, cmd *exec.Cmd) (*binProc, map[string]any) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &binProc{cmd: cmd, lines: bufio.NewScanner(stdout), stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // by its own handle: never another process
			_ = cmd.Wait()
		}
	})
	first := p.next(t)
	if first == nil {
		t.Fatalf("%s printed nothing; stderr:\n%s", strings.Join(cmd.Args, " "), p.stderr.String())
	}
	return p, first
}

// next reads one JSON line, or nil at the end of output.
func (p *binProc) next(t *testing.T) map[string]any {
	t.Helper()
	ch := make(chan map[string]any, 1)
	go func() {
		if !p.lines.Scan() {
			ch <- nil
			return
		}
		var m map[string]any
		if err := json.Unmarshal(p.lines.Bytes(), &m); err != nil {
			m = map[string]any{"type": "not-json", "line": p.lines.Text()}
		}
		ch <- m
	}()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("no output within 10s; stderr:\n%s", p.stderr.String())
		return nil
	}
}

// wait reads the rest of the output and waits for the exit.
func (p *binProc) wait(t *testing.T) ([]map[string]any, int) {
	t.Helper()
	var all []map[string]any
	for m := p.next(t); m != nil; m = p.next(t) {
		all = append(all, m)
	}
	err := p.cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return all, code
}

func TestBinarySendListen(t *testing.T) {
	l, first := binStart(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "2")
	addr := first["addr"].(string)
	if r := binRun(t, "", "send", "--to", addr, "-m", "one"); r.code != 0 || !strings.Contains(r.stdout, "sent 3 bytes to "+addr) {
		t.Fatalf("send: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := binRun(t, "two\n", "send", "--to", addr); r.code != 0 {
		t.Fatalf("send from stdin: exit %d\n%s", r.code, r.stderr)
	}
	lines, code := l.wait(t)
	ds := ofType(lines, "datagram")
	if code != 0 || len(ds) != 2 || ds[0]["text"] != "one" || ds[1]["text"] != "two\n" {
		t.Errorf("exit %d, datagrams %v", code, ds)
	}
	if len(ofType(lines, "summary")) != 1 {
		t.Errorf("no summary: %v", lines)
	}
}

func TestBinaryExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, exitOK},
		{[]string{"nosuch"}, exitUsage},
		{[]string{"send", "--to", "bogus", "-m", "x"}, exitUsage},
		{[]string{"send", "--to", "127.0.0.1:9", "--src", "198.51.100.77", "-m", "x"}, exitFailure},
		{[]string{"listen", "--listen", "127.0.0.1:0", "--timeout", "100ms"}, exitTimeout},
		{[]string{"ping", "--to", "127.0.0.1:9", "--count", "1", "--wait", "100ms"}, exitTimeout},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if r := binRun(t, "", tt.args...); r.code != tt.code {
				t.Errorf("exit %d; want %d\n%s", r.code, tt.code, r.stderr)
			}
		})
	}
}

func TestBinaryInterruptEndsCleanly(t *testing.T) {
	l, first := binStart(t, "listen", "--listen", "127.0.0.1:0", "--json", "--seq")
	addr := first["addr"].(string)
	if r := binRun(t, "", "send", "--to", addr, "--seq", "--count", "5", "--interval", "0", "--quiet"); r.code != 0 {
		t.Fatalf("send: exit %d\n%s", r.code, r.stderr)
	}
	for range 5 {
		if d := l.next(t); d["type"] != "datagram" {
			t.Fatalf("got %v", d)
		}
	}
	if err := l.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	lines, code := l.wait(t)
	sum := ofType(lines, "summary")
	if code != 0 || len(sum) != 1 || sum[0]["received"] != float64(5) || sum[0]["missing"] != float64(0) {
		t.Errorf("after SIGINT: exit %d, lines %v", code, lines)
	}
}

func TestBinaryEchoPing(t *testing.T) {
	e, first := binStart(t, "echo", "--listen", "127.0.0.1:0", "--json", "--quiet")
	r := binRun(t, "", "ping", "--to", first["addr"].(string), "--count", "3", "--interval", "5ms")
	if r.code != 0 || !strings.Contains(r.stdout, "3 sent, 3 received, 0.0% loss") {
		t.Errorf("ping: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	lines, code := e.wait(t)
	if sum := ofType(lines, "summary"); code != 0 || len(sum) != 1 || sum[0]["replied"] != float64(3) {
		t.Errorf("echo after SIGTERM: exit %d, %v", code, lines)
	}
}
