package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	sendProgressRe   = regexp.MustCompile(`(?m)^\[ +(\d+)s\] sent (\d+) rate (\d+)/s errors 0$`)
	listenProgressRe = regexp.MustCompile(`(?m)^\[ +(\d+)s\] received (\d+) rate (\d+)/s bytes (\d+) drops \d+$`)
)

// runFor runs bcast in-process and interrupts it after d, as Ctrl-C does.
func runFor(t *testing.T, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(d, cancel)
	return runAppContext(t, ctx, "", args...)
}

func TestSendProgress(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--quiet")
	_ = l
	r := runFor(t, 2500*time.Millisecond, "send", "--to", first["addr"].(string), "--count", "0", "--rate", "1000", "--quiet", "--progress", "-m", "p")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	lines := sendProgressRe.FindAllStringSubmatch(r.stderr, -1)
	if len(lines) < 2 {
		t.Fatalf("%d progress lines; want 2 or more:\n%s", len(lines), r.stderr)
	}
	for i, m := range lines[:2] {
		sec, _ := strconv.Atoi(m[1])
		sent, _ := strconv.Atoi(m[2])
		rate, _ := strconv.Atoi(m[3])
		if sec != i+1 || sent < 500*(i+1) || sent > 1100*(i+1) || rate < 500 || rate > 1100 {
			t.Errorf("line %q; want second %d, about %d sent at about 1000/s", m[0], i+1, 1000*(i+1))
		}
	}
	if last := strings.LastIndex(r.stderr, "] sent "); last > strings.Index(r.stderr, "datagrams sent (") {
		t.Errorf("a progress line after the summary:\n%s", r.stderr)
	}
}

func TestProgressOffUnlessAsked(t *testing.T) {
	_, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--quiet")
	tests := [][]string{
		// Standard error is no terminal here: nothing by default.
		{"send", "--to", first["addr"].(string), "--count", "0", "--rate", "1000", "--quiet", "-m", "p"},
		{"send", "--to", first["addr"].(string), "--count", "0", "--rate", "1000", "--quiet", "--progress=false", "-m", "p"},
		{"listen", "--listen", "127.0.0.1:0", "--quiet", "--seq", "--no-progress"},
		{"listen", "--listen", "127.0.0.1:0", "--quiet"},
	}
	for _, args := range tests {
		r := runFor(t, 1300*time.Millisecond, args...)
		if r.code != 0 || strings.Contains(r.stderr, "s] ") {
			t.Errorf("bcast %s: exit %d, stderr:\n%s\nwant exit 0 and no line a second", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	for _, cmd := range [][]string{{"send", "--to", "127.0.0.1:9", "-m", "x"}, {"listen", "--listen", "127.0.0.1:0"}} {
		r := runApp(t, "", append(cmd, "--progress", "--no-progress")...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--progress and --no-progress: give one") {
			t.Errorf("bcast %s --progress --no-progress: exit %d, stderr %q; want a usage error", cmd[0], r.code, r.stderr)
		}
	}
}

func TestListenProgressWithoutSeq(t *testing.T) {
	c := make(chan result, 1)
	addr := freeUDP4(t)
	go func() { c <- runFor(t, 2500*time.Millisecond, "listen", "--listen", addr, "--quiet", "--progress") }()
	waitBound(t, addr)
	if r := runApp(t, "", "send", "--to", addr, "--count", "1500", "--rate", "1000", "--size", "10", "--quiet"); r.code != 0 {
		t.Fatalf("send: exit %d\n%s", r.code, r.stderr)
	}
	r := <-c
	lines := listenProgressRe.FindAllStringSubmatch(r.stderr, -1)
	if r.code != 0 || len(lines) < 2 {
		t.Fatalf("exit %d, %d progress lines; want 2 or more:\n%s", r.code, len(lines), r.stderr)
	}
	// Each line counts everything so far: never less than the line
	// before, never more than was sent, ten bytes a datagram. (How far
	// the last line got depends on how fast a loaded machine ran the
	// sender within the listener's 2.5 s.)
	prev := 0
	for _, l := range lines {
		n, _ := strconv.Atoi(l[2])
		if n < prev || n > 1500 || l[4] != strconv.Itoa(10*n) {
			t.Errorf("progress line %q after %d received; want a running count up to 1500, 10 bytes each", l[0], prev)
		}
		prev = n
	}
	if prev == 0 {
		t.Errorf("no progress line counted a datagram:\n%s", r.stderr)
	}
}

// freeUDP4 is a loopback address with a port no socket holds now.
func freeUDP4(t *testing.T) string {
	t.Helper()
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(s)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
}

// openPTY opens a pseudo-terminal pair: what the program writes to
// slave, the test reads from master.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestBinaryProgressOnTerminal runs the binary with standard error on a
// terminal: a long send shows its line a second by itself, a short one
// does not.
func TestBinaryProgressOnTerminal(t *testing.T) {
	_, first := binStart(t, "listen", "--listen", "127.0.0.1:0", "--json", "--quiet")
	for _, tt := range []struct {
		count string
		want  bool
	}{{"6000", true}, {"2000", false}} {
		master, slave := openPTY(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary, "send", "--to", first["addr"].(string), "--count", tt.count, "--rate", "2500", "--quiet", "-m", "p")
		cmd.Stderr = slave
		err := cmd.Run()
		cancel()
		slave.Close()
		var text strings.Builder
		sc := bufio.NewScanner(master)
		for sc.Scan() { // ends with EIO once the last writer closed
			text.WriteString(sc.Text() + "\n")
		}
		if err != nil {
			t.Fatalf("send --count %s: %v\n%s", tt.count, err, text.String())
		}
		if got := sendProgressRe.MatchString(strings.ReplaceAll(text.String(), "\r", "")); got != tt.want {
			t.Errorf("send --count %s on a terminal: progress lines %v; want %v:\n%s", tt.count, got, tt.want, text.String())
		}
	}
}
