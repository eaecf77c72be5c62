package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReadLines(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     []string
		err      error
	}{
		{"lines", "one\ntwo\n", 100, []string{"one\n", "two\n"}, nil},
		{"empty line and last without newline", "a\n\nb", 100, []string{"a\n", "\n", "b"}, nil},
		{"carriage return kept", "dos\r\n", 100, []string{"dos\r\n"}, nil},
		{"nothing", "", 100, nil, nil},
		{"exactly max", "1234\n", 5, []string{"1234\n"}, nil},
		{"too long", "ok\n12345\nnever\n", 5, []string{"ok\n"}, &LineTooLongError{Line: 2, Max: 5}},
		{"too long, no newline", "123456", 5, nil, &LineTooLongError{Line: 1, Max: 5}},
		{"longer than the reader's least buffer", strings.Repeat("x", 40) + "\n", 30, nil, &LineTooLongError{Line: 1, Max: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := readLines(context.Background(), strings.NewReader(tt.in), tt.max, func(line []byte) error {
				got = append(got, string(line))
				return nil
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines %q; want %q", got, tt.want)
			}
			var le *LineTooLongError
			if tt.err == nil && err != nil || tt.err != nil && (!errors.As(err, &le) || *le != *tt.err.(*LineTooLongError)) {
				t.Errorf("error %v; want %v", err, tt.err)
			}
		})
	}
}

func TestReadLinesStopsOnError(t *testing.T) {
	stop := errors.New("stop")
	var got []string
	err := readLines(context.Background(), strings.NewReader("a\nb\nc\n"), 10, func(line []byte) error {
		got = append(got, string(line))
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !slices.Equal(got, []string{"a\n", "b\n"}) {
		t.Errorf("got %q, %v; want a and b, then the callback's error", got, err)
	}
}

// TestReadLinesCancelWhileBlocked: a reader that never answers (a pipe
// whose writer waits) must not keep a cancelled read waiting.
func TestReadLinesCancelWhileBlocked(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var got []string
	go func() {
		done <- readLines(ctx, pr, 100, func(line []byte) error { got = append(got, string(line)); return nil })
	}()
	if _, err := pw.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !slices.Equal(got, []string{"first\n"}) {
			t.Errorf("got %q, %v; want the first line, then context.Canceled", got, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("readLines still blocked 5s after the cancel")
	}
}

func TestSendLines(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "4", "--seq")
	r := runApp(t, "one\ntwo\n\nthree", "send", "--to", first["addr"].(string), "--lines", "--seq", "--json")
	if r.code != 0 {
		t.Fatalf("send --lines: exit %d\n%s", r.code, r.stderr)
	}
	sent := ofType(jsonLines(t, r.stdout), "sent")
	if len(sent) != 4 || num(t, sent[3], "seq") != 4 || num(t, sent[3], "len") != 40+5 {
		t.Errorf("sent objects %v; want 4, the last with seq 4, len 45", sent)
	}
	lines, _ := l.rest()
	var texts []string
	for _, d := range ofType(lines, "datagram") {
		text, _ := d["text"].(string)
		texts = append(texts, text)
	}
	if want := []string{"one\n", "two\n", "\n", "three"}; !slices.Equal(texts, want) {
		t.Errorf("listener got %q; want %q", texts, want)
	}
	if sum := ofType(lines, "summary"); len(sum) != 1 || num(t, sum[0], "missing") != 0 {
		t.Errorf("listener summary %v; want nothing missing", sum)
	}
}

func TestSendLinesUsage(t *testing.T) {
	tests := []struct {
		stdin string
		args  []string
		msg   string
	}{
		{"x\n", []string{"--lines", "-m", "x"}, "--lines and --message: give one"},
		{"x\n", []string{"--lines", "--count", "3"}, "--lines and --count"},
		{"x\n", []string{"--lines", "--size", "100"}, "--lines and --size"},
		{"", []string{"--lines"}, "nothing to send: the input is empty"},
	}
	for _, tt := range tests {
		r := runApp(t, tt.stdin, append([]string{"send", "--to", "127.0.0.1:9"}, tt.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("send %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), r.code, r.stderr, exitUsage, tt.msg)
		}
	}
	r := runApp(t, "ok\n"+strings.Repeat("x", 70000)+"\n", "send", "--to", "127.0.0.1:9", "--lines")
	if r.code != exitFailure || !strings.Contains(r.stderr, "line 2 is longer than 65507 bytes") || !strings.Contains(r.stderr, "1 datagram sent") {
		t.Errorf("a line too long: exit %d, stderr %q; want %d, the first line sent and the second named", r.code, r.stderr, exitFailure)
	}
}
