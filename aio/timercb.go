package aio

// Callbacks on the goroutine of the Aio's runtime timer (issue 17 item 2).
//
// A Sleep's end, and the end of an operation the Aio's own timer cuts (an
// engine deadline: a RecvMsg waiting for its descriptor or for a buffer),
// happen on the goroutine that the runtime starts for the fire: the
// Aio's time.AfterFunc, or for a Sleep the engine's queue of Sleeps
// (sleepqueue.go), whose fire ends every Sleep then due in turn. That
// goroutine is one of the engine's (the contract, "Exactly once"), so the
// callback runs there, as AfterFunc's own function would: no hand-off to
// a reaper, no wake through the ring, and a callback that blocks there
// holds back nothing but itself (for a Sleep, the Sleeps due with it
// for at most the queue's watchdog period).
//
// Rules kept:
//   - Exactly once: the timer and an aborter (Abort, Stop, Close) both end
//     the operation under Aio.mu, and the second finds it ended (the
//     timer's stale count, lifecycle.go); the callback is run by whoever
//     the end chose: runHere for this goroutine, else a hand-off.
//   - One Aio's callbacks never overlap: if the Aio's previous callback
//     still runs when the timer ends the operation, the callback is
//     handed off (finishLocked routes it after the running one); and while
//     a callback runs here, an operation of the same Aio that ends
//     elsewhere sets followUp instead, and this goroutine runs its
//     callback next.
//   - Wait, Stop and Free from the callback panic naming Reap: cbGoid
//     holds a negative number, not a goroutine id (reading one costs
//     about 2 µs, more than the whole timer): where internal/gtoken names
//     goroutines (amd64, arm64), the timer goroutine's token, negated, which
//     the check compares with its own (decision 64); elsewhere
//     timerGoroutine, and the check, only when it sees that, finds the
//     Aio's identity on its own stack: the callback is called through a
//     chain of calls that spell the Aio's identity (stackID) in
//     hexadecimal (one function per digit), which runtime.Callers reads
//     back. The chain costs a dozen calls per callback, the token one
//     load; neither a goroutine id, an allocation nor an atomic RMW.
//   - Close waits for these callbacks as for any other: an Aio is busy
//     until its callback has returned (callbackDoneLocked), and the
//     timer's goroutine touches nothing of the engine after that. No
//     count of them is kept: an engine-wide one, raised and lowered by
//     every fire from every P, cost the timers row (decision 37).
//
// A sync worker (syncaside_linux.go) runs the callback of the sync it made
// the same way, under the same rules: it sets timerFiring around the end.

import (
	"math/bits"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/aioring/aioring/internal/gtoken"
)

// timerGoroutine is what cbGoid holds while the Aio's callback runs on a
// timer's goroutine where there is no goroutine token; goroutine ids are
// positive.
const timerGoroutine = -1

// timerTokens: callbacks on timers' goroutines are named by the
// goroutine's token (internal/gtoken), where there are tokens; otherwise
// by the digit chain. Tests turn it off to run the chain on amd64 too
// (SetTimerTokens), never while such a callback runs.
var timerTokens atomic.Bool

func init() { timerTokens.Store(gtoken.Available) }

// timerCallbackID is what cbGoid holds while the Aio's callback runs on
// the calling timer goroutine: its token, negated (tokens are addresses,
// never 0 and below 1<<63), or timerGoroutine without tokens.
func timerCallbackID() int64 {
	if timerTokens.Load() {
		return -int64(gtoken.Current())
	}
	return timerGoroutine
}

// onOwnTimerCallback reports whether the caller is a's callback running
// on a timer's goroutine; g (< 0) is a's cbGoid.
func onOwnTimerCallback(a *Aio, g int64) bool {
	if g != timerGoroutine {
		return g == timerCallbackID()
	}
	return timerCallbackOnStack() == a.stackID()
}

// ownRoundLocked returns, when a start now comes from the Aio's own
// callback running in a round of one of the backend's workers, that
// worker's goroutine id: the round submits what the callback queued when
// it returns (Submit's round). Otherwise 0: a callback on a timer's
// goroutine has no round, and its starts are submitted as any
// goroutine's are.
func (a *Aio) ownRoundLocked() int64 {
	if a.state == stateCallback && a.cbGoid > 0 {
		return a.cbGoid
	}
	return 0
}

// onTimer runs on the goroutine of the Aio's own timer (an engine
// deadline; a Sleep's arm is in the engine's queue, onQueuedTimer). A
// fire of an earlier operation's arm that disarmLocked could not stop is
// skipped (stale), so a timer never acts on an operation before that
// operation's own deadline. If the fire ends the operation (an abort the
// engine finishes at once), its callback runs here.
func (a *Aio) onTimer() {
	a.mu.Lock()
	if a.stale > 0 {
		a.stale--
		a.unlock()
		return
	}
	if !a.armed || a.queued {
		a.unlock()
		return
	}
	if a.lazy && !a.lazyDueLocked() {
		a.unlock()
		return
	}
	a.fireLocked()
}

// onQueuedTimer runs on a runner of the engine's queue of Sleeps
// (sleepqueue.go) for the entry of arm seq, taken from the heap: if that
// arm is still the Aio's current one (no abort withdrew it), it ends the
// Sleep, and its callback runs here.
func (a *Aio) onQueuedTimer(seq uint32) {
	a.mu.Lock()
	if !a.armed || !a.queued || a.qstate.Load() != seq<<1 {
		a.unlock()
		return
	}
	a.queued = false
	a.fireLocked()
}

// fireLocked ends the operation the Aio's timer guards, as its deadline
// has come, and runs the callback on this goroutine if the end falls to
// it. Called with mu held, the arm checked current; it releases mu.
func (a *Aio) fireLocked() {
	a.armed = false
	a.timerFiring = true
	if a.state == stateTimer {
		var err error
		if a.sleepTimesOut {
			err = ErrTimedOut
		}
		a.finishLocked(err, 0, nil)
	} else {
		// A kernel operation gets a cancel (its CQE ends it, on a
		// reaper); a RecvMsg waiting ends now, here. The abort may
		// release mu on the way: an end by another goroutine meanwhile
		// is ours to run too (runHere), which is as good.
		a.abortAndUnlock(ErrTimedOut)
		a.mu.Lock()
	}
	a.timerFiring = false
	run := a.claimRunHereLocked()
	a.unlock()
	if run {
		a.runTimerCallbacks()
	}
}

// claimRunHereLocked reports whether the end just made with timerFiring
// set fell to the calling goroutine (runHere), and if so begins its
// callback here, in the same critical section (one lock per fire fewer);
// the caller then runs it with runTimerCallbacks once mu is released.
func (a *Aio) claimRunHereLocked() bool {
	run := a.runHere
	a.runHere = false
	if run {
		if !a.e.timerCallbacks.Load() {
			a.e.timerCallbacks.Store(true)
		}
		a.beginTimerCallbackLocked()
	}
	return run
}

// lazyDueLocked decides a lazy arm's fire (ops.go, armLazyLocked): true
// when the operation it guards is past its deadline, which the fire then
// ends as any engine deadline's; false when it lapses (no operation to
// guard) or is armed again for a later deadline.
func (a *Aio) lazyDueLocked() bool {
	if a.x.lazyAt == 0 {
		a.armed, a.lazy = false, false
		return false
	}
	if now := a.e.clock.now(); a.x.lazyAt > now {
		a.x.lazyFire = a.x.lazyAt
		a.timer.Reset(time.Duration(a.x.lazyAt - now))
		return false
	}
	a.lazy, a.x.lazyAt = false, 0
	return true
}

// runTimerCallbacks runs the Aio's callback (its operation is Done) on
// the calling timer goroutine, and the callbacks of operations of the
// same Aio that end meanwhile (followUp), one after the other.
// The first callback's beginTimerCallbackLocked is onTimer's.
func (a *Aio) runTimerCallbacks() {
	for a.runTimerCallback() {
		a.mu.Lock()
		a.beginTimerCallbackLocked()
		a.unlock()
	}
}

// beginTimerCallbackLocked marks the callback about to run on this timer
// goroutine.
func (a *Aio) beginTimerCallbackLocked() {
	if a.state == stateDone {
		a.state = stateCallback // a start is allowed from here on
	}
	a.cbGoid = timerCallbackID()
}

// runTimerCallback runs one callback, begun by beginTimerCallbackLocked;
// it reports whether another is due (followUp).
func (a *Aio) runTimerCallback() (again bool) {
	defer func() {
		// Also if the callback panics (which still crashes the program).
		a.mu.Lock()
		a.callbackDoneLocked()
		again = a.followUp
		a.followUp = false
		a.unlock()
	}()
	// cbGoid, which this goroutine wrote under mu just before
	// (beginTimerCallbackLocked) and nobody else writes while the
	// callback runs, says how the callback is named.
	if a.cbGoid != timerGoroutine {
		a.cb(a) // cbGoid is this goroutine's token
		return false
	}
	a.e.timerIndex() // before the spelling: stackID reads it
	spellThenCall(a, a.stackID())
	return false // replaced by the deferred function
}

// stackID is what the digit chain spells for a: a number no other live
// Aio has. Short, so that the chain is a handful of frames: a's slot in
// its engine's table and its engine's timer index (timerIndex), odd so
// that it is never an address. Spelling the Aio's address instead (16
// digits) grew every timer goroutine's stack and halved the timers row
// (docs/design.md, decision 21: 3+3 alternated runs in each of the three
// conditions, e.g. quiet 326.6k against 664.6k Sleeps/s). Without an index
// (more than 255 engines alive with timers) it is a's address: the heap
// does not move objects, and a is live while its callback runs.
func (a *Aio) stackID() uintptr {
	i := a.e.timerIdx.Load()
	if i != 0 && i != timerIdxNone && a.slot != noSlot && uint64(a.slot) < 1<<(bits.UintSize-10) {
		return uintptr(a.slot+1)<<9 | uintptr(i)<<1 | 1
	}
	return uintptr(unsafe.Pointer(a))
}

// timerIdxs hands out the engines' timer indexes: 1 to 255, each held by
// at most one engine from its first timer-run callback until its Close.
var timerIdxs struct {
	mu   sync.Mutex
	used [256]bool
}

// timerIdxNone: every index was taken when the engine asked.
const timerIdxNone = 256

// timerIndex returns e's timer index, taking one on first use.
func (e *Engine) timerIndex() uint32 {
	if v := e.timerIdx.Load(); v != 0 {
		return v
	}
	timerIdxs.mu.Lock()
	defer timerIdxs.mu.Unlock()
	if v := e.timerIdx.Load(); v != 0 {
		return v
	}
	v := uint32(timerIdxNone)
	for i := 1; i < len(timerIdxs.used); i++ {
		if !timerIdxs.used[i] {
			timerIdxs.used[i], v = true, uint32(i)
			break
		}
	}
	e.timerIdx.Store(v)
	return v
}

// freeTimerIndex gives e's index back, in Close once no callback runs on
// a timer's goroutine (none spells it any more).
func (e *Engine) freeTimerIndex() {
	if v := e.timerIdx.Load(); v != 0 && v != timerIdxNone {
		timerIdxs.mu.Lock()
		timerIdxs.used[v] = false
		timerIdxs.mu.Unlock()
	}
}

// The digit chain. spellThenCall calls one digit function per
// hexadecimal digit of v, lowest first, and the last calls a's callback;
// the frames stay on the stack while the callback runs. The digits are
// called through a table, so none can be inlined, and Go makes no tail
// calls, so every digit keeps its frame.
var digitFns [16]func(a *Aio, v uintptr)

func init() {
	digitFns = [16]func(*Aio, uintptr){timerDigit0, timerDigit1, timerDigit2, timerDigit3,
		timerDigit4, timerDigit5, timerDigit6, timerDigit7, timerDigit8, timerDigit9,
		timerDigitA, timerDigitB, timerDigitC, timerDigitD, timerDigitE, timerDigitF}
}

func spellThenCall(a *Aio, v uintptr) {
	if v == 0 {
		a.cb(a)
		return
	}
	digitFns[v&15](a, v>>4)
}

//go:noinline
func timerDigit0(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit1(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit2(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit3(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit4(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit5(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit6(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit7(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit8(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigit9(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigitA(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigitB(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigitC(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigitD(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigitE(a *Aio, v uintptr) { spellThenCall(a, v) }

//go:noinline
func timerDigitF(a *Aio, v uintptr) { spellThenCall(a, v) }

// timerCallbackOnStack returns the stackID of the Aio whose callback the
// calling goroutine runs on a timer's goroutine, or 0 if it runs none. It
// walks the whole stack (a few hundred nanoseconds and an allocation for
// deep ones): only the checks behind Wait, Stop, Free and Close call it,
// and only while some callback runs on a timer's goroutine.
func timerCallbackOnStack() uintptr {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(1, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	const prefix = "github.com/aioring/aioring/aio.timerDigit"
	// A goroutine holds at most one chain (callbacks on a timer's
	// goroutine run one after the other, never nested), so every digit
	// frame on the stack is the chain's (spellThenCall's frames sit
	// between them).
	var v uintptr
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		// Innermost first: the highest digit comes first.
		if d, ok := strings.CutPrefix(f.Function, prefix); ok && len(d) == 1 {
			v = v<<4 | uintptr(strings.IndexByte("0123456789ABCDEF", d[0]))
		}
		if !more {
			break
		}
	}
	return v
}

// closingFromTimerCallback reports whether the caller runs, on a timer's
// goroutine, the callback of one of e's Aios (Close would wait for it).
func (e *Engine) closingFromTimerCallback() bool {
	if timerTokens.Load() {
		// The Aios first, then each under its own lock (Aio.mu comes
		// before Engine.mu). One that is freed meanwhile runs no
		// callback here: it was not busy.
		var aios []*Aio
		e.mu.Lock()
		e.table.each(func(a *Aio) { aios = append(aios, a) })
		e.mu.Unlock()
		id := timerCallbackID()
		for _, a := range aios {
			a.mu.Lock()
			own := a.cbGoid == id
			a.mu.Unlock()
			if own {
				return true
			}
		}
		return false
	}
	id := timerCallbackOnStack()
	if id == 0 {
		return false
	}
	own := false
	e.mu.Lock()
	e.table.each(func(a *Aio) { own = own || a.stackID() == id })
	e.mu.Unlock()
	return own
}
