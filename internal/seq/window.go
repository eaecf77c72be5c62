package seq

// window remembers which of the most recent sequence numbers of a run have
// been seen: a ring of bits over sequence indexes (seq-1), held as whole
// 64-bit words from word lo up to word hi (exclusive), hi-lo <= len(words).
// Indexes below word lo are too old to tell apart.
type window struct {
	words  []uint64 // ring; len is a power of two
	lo, hi uint64   // absolute word numbers held
}

func newWindow(bits uint64) *window {
	n := uint64(1)
	for n*64 < bits {
		n <<= 1
	}
	return &window{words: make([]uint64, n)}
}

// mark records index idx and reports whether it was already recorded, or
// whether it was too old to know (then nothing is recorded).
func (w *window) mark(idx uint64) (dup, tooOld bool) {
	wi := idx >> 6
	size := uint64(len(w.words))
	if w.hi == 0 {
		// The first datagram: hold the words behind it too, so that
		// datagrams sent before it but arriving after it are still new.
		w.hi = wi + 1
		w.lo = w.hi - min(w.hi, size)
	}
	if wi < w.lo {
		return false, true
	}
	if wi >= w.hi {
		// Advance: the ring slots of the words about to be held still
		// hold the oldest words; clear them.
		if wi-w.hi >= size {
			clear(w.words)
		} else {
			for k := w.hi; k <= wi; k++ {
				w.words[k&(size-1)] = 0
			}
		}
		w.hi = wi + 1
		if w.hi-w.lo > size {
			w.lo = w.hi - size
		}
	}
	slot := &w.words[wi&(size-1)]
	bit := uint64(1) << (idx & 63)
	if *slot&bit != 0 {
		return true, false
	}
	*slot |= bit
	return false, false
}
