//go:build linux

package aio

// Package-internal checks of contract rules whose effect is not visible
// through the API: that Free and Reap really release the Aio's slot in the
// engine's table, and that callbacks run on the engine's workers.

import (
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/internal/portable"
	"github.com/aioring/aioring/internal/seat"
	"runtime"
	"testing"
	"time"
)

// reaperCount counts the engine's callback goroutines.
func reaperCount(e *Engine) int {
	if p, ok := e.shards[0].(*portable.Backend); ok {
		return p.Workers()
	}
	n := 0
	for _, sh := range e.shards {
		s := sh.(ringBackend)
		n += s.Reapers()
	}
	return n
}

// slotHolder returns the Aio the engine's table holds at idx.
func slotHolder(e *Engine, idx uint32) *Aio { return e.table.lookup(idx) }

// Rule "Reap from the callback is the only way to free an aio from its own
// callback": the slot is released once the callback has returned, and is
// reused by the next NewAio.
func TestInternalReapReleasesSlot(t *testing.T) {
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	returned := make(chan struct{})
	var a *Aio
	a = e.NewAio(func(cb *Aio) {
		cb.Reap()
		// Still in the callback: the slot must not be reused yet, since
		// the Aio is busy until the callback returns.
		if slotHolder(e, 0) != a {
			t.Error("slot released while the callback still runs")
		}
		close(returned)
	})
	if a.slot != 0 {
		t.Fatalf("first aio got slot %d, want 0", a.slot)
	}
	a.Sleep(time.Millisecond)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("no callback")
	}
	a.wait()
	// The release happens under a.mu right after busy drops to zero, so
	// taking the lock orders this check after it.
	a.mu.Lock()
	holder, slot := slotHolder(e, 0), a.slot
	a.mu.Unlock()
	if holder != nil {
		t.Fatalf("slot 0 still holds %p after Reap", holder)
	}
	if slot != noSlot {
		t.Fatalf("reaped aio keeps slot %d", slot)
	}
	b := e.NewAio(nil)
	if b.slot != 0 {
		t.Fatalf("the released slot was not reused: new aio got %d", b.slot)
	}
}

// Rule "Free: Stop, then release", and Stop alone keeps the slot.
func TestInternalFreeReleasesStopKeeps(t *testing.T) {
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a := e.NewAio(nil)
	idx := a.slot
	a.Sleep(time.Hour)
	a.Stop()
	if slotHolder(e, idx) != a {
		t.Fatal("Stop released the slot")
	}
	if a.Result() != ErrStopped {
		t.Fatalf("Result %v, want ErrStopped", a.Result())
	}
	a.Free()
	if slotHolder(e, idx) != nil {
		t.Fatal("Free kept the slot")
	}
}

// Rule "Exactly once ... never on the goroutine that started the op":
// every callback, including a start failure's, runs on one of the
// engine's reapers.
func TestInternalCallbacksOnWorkers(t *testing.T) {
	e, err := NewEngine(Config{Callbacks: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := make(chan bool, 2)
	a := e.NewAio(func(a *Aio) { got <- e.isEngineGoroutine(seat.GoroutineID()) })
	a.Nop()
	if !<-got {
		t.Fatal("Nop's callback ran outside the workers")
	}
	a.wait()
	a.Stop()
	a.Nop() // fails at start: ErrStopped
	if !<-got {
		t.Fatal("a start failure's callback ran outside the workers")
	}
	if n := reaperCount(e); n != 3 {
		t.Fatalf("%d callback goroutines, want Config.Callbacks = 3", n)
	}
}

// Rule "Cancel and Abort" relies on an op's user data naming that op alone:
// a cancel that reaches the kernel after its target completed must
// find nothing, not a later op. A new Aio that reuses a freed slot must
// therefore not repeat the user data of the previous occupant's ops (its
// generation continues from theirs), or a stale ASYNC_CANCEL aimed at the
// old Aio's last op cancels the new Aio's first one.
func TestInternalSlotReuseFreshUserData(t *testing.T) {
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a := e.NewAio(nil)
	seen := make(map[uint64]string)
	for i := 0; i < 3; i++ {
		a.Nop()
		a.wait()
		a.mu.Lock()
		seen[uint64(a.userData())] = "the first aio's op"
		a.mu.Unlock()
	}
	slot := a.slot
	a.Free()
	b := e.NewAio(nil)
	if b.slot != slot {
		t.Fatalf("the freed slot %d was not reused (got %d); the test needs reuse", slot, b.slot)
	}
	for i := 0; i < 3; i++ {
		b.Nop()
		b.wait()
		b.mu.Lock()
		ud := uint64(b.userData())
		b.mu.Unlock()
		if who, dup := seen[ud]; dup {
			t.Fatalf("op %d of the aio on the reused slot has user data %#x, already used by %s", i, ud, who)
		}
	}
}

// Config.Callbacks: 0 means max(2, GOMAXPROCS) callback goroutines.
func TestInternalDefaultCallbacks(t *testing.T) {
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got, want := reaperCount(e), max(2, runtime.GOMAXPROCS(0)); got != want {
		t.Fatalf("%d callback goroutines, want %d", got, want)
	}
}

// The description's vector bound and the contract's are one number.
func TestMaxIOVIsTheDescriptionsBound(t *testing.T) {
	if MaxIOV != op.MaxVec {
		t.Fatalf("aio.MaxIOV %d, op.MaxVec %d", MaxIOV, op.MaxVec)
	}
}

// A path Statx is made on its starter until one Aio's calls take long
// enough to have read the disk statxSlowInARow times in a row; then the
// next statxRingAfterSlow go through the ring, and the starter tries
// again. A single slow call between fast ones (a thread preempted during
// its call) changes nothing, nor do slow calls of different Aios that
// each had a fast one in between.
func TestStatxAdaptBacksOffAfterSlowInARow(t *testing.T) {
	var sa statxAdapt
	var a, b uint8 // two Aios' slow runs
	for i := range 10 {
		if !sa.tryInline() {
			t.Fatalf("try %d refused before any slow Statx", i)
		}
		sa.took(&a, time.Microsecond)
	}
	for i := range 100 { // preempted now and then: slow, fast, slow, fast
		sa.took(&a, statxSlow+time.Microsecond)
		sa.took(&b, statxSlow+time.Microsecond)
		sa.took(&a, time.Microsecond)
		sa.took(&b, time.Microsecond)
		if !sa.tryInline() {
			t.Fatalf("round %d: a lone slow call sent Statx to the ring", i)
		}
	}
	for range statxSlowInARow {
		sa.took(&a, statxSlow+time.Microsecond)
	}
	for i := range statxRingAfterSlow {
		if sa.tryInline() {
			t.Fatalf("Statx %d after %d slow ones in a row made inline, want the ring for %d", i, statxSlowInARow, statxRingAfterSlow)
		}
	}
	if !sa.tryInline() {
		t.Fatal("still refused after the ring's share")
	}
	if a&statxRunMask != 0 {
		t.Fatalf("the Aio's run is %d after it sent Statx to the ring, want it to start again from 0", a&statxRunMask)
	}
}

// An Aio times one inline Statx of a path in statxTimeEvery while they are
// fast, and every one after a slow one, so that a cold tree is still found
// within that many calls of one Aio (decision 67).
func TestStatxAdaptTimesOneInEvery(t *testing.T) {
	var sa statxAdapt
	var st uint8
	// call is one inline Statx as statxInline makes it; it reports
	// whether the call was timed.
	call := func(d time.Duration) bool {
		if sa.timeNext(st) {
			sa.took(&st, d)
			return true
		}
		sa.untimed(&st)
		return false
	}
	timed := 0
	for range 10 * statxTimeEvery {
		if call(time.Microsecond) {
			timed++
		}
	}
	if timed != 10 {
		t.Fatalf("%d of %d fast calls timed, want 10", timed, 10*statxTimeEvery)
	}
	if !sa.tryInline() {
		t.Fatal("fast calls sent Statx to the ring")
	}
	// A cold tree: every call slow from some point on.
	for i := 1; ; i++ {
		call(statxSlow + time.Microsecond)
		if !sa.tryInline() {
			if i > statxTimeEvery+statxSlowInARow-1 {
				t.Errorf("a cold tree found after %d slow calls of one Aio, want at most %d", i, statxTimeEvery+statxSlowInARow-1)
			}
			break
		}
		if i > 10*statxTimeEvery {
			t.Fatalf("%d slow calls in a row never sent Statx to the ring", i)
		}
	}
	// After a slow timed call the next one is timed, whatever its turn.
	st = 0
	sa.took(&st, time.Microsecond) // its turn passes
	if sa.timeNext(st) {
		t.Fatal("timed again right after a fast timed call")
	}
	st |= 1 // a slow one seen
	if !sa.timeNext(st) {
		t.Fatal("not timed right after a slow call")
	}
}
