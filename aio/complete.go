package aio

import (
	"syscall"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// erestartsys is the kernel-internal ERESTARTSYS (512), which a cancelled
// io-wq request can leak into its CQE (reference: liburing.md §4.2).
const erestartsys = 512

// Complete implements completion.Handler. It runs on the completion
// goroutine for every CQE of the engine's kinds; it never runs user code.
func (e *Engine) Complete(c *ring.CQE) bool {
	ud := sqe.UserData(c.UserData)
	if ud.Kind() != kindOp {
		return false // a LINK_TIMEOUT that failed to arm; its op reports
	}
	a := e.table.lookup(ud.Index())
	if a == nil {
		return true
	}
	a.mu.Lock()
	if a.state != stateKernel || a.gen&sqe.GenMask != ud.Gen() {
		// Stale: cannot happen while every op posts exactly one CQE, but
		// never let a stray CQE complete the wrong operation.
		a.mu.Unlock()
		return true
	}
	count, err := a.resultLocked(c.Res)
	// The kernel is done with the buffers: unpin before the callback can
	// reuse them.
	a.pin.Unpin()
	a.disarmLocked()
	a.result, a.count = err, count
	a.abortErr = nil
	a.state = stateDone
	if a.cb == nil {
		a.doneLocked()
		a.mu.Unlock()
		return true
	}
	a.mu.Unlock()
	// Batch for the callback workers; Flush hands the batch over.
	if e.batchTail == nil {
		e.batchHead = a
	} else {
		e.batchTail.next = a
	}
	e.batchTail = a
	e.batchN++
	return true
}

// Flush implements completion.Handler: one hand-over per reaped batch.
func (e *Engine) Flush() {
	if e.batchHead == nil {
		return
	}
	head, tail, n := e.batchHead, e.batchTail, e.batchN
	e.batchHead, e.batchTail, e.batchN = nil, nil, 0
	if !e.cbq.pushList(head, tail, n) {
		for a := head; a != nil; {
			next := a.next
			a.next = nil
			go a.runCallback(0)
			a = next
		}
	}
}

// resultLocked maps an operation's CQE result to the Aio's result. The
// operation's own CQE decides: a positive result stands even when a cancel
// or a timer raced with it.
func (a *Aio) resultLocked(res int32) (count int, err error) {
	r := &a.req
	if res >= 0 {
		switch r.kind {
		case opAccept:
			x := a.extra()
			x.outputs[0] = int(res)
			return 0, nil
		case opRead, opWrite, opRecv, opSend:
			return int(res), nil
		}
		return 0, nil
	}
	errno := syscall.Errno(-res)
	switch errno {
	case syscall.ECANCELED, syscall.EINTR, erestartsys:
		if a.abortErr != nil {
			return 0, a.abortErr
		}
		if errno == syscall.ECANCELED && r.link {
			return 0, ErrTimedOut // the linked timer fired
		}
	case errETIME:
		if r.kind == opSleep {
			if r.sleepTimesOut {
				return 0, ErrTimedOut
			}
			return 0, nil
		}
	case syscall.EAGAIN:
		if a.nonblock {
			return 0, ErrTimedOut // a zero timeout's attempt would have blocked
		}
	case syscall.EINPROGRESS, syscall.EALREADY:
		if a.nonblock && r.kind == opConnect {
			return 0, ErrTimedOut
		}
	}
	return 0, errno
}
