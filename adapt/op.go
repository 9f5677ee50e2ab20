package adapt

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/aioring/aioring/aio"
)

// errRearm aborts a pending operation whose deadline changed; runner.run
// restarts it under the new deadline. It never leaves this package.
var errRearm = errors.New("adapt: deadline changed while the operation was pending")

// errCtxDone aborts a pending operation whose context is done; the caller
// reports the context's error instead.
var errCtxDone = errors.New("adapt: context done")

// runner runs one kind of operation (reads, writes or accepts of one
// socket) on its own Aio, one at a time, under a deadline that may change
// while the operation is pending.
//
// Invariants: the Aio is only used with serial held (by run, or by close to
// free it); it is only started with mu held and closed false, and pending
// is true exactly while an operation started by run has not been waited
// for. So an Abort issued under mu with pending set always reaches
// the operation it means (never a later one), and after close no operation
// can start.
type runner struct {
	serial sync.Mutex // held for a whole run: one operation at a time
	a      *aio.Aio   // no callback: run waits for it

	mu       sync.Mutex
	deadline time.Time
	pending  bool
	closed   bool
}

func newRunner(e *aio.Engine) *runner {
	a := e.NewAio(nil)
	a.SetTimeout(aio.Infinite) // deadlines come from SetExpire alone
	return &runner{a: a}
}

// run starts op with the current deadline and waits for it, restarting it
// when a deadline change aborted it before it transferred anything. It
// returns the Aio's count and result; net.ErrClosed once close has been
// called; aio.ErrTimedOut when the deadline has passed.
//
// finish, if not nil, is called after a successful operation to read what
// it left in the Aio (the descriptor of an Accept, say). It must be read
// there and not after run returns: from then on the next caller's operation
// may be using the Aio, and starting an operation clears its outputs.
func (r *runner) run(ctx context.Context, start, finish func(a *aio.Aio)) (int, error) {
	r.serial.Lock()
	defer r.serial.Unlock()
	if ctx != nil && ctx.Done() != nil {
		// Abort under mu and only while pending, like a deadline change.
		// If the abort has begun, wait for it: it must not reach the
		// next caller's operation.
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			r.abortPending(errCtxDone)
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
			}
		}()
	}
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return 0, net.ErrClosed
		}
		if ctx != nil && ctx.Err() != nil {
			r.mu.Unlock()
			return 0, errCtxDone
		}
		if d := r.deadline; !d.IsZero() {
			if !time.Now().Before(d) {
				r.mu.Unlock()
				return 0, aio.ErrTimedOut
			}
			r.a.SetExpire(d)
		}
		r.pending = true
		start(r.a)
		r.mu.Unlock()

		r.a.Wait()

		r.mu.Lock()
		r.pending = false
		closed := r.closed
		r.mu.Unlock()
		n, err := r.a.Count(), r.a.Result()
		switch {
		case n > 0 || err == nil:
			if err == nil && finish != nil {
				finish(r.a)
			}
			return n, err
		case closed:
			return 0, net.ErrClosed
		case err == errRearm:
			continue
		}
		return 0, err
	}
}

// abortPending aborts the pending operation, if any, with err.
func (r *runner) abortPending(err error) {
	r.mu.Lock()
	if r.pending {
		r.a.Abort(err)
	}
	r.mu.Unlock()
}

// setDeadline records t for the operations that follow and re-arms a
// pending one. It reports false after close.
func (r *runner) setDeadline(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.deadline = t
	if r.pending {
		r.a.Abort(errRearm)
	}
	return true
}

// close ends the pending operation with net.ErrClosed, forbids new ones,
// waits until no run uses the Aio (the aborted one may still be reading its
// result) and frees it. It must be called once, and not from finish.
func (r *runner) close() {
	r.mu.Lock()
	r.closed = true
	if r.pending {
		r.a.Abort(net.ErrClosed)
	}
	r.mu.Unlock()
	// The run holding serial ends promptly: its operation was just aborted,
	// or it sees closed before starting one; so do the runs queued behind.
	r.serial.Lock()
	defer r.serial.Unlock()
	r.a.Free()
}
