package dgram

import "testing"

// The batch offered to recvmmsg follows what arrives: it doubles when a call
// fills it, up to the limit, and halves after eight calls in a row that
// used at most a quarter of it, never below minOffer. (Calls here bring at
// least two: one is TestOfferOne's.)
func TestOfferFollowsArrivals(t *testing.T) {
	var o Offer
	if n := o.Size(64); n != minOffer {
		t.Fatalf("first offer %d; want %d", n, minOffer)
	}
	for _, want := range []int{16, 32, 64, 64} {
		o.Got(o.Size(64), o.Size(64), 64)
		if n := o.Size(64); n != want {
			t.Fatalf("after a full call: offer %d; want %d", n, want)
		}
	}
	for i := range 7 {
		o.Got(2, 64, 64)
		if n := o.Size(64); n != 64 {
			t.Fatalf("after %d small calls: offer %d; want 64 still", i+1, n)
		}
	}
	o.Got(2, 64, 64)
	if n := o.Size(64); n != 32 {
		t.Fatalf("after 8 small calls: offer %d; want 32", n)
	}
	o.Got(20, 32, 64) // more than a quarter: the run of small calls starts again
	for range 7 {
		o.Got(2, 32, 64)
	}
	if n := o.Size(64); n != 32 {
		t.Fatalf("a run broken by a busy call: offer %d; want 32", n)
	}
	for range 100 {
		o.Got(2, o.Size(64), 64)
	}
	if n := o.Size(64); n != minOffer {
		t.Fatalf("long idle: offer %d; want %d", n, minOffer)
	}
	if n := o.Size(4); n != 4 {
		t.Fatalf("a smaller limit (out of 4): offer %d; want 4", n)
	}
}

// Calls that bring one datagram (one request in flight), singlesToOne in a
// row, are offered one message, and every probeEvery-th the batch; a probe
// that brings more goes back to batches, which a run of singles ends again.
func TestOfferOne(t *testing.T) {
	var o Offer
	for i := range singlesToOne { // batch calls bringing one
		if n := o.Size(64); n != minOffer {
			t.Fatalf("batch call %d bringing one: offered %d; want %d still", i+1, n, minOffer)
		}
		o.Got(1, o.Size(64), 64)
	}
	probes := 0
	for i := range 5 * probeEvery {
		n := o.Size(64)
		if n != 1 {
			probes++
			if n != minOffer {
				t.Fatalf("call %d: a probe offers %d; want the batch, %d", i, n, minOffer)
			}
		}
		o.Got(1, n, 64)
	}
	if probes < 4 || probes > 5 {
		t.Fatalf("%d probes in %d calls bringing one; want one every %d", probes, 5*probeEvery, probeEvery+1)
	}
	for o.Size(64) == 1 {
		o.Got(1, 1, 64)
	}
	o.Got(3, minOffer, 64) // the probe finds more waiting
	for i := range 3 * probeEvery {
		n := o.Size(64)
		if n == 1 {
			t.Fatalf("call %d after a probe found more: offered one", i)
		}
		o.Got(2, n, 64)
	}
	// The end of a burst (a single datagram between bigger calls) keeps
	// the batch; only a run of singles goes back to one.
	o.Got(1, o.Size(64), 64)
	o.Got(5, o.Size(64), 64)
	for range singlesToOne - 1 {
		o.Got(1, o.Size(64), 64)
	}
	if n := o.Size(64); n == 1 {
		t.Fatalf("%d batches that brought one after a bigger one: offered one", singlesToOne-1)
	}
	o.Got(1, o.Size(64), 64)
	if n := o.Size(64); n != 1 {
		t.Fatalf("%d batches in a row that brought one: offer %d; want 1", singlesToOne, n)
	}
}
