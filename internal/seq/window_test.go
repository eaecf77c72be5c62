package seq

import "testing"

func TestWindowRing(t *testing.T) {
	w := newWindow(128) // two words: indexes of the current and previous word
	steps := []struct {
		idx         uint64
		dup, tooOld bool
	}{
		{10, false, false},
		{10, true, false},
		{70, false, false},  // second word
		{10, true, false},   // first word still held
		{130, false, false}, // third word: the first word's slot is reused
		{10, false, true},   // now too old
		{70, true, false},
		{129, false, false},
		{1000, false, false}, // jump far ahead: everything cleared
		{130, false, true},
		{960, false, false}, // previous word of 1000, held and clear
		{1000, true, false},
	}
	for i, s := range steps {
		dup, old := w.mark(s.idx)
		if dup != s.dup || old != s.tooOld {
			t.Errorf("step %d mark(%d) = dup %v old %v; want %v %v", i, s.idx, dup, old, s.dup, s.tooOld)
		}
	}
}

func TestWindowFirstIndexHoldsEarlier(t *testing.T) {
	w := newWindow(256) // four words
	if _, old := w.mark(200); old {
		t.Fatal("first mark too old")
	}
	if dup, old := w.mark(5); dup || old {
		t.Errorf("mark(5) after 200 = dup %v old %v; want new", dup, old)
	}
}

func TestWindowSizeRoundsUp(t *testing.T) {
	for _, tt := range []struct{ bits, words uint64 }{{1, 1}, {64, 1}, {65, 2}, {Window, Window / 64}} {
		if got := uint64(len(newWindow(tt.bits).words)); got != tt.words {
			t.Errorf("newWindow(%d) has %d words; want %d", tt.bits, got, tt.words)
		}
	}
}
