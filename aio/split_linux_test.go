//go:build linux

package aio

import (
	"testing"
	"time"
)

// TestHeavyReapedBatchesUseEveryReaper: chains whose operations complete
// through the ring (NOPs) and whose callbacks each take work (a spin of
// 20 µs, as a file chain's Statx and read do) run on both reapers
// (decision 77): the holder passes the CQEs of Aios homed on the other
// reaper to it once its batches are heavy. Without the split every
// reaped callback runs on the holder, and all but a stray few (a seat
// handed over when the machine is busy) on one goroutine.
func TestHeavyReapedBatchesUseEveryReaper(t *testing.T) {
	e := twoReaperEngine(t, "reaped batches")
	const chains, per = 16, 200
	runs, total, most := chainsPerReaper(t, e, chains, per, nil, func(a *Aio, _, left int) {
		if left < per {
			// A callback's work, as a file chain's Statx and read.
			for t0 := time.Now(); time.Since(t0) < 20*time.Microsecond; {
			}
		}
		a.Nop()
	})
	// Homes alternate between the two reapers; a split batch leaves the
	// holder its own half. Three in four on one reaper is far from the
	// all-on-one that no split gives.
	if len(runs) < 2 || most*4 > total*3 {
		t.Fatalf("the second halves of %d heavy chains ran on %d goroutines %v: %d of %d callbacks on one", chains, len(runs), runs, most, total)
	}
}
