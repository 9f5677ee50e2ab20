package aio

// Trying an operation on its starting goroutine before it reaches the
// ring, or the portable backend's queues (docs/design.md, "Cache hits
// without the ring", decision 66). A file read whose
// data is in the page cache costs less as one preadv2(RWF_NOWAIT) than as
// a trip through io_uring; what the try cannot finish (the data is not
// cached, O_DIRECT, a descriptor without RWF_NOWAIT) goes to the ring as
// before.
//
// A read of at most 64 KiB is tried with Aio.mu held (queueKernelLocked;
// completion's TryUnderLock): its try is one preadv2 with RWF_NOWAIT,
// which never waits for a device, and the start, the try and the end
// are then one critical section instead of two (decision 61). An Abort
// meanwhile waits for the try, then finds the operation ended or in the
// ring. The commonest of these, into the Aio's one buffer with no
// deadline, takes a start of its own (startSmallReadLocked, decision 87),
// which skips the general start's steps that such a read never needs.
// Besides these, the only system call under an Aio's mutex is the enter
// a start or a cancel makes when it finds the SQ full (completion's
// reserve).
//
// Any other try (a larger read, a Splice) runs without Aio.mu, in
// stateTry: the starter alone owns the description, no SQE is queued, no
// timer is armed. An Abort, Stop or engine Close meanwhile only records
// its error (abortAndUnlock); the starter, relocking, lets a finished
// try's result stand (the operation completed before it could be
// cancelled) and otherwise ends the operation with that error instead of
// queuing it: a cancel can never be lost between the try and the queue.
//
// A callback restarting its Aio (a chain of reads) has the next callback
// run by the goroutine running that one, when it returns (followUp,
// lifecycle.go): no hand-off, no wakeup, no system call but the read.
//
// Which reads are worth trying is the backend's decision (both backends:
// not O_DIRECT, not an Aio whose recent tries keep missing; see
// internal/filetry); here only that the operation is one a backend can
// try at all. The portable backend tries reads here too (decision 66), on
// Linux, and sends one the try found waiting for the device straight to a
// file worker (internal/portable/try_linux.go).

import (
	"math"

	"github.com/aioring/aioring/internal/filetry"
	"github.com/aioring/aioring/internal/op"
)

// startSmallReadLocked is the start of the commonest read, a small one
// into the Aio's one buffer with no deadline, and chained from its
// callback as a rule: queueKernelLocked's steps that such a read needs
// and none of the others (the timing, the general build of the
// description, registered resources, the readiness backend, the socket
// and message checks), its try under mu as there (decision 61), and,
// when the try finishes it, the end of an operation that set nothing up
// (endTriedLocked). Decision 87: a chained cached read about 25 ns
// cheaper. Called with mu held, once smallReadLocked said yes; it
// releases mu.
func (a *Aio) startSmallReadLocked(fd int, off int64) {
	round := a.ownRoundLocked()
	a.beginKeepingResultLocked("ReadAt")
	// After busy rose, as in queueKernelLocked: Close's handshake (Aio.busy).
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		a.unlock()
		return
	}
	a.kind = opRead
	if a.pinLo != 0 {
		a.dropStalePinsLocked() // pin.go; no operation is in flight here
	}
	d := &a.desc
	// Not pinned, as any read tried first: its starter's preadv2 is all
	// that uses the buffer, unless it misses (afterTryLocked pins then).
	*d = op.Desc{Kind: op.Read, FD: int32(fd), Off: off, Token: uint64(a.userData()), Backend: d.Backend, Held: d.Held}
	d.Iov.Base = &a.iov0[0]
	d.Iov.SetLen(len(a.iov0))
	r, done := a.sh.Try(d)
	if done && r.End == op.Completed && r.Res >= 0 {
		a.countDirectLocked(r)
		a.endTriedLocked(int(r.Res))
		a.unlock()
		return
	}
	// A miss, an error or anything unusual: the general path's
	// continuation, from the state it would have been in. Only the ring
	// needs its opcode (the try did not), so it is asked only now.
	a.setResultLocked(nil, 0) // beginLocked's reset, skipped above
	// What buildLocked records for every other operation, needed only
	// once it may wait in the ring: a cancel by descriptor that catches
	// it is its own descriptor's close only after this (fdcancel.go).
	d.CloseSeq = a.e.fdCloses.seq.Load()
	if !done && !a.sh.Supports(d) {
		a.finishLocked(ErrUnsupported, 0, nil)
		a.unlock()
		return
	}
	next := a.afterTryLocked(r, done, timing{mode: tInfinite})
	a.unlock()
	a.submitNext(a.sh, next, round)
}

// smallReadLocked reports whether a ReadAt of fd at off takes
// startSmallReadLocked: a read the engine tries first, of at most
// filetry.InlineMax bytes (one preadv2 under mu, as TryUnderLock allows
// on both backends) into the Aio's one buffer, by an Aio with no extra
// state (aioExtra: no expiry, no vector of buffers, no lazy timer), no
// armed timer and no deadline, on an engine with no registered buffers
// or descriptors, in a state a start is allowed in, at an offset or at
// the file position (decision 90). Anything else, including a start that
// must panic, goes the general way. Called with mu held.
func (a *Aio) smallReadLocked(fd int, off int64) bool {
	return a.e.tryFirst && off >= -1 && fd >= 0 && fd <= math.MaxInt32 &&
		(a.state == stateIdle || a.state == stateCallback) &&
		a.x == nil && !a.armed && a.niov == 1 && len(a.iov0) > 0 && len(a.iov0) <= filetry.InlineMax &&
		a.resolvedTimeoutLocked() < 0 &&
		a.e.fixed.files.Load() == nil && a.e.fixed.bufs.Load() == nil
}

// tryFirst reports whether an operation of kind at off may be tried on
// the starter, on an engine whose backend tries: a read or a write at an
// offset, or at the file position (-1: internal/filetry tries a regular
// file's only, decision 90), on both backends where the system has
// RWF_NOWAIT; or a Splice on a ring (whose ends the backend looks at:
// only pipes and non-blocking sockets are tried; the portable backend
// tries a Splice in Submit).
func (a *Aio) tryFirst(kind opKind, off int64) bool {
	return a.e.tryFirst && (kind == opRead || kind == opWrite) && off >= -1 || a.e.trySplice && kind == opSplice
}

// retryAndUnlock carries on an operation that the backend reports Ready:
// a Splice whose try left it waiting for readiness (trysplice_linux.go),
// now that its end is ready; or a socket transfer the kernel gave back
// after its poll's retry budget ran out (op.Kind.SocketWait), which the
// ring does not try and so queues again. Either way: the try again, on
// this goroutine, then the end or another wait. Called with mu held, in
// stateKernel, for the current operation; it releases mu. goid is the
// calling worker's goroutine when it runs a round of a's backend
// (aioCQE): that worker then runs the callback itself, at once, and its
// round submits what this queues after its batch (Submit's round); a
// hand-off to another worker would cost a wakeup per splice.
// completion.SomeRound: a round of some worker (completeCQE, an Aio
// without a callback); 0: no round.
//
// The deadline needs nothing: a Splice's is the Aio's own timer, armed
// at the start (armLocked), which runs on across the waits and cuts
// whichever one it finds, or the try (abortErr, as for the first try); a
// socket transfer's is absolute (armLocked) or the Aio's lazy timer, so
// the new submission keeps it.
func (a *Aio) retryAndUnlock(goid int64) {
	if a.desc.WaitEvents == 0 {
		a.e.requeued.Add(1) // not a Splice's wait: a socket transfer given back
	}
	a.state = stateTry
	a.unlock()
	r, done := a.sh.Try(&a.desc)
	a.mu.Lock()
	if done && goid > 0 {
		a.countDirectLocked(r)
		count, err := a.resultLocked(r)
		if a.endLocked(err, count) {
			a.runCallbackLocked(goid) // releases mu
			return
		}
		a.unlock()
		return
	}
	next := a.afterTryLocked(r, done, timing{mode: tInfinite})
	a.unlock()
	a.submitNext(a.sh, next, goid)
}

// tryThenQueue tries the operation left in stateTry (mu not held), then
// ends it with the try's result, or queues it as queueKernelLocked would have.
func (a *Aio) tryThenQueue(tm timing) startNext {
	r, done := a.sh.Try(&a.desc)
	a.mu.Lock()
	defer a.unlock()
	return a.afterTryLocked(r, done, tm)
}

// afterTryLocked ends the operation with its try's result r if done, or
// with the error an abort or Close recorded during the try, or else
// queues it with timing tm (startSubmit). Called with mu held.
func (a *Aio) afterTryLocked(r op.Result, done bool, tm timing) startNext {
	if done {
		a.countDirectLocked(r)
		count, err := a.resultLocked(r)
		if a.endLocked(err, count) {
			// Started from another Aio's callback on a worker (a
			// proxy's send after its receive), the callback runs on
			// that worker next rather than waking another.
			a.handOffLocked(true)
		}
		return startNone
	}
	if a.abortErr != nil {
		// Aborted during the try (Abort, Stop, Close): the cancel it
		// would have queued has nothing to reach yet.
		a.finishLocked(a.abortErr, 0, nil)
		return startNone
	}
	if a.e.closed.Load() {
		a.finishLocked(ErrClosed, 0, nil)
		return startNone
	}
	if a.desc.Stream {
		// A pipe's, socket's or terminal's read or write: in the ring
		// it may wait without end, which CloseFD must then end.
		a.e.noteStreamWaiter()
	}
	// The try pinned nothing (queueKernelLocked): the kernel will hold the
	// buffers until the CQE.
	a.pinBuffersLocked(&a.desc)
	if !a.enqueueLocked(tm) {
		return startNone
	}
	if a.desc.Device {
		// It waits for a device: the sooner the device has it, the
		// sooner it ends (decision 44). Read here, under mu: once mu
		// is released the operation may end and the Aio restart.
		return startSubmitNow
	}
	return startSubmit
}

// directFoldAt is how many operations finished without the ring an Aio
// counts before it adds them to its engine's shared count.
const directFoldAt = 1 << 15

// countDirectLocked counts an operation whose try finished it without
// the ring with r (Stats.Direct): a transfer or an end of file, not an
// attempt that would have had to wait, nor an error. Called with mu held.
func (a *Aio) countDirectLocked(r op.Result) {
	if r.End != op.Completed || r.Res < 0 {
		return
	}
	if a.directPending++; a.directPending == directFoldAt {
		a.e.directFolded.Add(directFoldAt)
		a.directPending = 0
	}
}
