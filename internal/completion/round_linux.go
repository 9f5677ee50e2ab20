//go:build linux

package completion

// The reapers' side: the shard as its seat's Backend, the seated reaper's
// park (idle, device waits, the busy poll, the netpoller), its rounds and
// the watchdog's marks (the design notes are in shard_linux.go).

import (
	"runtime"
	"syscall"
	"time"

	"github.com/aioring/aioring/internal/seat"
	"github.com/aioring/aioring/sqe"
)

// seatHooks is the shard as its seat's seat.Backend (the methods at the end
// of this file).
type seatHooks Shard

// Park implements seat.Backend: the seated reaper waits for the ring.
//
// Idle: with nothing in flight it waits off the ring, on kick, with the
// ring fd out of the epoll set, so that CQEs reaped inline by their
// submitters wake nobody. Pairings: it sets idle before it reads
// outstanding and the seat's lists (the shared one and its own,
// seat.HasWorkFor); a publisher raises outstanding (publish), and Handoff
// the list it appends to, before watchIfNeeded and Wake read idle. So
// either it sees the work or they see it idle and kick it.
//
// Busy: after starts that wait for a device it first waits in
// io_uring_enter for a while (waitInEnter). Otherwise, or when that wait
// ends with nothing, it arms the ring fd's one-shot event, then parks on
// the epoll fd:
// a CQE posted after hasWork looked fires the armed event and marks the
// epoll fd ready, and the netpoller is edge-triggered, so the park cannot
// miss it. Then it takes the event off the epoll instance: EPOLLONESHOT
// disarms the ring fd when the event is delivered, so CQEs posted during
// the round wake no thread blocked in the netpoller.
func (s *Shard) park(w int) seat.Park {
	s.parkW = w
	if !s.needsWatch() {
		s.idle.Store(true)
		if !s.needsWatch() {
			s.unwatch()
			s.stats.sleeps.Add(1)
			select {
			case <-s.kick:
			case <-s.quit:
				s.idle.Store(false)
				return seat.Closed
			}
		}
		s.idle.Store(false)
		return seat.Again
	}
	if n := s.deviceStarts.Load(); n != s.deviceSeen {
		s.deviceSeen = n
		if p, ok := s.waitInEnter(); ok {
			return p
		}
	}
	// A goroutine that an operation's end readied in Wait since the last
	// park is runnable and wants a P, which a poll would hold (at
	// GOMAXPROCS=1 the only one) while looking for completions that
	// goroutine, not this reaper, goes on from: park at once (decision
	// 72). The poll serves callback chains, which the reapers run.
	if !s.woke.Moved() {
		if p, ok := s.poll(); ok {
			return p
		}
	}
	var began time.Time
	if s.busy.Off() {
		began = time.Now()
	}
	if !s.arm() {
		return seat.Closed // Close closed the epoll fd
	}
	if err := s.pollConn.Read(s.hasWork); err != nil {
		return seat.Closed // Close closed the file
	}
	s.pollConn.Control(s.harvestFn)
	if s.busy.Off() {
		s.busy.ParkedFor(time.Since(began))
	}
	if s.ready() {
		return seat.Ready
	}
	return seat.Again
}

// DeviceDone records the end of an operation that was submitted as one
// waiting for a device (Push with Urgent), however it ended.
func (s *Shard) DeviceDone() { s.deviceEnds.Add(1) }

// deviceDeferAt is how many operations may wait for a device before a
// new one started from a round's callback waits for the round's batch end
// instead of going to the kernel at once (decision 83). At once, each
// start is an enter, and on this machine's virtio disk a kick of the
// device, about twice fio's CPU per read; with the batch, one enter takes
// the batch's starts, but each waits for the callbacks after it, which
// at depth 32 left the device short of reads (-12%) and at depth 128
// cost no reads/s (its reads wait far longer in the device than a batch
// takes) at 24-43% less CPU per read. Between the two depths measured.
const deviceDeferAt = 64

// deviceWaitMax bounds the seated reaper's wait in io_uring_enter (park):
// long enough for a device read here (a 4 KiB O_DIRECT read takes 60-120
// µs, try_linux.go; with more in flight one ends sooner), short enough
// that a wait with nothing
// coming costs at most this much before the reaper falls back to the
// netpoller, and that Close, which cannot cut the wait short, is not held
// up for long.
const deviceWaitMax = time.Millisecond

// waitInEnter is the busy park's first step after starts that wait for a
// device (decision 44): the seated reaper waits for the ring in
// io_uring_enter, up to deviceWaitMax, rather than on the netpoller. The
// device's completion queues task_work on the thread that submitted the
// read, which is as a rule this one (the round that ran the chain's
// callbacks submitted their reads); a thread waiting in the ring runs that
// task_work and returns with the CQEs at once, where the netpoller's wait
// takes that thread's wakeup, then the CQE's epoll wakeup of a thread in
// the netpoller, then a P for the reaper: under -stress each of those
// waits for the CPU beside a busy process (read-direct qd32 67.5k ->
// 85.5k reads/s there; quiet and at -procs 1 this part alone was within
// the noise, 93.1k -> 92.0k and 92.7k -> 88.6k). The cost: the wait is a
// system call that holds this thread, and its P until the runtime's
// monitor (sysmon) takes the P back for other goroutines. Anything that completes ends the
// wait, a hand-off's wake NOP included (wakeHolder). ok false: nothing
// came in time (or the kernel has no bounded wait): park on the
// netpoller as usual.
func (s *Shard) waitInEnter() (p seat.Park, ok bool) {
	if s.r.CQReady() != 0 {
		return seat.Ready, true // no need to enter
	}
	ready, err := s.r.WaitFor(deviceWaitMax)
	switch err {
	case nil:
		s.stats.enters.Add(1)
	case syscall.EBADR:
		s.broken.Store(true) // the kernel dropped CQEs, as in enterUnlocked
	}
	select {
	case <-s.quit:
		return seat.Closed, true
	default:
	}
	if ready || s.ready() {
		return seat.Ready, true
	}
	return 0, false
}

// ready reports whether the seated reaper, parking, has work: CQEs,
// overflowed CQEs to flush, or hand-offs, on the shared list or its own.
func (s *Shard) ready() bool {
	return s.r.CQReady() != 0 || s.r.NeedsFlush() || s.seat.HasWorkFor(s.parkW)
}

// needsWatch reports whether the seated reaper must watch the ring: a
// Request is in flight, a CQE or a handed-off callback waits, or the
// kernel holds overflowed CQEs.
func (s *Shard) needsWatch() bool {
	return s.outstanding.Load() > 0 || s.ready()
}

// watchdogPeriod is how long a callback may run before the ring's seat
// goes to another reaper. Shorter costs more timer work on long rounds
// (one reset per period); longer leaves completions waiting behind a
// blocked callback for longer.
const watchdogPeriod = time.Millisecond

// reapRound is the ring's part of a round (seat.Backend.Round): it reaps
// every CQE the CQ holds, adding the callbacks of what ended to b. look is
// false for a reaper that does not hold the seat: it then reaps nothing.
func (s *Shard) reapRound(w int, b *Batch, look bool) bool {
	if !look {
		return false
	}
	cqes := s.cqes[w]
	// No life reference: Close unmaps the ring only after the reapers exit.
	s.cqMu.Lock()
	flushed := s.flushOverflow()
	n := s.r.PeekCQEs(cqes)
	finals := int64(0)
	// The CQEs are completed before cqMu is released: a multishot
	// request posts many CQEs whose order is its data's order, and
	// another goroutine that took cqMu next (a standby reaper given the
	// seat by the watchdog, or a user's goroutine reaping inline) would
	// otherwise complete later CQEs of the same request before these.
	// Complete runs no user code and takes only the handler's locks,
	// which come after cqMu in the lock order.
	for i := 0; i < n; i++ {
		c := &cqes[i]
		switch sqe.UserData(c.UserData).Kind() {
		case KindWake:
			// A wake has done its work by waking the holder; counted, for
			// a round that turns out to have lost the seat (endRound).
			s.wakesTaken[w]++
		case KindCancel:
			// A cancel's target reports for itself.
		default:
			if s.handler.Complete(c, b) {
				finals++
			}
		}
	}
	// One RMW per round, not per CQE: only the reapers' decision to park
	// off the ring reads it, and the holder reads it after its round.
	if finals != 0 {
		s.outstanding.Add(-finals)
	}
	if n > 0 {
		s.stats.completed.Add(uint64(n))
	}
	s.cqMu.Unlock()
	if n > 0 {
		return true
	}
	if !flushed && !s.broken.Load() {
		// The kernel kept the overflowed CQEs and the CQ is empty: give
		// it a moment rather than spin; the reaper comes back at once
		// (hasWork sees NeedsFlush).
		time.Sleep(refusedBackoff)
	}
	return false
}

// beginRound locks the reaper to its thread and records its name for the
// round, so that Push tells a start from one of its callbacks
// (reaperIndex). The lock is what makes a thread id name the goroutine;
// with the token it is kept for speed: without it a chain of cached reads
// at depth 1 lost 17-20% quiet and at -procs 1 (decision 47).
func (s *Shard) beginRound(w int) {
	runtime.LockOSThread()
	s.rounds[w].Store(self())
	s.batching.Add(1)
}

// endRound undoes beginRound. A reaper that lost the seat kicks the new
// holder if work is in flight: what this round's callbacks started, and
// what it did not reap, is now the new holder's, which may be waiting off
// the ring (those starts skipped the kick: Push from a callback). And if
// the round reaped a wake NOP, that may have been the one a hand-off sent
// to the new holder (a reap begun while this reaper still held the seat),
// which then waits for a CQE that never comes while the hand-off sits on
// the ready list (found by TestCloseRacesEveryHandoff: Close hung on a
// Sleep's callback in 3 of 10 runs): it wakes the holder again. Only then:
// a NOP on every handover cost system calls under load (read-cached qd1
// under -stress, 1.05 system calls per read against 1.00).
func (s *Shard) endRound(w int, lost bool) {
	if lost {
		if s.wakesTaken[w] > 0 {
			s.wakeHolder()
		} else {
			s.watchIfNeeded()
		}
	}
	s.wakesTaken[w] = 0
	s.batching.Add(-1)
	s.rounds[w].Store(0)
	runtime.UnlockOSThread()
}

// stuck is seat.Backend's Stuck, on the watchdog's goroutine: reaper w's
// round has run no callback for a period (one blocks, as a rule). What
// its callbacks queued for afterBatch goes to the kernel now, and while
// stuckN is raised Push submits starts from callbacks at once; an idle
// holder is kicked, since those starts skipped the kick. The seat has
// already handed the seat to another reaper if w held it, so what
// completes is reaped and run there.
func (s *Shard) stuck() {
	s.stuckN.Add(1)
	s.submit()
	s.watchIfNeeded()
}

// unstuck is seat.Backend's Unstuck: the round stuck reported moves again.
func (s *Shard) unstuck() { s.stuckN.Add(-1) }

// afterBatch submits in one enter everything a batch's callbacks started
// (their Push skipped it), then kicks the holder if it waits off the ring:
// the batch may have run on a standby reaper (a callback routed to the
// worker that ran its Aio's previous one), whose starts the idle holder
// would otherwise never hear of (TestRecvMsgOrderManyConns stalled under
// -race: RecvMsg re-arms submitted by a standby, the holder asleep on
// kick with the multishot in flight).
func (s *Shard) afterBatch() {
	s.submitHeld()
	s.watchIfNeeded()
}

// wakeHolder is seat.Backend's Wake: a kick for a holder idle off the
// ring, else a KindWake NOP whose CQE makes the ring fd readable (the
// holder armed it before it parked, or arms it after this and finds the
// CQE then).
func (s *Shard) wakeHolder() {
	if s.idle.Load() {
		s.wakeIdle()
		return
	}
	if s.queueWake() == nil {
		s.stats.wakeups.Add(1)
		s.submit()
		// The submission may have published others' Requests too
		// (publish): whoever publishes looks at the idle reaper.
		s.watchIfNeeded()
	}
}

// flushOverflow moves CQEs from the kernel's overflow list into the CQ
// (GETEVENTS with nothing to submit) when there are any; called with cqMu
// held. It reports false when the kernel did not: EBADR breaks the shard
// as in enterUnlocked; a transient refusal (the CQ still full, EAGAIN,
// EBUSY, ENOMEM) is retried by the next look; any other error is also
// retried, and the first one is kept for Close to report.
func (s *Shard) flushOverflow() bool {
	if !s.r.NeedsFlush() {
		return true
	}
	err := s.enterUnlocked(0, false, false)
	switch err {
	case nil:
		return true
	case ErrBroken, syscall.EAGAIN, syscall.EBUSY, syscall.ENOMEM:
	default:
		s.flushErr.CompareAndSwap(nil, &err)
	}
	return false
}

// The seat.Backend methods, on a named type so that they stay out of
// Shard's method set (the engine's backend interface).
func (h *seatHooks) Park(w int) seat.Park { return (*Shard)(h).park(w) }
func (h *seatHooks) Round(w int, b *seat.Batch, look bool) bool {
	return (*Shard)(h).reapRound(w, b, look)
}
func (h *seatHooks) AfterBatch(int)            { (*Shard)(h).afterBatch() }
func (h *seatHooks) BeginRound(w int)          { (*Shard)(h).beginRound(w) }
func (h *seatHooks) EndRound(w int, lost bool) { (*Shard)(h).endRound(w, lost) }
func (h *seatHooks) Wake()                     { (*Shard)(h).wakeHolder() }
func (h *seatHooks) Stuck(int)                 { (*Shard)(h).stuck() }
func (h *seatHooks) Unstuck(int)               { (*Shard)(h).unstuck() }
