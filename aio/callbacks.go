package aio

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// callbackQueue hands finished operations to the engine's callback
// goroutines. Operations are linked through Aio.next, so queueing never
// allocates; the completion goroutine pushes a whole batch under one lock.
type callbackQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	head    *Aio
	tail    *Aio
	n       int
	queued  atomic.Int32 // == n, readable without mu by spinning workers
	idle    int          // workers waiting on cond
	closing bool         // workers exit once the queue is empty
	workers sync.WaitGroup
	goids   []int64 // the workers' goroutine ids, fixed once started
}

// takeMax is how many callbacks a worker takes at once: enough to amortise
// the lock, few enough that a slow callback does not hold up many others.
const takeMax = 16

func (q *callbackQueue) start(n int) {
	q.cond.L = &q.mu
	q.goids = make([]int64, n)
	var ready sync.WaitGroup
	ready.Add(n)
	q.workers.Add(n)
	for i := 0; i < n; i++ {
		go q.work(i, &ready)
	}
	ready.Wait()
}

// pushList appends a linked batch (head..tail, n entries) and wakes as many
// idle workers as the batch can keep busy. It returns false, queueing
// nothing, once close has begun: the caller then runs the callbacks itself.
func (q *callbackQueue) pushList(head, tail *Aio, n int) bool {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false
	}
	if q.tail == nil {
		q.head = head
	} else {
		q.tail.next = head
	}
	q.tail = tail
	q.n += n
	q.queued.Store(int32(q.n))
	wake := min(q.idle, (n+takeMax-1)/takeMax)
	q.mu.Unlock()
	for ; wake > 0; wake-- {
		q.cond.Signal()
	}
	return true
}

func (q *callbackQueue) push(a *Aio) bool { return q.pushList(a, a, 1) }

// close lets the workers finish what is queued, then waits for them.
func (q *callbackQueue) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.cond.Broadcast()
	q.workers.Wait()
}

func (q *callbackQueue) work(i int, ready *sync.WaitGroup) {
	defer q.workers.Done()
	q.goids[i] = curGoid()
	ready.Done()
	var batch [takeMax]*Aio
	for {
		q.mu.Lock()
		if q.head == nil && !q.closing {
			// Poll before sleeping: waking a sleeping worker costs the
			// completion goroutine a futex call and the worker a trip
			// through the scheduler, far more than a callback itself.
			q.mu.Unlock()
			q.spin()
			q.mu.Lock()
		}
		for q.head == nil && !q.closing {
			q.idle++
			q.cond.Wait()
			q.idle--
		}
		if q.head == nil {
			q.mu.Unlock()
			return
		}
		k := 0
		for q.head != nil && k < takeMax {
			a := q.head
			q.head = a.next
			a.next = nil
			batch[k] = a
			k++
		}
		if q.head == nil {
			q.tail = nil
		}
		q.n -= k
		q.queued.Store(int32(q.n))
		q.mu.Unlock()
		for j := 0; j < k; j++ {
			batch[j].runCallback(q.goids[i])
			batch[j] = nil
		}
	}
}

// workerSpin bounds how long an idle worker polls for callbacks.
const workerSpin = 50 * time.Microsecond

// spin polls for queued callbacks for up to workerSpin, yielding the
// processor between polls so other goroutines on it still run.
func (q *callbackQueue) spin() {
	deadline := time.Now().Add(workerSpin)
	for i := 1; q.queued.Load() == 0; i++ {
		if i&255 == 0 {
			if time.Now().After(deadline) {
				return
			}
			runtime.Gosched()
		}
	}
}

// isWorker reports whether goid is one of this queue's workers.
func (q *callbackQueue) isWorker(goid int64) bool {
	for _, g := range q.goids {
		if g == goid {
			return true
		}
	}
	return false
}

// curGoid returns the calling goroutine's id, parsed from its stack header
// ("goroutine 123 [running]:"). It costs about a microsecond, so it is only
// used on paths that are already slow or rare.
func curGoid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	s := string(buf[:n])
	const prefix = "goroutine "
	if len(s) <= len(prefix) {
		return -1
	}
	s = s[len(prefix):]
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	id, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return -1
	}
	return id
}
