//go:build linux

package completion

// Design notes: who touches the ring, and under which lock.
//
//   - The SQ (GetSQE, Prep, Publish, and the shard's queued/mayBlock/closed
//     fields) belongs to whoever holds sqMu. Any goroutine may queue: the
//     goroutine that starts an operation writes its SQEs itself.
//   - io_uring_enter runs without sqMu. One goroutine at a time is the
//     "enterer" (entering, under sqMu); a goroutine that queues while
//     another enters leaves its SQEs to that one, which publishes again
//     before it stops (Push), so concurrent submitters share enters.
//   - The CQ head, and the counts of completions (stats.completed and
//     stats.inline: single-writer words, internal/release), belong to
//     whoever holds cqMu, and CQEs are completed
//     (Handler.Complete) before it is released, so the CQEs of one request
//     are completed in the order the kernel posted them (a multishot
//     receive's are its data's order). Reapers take every CQE;
//     a user's goroutine (after its own submission, or in Wait) takes CQEs
//     only while the handler says they need no callback (Handler.Inline),
//     and stops at the first that does, leaving it for a reaper.
//   - The reapers are the workers of an internal/seat Seat, whose package
//     doc holds the seat's invariants (one holder parks and reaps, the
//     others stand by off the netpoller; the watchdog; hand-offs). What is
//     the ring's: the holder parks on Go's netpoller on an epoll instance
//     holding a duplicate of the ring fd one-shot (the ring fd polls
//     readable while the CQ holds entries), or, with nothing in flight,
//     off the ring on a channel (idle; Park). A seated round reaps every
//     CQE (Round); hand-offs run in the holder's rounds, as measured, and
//     not on standby reapers (seat.Config.StandbyRuns false: a wake is a
//     NOP the holder's round reaps with its other CQEs; running them on a
//     standby reaper instead is unmeasured here); and the watchdog period
//     is watchdogPeriod.
//   - A reaper's round runs the callbacks of what it reaped on its own
//     goroutine. Operations those callbacks start are queued without an
//     enter (Push sees it is called from a reaper in a round), and the
//     round submits them all in one enter after each batch (AfterBatch),
//     so a chain of callbacks costs no wakeups. To recognise starts from
//     its callbacks the reaper records its goroutine's token for the
//     round (beginRound; internal/gtoken), or where there is none its
//     thread id, locked to its thread for the round.
//   - Callbacks that are ready outside a reaper (an operation ended by a
//     timer, an abort, a start failure) are handed to the seat; the wake
//     of a holder parked on the ring is a NOP of kind KindWake, whose CQE
//     makes the ring fd readable, and of one idle off the ring a kick.
//     User goroutines never consume a KindWake CQE, so its readiness edge
//     is never lost. Handoff only queues (its callers hold an Aio's
//     mutex); the wake's system call is Wake's, which the caller makes
//     once it has released its locks, and which ReapInline makes itself
//     for hand-offs from the Handler it called.
//   - life counts the users of the ring's mapped memory: every user entry
//     point that touches the ring outside sqMu (Push, ReapInline,
//     RegisterBufRing) holds a reference while it does. Queueing (reserve:
//     Queue, QueueOp, QueueCancel, the wake NOP) takes none: it touches the
//     SQ only under sqMu and checks closed there, and Close sets closed
//     under sqMu before it unmaps; two atomic adds fewer per operation. Taking one never blocks and may
//     nest (a Push's inline reap completes an Aio whose callback is handed
//     off, and that wakes a reaper by queueing a NOP, on the same goroutine),
//     which a sync.RWMutex forbids: a waiting writer blocks the second
//     RLock. Close sets lifeClosing, after which new references are refused
//     (the caller sees the shard closed), waits for the count to drain, and
//     only then unmaps. Reapers take no reference: Close unmaps the ring
//     only after they have exited. (Go's internal/poll fdMutex counts a
//     descriptor's users the same way.)
//
// Lock order: (caller's own locks, e.g. an Aio's mutex) → sqMu; cqMu →
// (the handler's locks). Nothing holds sqMu while taking cqMu.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/aioring/aioring/internal/busypoll"
	"github.com/aioring/aioring/internal/release"
	"github.com/aioring/aioring/internal/seat"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// Shard is one io_uring and the reapers that drain it.
type Shard struct {
	handler Handler
	r       *ring.Ring
	probe   *ring.Probe

	life      atomic.Int64  // references to r (low bits) | lifeClosing; see the design notes
	lifeDrain chan struct{} // Close waits here for the references to drain; capacity 1

	sqMu     sync.Mutex
	entering bool // a goroutine is submitting; it re-publishes before it stops
	mayBlock bool // a queued request not yet published may run long inline work
	// unpublished: Requests queued since the SQ was last published,
	// which publish adds to outstanding in one atomic add (decision 62).
	unpublished int64
	closed      bool
	broken      atomic.Bool // the kernel dropped CQEs (EBADR)

	ents [MaxSQEs]*sqe.SQE // reserve's result, under sqMu

	cqMu       sync.Mutex
	inlineCQEs [64]ring.CQE           // ReapInline's buffer, under cqMu
	keepInline func(c *ring.CQE) bool // made once, so passing it never allocates
	hasWork    func(fd uintptr) bool  // the reapers' netpoller condition, made once

	quit     chan struct{}    // closed by Close: the idle holder's park ends
	batching atomic.Int32     // reapers inside a round
	seat     *seat.Seat       // the reapers (internal/seat)
	rounds   []atomic.Uintptr // per reaper, while in a round: its goroutine's token (or thread id), else 0
	cqes     [][]ring.CQE     // per reaper: its round's CQE buffer
	// wakesTaken, per reaper: KindWake CQEs its current round reaped;
	// the reaper's alone (reset by beginRound).
	wakesTaken []int

	outstanding atomic.Int64  // Requests published whose final CQE is not reaped
	stuckN      atomic.Int32  // reapers whose round the watchdog found stuck and that have not moved since (stuck, unstuck)
	idle        atomic.Bool   // the seated reaper waits on kick, not on the ring
	kick        chan struct{} // wakes an idle seated reaper

	// deviceStarts counts Push(Urgent) calls: starts that wait for a
	// storage device. deviceSeen is its value at the seated reaper's last
	// park (the seated reaper's, outside rounds): a park that finds it
	// moved waits in io_uring_enter first (park, decision 44).
	deviceStarts atomic.Uint64
	deviceSeen   uint64
	// deviceEnds counts the ends of those starts (DeviceDone): starts
	// less ends is how many wait for the device now, which decides
	// whether a start from a round waits for the round's batch end
	// (Push, deviceDeferAt).
	deviceEnds atomic.Uint64

	// woke counts goroutines an operation's end readied in Wait
	// (WokeWaiter); the seated reaper's park and poll look at it
	// (decision 72).
	woke busypoll.Readied

	pollFile  *os.File // the epoll instance, on Go's netpoller
	pollConn  syscall.RawConn
	inEpoll   bool             // the ring fd is in epfd; the seated reaper's, outside rounds
	epOp      int              // arm/unwatch's operation for epCtl; the seated reaper's
	epErr     error            // epCtl's result; the seated reaper's
	epCtl     func(fd uintptr) // epollCtl as a func value, made once
	harvestFn func(fd uintptr) // takes a delivered event off the epoll fd, made once

	// parkW is the reaper parking (park): ready looks at its own list of
	// hand-offs too. The seated reaper's, set at each park.
	parkW int

	fileWorkers uint32          // Config.FileWorkers: the io-wq cap capFileWorkers applies; 0: none
	busy        busypoll.Policy // the seated reaper's polling before a busy park (busypoll_linux.go)

	injectBadr atomic.Bool           // tests: the next enter reports EBADR
	flushErr   atomic.Pointer[error] // the first unexpected error of an overflow flush, for Close

	stats struct {
		enters, submitted, sleeps, wakeups, polls, looks atomic.Uint64
		// Single-writer counters (internal/release: release stores,
		// not atomic adds): completed and inline are counted under
		// cqMu, the enterer's enters and submissions by the goroutine
		// that holds entering (enterUnlocked).
		completed, inline               release.Uint64
		entererEnters, entererSubmitted release.Uint64
	}
}

// Start creates a shard's ring and starts its reapers. It returns the setup
// error (matching errors.ErrUnsupported where io_uring cannot be used).
func Start(cfg Config) (*Shard, error) {
	if cfg.Handler == nil {
		return nil, errors.New("completion: Config.Handler is nil")
	}
	if cfg.Entries < 8 {
		cfg.Entries = 8
	}
	if cfg.CQEntries == 0 {
		cfg.CQEntries = min(8*cfg.Entries, ring.MaxCQEntries)
	}
	if cfg.Flags == 0 {
		cfg.Flags = DefaultFlags
	}
	if cfg.Reapers < 1 {
		cfg.Reapers = 1
	}
	if cfg.Flags&(ring.SetupSingleIssuer|ring.SetupDeferTaskrun) != 0 {
		// Any goroutine submits here, on whatever thread it runs.
		return nil, errors.New("completion: SINGLE_ISSUER and DEFER_TASKRUN need a single submitting thread; shards submit from many")
	}
	r, err := ring.New(ring.Options{Entries: cfg.Entries, CQEntries: cfg.CQEntries, Flags: cfg.Flags})
	if err != nil {
		return nil, err
	}
	s := &Shard{handler: cfg.Handler, r: r, fileWorkers: cfg.FileWorkers}
	s.busy.Max = cfg.BusyPoll
	if s.probe, err = r.Probe(); err == nil {
		err = s.registerPoller()
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	s.keepInline = s.inlineOK
	s.epCtl = s.epollCtl
	s.harvestFn = func(fd uintptr) {
		var evs [1]unix.EpollEvent
		for {
			if _, err := unix.EpollWait(int(fd), evs[:], 0); err != unix.EINTR {
				return
			}
		}
	}
	s.hasWork = func(uintptr) bool {
		if s.ready() {
			return true
		}
		s.stats.sleeps.Add(1)
		return false
	}
	s.kick = make(chan struct{}, 1)
	s.lifeDrain = make(chan struct{}, 1)
	s.quit = make(chan struct{})
	s.rounds = make([]atomic.Uintptr, cfg.Reapers)
	s.cqes = make([][]ring.CQE, cfg.Reapers)
	s.wakesTaken = make([]int, cfg.Reapers)
	for i := range s.cqes {
		s.cqes[i] = make([]ring.CQE, 256)
	}
	s.seat = seat.New((*seatHooks)(s), seat.Config{Workers: cfg.Reapers, Watchdog: watchdogPeriod, TakeVacant: true,
		Spread: runtime.GOMAXPROCS(0) > 1})
	s.seat.Start()
	return s, nil
}

// lifeClosing is the bit of Shard.life that Close sets: no new references.
const lifeClosing = int64(1) << 62

// acquire takes a reference to the ring's memory; false once Close has
// begun. It never blocks, so it may nest on one goroutine.
func (s *Shard) acquire() bool {
	if s.life.Add(1)&lifeClosing != 0 {
		s.release()
		return false
	}
	return true
}

// release drops a reference; the last one after Close began lets Close
// unmap.
func (s *Shard) release() {
	if s.life.Add(-1) == lifeClosing {
		select {
		case s.lifeDrain <- struct{}{}:
		default: // a signal is pending; Close re-reads the count anyway
		}
	}
}

// Broken reports whether the kernel dropped completions on this ring.
func (s *Shard) Broken() bool { return s.broken.Load() }

// Close stops the reapers and releases the ring. The caller must have let
// every request it queued complete; what is still in the kernel (wake NOPs,
// cancels, or work of a broken ring) is cancelled by the ring's teardown.
// Callbacks handed off after the reapers stopped are refused (Handoff
// returns false); those queued before run first.
func (s *Shard) Close() error {
	close(s.quit)      // an idle holder's park ends
	s.pollFile.Close() // a holder parked on the ring: its Read fails
	s.seat.Close()     // hand-offs refused; the reapers run what was handed off, and exit
	// Refuse new references, then wait for those held to be dropped.
	for v := s.life.Or(lifeClosing) | lifeClosing; v != lifeClosing; v = s.life.Load() {
		<-s.lifeDrain
	}
	s.sqMu.Lock()
	s.closed = true
	s.sqMu.Unlock()
	err := s.r.Close()
	if s.broken.Load() {
		return ErrBroken
	}
	if ferr := s.flushErr.Load(); ferr != nil {
		return errors.Join(fmt.Errorf("completion: flushing overflowed CQEs: %w", *ferr), err)
	}
	return err
}

// IsReaper reports whether the goroutine goid is one of the shard's reapers.
func (s *Shard) IsReaper(goid int64) bool { return s.seat.IsWorker(goid) }

// Probe reports the opcodes the kernel supports.
func (s *Shard) Probe() *ring.Probe { return s.probe }

// Flags returns the setup flags the ring runs with.
func (s *Shard) Flags() ring.SetupFlags { return s.r.Flags() }

// Features returns the ring's IORING_FEAT_* bits.
func (s *Shard) Features() ring.Features { return s.r.Features() }

// Stats returns a snapshot of the shard's counters.
func (s *Shard) Stats() Stats {
	return Stats{Enters: s.stats.enters.Load() + s.stats.entererEnters.Load(),
		Submitted: s.stats.submitted.Load() + s.stats.entererSubmitted.Load(),
		Completed: s.stats.completed.Load(), Inline: s.stats.inline.Load(),
		Sleeps: s.stats.sleeps.Load(), Wakeups: s.stats.wakeups.Load(), Polls: s.stats.polls.Load(), Looks: s.stats.looks.Load()}
}

// Reapers returns how many reaper goroutines the shard runs.
func (s *Shard) Reapers() int { return s.seat.Workers() }

// InjectEBADRForTest makes s's next io_uring_enter report EBADR, as the
// kernel does when it had to drop completions. It is fault injection for
// tests only (the real condition needs the kernel to run out of memory);
// a function rather than a method, so that it is not part of the Shard the
// engine uses.
func InjectEBADRForTest(s *Shard) { s.injectBadr.Store(true) }

// DeviceWaitingForTest is how many operations s counts as waiting for a
// device: submitted with Urgent and not yet ended (DeviceDone).
func DeviceWaitingForTest(s *Shard) int64 {
	return int64(s.deviceStarts.Load() - s.deviceEnds.Load())
}

// AddDeviceBacklogForTest makes s count n more operations waiting for a
// device (n < 0: fewer), as if a device held them: the deep-queue rule of
// Push (deviceDeferAt) without a device that holds that many reads.
func AddDeviceBacklogForTest(s *Shard, n int64) {
	if n >= 0 {
		s.deviceStarts.Add(uint64(n))
	} else {
		s.deviceEnds.Add(uint64(-n))
	}
}
