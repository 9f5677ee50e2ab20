//go:build linux

package aio

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aioring/aioring/internal/seat"
)

// TestHeavyReapedBatchesUseEveryReaper: chains whose operations complete
// through the ring (NOPs) and whose callbacks each take work (a spin of
// 20 µs, as a file chain's Statx and read do) run on both reapers
// (decision 77): the holder passes the CQEs of Aios homed on the other
// reaper to it once its batches are heavy. Without the split every
// reaped callback runs on the holder, and all but a stray few (a seat
// handed over when the machine is busy) on one goroutine.
func TestHeavyReapedBatchesUseEveryReaper(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("reaped batches are split only with 2 or more Ps (seat.Config.Spread)")
	}
	e := relEngine(t, Config{Callbacks: 2, Rings: 1})
	if e.Backend() != BackendIOURing {
		t.Skip("the split is of a ring's reaped batches; this engine runs ", e.Backend())
	}
	const chains, per = 16, 200
	var (
		mu   sync.Mutex
		runs = map[int64]int{} // reaper goroutine -> callbacks it ran in the second halves
		wg   sync.WaitGroup
	)
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
			for t0 := time.Now(); time.Since(t0) < 20*time.Microsecond; {
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
			a.Nop()
		})
	}
	for _, a := range aios {
		a.Nop()
	}
	wg.Wait()
	for _, a := range aios {
		a.Free()
	}
	total, most := 0, 0
	for _, n := range runs {
		total += n
		most = max(most, n)
	}
	// Homes alternate between the two reapers; a split batch leaves the
	// holder its own half. Three in four on one reaper is far from the
	// all-on-one that no split gives.
	if len(runs) < 2 || most*4 > total*3 {
		t.Fatalf("the second halves of %d heavy chains ran on %d goroutines %v: %d of %d callbacks on one", chains, len(runs), runs, most, total)
	}
}
