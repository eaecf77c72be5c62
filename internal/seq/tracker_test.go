package seq

import (
	"encoding/binary"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

// feed observes the given sequence numbers of one run, each sent at t0+seq ms
// and arriving 2ms later, and returns the verdicts.
func feed(tr *Tracker, run, total uint64, seqs ...uint64) []Verdict {
	var vs []Verdict
	for _, s := range seqs {
		sent := t0.Add(time.Duration(s) * time.Millisecond)
		h := Header{Run: run, Seq: s, Total: total, Sent: sent.UnixNano()}
		vs = append(vs, tr.Observe(h, sent.Add(2*time.Millisecond)))
	}
	return vs
}

func TestTrackerCounts(t *testing.T) {
	tests := []struct {
		name   string
		total  uint64
		expect uint64
		seqs   []uint64
		want   Summary // only the counters are compared
	}{
		{"all in order", 5, 0, []uint64{1, 2, 3, 4, 5},
			Summary{Runs: 1, Sent: 5, Received: 5}},
		{"gaps", 10, 0, []uint64{1, 3, 4, 7, 10},
			Summary{Runs: 1, Sent: 10, Received: 5, Missing: 5}},
		{"tail lost, total known", 10, 0, []uint64{1, 2, 3},
			Summary{Runs: 1, Sent: 10, Received: 3, Missing: 7}},
		{"tail lost, total unknown", 0, 0, []uint64{1, 2, 3},
			Summary{Runs: 1, Sent: 3, Received: 3}},
		{"tail lost, expect", 0, 8, []uint64{1, 2, 3},
			Summary{Runs: 1, Sent: 8, Received: 3, Missing: 5}},
		{"nothing received, expect", 0, 4, nil,
			Summary{Sent: 4, Missing: 4}},
		{"duplicates", 4, 0, []uint64{1, 1, 2, 2, 2, 4},
			Summary{Runs: 1, Sent: 4, Received: 3, Missing: 1, Duplicates: 3}},
		{"reordered", 5, 0, []uint64{1, 3, 2, 5, 4},
			Summary{Runs: 1, Sent: 5, Received: 5, Reordered: 2}},
		{"reordered duplicate counts once as duplicate", 3, 0, []uint64{2, 1, 1, 3},
			Summary{Runs: 1, Sent: 3, Received: 3, Reordered: 1, Duplicates: 1}},
		{"first datagram late in run", 0, 0, []uint64{100, 50, 99},
			Summary{Runs: 1, Sent: 100, Received: 3, Missing: 97, Reordered: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.expect)
			feed(tr, 42, tt.total, tt.seqs...)
			got := tr.Summary()
			got.DelayMin, got.DelayAvg, got.DelayMax, got.Jitter = 0, 0, 0, 0
			got.First, got.Last = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Summary = %+v; want %+v", got, tt.want)
			}
			if got.Missing != got.Sent-got.Received {
				t.Errorf("Missing %d != Sent %d - Received %d", got.Missing, got.Sent, got.Received)
			}
		})
	}
}

func TestTrackerVerdicts(t *testing.T) {
	tr := NewTracker(0)
	got := feed(tr, 1, 0, 1, 3, 2, 2, 4)
	want := []Verdict{New, New, Reordered, Duplicate, New}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("datagram %d: %v; want %v", i, got[i], want[i])
		}
	}
	if !New.IsNew() || !Reordered.IsNew() || Duplicate.IsNew() || Late.IsNew() {
		t.Error("IsNew wrong")
	}
	if Late.String() != "late" || Verdict(99).String() != "unknown" {
		t.Errorf("String: %q %q", Late.String(), Verdict(99).String())
	}
}

func TestTrackerRunsApart(t *testing.T) {
	tr := NewTracker(0)
	feed(tr, 1, 3, 1, 2, 3)
	feed(tr, 2, 3, 1, 2, 3) // same numbers, another run: not duplicates
	feed(tr, 1, 3, 2)       // a real duplicate in run 1
	s := tr.Summary()
	if s.Runs != 2 || s.Sent != 6 || s.Received != 6 || tr.Received() != 6 || s.Duplicates != 1 || s.Missing != 0 {
		t.Errorf("Summary = %+v", s)
	}
}

func TestTrackerProgressDoesNotCountUnsent(t *testing.T) {
	tr := NewTracker(0)
	feed(tr, 1, 100, 1, 2, 4)
	p := tr.Progress()
	if p.Sent != 4 || p.Missing != 1 {
		t.Errorf("Progress Sent %d Missing %d; want 4, 1", p.Sent, p.Missing)
	}
	if s := tr.Summary(); s.Sent != 100 || s.Missing != 97 {
		t.Errorf("Summary Sent %d Missing %d; want 100, 97", s.Sent, s.Missing)
	}
}

func TestTrackerLateBeyondWindow(t *testing.T) {
	tr := NewTracker(0)
	far := uint64(Window + 1000)
	got := feed(tr, 1, 0, 1, far, 1, 2)
	want := []Verdict{New, New, Late, Late}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("datagram %d: %v; want %v", i, got[i], want[i])
		}
	}
	s := tr.Summary()
	if s.Late != 2 || s.Received != 2 || s.Duplicates != 0 {
		t.Errorf("Summary = %+v", s)
	}
	// Just inside the window is still classified.
	inside := far - (Window - 64)
	if v := feed(tr, 1, 0, inside); v[0] != Reordered {
		t.Errorf("seq %d (inside the window) = %v; want reordered", inside, v[0])
	}
}

func TestTrackerUntracked(t *testing.T) {
	tr := NewTracker(0)
	for r := range uint64(MaxRuns) {
		feed(tr, r+1, 1, 1)
	}
	if v := feed(tr, MaxRuns+1, 1, 1); v[0] != Untracked {
		t.Errorf("run beyond MaxRuns: %v; want untracked", v[0])
	}
	// Known runs still count.
	if v := feed(tr, 1, 1, 1); v[0] != Duplicate {
		t.Errorf("known run: %v; want duplicate", v[0])
	}
	if s := tr.Summary(); s.Untracked != 1 || s.Runs != MaxRuns {
		t.Errorf("Summary = %+v", s)
	}
}

func TestTrackerDelay(t *testing.T) {
	tr := NewTracker(0)
	sent := t0
	arrive := []time.Duration{1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	for i, d := range arrive {
		tr.Observe(Header{Run: 1, Seq: uint64(i + 1), Sent: sent.UnixNano()}, sent.Add(d))
	}
	// A duplicate does not count towards delay.
	tr.Observe(Header{Run: 1, Seq: 1, Sent: sent.UnixNano()}, sent.Add(time.Hour))
	s := tr.Summary()
	if s.DelayMin != time.Millisecond || s.DelayMax != 3*time.Millisecond || s.DelayAvg != 2*time.Millisecond {
		t.Errorf("delay min/avg/max = %v/%v/%v; want 1ms/2ms/3ms", s.DelayMin, s.DelayAvg, s.DelayMax)
	}
	// |3-1| and |2-3|: mean 1.5ms.
	if s.Jitter != 1500*time.Microsecond {
		t.Errorf("Jitter = %v; want 1.5ms", s.Jitter)
	}
	if !s.First.Equal(sent.Add(time.Millisecond)) || !s.Last.Equal(sent.Add(2*time.Millisecond)) {
		t.Errorf("First/Last = %v/%v", s.First, s.Last)
	}
}

func TestTrackerObserveNoAlloc(t *testing.T) {
	tr := NewTracker(0)
	feed(tr, 1, 0, 1)
	var s uint64 = 1
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		s++
		tr.Observe(Header{Run: 1, Seq: s, Sent: now.UnixNano()}, now)
	})
	if allocs != 0 {
		t.Errorf("Observe allocated %v times per datagram; want 0", allocs)
	}
}

// FuzzTracker checks the Tracker against a plain set for sequence numbers
// inside the window, where every count must be exact.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 2, 0, 1, 0, 9, 0})
	f.Add([]byte{0xff, 0xff, 3, 0, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := NewTracker(0)
		seen := map[uint64]bool{}
		var highest, received, dups, reordered uint64
		for len(b) >= 2 {
			s := uint64(binary.LittleEndian.Uint16(b)) + 1 // 1..65536 < Window
			b = b[2:]
			var want Verdict
			switch {
			case seen[s]:
				want = Duplicate
				dups++
			case s < highest:
				want = Reordered
				received++
				reordered++
			default:
				want = New
				received++
			}
			seen[s] = true
			highest = max(highest, s)
			if got := tr.Observe(Header{Run: 7, Seq: s}, t0); got != want {
				t.Fatalf("seq %d: %v; want %v", s, got, want)
			}
		}
		sum := tr.Summary()
		if sum.Received != received || sum.Duplicates != dups || sum.Reordered != reordered ||
			sum.Sent != highest || sum.Missing != highest-received || sum.Late != 0 {
			t.Fatalf("Summary = %+v; want received %d dups %d reordered %d sent %d",
				sum, received, dups, reordered, highest)
		}
	})
}
