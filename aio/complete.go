package aio

import (
	"syscall"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// erestartsys is the kernel-internal ERESTARTSYS (512), which a cancelled
// io-wq request can leak into its CQE (reference: liburing.md §4.2).
const erestartsys = 512

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
		a.completeCQE(c, b)
	}
	return true
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
		case opRecvMsg:
			if res > 0 {
				m := a.x.pending
				a.x.pending = nil
				m.n = int(res)
				m.live.Store(true)
				a.x.attached = m
				return int(res), nil
			}
		}
	}
	if r.kind == opRecvMsg && a.x.pending != nil {
		// End of stream or an error: the buffer goes back unused.
		a.x.pending.pool.put(a.x.pending)
		a.x.pending = nil
	}
	if res >= 0 {
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
