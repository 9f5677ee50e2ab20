package aio

import (
	"syscall"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// engineHandler is the Engine seen by its shards as a completion.Handler,
// so the methods stay out of the public API.
type engineHandler Engine

// Inline implements completion.Handler: a user's goroutine may complete an
// operation whose Aio has no callback.
func (h *engineHandler) Inline(c *ring.CQE) bool {
	ud := sqe.UserData(c.UserData)
	switch ud.Kind() {
	case kindMsgRecv, kindMsgAccept:
		// A multishot's result that leaves it armed may be taken by a
		// user's goroutine (one waiting for it in Wait); its last CQE,
		// which may re-arm it, goes to a reaper, whose round submits.
		return c.Flags&ring.CQEFMore != 0
	case kindOp, kindSendZC: // kindSendZC: sendzc.go
	default:
		return true // a LINK_TIMEOUT that failed to arm: dropped in Complete
	}
	a := (*Engine)(h).table.lookup(ud.Index())
	return a == nil || a.cb == nil
}

// Complete implements completion.Handler. It never runs user code: the
// callback goes to the reaper's batch b.
func (h *engineHandler) Complete(c *ring.CQE, b *completion.Batch) (final bool) {
	ud := sqe.UserData(c.UserData)
	switch ud.Kind() {
	case kindMsgRecv, kindMsgAccept:
		// Not final while IORING_CQE_F_MORE says the multishot stays
		// armed: the shard keeps counting it in flight, and its seated
		// reaper parks on the ring (the netpoller), as for any pending op.
		return (*Engine)(h).msgs.complete(c, b)
	case kindSendZC: // a zero-copy send: result or notification (sendzc.go)
		if a := (*Engine)(h).table.lookup(ud.Index()); a != nil {
			return a.completeZC(c, b)
		}
		return c.Flags&ring.CQEFMore == 0
	case kindOp:
	default:
		return false // a LINK_TIMEOUT that failed to arm; its op reports
	}
	if a := (*Engine)(h).table.lookup(ud.Index()); a != nil {
		if b != nil && a.cb != nil {
			// Ended and its callback begun together, in the batch
			// (aioCQE); cb is fixed from NewAio on.
			b.AddArg((*aioCQE)(a), cqeArg(c.Res, ud.Gen()))
		} else {
			a.completeCQE(c, b)
		}
	}
	return true
}

// CompleteOp is how the portable backend reports a result: the
// operation named by token ended with r. b is the calling worker's batch,
// or nil off one.
func (h *engineHandler) CompleteOp(token uint64, r op.Result, b *completion.Batch) {
	ud := sqe.UserData(token)
	if a := (*Engine)(h).table.lookup(ud.Index()); a != nil {
		a.completeRes(ud, r, b)
	}
}

// deadlineCameLocked reports whether the operation's deadline in the
// backend may have ended it: a relative one always may (when it started is
// not kept), an absolute one once the engine's clock has reached it (the
// kernel's timer never ends an operation before its time).
func (a *Aio) deadlineCameLocked() bool {
	d := a.desc.Deadline
	return d.Rel != 0 || (d.Abs != 0 && a.e.clock.now() >= d.Abs)
}

// resultLocked maps how the backend says the operation ended to the
// Aio's result, in the contract's terms. The operation's own result
// decides: a count stands even when a cancel or a timer raced with it.
func (a *Aio) resultLocked(r op.Result) (count int, err error) {
	res := r.Res
	switch r.End {
	case op.Interrupted, op.TimedOut:
		// A cancel or the deadline ended it: the abort the engine asked
		// for first, if any, else the deadline (io_uring cannot tell the
		// two apart: both are -ECANCELED), else what the kernel said.
		a.dropPendingLocked()
		if a.kind == opClose && syscall.Errno(-res) == syscall.ECANCELED {
			// The ring's cancel took the close before it ran (queued
			// in io-wq): a close is never left undone (ops_file.go).
			syscall.Close(int(a.desc.FD))
		}
		switch {
		case a.abortErr != nil:
			return 0, a.abortErr
		case r.End == op.TimedOut || a.desc.Attempt || a.deadlineCameLocked():
			return 0, ErrTimedOut
		}
		// Neither an abort nor the deadline: CloseFD's cancel of the
		// descriptor's requests (fdcancel.go), the one other cancel
		// the engine makes (Engine.Close's come as aborts).
		return 0, ErrClosed
	case op.WouldBlock:
		// A zero timeout's attempt would have had to wait.
		a.dropPendingLocked()
		return 0, ErrTimedOut
	case op.Closed:
		// CloseFD closed the descriptor it waited on (endPortWaiters).
		a.dropPendingLocked()
		return 0, ErrClosed
	}
	if res >= 0 {
		switch a.kind {
		case opAccept:
			x := a.extra()
			x.outputs[0] = int(res)
			a.newFD = res + 1
			return 0, nil
		case opOpenAt:
			// The descriptor is the caller's from here, even when a
			// cancel or a timer raced with the open: its real result
			// stands, so nothing is leaked.
			a.newFD = res + 1
			return 0, nil
		case opSend, opSendTo:
			if res == 0 && a.desc.Len() > 0 && !a.desc.ZeroCopy {
				// No send of a non-empty buffer ends with 0 bytes
				// sent: a stream's sends at least one, a datagram
				// is all or nothing. This kernel's io_uring does it
				// when a unix datagram socket's peer is full: its
				// first try takes the data and refuses (EAGAIN),
				// and its retry once there is room sends what is
				// left, an empty datagram. Said, not called sent.
				return 0, errSentEmpty
			}
			return int(res), nil
		case opRead, opWrite, opRecv, opSplice:
			return int(res), nil
		case opRecvFrom:
			a.x.dg.ok = true // From decodes the source
			return int(res), nil
		case opRecvMsg:
			// On a datagram socket every result is a datagram, an
			// empty one too; on a stream 0 is its end (msgdgram.go).
			if res > 0 || a.x.rmDgram {
				m := a.x.pending
				a.x.pending = nil
				m.n = int(res)
				m.live.Store(true)
				a.x.attached = m
				a.x.dg.ok = a.x.rmDgram && a.x.msg.Namelen > 0 // From decodes the source
				return int(res), nil
			}
		}
		a.dropPendingLocked()
		return 0, nil
	}
	a.dropPendingLocked()
	if a.kind == opClose && res == -int32(syscall.EBADF) && a.e.backend == BackendIOURing && closeRingFD(a.desc.FD) {
		return 0, nil // an io_uring instance's descriptor, which IORING_OP_CLOSE refuses (ops_file.go)
	}
	return 0, syscall.Errno(-res)
}

// dropPendingLocked gives a fallback RecvMsg's buffer back unused (end of
// stream, an error, a cancel).
func (a *Aio) dropPendingLocked() {
	if a.kind == opRecvMsg && a.x.pending != nil {
		a.x.pending.pool.put(a.x.pending)
		a.x.pending = nil
	}
}
