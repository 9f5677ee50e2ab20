//go:build linux

package aio

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestCancelledSleepsAllCallBack: Aios cancelled from a goroutine of the
// program hand their callbacks to the reapers, each to its home reaper's
// own list when there are several Ps, while the seated reaper goes idle
// between bursts. Every callback must run. A hand-off to the holder's own
// list reported just before the holder published its idle park was a wake
// the idle holder never saw: one run in dozens of `go test ./aio/` hung
// in TestLeakMemoryBoundedInFlight's 4096 cancels (docs/reliability.md).
// Many short bursts with idle gaps give the race many chances.
func TestCancelledSleepsAllCallBack(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("hand-offs go to the reapers' own lists only with 2 or more Ps (seat.Config.Spread)")
	}
	e := relEngine(t, Config{})
	rounds, n := 40, 512
	if raceEnabled || testing.Short() {
		rounds = 10
	}
	var wg sync.WaitGroup
	aios := make([]*Aio, n)
	for i := range aios {
		aios[i] = e.NewAio(func(*Aio) { wg.Done() })
	}
	defer func() {
		if t.Failed() {
			return // an Aio whose callback was lost would block Free
		}
		for _, a := range aios {
			a.Free()
		}
	}()
	for r := 0; r < rounds; r++ {
		wg.Add(n)
		for _, a := range aios {
			a.Sleep(time.Hour)
		}
		for i, a := range aios {
			a.Cancel()
			// Spin a little now and then, so that the seated reaper
			// runs the callbacks handed to it and goes to park while
			// the next hand-offs arrive: the window of the race.
			for t0 := time.Now(); i%8 == 0 && time.Since(t0) < time.Duration(i%5)*5*time.Microsecond; {
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: cancelled Sleeps' callbacks missing after 10 s (a lost wake-up)", r)
		}
		// Let the seated reaper go idle before the next burst.
		time.Sleep(time.Duration(r%4) * 100 * time.Microsecond)
	}
}
