package aio

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/completion"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Config configures an Engine. The zero value is a sensible default.
type Config struct {
	Entries        uint32        // submission queue size; 0 means a sensible default (>= 256)
	DefaultTimeout time.Duration // what DefaultTimeout resolves to; 0 means Infinite
	Callbacks      int           // goroutines that run callbacks; 0 means max(2, GOMAXPROCS)
	SQPoll         bool          // kernel submission polling thread (opt-in)
	// Netpoll makes an idle engine park its completion goroutine on Go's
	// netpoller instead of sleeping in io_uring_enter on a locked thread,
	// so an idle engine holds no OS thread. It gives up SINGLE_ISSUER and
	// DEFER_TASKRUN. Measured here: back-to-back operations are slower
	// (Nop+Wait 1.2-1.4 us against 0.8 us), wakeups of an idle engine
	// faster (a 1 us Sleep+Wait 29-39 us against 92-96 us); see README.
	Netpoll bool
}

// DefaultEntries is the submission queue size used when Config.Entries is 0.
const DefaultEntries = 1024

// Engine owns one io_uring, the goroutine that drives it and the goroutines
// that run callbacks. It is safe for concurrent use.
type Engine struct {
	cfg  Config
	loop *completion.Loop
	cbq  callbackQueue

	closed    atomic.Bool // set once, first thing in Close
	mu        sync.Mutex  // guards table and the close handshake; taken after Aio.mu, never before
	table     slotTable
	closeDone chan struct{}

	// Owned by the completion goroutine: the batch of finished operations
	// collected by Complete and handed to the callback workers by Flush.
	batchHead, batchTail *Aio
	batchN               int

	probe ring.Probe
	clock monoClock
}

// NewEngine creates an engine with its own io_uring. Where io_uring cannot be
// used (another OS, a kernel too old, disabled by sysctl, blocked by
// seccomp) the error matches ErrUnsupported and says why and what to do.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Entries == 0 {
		cfg.Entries = DefaultEntries
	}
	if cfg.Entries > ring.MaxEntries {
		return nil, &wrapError{ErrInvalid, fmt.Errorf("Config.Entries %d exceeds %d", cfg.Entries, ring.MaxEntries)}
	}
	if cfg.Callbacks <= 0 {
		cfg.Callbacks = max(2, runtime.GOMAXPROCS(0))
	}
	if cfg.DefaultTimeout == 0 || cfg.DefaultTimeout == DefaultTimeout {
		cfg.DefaultTimeout = Infinite
	}
	e := &Engine{cfg: cfg, closeDone: make(chan struct{})}
	e.clock.init()
	flags := completion.DefaultFlags
	if cfg.SQPoll {
		// SQPOLL cannot be combined with DEFER_TASKRUN; the kernel thread
		// is the submitter, so SINGLE_ISSUER is not needed either.
		flags = ring.SetupSQPoll | ring.SetupSubmitAll | ring.SetupCoopTaskrun | ring.SetupTaskrunFlag
	}
	cq := min(8*cfg.Entries, ring.MaxCQEntries)
	loop, err := completion.Start(completion.Config{Entries: cfg.Entries, CQEntries: cq, Flags: flags, Handler: e, Netpoll: cfg.Netpoll})
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return nil, &wrapError{ErrUnsupported, err}
		}
		return nil, fmt.Errorf("aio: creating the io_uring: %w", err)
	}
	if missing := requiredFeatures(loop.Features()); missing != "" {
		loop.Close()
		return nil, &wrapError{ErrUnsupported, &ring.ErrMissingFeature{Feature: missing}}
	}
	e.loop = loop
	e.probe = *loop.Probe()
	e.cbq.start(cfg.Callbacks)
	return e, nil
}

// requiredFeatures names the first io_uring feature the engine needs that
// the kernel lacks, or "".
func requiredFeatures(f ring.Features) string {
	switch {
	case f&ring.FeatNoDrop == 0:
		return "IORING_FEAT_NODROP (5.5)"
	case f&ring.FeatSubmitStable == 0:
		return "IORING_FEAT_SUBMIT_STABLE (5.5)"
	case f&ring.FeatCQESkip == 0:
		return "IORING_FEAT_CQE_SKIP (5.17)"
	}
	return ""
}

var (
	defaultMu     sync.Mutex
	defaultEngine *Engine
)

// Default returns the process-wide engine (zero Config), creating it on first
// use. A failed creation is retried by the next call.
func Default() (*Engine, error) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultEngine == nil {
		e, err := NewEngine(Config{})
		if err != nil {
			return nil, err
		}
		defaultEngine = e
	}
	return defaultEngine, nil
}

// New allocates an Aio on the Default engine.
func New(cb func(*Aio)) (*Aio, error) {
	e, err := Default()
	if err != nil {
		return nil, err
	}
	return e.NewAio(cb), nil
}

// NewAio allocates an Aio (nng_aio_alloc). cb runs once per operation on a
// callback goroutine; it may be nil, and then Wait is how to learn that an
// operation ended. The timeout starts as DefaultTimeout. On a closed engine
// the Aio still works, and every operation ends with ErrClosed.
func (e *Engine) NewAio(cb func(*Aio)) *Aio {
	a := &Aio{e: e, cb: cb, timeout: DefaultTimeout, slot: noSlot}
	e.mu.Lock()
	if !e.closed.Load() && !e.table.install(a) {
		a.slot = noSlot // table full: the Aio's operations end with ErrInvalid
	}
	e.mu.Unlock()
	return a
}

// release returns a's slot; a must be idle.
func (e *Engine) release(a *Aio) {
	if a.slot == noSlot {
		return
	}
	e.mu.Lock()
	e.table.remove(a)
	e.mu.Unlock()
	a.slot = noSlot
}

// Close completes every pending operation with ErrClosed, runs every
// callback and waits for them, and then releases the ring: afterwards no
// goroutine or descriptor of the engine remains. Operations started later end
// with ErrClosed. Close is idempotent; it must not be called from a callback,
// as it waits for callbacks to return.
func (e *Engine) Close() error {
	if e.cbq.isWorker(curGoid()) {
		panic("aio: Engine.Close called from a callback; it waits for callbacks to finish and would deadlock")
	}
	if !e.closed.CompareAndSwap(false, true) {
		<-e.closeDone
		return nil
	}
	// Every start after this point sees closed under its Aio's lock, so one
	// abort per Aio, taken under that lock, reaches every operation that
	// could still be started the old way.
	var aios []*Aio
	e.mu.Lock()
	e.table.each(func(a *Aio) { aios = append(aios, a) })
	e.mu.Unlock()
	for {
		busy := false
		for _, a := range aios {
			if a.Busy() {
				busy = true
				a.Abort(ErrClosed)
			}
		}
		if !busy {
			break
		}
		for _, a := range aios {
			a.wait()
		}
	}
	e.cbq.close()
	err := e.loop.Close()
	close(e.closeDone)
	return err
}

// Stats reports the completion loop's counters.
func (e *Engine) Stats() completion.Stats { return e.loop.Stats() }

// RingFlags reports the io_uring setup flags the engine runs with.
func (e *Engine) RingFlags() ring.SetupFlags { return e.loop.Flags() }

// Supports reports whether the kernel implements op.
func (e *Engine) Supports(op sqe.Op) bool { return e.probe.Supports(op) }

// dispatch runs a's callback (or, without one, finishes the operation) for
// an operation that ended without reaching the kernel. It is called with
// a.mu held.
func (e *Engine) dispatchLocked(a *Aio) {
	if a.cb == nil {
		a.doneLocked()
		return
	}
	if !e.cbq.push(a) {
		// The workers are gone: run the callback on a goroutine of its own.
		go a.runCallback(0)
	}
}
