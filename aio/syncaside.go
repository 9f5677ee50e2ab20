package aio

// Syncs beside the ring (decision 84). On this kernel io_uring hands every
// IORING_OP_FSYNC and FDATASYNC to an io-wq worker: a thread woken to make
// the call, then a CQE that wakes a reaper, which runs the callback. A
// worker goroutine of the engine's own makes the blocking fsync(2) or
// fdatasync(2) itself, as os.File.Sync does, and then runs the callback:
// a durable log's group commit moved 13% more appends quiet for it
// (docs/design.md).
//
// The operation is begun as a Statx inline is (ops_file_linux.go): begun
// and described as any other, then in state Kernel while the call runs,
// with no backend token, so that an Abort, Stop, Close or deadline finds
// nothing to cancel and the call's result decides, as it does for a sync
// that io-wq runs (the kernel cannot cancel one either). The worker ends
// it and, the end falling to it (runHere), runs the callback as a timer's
// goroutine does (timercb.go).
//
// The workers are at most syncAsideMax, each made on first need and kept
// until Engine.Close, so that a sync on a reused Aio allocates nothing;
// each holds a thread while in its call. A start claims one of the places
// first (claim), and a place is given back only once the callback has
// returned. With none left, at GOMAXPROCS=1, on an engine with
// Config.RingOnly, for a zero timeout's attempt (which ends with
// ErrTimedOut at once, as fsync has no non-blocking form) and for a
// registered descriptor (whose number may be closed: only the ring's
// table names it then), the sync goes through the ring.
//
// Ownership: on, max and hook are set before the engine's first sync and
// only read after. n counts claimed places; workers and work are
// guarded by mu. A job sent on work belongs to the worker that receives
// it. Close (closeWorkers) runs once every Aio is idle, so no claim is
// pending: it closes work and waits for the workers.

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// syncAside is the engine's places and workers for syncs made beside the
// ring.
type syncAside struct {
	on  bool         // a ring engine without Config.RingOnly
	max int32        // syncAsideMax; a test may lower it
	n   atomic.Int32 // places claimed: syncs begun or about to be

	mu      sync.Mutex
	workers int32        // started, at most max
	work    chan syncJob // buffered (max): a claimed place never blocks its send
	wg      sync.WaitGroup

	// hook, for tests only, runs on the worker before its call (after
	// false) and once the operation has ended (after true).
	hook func(after bool)
}

// syncJob is one sync for a worker: the Aio, and what its description
// says, copied under the Aio's lock by the starter.
type syncJob struct {
	a     *Aio
	fsync bool // fsync(2), else fdatasync(2)
	fd    int32
	token uint64
}

// claim takes one of the max places, or reports false. With one P it
// always declines: a goroutine in a blocking call keeps the only P until
// the runtime's monitor takes it back (20 µs to 10 ms), and meanwhile no
// other goroutine runs, where an io-wq worker is a thread of its own (a
// durable log's appends fell 15% at GOMAXPROCS=1; decision 84).
func (s *syncAside) claim() bool {
	if !s.on || runtime.GOMAXPROCS(0) == 1 {
		return false
	}
	if s.n.Add(1) > s.max {
		s.n.Add(-1)
		return false
	}
	return true
}

// send hands j to a worker, starting one if fewer run than places are
// claimed. It never blocks: work holds max jobs and at most max places
// are claimed.
func (s *syncAside) send(j syncJob) {
	s.mu.Lock()
	if s.work == nil {
		s.work = make(chan syncJob, s.max)
	}
	if s.workers < s.n.Load() {
		s.workers++
		s.wg.Add(1)
		go s.worker(s.work)
	}
	s.work <- j
	s.mu.Unlock()
}

// worker carries out jobs until closeWorkers closes work.
func (s *syncAside) worker(work <-chan syncJob) {
	defer s.wg.Done()
	for j := range work {
		j.a.syncThenEnd(j)
	}
}

// closeWorkers stops the workers and waits for them (Engine.Close, every
// Aio idle, so no job is pending).
func (s *syncAside) closeWorkers() {
	s.mu.Lock()
	if s.work != nil {
		close(s.work)
		s.work = nil
	}
	s.mu.Unlock()
	s.wg.Wait()
}
