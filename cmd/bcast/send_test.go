package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSendFailureExplained(t *testing.T) {
	// 198.51.100.77 (TEST-NET-2) is no address of this host: the socket
	// cannot take it as source. Nothing is sent.
	r := runApp(t, "", "send", "--to", "127.0.0.1:9", "--src", "198.51.100.77", "-m", "x")
	if r.code != exitFailure {
		t.Errorf("exit %d; want %d\n%s", r.code, exitFailure, r.stderr)
	}
	if !strings.Contains(r.stderr, "198.51.100.77") || !strings.Contains(r.stderr, "EADDRNOTAVAIL") {
		t.Errorf("stderr does not name the address and errno:\n%s", r.stderr)
	}
}

func TestSendCountSummaryAndJSON(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "6")
	addr := first["addr"].(string)

	r := runApp(t, "", "send", "--to", addr, "-m", "x", "--count", "3", "--interval", "0")
	if r.code != 0 || strings.Count(r.stdout, "sent 1 bytes to "+addr) != 3 ||
		!strings.Contains(r.stderr, "3 datagrams sent (3 bytes) to "+addr) || !strings.Contains(r.stderr, "0 errors") {
		t.Errorf("text: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	r = runApp(t, "", "send", "--to", addr, "-m", "y", "--count", "3", "--rate", "1000", "--json", "--seq")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 {
		t.Fatalf("json: exit %d, %d lines; want 4\n%s", r.code, len(lines), r.stdout)
	}
	for i, line := range lines[:3] {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["type"] != "sent" || m["dst"] != "127.0.0.1" || m["len"] != float64(41) || m["seq"] != float64(i+1) {
			t.Errorf("line %d = %v", i, m)
		}
	}
	if !strings.Contains(lines[3], `"type":"summary"`) || !strings.Contains(lines[3], `"sent":3`) || !strings.Contains(lines[3], `"run":"`) {
		t.Errorf("summary = %s", lines[3])
	}
	all, _ := l.rest()
	if n := len(ofType(all, "datagram")); n != 6 {
		t.Errorf("listener got %d datagrams; want 6", n)
	}
}

func TestSendPayloadSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "payload")
	if err := os.WriteFile(file, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "4")
	addr := first["addr"].(string)
	for _, args := range [][]string{
		{"--file", file},
		{"--file", "-"},
		{"--size", "30"},
		{"-m", "ab", "--size", "5"},
	} {
		if r := runApp(t, "stdin payload", append([]string{"send", "--to", addr, "--quiet"}, args...)...); r.code != 0 {
			t.Fatalf("send %v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	lines, _ := l.rest()
	ds := ofType(lines, "datagram")
	want := []string{"from a file", "stdin payload", "abcdefghijklmnopqrstuvwxyzabcd", "abcde"}
	if len(ds) != len(want) {
		t.Fatalf("got %d datagrams", len(ds))
	}
	for i, w := range want {
		if ds[i]["text"] != w {
			t.Errorf("datagram %d = %q; want %q", i, ds[i]["text"], w)
		}
	}
}

func TestSendQuietPrintsOnlySummary(t *testing.T) {
	_, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json")
	r := runApp(t, "", "send", "--to", first["addr"].(string), "-m", "q", "--quiet")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "1 datagram sent (1 byte) to ") {
		t.Errorf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestSendEmptyPayloadRefused(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"stdin", nil, "nothing to send: standard input is empty (for an empty datagram: --size 0)"},
		{"file -", []string{"--file", "-"}, "nothing to send: standard input is empty"},
		{"empty file", []string{"--file", empty}, "nothing to send: " + empty + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runApp(t, "", append([]string{"send", "--to", "127.0.0.1:9"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 saying %q", r.code, r.stderr, tt.want)
			}
		})
	}
	// An empty datagram on purpose: --size 0 with an empty file.
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "1")
	if r := runApp(t, "", "send", "--to", first["addr"].(string), "--file", empty, "--size", "0"); r.code != 0 {
		t.Fatalf("--size 0: exit %d\n%s", r.code, r.stderr)
	}
	if d := l.next(); d["len"] != float64(0) {
		t.Errorf("got %v; want an empty datagram", d)
	}
}

// blockingReader is a standard input whose writer never writes.
type blockingReader struct{ c chan struct{} }

func (b blockingReader) Read([]byte) (int, error) { <-b.c; return 0, io.EOF }

func TestSendInterruptedWhileReadingStdin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	defer close(stop)
	var stdout, stderr bytes.Buffer
	app := newApp(&stdout, &stderr)
	app.Reader = blockingReader{stop}
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	code := exitCode(app.RunContext(ctx, []string{"bcast", "send", "--to", "127.0.0.1:9"}), &stderr)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop", d)
	}
	if code != exitOK || !strings.Contains(stderr.String(), "stopped while reading standard input; nothing sent") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestSendRateZeroIsFlatOut(t *testing.T) {
	l, first := start(t, "listen", "--listen", "127.0.0.1:0", "--json", "--count", "5")
	r := runApp(t, "", "send", "--to", first["addr"].(string), "--count", "5", "--rate", "0", "-m", "x", "--quiet")
	if r.code != 0 || !strings.Contains(r.stderr, "5 datagrams sent") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	lines, _ := l.rest()
	if n := len(ofType(lines, "datagram")); n != 5 {
		t.Errorf("listener got %d datagrams; want 5", n)
	}
}

func TestRelayOldFromStillWorks(t *testing.T) {
	r := runApp(t, "", "relay", "--port", "9", "--from", "lo", "--to-iface", "lo", "--timeout", "10ms", "--quiet")
	if r.code != 0 || !strings.Contains(r.stderr, "note: --from is now --from-iface") || !strings.Contains(r.stderr, "from lo to lo") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestSendSizeLimitPerFamily(t *testing.T) {
	tests := []struct {
		to, size string
		code     int
		msg      string
	}{
		{"127.0.0.1:9", "65508", exitUsage, "--size 65508: must be 0 to 65507 over IPv4 (65527 over IPv6)"},
		{"[::1]:9", "65528", exitUsage, "--size 65528: must be 0 to 65527 over IPv6"},
	}
	for _, tt := range tests {
		r := runApp(t, "", "send", "--to", tt.to, "--size", tt.size)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("send --to %s --size %s: exit %d, stderr %q; want %d and %q", tt.to, tt.size, r.code, r.stderr, tt.code, tt.msg)
		}
	}
	// The largest IPv6 datagram arrives whole.
	l, first := start(t, "listen", "--listen", "[::1]:0", "--json", "--count", "1", "--buffer", "65536")
	if r := runApp(t, "", "send", "--to", first["addr"].(string), "--size", "65527"); r.code != 0 {
		t.Fatalf("send --size 65527 over IPv6: exit %d\n%s", r.code, r.stderr)
	}
	lines, _ := l.rest()
	if ds := ofType(lines, "datagram"); len(ds) != 1 || num(t, ds[0], "len") != 65527 || ds[0]["truncated"] != false {
		t.Errorf("datagrams %v; want one of 65527 bytes, whole", ds)
	}
}
