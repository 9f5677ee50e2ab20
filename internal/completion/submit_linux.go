//go:build linux

package completion

// Submission: the SQ under sqMu, publication, and the one goroutine at a
// time that enters the kernel (the design notes are in shard_linux.go).

import (
	"errors"
	"runtime"
	"syscall"
	"time"

	"github.com/aioring/aioring/sqe"
)

// refusedBackoff is how long a submitter waits before it offers the kernel
// again SQEs it refused (out of memory) or, with a full SQ, found no room
// for: long enough for reapers to drain completions.
const refusedBackoff = 50 * time.Microsecond

// errShardClosed is returned by Queue after Close.
var errShardClosed = errors.New("completion: shard closed")

// Queue writes req's entries into the SQ. It does not submit them: call
// Push afterwards, without holding locks the handler takes. It never fails
// for lack of room (it submits to make some); it fails after Close or once
// the ring is broken.
func (s *Shard) Queue(req Request) error {
	_, err := s.QueueTicket(req)
	return err
}

// QueueTicket is Queue that also returns the position just past req's
// entries, for SubmitThrough.
func (s *Shard) QueueTicket(req Request) (Ticket, error) {
	n := req.SQEs()
	if n < 1 || n > MaxSQEs {
		panic("completion: Request.SQEs out of range")
	}
	if err := s.reserve(n); err != nil {
		return 0, err
	}
	req.Prep(s.ents[:n])
	if req.MayBlock() {
		s.mayBlock = true
	}
	s.unpublished++
	t := Ticket(s.r.SQTail())
	s.unreserve()
	return t, nil
}

// SubmitThrough returns once the kernel has taken every SQE queued before
// t, submitting them itself if need be, wherever it runs: in a reaper's
// round too, which would otherwise submit them only when its callbacks
// return. While another goroutine is entering, that one submits them (it
// publishes again before it stops, submitHeld); this one yields until the
// kernel's head has passed t. It returns at once when the entries were
// taken already (no system call), and when the ring is closing or broken
// (the entries never reach the kernel then).
//
// Why: a request the kernel has taken holds its file; one still in the SQ
// names only a descriptor number, which the program may close and the
// kernel then give to the next file opened. A caller that drops a
// long-lived request (a multishot receive) and then lets the program close
// its descriptor calls this first.
func (s *Shard) SubmitThrough(t Ticket) {
	// The reference keeps the SQ ring mapped while its head is read.
	if !s.acquire() {
		return
	}
	defer s.release()
	for tries := 0; !s.broken.Load(); tries++ {
		s.sqMu.Lock()
		taken := s.r.SQConsumed(uint32(t))
		s.sqMu.Unlock()
		if taken {
			return
		}
		if tries > 0 {
			runtime.Gosched() // another goroutine is entering: let it
		}
		s.submitHeld()
		// Every publication is followed by a look at the idle reaper
		// (publish's invariant).
		s.watchIfNeeded()
	}
}

// QueueCancel queues an ASYNC_CANCEL of the request whose user data is
// target. The target's own CQE reports the outcome: it may still complete
// normally if the cancel comes too late. Call Push afterwards.
func (s *Shard) QueueCancel(target sqe.UserData) error {
	if err := s.reserve(1); err != nil {
		return err
	}
	ents := &s.ents
	ents[0].AsyncCancel(uint64(target), 0)
	// Success needs no CQE: the target's own CQE says it all.
	ents[0].Flags |= sqe.CQESkipSuccess
	ents[0].UserData = uint64(sqe.Pack(KindCancel, 0, 0))
	s.unreserve()
	return nil
}

// QueueCancelFD queues an ASYNC_CANCEL of every request on the file fd
// names when the kernel takes the entry (CloseFD's, before the close), and
// returns the position past it for SubmitThrough. Like QueueCancel's, its
// own CQE is skipped on success, and passed on to nobody otherwise (a
// kernel before 5.19 refuses the flags with EINVAL).
func (s *Shard) QueueCancelFD(fd int32) (Ticket, error) {
	if err := s.reserve(1); err != nil {
		return 0, err
	}
	ents := &s.ents
	ents[0].CancelFD(fd)
	ents[0].Flags |= sqe.CQESkipSuccess
	ents[0].UserData = uint64(sqe.Pack(KindCancel, 0, 0))
	// Not counted outstanding (unpublished), as no cancel is: its CQE,
	// when one comes, completes nothing.
	t := Ticket(s.r.SQTail())
	s.unreserve()
	return t, nil
}

// queueWake queues the NOP whose CQE wakes a parked reaper.
func (s *Shard) queueWake() error {
	if err := s.reserve(1); err != nil {
		return err
	}
	ents := &s.ents
	ents[0].Nop()
	ents[0].UserData = uint64(sqe.Pack(KindWake, 0, 0))
	s.unreserve()
	return nil
}

// reserve takes sqMu and puts n consecutive SQEs in s.ents; the caller
// fills them and calls unreserve. On error nothing is held. No life
// reference: the SQ is only touched under sqMu, after the closed check,
// and Close sets closed under sqMu before it unmaps.
func (s *Shard) reserve(n int) (err error) {
	s.sqMu.Lock()
	for {
		switch {
		case s.closed:
			err = errShardClosed
		case s.broken.Load():
			err = ErrBroken
		}
		if err != nil {
			s.sqMu.Unlock()
			return err
		}
		if s.r.SQSpace() >= uint32(n) {
			break
		}
		// Full: hand the kernel what is there. It consumes every SQE it
		// is given (SUBMIT_ALL), so room appears unless it refuses the
		// whole batch (out of memory); then let the reapers run first.
		s.enterUnlocked(s.publish(), s.mayBlock, false)
		if s.r.SQSpace() < uint32(n) {
			s.sqMu.Unlock()
			time.Sleep(refusedBackoff)
			s.sqMu.Lock()
		}
	}
	for i := 0; i < n; i++ {
		s.ents[i] = s.r.GetSQE()
	}
	return nil
}

func (s *Shard) unreserve() { s.sqMu.Unlock() }

// publish makes the queued SQEs visible to the kernel and counts the
// Requests among them in outstanding, before any of them can complete:
// one atomic add per publication, not one per Request (decision 62).
// Every publication is followed, on the same goroutine, by a look at the
// idle reaper (watchIfNeeded, or the reaper's own park), so a Request
// counted here is never left without a reaper watching the ring. Called
// with sqMu held.
func (s *Shard) publish() uint32 {
	n := s.r.Publish()
	if s.unpublished != 0 {
		s.outstanding.Add(s.unpublished)
		s.unpublished = 0
	}
	return n
}

// Push submits what is queued and reaps what completed during the
// submission and needs no callback, on the calling goroutine. Called from a
// reaper's own callback it does neither: the round submits everything its
// callbacks queued in one enter when they return, then reaps.
//
// round is the caller's promise that it queued from inside a callback
// that the reaper whose goroutine id is round is running (an Aio
// restarting itself from its callback), SomeRound when it runs in some
// reaper's round but does not know which, or 0; the promise spares the
// look at the caller's name (reaperIndex) that otherwise tells a reaper
// from other goroutines.
//
// Except for a start that waits for a storage device (round Urgent),
// submitted at once wherever it runs: a batch's reads otherwise reach the
// device together at the batch's end, which then returns them together,
// and the reads of a chain move in waves instead of a stream (decision
// 44: a chain of O_DIRECT reads at depth 32, with the reaper waiting in
// the ring either way, 92.0k / 85.5k / 88.6k reads/s batched and 114.1k /
// 91.0k / 102.8k one by one, quiet / -stress / -procs 1). An enter per
// such read is small beside the device's time. But not once more than
// deviceDeferAt wait for the device: a start from a round then goes with
// the round's batch like any other (decision 83), since a device that
// holds that many reads is not kept waiting by a batch's callbacks, and
// an enter per read (on a virtual disk, a kick of the device each) was
// a quarter to near half of a read's CPU at depth 128 (24-43% less
// without it, quiet, beside CPU hogs and at one P).
//
// And except while the watchdog has found the caller's own round stuck (a
// callback blocks): then its starts are submitted at once, since that
// round would hold them back until the callback returns, and another
// callback may be waiting for one of them (issue 17 item 5). Only the
// stuck round's: a reaper the OS merely descheduled for a while looks
// stuck too (a busy machine, every few milliseconds), and the other
// reapers' rounds, which still submit when their batches end, went on
// paying an enter per start (decision 42). The cost on the common path is
// one atomic load (stuckN); while some round is stuck, a look at the
// caller's reaper's mark, found by round or, for a start of another Aio
// than the callback's own, by the caller's name (reaperIndex).
//
// Ordering with the watchdog: a start queues before it loads stuckN and
// the mark, and the watchdog marks the reaper, then raises stuckN, then
// submits (stuck), so either this Push sees the mark or that submission
// takes the start.
func (s *Shard) Push(round int64) {
	switch {
	case round == Urgent:
		started := s.deviceStarts.Add(1)
		if int64(started-s.deviceEnds.Load()) > deviceDeferAt && s.stuckN.Load() == 0 && s.inReaper() {
			// The device has a deep queue already: this start goes
			// with the round's batch, in the one enter after it, as
			// any other start from a callback (decision 83).
			return
		}
	case s.stuckN.Load() == 0:
		if round != 0 || s.inReaper() {
			return
		}
	case s.inRoundNotStuck(round):
		return
	}
	if !s.acquire() {
		return
	}
	s.submitHeld()
	s.reapInlineHeld()
	s.release()
	s.watchIfNeeded()
}

// inRoundNotStuck reports whether the caller runs a callback in a round of
// one of s's reapers that the watchdog has not found stuck: that round
// submits what the callback queues when its batch ends. round is Push's.
func (s *Shard) inRoundNotStuck(round int64) bool {
	w := -1
	if round > 0 {
		w = s.seat.Worker(round)
	} else {
		w = s.reaperIndex()
	}
	return w >= 0 && !s.seat.Stuck(w)
}

// watchIfNeeded wakes an idle seated reaper when Requests remain in flight
// after a submission: what the kernel did not complete inline needs a
// reaper watching the ring. Dekker-style pairing with the reaper's idle
// park: the publisher raised outstanding before we read idle (publish: every
// goroutine that publishes calls this after); the reaper sets idle
// before it reads outstanding (all sequentially consistent). So either it
// sees our Request or we see it idle; never neither.
func (s *Shard) watchIfNeeded() {
	if s.outstanding.Load() > 0 && s.idle.Load() {
		s.wakeIdle()
	}
}

func (s *Shard) wakeIdle() {
	select {
	case s.kick <- struct{}{}:
		s.stats.wakeups.Add(1)
	default: // a kick is already pending
	}
}

// submit hands every published and queued SQE to the kernel. If another
// goroutine is entering, it leaves them to that one, which publishes again
// before it stops.
func (s *Shard) submit() {
	if s.acquire() {
		s.submitHeld()
		s.release()
	}
}

// submitHeld is submit for callers that hold a reference, or that are reapers
// (Close unmaps the ring only after the reapers have exited).
func (s *Shard) submitHeld() {
	s.sqMu.Lock()
	if s.entering || s.closed {
		s.sqMu.Unlock()
		return
	}
	s.entering = true
	for {
		n := s.publish()
		block := s.mayBlock
		s.mayBlock = false
		s.sqMu.Unlock()
		err := s.enterUnlocked(n, block, true)
		s.sqMu.Lock()
		switch {
		case err == nil && s.r.Unpublished() != 0:
			// Queued while we were in the kernel: go again.
			continue
		case err != nil && err != ErrBroken && s.r.Pending() != 0:
			// Refused for lack of memory: let completions drain, retry.
			s.sqMu.Unlock()
			time.Sleep(refusedBackoff)
			s.sqMu.Lock()
			continue
		}
		s.entering = false
		s.sqMu.Unlock()
		return
	}
}

// fileWorkersEvery: the io-wq cap is applied again after every this many
// enters (a power of two), and after the first, counted apart for the
// enterer's and the other enters (enterUnlocked).
const fileWorkersEvery = 1024

// capFileWorkers applies Config.FileWorkers to the io-wq of every thread
// that has submitted to the ring so far. The kernel keeps the cap per
// thread (one io-wq per thread, shared by all its rings) and applies a
// ring's cap by itself only to threads whose first io_uring use comes
// after it; a Go program submits from whichever threads its goroutines
// run on, so the cap is applied again as threads come: after the first
// enter (the thread that made it has joined the ring's list by then) and
// every fileWorkersEvery enters after, one system call each. Best effort:
// kernels before 5.15 refuse it (EINVAL) and keep their own cap.
func (s *Shard) capFileWorkers() {
	s.r.RegisterIOWQMaxWorkers(s.fileWorkers, 0)
}

// enterUnlocked calls io_uring_enter to submit n published SQEs. Transient
// refusals (EAGAIN, EBUSY, ENOMEM) are returned for the caller to retry;
// EBADR (the kernel dropped CQEs) breaks the shard for good. enterer: the
// caller is submitHeld's loop, which holds entering, so it counts the
// enter in the enterer's single-writer counters (two release stores);
// the other callers, which may run beside it, in the shared atomic ones.
func (s *Shard) enterUnlocked(n uint32, block, enterer bool) error {
	if n == 0 && !s.r.NeedsFlush() {
		return nil
	}
	got, err := s.r.EnterPublished(n, 0, block)
	var e uint64
	if enterer {
		e = s.stats.entererEnters.Add(1)
		s.stats.entererSubmitted.Add(uint64(got))
	} else {
		e = s.stats.enters.Add(1)
		s.stats.submitted.Add(uint64(got))
	}
	if s.fileWorkers > 0 && e&(fileWorkersEvery-1) == 1 {
		s.capFileWorkers()
	}
	if err == syscall.EBADR || s.injectBadr.Load() {
		s.broken.Store(true)
		return ErrBroken
	}
	return err
}
