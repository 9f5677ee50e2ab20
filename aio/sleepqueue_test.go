package aio

import (
	"sync"
	"testing"
	"time"
)

// A Sleep callback that blocks must not hold back the other Sleeps that
// came due with it (the contract: a callback that blocks holds back
// nothing but itself). Here the first of a batch waits for all the
// others' callbacks; only the queue's watchdog, taking the rest of the
// batch to a new runner, lets them run. The rounds go on until one batch
// held more than one Sleep and the watchdog took it (nearly always the
// first): a queue that never batches, or a watchdog that never takes,
// fails as surely as one that deadlocks.
func TestSleepQueueBlockedCallbackHoldsBackNoOther(t *testing.T) {
	e := testEngine(t)
	const others = 16
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		wg.Add(others)
		released := make(chan struct{})
		heldBack := false
		first := e.NewAio(func(a *Aio) {
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				heldBack = true
			}
			close(released)
		})
		aios := make([]*Aio, others)
		for i := range aios {
			aios[i] = e.NewAio(func(*Aio) { wg.Done() })
		}
		first.Sleep(5 * time.Millisecond)
		for _, a := range aios {
			a.Sleep(5 * time.Millisecond)
		}
		<-released
		if heldBack {
			t.Fatalf("round %d: the other Sleeps' callbacks did not run while the first one's blocked", round)
		}
		first.Wait()
		first.Free()
		for _, a := range aios {
			a.Wait()
			a.Free()
		}
		if n := e.sleeps.taken.Load(); n > 0 {
			t.Logf("the watchdog took a batch's rest %d time(s), in round %d", n, round)
			return
		}
	}
	t.Fatal("in 20 rounds no Sleep callback blocked a batch with others in it: the queue did not batch, or its watchdog did not take the rest")
}

// Sleeps that end otherwise (cancelled) leave their entries in the heap
// until a fire or a compaction drops them: a program that cancels long
// Sleeps over and over must not grow the heap with them.
func TestSleepQueueWithdrawnEntriesDoNotAccumulate(t *testing.T) {
	e := testEngine(t)
	a := e.NewAio(nil)
	defer a.Free()
	const n = 10000
	for i := 0; i < n; i++ {
		a.Sleep(time.Hour)
		a.Cancel()
		a.Wait()
		if err := a.Result(); err != ErrCanceled {
			t.Fatalf("Sleep %d: %v, want ErrCanceled", i, err)
		}
	}
	e.sleeps.mu.Lock()
	size, zombies := len(e.sleeps.heap), e.sleeps.zombies.Load()
	e.sleeps.mu.Unlock()
	t.Logf("after %d cancelled Sleeps of an hour: %d entries in the heap, %d of them withdrawn", n, size, zombies)
	if size > 2*compactMin {
		t.Fatalf("%d entries in the heap after %d cancelled Sleeps, want at most %d", size, n, 2*compactMin)
	}
	// The next Sleep is still served.
	a.Sleep(time.Millisecond)
	a.Wait()
	if err := a.Result(); err != nil {
		t.Fatalf("Sleep after the cancels: %v", err)
	}
}

// After 2^31 arms an Aio's arm sequence wraps; an entry left in the heap
// from the last time that sequence came round (a cancelled long Sleep)
// must not pass for the new arm. Here such an entry, due in 10 ms, is put
// in the heap by hand, and the Aio's sequence is set just before the
// wrap: the Sleep of an hour that wraps it must still be asleep after
// 100 ms.
func TestSleepQueueWrappedSequenceIgnoresOldEntries(t *testing.T) {
	e := testEngine(t)
	a := e.NewAio(nil)
	defer a.Free()
	a.Sleep(time.Hour) // makes the queue's timers
	a.Cancel()
	a.Wait()

	q := &e.sleeps
	a.mu.Lock()
	q.mu.Lock()
	q.pushLocked(sleepEntry{at: e.clock.now() + int64(10*time.Millisecond), a: a, seq: 0})
	q.zombies.Add(1) // as its withdrawal counted it
	if q.setAt == 0 || q.heap[0].at < q.setAt {
		q.setAt = q.heap[0].at
		q.t.Reset(time.Duration(q.setAt - e.clock.now()))
	}
	q.mu.Unlock()
	a.qstate.Store((1<<31 - 1) << 1) // the last arm, withdrawn: the next one wraps to 0
	a.mu.Unlock()

	a.Sleep(time.Hour)
	time.Sleep(100 * time.Millisecond)
	if !a.Busy() {
		a.Wait()
		t.Fatalf("the Sleep of an hour ended after 100 ms (%v): an entry from before the wrap ended it", a.Result())
	}
	a.Cancel()
	a.Wait()
	if err := a.Result(); err != ErrCanceled {
		t.Fatalf("cancelled Sleep: %v, want ErrCanceled", err)
	}
}
