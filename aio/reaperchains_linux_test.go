//go:build linux

package aio

import (
	"runtime"
	"sync"
	"testing"

	"github.com/aioring/aioring/internal/seat"
)

// twoReaperEngine returns an engine of one ring with two reapers, or
// skips the test where there is no second reaper for a chain to go to:
// with one P (no seat.Config.Spread), or on another backend. what says
// what the test watches go there.
func twoReaperEngine(t *testing.T, what string) *Engine {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip(what, " go to a home reaper only with 2 or more Ps (seat.Config.Spread)")
	}
	e := relEngine(t, Config{Callbacks: 2, Rings: 1})
	if e.Backend() != BackendIOURing {
		t.Skip("homes are the ring's reapers'; this engine runs ", e.Backend())
	}
	return e
}

// chainsPerReaper runs chains Aios, each a chain of per operations
// restarted from its callback: step starts chain i's operation, left
// counting down from per (the first, started here) to 1. prepare, if not
// nil, readies each Aio once. It counts, over the second half of every
// chain, which reaper goroutine ran each callback, and returns the
// counts, their total and the largest.
func chainsPerReaper(t *testing.T, e *Engine, chains, per int, prepare func(a *Aio), step func(a *Aio, i, left int)) (runs map[int64]int, total, most int) {
	t.Helper()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	runs = map[int64]int{}
	aios := make([]*Aio, chains)
	for i := range aios {
		left := per
		wg.Add(1)
		aios[i] = e.NewAio(func(a *Aio) {
			if err := a.Result(); err != nil {
				t.Errorf("chain %d: %v", i, err)
				wg.Done()
				return
			}
			left--
			if left < per/2 {
				mu.Lock()
				runs[seat.GoroutineID()]++
				mu.Unlock()
			}
			if left == 0 {
				wg.Done()
				return
			}
			step(a, i, left)
		})
		if prepare != nil {
			prepare(aios[i])
		}
	}
	for i, a := range aios {
		step(a, i, per)
	}
	wg.Wait()
	for _, a := range aios {
		a.Free()
	}
	for _, n := range runs {
		total += n
		most = max(most, n)
	}
	return runs, total, most
}
