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
	Entries        uint32        // submission queue size of each ring; 0 means DefaultEntries (>= 256)
	DefaultTimeout time.Duration // what DefaultTimeout resolves to; 0 means Infinite
	// Callbacks is how many goroutines reap completions and run callbacks,
	// spread over the rings (at least one per ring); 0 means
	// max(2, GOMAXPROCS).
	Callbacks int
	SQPoll    bool // kernel submission polling thread (opt-in)
	// Rings is how many io_urings the engine spreads its Aios over (each
	// Aio is bound to one when it is made, round robin); 0 means one ring
	// per two callback goroutines, max(1, Callbacks/2), so that each ring
	// has a standby goroutine for when a callback blocks. Programs with
	// many file operations in flight gain from one ring per P
	// (runtime.GOMAXPROCS(0)); docs/design.md has the measurements.
	Rings int
	// Backend picks how operations reach the kernel: BackendAuto (the
	// zero value, io_uring where it works, the portable backend
	// otherwise; AIORING_BACKEND overrides it), BackendIOURing or
	// BackendPortable. Entries, SQPoll and Rings apply to io_uring only.
	Backend Backend
	// Netpoll has no effect: the engine always waits for completions
	// through Go's netpoller, so an idle engine holds no OS thread. It is
	// kept so that programs that set it still build.
	Netpoll bool
}

// Engine owns one or more io_urings (shards), the goroutines that reap
// them and run callbacks, and the table that maps completions back to
// Aios. It is safe for concurrent use.
type Engine struct {
	cfg      Config
	backend  Backend             // BackendIOURing or BackendPortable
	fallback error               // why BackendAuto did not get io_uring; nil otherwise
	shards   []backend           // where Aios' operations go (the rings, or one portable backend)
	rings    []*completion.Shard // the io_uring shards; empty on the portable backend
	port     *portShard          // the portable backend; nil on io_uring
	next     atomic.Uint32       // round-robin shard for NewAio

	closed    atomic.Bool // set once, first thing in Close
	mu        sync.Mutex  // guards table and the close handshake; taken after Aio.mu, never before
	table     slotTable
	closeDone chan struct{}
	closeErr  error

	probe ring.Probe
	flags ring.SetupFlags
	clock monoClock
}

// NewEngine creates an engine. With Config.Backend left BackendAuto it
// uses io_uring where it can, and otherwise the portable backend, with
// Fallback telling why; AIORING_BACKEND ("io_uring" or "portable")
// overrides BackendAuto, and any other value of it is ErrInvalid. With
// BackendIOURing, where io_uring cannot be used (another OS, a kernel too
// old, disabled by sysctl, blocked by seccomp) the error matches
// ErrUnsupported and says why and what to do.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Entries == 0 {
		cfg.Entries = DefaultEntries
	}
	if cfg.Entries > ring.MaxEntries {
		return nil, &wrapError{ErrInvalid, fmt.Errorf("Config.Entries %d exceeds %d", cfg.Entries, ring.MaxEntries)}
	}
	be, err := resolveBackend(cfg.Backend)
	if err != nil {
		return nil, err
	}
	if cfg.Callbacks <= 0 {
		cfg.Callbacks = max(2, runtime.GOMAXPROCS(0))
	}
	if cfg.Rings <= 0 {
		cfg.Rings = max(1, cfg.Callbacks/reapersPerRing)
	}
	if cfg.DefaultTimeout == 0 || cfg.DefaultTimeout == DefaultTimeout {
		cfg.DefaultTimeout = Infinite
	}
	e := &Engine{cfg: cfg, closeDone: make(chan struct{})}
	e.clock.init()
	if be != BackendPortable {
		err := e.startRings()
		switch {
		case err == nil:
			e.backend = BackendIOURing
			return e, nil
		case be == BackendIOURing || !errors.Is(err, ErrUnsupported):
			return nil, err
		}
		e.fallback = err
	}
	p, err := startPortable(e)
	if err != nil {
		return nil, fmt.Errorf("aio: starting the portable backend: %w", err)
	}
	e.backend, e.port, e.shards = BackendPortable, p, []backend{p}
	return e, nil
}

// startRings creates the engine's io_urings.
func (e *Engine) startRings() error {
	cfg := e.cfg
	flags := completion.DefaultFlags
	if cfg.SQPoll {
		flags = ring.SetupSQPoll | ring.SetupSubmitAll
	}
	cq := min(cqFactor*cfg.Entries, ring.MaxCQEntries)
	for i := 0; i < cfg.Rings; i++ {
		// Callbacks spread evenly, at least one reaper per ring.
		reapers := max(1, cfg.Callbacks/cfg.Rings)
		if i < cfg.Callbacks%cfg.Rings {
			reapers++
		}
		sh, err := completion.Start(completion.Config{Entries: cfg.Entries, CQEntries: cq, Flags: flags,
			Reapers: reapers, Handler: (*engineHandler)(e)})
		if err == nil {
			if missing := requiredFeatures(sh.Features()); missing != "" {
				sh.Close()
				err = &wrapError{ErrUnsupported, &ring.ErrMissingFeature{Feature: missing}}
			}
		}
		if err != nil {
			for _, s := range e.rings {
				s.Close()
			}
			e.rings, e.shards = nil, nil
			var we *wrapError
			switch {
			case errors.As(err, &we):
				return err
			case errors.Is(err, errors.ErrUnsupported):
				return &wrapError{ErrUnsupported, err}
			}
			return fmt.Errorf("aio: creating the io_uring: %w", err)
		}
		e.rings = append(e.rings, sh)
		e.shards = append(e.shards, ringBackend{sh})
	}
	e.probe = *e.rings[0].Probe()
	e.flags = e.rings[0].Flags()
	return nil
}

// Backend reports which backend the engine runs: BackendIOURing or
// BackendPortable.
func (e *Engine) Backend() Backend { return e.backend }

// Fallback is nil when the engine runs io_uring, or when the portable
// backend was asked for. When BackendAuto fell back to the portable
// backend, it is the reason io_uring was not used: an error matching
// ErrUnsupported with the cause and the fix, as NewEngine with
// BackendIOURing returns it. A program may log it once at start.
func (e *Engine) Fallback() error { return e.fallback }

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

// NewAio allocates an Aio (nng_aio_alloc) bound to one of the engine's
// rings. cb runs once per operation on one of the engine's goroutines; it
// may be nil, and then Wait is how to learn that an operation ended. The
// timeout starts as DefaultTimeout. On a closed engine the Aio still
// works, and every operation ends with ErrClosed.
func (e *Engine) NewAio(cb func(*Aio)) *Aio {
	a := &Aio{e: e, cb: cb, timeout: DefaultTimeout, slot: noSlot}
	a.sh = e.shards[int(e.next.Add(1)-1)%len(e.shards)]
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

// isEngineGoroutine reports whether goid is one of the engine's reapers.
func (e *Engine) isEngineGoroutine(goid int64) bool {
	for _, s := range e.shards {
		if s.IsReaper(goid) {
			return true
		}
	}
	return false
}

// Close completes every pending operation with ErrClosed, runs every
// callback and waits for them, and then releases the rings: afterwards no
// goroutine or descriptor of the engine remains. Operations started later
// end with ErrClosed. Close is idempotent; it must not be called from a
// callback, as it waits for callbacks to return. It returns an error only
// if a ring lost completions in the kernel (EBADR); the operations that
// were waiting for them end with ErrClosed, and their buffers stay pinned.
func (e *Engine) Close() error {
	if e.isEngineGoroutine(completion.GoroutineID()) {
		panic("aio: Engine.Close called from a callback; it waits for callbacks to finish and would deadlock")
	}
	if !e.closed.CompareAndSwap(false, true) {
		<-e.closeDone
		return e.closeErr
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
			e.waitClosing(a)
		}
	}
	var errs []error
	for _, s := range e.shards {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	e.closeErr = errors.Join(errs...)
	close(e.closeDone)
	return e.closeErr
}

// waitClosing waits for a during Close. On a ring whose kernel dropped
// completions (EBADR) the operation's CQE may never come: after a grace
// period Close ends it itself with ErrClosed. Its buffers stay pinned, as
// the kernel may still hold them until the ring is torn down.
func (e *Engine) waitClosing(a *Aio) {
	if !a.sh.Broken() {
		a.wait()
		return
	}
	deadline := time.Now().Add(brokenCloseGrace)
	for a.Busy() && time.Now().Before(deadline) {
		a.sh.ReapInline()
		time.Sleep(time.Millisecond)
	}
	a.mu.Lock()
	if a.state == stateKernel {
		lostPins.keep(a)
		a.finishLocked(ErrClosed, 0, nil)
	}
	a.mu.Unlock()
	a.wait()
}

// Stats reports the counters of the engine's rings, summed (zeros on the
// portable backend, which has no ring).
func (e *Engine) Stats() completion.Stats {
	var st completion.Stats
	for _, s := range e.rings {
		st = st.Add(s.Stats())
	}
	return st
}

// RingFlags reports the io_uring setup flags the engine's rings run with
// (0 on the portable backend).
func (e *Engine) RingFlags() ring.SetupFlags { return e.flags }

// Supports reports whether the engine can run op: whether the kernel's
// io_uring implements it, or, on the portable backend, whether that
// backend has a system call for it.
func (e *Engine) Supports(op sqe.Op) bool {
	if e.port != nil {
		return portableSupports(op)
	}
	return e.probe.Supports(op)
}

// pinKeeper keeps the pins of operations ended by Close on a ring that
// lost their completions: the kernel may still write their buffers until
// the ring's teardown finishes, which nothing reports.
type pinKeeper struct {
	mu   sync.Mutex
	pins []runtime.Pinner
}

var lostPins pinKeeper

func (l *pinKeeper) keep(a *Aio) {
	l.mu.Lock()
	l.pins = append(l.pins, a.pin) // the copy shares the pinned set
	a.pin = runtime.Pinner{}
	l.mu.Unlock()
}
