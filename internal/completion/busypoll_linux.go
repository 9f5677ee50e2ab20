//go:build linux

package completion

// Polling the ring before a busy park (decision 50).
//
// A receive that waited completes as task_work queued on the thread that
// submitted it, which the kernel wakes if it sleeps; its CQE then wakes the
// netpoller's thread through epoll, which runs the seated reaper. With one
// connection (or any chain whose next completion comes within
// microseconds) that is two thread wakeups per message where Go's own
// netpoller takes one, and on a VM each wakeup of an idle vCPU is dear.
// So when a round ends with work in flight, the seated reaper first polls
// the CQ on the thread that submitted the round's work (locked to it for
// the poll), yielding that thread to the kernel between looks: a
// sched_yield lets a task woken onto this CPU (often the peer the round
// just answered) run at once, and its return runs the task_work queued
// here, which posts the CQE the next look finds. It polls for at most
// Config.BusyPoll, and only while polling pays (internal/busypoll has the
// policy: off after an empty poll until a park a poll would have caught,
// a back-off after a poll that lost its CPU).
//
// The poll holds the reaper's P: with GOMAXPROCS=1 other goroutines wait
// for it, at most Config.BusyPoll at a time. So a park right after an
// operation's end readied a goroutine in Wait does not poll, and a poll
// ends when one is readied meanwhile (decision 72): that goroutine goes
// on from the completion, and wants the P.
//
// Only the seated reaper polls, outside rounds (park), so the policy's
// fields need no lock: a seat change is ordered by the seat's mutex.

import (
	"runtime"
	"syscall"
	"time"

	"github.com/aioring/aioring/internal/seat"
)

// poll polls the ring for up to s.busy.Max, if the policy lets it; ok
// true means work came (or the shard closed) and p is what park returns.
func (s *Shard) poll() (p seat.Park, ok bool) {
	bp := &s.busy
	if !bp.Enabled() {
		return 0, false // without a clock read
	}
	start := time.Now()
	if !bp.May(start) {
		return 0, false
	}
	s.stats.polls.Add(1)
	// The task_work of what this thread submitted runs only on this
	// thread: stay on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	last := start
	for {
		s.stats.looks.Add(1)
		if s.ready() {
			bp.Kept()
			return seat.Ready, true
		}
		if s.woke.Moved() {
			// Another goroutine (a standby reaper, a starter reaping
			// inline) readied one in Wait, which wants a P.
			return 0, false
		}
		select {
		case <-s.quit:
			return seat.Closed, true
		default:
		}
		// Another task may want this CPU (the peer just answered, as a
		// rule); the way back runs the task_work queued on this thread,
		// which COOP_TASKRUN only flags.
		syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		now := time.Now()
		if now.Sub(last) > bp.Max {
			// Off its CPU for longer than a whole poll: what came
			// meanwhile waited for it.
			bp.Lost(now)
			if s.ready() {
				return seat.Ready, true
			}
			return 0, false
		}
		if now.Sub(start) > bp.Max {
			bp.Empty()
			return 0, false
		}
		last = now
	}
}
