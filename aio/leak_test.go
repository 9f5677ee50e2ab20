//go:build linux

package aio

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Leaks and bounds: after a million operations and after a hundred engines
// opened and closed, the process's goroutines, descriptors, memory mappings
// and live heap are back where they started; and the memory an engine
// holds does not grow with the number of operations it has run.

// procSnapshot is what the process holds at one moment.
type procSnapshot struct {
	goroutines int
	fds        int
	maps       int    // io_uring mappings in /proc/self/maps: each ring's SQ, CQ and SQEs
	heap       uint64 // live heap after a full GC
}

func countDir(t *testing.T, path string) int {
	ents, err := os.ReadDir(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func takeSnapshot(t *testing.T) procSnapshot {
	t.Helper()
	runtime.GC()
	runtime.GC() // the second cycle frees what finalizers of the first released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return procSnapshot{
		goroutines: runtime.NumGoroutine(),
		fds:        countDir(t, "/proc/self/fd"),
		maps:       strings.Count(string(maps), "[io_uring]"),
		heap:       ms.HeapAlloc,
	}
}

// heapSlack is how much the live heap may differ from its baseline: the
// runtime's own caches (timers, sync.Pool, profiling buckets) move by a
// few hundred KiB from one GC to the next.
const heapSlack = 1 << 20

// expectBaseline waits up to a few seconds for goroutines that are exiting
// to finish, then checks the process is back at base.
func expectBaseline(t *testing.T, what string, base procSnapshot) procSnapshot {
	t.Helper()
	var now procSnapshot
	for deadline := time.Now().Add(5 * time.Second); ; {
		now = takeSnapshot(t)
		if now.goroutines <= base.goroutines && now.fds <= base.fds && now.maps <= base.maps ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a wait with a deadline
	}
	t.Logf("%s: goroutines %d -> %d, fds %d -> %d, io_uring maps %d -> %d, live heap %d KiB -> %d KiB",
		what, base.goroutines, now.goroutines, base.fds, now.fds, base.maps, now.maps, base.heap>>10, now.heap>>10)
	if now.goroutines > base.goroutines {
		t.Errorf("%s: %d goroutines remain, baseline %d", what, now.goroutines, base.goroutines)
	}
	if now.fds > base.fds {
		t.Errorf("%s: %d descriptors open, baseline %d", what, now.fds, base.fds)
	}
	if now.maps > base.maps {
		t.Errorf("%s: %d io_uring mappings remain, baseline %d", what, now.maps, base.maps)
	}
	if now.heap > base.heap+heapSlack {
		t.Errorf("%s: live heap %d KiB, baseline %d KiB", what, now.heap>>10, base.heap>>10)
	}
	return now
}

// runNops runs total NOPs on e with n aios that restart from their
// callbacks, and returns when all have finished.
func runNops(t *testing.T, e *Engine, n, total int) {
	t.Helper()
	var left atomic.Int64
	left.Store(int64(total - n))
	var wg sync.WaitGroup
	var failed atomic.Int64
	aios := make([]*Aio, n)
	for i := range aios {
		wg.Add(1)
		aios[i] = e.NewAio(func(a *Aio) {
			if a.Result() != nil {
				failed.Add(1)
			}
			if left.Add(-1) >= 0 {
				a.Nop()
				return
			}
			wg.Done()
		})
	}
	for _, a := range aios {
		a.Nop()
	}
	wg.Wait()
	for _, a := range aios {
		a.Free()
	}
	if failed.Load() != 0 {
		t.Fatalf("%d NOPs failed", failed.Load())
	}
}

// warmUp runs one engine through the same load once, so that the
// baseline includes what the runtime keeps after first use (heap arenas,
// idle threads and their stacks) and only what the engine leaks differs.
func warmUp(t *testing.T, aios, ops int) {
	t.Helper()
	e, err := NewEngine(Config{Entries: 256})
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	runNops(t, e, aios, ops)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// A million NOPs through one engine, then Close: nothing of it remains.
func TestLeakMillionOps(t *testing.T) {
	total := 1_000_000
	if raceEnabled || testing.Short() {
		total = 200_000 // about 5x slower under -race; the bound is the same
	}
	warmUp(t, 256, 10_000)
	base := takeSnapshot(t)
	e, err := NewEngine(Config{Entries: 256})
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	start := time.Now()
	runNops(t, e, 256, total)
	el := time.Since(start)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d NOPs with 256 aios in %v (%.0f ops/s)", total, el.Round(time.Millisecond), float64(total)/el.Seconds())
	expectBaseline(t, fmt.Sprintf("after %d ops", total), base)
}

// A hundred engines opened, used and closed: no goroutine, descriptor,
// mapping or memory of theirs remains.
func TestLeakEngineCycles(t *testing.T) {
	warmUp(t, 8, 64)
	base := takeSnapshot(t)
	for i := 0; i < 100; i++ {
		e, err := NewEngine(Config{Entries: 64})
		if err != nil {
			t.Skipf("io_uring unavailable: %v", err)
		}
		runNops(t, e, 8, 64)
		// Leave an op pending for Close to end.
		done := make(chan error, 1)
		a := e.NewAio(func(a *Aio) { done <- a.Result() })
		a.Sleep(time.Hour)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != ErrClosed {
			t.Fatalf("engine %d: pending Sleep at Close: %v, want ErrClosed", i, err)
		}
	}
	expectBaseline(t, "after 100 engines", base)
}

// Memory in flight is bounded by the ring and the number of aios, not by
// the rate or number of operations: the live heap measured during a long
// run at full rate stays flat, and more aios cost a bounded amount each.
func TestLeakMemoryBoundedInFlight(t *testing.T) {
	e := relEngine(t, Config{Entries: 64})
	phases, per := 10, 100_000
	if raceEnabled || testing.Short() {
		per = 20_000
	}
	var samples []uint64
	for p := 0; p < phases; p++ {
		runNops(t, e, 512, per)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		samples = append(samples, ms.HeapAlloc)
	}
	// The first phase grows the engine's queues to their working size;
	// from then on the heap must not follow the op count.
	lo, hi := samples[1], samples[1]
	for _, s := range samples[1:] {
		lo, hi = min(lo, s), max(hi, s)
	}
	t.Logf("live heap over %d ops in %d phases (KiB): %v", phases*per, phases, kib(samples))
	if hi-lo > heapSlack {
		t.Errorf("live heap moved by %d KiB between phases of the same load", (hi-lo)>>10)
	}
	if last, second := samples[len(samples)-1], samples[1]; last > second+heapSlack/2 {
		t.Errorf("live heap grew from %d KiB to %d KiB with the op count", second>>10, last>>10)
	}

	// Memory per aio in flight: 4096 aios each with a pending Sleep.
	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 4096
	var wg sync.WaitGroup
	aios := make([]*Aio, n)
	for i := range aios {
		wg.Add(1)
		aios[i] = e.NewAio(func(*Aio) { wg.Done() })
		aios[i].Sleep(time.Hour)
	}
	runtime.GC()
	runtime.ReadMemStats(&during)
	for _, a := range aios {
		a.Cancel()
	}
	wg.Wait()
	for _, a := range aios {
		a.Free()
	}
	perAio := (int64(during.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d sleeping aios in flight: %d bytes of live heap each", n, perAio)
	if perAio > 4096 {
		t.Errorf("an aio in flight costs %d bytes of heap; expected well under 4 KiB", perAio)
	}
}

func kib(v []uint64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = x >> 10
	}
	return out
}
