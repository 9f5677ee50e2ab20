package aio

// The engine's queue of Sleeps (docs/design.md, decision 79).
//
// A Sleep used to arm its Aio's own runtime timer, made with
// time.AfterFunc, whose every fire starts a goroutine: about a third of
// the CPU a timer costs (`go run ./bench -only timers -cpuprofile`:
// runtime.newproc1 20%, and the new goroutine's scheduling and exit
// besides), the same as time.AfterFunc pays. Here an engine keeps its
// Sleeps in one heap by deadline, under one runtime timer for the
// earliest: a fire starts one goroutine (the runtime timer's), which takes
// every Sleep then due and runs their ends and callbacks one after the
// other (timercb.go, onQueuedTimer).
//
// A callback that blocks must still hold back nothing but itself (the
// contract): a batch's runner claims its entries one at a time (claim),
// and the queue's watchdog, armed while batches of more than one run,
// finds a runner that has not claimed another for watchdogPeriodSleeps,
// takes the rest of its batch from it and starts a new runner for them;
// the blocked one ends when its callback returns and finds its batch
// taken. So a blocked callback holds the Sleeps due with it back for at
// most that period, as a reaper's seat does for ring completions, and
// nothing due later at all: each fire has its own goroutine.
//
// Ownership and locks:
//   - sleepQueue.mu guards the heap, the timers' state, the batches list
//     and the runners' count. Lock order: Aio.mu, then sleepQueue.mu
//     (an arm and a withdrawal are made under the Aio's lock); a runner
//     takes an Aio's lock only with sleepQueue.mu released.
//   - An entry is withdrawn lazily: the Aio's qstate says which arm is
//     current and whether its entry is still in the heap. qstate is
//     (seq << 1) | inHeap: an arm (Aio.mu and mu held) stores seq+1 with
//     inHeap; a fire taking the entry (mu held) clears inHeap by CAS, and
//     a withdrawal (Aio.mu held: the Sleep ended otherwise) stores seq+1
//     without inHeap. Whichever of the two comes second sees what the
//     first did: a fire whose CAS fails drops the entry (it was counted a
//     zombie by the withdrawal), a withdrawal that finds inHeap counts a
//     zombie. Zombies are dropped as fires reach them, and all at once
//     when they outnumber the live entries (compact), so a program that
//     cancels long Sleeps does not grow the heap without bound.
//   - A runner ends an entry's Sleep only if, under the Aio's lock, the
//     entry's arm is still the current one and taken from the heap
//     (qstate == seq<<1, queued): an abort meanwhile has withdrawn it.

import (
	"sync"
	"sync/atomic"
	"time"
)

// watchdogPeriodSleeps is how long a runner may spend in one callback
// before the rest of its batch goes to another runner.
const watchdogPeriodSleeps = time.Millisecond

// compactMin is the fewest zombies that make an arm compact the heap
// (when they are also at least half of it).
const compactMin = 64

// sleepQueue is an engine's pending Sleeps. The zero value is ready:
// its timers are made at the first arm.
type sleepQueue struct {
	e  *Engine
	mu sync.Mutex
	// heap is a binary min-heap by at. Guarded by mu.
	heap []sleepEntry
	// t fires at heap[0].at when set (setAt != 0); its function, fire,
	// runs on the goroutine the runtime starts for it. Guarded by mu.
	t     *time.Timer
	setAt int64
	// zombies: entries in heap whose Sleep was withdrawn. Raised by
	// withdrawals (under the Aio's lock only), lowered under mu.
	zombies atomic.Int64
	// Runners between their start and their end (fire's, and those the
	// watchdog starts), batches that hold more than one entry and still
	// run, and the watchdog's timer, armed whenever batches is not empty
	// (and the queue not closed). Guarded by mu.
	runners int
	batches []*sleepBatch
	dog     *time.Timer
	closed  bool
	done    sync.Cond // Close waits for runners == 0; L is &mu
	free    []*sleepBatch
	// taken counts the batches whose rest the watchdog took (tests).
	taken atomic.Uint64
}

// sleepEntry is one armed Sleep: the Aio, which of its arms, and when it
// is due (the engine clock's nanoseconds).
type sleepEntry struct {
	at  int64
	a   *Aio
	seq uint32
}

// sleepBatch is the entries one fire found due, run in order by one
// runner at a time. claim is (next << 1) | taken: the runner moves next
// by CAS before each entry; the watchdog sets taken by CAS when next has
// not moved for a period, and hands ents[next:] to a new batch. seen is
// the watchdog's last look at claim, under mu.
type sleepBatch struct {
	ents  []sleepEntry
	claim atomic.Uint64
	seen  uint64
}

const claimTaken = 1

// add arms a's Sleep (seq) due at at. Called with a.mu held.
func (q *sleepQueue) add(a *Aio, at int64) {
	q.mu.Lock()
	if q.t == nil {
		q.t = time.AfterFunc(time.Hour, q.fire)
		q.t.Stop()
		q.dog = time.AfterFunc(time.Hour, q.watchdog)
		q.dog.Stop()
		q.done.L = &q.mu
	}
	seq := nextSeq(a.qstate.Load())
	if seq == 0 {
		// Wrapped: a compaction now, while a's last arm is still the
		// current one, drops every older entry of a, so that none
		// carries a sequence the new arms will reuse.
		q.compactLocked()
	}
	// The previous arm's entry is out of the heap by now: every end of
	// a Sleep withdraws its arm or takes its entry (disarmLocked,
	// onQueuedTimer), both of which clear the low bit.
	a.qstate.Store(seq<<1 | 1)
	if z := q.zombies.Load(); z >= compactMin && z >= int64(len(q.heap))/2 {
		q.compactLocked()
	}
	q.pushLocked(sleepEntry{at: at, a: a, seq: seq})
	if q.setAt == 0 || at < q.setAt {
		q.setAt = at
		q.t.Reset(time.Duration(at - q.e.clock.now()))
	}
	q.mu.Unlock()
}

// nextSeq is the arm sequence after the one qstate holds, in the 31 bits
// qstate keeps for it. It wraps to 0 after 2^31 arms of one Aio (a month
// of 1 ms Sleeps, half an hour of the shortest); add then drops the Aio's
// stale entries from the heap first, so that none can pass for a later
// arm.
func nextSeq(qstate uint32) uint32 { return (qstate>>1 + 1) & (1<<31 - 1) }

// withdraw makes a's current arm stale: its Sleep ended otherwise (an
// abort, Close). Called with a.mu held.
func (q *sleepQueue) withdraw(a *Aio) {
	if a.qstate.Swap(nextSeq(a.qstate.Load())<<1)&1 != 0 {
		q.zombies.Add(1)
	}
}

// fire runs on the runtime timer's goroutine: it takes every entry due
// and runs them.
func (q *sleepQueue) fire() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	now := q.e.clock.now()
	b := q.newBatchLocked()
	for len(q.heap) > 0 && q.heap[0].at <= now {
		ent := q.popLocked()
		if ent.a.qstate.CompareAndSwap(ent.seq<<1|1, ent.seq<<1) {
			b.ents = append(b.ents, ent)
		} else {
			q.zombies.Add(-1) // withdrawn while in the heap
		}
	}
	q.setAt = 0
	if len(q.heap) > 0 {
		q.setAt = q.heap[0].at
		q.t.Reset(time.Duration(q.setAt - now))
	}
	q.runners++
	if len(b.ents) > 1 {
		q.watchLocked(b)
	}
	q.mu.Unlock()
	q.run(b)
}

// run claims and runs b's entries until none is left or the watchdog
// has taken the rest, then retires b and this runner.
func (q *sleepQueue) run(b *sleepBatch) {
	for {
		c := b.claim.Load()
		i := c >> 1
		if c&claimTaken != 0 || i >= uint64(len(b.ents)) || !b.claim.CompareAndSwap(c, (i+1)<<1) {
			break
		}
		ent := b.ents[i]
		ent.a.onQueuedTimer(ent.seq)
	}
	q.mu.Lock()
	q.retireLocked(b)
	q.runners--
	if q.closed && q.runners == 0 {
		q.done.Broadcast()
	}
	q.mu.Unlock()
}

// watchLocked lists b for the watchdog, and arms it if it is not armed.
func (q *sleepQueue) watchLocked(b *sleepBatch) {
	b.seen = b.claim.Load()
	if len(q.batches) == 0 {
		q.dog.Reset(watchdogPeriodSleeps) // otherwise armed already (watchdog)
	}
	q.batches = append(q.batches, b)
}

// watchdog runs on its timer's goroutine while batches of more than one
// entry run: a batch whose runner has claimed nothing since the last
// look loses the rest of its entries to a new runner.
func (q *sleepQueue) watchdog() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range q.batches {
		c := b.claim.Load()
		if c != b.seen || c&claimTaken != 0 || c>>1 >= uint64(len(b.ents)) {
			b.seen = c
			continue
		}
		if !b.claim.CompareAndSwap(c, c|claimTaken) {
			b.seen = b.claim.Load() // it moved meanwhile
			continue
		}
		q.taken.Add(1)
		nb := q.newBatchLocked()
		nb.ents = append(nb.ents, b.ents[c>>1:]...)
		q.runners++
		if len(nb.ents) > 1 {
			q.watchLocked(nb)
		}
		go q.run(nb)
	}
	if len(q.batches) > 0 && !q.closed {
		q.dog.Reset(watchdogPeriodSleeps)
	}
}

// retireLocked takes b off the watchdog's list and keeps it for reuse.
func (q *sleepQueue) retireLocked(b *sleepBatch) {
	for i, x := range q.batches {
		if x == b {
			last := len(q.batches) - 1
			q.batches[i] = q.batches[last]
			q.batches[last] = nil
			q.batches = q.batches[:last]
			break
		}
	}
	clear(b.ents) // no Aio kept alive by a spare batch
	b.ents = b.ents[:0]
	if len(q.free) < 8 {
		q.free = append(q.free, b)
	}
}

// newBatchLocked returns an empty batch, a kept one when there is one.
func (q *sleepQueue) newBatchLocked() *sleepBatch {
	var b *sleepBatch
	if n := len(q.free); n > 0 {
		b, q.free = q.free[n-1], q.free[:n-1]
	} else {
		b = &sleepBatch{}
	}
	b.claim.Store(0)
	return b
}

// close stops the queue's timers and waits for its runners, once every
// Aio of the engine is idle (Engine.Close): what they still hold is
// withdrawn, and they only drop it.
func (q *sleepQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	if q.t == nil {
		return
	}
	q.t.Stop()
	q.dog.Stop()
	for q.runners > 0 {
		q.done.Wait()
	}
	clear(q.heap) // withdrawn entries: let their Aios go
	q.heap = q.heap[:0]
}

// compactLocked drops every zombie from the heap and rebuilds it.
func (q *sleepQueue) compactLocked() {
	live := q.heap[:0]
	dropped := int64(0)
	for _, ent := range q.heap {
		if ent.a.qstate.Load() == ent.seq<<1|1 {
			live = append(live, ent)
		} else {
			dropped++
		}
	}
	clear(q.heap[len(live):])
	q.heap = live
	q.zombies.Add(-dropped)
	for i := len(q.heap)/2 - 1; i >= 0; i-- {
		q.downLocked(i)
	}
}

// The heap: the standard binary heap on a slice.

func (q *sleepQueue) pushLocked(ent sleepEntry) {
	q.heap = append(q.heap, ent)
	i := len(q.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if q.heap[p].at <= ent.at {
			break
		}
		q.heap[i] = q.heap[p]
		i = p
	}
	q.heap[i] = ent
}

func (q *sleepQueue) popLocked() sleepEntry {
	top := q.heap[0]
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap[last] = sleepEntry{}
	q.heap = q.heap[:last]
	if last > 0 {
		q.downLocked(0)
	}
	return top
}

func (q *sleepQueue) downLocked(i int) {
	h := q.heap
	ent := h[i]
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h[r].at < h[c].at {
			c = r
		}
		if ent.at <= h[c].at {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = ent
}
