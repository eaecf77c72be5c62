package dgram

// An Offer sizes the batch a receive loop offers RecvBatch or RecvBatchWait
// to what arrives. RecvBatch checks every message offered before each call
// (a few nanoseconds each), and a paced stream brings one to four
// datagrams a call, so offering 64 cost more than the datagrams
// themselves. A call that fills what it was offered doubles the offer at
// once (a flood reaches 64 in three calls); eight calls in a row that take
// at most a quarter of it halve it, down to 8.
//
// Calls that bring a single datagram (a request-response client, one
// request in flight; a sparse stream), four in a row, are offered one
// message: offered more, recvmmsg looks for a second before it returns, and
// the kernel's failed try costs about as much as the rest of the receive.
// Every 16th call is offered the batch again, to see whether more wait; one
// that brings more than one goes back to batches until four batches in a
// row bring a single datagram again.
//
// The zero Offer is ready. Size says how many messages to offer, at most
// limit; Got reports what the call brought.
type Offer struct {
	n       int  // the batch offer; 0: not set yet, start small
	small   int  // batch calls in a row that used at most a quarter of n
	one     bool // offer one message, but for the probes
	calls   int  // calls offered one since the last probe
	singles int  // batch calls in a row that brought a single datagram
}

// singlesToOne is how many batch calls in a row must bring a single datagram
// before the loop is offered one message: the last call of a burst often
// brings one, and a loop switched to one message by it would then take the
// next burst a datagram a call until the next probe.
const singlesToOne = 4

// minOffer is the smallest batch offer: below it the check costs next to
// nothing.
const minOffer = 8

// probeEvery is how often, in calls, a loop that is offered one message is
// offered the batch to see whether more wait.
const probeEvery = 16

// Size is how many messages to offer the next call, at most limit.
func (o *Offer) Size(limit int) int {
	if o.n == 0 {
		o.n = minOffer
	}
	if o.one && o.calls < probeEvery {
		return 1
	}
	return min(o.n, limit)
}

// Got records that a call offered offered messages (Size's answer) brought
// k datagrams.
func (o *Offer) Got(k, offered, limit int) {
	if o.one && o.calls < probeEvery {
		o.calls++ // offered one
		return
	}
	if k == 1 {
		if o.singles++; o.singles >= singlesToOne || o.one {
			o.one, o.calls = true, 0
			return
		}
	} else {
		o.singles = 0
	}
	switch {
	case k == 1:
	case k >= offered:
		o.one = false
		o.n, o.small = min(offered*2, max(limit, minOffer)), 0
	case k <= offered/4 && o.n > minOffer:
		o.one = false
		if o.small++; o.small >= 8 {
			o.n, o.small = max(o.n/2, minOffer), 0
		}
	default:
		o.one, o.small = false, 0
	}
}
