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
// busyPoll.max (Config.BusyPoll), and only while polling pays:
//   - a poll that finds nothing turns polling off; a park that ends
//     within max of its start (a completion a poll would have caught)
//     turns it on again. A server whose completions come further apart
//     than that polls once per idle spell, not once per message;
//   - a look that comes back more than max after the one before means
//     the thread lost its CPU to another task (a busy machine: the yield
//     handed it over, or the kernel preempted it), and a poll that cannot
//     keep its CPU only delays the completion it waits for, by a time
//     slice: polling stops for a back-off of pollBackoffMin, which
//     doubles with each such poll up to pollBackoffMax and starts again
//     at pollBackoffMin after a poll that kept its CPU (a variant that
//     kept it growing did worse, decision 50).
//
// The poll holds the reaper's P: with GOMAXPROCS=1 other goroutines wait
// for it, at most max at a time.
//
// Only the seated reaper polls, outside rounds (park), so busyPoll's
// fields need no lock: a seat change is ordered by the seat's mutex.

import (
	"runtime"
	"syscall"
	"time"

	"github.com/aioring/aioring/internal/seat"
)

// Bounds of the back-off after a poll that lost its CPU.
const (
	pollBackoffMin = 10 * time.Millisecond
	pollBackoffMax = time.Second
)

// busyPoll is the seated reaper's polling policy; poll is the mechanism.
type busyPoll struct {
	max     time.Duration // how long a poll may last; 0: never poll
	off     bool          // the last poll found nothing: park at once until a park ends within max
	resume  time.Time     // no poll before this (a poll lost its CPU)
	backoff time.Duration // the next back-off; 0 means pollBackoffMin
}

// may reports whether a poll may begin at now.
func (bp *busyPoll) may(now time.Time) bool {
	return bp.max > 0 && !bp.off && !now.Before(bp.resume)
}

// kept records a poll that found work without losing its CPU.
func (bp *busyPoll) kept() { bp.backoff = 0 }

// empty records a poll that found nothing in its time.
func (bp *busyPoll) empty() { bp.off, bp.backoff = true, 0 }

// lost records a poll whose thread was off its CPU for longer than a
// whole poll, seen at now: no poll for the back-off, which doubles.
func (bp *busyPoll) lost(now time.Time) {
	if bp.backoff == 0 {
		bp.backoff = pollBackoffMin
	}
	bp.resume = now.Add(bp.backoff)
	bp.backoff = min(2*bp.backoff, pollBackoffMax)
}

// parkedFor records a park on the netpoller that lasted d: one that a
// poll would have caught turns polling on again.
func (bp *busyPoll) parkedFor(d time.Duration) {
	if bp.off && d <= bp.max {
		bp.off = false
	}
}

// poll polls the ring for up to s.busy.max, if the policy lets it; ok
// true means work came (or the shard closed) and p is what park returns.
func (s *Shard) poll() (p seat.Park, ok bool) {
	bp := &s.busy
	if bp.max <= 0 || bp.off {
		return 0, false // without a clock read
	}
	start := time.Now()
	if !bp.may(start) {
		return 0, false
	}
	// The task_work of what this thread submitted runs only on this
	// thread: stay on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	last := start
	for {
		if s.ready() {
			bp.kept()
			return seat.Ready, true
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
		if now.Sub(last) > bp.max {
			// Off its CPU for longer than a whole poll: what came
			// meanwhile waited for it.
			bp.lost(now)
			if s.ready() {
				return seat.Ready, true
			}
			return 0, false
		}
		if now.Sub(start) > bp.max {
			bp.empty()
			return 0, false
		}
		last = now
	}
}
