package seq

import (
	"time"
)

// Limits of a Tracker; see the package documentation.
const (
	Window  = 1 << 18 // sequence numbers remembered behind the highest, per run
	MaxRuns = 256     // runs tracked at once
)

// Verdict is what a Tracker decided about one datagram.
type Verdict uint8

const (
	New       Verdict = iota // first copy of its sequence number, in order
	Reordered                // first copy, but a later one arrived before it
	Duplicate                // a copy of one already received
	Late                     // too far behind the window to tell
	Untracked                // its run is beyond MaxRuns
)

var verdictNames = [...]string{"new", "reordered", "duplicate", "late", "untracked"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// IsNew reports whether the datagram counts as received.
func (v Verdict) IsNew() bool { return v == New || v == Reordered }

type run struct {
	id        uint64
	total     uint64
	highest   uint64
	received  uint64
	win       *window
	lastDelay time.Duration
	hasDelay  bool
}

// Tracker counts the stamped datagrams of any number of runs (up to
// MaxRuns). It is not safe for concurrent use: one receive loop owns it.
type Tracker struct {
	// Expect is the number of datagrams the receiver knows were sent over
	// all runs (listen --expect); 0 when not known.
	Expect uint64

	runs      map[uint64]*run
	last      *run // the run of the previous datagram: skips the map lookup
	received  uint64
	dups      uint64
	reordered uint64
	late      uint64
	untracked uint64
	foreign   uint64

	delayN       uint64
	delaySum     float64 // ns; float so hours of clock skew times millions of datagrams cannot overflow
	delayMin     time.Duration
	delayMax     time.Duration
	ipdvSum      float64 // ns
	ipdvN        uint64
	firstArrival time.Time
	lastArrival  time.Time
}

// NewTracker returns an empty Tracker that expects expect datagrams (0: not
// known).
func NewTracker(expect uint64) *Tracker {
	return &Tracker{Expect: expect, runs: make(map[uint64]*run)}
}

// Observe counts one stamped datagram that arrived at the given time and
// returns the verdict. It allocates only for the first datagram of a run.
func (t *Tracker) Observe(h Header, arrival time.Time) Verdict {
	r := t.last
	if r == nil || r.id != h.Run {
		r = t.runs[h.Run]
		if r == nil {
			if len(t.runs) >= MaxRuns {
				t.untracked++
				return Untracked
			}
			bits := uint64(Window)
			if h.Total != 0 && h.Total < bits {
				bits = h.Total
			}
			r = &run{id: h.Run, win: newWindow(bits)}
			t.runs[h.Run] = r
		}
		t.last = r
	}
	if h.Total > r.total {
		r.total = h.Total
	}
	dup, old := r.win.mark(h.Seq - 1)
	switch {
	case old:
		t.late++
		return Late
	case dup:
		t.dups++
		return Duplicate
	}
	r.received++
	t.received++
	v := New
	if h.Seq < r.highest {
		t.reordered++
		v = Reordered
	} else {
		r.highest = h.Seq
	}

	if t.firstArrival.IsZero() {
		t.firstArrival = arrival
	}
	t.lastArrival = arrival
	d := arrival.Sub(h.SentTime())
	if t.delayN == 0 || d < t.delayMin {
		t.delayMin = d
	}
	if t.delayN == 0 || d > t.delayMax {
		t.delayMax = d
	}
	t.delayN++
	t.delaySum += float64(d)
	if r.hasDelay {
		diff := d - r.lastDelay
		if diff < 0 {
			diff = -diff
		}
		t.ipdvSum += float64(diff)
		t.ipdvN++
	}
	r.lastDelay, r.hasDelay = d, true
	return v
}

// Received is the number of distinct sequence numbers received so far.
func (t *Tracker) Received() uint64 { return t.received }

// Foreign counts a datagram that carried no valid stamp.
func (t *Tracker) Foreign() { t.foreign++ }

// Summary is the state of a Tracker. Missing == Sent - Received always.
type Summary struct {
	Runs       int    // runs seen
	Sent       uint64 // see the package documentation
	Received   uint64 // distinct sequence numbers received
	Missing    uint64
	Duplicates uint64
	Reordered  uint64
	Late       uint64 // beyond the window: neither received nor duplicate
	Untracked  uint64 // runs beyond MaxRuns
	Foreign    uint64 // datagrams without a valid stamp

	// Delay is one-way delay over the received datagrams (zero when none).
	DelayMin, DelayAvg, DelayMax time.Duration
	// Jitter is the mean absolute difference of consecutive delays in a run.
	Jitter time.Duration
	// First and Last are the arrival times of the first and last received
	// datagrams.
	First, Last time.Time
}

// Summary returns the final counts: Sent counts each run's planned total (or
// its highest sequence number), raised to Expect.
func (t *Tracker) Summary() Summary {
	s := t.counts()
	for _, r := range t.runs {
		s.Sent += max(r.total, r.highest)
	}
	s.Sent = max(s.Sent, t.Expect)
	s.Missing = s.Sent - s.Received
	return s
}

// Progress returns the counts so far, for a live display: Sent and Missing
// cover only what is known to have been sent by now (up to each run's
// highest sequence number), so the datagrams a sender has not sent yet are
// not counted missing.
func (t *Tracker) Progress() Summary {
	s := t.counts()
	for _, r := range t.runs {
		s.Sent += r.highest
	}
	s.Missing = s.Sent - s.Received
	return s
}

func (t *Tracker) counts() Summary {
	s := Summary{
		Runs:       len(t.runs),
		Received:   t.received,
		Duplicates: t.dups,
		Reordered:  t.reordered,
		Late:       t.late,
		Untracked:  t.untracked,
		Foreign:    t.foreign,
		First:      t.firstArrival,
		Last:       t.lastArrival,
	}
	if t.delayN > 0 {
		s.DelayMin, s.DelayMax = t.delayMin, t.delayMax
		s.DelayAvg = time.Duration(t.delaySum / float64(t.delayN))
	}
	if t.ipdvN > 0 {
		s.Jitter = time.Duration(t.ipdvSum / float64(t.ipdvN))
	}
	return s
}
