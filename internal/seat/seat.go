package seat

import (
	"sync"
	"sync/atomic"
	"time"
)

// Callback is work that must run on one of a seat's workers: an
// operation's user callback. An operation whose next callback is due
// while its previous one still runs is not handed off: the caller's
// RunCallback runs it after the previous one (the aio package's
// followUp), so one operation's callbacks never overlap.
type Callback interface {
	// RunCallback runs on a worker; goid is that goroutine's id (0 when
	// it runs on some other goroutine, after Close). arg is the word it
	// was added with (Batch.AddArg), 0 for a hand-off.
	RunCallback(goid int64, arg uint64)
}

// task is a Callback and the word it runs with: what a backend's round
// found for it (an operation's result), carried in the batch so that the
// round needs no lock of the callback's to record it.
type task struct {
	cb  Callback
	arg uint64
}

// Homed is a Callback with a preferred worker. With Config.Spread, a
// hand-off of one goes to worker Home() % Workers rather than to the
// holder, so that chains started from outside the workers (a read tried
// first on its starter, whose restarts then stay with the worker that
// runs them) spread over every worker instead of all running on the
// holder. A negative Home has no preference.
type Homed interface {
	Callback
	Home() int
}

// Movable is a Callback that a worker may pass, before running it, to the
// worker MoveTo() % Workers names, when its batch is heavy (see
// splitBatch). Unlike Homed's Home, which its callers call under the
// callback's own lock, MoveTo is called with no lock held, so it must
// read only what never changes. A negative MoveTo keeps it where it is.
type Movable interface {
	Callback
	MoveTo() int
}

// A batch is split (splitBatch) when it holds at least splitMinBatch
// callbacks, its worker's recent batches took splitHeavy or more per
// callback, and at least splitMinMoved of them belong elsewhere: then
// the part another worker runs meanwhile is worth more than that
// worker's wake (docs/design.md, decision 77; one callback moved at a
// time, as a ring's Statx CQEs of a cold tree came, cost more than it
// saved). One callback's sample counts for at most splitSampleMax, so
// that a batch the kernel preempted does not turn splitting on by
// itself.
const (
	splitMinBatch  = 4
	splitMinMoved  = 2
	splitHeavy     = 2 * time.Microsecond
	splitSampleMax = 2 * splitHeavy
)

// Batch collects the callbacks a worker runs after its backend's part of a
// round. Its backing array is reused, so adding never allocates once warm.
type Batch struct {
	cbs []task
}

// Add schedules cb to run on the worker that owns the batch.
func (b *Batch) Add(cb Callback) { b.cbs = append(b.cbs, task{cb: cb}) }

// AddArg is Add with a word for cb's RunCallback: the batch carries it,
// whichever worker runs cb (the watchdog may move a batch's rest to
// another), with the happens-before that moving it gives.
func (b *Batch) AddArg(cb Callback, arg uint64) { b.cbs = append(b.cbs, task{cb, arg}) }

// Park is Backend.Park's result.
type Park uint8

const (
	Ready  Park = iota // there is work: run a round
	Again              // woken with nothing to do (a kick, a spurious wakeup): look at the lists and park again
	Closed             // the backend's descriptor is closed: nobody parks any more
)

// Backend is what a seat's workers do that depends on the backend. Worker
// numbers w run from 0 to Config.Workers-1, so a backend keeps per-worker
// state in a slice. No hook is called with the seat's lock held.
type Backend interface {
	// Park blocks the holder until there is work, Wake is called, or
	// the backend closes. Only the holder calls it.
	Park(w int) Park
	// Round does the backend's part of a round, adding callbacks to b,
	// and reports whether it found anything. look is false when it must
	// not look for new work (w does not hold the seat, or the backend's
	// Config.LookEvery has not come round): it then only takes what Park
	// gave it.
	Round(w int, b *Batch, look bool) (found bool)
	// AfterBatch runs after every batch of callbacks in a round.
	AfterBatch(w int)
	// BeginRound and EndRound bracket a round on w's goroutine. lost:
	// the watchdog gave the seat to another worker during the round.
	BeginRound(w int)
	EndRound(w int, lost bool)
	// Stuck is called, off the workers (on the watchdog's goroutine) and
	// with no lock held, when w's round has gone a whole watchdog period
	// without starting a callback: a callback blocks (or w is stuck
	// elsewhere in the round). What the round deferred to AfterBatch
	// (operations its callbacks started) must be carried out now, and
	// what they start from now on at once, until Unstuck(w).
	Stuck(w int)
	// Unstuck is called on w's goroutine when a round Stuck reported
	// moves again (a callback returned) or ends.
	Unstuck(w int)
	// Wake wakes the parked holder (Park returns). Several calls may
	// come for one park.
	Wake()
}

// Config configures a seat.
type Config struct {
	Workers  int           // at least 1
	Watchdog time.Duration // how long a round may go without a callback returning before the seat is handed on
	// LookEvery: 0 makes the holder look for new work (Round with look)
	// before every batch; n > 0 only once it has run n callbacks since it
	// last looked (looking costs the portable backend a system call).
	LookEvery int
	// StandbyRuns lets standby workers run handed-off callbacks (they are
	// signalled for them). Otherwise only the holder's rounds run them,
	// and a hand-off wakes the parked holder.
	StandbyRuns bool
	// TakeVacant lets a worker in a round of its own list take the seat
	// the watchdog left vacant, without parking first (the ring: chains
	// of reads that finish on their starter never pass through it, and
	// would otherwise keep the ring and the shared list unwatched). Off
	// for the portable backend, whose chains are not of that kind (its
	// tries happen in Submit, on the starter). It once seemed to lose
	// messages there; that was the poller's shared event buffer
	// (docs/design.md, Known limits), and with it fixed the portable
	// backend passes with TakeVacant on as well.
	TakeVacant bool
	// Spread routes hand-offs of Homed callbacks to their home worker
	// (see Homed). It pays only with more than one P: the workers then
	// run their lists on different cores.
	Spread bool
}

// Seat is a backend's set of workers and its seat.
type Seat struct {
	be  Backend
	cfg Config

	mu       sync.Mutex
	cond     sync.Cond // standby workers wait here
	ready    []task    // handed off, FIFO from rhead; under mu
	rhead    int
	readyN   atomic.Int32 // len(ready)-rhead, for lock-free looks
	idle     int          // workers waiting on cond
	closed   bool         // Handoff refuses; workers exit once the lists are empty
	dead     bool         // Park reported Closed: nobody takes the seat
	parked   bool         // the holder is in Park
	wakeSent bool         // a wake is owed or made for this park
	rounds   int          // rounds running, on any worker

	holder   atomic.Pointer[worker] // nil while handed over; written under mu
	wakeOwed atomic.Bool            // Handoff reported a wake that no Wake has made yet
	watch    *time.Timer            // armed while rounds run
	dogs     sync.WaitGroup         // watchdog calls of Stuck in progress; added to under mu, never after Close

	workers []*worker
	wg      sync.WaitGroup
}

// worker is one callback goroutine's state.
type worker struct {
	id      int
	goid    int64
	inRound bool // under mu
	waiting bool // standing by on the seat's cond; under mu
	batch   Batch
	// home holds, with Spread, the callbacks handed off to this worker
	// as their home. Under homeMu, its own lock so that the workers'
	// chains do not meet on mu (homeMu is taken after mu when both are
	// held); homeN mirrors its length for lock-free looks. When the
	// worker gets stuck, the watchdog releases it to the ready list.
	homeMu    sync.Mutex
	home      []task
	homeN     atomic.Int32
	sinceLook int // callbacks run since the holder last looked
	// claim is how the worker and the watchdog share the batch: its
	// count (claim >> claimShift) is the callbacks the worker has
	// started, ever; claimInLoop says it is running a batch, whose first
	// callback was number batchAt+1, so that callback number n is
	// batch.cbs[n-batchAt-1]; claimStolen says the watchdog took the
	// batch's callbacks after the one that blocks (the worker's next
	// claim fails). The worker claims each callback with a CAS, which
	// is the one atomic RMW per callback the watchdog's progress count
	// cost before; the watchdog steals with a CAS, under mu.
	claim   atomic.Uint64
	batchAt uint64      // the count before the batch's first callback; written before the CAS that sets claimInLoop
	seen    uint64      // the count when the watchdog last looked; under mu
	stuck   atomic.Bool // the watchdog reported Stuck; the worker clears it (and reports Unstuck) when it moves
	// perCallback is the time per callback of the worker's recent
	// batches of splitMinBatch or more (a moving average), with Spread;
	// the worker's alone.
	perCallback time.Duration
}

// The bits of worker.claim.
const (
	claimInLoop = 1 << 0
	claimStolen = 1 << 1
	claimShift  = 2
	claimOne    = 1 << claimShift
)

// New makes a seat of cfg.Workers workers; Start starts them. (Two steps,
// so that the backend can keep the seat before its hooks run.)
func New(be Backend, cfg Config) *Seat {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	s := &Seat{be: be, cfg: cfg}
	s.cond.L = &s.mu
	s.watch = time.AfterFunc(time.Hour, s.watchdog)
	s.watch.Stop()
	s.workers = make([]*worker, cfg.Workers)
	for i := range s.workers {
		s.workers[i] = &worker{id: i}
	}
	s.holder.Store(s.workers[0])
	return s
}

// Start starts the workers, and returns once each knows its goroutine id;
// the first holds the seat.
func (s *Seat) Start() {
	var started sync.WaitGroup
	started.Add(len(s.workers))
	s.wg.Add(len(s.workers))
	for _, w := range s.workers {
		go s.work(w, &started)
	}
	started.Wait()
}

// Workers returns how many workers the seat runs.
func (s *Seat) Workers() int { return len(s.workers) }

// IsWorker reports whether goroutine goid is one of the seat's workers.
func (s *Seat) IsWorker(goid int64) bool { return s.Worker(goid) >= 0 }

// Worker returns the number of the worker whose goroutine is goid, or -1.
func (s *Seat) Worker(goid int64) int {
	for _, w := range s.workers {
		if w.goid == goid {
			return w.id
		}
	}
	return -1
}

// Stuck reports whether the watchdog has reported worker w Stuck and w has
// not moved since. The watchdog marks w before it calls Stuck, so a
// backend that sees its own count of stuck workers raised by w's report
// sees the mark too.
func (s *Seat) Stuck(w int) bool { return s.workers[w].stuck.Load() }

// HasWorkFor reports whether handed-off callbacks wait for worker w: on
// the shared list, or on w's own (Spread sends a callback to its home
// worker's). A backend's Park(w) reads it after it has published that it
// is about to sleep off its descriptor, and Handoff raises the count of
// the list it appends to before it reports a wake, so that one of the two
// sees the other. The shared list alone is not enough: a hand-off to the
// parking holder's own list, reported while the holder had not yet
// published its sleep, made a wake the sleeping holder never saw (a
// lost wake-up that hung TestLeakMemoryBoundedInFlight's cancels).
func (s *Seat) HasWorkFor(w int) bool {
	return s.readyN.Load() != 0 || s.workers[w].homeN.Load() != 0
}

// work is a worker's body.
func (s *Seat) work(w *worker, started *sync.WaitGroup) {
	defer s.wg.Done()
	w.goid = GoroutineID()
	started.Done()
	s.mu.Lock()
	for {
		seated := s.holder.Load() == w
		if !seated && !s.dead && !s.closed && s.holder.Load() == nil {
			// A vacant seat is taken before anything else: a worker that
			// only ran its own list (callbacks sent home to it)
			// would otherwise leave the ring and the shared list to
			// nobody for as long as that list never empties.
			s.holder.Store(w)
			seated = true
		}
		if w.homeN.Load() > 0 || (s.readyN.Load() != 0 && (seated || s.cfg.StandbyRuns || s.closed)) {
			s.roundLocked(w, false)
			continue
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		if seated {
			// parked is set with the lists seen empty under mu: a
			// Handoff from now on reports a wake.
			s.parked = true
			s.mu.Unlock()
			p := s.be.Park(w.id)
			s.mu.Lock()
			s.parked, s.wakeSent = false, false
			switch p {
			case Closed:
				s.dead = true
				s.holder.Store(nil)
			case Ready:
				s.roundLocked(w, true)
			}
			continue
		}
		s.idle++
		w.waiting = true
		s.cond.Wait()
		w.waiting = false
		s.idle--
	}
}

// roundLocked runs a round on w under the watchdog; mu is held on entry
// and on return. look: the first Round may look for new work (w just left
// Park).
func (s *Seat) roundLocked(w *worker, look bool) {
	w.inRound = true
	s.rounds++
	w.seen = w.claim.Load() >> claimShift
	s.watch.Reset(s.cfg.Watchdog)
	seated := s.holder.Load() == w
	s.mu.Unlock()
	s.be.BeginRound(w.id)
	lost := false
	for {
		found := s.be.Round(w.id, &w.batch, look && s.holder.Load() == w)
		s.take(w)
		if !found && len(w.batch.cbs) == 0 {
			break
		}
		w.sinceLook += s.runTimedBatch(w)
		s.be.AfterBatch(w.id)
		if s.holder.Load() != w {
			if seated {
				lost = true // the watchdog gave the seat to another worker
				break
			}
			// A standby running hand-offs, or a chain that outlived its
			// seat. If the seat is vacant (the watchdog took it from a
			// holder while every other worker ran a chain of its own),
			// take it: a chain that never ends, such as reads that
			// finish on their starter (never through the ring), must not
			// keep the ring and the shared list from being looked at
			// (found by TestCloseRacesEveryHandoff: sleeps, cancels and
			// provider ops starved for 10 s behind two such chains).
			if !s.cfg.TakeVacant || !s.takeVacant(w) {
				continue
			}
			seated = true
		}
		look = s.cfg.LookEvery == 0 || w.sinceLook >= s.cfg.LookEvery
		if look {
			w.sinceLook = 0
		}
	}
	s.moved(w)
	s.be.EndRound(w.id, lost)
	s.mu.Lock()
	w.inRound = false
	s.rounds--
	if s.rounds == 0 {
		s.watch.Stop()
	}
}

// runTimedBatch is runBatch, and with Spread, for a batch of
// splitMinBatch or more, splitBatch first when w's recent batches were
// heavy, and the batch timed (two clock reads per batch) to say whether
// the next ones are.
func (s *Seat) runTimedBatch(w *worker) int {
	if !s.cfg.Spread || len(w.batch.cbs) < splitMinBatch {
		return s.runBatch(w)
	}
	if w.perCallback >= splitHeavy {
		s.splitBatch(w)
	}
	t0 := time.Now()
	n := s.runBatch(w)
	if n > 0 {
		sample := min(time.Since(t0)/time.Duration(n), splitSampleMax)
		w.perCallback = (3*w.perCallback + sample) / 4
	}
	return n
}

// splitBatch passes the Movable callbacks of w's batch that belong to
// another worker to that worker's own list, where it runs them while w
// runs the rest: a ring's reaped batch of file chains (an open's CQE, then
// a Statx, a read and a close started by its callback) otherwise runs on
// the holder alone, one core, while the other reaper stands by. Only to a
// worker that stands by (woken here) or is in a round of its own (it
// takes its list after its batch), and not stuck: a parked holder is
// never sent any (it parks only with the lists empty). The scan for
// candidates takes no lock, so that batches with none (chains sent home
// already, Spread's hand-offs) cost no trip through mu.
func (s *Seat) splitBatch(w *worker) {
	n := len(s.workers)
	candidates := 0
	for _, t := range w.batch.cbs {
		if m, ok := t.cb.(Movable); ok {
			if to := m.MoveTo(); to >= 0 && to%n != w.id {
				if candidates++; candidates == splitMinMoved {
					break
				}
			}
		}
	}
	if candidates < splitMinMoved {
		return
	}
	s.mu.Lock()
	kept := w.batch.cbs[:0]
	signal := false
	for _, t := range w.batch.cbs {
		to := -1
		if m, ok := t.cb.(Movable); ok {
			to = m.MoveTo()
		}
		if to < 0 || to%n == w.id {
			kept = append(kept, t)
			continue
		}
		hw := s.workers[to%n]
		if hw.stuck.Load() || !(hw.waiting || hw.inRound) {
			kept = append(kept, t)
			continue
		}
		hw.homeMu.Lock()
		hw.home = append(hw.home, t)
		hw.homeN.Store(int32(len(hw.home)))
		hw.homeMu.Unlock()
		signal = signal || hw.waiting
	}
	clear(w.batch.cbs[len(kept):])
	w.batch.cbs = kept
	if signal {
		// One cond serves every standby worker (toOwnListLocked).
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// takeVacant gives w the seat if nobody holds it, reporting whether it did.
func (s *Seat) takeVacant(w *worker) bool {
	if s.holder.Load() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder.Load() != nil || s.dead || s.closed {
		return false
	}
	s.holder.Store(w)
	return true
}

// runBatch runs w's batch on w and empties it; it returns how many
// callbacks it ran. Each callback is claimed first (see worker.claim): if
// the watchdog stole the rest of the batch while one of them blocked, the
// claim fails and the stolen callbacks are the ready list's.
func (s *Seat) runBatch(w *worker) int {
	cbs := w.batch.cbs
	if len(cbs) == 0 {
		return 0
	}
	s.moved(w)          // marked stuck outside a batch: watch this one afresh
	c := w.claim.Load() // neither flag: only a batch sets them, and its end clears them
	w.batchAt = c >> claimShift
	i := 0
	for ; i < len(cbs); i++ {
		next := (c + claimOne) | claimInLoop
		if !w.claim.CompareAndSwap(c, next) {
			break // stolen
		}
		c = next
		t := cbs[i]
		cbs[i] = task{}
		t.cb.RunCallback(w.goid, t.arg)
		s.moved(w)
	}
	// The batch's end: one more RMW per batch (not per callback), so
	// that the watchdog never reads a batch the worker is changing.
	if i < len(cbs) || !w.claim.CompareAndSwap(c, c&^claimInLoop) {
		// The watchdog stole cbs[i:] under mu, and nilled them:
		// taking mu waits for it to be done with the array.
		s.mu.Lock()
		w.claim.Store(c &^ (claimInLoop | claimStolen))
		s.mu.Unlock()
		clear(cbs[i:])
		s.watch.Reset(s.cfg.Watchdog) // w runs on; keep watching it
	}
	w.batch.cbs = cbs[:0]
	return i
}

// moved clears w's stuck mark once it moves again (a callback returned,
// or its round ends), and tells the backend. A load on the common path.
func (s *Seat) moved(w *worker) {
	if w.stuck.Load() && w.stuck.CompareAndSwap(true, false) {
		s.be.Unstuck(w.id)
		s.watch.Reset(s.cfg.Watchdog) // the watchdog stopped watching w when it marked it
	}
}

// take moves w's own list and the shared list (all of it for the holder
// when standby workers do not run hand-offs, else one) into w's batch.
func (s *Seat) take(w *worker) {
	if w.homeN.Load() != 0 {
		s.takeHome(w) // only with Spread
	}
	if s.readyN.Load() == 0 {
		return
	}
	s.mu.Lock()
	s.takeReadyLocked(w)
	s.mu.Unlock()
}

// takeHome moves w's own list into its batch.
func (s *Seat) takeHome(w *worker) {
	w.homeMu.Lock()
	w.batch.cbs = append(w.batch.cbs, w.home...)
	clear(w.home)
	w.home = w.home[:0]
	w.homeN.Store(0)
	w.homeMu.Unlock()
}

// takeReadyLocked moves the shared list (all of it for the holder when
// standby workers do not run hand-offs, else one) into w's batch.
func (s *Seat) takeReadyLocked(w *worker) {
	if s.rhead < len(s.ready) && (s.holder.Load() == w || s.cfg.StandbyRuns || s.closed) {
		end := len(s.ready)
		if s.cfg.StandbyRuns {
			end = s.rhead + 1
		}
		w.batch.cbs = append(w.batch.cbs, s.ready[s.rhead:end]...)
		clear(s.ready[s.rhead:end])
		s.rhead = end
		if s.rhead == len(s.ready) {
			s.ready, s.rhead = s.ready[:0], 0
		}
		s.readyN.Store(int32(len(s.ready) - s.rhead))
	}
}

// watchdog runs on a timer goroutine while rounds are on. A worker in a
// round that has started no callback for a whole period is stuck (a
// callback blocks, as a rule): it is marked, and the backend told
// (Stuck), so that what its callbacks started reaches the backend; the
// callbacks after the blocked one in its batch go to the ready list; and
// if it holds the seat, the seat goes to a standby worker. A marked worker
// is not watched again until it moves (moved re-arms the timer), so a
// callback that blocks for long costs one timer fire, not one per period.
func (s *Seat) watchdog() {
	var buf [8]int
	stuck := buf[:0]
	wake, rearm := false, false
	s.mu.Lock()
	for _, w := range s.workers {
		if !w.inRound {
			continue
		}
		// Each worker's own progress: callbacks that others run say
		// nothing about whether this one is stuck.
		c := w.claim.Load()
		if n := c >> claimShift; n != w.seen {
			w.seen = n
			rearm = true
			continue
		}
		if !w.stuck.Load() {
			w.stuck.Store(true)
			stuck = append(stuck, w.id)
			if w.homeN.Load() > 0 { // Spread's hand-offs, or HandoffTo's
				wake = s.releaseHomeLocked(w) || wake
			}
		}
		if c&(claimInLoop|claimStolen) == claimInLoop && w.claim.CompareAndSwap(c, c|claimStolen) {
			// w is inside callback number c>>claimShift of its batch
			// and can claim no more: the rest are ready for others.
			rest := w.batch.cbs[(c>>claimShift)-w.batchAt:]
			if len(rest) > 0 {
				s.appendReadyLocked(rest...)
				clear(rest)
				wake = s.readiedLocked(w) || wake
			}
		}
		if s.holder.Load() == w {
			s.holder.Store(nil)
			if s.idle > 0 {
				s.cond.Signal()
			}
		}
	}
	if rearm {
		s.watch.Reset(s.cfg.Watchdog)
	}
	if s.closed {
		stuck = stuck[:0] // Close is waiting for the workers: no backend call after it
	} else if len(stuck) > 0 {
		s.dogs.Add(1)
	}
	s.mu.Unlock()
	if wake {
		s.Wake()
	}
	if len(stuck) > 0 {
		for _, id := range stuck {
			s.be.Stuck(id)
		}
		s.dogs.Done()
	}
}

// releaseHomeLocked moves the hand-offs sent home to w (Spread, or
// HandoffTo) to the ready list, now that w is stuck. (A chain whose callback w is running
// stays with w regardless: its next callback is the running one's
// follow-up, not a hand-off.) true: a wake is owed.
func (s *Seat) releaseHomeLocked(w *worker) (wake bool) {
	w.homeMu.Lock()
	defer w.homeMu.Unlock()
	if len(w.home) == 0 {
		return false
	}
	s.appendReadyLocked(w.home...)
	clear(w.home)
	w.home = w.home[:0]
	w.homeN.Store(0)
	return s.readiedLocked(w)
}

// readiedLocked sees that the ready list, just added to, has a worker
// that will look at it, as Handoff does; true: a wake is owed (made by
// the caller with no lock held). stuck is the worker the callbacks came
// from, which will not.
func (s *Seat) readiedLocked(stuck *worker) (wake bool) {
	h := s.holder.Load()
	switch {
	case h != nil && h != stuck && h.inRound:
		// The holder takes the list after its batch, or before it parks.
	case s.idle > 0 && (s.cfg.StandbyRuns || h == nil || h == stuck):
		// A standby runs them, or takes the seat (the watchdog frees
		// a stuck holder's) and looks at the list before it parks.
		s.cond.Signal()
	case s.parked && !s.wakeSent:
		wake = s.oweWakeLocked()
	}
	return wake
}

// Handoff schedules cb on a worker (see the package doc for which). ok is
// false after Close: the caller must run cb some other way. wake reports
// that the parked holder must be woken: the caller calls Wake once it
// holds no lock. Handoff makes no system call and does not allocate once
// the lists have grown.
func (s *Seat) Handoff(cb Callback) (ok, wake bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, false
	}
	if s.cfg.Spread {
		if w := s.homeOf(cb); w != nil && !w.stuck.Load() {
			wake = s.toOwnListLocked(w, cb)
			s.mu.Unlock()
			return true, wake
		}
	}
	s.appendReadyLocked(task{cb: cb})
	h := s.holder.Load()
	switch {
	case h != nil && h.inRound:
		// The holder takes the list after its batch, or before it parks.
	case s.cfg.StandbyRuns && s.idle > 0:
		s.cond.Signal()
	case s.parked && !s.wakeSent:
		wake = s.oweWakeLocked()
	}
	s.mu.Unlock()
	return true, wake
}

// HandoffTo is Handoff from inside worker w's round (the caller runs on
// w, in a callback): cb joins w's own list, which w takes after the
// callback it runs returns, with no wake and no trip through the shared
// list. Used when that callback started an operation that its starter
// finished at once: the two callbacks run one after the other on w, as
// a chain restarting one Aio does (decision 38). If w is stuck (its
// callback blocks), cb is handed off as by Handoff.
func (s *Seat) HandoffTo(w int, cb Callback) (ok, wake bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, false
	}
	if w >= 0 && w < len(s.workers) {
		if wk := s.workers[w]; wk.inRound && !wk.stuck.Load() {
			s.toOwnListLocked(wk, cb) // in a round: no wake
			s.mu.Unlock()
			return true, false
		}
	}
	s.mu.Unlock()
	return s.Handoff(cb)
}

// appendReadyLocked adds cbs to the shared list, reusing its array once
// everything before them has been taken.
func (s *Seat) appendReadyLocked(cbs ...task) {
	if s.rhead > 0 && s.rhead == len(s.ready) {
		s.ready, s.rhead = s.ready[:0], 0
	}
	s.ready = append(s.ready, cbs...)
	s.readyN.Store(int32(len(s.ready) - s.rhead))
}

// homeOf returns cb's home worker (Homed), or nil when it has none.
func (s *Seat) homeOf(cb Callback) *worker {
	if h, ok := cb.(Homed); ok {
		if i := h.Home(); i >= 0 {
			return s.workers[i%len(s.workers)]
		}
	}
	return nil
}

// oweWakeLocked records that the parked holder must be woken, once per
// park (wakeSent); the caller reports it, and Wake makes it with no lock
// held. It returns true.
func (s *Seat) oweWakeLocked() bool {
	s.wakeSent = true
	s.wakeOwed.Store(true)
	return true
}

// toOwnListLocked puts cb on w's own list and sees that w will look at
// it, as Handoff does for the ready list; true: a wake is owed. Under mu,
// w is in one of these states: in a round (it takes its list after the
// batch, or sees it under mu when the round ends), standing by (woken
// here), or the holder, parked or about to park (a wake is owed, and a
// holder leaving Park looks at its list before it parks again).
func (s *Seat) toOwnListLocked(w *worker, cb Callback) (wake bool) {
	w.homeMu.Lock()
	w.home = append(w.home, task{cb: cb})
	w.homeN.Store(int32(len(w.home)))
	w.homeMu.Unlock()
	switch {
	case w.inRound:
	case w.waiting:
		// One cond serves every standby worker: wake them all, and the
		// others wait again (there are few: two per ring by default).
		s.cond.Broadcast()
	case s.holder.Load() == w && s.parked && !s.wakeSent:
		wake = s.oweWakeLocked()
	}
	return wake
}

// Wake makes the wake a Handoff reported, if no one has made it yet; call
// it holding no lock (the backend's wake may be a system call).
func (s *Seat) Wake() {
	if s.wakeOwed.Load() && s.wakeOwed.Swap(false) {
		s.be.Wake()
	}
}

// Close refuses further hand-offs, lets the workers run what was handed
// off, and waits for them to exit. The backend must have closed what Park
// waits on first.
func (s *Seat) Close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.wg.Wait()
	s.watch.Stop()
	s.dogs.Wait()
}
