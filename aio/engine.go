package aio

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/internal/portable"
	"github.com/aioring/aioring/internal/seat"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Config configures an Engine. The zero value is a sensible default.
type Config struct {
	Entries        uint32        // submission queue size of each ring; 0 means DefaultEntries (>= 256)
	DefaultTimeout time.Duration // what DefaultTimeout resolves to; 0 means Infinite; another negative value than Infinite is ErrInvalid
	// Callbacks is how many goroutines reap completions and run callbacks,
	// spread over the rings (at least one per ring); 0 means
	// max(2, GOMAXPROCS); negative is ErrInvalid.
	Callbacks int
	SQPoll    bool // kernel submission polling thread (opt-in)
	// Rings is how many io_urings the engine spreads its Aios over (each
	// Aio is bound to one when it is made, round robin); 0 means one ring
	// per two callback goroutines, max(1, Callbacks/2), so that each ring
	// has a standby goroutine for when a callback blocks. Programs with
	// many file operations in flight gain from one ring per P
	// (runtime.GOMAXPROCS(0)); docs/design.md has the measurements.
	// At most MaxRings, which also bounds the default; negative is
	// ErrInvalid.
	Rings int
	// MsgBuffers is how many message buffers each ring's pool holds
	// (RecvMsg); 0 means DefaultMsgBuffers. It must be a power of two up to
	// 32768 (the kernel's limit for a provided-buffer ring).
	MsgBuffers int
	// MsgBufferSize is the size of each message buffer in bytes: the
	// most one RecvMsg returns; 0 means DefaultMsgBufferSize. At most
	// MaxMsgBufferSize. On a datagram socket through io_uring's
	// multishot receive the buffer also holds the kernel's header and
	// the source address (32 to 128 bytes), so a datagram longer than
	// what is left is truncated, and a size that leaves no room is
	// ErrInvalid at the RecvMsg (docs/design.md, Known limits).
	MsgBufferSize int
	// SendZeroCopyMin: a Send of at least this many bytes (all buffers
	// together) uses zero-copy send (IORING_OP_SEND_ZC, SENDMSG_ZC for
	// several buffers; Linux 6.0/6.1, else a plain send). 0, the default,
	// never does: over loopback it never paid here (docs/design.md,
	// decision 15); it is for real NICs, where the threshold is best
	// measured on the target. Its callback runs only once the kernel has
	// released the buffer, for TCP when the peer has acknowledged the
	// data, so it can run well after the send's timeout, and Stop, Wait
	// and Close wait for it. A socket that refuses zero copy (Unix
	// sockets; TCP sockets accepted by an MPTCP listener, as Go's
	// net.Listen makes by default) gets the send plainly, and that Aio
	// sends plainly on that descriptor from then on. Negative: ErrInvalid.
	SendZeroCopyMin int
	// Backend picks how operations reach the kernel: BackendAuto (the
	// zero value, io_uring where it works, the portable backend
	// otherwise; AIORING_BACKEND overrides it), BackendIOURing or
	// BackendPortable. Entries, SQPoll and Rings apply to io_uring only.
	Backend Backend
	// RingOnly sends every operation through the ring. By default a file
	// read at an offset is first tried on the goroutine that starts it,
	// with preadv2(RWF_NOWAIT), which a page-cache hit makes cheaper than
	// io_uring's own read (docs/design.md, "Cache hits without the
	// ring"); reads that keep missing go straight to the ring. A file
	// write at an offset is made on that goroutine too: with
	// pwritev2(RWF_NOWAIT) where the file system takes it, and where it
	// refuses (ext4 does, for every buffered write, and io_uring then
	// hands the write to an io-wq worker) with a plain pwritev2 of at
	// most 64 KiB, the call os.File makes, which may wait briefly; an
	// Aio whose writes turn slow leaves its next ones to the ring for a
	// while (docs/design.md, decision 68). Timeouts and cancels do not
	// cut such a write short, as they cannot in io-wq. And a
	// Recv or Send of an Aio without a callback (a caller that waits for
	// it, as adapt.Conn does) is carried as the portable backend carries
	// it, a non-blocking call then a readiness wait, which on Linux costs
	// less than the ring's wait ("decision 40"; adapt.Conn goes further
	// and waits in Go's netpoller, decision 46, unless RingOnly is
	// set). And a read that will
	// wait for a device (O_DIRECT, or data the try did not find cached)
	// is submitted at once even from a callback, and the engine waits
	// for it in the ring ("decision 44"); with RingOnly reads are not
	// looked at, and all are submitted with their callbacks' batch. The
	// portable backend always tries first.
	RingOnly bool
	// Deprecated: Netpoll has no effect. The engine always waits for
	// completions through Go's netpoller, so an idle engine holds no OS
	// thread; the field is kept only so that programs that set it still
	// build.
	Netpoll bool
	// StatxInline makes every Statx a statx(2) that the goroutine
	// starting it makes at once (Linux), instead of an IORING_OP_STATX,
	// which the kernel always hands to an io-wq worker (or, on the
	// portable backend, a file worker's call): no thread hop, at the
	// price of the starter's time in the call. The callback still runs
	// on the engine's goroutines; timeouts and cancels do not cut the
	// call short, and a zero timeout lets it run. A Statx of an open
	// descriptor (AT_EMPTY_PATH with an empty path) is made that way
	// without it, unless RingOnly is set: it walks no path, so it cannot
	// wait for the disk the way a path lookup can. Without it, a Statx of
	// a path is made that way too while the engine's lookups are served
	// from memory, and goes through the ring for a while after one took
	// long enough to have read the disk (docs/design.md, decision 28);
	// never for a zero timeout's attempt. docs/design.md, "Files by
	// name", says when each pays.
	StatxInline bool
	// FileWorkers caps the kernel threads (io-wq workers) that serve file
	// work which must wait (opens, Statx, reads and syncs that go to the
	// disk), per OS thread that submits to a ring, at most
	// math.MaxUint32 (the kernel's count is 32 bits; more is ErrInvalid);
	// 0 means DefaultFileWorkers, a negative value leaves the kernel's own cap
	// (its default is min(SQ entries, 4 × CPUs) per thread). The kernel
	// keeps one such pool per thread, shared by every io_uring that
	// thread uses, so the cap also bounds other rings of the process.
	// io_uring only (the portable backend has its own bounded file
	// workers); Linux 5.15 or later, else ignored. Work beyond the cap
	// waits for a worker: a FIFO open with no writer holds one until a
	// writer comes or its timeout cancels it.
	FileWorkers int
	// BusyPoll is how long a ring's reaper keeps looking for completions
	// before it parks, when operations are in flight: a completion that
	// comes meanwhile (the next message of a busy connection, as a rule)
	// is then taken without a thread wakeup, which at one connection
	// costs more than the look. The reaper looks only while that pays:
	// not again after a look that found nothing until completions come
	// that soon again, and not for a while after one that lost its CPU to
	// another process (docs/design.md, decision 50). On the portable
	// backend (Linux) the goroutine waiting for readiness looks at its
	// epoll instance the same way before it parks (decision 70). A look
	// holds the reaper's P, so none follows a completion that readied a
	// goroutine in Wait, which wants the P (decision 72). 0 means
	// DefaultBusyPoll; negative never.
	BusyPoll time.Duration
}

// Engine owns one or more io_urings (shards), the goroutines that reap
// them and run callbacks, and the table that maps completions back to
// Aios. It is safe for concurrent use.
type Engine struct {
	cfg       Config
	backend   Backend       // BackendIOURing or BackendPortable
	fallback  error         // why BackendAuto did not get io_uring; nil otherwise
	shards    []backend     // where Aios' operations go: the rings, or one portable backend
	next      atomic.Uint32 // round-robin shard for NewAio
	tryFirst  bool          // file reads and writes at an offset are tried on their starter first (tryfirst.go; decisions 20, 68)
	trySplice bool          // and Splices (the ring only: the portable backend tries them in Submit)
	aside     syncAside     // Fsync and Fdatasync made beside the ring (syncaside.go)
	port      sockPort      // blocking socket transfers of a ring engine (sockwait.go)
	// writeHomes: the home reaper of each descriptor written (writehome.go)
	writeHomes writeHomes
	// statxPaths: where a Statx of a path goes (ops_file.go, Linux)
	statxPaths statxAdapt

	closed    atomic.Bool // set once, first thing in Close
	mu        sync.Mutex  // guards table and the close handshake; taken after Aio.mu, never before
	table     slotTable
	closeDone chan struct{}
	closeErr  error

	probe ring.Probe // the kernel's opcodes (the first ring's probe; all rings share a kernel)
	clock monoClock
	// sleeps: the pending Sleeps under one runtime timer (sleepqueue.go).
	sleeps sleepQueue
	msgs   msgEngine
	fixed  fixedRes // registered buffers and descriptors (fixed.go)
	// zcRefusals counts zero-copy sends refused by their socket
	// (EOPNOTSUPP) and re-sent plainly (sendzc.go); for tests.
	zcRefusals atomic.Uint64
	// zcEarlyNotifs counts notifications that came before their send's
	// result (sendzc.go); for tests and benchmarks.
	zcEarlyNotifs atomic.Uint64
	// directFolded: Stats.Direct's count from released Aios, and every
	// directFoldAt from live ones (Aio.directPending).
	directFolded atomic.Uint64
	// requeued is Stats.Requeued: socket transfers the kernel gave back
	// and retryAndUnlock queued again (rare: one per 128 idle wake-ups
	// of one operation at most).
	requeued atomic.Uint64
	// timerCallbacks: a callback of this engine has run on a timer's
	// goroutine (timercb.go), so Close looks at its caller's stack for
	// one. Set once, read by Close only.
	timerCallbacks atomic.Bool
	timerIdx       atomic.Uint32 // this engine's part of the timer-run callbacks' identity (timercb.go); 0 until the first
	// ringWaits: an operation that may wait without end has been started
	// (fdcancel.go), so CloseFD cancels its descriptor's requests. Set
	// once.
	ringWaits atomic.Bool
	fdCloses  fdCloses // the descriptors CloseFD cancelled requests of, lately (fdcancel.go)
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
	if err := resolveMsgConfig(&cfg); err != nil {
		return nil, err
	}
	if cfg.SendZeroCopyMin < 0 {
		return nil, &wrapError{ErrInvalid, fmt.Errorf("Config.SendZeroCopyMin %d is negative (0 turns zero-copy send off)", cfg.SendZeroCopyMin)}
	}
	be, err := resolveBackend(cfg.Backend)
	if err != nil {
		return nil, err
	}
	if err := resolveCounts(&cfg); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, closeDone: make(chan struct{})}
	e.clock.init()
	e.sleeps.e = e
	if be != BackendPortable {
		err := e.startRings()
		switch {
		case err == nil:
			e.backend = BackendIOURing
			e.msgs.init(e, cfg)
			return e, nil
		case be == BackendIOURing || !errors.Is(err, ErrUnsupported):
			return nil, err
		}
		e.fallback = err
	}
	p, err := portable.Start((*engineHandler)(e), e.clock.now, cfg.Callbacks, max(cfg.BusyPoll, 0))
	if err != nil {
		return nil, fmt.Errorf("aio: starting the portable backend: %w", err)
	}
	e.backend, e.shards = BackendPortable, []backend{p}
	// Reads and writes are tried as on a ring where the system has
	// RWF_NOWAIT (decisions 66 and 68); RingOnly, which sends every
	// operation the backend's own way, turns that off here too.
	e.tryFirst = p.TriesFiles() && !cfg.RingOnly
	e.msgs.init(e, cfg)
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
			Reapers: reapers, Handler: (*engineHandler)(e), FileWorkers: uint32(max(cfg.FileWorkers, 0)),
			BusyPoll: max(cfg.BusyPoll, 0)})
		if err == nil {
			if missing := requiredFeatures(sh.Features()); missing != "" {
				sh.Close()
				err = &wrapError{ErrUnsupported, &ring.MissingFeatureError{Feature: missing}}
			}
		}
		if err != nil {
			for _, s := range e.shards {
				s.Close()
			}
			e.shards = nil
			var we *wrapError
			switch {
			case errors.As(err, &we):
				return err
			case errors.Is(err, errors.ErrUnsupported):
				return &wrapError{ErrUnsupported, err}
			}
			return fmt.Errorf("aio: creating the io_uring: %w", err)
		}
		if i == 0 {
			e.probe = *sh.Probe() // one kernel: every ring has the same opcodes
		}
		e.shards = append(e.shards, ringBackend{sh, &e.probe})
		e.tryFirst = !cfg.RingOnly
		e.trySplice = !cfg.RingOnly
		e.aside.on, e.aside.max = !cfg.RingOnly, syncAsideMax
		e.port.on = !cfg.RingOnly
	}
	return nil
}

// Config returns the engine's configuration as NewEngine resolved it: the
// defaults it filled in (Callbacks, Rings, Entries, the message pool's
// sizes, FileWorkers) are what the engine runs with. Backend is as it was
// given; Engine.Backend reports the backend chosen.
func (e *Engine) Config() Config { return e.cfg }

// Backend reports which backend the engine runs: BackendIOURing or
// BackendPortable.
func (e *Engine) Backend() Backend { return e.backend }

// Fallback is nil when the engine runs io_uring, or when the portable
// backend was asked for. When BackendAuto fell back to the portable
// backend, it is the reason io_uring was not used: an error matching
// ErrUnsupported with the cause and the fix, as NewEngine with
// BackendIOURing returns it. A program may log it once at start.
func (e *Engine) Fallback() error { return e.fallback }

// resolveCounts applies the defaults of Callbacks, FileWorkers, BusyPoll,
// Rings and DefaultTimeout, and refuses what they cannot mean: a value
// the kernel would see truncated, or a negative timeout that is neither
// Infinite nor DefaultTimeout (which would otherwise act as Infinite and
// hide a sign error).
func resolveCounts(cfg *Config) error {
	// A negative count has no meaning (0 is the default): refused, as a
	// negative SendZeroCopyMin is, rather than taken as 0.
	if cfg.Callbacks < 0 {
		return &wrapError{ErrInvalid, fmt.Errorf("Config.Callbacks %d is negative (0: max(2, GOMAXPROCS))", cfg.Callbacks)}
	}
	if cfg.Rings < 0 {
		return &wrapError{ErrInvalid, fmt.Errorf("Config.Rings %d is negative (0: one per two callbacks)", cfg.Rings)}
	}
	if cfg.Callbacks == 0 {
		cfg.Callbacks = max(2, runtime.GOMAXPROCS(0))
	}
	if cfg.FileWorkers == 0 {
		cfg.FileWorkers = DefaultFileWorkers
	}
	if int64(cfg.FileWorkers) > math.MaxUint32 { // int64: a 32-bit int cannot hold the bound
		return &wrapError{ErrInvalid, fmt.Errorf("Config.FileWorkers %d exceeds %d (the kernel's count is 32 bits; negative leaves the kernel's own cap)", cfg.FileWorkers, uint32(math.MaxUint32))}
	}
	if cfg.BusyPoll == 0 {
		cfg.BusyPoll = DefaultBusyPoll
	}
	if cfg.Rings > MaxRings {
		return &wrapError{ErrInvalid, fmt.Errorf("Config.Rings %d exceeds %d", cfg.Rings, MaxRings)}
	}
	if cfg.Rings == 0 {
		// Callbacks are goroutines, rings kernel objects with a
		// descriptor and locked memory each: a large Callbacks must not
		// make rings by the thousand (100000 ran out of descriptors).
		cfg.Rings = min(max(1, cfg.Callbacks/reapersPerRing), MaxRings)
	}
	switch d := cfg.DefaultTimeout; {
	case d == 0 || d == DefaultTimeout:
		cfg.DefaultTimeout = Infinite
	case d < 0 && d != Infinite:
		return &wrapError{ErrInvalid, fmt.Errorf("Config.DefaultTimeout %v is negative (0 or Infinite: no timeout)", d)}
	}
	return nil
}

// resolveMsgConfig applies the message defaults and checks the kernel's
// limits.
func resolveMsgConfig(cfg *Config) error {
	if cfg.MsgBuffers == 0 {
		cfg.MsgBuffers = DefaultMsgBuffers
	}
	if cfg.MsgBufferSize == 0 {
		cfg.MsgBufferSize = DefaultMsgBufferSize
	}
	if n := cfg.MsgBuffers; n < 0 || n > ring.MaxBufRingEntries || n&(n-1) != 0 {
		return &wrapError{ErrInvalid, fmt.Errorf("Config.MsgBuffers %d: must be a power of two up to %d (the kernel's limit for a provided-buffer ring)", n, ring.MaxBufRingEntries)}
	}
	if n := cfg.MsgBufferSize; n < 0 || n > MaxMsgBufferSize {
		return &wrapError{ErrInvalid, fmt.Errorf("Config.MsgBufferSize %d: must be between 1 and %d (the kernel's largest single transfer, MAX_RW_COUNT)", n, MaxMsgBufferSize)}
	}
	return nil
}

// CloseFD closes descriptor fd after ending what the engine runs on it
// for RecvMsg and Accept: the multishot request is cancelled, queued
// messages go back to the pool, queued accepted descriptors are closed,
// and RecvMsg or Accept calls waiting on fd end with ErrClosed. A plain
// close suffices once every Aio that used fd has stopped (or, in either
// order, when they are freed with it); use CloseFD to close fd while such
// an Aio lives on: the kernel's multishot request would hold the socket
// open until it stops (no FIN, a listener keeps accepting), and that Aio
// would receive the old descriptor's data if the number is reused (the
// package doc). When a multishot request was armed on fd, CloseFD shuts
// the socket down (shutdown(2), both directions) before closing it, so the
// socket ends at once although the kernel releases the request's hold on
// it a moment later; this ends the connection for every descriptor that
// shares it, as closing the last of them would. For other descriptors it
// is unix.Close.
//
// Every other operation waiting on fd ends with ErrClosed too: on the
// portable backend those waiting for readiness in its poller (a closed
// descriptor leaves a poller without a report), on io_uring those waiting
// in the engine's poller (a blocking Recv or Send of an Aio without a
// callback) and the requests in the rings, which CloseFD cancels before
// the close (IORING_ASYNC_CANCEL_FD, Linux 5.19; a request holds its file,
// so close alone would leave it waiting and the socket open). On io_uring
// that cancel is made once the engine has started a socket transfer, an
// Accept, a Connect, a Splice or a RecvMsg, or a ReadAt or WriteAt of a
// pipe, socket or terminal: with Config.RingOnly, which tries no read
// first, a ReadAt of a pipe on an engine that never started one of the
// others is not ended (Cancel or Stop it), and nor is anything on a
// kernel before 5.19.
//
// A descriptor registered with RegisterFD is unregistered first.
func (e *Engine) CloseFD(fd int) error {
	e.unregisterForClose(fd)
	return e.msgs.closeFD(fd)
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

// NewAio allocates an Aio (nng_aio_alloc) bound to one of the engine's
// rings. cb runs once per operation on one of the engine's goroutines; it
// may be nil, and then Wait is how to learn that an operation ended. The
// timeout starts as DefaultTimeout. On a closed engine the Aio still
// works, and every operation ends with ErrClosed.
func (e *Engine) NewAio(cb func(*Aio)) *Aio {
	n := int(e.next.Add(1) - 1)
	a := &Aio{e: e, cb: cb, timeout: DefaultTimeout, slot: noSlot, home: uint16(n / len(e.shards))}
	a.sh = e.shards[n%len(e.shards)]
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
// callback, as it waits for callbacks to return. A provider operation
// (Start) ends only through its Finish: Close calls its cancel hook with
// ErrClosed and waits for the Finish, as nng's aio_stop waits for a
// provider, so one started with a nil hook, or whose hook does not
// finish it, holds Close until its provider calls Finish. It returns an error only
// if a ring lost completions in the kernel (EBADR); the operations that
// were waiting for them end with ErrClosed, and their buffers stay pinned.
func (e *Engine) Close() error {
	if e.isEngineGoroutine(seat.GoroutineID()) || (e.timerCallbacks.Load() && e.closingFromTimerCallback()) {
		panic("aio: Engine.Close called from a callback; it waits for callbacks to finish and would deadlock")
	}
	if !e.closed.CompareAndSwap(false, true) {
		<-e.closeDone
		return e.closeErr
	}
	// Every start after this point sees closed under its Aio's lock, so one
	// abort per Aio, taken under that lock, reaches every operation that
	// could still be started the old way.
	aios := e.liveAios()
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
	// Every Aio is idle: no callback runs, on a timer's goroutine either
	// (its Aio is busy until it returns), so none spells the index, and
	// the queue of Sleeps holds only withdrawn entries. A sync made beside
	// the ring has ended its operation: its worker waits for the next.
	e.aside.closeWorkers()
	e.sleeps.close()
	// Pins kept for a next operation (pin.go) have none to serve; an
	// Aio dropped unfreed after Close must pin nothing.
	for _, a := range aios {
		a.mu.Lock()
		a.unpinAllLocked()
		a.unlock()
	}
	e.freeTimerIndex()
	// End the multishot requests (queued messages and
	// descriptors go back) while the reapers still run.
	e.msgs.close()
	var errs []error
	if err := e.closePort(); err != nil {
		errs = append(errs, err)
	}
	broken := false
	for _, s := range e.shards {
		broken = broken || s.Broken()
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	e.msgs.closePools(broken)
	e.closeFixed() // the rings are gone: unmap the registered buffers
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
	switch a.state {
	case stateKernel:
		lostPins.keep(a)
		a.finishLocked(ErrClosed, 0, nil)
	case stateNotif: // a zero-copy send's result stands (sendzc.go)
		lostPins.keep(a)
		a.finishLocked(a.result, a.Count(), nil)
	}
	a.unlock()
	a.wait()
}

// Stats reports the engine's counters: for tests, benchmarks and
// diagnosis. On io_uring they are summed over its rings; the portable
// backend has no ring and reports zeros but for Polls and Direct.
func (e *Engine) Stats() Stats {
	var st Stats
	for _, sh := range e.shards {
		if p, ok := sh.(*portable.Backend); ok {
			st.Polls += p.Polls()
		}
		r, ok := sh.(ringBackend)
		if !ok {
			continue
		}
		c := r.Stats()
		st.Enters += c.Enters
		st.Submitted += c.Submitted
		st.Completed += c.Completed
		st.Inline += c.Inline
		st.Sleeps += c.Sleeps
		st.Wakeups += c.Wakeups
		st.Polls += c.Polls
	}
	st.Direct = e.directCount()
	st.Requeued = e.requeued.Load()
	return st
}

// directCount is Stats.Direct: what the Aios counted, read under each
// one's lock (exact when no Aio is released meanwhile).
func (e *Engine) directCount() uint64 {
	n := e.directFolded.Load()
	for _, a := range e.liveAios() {
		a.mu.Lock()
		n += uint64(a.directPending)
		a.mu.Unlock()
	}
	return n
}

// liveAios lists the engine's Aios, taken under Engine.mu, for a caller
// that then locks them one by one after releasing it (the lock order is
// an Aio's mu, then Engine.mu).
func (e *Engine) liveAios() []*Aio {
	var aios []*Aio
	e.mu.Lock()
	e.table.each(func(a *Aio) { aios = append(aios, a) })
	e.mu.Unlock()
	return aios
}

// Supports reports whether the engine has f. The operations of the
// contract run on every engine; a feature decides how some of them are
// carried out.
func (e *Engine) Supports(f Feature) bool {
	if e.backend != BackendIOURing {
		return false // the portable backend has none of them
	}
	switch f {
	case FeatureZeroCopySend:
		return e.probe.Supports(sqe.OpSendZC)
	case FeatureMultishotRecv:
		return e.msgs.multishot
	case FeatureMultishotAccept:
		return e.msgs.msAccept
	}
	return false
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
	a.pinLo, a.pinHi = 0, 0 // pin.go: a.pin holds nothing now
	if a.x != nil {
		a.x.pinned, a.x.pinOther = false, false
	}
	l.mu.Unlock()
}
