package pace

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPacerCatchesUp(t *testing.T) {
	now := time.Unix(100, 0)
	p := NewPacer(10 * time.Millisecond)
	p.now = func() time.Time { return now }
	ctx := context.Background()

	if n, err := p.Wait(ctx, 8); n != 1 || err != nil {
		t.Fatalf("first Wait = %d, %v; want 1, nil", n, err)
	}
	// 35ms later datagrams 1, 2 and 3 (due at 10, 20, 30ms) are due.
	now = now.Add(35 * time.Millisecond)
	if n, _ := p.Wait(ctx, 8); n != 3 {
		t.Errorf("Wait after 35ms = %d; want 3", n)
	}
	// Capped by most, the rest comes next time.
	now = now.Add(100 * time.Millisecond) // at 135ms: datagrams 4..13 due
	if n, _ := p.Wait(ctx, 4); n != 4 {
		t.Errorf("capped Wait = %d; want 4", n)
	}
	if n, _ := p.Wait(ctx, 100); n != 6 {
		t.Errorf("Wait for the rest = %d; want 6", n)
	}
	if p.released != 14 {
		t.Errorf("released %d; want 14", p.released)
	}
}

func TestPacerWaitsRealTime(t *testing.T) {
	p := NewPacer(20 * time.Millisecond)
	ctx := context.Background()
	start := time.Now()
	total := 0
	for total < 4 {
		n, err := p.Wait(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	// Datagram 3 is due at 60ms.
	if el := time.Since(start); el < 60*time.Millisecond || el > 2*time.Second {
		t.Errorf("4 datagrams at 20ms took %v; want about 60ms", el)
	}
}

func TestPacerNoInterval(t *testing.T) {
	p := NewPacer(0)
	if n, _ := p.Wait(context.Background(), 32); n != 32 {
		t.Errorf("Wait with no interval = %d; want 32", n)
	}
	if n, _ := p.Wait(context.Background(), 0); n != 1 {
		t.Errorf("Wait(most 0) = %d; want 1", n)
	}
}

func TestPacerContext(t *testing.T) {
	p := NewPacer(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Wait(ctx, 1); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	if _, err := p.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past ctx = %v; want DeadlineExceeded", err)
	}
	if _, err := p.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on ended ctx = %v; want DeadlineExceeded", err)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(10, 3)
	allowed := 0
	for range 10 {
		if l.Allow(now) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("burst allowed %d; want 3", allowed)
	}
	now = now.Add(250 * time.Millisecond) // 2.5 tokens back
	allowed = 0
	for range 10 {
		if l.Allow(now) {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("after 250ms at 10/s allowed %d; want 2", allowed)
	}
	now = now.Add(time.Hour)
	allowed = 0
	for range 10 {
		if l.Allow(now) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("after an hour allowed %d; want the burst 3", allowed)
	}
}

func TestLimiterZeroRate(t *testing.T) {
	l := NewLimiter(0, 5)
	if l.Allow(time.Now()) {
		t.Error("rate 0 allowed")
	}
}
