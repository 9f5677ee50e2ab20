package aio

// The lifecycle of an operation: every state transition of an Aio is in
// this file.
//
//	from            event                            to              who
//	Idle|Callback   start refused (stopped, closed,  Done            the starter
//	                expiry past, bad input)
//	Idle|Callback   kernel op queued                 Kernel          the starter
//	Idle|Callback   Sleep armed                      Timer           the starter
//	Idle|Callback   file read of <= 64 KiB worth     Done, Kernel    the starter, under mu: the try
//	                trying first                                     as below, in the same critical
//	                                                                 section (tryfirst.go); the
//	                                                                 commonest, into one buffer
//	                                                                 with no deadline, by a start
//	                                                                 of its own that a hit ends
//	                                                                 with endTriedLocked
//	Idle|Callback   other read, Splice, worth trying Try             the starter (tryfirst.go)
//	Try             the try finished it (a page-     Done            the starter, with the try's
//	                cache hit), or it was aborted                    result, else the abort's error
//	Try             the try missed                   Kernel          the starter: queued as usual
//	                (a Splice whose end is not                       (for the Splice, a poll of
//	                ready: trysplice_linux.go)                       that end in its place)
//	Kernel          a Splice's poll CQE (End Ready)  Try             the reaper, or a goroutine
//	                                                                 reaping inline: tries again
//	                                                                 (retryAndUnlock), and runs
//	                                                                 the callback itself if it
//	                                                                 is a worker in its round
//	Kernel          a socket transfer's CQE with     Try             the same; not tried, so
//	                EAGAIN and no attempt asked                      queued again with its
//	                (the kernel's poll gave up:                      deadline (retryAndUnlock)
//	                op.Kind.SocketWait)
//	Try             Abort/Stop/Close                 Try             the aborter: records the
//	                                                                 error, nothing to cancel yet
//	Idle|Callback   Start (provider)                 Provider        the provider
//	Idle|Callback   RecvMsg/Accept with a result     Done            the starter
//	                queued for the descriptor, or
//	                its end (msgfd.go)
//	Idle|Callback   RecvMsg/Accept with nothing      Msg             the starter; arms the
//	                queued                                           descriptor's multishot if
//	                                                                 it is not armed
//	Idle|Callback   RecvMsg/Accept whose multishot   Done            the starter (ErrClosed)
//	                the ring refuses (closed/broken)
//	Idle|Callback   fallback RecvMsg, no free buffer Msg             the starter
//	Msg             the descriptor's next result or  Done            a reaper, or a user goroutine
//	                its end (a multishot CQE)                        reaping inline (results with
//	                                                                 F_MORE only)
//	Msg             a Free returns a buffer          Kernel          the freeing goroutine
//	                (fallback RecvMsg)
//	Msg             Abort/Stop/Close/timer           Done            the aborter; the multishot
//	                                                                 stays armed, later results
//	                                                                 queue for the next call
//	Msg             Engine.CloseFD of the descriptor Done            the closer (ErrClosed)
//	Msg             another Aio's RecvMsg/Accept     Done            that starter (ErrClosed)
//	                finds the number names another
//	                file now (msgfd.go)
//	Msg             the multishot's re-arm refused   Done            a reaper (ErrClosed)
//	(any)           Stop/Free/Reap of the last Aio   (unchanged)     the stopper: its descriptors'
//	                that used a descriptor                           multishots are cancelled,
//	                                                                 their queues given back
//	Kernel          its CQE (the op's own result,    Done            a reaper, at the callback's
//	                or the abort's error for                         turn in its batch, which
//	                -ECANCELED)                                      begins it in the same
//	                                                                 critical section (aioCQE);
//	                                                                 or a user goroutine reaping
//	                                                                 inline (Wait-only Aios)
//	Kernel          Abort/Stop/Close/engine deadline Kernel          anyone: queues ASYNC_CANCEL;
//	                                                                 the CQE still decides
//	Kernel          CloseFD of its descriptor        Kernel          the closer: an ASYNC_CANCEL
//	                (fdcancel.go)                                    of the descriptor's
//	                                                                 requests; -ECANCELED with
//	                                                                 no abort and before the
//	                                                                 deadline reads ErrClosed
//	Kernel          zero-copy send's result CQE      Notif           a reaper or inline reaper:
//	                with F_MORE (sendzc.go)                          result recorded, buffers
//	                                                                 still pinned
//	Notif           its notification CQE (F_NOTIF)   Done            a reaper or inline reaper,
//	                                                                 with the recorded result
//	Notif           Abort/Stop/Close                 Notif           nothing: the result stands
//	Kernel          zero-copy send refused           Kernel          after its notification (if
//	                (-EOPNOTSUPP)                                    F_MORE), a reaper re-queues
//	                                                                 it as a plain send, or ends
//	                                                                 it with a recorded abort
//	Timer           timer fires                      Done            the timer's goroutine
//	Timer           Abort/Stop/Close                 Done            the aborter
//	Provider        Finish                           Done            the provider
//	Provider        Abort/Stop/Close/deadline        Provider        calls the cancel hook once;
//	                                                                 the provider calls Finish
//	Done            callback begins                  Callback        a reaper, the timer's
//	                                                                 goroutine that ended it
//	                                                                 (timercb.go), or the one
//	                                                                 that ran the previous
//	                                                                 callback (followUp)
//	Done            (no callback)                    Idle            whoever ended it
//	Callback        callback returns                 Idle            the reaper
//
// busy counts operations started whose callback has not returned: +1 at a
// start, -1 when the callback returns (or at the end, without one), except
// that a start while the callback runs takes over the callback's unit
// (carried) instead of adding one, and that callback's return then leaves
// busy alone: busy never reaches 0 between the two, and a chain writes it
// only at its start and its end. It is what Busy, Wait, Stop and Close
// look at, and only whether it is 0. A start is allowed in Idle and
// in Callback (the callback itself, or as nng allows, another goroutine
// once the callback has begun); a start in any other state panics. The
// Callback state is distinct from Idle so that a callback that returns
// after a new operation has started never touches that operation's state.
//
// Callbacks run only on a shard's reapers (on the portable backend, its
// callback goroutines, which play the reapers' part; there "Kernel" means
// the operation is in that backend and "its CQE" its result code, see
// backend.go): an operation ended by its CQE on a reaper joins the
// reaper's batch; one ended by the Aio's own timer runs on the timer's
// goroutine (timercb.go); one ended while the Aio's previous callback
// still runs is run next by that callback's goroutine (followUp, up to
// maxFollowUps in a row); one whose try finished it at once, started by
// another Aio's callback on a reaper, runs on that reaper next
// (HandoffHere: no wake of another); one ended anywhere else (an abort, a
// refused start, a provider's Finish, a try on a user's goroutine) is
// handed to a reaper. Either way, one Aio's callbacks never overlap
// (finishLocked).
// A user goroutine that reaps (after its submission, or in Wait) completes
// only Aios without a callback.
//
// Locks: Aio.mu, then Engine.mu (slot table) or a shard's SQ lock. A
// callback never runs with any of them held, and no system call runs
// under Aio.mu but the try of a small file read (tryfirst.go) and the
// enter that makes room in a full SQ.

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/internal/release"
	"github.com/aioring/aioring/internal/seat"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// opState is where an Aio's current operation is.
type opState uint8

const (
	stateIdle     opState = iota // no operation, or its callback has returned
	stateKernel                  // in the ring; its CQE decides the result
	stateTry                     // its starter tries it with a system call, without mu (tryfirst.go: not a small read)
	stateTimer                   // a Sleep; its timer decides, unless aborted
	stateProvider                // started with Start; Finish decides the result
	stateMsg                     // RecvMsg/Accept waiting for its descriptor's next result, or a fallback RecvMsg for a buffer
	stateNotif                   // a zero-copy send's result is in; the kernel holds the buffers until its notification
	stateDone                    // ended; the callback has not begun yet
	stateCallback                // the callback runs
)

// beginLocked starts an operation's bookkeeping: it panics if one is
// already in progress, and otherwise marks the Aio busy and resets the last
// result. Called with mu held; every caller unlocks with defer, so a panic
// here leaves mu unlocked.
func (a *Aio) beginLocked(op string) {
	a.beginKeepingResultLocked(op)
	a.setResultLocked(nil, 0)
}

// beginKeepingResultLocked is beginLocked but for the reset of the last
// result: startSmallReadLocked's hit sets the new result before it
// releases mu, so only its other paths reset it (one release store fewer
// per chained cached read; with it ReadAt+Wait cost 2-3% more quiet and
// at one P: decision 87). Its caller admits only
// the states a start is allowed in, so it never panics there.
func (a *Aio) beginKeepingResultLocked(op string) {
	switch a.state {
	case stateCallback:
		// The running callback's unit of busy passes to this operation
		// (carried): busy stays above 0 from the one to the other, and
		// neither the start nor the callback's return writes it, two
		// locked instructions fewer per operation of a chain.
		a.carried = true
	case stateIdle:
		atomic.AddInt32(&a.busy, 1) // sequentially consistent: see Aio.busy
	default:
		panic("aio: " + op + " started while another operation on this aio is in progress (one operation at a time)")
	}
	a.gen++
	a.abortErr = nil
	a.newFD = 0
	a.onPort = false
	if a.x != nil {
		clear(a.x.outputs[:])
		a.x.dg.ok = false // From: only the datagram this operation receives, if any
	}
}

// finishLocked ends the current operation with err and count. b is the
// calling reaper's batch, or nil off a reaper. Called with mu held; the
// callback never runs inside it.
func (a *Aio) finishLocked(err error, count int, b *completion.Batch) {
	if a.endLocked(err, count) {
		a.scheduleCallbackLocked(b)
	}
}

// endLocked is finishLocked but for the hand-off: it reports true when
// the callback is due and nobody runs it yet, for the caller to schedule
// (finishLocked) or to run itself (aioCQE).
func (a *Aio) endLocked(err error, count int) (schedule bool) {
	if a.state == stateKernel && a.desc.Device {
		// It was submitted as waiting for a device (afterTryLocked:
		// startSubmitNow); the ring counts those in flight.
		if dc, ok := a.sh.(deviceCounter); ok {
			dc.DeviceDone()
		}
	}
	a.setResultLocked(err, count)
	a.abortErr = nil
	if a.x != nil {
		a.x.cancelFn = nil
	}
	// The kernel is done with the buffers (or never had them): what the
	// next operation of this Aio cannot use is unpinned (pin.go).
	a.endPinsLocked()
	if a.fixed != (fixedUse{}) {
		a.dropFixedLocked() // FreeFixedBuffer and UnregisterFD wait for these uses
	}
	a.disarmLocked()
	return a.doneOrDueLocked()
}

// doneOrDueLocked moves an ended operation to Done and says who runs its
// callback: none (no callback: Idle at once), the goroutine running the
// Aio's previous callback or its timer's (reported false), or a reaper
// the caller schedules (reported true). The last step of endLocked and
// endTriedLocked.
func (a *Aio) doneOrDueLocked() (schedule bool) {
	a.state = stateDone
	if a.cb == nil {
		a.doneLocked()
		return false
	}
	// One Aio's callbacks never overlap. Its previous callback may still
	// run: it restarted the Aio and blocks, and its start reached the
	// kernel anyway (the watchdog: issue 17 item 5), or it runs on a
	// timer's goroutine (cbGoid, under mu).
	switch {
	case a.cbGoid != 0:
		// The goroutine running it (a reaper's, or a timer's) runs this
		// one when the running one returns (RunCallback,
		// runTimerCallbacks): no hand-off. Above all a chain, a callback
		// restarting its Aio with a read its try finished at once.
		a.followUp = true
		return false
	case a.timerFiring:
		a.runHere = true // onTimer (or a sync worker) runs it on its own goroutine
		return false
	}
	return true
}

// endTriedLocked is endLocked for a read startSmallReadLocked's try finished
// with count bytes: that start pinned nothing, armed no timer, used no
// registered resource and left the ring alone, so of endLocked's steps
// only the result, the kept pins' check and the callback's turn remain.
// A callback due is handed off as afterTryLocked hands it, to this worker
// if the starter is one (HandoffHere). Called with mu held.
func (a *Aio) endTriedLocked(count int) {
	a.setResultLocked(nil, count)
	if a.pinLo != 0 {
		a.endPinsLocked()
	}
	if a.doneOrDueLocked() {
		a.handOffLocked(true)
	}
}

// scheduleCallbackLocked has a's callback (its operation is Done, and no
// callback of a runs) run by a reaper: b's, if the caller is one, else
// by a hand-off.
func (a *Aio) scheduleCallbackLocked(b *completion.Batch) {
	if b != nil {
		b.Add((*aioCallback)(a))
		return
	}
	a.handOffLocked(false)
}

// handOffLocked hands a's callback to the backend (HandoffHere if here,
// else Handoff), or runs it on a goroutine of its own when the backend
// has no workers left.
func (a *Aio) handOffLocked(here bool) {
	var ok, wake bool
	if here {
		ok, wake = a.sh.HandoffHere((*aioCallback)(a))
	} else {
		ok, wake = a.sh.Handoff((*aioCallback)(a))
	}
	if !ok {
		// No reapers (a closed engine, or a broken ring): a goroutine of
		// the engine's own runs the callback.
		go (*aioCallback)(a).RunCallback(0, 0)
	}
	if wake {
		a.wakeOwed = true // made by unlock, out of mu
	}
}

// unlock releases mu and then makes the backend's wake that a hand-off
// under mu (finishLocked) owed: no wake runs under an Aio's mutex.
// Every unlock that can follow a finishLocked goes through it.
func (a *Aio) unlock() {
	wake := a.wakeOwed
	a.wakeOwed = false
	a.mu.Unlock()
	if wake {
		a.sh.Wake()
	}
}

// completeCQE ends a kernel operation with its CQE. b is as for
// finishLocked. A CQE that does not match the current operation is
// dropped: it cannot happen while every op posts exactly one CQE, but a
// stray CQE must never complete the wrong operation.
func (a *Aio) completeCQE(c *ring.CQE, b *completion.Batch) {
	ud := sqe.UserData(c.UserData)
	a.mu.Lock()
	if a.state != stateKernel || a.gen&sqe.GenMask != ud.Gen() {
		a.unlock()
		return
	}
	r := completion.Result(&a.desc, c.Res)
	if r.End == op.Ready || a.caughtByOtherCloseLocked(r) {
		round := int64(0)
		if b != nil {
			round = completion.SomeRound // a reaper's round, which one unknown
		}
		a.retryAndUnlock(round)
		return
	}
	count, err := a.resultLocked(r)
	a.finishLocked(err, count, b)
	a.unlock()
}

// aioCQE is an Aio whose operation's CQE a reaper's round reaped, seen as
// the batch's completion.Callback: the round adds it with the CQE's result
// and generation (cqeArg) instead of locking the Aio, and RunCallback ends
// the operation and begins its callback in one critical section, where
// completeCQE and then RunCallback took the Aio's lock twice. Only for
// Aios with a callback, reaped by a reaper (a user goroutine reaping
// inline completes Aios without one, at once). Until its turn in the
// batch the operation stays in stateKernel: an Abort meanwhile queues a
// cancel that finds nothing, and the CQE's result stands, as for an abort
// that races with the kernel.
type aioCQE Aio

// cqeArg packs what aioCQE needs of a CQE into the batch's word.
func cqeArg(res int32, gen uint32) uint64 { return uint64(gen)<<32 | uint64(uint32(res)) }

// MoveTo implements seat.Movable: the reaper a heavy batch passes a's
// callback to is its home (decision 77). home is fixed from NewAio on, so
// it is read without a.mu. Unlike Home's, a file write's goes by the Aio
// too, not by its descriptor (decision 75): a write that came back
// through the ring ran in io-wq, not on the reaper, and which reaper runs
// its callback decides only where its successor is tried.
func (c *aioCQE) MoveTo() int { return int((*Aio)(c).home) }

// RunCallback implements completion.Callback.
func (c *aioCQE) RunCallback(goid int64, arg uint64) {
	a := (*Aio)(c)
	inRound := goid != 0 // on a worker, in its round (seat.Callback)
	if goid == 0 {
		goid = seat.GoroutineID()
	}
	res, gen := int32(uint32(arg)), uint32(arg>>32)
	a.mu.Lock()
	if a.state != stateKernel || a.gen&sqe.GenMask != gen {
		a.unlock()
		return
	}
	r := completion.Result(&a.desc, res)
	if r.End == op.Ready || a.caughtByOtherCloseLocked(r) {
		if !inRound {
			goid = 0 // not a worker: the callback is handed to one
		}
		a.retryAndUnlock(goid)
		return
	}
	count, err := a.resultLocked(r)
	if !a.endLocked(err, count) {
		a.unlock() // its previous callback's goroutine runs it (followUp)
		return
	}
	a.runCallbackLocked(goid)
}

// completeRes ends the operation ud with r, as a backend reports it. Both
// backends end operations here or in completeCQE, which differ only in
// how the result reads.
func (a *Aio) completeRes(ud sqe.UserData, r op.Result, b *completion.Batch) {
	a.mu.Lock()
	a.completeResAndUnlock(ud, r, b)
}

// completeResAndUnlock is completeRes once mu is held; it releases mu.
func (a *Aio) completeResAndUnlock(ud sqe.UserData, r op.Result, b *completion.Batch) {
	if a.state != stateKernel || a.gen&sqe.GenMask != ud.Gen() {
		a.unlock()
		return
	}
	count, err := a.resultLocked(r)
	a.finishLocked(err, count, b)
	a.unlock()
}

// doneLocked ends the bookkeeping of an operation that had no callback.
// Called with mu held.
func (a *Aio) doneLocked() {
	switch a.state {
	case stateDone, stateCallback:
		a.state = stateIdle
	}
	a.unbusyLocked()
}

// callbackDoneLocked ends the bookkeeping of an operation whose callback
// returned. The state changes only if it is still the callback's: a newer
// operation's, even one ended and waiting for its own callback (Done),
// is left alone. Called with mu held.
func (a *Aio) callbackDoneLocked() {
	a.cbGoid = 0
	if a.state == stateCallback {
		a.state = stateIdle
	}
	if a.carried {
		// An operation started while it ran holds its unit of busy.
		a.carried = false
		return
	}
	a.unbusyLocked()
}

// unbusyLocked drops busy for an operation whose callback returned (or
// that had none), and wakes waiters when it reaches 0.
func (a *Aio) unbusyLocked() {
	n := atomic.LoadInt32(&a.busy) - 1
	release.StoreInt32(&a.busy, n) // a release store: see Aio.busy
	if n == 0 {
		if a.waiters > 0 {
			a.waitCond.Broadcast()
			a.sh.WokeWaiter()
		}
		if a.reaped && a.cb == nil && a.newFD > 0 {
			// An OpenAt or Accept of an Aio without a callback ended
			// after Reap gave the Aio up: nobody can take its
			// descriptor, which is closed rather than leaked. (Free
			// sets reaped only once the Aio is idle.)
			syscall.Close(int(a.newFD - 1))
			a.newFD = 0
		}
		a.maybeReleaseLocked()
	}
}

// aioCallback is an Aio seen by the shards as a completion.Callback, so the
// method stays out of the public API.
type aioCallback Aio

// Home implements seat.Homed: the reaper a hand-off of a's callback goes
// to (with seat.Config.Spread: a ring, more than one P). By Aio, so that
// chains of reads tried first on their starters run on every core
// (decision 22); but a file write's by its descriptor (decision 75,
// writehome.go), so that the chains writing one file gather on one reaper
// instead of meeting on its inode's lock. Called under a.mu
// (handOffLocked), which guards desc.
func (c *aioCallback) Home() int {
	a := (*Aio)(c)
	if a.desc.Kind == op.Write && a.desc.FD >= 0 {
		return a.e.writeHomes.of(a.desc.FD)
	}
	return int(a.home)
}

// maxFollowUps is how many callbacks of one Aio a reaper runs in a row
// (followUp) before it hands the next one off like any other: the
// reaper's seat, its ring and the other Aios' callbacks wait meanwhile.
const maxFollowUps = 16

// RunCallback runs a's callback on a reaper (goid is the reaper's id, 0 if
// unknown), and then, while each one's operation ended as it ran
// (followUp: a chain), the next, up to maxFollowUps in a row; ending one
// and beginning the next is one critical section.
func (c *aioCallback) RunCallback(goid int64, _ uint64) {
	a := (*Aio)(c)
	if goid == 0 {
		goid = seat.GoroutineID()
	}
	a.mu.Lock()
	a.runCallbackLocked(goid)
}

// runCallbackLocked is RunCallback once mu is held (goid known); it
// releases mu.
func (a *Aio) runCallbackLocked(goid int64) {
	running := false
	defer func() {
		if running {
			// The callback panicked: the Aio must not stay busy
			// forever (the panic still crashes the program, as in any
			// goroutine).
			a.mu.Lock()
			a.callbackDoneLocked()
			a.unlock()
		}
	}()
	for n := 0; ; n++ {
		if a.state == stateDone {
			a.state = stateCallback // a start is allowed from here on
		}
		a.cbGoid = goid
		a.unlock()
		running = true
		a.cb(a)
		running = false
		a.mu.Lock()
		a.callbackDoneLocked()
		if !a.followUp {
			break
		}
		a.followUp = false
		if n+1 >= maxFollowUps {
			a.scheduleCallbackLocked(nil)
			break
		}
	}
	a.unlock()
}

// abortAndUnlock ends the pending operation with err if it can still be
// cancelled. Called with mu held; it releases mu on every path (before a
// submission or a provider's hook, which must run without it). A kernel operation gets an ASYNC_CANCEL (its
// CQE still decides); a Sleep ends now; a provider operation's cancel hook
// is called once, without the lock held.
func (a *Aio) abortAndUnlock(err error) {
	switch a.state {
	case stateKernel:
		if a.abortErr == nil {
			a.abortErr = err
			// Queued under mu, after the op itself (also queued under
			// mu), so the cancel never overtakes its target.
			// The description's token, not userData(): a zero-copy
			// send has its own kind (sendzc.go).
			if be := a.opBackend(); be.Cancel(&a.desc) == nil {
				a.unlock()
				be.Push(0)
				return
			}
			// The ring is closed or broken: nothing will report this op.
			a.finishLocked(err, 0, nil)
		}
	case stateTry:
		// Nothing queued yet: the starter ends the operation with this
		// error unless its try finished it (tryfirst.go).
		if a.abortErr == nil {
			a.abortErr = err
		}
	case stateNotif:
		// A zero-copy send whose result is in: nothing left to cancel;
		// the notification ends it with that result.
	case stateTimer:
		a.finishLocked(err, 0, nil)
	case stateMsg:
		a.abortMsgAndUnlock(err)
		return
	case stateProvider:
		var fn func(*Aio, error)
		if a.x != nil {
			fn, a.x.cancelFn = a.x.cancelFn, nil
		}
		if fn != nil {
			a.unlock()
			fn(a, err) // the provider decides; it calls Finish if it can
			return
		}
	}
	a.unlock()
}

// wait blocks until busy drops to 0. It first reaps what the ring holds:
// an operation that completed during its submission, or soon after, ends
// on this goroutine without a wakeup.
func (a *Aio) wait() {
	for atomic.LoadInt32(&a.busy) != 0 {
		if a.sh.ReapInline() > 0 {
			continue
		}
		a.mu.Lock()
		if atomic.LoadInt32(&a.busy) != 0 {
			if a.waitCond == nil {
				a.waitCond = sync.NewCond(&a.mu)
			}
			a.waiters++
			a.waitCond.Wait()
			a.waiters--
		}
		a.unlock()
	}
}

// maybeReleaseLocked frees the slot of a reaped Aio once it is idle.
func (a *Aio) maybeReleaseLocked() {
	if a.reaped && !a.released && atomic.LoadInt32(&a.busy) == 0 {
		a.released = true
		a.unpinAllLocked()
		a.dropLazyLocked()                            // its fire would find nothing to guard; let the Aio go now
		a.e.directFolded.Add(uint64(a.directPending)) // Stats no longer sees a
		a.directPending = 0
		a.e.release(a)
	}
}

// checkNotOwnCallback panics when called from a's own callback, where
// waiting would deadlock.
func (a *Aio) checkNotOwnCallback(what string) {
	if a.cb == nil {
		return // it never runs a callback (cb is fixed by NewAio)
	}
	a.mu.Lock()
	g := a.cbGoid
	a.unlock()
	own := false
	switch {
	case g < 0:
		own = onOwnTimerCallback(a, g)
	case g != 0:
		own = g == seat.GoroutineID()
	}
	if own {
		panic("aio: " + what + " called from the aio's own callback would deadlock; use Reap to free an aio from its callback")
	}
}
