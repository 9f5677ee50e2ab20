package aio

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/internal/release"
	"golang.org/x/sys/unix"
)

// Special timeouts for SetTimeout and Config.DefaultTimeout.
const (
	Infinite       time.Duration = -1 // NNG_DURATION_INFINITE: no timer
	DefaultTimeout time.Duration = -2 // NNG_DURATION_DEFAULT: the engine's Config.DefaultTimeout
)

// Limits, as nng's.
const (
	MaxIOV   = 8 // buffers per operation, as nng
	NumSlots = 4 // inputs and outputs, as nng
)

// noSlot marks an Aio that has no entry in its engine's table (freed, or
// made on a closed engine): its operations never reach the kernel.
const noSlot = ^uint32(0)

// Aio is an asynchronous I/O handle (nng_aio). See the package doc for the
// rules. An Aio must not be copied.
//
// Ownership: fields under "mu" are read and written with mu held; the
// lifecycle (state, busy and the transitions between them) is in
// lifecycle.go. The operation's description (desc) is written by the
// starting goroutine under mu before it is handed to the backend, and not
// written again until the operation has ended. e, cb, sh and home never change after NewAio;
// slot changes only under mu and e.mu, when the Aio is released.
type Aio struct {
	e    *Engine
	sh   backend // the ring (or the portable backend) this Aio's operations go to
	cb   func(*Aio)
	slot uint32 // index in e.table, carried in user data; noSlot when none
	home uint16 // the reaper of sh its hand-offs prefer (Home): Aios made one after another alternate; a file write goes by its descriptor instead
	// onPort: the current operation is a blocking socket transfer
	// carried by the engine's readiness backend, not sh (sockwait.go);
	// under mu, set by each start. Here, in home's room, to keep an idle
	// Aio within 512 bytes.
	onPort bool
	// lazy: the timer's arm is a lazy one (ops.go, armLazyLocked), its
	// times in aioExtra; under mu. In the same room as onPort.
	lazy bool

	mu       sync.Mutex
	state    opState
	stopped  bool // Stop, Free or Reap happened: every later op ends with ErrStopped
	reaped   bool // release the slot as soon as busy drops to 0
	released bool
	kind     opKind // the public operation running, or last run
	// sleepTimesOut: a Sleep's timer is the Aio's timeout, not the sleep.
	sleepTimesOut bool
	wakeOwed      bool // a hand-off under mu owes the backend a Wake, made by unlock
	// timercb.go: timerFiring, onTimer (or a sync worker,
	// syncaside_linux.go) is ending the operation; runHere, it ended, and
	// that goroutine runs the callback itself.
	// followUp: an operation ended while the previous callback ran (on a
	// reaper, or a timer's goroutine), and that goroutine runs this
	// one's next (lifecycle.go, RunCallback; timercb.go).
	timerFiring bool
	runHere     bool
	followUp    bool
	niov        uint8
	// The runtime timer of the deadline of an operation no link timer
	// can cut (armTimerLocked), and the arms of Sleeps in the engine's
	// queue (sleepqueue.go). armed: an arm is set for the current
	// operation, a Sleep's in the queue if queued (at the end, with
	// stale). qstate is the queue's record of the Aio's Sleeps, (seq <<
	// 1) | in the heap: written under mu, and by a fire's CAS, which
	// clears the low bit under the queue's lock. Here rather than in
	// aioExtra: a fire touches them beside mu, one cache line fewer per
	// fire.
	armed   bool
	qstate  atomic.Uint32
	timer   *time.Timer
	waiters int32
	gen     uint32 // bumped per op; stale CQEs compare against it
	// busy: ops started whose callback has not returned. Written under
	// mu, read by anyone (Busy, wait) with sync/atomic's load: raised
	// with an atomic add, whose full barrier orders it before the
	// start's load of Engine.closed (Close, which sets closed and then
	// loads busy, must not miss a start that found it unset); lowered
	// with a release store (internal/release), which nothing needs to
	// order against a later load.
	busy int32
	// noPin: the operation being built is carried out by its starter
	// with a system call (a read tried first, an inline Statx), so the
	// memory it points to is not pinned, which a system call's
	// arguments do not need; a read whose try misses is pinned before
	// it is queued (tryThenQueue). Here, in busy's padding, to keep an
	// idle Aio within 512 bytes.
	noPin bool
	// statxSlowRun: this Aio's inline statx(2) calls in a row that were
	// slow, and its untimed calls since the last timed one (statxAdapt,
	// ops_file.go); under mu. Also in busy's padding.
	statxSlowRun uint8
	// directPending: operations of this Aio that a try finished without
	// the ring (Stats.Direct), not yet folded into Engine.directFolded;
	// under mu. Counted here, not in a counter every worker shares,
	// whose cache line cost reads at depth 32 about 5% (decision 39).
	directPending uint16

	cbGoid   int64 // goroutine running this Aio's callback, 0 when none, < 0 on a timer's (timerCallbackID); under mu
	abortErr error // the error Abort asked for, while the op is pending
	result   error
	// outcome is the last operation's count, with outcomeFailed set
	// when result is not nil: written under mu beside result
	// (setResultLocked), read by Count, and by Result when it is nil,
	// without the lock. A callback reads them for nearly every
	// operation, and a lock and unlock apiece cost about a tenth of a
	// Nop's round trip (decision 43).
	outcome release.Uint64
	timeout time.Duration
	iov0    []byte
	desc    op.Desc
	pin     runtime.Pinner
	// pinLo, pinHi: the buffer pin holds from one operation to the
	// next, as an address range; 0, 0 when none (pin.go). Under mu.
	pinLo, pinHi uintptr
	waitCond     *sync.Cond // allocated on the first Wait that blocks
	x            *aioExtra  // allocated on first use of what it holds
	fixed        fixedUse   // registered resources the operation uses (fixed.go)

	// newFD is the descriptor the last OpenAt or Accept produced, plus
	// one (0: none), so that the zero value means none (FD, ops_file.go).
	newFD int32
	// carried: an operation was started while the Aio's callback ran
	// (stateCallback) and took over that callback's unit of busy
	// instead of adding its own, so the callback's return leaves busy
	// as it is (lifecycle.go, beginLocked and callbackDoneLocked);
	// under mu. Here, in newFD's padding, to keep an idle Aio within
	// 512 bytes.
	carried bool
	queued  bool
	// stale: fires of timer's earlier arms that Stop found already
	// started, each still to come and be ignored (onTimer): one per
	// failed Stop, and each such fire is a goroutine waiting for mu, so
	// the count stays small. Here, in newFD's padding.
	stale int16
}

// aioExtra holds what most operations do not need, so that an idle Aio
// stays small.
type aioExtra struct {
	iov     [MaxIOV - 1][]byte // buffers after the first
	iovecs  [MaxIOV]unix.Iovec // READV/WRITEV and msghdr vectors
	msg     unix.Msghdr
	sa      unix.RawSockaddrAny // CONNECT's address
	sock    unix.Sockaddr       // the same as given, for the portable backend off Linux
	inputs  [NumSlots]any
	outputs [NumSlots]any

	// expireAt: SetExpire's one-shot absolute deadline, engine clock ns;
	// 0 when unset. cancelFn: a provider operation's cancel hook. Both
	// rare, so here rather than in every Aio. Under Aio.mu.
	expireAt int64
	cancelFn func(*Aio, error)
	// pinned: the Aio's pin holds this aioExtra; pinOther: it holds
	// memory no later operation covers (pin.go). Under Aio.mu.
	pinned, pinOther bool

	attached *Msg     // SetMsg's message, or RecvMsg's result
	waitSt   *fdState // the descriptor whose results a RecvMsg or Accept waits for (stateMsg)
	// waitCopy: opRecv or opRecvFrom when the Aio waiting on waitSt is a
	// Recv or RecvFrom served from the queue (msgmixed.go), 0 for a
	// RecvMsg or Accept. Written with waitSt, under both locks.
	waitCopy opKind
	pending  *Msg    // a fallback RecvMsg's buffer while in the kernel
	waitPool msgPool // the pool a fallback RecvMsg waits on for a buffer (stateMsg)
	// The descriptor a fallback RecvMsg last received from, plus one (0:
	// none), and whether it is a datagram socket (msgdgram.go), as seen
	// when the engine's count of CloseFDs was rmCloses.
	rmFD     int32
	rmDgram  bool
	rmCloses uint64
	// msgFDs: the descriptor states this Aio started RecvMsg or Accept
	// on (msgfd.go); under mu (appended with the state's lock held too).
	msgFDs []*fdState
	zc     zcExtra // zero-copy send (sendzc.go)
	dg     dgExtra // From's decoded sources (ops_stream.go)
	// fixedVec: the registered buffers a vector operation's buffers lie
	// in, one use each (fixed.go); fixed.nvec of them.
	fixedVec [MaxIOV]*fixedBuf

	file fileExtra // files by name (ops_file.go)

	// A lazy arm's times (ops.go, armLazyLocked), under mu: lazyAt, the
	// deadline of the operation it guards now (0: none); lazyFire, when
	// it fires. Here, not in the Aio: only Aios with long timeouts on
	// transfers use them, and an idle Aio stays within 512 bytes.
	lazyAt, lazyFire int64
}

// outcomeFailed is the bit of Aio.outcome that says result is not nil.
const outcomeFailed = 1 << 63

// setResultLocked records the last operation's result and count (never
// negative). An unchanged outcome is not stored again: a chain of NOPs
// stores nothing. A changed one is a release store (internal/release: a
// plain store on amd64, where sync/atomic's is a locked instruction),
// which suffices: only mu's holder writes outcome, and its readers need
// no order against a later load of the writer's.
func (a *Aio) setResultLocked(err error, count int) {
	a.result = err
	v := uint64(count)
	if err != nil {
		v |= outcomeFailed
	}
	if a.outcome.Load() != v {
		a.outcome.Store(v)
	}
}

func (a *Aio) extra() *aioExtra {
	if a.x == nil {
		a.x = new(aioExtra)
	}
	return a.x
}

// expiryLocked is SetExpire's deadline for the next operation, 0 when
// none.
func (a *Aio) expiryLocked() int64 {
	if a.x == nil {
		return 0
	}
	return a.x.expireAt
}

// clearExpiryLocked consumes SetExpire's deadline.
func (a *Aio) clearExpiryLocked() {
	if a.x != nil {
		a.x.expireAt = 0
	}
}

// Free stops the Aio, waits for its operation and callback, and releases
// it. It must not be called from the Aio's own callback: use Reap there.
func (a *Aio) Free() {
	a.checkNotOwnCallback("Free")
	a.Stop()
	a.mu.Lock()
	a.reaped = true
	a.maybeReleaseLocked()
	a.unlock()
}

// Reap is Free without waiting: the Aio is stopped now and released once
// its callback has returned. It is the way to free an Aio from its own
// callback. On an Aio without a callback, a descriptor that an OpenAt or
// Accept in progress at Reap produces anyway is closed: nobody could take
// it. One that ended before Reap is the caller's (read FD first): an
// operation can end between a look at Busy and the Reap.
func (a *Aio) Reap() {
	a.mu.Lock()
	a.stopped = true
	a.reaped = true
	a.maybeReleaseLocked()
	a.unlock()
	a.Abort(ErrStopped)
	a.dropMsgStates()
}

// Stop aborts the current operation with ErrStopped and waits for it and its
// callback. Stop is permanent and idempotent: later operations end with
// ErrStopped. It must not be called from the Aio's own callback.
func (a *Aio) Stop() {
	a.checkNotOwnCallback("Stop")
	a.mu.Lock()
	a.stopped = true
	a.unlock()
	a.Abort(ErrStopped)
	// After the abort, which took a off its descriptor's waiters: the
	// last Aio to stop ends the descriptor's multishot.
	a.dropMsgStates()
	a.wait()
}

// Cancel is Abort(ErrCanceled).
func (a *Aio) Cancel() { a.Abort(ErrCanceled) }

// Abort ends the pending operation with err, if it can still be cancelled.
// If the operation has completed, or completes while the cancellation is in
// flight, its real result stands. On an idle Aio, Abort changes nothing. A
// nil err means ErrCanceled.
func (a *Aio) Abort(err error) {
	if err == nil {
		err = ErrCanceled
	}
	a.mu.Lock()
	a.abortAndUnlock(err)
}

// Wait blocks until the current operation and its callback have finished,
// including operations that callback started. It returns at once on an idle
// Aio. It must not be called from the Aio's own callback.
func (a *Aio) Wait() {
	a.checkNotOwnCallback("Wait")
	a.wait()
}

// Busy reports whether an operation is in progress: true from its start
// until its callback returns.
func (a *Aio) Busy() bool { return atomic.LoadInt32(&a.busy) != 0 }

// Result returns the last operation's result: nil, one of the Err* values
// itself (so == works as well as errors.Is), the error given to Abort or
// Finish, or a syscall.Errno from the kernel. It is defined once the
// operation has ended (in the callback, or after Wait).
func (a *Aio) Result() error {
	if a.outcome.Load()&outcomeFailed == 0 {
		return nil // the common case, read without the lock (outcome)
	}
	a.mu.Lock()
	defer a.unlock()
	return a.result
}

// Count returns the number of bytes the last operation transferred. It
// takes no lock, so code holding mu calls it too.
func (a *Aio) Count() int { return int(a.outcome.Load() &^ outcomeFailed) }

// SetTimeout sets a relative timeout for the operations that follow; it
// persists across operations. 0 makes each operation a non-blocking attempt,
// Infinite disables the timer, DefaultTimeout uses the engine's.
func (a *Aio) SetTimeout(d time.Duration) {
	a.mu.Lock()
	a.timeout = d
	a.unlock()
}

// SetExpire sets an absolute deadline for the next operation only; it wins
// over SetTimeout for that operation. The zero Time clears it. A time 292
// years or more ahead (year 9999, time.Now().Add(math.MaxInt64)) is a
// deadline that never comes, as for net.Conn.
func (a *Aio) SetExpire(t time.Time) {
	a.mu.Lock()
	if t.IsZero() {
		a.clearExpiryLocked()
	} else {
		a.extra().expireAt = max(a.e.clock.at(t), 1)
	}
	a.unlock()
}

// SetIOV sets the buffers for ReadAt, WriteAt, Recv and Send. More than
// MaxIOV buffers is ErrInvalid and changes nothing. The slices are kept, not
// copied: do not modify them while an operation is in flight.
func (a *Aio) SetIOV(bufs ...[]byte) error {
	if len(bufs) > MaxIOV {
		return ErrInvalid
	}
	a.mu.Lock()
	defer a.unlock()
	a.niov = uint8(len(bufs))
	a.iov0 = nil
	if len(bufs) > 0 {
		a.iov0 = bufs[0]
	}
	if len(bufs) > 1 || a.x != nil {
		x := a.extra()
		n := copy(x.iov[:], bufs[min(1, len(bufs)):])
		clear(x.iov[n:])
	}
	return nil
}

// SetInput stores v in input slot i (0 <= i < NumSlots).
func (a *Aio) SetInput(i int, v any) error { return a.setSlot(false, i, v) }

// Input returns input slot i, or nil when i is out of range.
func (a *Aio) Input(i int) any { return a.slotValue(false, i) }

// SetOutput stores v in output slot i. Outputs are cleared when an operation
// starts.
func (a *Aio) SetOutput(i int, v any) error { return a.setSlot(true, i, v) }

// Output returns output slot i, or nil when i is out of range.
func (a *Aio) Output(i int) any { return a.slotValue(true, i) }

func (a *Aio) setSlot(output bool, i int, v any) error {
	if i < 0 || i >= NumSlots {
		return ErrInvalid
	}
	a.mu.Lock()
	defer a.unlock()
	x := a.extra()
	if output {
		x.outputs[i] = v
	} else {
		x.inputs[i] = v
	}
	return nil
}

func (a *Aio) slotValue(output bool, i int) any {
	if i < 0 || i >= NumSlots {
		return nil
	}
	a.mu.Lock()
	defer a.unlock()
	switch {
	case a.x == nil:
		return nil
	case output:
		return a.x.outputs[i]
	}
	return a.x.inputs[i]
}
