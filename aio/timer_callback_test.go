package aio_test

// Timers at AfterFunc's cost (issue 17 item 2): a Sleep's callback runs on
// the goroutine its runtime timer starts, one of the engine's goroutines
// (the contract, "Exactly once"), with every rule kept: exactly once,
// Wait/Stop/Free from the callback panic naming Reap, Wait from another
// goroutine waits, Close from the callback panics, Close waits for it.

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
)

// eachTimerIdentity runs test once for each way a callback on a timer's
// goroutine can be named (timercb.go): by the goroutine's token where
// internal/gtoken has one, and by the digit chain, which architectures
// without tokens use.
func eachTimerIdentity(t *testing.T, test func(*testing.T)) {
	modes := []bool{false}
	if aio.TimerTokensAvailable {
		modes = append(modes, true)
	}
	for _, tokens := range modes {
		name := map[bool]string{false: "chain", true: "token"}[tokens]
		t.Run(name, func(t *testing.T) {
			defer aio.SetTimerTokens(tokens)()
			test(t)
		})
	}
}

// 100 000 Sleeps of 1-20 ms on 1 000 Aios (each restarting from its
// callback, 100 times): every one ends exactly once, never early, and the
// median and 99th percentile lateness stay under generous bounds (this is
// no timing claim: the bounds catch a serialised reaper, which took
// hundreds of milliseconds at p50). On io_uring, timers wake the ring
// rarely: far fewer engine wakeups than Sleeps.
func TestSleepsManyLateness(t *testing.T) {
	const aios, rounds = 1000, 100
	e := newEngine(t, aio.Config{})
	before := e.Stats()
	lateness := make([][]time.Duration, aios)
	var early, calls atomic.Int64
	var wg sync.WaitGroup
	wg.Add(aios)
	for i := 0; i < aios; i++ {
		d := time.Duration(1+i%20) * time.Millisecond
		n := 0
		var at time.Time
		lateness[i] = make([]time.Duration, 0, rounds)
		var a *aio.Aio
		a = e.NewAio(func(a *aio.Aio) {
			calls.Add(1)
			late := time.Since(at) - d
			if late < 0 {
				early.Add(1)
			}
			lateness[i] = append(lateness[i], late)
			if err := a.Result(); err != nil {
				t.Errorf("Sleep: %v", err)
			}
			if n++; n < rounds {
				at = time.Now()
				a.Sleep(d)
				return
			}
			wg.Done()
		})
		at = time.Now()
		a.Sleep(d)
		defer a.Free()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Fatalf("%d of %d Sleeps ended", calls.Load(), aios*rounds)
	}
	if n := calls.Load(); n != aios*rounds {
		t.Fatalf("%d callbacks for %d Sleeps", n, aios*rounds)
	}
	if n := early.Load(); n != 0 {
		t.Fatalf("%d Sleeps ended before their duration", n)
	}
	var all []time.Duration
	for _, l := range lateness {
		all = append(all, l...)
	}
	slices.Sort(all)
	p50, p99 := all[len(all)/2], all[len(all)*99/100]
	t.Logf("lateness p50 %v, p99 %v, max %v", p50, p99, all[len(all)-1])
	if p50 > 50*time.Millisecond || p99 > 500*time.Millisecond {
		t.Fatalf("lateness p50 %v, p99 %v: Sleeps' callbacks are being serialised", p50, p99)
	}
	if e.Backend() == aio.BackendIOURing {
		if w := e.Stats().Wakeups - before.Wakeups; w > aios*rounds/100 {
			t.Fatalf("%d engine wakeups for %d Sleeps: timers still wake the ring", w, aios*rounds)
		}
	}
}

// Wait, Stop and Free from a Sleep's own callback panic naming Reap, and
// Reap works there; Wait from another goroutine while that callback runs
// waits for it; so do Stop and Free; another Aio's Wait from the callback
// does not panic.
func TestSleepCallbackOwnWaitPanics(t *testing.T) {
	eachTimerIdentity(t, testSleepCallbackOwnWaitPanics)
}

func testSleepCallbackOwnWaitPanics(t *testing.T) {
	e := newEngine(t, aio.Config{})
	for _, what := range []string{"Wait", "Stop", "Free"} {
		msgs := make(chan string, 1)
		other := e.NewAio(nil)
		other.Nop()
		a := e.NewAio(func(a *aio.Aio) {
			other.Wait() // another Aio's: no panic
			var msg string
			func() {
				defer func() { msg = panicText(recover()) }()
				switch what {
				case "Wait":
					a.Wait()
				case "Stop":
					a.Stop()
				case "Free":
					a.Free()
				}
			}()
			msgs <- msg
		})
		a.Sleep(time.Millisecond)
		msg := <-msgs
		if !strings.Contains(msg, "Reap") {
			t.Fatalf("%s from a Sleep's own callback: panic %q, want one naming Reap", what, msg)
		}
		a.Wait()
		a.Free()
		other.Free()
	}
	// From another goroutine: Wait and Stop wait for the callback.
	release := make(chan struct{})
	entered := make(chan struct{})
	var returned atomic.Bool
	a := e.NewAio(func(a *aio.Aio) {
		close(entered)
		<-release
		returned.Store(true)
	})
	a.Sleep(time.Millisecond)
	<-entered
	waited := make(chan struct{})
	go func() {
		a.Wait()
		a.Stop()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("Wait from another goroutine returned while the Sleep's callback ran")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-waited
	if !returned.Load() {
		t.Fatal("Wait returned before the callback did")
	}
	a.Reap()
}

// Close from a Sleep's callback panics; Close from elsewhere waits for a
// Sleep's callback that is running.
func TestSleepCallbackAndClose(t *testing.T) { eachTimerIdentity(t, testSleepCallbackAndClose) }

func testSleepCallbackAndClose(t *testing.T) {
	e := newEngine(t, aio.Config{})
	msgs := make(chan string, 1)
	a := e.NewAio(func(*aio.Aio) {
		defer func() { msgs <- panicText(recover()) }()
		e.Close()
	})
	a.Sleep(time.Millisecond)
	if msg := <-msgs; !strings.Contains(msg, "Close") {
		t.Fatalf("Close from a Sleep's callback: panic %q, want one about Close", msg)
	}
	a.Wait()

	release := make(chan struct{})
	entered := make(chan struct{})
	var returned atomic.Bool
	b := e.NewAio(func(*aio.Aio) {
		close(entered)
		<-release
		time.Sleep(time.Millisecond)
		returned.Store(true)
	})
	b.Sleep(time.Millisecond)
	<-entered
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a Sleep's callback ran")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-closed
	if !returned.Load() {
		t.Fatal("Close returned before the Sleep's callback did")
	}
}

// A Sleep's callback that restarts the Aio with an operation that ends at
// once (a zero-timeout Sleep, a Nop) gets each callback exactly once and
// never two at a time, wherever they run.
func TestSleepCallbackRestartsNoOverlap(t *testing.T) {
	e := newEngine(t, aio.Config{})
	const chain = 300
	var running, overlaps, calls atomic.Int32
	done := make(chan struct{})
	a := e.NewAio(func(a *aio.Aio) {
		if running.Add(1) != 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		n := calls.Add(1)
		switch {
		case n == chain:
			close(done)
		case n%3 == 0:
			a.Nop()
			time.Sleep(10 * time.Microsecond) // let the Nop's callback try to run beside this one
		case n%3 == 1:
			a.SetTimeout(0)
			a.Sleep(time.Second) // ends at once: ErrTimedOut
			a.SetTimeout(aio.DefaultTimeout)
		default:
			a.Sleep(50 * time.Microsecond)
		}
	})
	defer a.Free()
	a.Sleep(time.Millisecond)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("chain stalled after %d callbacks", calls.Load())
	}
	a.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d of %d callbacks overlapped another of the same Aio", n, calls.Load())
	}
	if n := calls.Load(); n != chain {
		t.Fatalf("%d callbacks, want %d", n, chain)
	}
}

// The identity the own-callback checks read on a timer's goroutine is an
// Aio's slot and its engine's timer index: Aios of two engines that share a
// slot number are still told apart. Both engines' first Aios (the same
// slot) run Sleep callbacks on timer goroutines at once; engine 1's waits
// on engine 2's while that one still runs, which is not its own and must
// wait, not panic; each then waits on its own, which must panic.
func TestSleepCallbackOwnCheckAcrossEngines(t *testing.T) {
	eachTimerIdentity(t, testSleepCallbackOwnCheckAcrossEngines)
}

func testSleepCallbackOwnCheckAcrossEngines(t *testing.T) {
	e1, e2 := newEngine(t, aio.Config{}), newEngine(t, aio.Config{})
	own := func(a *aio.Aio) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = panicText(r)
			}
		}()
		a.Wait()
		return ""
	}
	results := make(chan string, 2)
	entered, release := make(chan struct{}), make(chan struct{})
	a2 := e2.NewAio(func(a *aio.Aio) {
		close(entered)
		<-release // still running when engine 1's callback checks it
		if msg := own(a); !strings.Contains(msg, "Reap") {
			results <- fmt.Sprintf("engine 2: own Wait: panic %q, want one naming Reap", msg)
			return
		}
		results <- ""
	})
	a1 := e1.NewAio(func(a *aio.Aio) {
		<-entered
		time.AfterFunc(20*time.Millisecond, func() { close(release) })
		if msg := own(a2); msg != "" {
			results <- "engine 1: Wait on another engine's Aio with the same slot, whose callback runs: panic " + msg
			return
		}
		if msg := own(a); !strings.Contains(msg, "Reap") {
			results <- fmt.Sprintf("engine 1: own Wait: panic %q, want one naming Reap", msg)
			return
		}
		results <- ""
	})
	a2.Sleep(time.Millisecond)
	a1.Sleep(time.Millisecond)
	for i := 0; i < 2; i++ {
		if r := <-results; r != "" {
			t.Error(r)
		}
	}
	a1.Wait()
	a2.Wait()
	a1.Free()
	a2.Free()
}
