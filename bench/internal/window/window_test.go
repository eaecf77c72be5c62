package window

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	t0 := time.Unix(100, 0)
	w := Window{StartTimeout: 5 * time.Second, Idle: time.Second, Length: 10 * time.Second}
	w.Begin(t0)
	if w.Quiet(t0.Add(4*time.Second)) || !w.Quiet(t0.Add(5*time.Second)) {
		t.Error("before a datagram: want to wait StartTimeout, then stop")
	}
	if w.Arrived(t0.Add(time.Second)) || w.Quiet(t0.Add(1500*time.Millisecond)) {
		t.Error("a datagram, then half the idle time: want to go on")
	}
	if !w.Quiet(t0.Add(2 * time.Second)) {
		t.Error("Idle after the last datagram: want to stop")
	}
	if w.Arrived(t0.Add(10*time.Second)) || !w.Arrived(t0.Add(11*time.Second)) {
		t.Error("want to stop once Length after the first datagram has passed")
	}
	if s := w.Seconds(); s != 10 {
		t.Errorf("Seconds %v; want 10 (first to last datagram)", s)
	}
	if Rate(10, w.Seconds()) != 1 || Rate(10, 0) != 0 {
		t.Error("Rate")
	}
}

func TestLoopback(t *testing.T) {
	for _, tc := range []struct {
		host, port string
		ok         bool
	}{
		{"127.0.0.1", "9000", true}, {"127.9.9.9", "1", true}, {"::1", "65535", true},
		{"10.0.0.1", "9000", false}, {"192.168.1.255", "9000", false}, {"ff02::1", "9000", false},
		{"::", "9", false}, {"localhost", "9000", false},
		{"127.0.0.1", "0", false}, {"127.0.0.1", "65536", false}, {"127.0.0.1", "x", false},
	} {
		if _, err := Loopback(tc.host, tc.port); (err == nil) != tc.ok {
			t.Errorf("Loopback(%q, %q) = %v; want ok %t", tc.host, tc.port, err, tc.ok)
		}
	}
}
