package sched

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Unix(100, 0)
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	l := NewLimiter(1, 3, 2)
	if !l.Take(t0, a, 3) || l.Take(t0, a, 1) {
		t.Fatal("a burst of 3, then nothing")
	}
	if !l.Take(t0.Add(time.Second), a, 1) || l.Take(t0.Add(time.Second), a, 1) {
		t.Error("one token a second")
	}
	l.Take(t0.Add(2*time.Second), b, 1)
	l.Take(t0.Add(3*time.Second), c, 1) // the table holds 2: a, heard least recently, goes
	if l.Len() != 2 {
		t.Errorf("Len %d; want 2", l.Len())
	}
	if !l.Take(t0.Add(3*time.Second), a, 3) {
		t.Error("a came back as a new key with a full bucket")
	}
}

func TestEarliestAndJitter(t *testing.T) {
	t0 := time.Unix(100, 0)
	if Earliest(time.Time{}, t0) != t0 || Earliest(t0, time.Time{}) != t0 || Earliest(t0, t0.Add(1)) != t0 {
		t.Error("Earliest")
	}
	r := NewRand(nil)
	for range 100 {
		if d := Jitter(r, 20*time.Millisecond, 120*time.Millisecond); d < 20*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("Jitter %v outside [20ms, 120ms]", d)
		}
	}
}
