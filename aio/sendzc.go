package aio

// Zero-copy send (IORING_OP_SEND_ZC, IORING_OP_SENDMSG_ZC), opt-in with
// Config.SendZeroCopyMin.
//
// A zero-copy send posts two CQEs with the same user data: the result (bytes
// sent or -errno), flagged IORING_CQE_F_MORE when a notification follows,
// and the notification (IORING_CQE_F_NOTIF), once the network stack has
// dropped its last reference to the buffer's pages; for TCP that is when
// the peer has acknowledged the data. The contract says the kernel is done
// with an operation's buffers before its callback runs, so the callback
// waits for the notification: the result CQE records the result and moves
// the Aio to stateNotif, still busy and still pinned; the notification ends
// the operation (lifecycle.go has the transitions). A result without
// F_MORE has no notification and ends the operation at once.
//
// Abort, Stop, Close and the link timeout act only before the result CQE:
// after it the result stands, and an Abort changes nothing (there is no
// request left in the kernel to cancel). An Aio awaiting its notification
// is busy, so Wait, Stop and Engine.Close wait for it.
//
// Refusal: a socket that does not support zero copy fails the request
// with -EOPNOTSUPP before sending anything: AF_UNIX sockets, and TCP
// sockets accepted by an MPTCP listener (Go's net.Listen makes those by
// default since Go 1.24), while sockets of the same engine dialed or
// accepted by a plain TCP listener take it. So the refusal is remembered
// per Aio and descriptor, not per engine: that Aio sends plainly on that
// descriptor from then on, and every other pair still tries zero copy
// (one wasted round trip each, with no data moved). The refused operation
// is sent again as a plain SEND/SENDMSG once its notification (if any) has
// come, keeping its deadline. The re-queue runs on a reaper, as a completion.Callback, so
// that the round that runs it also submits it (an inline reaper holds the
// CQ lock and submits nothing after its reap).
//
// Ownership: zcExtra lives in aioExtra, under Aio.mu like everything the
// request touches.

import (
	"syscall"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// kindSendZC is the user data kind of a zero-copy send and of its
// notification (the kernel copies the request's user data into both).
// Kinds 3 and 4 belong to the message operations.
const kindSendZC sqe.Kind = 5

// zcExtra is a zero-copy send's state, in aioExtra (under Aio.mu).
type zcExtra struct {
	deadline  int64        // engine clock ns: the plain re-issue's deadline; 0 for none
	refusedUD sqe.UserData // the refused request awaiting its plain re-issue; 0 for none
	refused   bool         // refusedFd refused zero copy: send plainly on it
	refusedFd int32
	notified  bool // the notification came before the result
}

// zeroCopyLocked turns the plain send just described in a.desc into its
// zero-copy form when the engine's threshold asks for it, the backend has
// it and the engine's sockets have not refused it. tm is the operation's
// timing: a refused send is re-issued under the same deadline. Called with
// mu held, between buildLocked and the queueing.
func (a *Aio) zeroCopyLocked(tm timing) {
	d := &a.desc
	threshold := a.e.cfg.SendZeroCopyMin
	if threshold <= 0 || a.x != nil && a.x.zc.refused && a.x.zc.refusedFd == d.FD {
		return
	}
	if d.Len() < threshold {
		return
	}
	d.ZeroCopy = true
	if !a.sh.Supports(d) {
		// The portable backend, or before 6.0 (SEND_ZC) or 6.1
		// (SENDMSG_ZC): a plain send.
		d.ZeroCopy = false
		return
	}
	x := a.extra()
	x.zc.refusedUD = 0
	x.zc.notified = false
	switch tm.mode {
	case tAbsolute:
		x.zc.deadline = tm.abs
	case tRelative:
		// One clock read per zero-copy send, so that a refused send's
		// plain re-issue keeps the original deadline.
		x.zc.deadline = op.AddMono(a.e.clock.now(), int64(tm.rel))
	default:
		x.zc.deadline = 0
	}
	d.Token = uint64(sqe.Pack(kindSendZC, a.slot, a.gen))
}

// completeZC handles a CQE of a zero-copy send: its result or its
// notification, in either order. It reports whether the CQE was the
// request's last, which is what the shard counts in flight: the
// notification, or the result when it has no IORING_CQE_F_MORE, or the
// result when the notification came first. (Measured here: with the
// receiver in another process the notification is sometimes posted before
// the result; decision 15 in docs/design.md.) b is as for finishLocked.
func (a *Aio) completeZC(c *ring.CQE, b *completion.Batch) (final bool) {
	ud := sqe.UserData(c.UserData)
	a.mu.Lock()
	defer a.unlock()
	if sqe.UserData(a.desc.Token) != ud {
		// Stale: not the current operation (cannot happen while the Aio
		// stays busy until both CQEs are in).
		return c.Flags&ring.CQEFMore == 0
	}
	x := a.x
	if c.Flags&ring.CQEFNotif != 0 {
		// The kernel has released the buffer.
		switch {
		case a.state == stateNotif:
			a.finishLocked(a.result, a.Count(), b)
		case a.state == stateKernel && x.zc.refusedUD == ud:
			a.zcFallbackLocked(b)
		case a.state == stateKernel:
			// Before the result: the result CQE ends the operation.
			x.zc.notified = true
			a.e.zcEarlyNotifs.Add(1)
			return false
		}
		return true
	}
	if a.state != stateKernel {
		return c.Flags&ring.CQEFMore == 0
	}
	// more: a notification is still to come.
	more := c.Flags&ring.CQEFMore != 0 && !x.zc.notified
	if c.Res == -int32(syscall.EOPNOTSUPP) {
		// Refused before anything was sent: send it plainly, once the
		// notification (if one follows) says the request is gone, and
		// plainly from the start next time on this descriptor. The
		// state stays Kernel so that an Abort meanwhile is recorded and
		// ends the operation instead of the plain send.
		a.e.zcRefusals.Add(1)
		x.zc.refused, x.zc.refusedFd = true, a.desc.FD
		x.zc.refusedUD = ud
		if !more {
			a.zcFallbackLocked(b)
		}
		return !more
	}
	count, err := a.resultLocked(completion.Result(&a.desc, c.Res))
	if !more {
		a.finishLocked(err, count, b)
		return true
	}
	// The result stands; the buffer stays pinned and the Aio busy until
	// the notification.
	a.setResultLocked(err, count)
	a.state = stateNotif
	return false
}

// zcFallbackLocked has a reaper re-queue the refused send as a plain one.
// From an inline reaper (b nil) it hands the re-queue off; the wake that
// may need is made after mu is released (Aio.unlock, and the inline reap
// itself once the CQ is released).
func (a *Aio) zcFallbackLocked(b *completion.Batch) {
	if b != nil {
		b.Add((*zcRetry)(a))
		return
	}
	ok, wake := a.sh.Handoff((*zcRetry)(a))
	if !ok {
		// No reapers (a broken ring): nothing was sent.
		a.x.zc.refusedUD = 0
		a.finishLocked(ErrClosed, 0, nil)
	}
	if wake {
		a.wakeOwed = true // made by unlock, out of mu
	}
}

// zcRetry is an Aio whose zero-copy send was refused, seen by the shard as
// the completion.Callback that re-queues it as a plain send.
type zcRetry Aio

// RunCallback implements completion.Callback: it runs on a reaper, whose
// round submits what it queues. It runs no user code.
func (z *zcRetry) RunCallback(int64, uint64) {
	a := (*Aio)(z)
	a.mu.Lock()
	queued := a.zcRequeueLocked()
	a.unlock()
	if queued {
		a.sh.Push(0) // a no-op on a reaper: its round submits
	}
}

// zcRequeueLocked re-issues the refused send as a plain SEND/SENDMSG and
// reports whether it queued it; otherwise the operation has ended.
func (a *Aio) zcRequeueLocked() bool {
	x := a.x
	if a.state != stateKernel || x == nil || x.zc.refusedUD == 0 || x.zc.refusedUD != sqe.UserData(a.desc.Token) {
		return false // ended meanwhile (a broken ring's Close)
	}
	x.zc.refusedUD = 0
	if err := a.abortErr; err != nil {
		// Aborted, stopped or closed while refused: nothing was sent.
		a.finishLocked(err, 0, nil)
		return false
	}
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		return false
	}
	tm := timing{mode: tInfinite}
	switch {
	case a.desc.Attempt:
		tm.mode = tZero
	case x.zc.deadline != 0:
		if x.zc.deadline <= a.e.clock.now() {
			a.finishLocked(ErrTimedOut, 0, nil)
			return false
		}
		tm = timing{mode: tAbsolute, abs: x.zc.deadline}
	}
	// The kernel has let go of the buffers: build afresh, pinning again.
	fd := int(a.desc.FD)
	a.unpinAllLocked()
	if err := a.buildLocked(opSend, fd, 0, nil, nil); err != nil {
		a.finishLocked(err, 0, nil)
		return false
	}
	if !a.armLocked(tm) {
		a.finishLocked(ErrTimedOut, 0, nil)
		return false
	}
	if a.sh.Queue(&a.desc) != nil {
		a.finishLocked(ErrClosed, 0, nil)
		return false
	}
	return true
}

// zcSendOp reports the opcode the Aio's last send went out with (tests).
func (a *Aio) zcSendOp() sqe.Op {
	a.mu.Lock()
	defer a.unlock()
	o, _ := completion.Opcode(&a.desc)
	return o
}
