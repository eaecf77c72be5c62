package daemon

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseListenEnv(t *testing.T) {
	const pid = 4242
	tests := []struct {
		listenPID, listenFDs string
		want                 int
		err                  string
	}{
		{"", "", 0, ""},
		{"4242", "", 0, ""},
		{"", "2", 0, ""},
		{"4242", "2", 2, ""},
		{"4242", "0", 0, ""},
		{"1", "2", 0, ""}, // meant for another process
		{"abc", "2", 0, "LISTEN_PID"},
		{"-3", "2", 0, "LISTEN_PID"},
		{"4242", "two", 0, "LISTEN_FDS"},
		{"4242", "-1", 0, "LISTEN_FDS"},
		{"4242", "100000", 0, "LISTEN_FDS"},
	}
	for _, tt := range tests {
		got, err := ParseListenEnv(tt.listenPID, tt.listenFDs, pid)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ParseListenEnv(%q, %q) = %d, %v; want %d and an error naming %q", tt.listenPID, tt.listenFDs, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseListenEnv(f *testing.F) {
	f.Add("4242", "3")
	f.Add("4242", "")
	f.Add("x", "-1")
	f.Fuzz(func(t *testing.T, listenPID, listenFDs string) {
		n, err := ParseListenEnv(listenPID, listenFDs, 4242)
		if err != nil {
			return
		}
		if n < 0 || n > maxListenFDs {
			t.Fatalf("%d descriptors from LISTEN_FDS=%q", n, listenFDs)
		}
		if n > 0 && (listenPID != strconv.Itoa(4242) && strings.TrimLeft(listenPID, "+0") != "4242") {
			t.Fatalf("%d descriptors for LISTEN_PID=%q, not this process", n, listenPID)
		}
	})
}
