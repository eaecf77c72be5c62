package mdns

import "sync"

// eventQueue carries a Querier's events to a reader on another goroutine,
// coalesced rather than queued without bound: while the reader lags, only
// the latest state of each instance (per subscription and interface)
// waits, and the reader is told the difference between what it last saw
// and that state. An instance found and lost before the reader heard of
// it is never reported; one that changed and changed back is not
// reported changed.
type eventQueue struct {
	mu      sync.Mutex
	max     int             // bound on pending
	shown   map[evKey]Event // what the reader was last told, for instances it holds as present
	pending map[evKey]Event // the latest state, for instances whose state may differ from shown
	order   []evKey         // the keys of pending, oldest first, each once
	dropped uint64          // events refused because max were pending
	wake    chan struct{}   // a value when pending gained something
}

type evKey struct {
	sub     SubID
	ifindex int
	name    string // lowerASCII
}

func newEventQueue(max int) *eventQueue {
	return &eventQueue{
		max:     max,
		shown:   make(map[evKey]Event),
		pending: make(map[evKey]Event),
		wake:    make(chan struct{}, 1),
	}
}

func keyOf(ev *Event) evKey { return evKey{ev.Sub, ev.IfIndex, lowerASCII(ev.Name)} }

// push adds an event from the engine.
func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := keyOf(&ev)
	if _, ok := q.pending[k]; !ok {
		if len(q.pending) >= q.max {
			q.dropped++
			return
		}
		q.order = append(q.order, k)
	}
	q.pending[k] = ev
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop returns the next event the reader should see, if any.
func (q *eventQueue) pop() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) > 0 {
		k := q.order[0]
		q.order = q.order[1:]
		ev, ok := q.pending[k]
		if !ok {
			continue
		}
		delete(q.pending, k)
		old, told := q.shown[k]
		switch {
		case ev.Kind == Lost:
			if !told {
				continue // came and went unseen
			}
			delete(q.shown, k)
			return ev, true
		case told && sameView(&old, &ev):
			continue
		case told:
			ev.Kind = Changed
		default:
			ev.Kind = Found
		}
		q.shown[k] = ev
		return ev, true
	}
	q.order = nil // let the array go once drained
	return Event{}, false
}

// forget drops what is kept for a subscription the engine stopped (and
// so sends no more events for).
func (q *eventQueue) forget(sub SubID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k := range q.pending {
		if k.sub == sub {
			delete(q.pending, k)
		}
	}
	for k := range q.shown {
		if k.sub == sub {
			delete(q.shown, k)
		}
	}
}

func (q *eventQueue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// deliver sends events to out until done closes.
func (q *eventQueue) deliver(out chan<- Event, done <-chan struct{}) {
	for {
		ev, ok := q.pop()
		if !ok {
			select {
			case <-q.wake:
				continue
			case <-done:
				return
			}
		}
		select {
		case out <- ev:
		case <-done:
			return
		}
	}
}
