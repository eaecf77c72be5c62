package broadcast

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/bcastdev/bcast/dgram"
)

// ctxWatch makes a context's end wake a socket's receive, and costs nothing
// per call while the caller keeps passing the same context.
//
// dgram's ...Context calls arm a context.AfterFunc per call, a few
// allocations each: fine for a dial, too much for a receive loop that
// promises zero allocations per datagram. A receive loop passes the same
// context every time, so the watch is armed once per context (keyed by its
// Done channel) and re-armed only when a different one comes. When the
// context ends, the socket's read deadline is pulled into the past; the
// caller's own deadline (recorded by setDeadline) is put back when a later
// call brings a live context.
type ctxWatch struct {
	sock *dgram.Socket

	mu       sync.Mutex
	done     <-chan struct{} // Done of the armed context; nil when none
	stop     func() bool
	gen      uint64 // bumped on every disarm, so a late callback does nothing
	fired    bool   // the deadline was pulled; put it back on disarm
	deadline time.Time
}

// arm prepares a receive under ctx. It returns ctx.Err() if ctx has ended.
func (w *ctxWatch) arm(ctx context.Context) error {
	done := ctx.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	if done == nil {
		if w.done != nil || w.fired {
			w.disarmLocked()
		}
		return nil
	}
	if done != w.done {
		w.disarmLocked()
		w.done = done
		gen := w.gen
		w.stop = context.AfterFunc(ctx, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.gen == gen {
				w.fired = true
				w.sock.SetReadDeadline(time.Unix(1, 0))
			}
		})
	}
	return ctx.Err()
}

// result turns the error of a receive that ctx may have interrupted into
// ctx.Err().
func (w *ctxWatch) result(ctx context.Context, err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
	return err
}

func (w *ctxWatch) disarmLocked() {
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	w.gen++
	w.done = nil
	if w.fired {
		w.fired = false
		w.sock.SetReadDeadline(w.deadline)
	}
}

// setDeadline sets the caller's read deadline, which a fired watch has
// displaced until the next arm.
func (w *ctxWatch) setDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	if w.fired {
		return nil
	}
	return w.sock.SetReadDeadline(t)
}

func (w *ctxWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
	w.gen++
	w.done = nil
}
