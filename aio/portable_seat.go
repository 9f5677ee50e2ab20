//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package aio

// The portable backend's callback goroutines ("workers", Config.Callbacks
// of them) and the seat, as the ring's reapers have one (docs/design.md):
//
//   - One worker at a time holds the seat: it parks on Go's netpoller on
//     the backend's epoll (kqueue) descriptor, and when that has events it
//     runs a round: it retries the operations they woke and runs, on its
//     own goroutine, the callbacks of those that ended. So a readiness
//     event costs one goroutine wakeup, as a net.Conn's read does.
//   - The other workers run callbacks handed off from elsewhere (an
//     operation that ended on its starter, a timer, an abort, a file
//     worker) and stand by on a condition variable.
//   - A watchdog, armed for each round, frees the seat when no callback
//     has returned for watchdogPeriodPortable, and wakes a standby worker
//     to take it: a callback that blocks never leaves readiness unserved.
//   - A callback handed off while no worker stands by and the seat holder
//     is parked wakes the seat holder through the poller's wake
//     descriptor (an eventfd, or a pipe off Linux), so it is never left
//     waiting for an unrelated event.
//
// Everything in seatState is guarded by cbMu, except progress (atomic)
// and the workers' own runQ and batch (their worker's alone).

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/internal/completion"
)

// watchdogPeriodPortable is how long a round may go without a callback
// returning before the seat goes to a standby worker (as the ring's
// watchdogPeriod).
const watchdogPeriodPortable = time.Millisecond

// seatPollEvery is how many callbacks the seat holder runs from its lists
// before it looks at readiness without parking.
const seatPollEvery = 16

type seatState struct {
	cbMu     sync.Mutex
	cbCond   sync.Cond
	ready    []completion.Callback // handed off, FIFO from rhead
	rhead    int
	cbIdle   int // workers waiting on cbCond
	cbClosed bool
	pollDead bool // the poller descriptor is closed: nobody takes the seat
	seat     *pworker
	parked   bool // the seat holder waits on the netpoller
	wakeSent bool // a wake is on its way to the parked seat holder
	rounds   int  // rounds running (by the seat holder, or one that lost it)
	seen     uint64
	watch    *time.Timer
	progress atomic.Uint64 // callbacks returned, for the watchdog
	workers  []*pworker    // set before startPortable returns
}

// pworker is one callback goroutine.
type pworker struct {
	goid    int64
	inRound bool
	// Its own, so that a round the watchdog took the seat from never
	// shares them with the next seat holder's.
	evs     []pollEvent
	nevs    int
	harvest func(fd uintptr) bool // the netpoller condition, made once
	peek    func(fd uintptr)      // the same without parking, made once
	// sincePoll counts callbacks run since the seat holder last looked
	// at readiness.
	sincePoll int
	runQ      opList           // operations its round retries
	batch     completion.Batch // callbacks its round runs
	// next: callbacks of Aios whose callback this worker was running when
	// they were handed off (an Aio restarted from its callback, ended at
	// once); run before anything else when that callback returns, so an
	// Aio's callbacks never overlap and a chain wakes nobody. Under cbMu.
	next []completion.Callback
	fair bool // it ran from next last: the shared list goes first
}

func (p *portShard) startWorkers(n int) {
	p.cbCond.L = &p.cbMu
	p.watch = time.AfterFunc(time.Hour, p.watchdog)
	p.watch.Stop()
	p.workers = make([]*pworker, n)
	var started sync.WaitGroup
	started.Add(n)
	p.wg.Add(n)
	for i := range p.workers {
		w := &pworker{evs: make([]pollEvent, pollBatch)}
		w.harvest = func(fd uintptr) bool {
			var woke bool
			w.nevs, woke = p.pl.wait(int(fd), w.evs)
			return w.nevs > 0 || woke
		}
		w.peek = func(fd uintptr) { w.nevs, _ = p.pl.wait(int(fd), w.evs) }
		p.workers[i] = w
		go p.work(w, &started)
	}
	started.Wait()
}

// work is a worker's body.
func (p *portShard) work(w *pworker, started *sync.WaitGroup) {
	defer p.wg.Done()
	w.goid = completion.GoroutineID()
	started.Done()
	p.cbMu.Lock()
	for {
		if w.sincePoll >= seatPollEvery && p.seat == w && !p.pollDead {
			// The seat holder has had callbacks to run for a while: look
			// at readiness without parking, so its chains never starve
			// the descriptors.
			w.sincePoll = 0
			p.cbMu.Unlock()
			p.pollConn.Control(w.peek)
			p.cbMu.Lock()
			if w.nevs > 0 {
				p.roundLocked(w)
			}
			continue
		}
		// Alternate between w's own chain (next) and the shared list, so
		// that a chain that restarts forever never starves the others.
		var cb completion.Callback
		switch {
		case len(w.next) > 0 && !(w.fair && p.rhead < len(p.ready)):
			cb = w.next[0]
			copy(w.next, w.next[1:])
			w.next[len(w.next)-1] = nil
			w.next = w.next[:len(w.next)-1]
			w.fair = true
		case p.rhead < len(p.ready):
			cb = p.ready[p.rhead]
			p.ready[p.rhead] = nil
			p.rhead++
			if p.rhead == len(p.ready) {
				p.ready, p.rhead = p.ready[:0], 0
			}
			w.fair = false
		}
		if cb != nil {
			w.sincePoll++
			p.cbMu.Unlock()
			cb.RunCallback(w.goid)
			p.progress.Add(1)
			p.cbMu.Lock()
			continue
		}
		if p.cbClosed {
			p.cbMu.Unlock()
			return
		}
		if p.seat == nil && !p.pollDead {
			p.seat = w
		}
		if p.seat == w {
			// Parked is set with the ready list seen empty under the same
			// lock: a Handoff after this sees parked and wakes us.
			p.parked = true
			p.cbMu.Unlock()
			err := p.pollConn.Read(w.harvest)
			p.cbMu.Lock()
			p.parked, p.wakeSent = false, false
			if err != nil {
				p.pollDead, p.seat = true, nil // Close closed it
				continue
			}
			p.roundLocked(w)
			continue
		}
		p.cbIdle++
		p.cbCond.Wait()
		p.cbIdle--
	}
}

// roundLocked runs a round under the watchdog; cbMu is held on entry and
// on return.
func (p *portShard) roundLocked(w *pworker) {
	w.inRound = true
	p.rounds++
	p.seen = p.progress.Load()
	p.watch.Reset(watchdogPeriodPortable)
	p.cbMu.Unlock()
	p.round(w)
	p.cbMu.Lock()
	w.inRound = false
	p.rounds--
	if p.rounds == 0 {
		p.watch.Stop()
	}
}

// round takes the harvested events, retries the operations they woke, and
// runs the callbacks of those that ended, on w's goroutine.
func (p *portShard) round(w *pworker) {
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
		p.run(po, &w.batch)
	}
	w.batch.Run(w.goid, &p.progress)
}

// watchdog runs on a timer goroutine while a round is on: if no callback
// has returned for a whole period, the seat goes to a standby worker.
func (p *portShard) watchdog() {
	p.cbMu.Lock()
	defer p.cbMu.Unlock()
	w := p.seat
	if w == nil || !w.inRound {
		return
	}
	if pr := p.progress.Load(); pr != p.seen {
		p.seen = pr
		p.watch.Reset(watchdogPeriodPortable)
		return
	}
	p.seat = nil
	if p.cbIdle > 0 {
		p.cbCond.Signal()
	}
}

// Handoff implements backend: a worker runs cb. While a round runs, its
// worker takes the ready list when the round ends (or the watchdog wakes
// another), so no standby worker is woken for it. A parked seat holder is
// woken by Wake, which the caller calls once it holds no lock.
func (p *portShard) Handoff(cb completion.Callback) (ok, wake bool) {
	p.cbMu.Lock()
	if p.cbClosed {
		p.cbMu.Unlock()
		return false, false
	}
	if ac, ok := cb.(*aioCallback); ok {
		// Its callback still runs (the defer that clears cbGoid runs
		// before the worker looks at next again, under cbMu): that
		// worker runs this one when it returns.
		if g := ac.cbGoid.Load(); g != 0 {
			for _, w := range p.workers {
				if w.goid == g {
					w.next = append(w.next, cb)
					p.cbMu.Unlock()
					return true, false
				}
			}
		}
	}
	if p.rhead > 0 && p.rhead == len(p.ready) {
		p.ready, p.rhead = p.ready[:0], 0
	}
	p.ready = append(p.ready, cb)
	switch {
	case p.rounds > 0:
	case p.cbIdle > 0:
		p.cbCond.Signal()
	case p.parked && !p.wakeSent:
		p.wakeSent, wake = true, true
	}
	p.cbMu.Unlock()
	return true, wake
}

// Wake implements backend: the poller's wake descriptor makes the parked
// seat holder's epoll (kqueue) instance readable.
func (p *portShard) Wake() { p.pl.wake() }

// IsReaper implements backend.
func (p *portShard) IsReaper(goid int64) bool {
	for _, w := range p.workers {
		if w.goid == goid {
			return true
		}
	}
	return false
}

// Close implements backend: the engine has ended every operation. The
// seat holder's park fails, the file workers and the workers exit (the
// latter after running what was handed to them).
func (p *portShard) Close() error {
	p.mu.Lock()
	p.closed = true
	p.fileCond.Broadcast()
	p.mu.Unlock()
	err := p.pollFile.Close()
	p.cbMu.Lock()
	p.cbClosed = true
	p.cbCond.Broadcast()
	p.cbMu.Unlock()
	p.wg.Wait()
	p.watch.Stop()
	p.pl.closeWake()
	return err
}
