//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package portable

// The portable backend's callback goroutines (Config.Callbacks of them)
// are the workers of an internal/seat Seat, whose package doc holds the
// seat's invariants (one holder parks on the netpoller, the watchdog, where
// hand-offs run). What is this backend's, as hooks and options of that
// seat:
//
//   - The holder parks on the poller's descriptor (epoll, or kqueue) on Go's
//     netpoller; its round retries the operations the harvested events woke
//     and runs, on its own goroutine, the callbacks of those that ended, so
//     a readiness event costs one goroutine wakeup, as a net.Conn's read
//     does (decision 18 in docs/design.md).
//   - Looking at readiness costs a system call, so the holder looks again
//     without parking only after seatPollEvery callbacks (LookEvery): its
//     chains never starve the descriptors, and a short round costs none.
//   - Standby workers run handed-off callbacks (StandbyRuns): an operation
//     that ended on its starter, a timer, an abort, a file worker. A
//     callback handed off while no worker stands by and the holder is
//     parked wakes the holder through the poller's wake descriptor (an
//     eventfd, or a pipe off Linux).
//
// Everything here is its worker's alone (evs, raw, nevs, fresh, woke, runQ), indexed
// by the seat's worker number.

import (
	"time"

	"github.com/aioring/aioring/internal/seat"
)

// watchdogPeriodPortable is how long a round may go without a callback
// returning before the seat goes to a standby worker (as the ring's
// watchdogPeriod).
const watchdogPeriodPortable = time.Millisecond

// seatPollEvery is how many callbacks the seat holder runs before it looks
// at readiness without parking.
const seatPollEvery = 16

type seatState struct {
	seat    *seat.Seat
	workers []pworker
}

// pworker is one callback goroutine's share of the backend.
type pworker struct {
	// Its own, so that a round the watchdog took the seat from never
	// shares them with the next seat holder's.
	evs     []pollEvent
	raw     rawEvents // the system call's buffer (two workers may harvest at once)
	nevs    int
	fresh   bool                  // evs were harvested by Park and not yet taken by a round
	harvest func(fd uintptr) bool // the netpoller condition, made once
	peek    func(fd uintptr)      // the same without parking, made once
	woke    bool                  // peek found the wake descriptor set (pollBusy)
	runQ    opList                // operations its round retries
}

// portSeat is the portable backend as its seat's seat.Backend, so the
// hooks stay out of Backend's method set.
type portSeat Backend

func (p *Backend) startWorkers(n int) {
	p.workers = make([]pworker, max(n, 1))
	for i := range p.workers {
		w := &p.workers[i]
		w.evs = make([]pollEvent, pollBatch)
		w.harvest = func(fd uintptr) bool {
			var woke bool
			w.nevs, woke = p.pl.wait(int(fd), &w.raw, w.evs)
			return w.nevs > 0 || woke
		}
		w.peek = func(fd uintptr) { w.nevs, w.woke = p.pl.wait(int(fd), &w.raw, w.evs) }
	}
	p.seat = seat.New((*portSeat)(p), seat.Config{Workers: len(p.workers),
		Watchdog: watchdogPeriodPortable, LookEvery: seatPollEvery, StandbyRuns: true})
	p.seat.Start()
}

// Park implements seat.Backend: the holder polls the poller for a while
// if the policy lets it (pollBusy), then parks on it.
func (ps *portSeat) Park(i int) seat.Park {
	p := (*Backend)(ps)
	w := &p.workers[i]
	// A goroutine readied in Wait since the last park wants a P, which
	// a poll would hold: park at once, and end a poll when one is readied
	// meanwhile (decision 72, as the ring's).
	if !p.woke.Moved() && p.pollBusy(w) {
		w.fresh = true
		return seat.Ready
	}
	var began time.Time
	if p.busy.Off() {
		began = time.Now()
	}
	if err := p.pollConn.Read(w.harvest); err != nil {
		return seat.Closed // Close closed it
	}
	if p.busy.Off() {
		p.busy.ParkedFor(time.Since(began))
	}
	w.fresh = true
	return seat.Ready
}

// pollBusy is the holder's poll before it parks (decision 70): it looks
// at the poller without blocking, yielding its thread to the kernel
// between looks, for up to busy.Max, while internal/busypoll's policy
// says polling pays. A park costs the holder a trip through Go's
// netpoller and, as a rule, a sleep and a wakeup of its thread; the next
// message of a busy server comes within microseconds, and a yield lets
// the peer that sends it (often on this CPU) run meanwhile. It reports
// true when events (or a hand-off's wake) came.
func (p *Backend) pollBusy(w *pworker) bool {
	bp := &p.busy
	if !bp.Enabled() {
		return false // without a clock read
	}
	start := time.Now()
	if !bp.May(start) {
		return false
	}
	p.polls.Add(1)
	last := start
	for {
		p.looks.Add(1)
		w.woke = false
		if p.pollConn.Control(w.peek) != nil {
			return false // closed: the park says so
		}
		if w.nevs > 0 || w.woke {
			bp.Kept()
			return true
		}
		if p.woke.Moved() {
			// Another worker readied a goroutine in Wait (a standby
			// running a round's callbacks): it wants a P.
			return false
		}
		yieldCPU()
		now := time.Now()
		if now.Sub(last) > bp.Max {
			bp.Lost(now) // off its CPU for longer than a whole poll
			return false
		}
		if now.Sub(start) > bp.Max {
			bp.Empty()
			return false
		}
		last = now
	}
}

// Round implements seat.Backend: it takes the harvested events (looking
// again without parking when look allows and Park gave none), retries the
// operations they woke, and adds the callbacks of those that ended to b.
func (ps *portSeat) Round(i int, b *seat.Batch, look bool) bool {
	p := (*Backend)(ps)
	w := &p.workers[i]
	if !w.fresh {
		if !look {
			return false
		}
		p.pollConn.Control(w.peek)
	}
	w.fresh = false
	if w.nevs == 0 {
		return false
	}
	p.mu.Lock()
	for _, ev := range w.evs[:w.nevs] {
		fw := p.fds[ev.fd]
		if fw == nil {
			continue
		}
		fw.armed &^= ev.disarmed
		if ev.ready&evRead != 0 {
			for po := fw.readers.pop(); po != nil; po = fw.readers.pop() {
				po.state = pRunning
				w.runQ.push(po)
			}
		}
		if ev.ready&evWrite != 0 {
			for po := fw.writers.pop(); po != nil; po = fw.writers.pop() {
				po.state = pRunning
				w.runQ.push(po)
			}
		}
		// Waiters of the other direction keep waiting.
		want := uint8(0)
		if fw.readers.head != nil {
			want |= evRead
		}
		if fw.writers.head != nil {
			want |= evWrite
		}
		if want != 0 && want&^fw.armed != 0 && !p.closed {
			if p.pl.arm(ev.fd, want) == 0 {
				fw.armed = want
			}
		}
	}
	w.nevs = 0
	p.mu.Unlock()
	for po := w.runQ.pop(); po != nil; po = w.runQ.pop() {
		p.run(po, b)
	}
	return true
}

// AfterBatch, BeginRound and EndRound implement seat.Backend: the portable
// backend's starts carry themselves out (Submit), so a round has nothing
// to add.
func (ps *portSeat) AfterBatch(int)     {}
func (ps *portSeat) BeginRound(int)     {}
func (ps *portSeat) EndRound(int, bool) {}

// Stuck and Unstuck implement seat.Backend: nothing waits for a round
// here (a start carries itself out, on its starter).
func (ps *portSeat) Stuck(int)   {}
func (ps *portSeat) Unstuck(int) {}

// Wake implements seat.Backend: the poller's wake descriptor makes the
// parked holder's epoll (kqueue) instance readable.
func (ps *portSeat) Wake() { ps.pl.wake() }

// Handoff implements backend: a worker runs cb (seat.Seat.Handoff).
func (p *Backend) Handoff(cb seat.Callback) (ok, wake bool) { return p.seat.Handoff(cb) }

// HandoffHere implements backend: as Handoff (the portable backend's tries
// happen in Submit, whose results its workers deliver).
func (p *Backend) HandoffHere(cb seat.Callback) (ok, wake bool) { return p.seat.Handoff(cb) }

// Wake implements backend: it makes the wake Handoff reported.
func (p *Backend) Wake() { p.seat.Wake() }

// IsReaper implements backend.
func (p *Backend) IsReaper(goid int64) bool { return p.seat.IsWorker(goid) }

// Close implements backend: the engine has ended every operation. The
// seat holder's park fails, the file workers and the workers exit (the
// latter after running what was handed to them).
func (p *Backend) Close() error {
	p.mu.Lock()
	p.closed = true
	p.fileCond.Broadcast()
	p.mu.Unlock()
	err := p.pollFile.Close()
	p.seat.Close()
	p.wg.Wait()
	p.pl.closeWake()
	return err
}

// Workers returns how many callback goroutines the backend runs.
func (p *Backend) Workers() int { return len(p.workers) }
