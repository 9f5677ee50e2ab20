package seat

import (
	"sync/atomic"
	"testing"
	"time"
)

// fakeBackend parks on channels: an event carries a callback that the
// round adds to the batch.
type fakeBackend struct {
	events  chan Callback
	wake    chan struct{}
	closed  chan struct{}
	parked  chan int // each park's worker, best effort
	pending []Callback
	wakes   atomic.Int64
	lost    atomic.Int64
	stuck   atomic.Int64
	unstuck atomic.Int64
}

func newFake(workers int) *fakeBackend {
	return &fakeBackend{events: make(chan Callback, 64), wake: make(chan struct{}, 1),
		closed: make(chan struct{}), parked: make(chan int, 64), pending: make([]Callback, workers)}
}

func (f *fakeBackend) Park(w int) Park {
	select {
	case f.parked <- w:
	default:
	}
	select {
	case cb := <-f.events:
		f.pending[w] = cb
		return Ready
	case <-f.wake:
		return Again
	case <-f.closed:
		return Closed
	}
}

func (f *fakeBackend) Round(w int, b *Batch, look bool) bool {
	found := false
	if cb := f.pending[w]; cb != nil {
		f.pending[w] = nil
		addTo(b, cb)
		found = true
	}
	for look {
		select {
		case cb := <-f.events:
			addTo(b, cb)
			found = true
		default:
			look = false
		}
	}
	return found
}

func (f *fakeBackend) AfterBatch(int) {}
func (f *fakeBackend) BeginRound(int) {}
func (f *fakeBackend) EndRound(_ int, lost bool) {
	if lost {
		f.lost.Add(1)
	}
}
func (f *fakeBackend) Stuck(int)   { f.stuck.Add(1) }
func (f *fakeBackend) Unstuck(int) { f.unstuck.Add(1) }
func (f *fakeBackend) Wake() {
	f.wakes.Add(1)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// funcCallback runs fn.
type funcCallback struct {
	fn func(goid int64)
}

func (c *funcCallback) RunCallback(goid int64, _ uint64) { c.fn(goid) }

// argCallback is added to the batch with its word (Batch.AddArg), as a
// ring's round adds an operation's result; fn gets what RunCallback got.
type argCallback struct {
	word uint64
	fn   func(goid int64, arg uint64)
}

func (c *argCallback) RunCallback(goid int64, arg uint64) { c.fn(goid, arg) }

// batchEvent is one event of the fake that brings several callbacks at
// once, as a ring's round reaps many CQEs: they go into one batch.
type batchEvent []Callback

func (batchEvent) RunCallback(int64, uint64) { panic("a batchEvent is not run") }

// addTo adds cb to b as the fake's round does: an argCallback with its
// word, a batchEvent's callbacks each, any other without.
func addTo(b *Batch, cb Callback) {
	if be, ok := cb.(batchEvent); ok {
		for _, c := range be {
			addTo(b, c)
		}
		return
	}
	if ac, ok := cb.(*argCallback); ok {
		b.AddArg(cb, ac.word)
		return
	}
	b.Add(cb)
}

func startSeat(t *testing.T, f *fakeBackend, cfg Config) *Seat {
	t.Helper()
	s := New(f, cfg)
	s.Start()
	t.Cleanup(func() {
		select {
		case <-f.closed:
		default:
			close(f.closed)
			s.Close()
		}
	})
	return s
}

func waitChan[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// A hand-off to a parked holder, with no standby allowed to run it, owes
// exactly one wake; Handoff itself calls no hook, Wake does, and the
// callback then runs on a worker.
func TestHandoffWakesParkedHolder(t *testing.T) {
	f := newFake(2)
	s := startSeat(t, f, Config{Workers: 2, Watchdog: time.Millisecond})
	waitChan(t, f.parked, "the holder to park")
	ran := make(chan int64, 2)
	cb := &funcCallback{fn: func(goid int64) { ran <- goid }}
	ok, wake := s.Handoff(cb)
	if !ok || !wake {
		t.Fatalf("Handoff to a parked holder: ok %v, wake %v; want both", ok, wake)
	}
	if ok, wake := s.Handoff(cb); !ok || wake {
		t.Fatalf("second Handoff in one park: ok %v, wake %v; want true, false", ok, wake)
	}
	if n := f.wakes.Load(); n != 0 {
		t.Fatalf("Handoff called the backend's Wake %d times; only Wake may", n)
	}
	s.Wake()
	s.Wake() // one wake owed: the second does nothing
	for i := 0; i < 2; i++ {
		if g := waitChan(t, ran, "the handed-off callback"); !s.IsWorker(g) {
			t.Fatalf("callback ran on goroutine %d, not a worker", g)
		}
	}
	if n := f.wakes.Load(); n != 1 {
		t.Fatalf("backend woken %d times, want 1", n)
	}
}

// A callback that blocks in the holder's round: the watchdog hands the seat
// to the standby worker, which parks and serves the next event, whose
// callback releases the first.
func TestWatchdogHandsSeatOn(t *testing.T) {
	f := newFake(2)
	startSeat(t, f, Config{Workers: 2, Watchdog: time.Millisecond})
	release := make(chan struct{})
	started := make(chan int64, 1)
	f.events <- &funcCallback{fn: func(goid int64) {
		started <- goid
		<-release
	}}
	g1 := waitChan(t, started, "the blocking callback")
	second := make(chan int64, 1)
	f.events <- &funcCallback{fn: func(goid int64) {
		second <- goid
		close(release)
	}}
	if g2 := waitChan(t, second, "the second event's callback (the seat never moved)"); g2 == g1 {
		t.Fatalf("both callbacks ran on goroutine %d", g1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.lost.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if f.lost.Load() == 0 {
		t.Fatal("EndRound was never told the seat was lost")
	}
}

// Close runs what was handed off before it, on the workers, and refuses
// hand-offs after it.
func TestCloseRunsHandedOffThenRefuses(t *testing.T) {
	f := newFake(2)
	s := New(f, Config{Workers: 2, Watchdog: time.Millisecond})
	s.Start()
	waitChan(t, f.parked, "the holder to park")
	var ran atomic.Int64
	for i := 0; i < 10; i++ {
		if ok, _ := s.Handoff(&funcCallback{fn: func(goid int64) {
			if s.IsWorker(goid) {
				ran.Add(1)
			}
		}}); !ok {
			t.Fatal("Handoff refused before Close")
		}
	}
	close(f.closed) // the backend closes first: the parked holder's Park ends
	s.Close()
	if n := ran.Load(); n != 10 {
		t.Fatalf("%d of 10 handed-off callbacks ran on workers before Close returned", n)
	}
	if ok, _ := s.Handoff(&funcCallback{fn: func(int64) {}}); ok {
		t.Fatal("Handoff after Close succeeded")
	}
}

// selfChain is a callback that hands itself off again from inside itself
// until stop is closed, homed on the worker that first runs it (with
// Spread, so it stays there, as a chain of reads does); its first run
// blocks for block, long enough for the watchdog to act.
// steady is closed once the chain has run 10 times more on its home.
func selfChain(s *Seat, stop <-chan struct{}, block time.Duration) (cb *homedCallback, steady chan struct{}) {
	cb = &homedCallback{home: -1}
	steady = make(chan struct{})
	first, runs := true, 0
	cb.fn = func(goid int64) {
		if first {
			first = false
			for i, w := range s.workers {
				if w.goid == goid {
					cb.home = i
				}
			}
			time.Sleep(block)
			// The watchdog has marked this worker stuck, and a hand-off
			// skips a stuck home: the chain goes on from outside, once
			// the worker has moved again.
			go func() {
				time.Sleep(2 * time.Millisecond)
				if _, wake := s.Handoff(cb); wake {
					s.Wake()
				}
			}()
			return
		}
		if runs++; runs == 10 {
			close(steady)
		}
		select {
		case <-stop:
			return
		default:
		}
		s.Handoff(cb) // back on its home's own list: never stuck, never idle
	}
	return cb, steady
}

// The watchdog can leave the seat vacant: it takes it from a holder stuck
// in a callback while the only other worker runs a chain homed on itself,
// and nobody is idle to be given it. A worker that runs such a chain must
// take the vacant seat; otherwise events wait for as long as the chains go
// on, which for chains that never pass through the backend (reads that
// finish on their starter) is for ever.
func TestVacantSeatIsTaken(t *testing.T) {
	f := newFake(2)
	s := startSeat(t, f, Config{Workers: 2, Watchdog: time.Millisecond, TakeVacant: true, Spread: true})
	stop := make(chan struct{})
	defer close(stop)
	first := waitChan(t, f.parked, "the first holder to park")
	// Chain A blocks the holder: the seat goes to the idle worker, which
	// parks; A goes on, on its first worker, its home.
	a, steady := selfChain(s, stop, 20*time.Millisecond)
	f.events <- a
	for w := waitChan(t, f.parked, "the seat's second holder to park"); w == first; {
		w = waitChan(t, f.parked, "the seat's second holder to park")
	}
	waitChan(t, steady, "chain A to run on its home")
	// B blocks the second holder until the end: the watchdog takes the
	// seat and finds nobody idle to give it to (A's worker is in a round
	// of its own list), and the blocked holder never comes back for it.
	f.events <- &funcCallback{fn: func(int64) { <-stop }}
	time.Sleep(20 * time.Millisecond)
	served := make(chan struct{})
	f.events <- &funcCallback{fn: func(int64) { close(served) }}
	waitChan(t, served, "an event while a chain runs and the holder blocks (the seat left vacant)")
}

// A callback that blocks in a batch: the callbacks after it in the same
// batch run on another worker while it blocks (the watchdog steals them),
// each exactly once and with the word it was added with (AddArg), and the
// backend hears Stuck, then Unstuck when the blocked callback returns.
func TestWatchdogStealsBatchBehindBlockedCallback(t *testing.T) {
	for _, standby := range []bool{false, true} {
		f := newFake(3)
		startSeat(t, f, Config{Workers: 3, Watchdog: time.Millisecond, StandbyRuns: standby})
		gate := make(chan struct{})
		f.events <- &funcCallback{fn: func(int64) { <-gate }} // holds the round while the batch queues
		const behind = 5
		var ran [behind]atomic.Int32
		allRan := make(chan struct{})
		var left atomic.Int32
		left.Store(behind)
		blocked := make(chan int64, 1)
		saw := make(chan bool, 1)
		f.events <- &funcCallback{fn: func(goid int64) {
			blocked <- goid
			select {
			case <-allRan:
				saw <- true
			case <-time.After(10 * time.Second):
				saw <- false
			}
		}}
		var wrongWord atomic.Int32
		for i := 0; i < behind; i++ {
			f.events <- &argCallback{word: uint64(1000 + i), fn: func(_ int64, arg uint64) {
				if arg != uint64(1000+i) {
					wrongWord.Add(1)
				}
				if ran[i].Add(1) == 1 && left.Add(-1) == 0 {
					close(allRan)
				}
			}}
		}
		close(gate) // the next round takes the blocking callback and those behind it in one batch
		waitChan(t, blocked, "the blocking callback")
		if !waitChan(t, saw, "the blocking callback's end") {
			t.Fatalf("standby runs %v: the callbacks batched behind a blocked one did not run while it blocked", standby)
		}
		for i := range ran {
			if n := ran[i].Load(); n != 1 {
				t.Fatalf("standby runs %v: callback %d ran %d times", standby, i, n)
			}
		}
		if n := wrongWord.Load(); n != 0 {
			t.Fatalf("standby runs %v: %d stolen callbacks ran without the word they were added with", standby, n)
		}
		// Stuck is called after the steal, so it may come after the
		// stolen callbacks ran.
		deadline := time.Now().Add(10 * time.Second)
		for f.stuck.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if f.stuck.Load() == 0 {
			t.Fatalf("standby runs %v: the backend never heard Stuck", standby)
		}
		for f.unstuck.Load() != f.stuck.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if u, s := f.unstuck.Load(), f.stuck.Load(); u != s {
			t.Fatalf("standby runs %v: Stuck %d times, Unstuck %d", standby, s, u)
		}
	}
}

// homedCallback is a funcCallback with a home worker.
type homedCallback struct {
	funcCallback
	home int
}

func (c *homedCallback) Home() int { return c.home }

// With Spread, hand-offs of Homed callbacks run on their home workers,
// whichever holds the seat: the standby is woken for its own, and the
// parked holder owes a wake for its own.
func TestSpreadRunsOnHomeWorker(t *testing.T) {
	f := newFake(2)
	s := startSeat(t, f, Config{Workers: 2, Watchdog: time.Second, Spread: true})
	waitChan(t, f.parked, "the holder to park")
	ran := make(chan [2]int64, 8)
	for round := 0; round < 3; round++ {
		for home := 0; home < 4; home++ {
			cb := &homedCallback{home: home}
			cb.fn = func(goid int64) { ran <- [2]int64{int64(home % 2), goid} }
			ok, wake := s.Handoff(cb)
			if !ok {
				t.Fatal("Handoff refused before Close")
			}
			if wake {
				s.Wake()
			}
		}
		for range 4 {
			got := waitChan(t, ran, "a homed callback to run")
			if want := s.workers[got[0]].goid; got[1] != want {
				t.Fatalf("callback homed on worker %d ran on goroutine %d, want %d", got[0], got[1], want)
			}
		}
	}
}

// A home worker that blocks in a callback gives up what was sent home to
// it: the watchdog moves it to the ready list and the seat runs it
// elsewhere, so a blocked callback holds back nothing but itself.
func TestSpreadStuckHomeReleases(t *testing.T) {
	f := newFake(2)
	s := startSeat(t, f, Config{Workers: 2, Watchdog: 5 * time.Millisecond, Spread: true})
	waitChan(t, f.parked, "the holder to park")
	block, blocked := make(chan struct{}), make(chan int64, 1)
	defer close(block)
	// Worker 1 stands by: a callback homed there blocks it.
	first := &homedCallback{home: 1}
	first.fn = func(goid int64) { blocked <- goid; <-block }
	if _, wake := s.Handoff(first); wake {
		s.Wake()
	}
	g := waitChan(t, blocked, "the first callback to block")
	if g != s.workers[1].goid {
		t.Fatalf("the callback homed on worker 1 ran on goroutine %d, want %d", g, s.workers[1].goid)
	}
	ran := make(chan int64, 1)
	second := &homedCallback{home: 1}
	second.fn = func(goid int64) { ran <- goid }
	if _, wake := s.Handoff(second); wake {
		s.Wake()
	}
	if g := waitChan(t, ran, "a callback homed on a blocked worker to run elsewhere"); g == s.workers[1].goid {
		t.Fatal("ran on the blocked worker")
	}
}

// workerOf returns the number of the worker whose goroutine is goid, or -1.
func workerOf(s *Seat, goid int64) int {
	for _, w := range s.workers {
		if w.goid == goid {
			return w.id
		}
	}
	return -1
}

// HandoffTo from inside a worker's callback runs the handed-off callback
// on that same worker, after the running one returns and without a wake;
// if the worker's callback blocks, the watchdog releases it to another
// worker, so it does not wait for the blocked one.
func TestHandoffToRunsOnTheCallersWorker(t *testing.T) {
	for _, spread := range []bool{false, true} {
		f := newFake(2)
		s := startSeat(t, f, Config{Workers: 2, Watchdog: 5 * time.Millisecond, Spread: spread})
		type ran struct {
			goid  int64
			after bool // the first callback had returned
		}
		got := make(chan ran, 1)
		var returned atomic.Bool
		first := make(chan int64, 1)
		f.events <- &funcCallback{fn: func(goid int64) {
			w := workerOf(s, goid)
			ok, wake := s.HandoffTo(w, &funcCallback{fn: func(g int64) { got <- ran{g, returned.Load()} }})
			if !ok || wake {
				t.Errorf("HandoffTo from worker %d's round: ok %v, wake %v; want true, false", w, ok, wake)
			}
			first <- goid
			time.Sleep(time.Millisecond) // give another worker every chance to take it
			returned.Store(true)
		}}
		g1 := waitChan(t, first, "the first callback")
		r := waitChan(t, got, "the handed-off callback")
		if r.goid != g1 || !r.after {
			t.Fatalf("spread %v: handed-off callback ran on goroutine %d (after the first returned: %v); want %d, after", spread, r.goid, r.after, g1)
		}
		if n := f.wakes.Load(); n != 0 {
			t.Fatalf("spread %v: %d wakes for a hand-off to the running worker", spread, n)
		}

		// The caller's callback blocks: the callback it handed off runs
		// elsewhere meanwhile.
		release := make(chan struct{})
		f.events <- &funcCallback{fn: func(goid int64) {
			s.HandoffTo(workerOf(s, goid), &funcCallback{fn: func(g int64) { got <- ran{g, false} }})
			first <- goid
			<-release
		}}
		g1 = waitChan(t, first, "the blocking callback")
		r = waitChan(t, got, "the callback handed off by a blocked one")
		close(release)
		if r.goid == g1 {
			t.Fatalf("spread %v: the hand-off ran on the blocked worker's goroutine %d", spread, g1)
		}
	}
}

// movableCallback is a funcCallback that a heavy batch may pass to the
// worker MoveTo names (Movable).
type movableCallback struct {
	funcCallback
	to int
}

func (c *movableCallback) MoveTo() int { return c.to }

// spin keeps the calling goroutine busy for d, as a callback that makes
// system calls does.
func spin(d time.Duration) {
	for t0 := time.Now(); time.Since(t0) < d; {
	}
}

// splitRun feeds the parked holder n batches of 8 callbacks that each
// take work, alternately meant for worker 0 and 1 (Movable, or only
// Homed when movable is false), one batch after the other, and returns,
// per batch, how many of those meant for worker 1 ran there. Every
// callback must run exactly once.
func splitRun(t *testing.T, s *Seat, f *fakeBackend, n int, work time.Duration, movable bool) []int {
	t.Helper()
	onOne := make([]int, n)
	for b := 0; b < n; b++ {
		ran := make([]int64, 8)
		var done atomic.Int32
		finished := make(chan struct{})
		ev := make(batchEvent, 8)
		for i := range ev {
			fn := func(goid int64) {
				spin(work)
				if ran[i] != 0 {
					t.Errorf("batch %d: callback %d ran twice", b, i)
				}
				ran[i] = goid
				if done.Add(1) == int32(len(ev)) {
					close(finished)
				}
			}
			if movable {
				ev[i] = &movableCallback{funcCallback{fn}, i % 2}
			} else {
				ev[i] = &homedCallback{funcCallback{fn}, i % 2}
			}
		}
		waitChan(t, f.parked, "the holder to park")
		f.events <- ev
		waitChan(t, finished, "a batch's callbacks")
		for i := 1; i < len(ev); i += 2 {
			if workerOf(s, ran[i]) == 1 {
				onOne[b]++
			}
		}
	}
	return onOne
}

// A batch whose callbacks take work (decision 77) is split once the
// worker has seen it is heavy: the Movable callbacks meant for the
// standby worker run there, while the holder runs its own. A callback
// that is only Homed stays (its Home may want its own lock), and light
// batches are never split.
func TestSplitHeavyBatch(t *testing.T) {
	f := newFake(2)
	s := startSeat(t, f, Config{Workers: 2, Watchdog: time.Second, Spread: true})
	heavy := splitRun(t, s, f, 12, 20*time.Microsecond, true)
	// The average reaches splitHeavy by the fourth batch (samples are
	// capped at splitSampleMax); from then on every batch is split.
	if moved := heavy[len(heavy)-1]; moved != 4 {
		t.Fatalf("heavy batches: callbacks meant for worker 1 that ran there, per batch: %v; want 4 in the last", heavy)
	}
	if heavy[0] != 0 {
		t.Fatalf("the first heavy batch was split before any was timed: %v", heavy)
	}

	f = newFake(2)
	s = startSeat(t, f, Config{Workers: 2, Watchdog: time.Second, Spread: true})
	if homed := splitRun(t, s, f, 12, 20*time.Microsecond, false); homed[len(homed)-1] != 0 {
		t.Fatalf("Homed but not Movable callbacks were moved: %v per batch", homed)
	}

	f = newFake(2)
	s = startSeat(t, f, Config{Workers: 2, Watchdog: time.Second, Spread: true})
	light := splitRun(t, s, f, 12, 0, true)
	total := 0
	for _, m := range light {
		total += m
	}
	// A light batch preempted by the kernel counts for at most
	// splitSampleMax per callback; it takes two such in a row to split
	// one: allow that, not more. Not under the race detector, whose
	// instrumentation of the seat's own code makes a callback that does
	// nothing cost more than splitHeavy (the bound failed in 6 of 30
	// runs with -race, none of 30 without).
	if total > 8 && !raceEnabled {
		t.Fatalf("light batches were split: %v of their callbacks meant for worker 1 ran there, per batch", light)
	}

	f = newFake(2)
	s = startSeat(t, f, Config{Workers: 2, Watchdog: time.Second})
	if off := splitRun(t, s, f, 12, 20*time.Microsecond, true); off[len(off)-1] != 0 {
		t.Fatalf("split without Spread: %v per batch", off)
	}
}
