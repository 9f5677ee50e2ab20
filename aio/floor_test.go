//go:build linux

package aio

// BenchmarkNopFloor: what a NOP round trip through a callback costs at
// each layer an engine adds above the raw ring, one layer at a time, so
// that BenchmarkNopConcurrent's gap to BenchmarkRingNopBatch can be read
// as a sum (issue 17's "names the physical limit"). Every variant keeps
// 256 NOPs in flight on one locked goroutine and reaps them in rounds,
// as a reaper does: each CQE finds its operation through a table
// indexed by the user data and calls its callback through an interface,
// and the callback starts the next NOP. The variants add, per NOP:
//
//	flags=raw          the raw ring's setup flags (SINGLE_ISSUER, DEFER_TASKRUN)
//	flags=engine       the engine's (completion.DefaultFlags): any thread submits
//	cas=2              one compare-and-swap of the op's state at the start and
//	                   one at the completion: a lock-free hand-over, the least
//	                   a contract needs whose starts, aborts and completions
//	                   may come from different goroutines
//	locks=2            a mutex pair at the start and one at the completion
//	locks=engine       the engine's locked instructions on a callback chain:
//	                   three Aio lock pairs, the SQ lock pair, the outstanding
//	                   count (up per start, down once per round), the
//	                   batch's claim CAS
//
// Compare within one run.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// floorOp is one operation of the floor benchmarks: its callback restarts it.
type floorOp struct {
	mu    sync.Mutex
	slot  uint32
	state uint32
	st    atomic.Uint32 // the state, for cas=2
	f     *nopFloor
	_     [32]byte // 64 bytes: one cache line per op, as Aios share none
}

type floorCallback interface{ run(res int32) }

type nopFloor struct {
	r        *ring.Ring
	ops      []floorCallback
	sqMu     sync.Mutex
	out      atomic.Int64
	claim    atomic.Uint64
	engineLk bool // the engine's locked instructions, else two pairs
	locks    bool
	cas      bool
}

func (o *floorOp) run(res int32) {
	f := o.f
	if f.cas && !o.st.CompareAndSwap(1, 2) {
		panic("floor: completion of an op not in flight")
	}
	if f.locks {
		// completion: the CQE ends the operation under the op's lock
		o.mu.Lock()
		o.state = 2
		o.mu.Unlock()
	}
	if f.engineLk {
		// the callback's return, and the batch's claim
		c := f.claim.Load()
		f.claim.CompareAndSwap(c, c+1)
		o.mu.Lock()
		o.state = 0
		o.mu.Unlock()
	}
	o.start()
}

func (o *floorOp) start() {
	f := o.f
	if f.cas && !o.st.CompareAndSwap(o.st.Load(), 1) {
		panic("floor: a start raced")
	}
	if f.locks {
		o.mu.Lock()
	}
	if f.engineLk {
		f.sqMu.Lock()
	}
	s := f.r.GetSQE()
	s.Nop()
	s.UserData = uint64(sqe.Pack(1, o.slot, 0))
	o.state = 1
	if f.engineLk {
		f.out.Add(1)
		f.sqMu.Unlock()
	}
	if f.locks {
		o.mu.Unlock()
	}
}

func BenchmarkNopFloor(b *testing.B) {
	rawFlags := ring.SetupSingleIssuer | ring.SetupDeferTaskrun | ring.SetupCoopTaskrun |
		ring.SetupTaskrunFlag | ring.SetupSubmitAll | ring.SetupNoSQArray
	for _, v := range []struct {
		name               string
		flags              ring.SetupFlags
		cas, locks, engine bool
	}{
		{"flags=raw", rawFlags, false, false, false},
		{"flags=engine", completion.DefaultFlags, false, false, false},
		{"flags=engine/cas=2", completion.DefaultFlags, true, false, false},
		{"flags=engine/locks=2", completion.DefaultFlags, false, true, false},
		{"flags=engine/locks=engine", completion.DefaultFlags, false, true, true},
	} {
		b.Run(v.name, func(b *testing.B) { benchNopFloor(b, v.flags, v.cas, v.locks, v.engine) })
	}
}

func benchNopFloor(b *testing.B, flags ring.SetupFlags, cas, locks, engineLk bool) {
	const depth = 256
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := ring.New(ring.Options{Entries: depth, CQEntries: 2 * depth, Flags: flags})
	if err != nil {
		b.Skip(err)
	}
	defer r.Close()
	f := &nopFloor{r: r, cas: cas, locks: locks, engineLk: engineLk}
	ops := make([]floorOp, depth)
	f.ops = make([]floorCallback, depth)
	for i := range ops {
		ops[i] = floorOp{slot: uint32(i), f: f}
		f.ops[i] = &ops[i]
	}
	cqes := make([]ring.CQE, depth)
	for i := range ops {
		ops[i].start()
	}
	b.ResetTimer()
	for done := 0; done < b.N; {
		// One enter per round: submit what the round's callbacks queued
		// and wait for one, as a busy reaper's round does.
		if _, err := r.SubmitAndWait(1); err != nil {
			b.Fatal(err)
		}
		n := r.PeekCQEs(cqes)
		if engineLk {
			f.out.Add(-int64(n))
		}
		for _, c := range cqes[:n] {
			f.ops[sqe.UserData(c.UserData).Index()].run(c.Res)
		}
		done += n
	}
	b.StopTimer()
	// Reap the NOPs still in flight before the ring closes.
	for left := depth; left > 0; {
		if _, err := r.SubmitAndWait(1); err != nil {
			b.Fatal(err)
		}
		left -= r.PeekCQEs(cqes)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
