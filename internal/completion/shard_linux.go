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
	"time"

	"github.com/aioring/aioring/internal/busypoll"
	"github.com/aioring/aioring/internal/gtoken"
	"github.com/aioring/aioring/internal/release"
	"github.com/aioring/aioring/internal/seat"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// refusedBackoff is how long a submitter waits before it offers the kernel
// again SQEs it refused (out of memory) or, with a full SQ, found no room
// for: long enough for reapers to drain completions.
const refusedBackoff = 50 * time.Microsecond

// errShardClosed is returned by Queue after Close.
var errShardClosed = errors.New("completion: shard closed")

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

// registerPoller makes the epoll instance through which the seated
// reaper waits. The ring fd is in it with EPOLLONESHOT, and the epoll fd is
// on Go's netpoller: the ring then wakes the netpoller only between an arm
// and the reaper taking the event off the epoll fd (right after it
// wakes), where a ring fd registered directly would wake a thread blocked in
// the netpoller for every CQE posted, even those the seated reaper or a
// caller reaps a moment later (measured: +110 ns per NOP with GOMAXPROCS=1
// and +160 ns with 2, plus the other core's wakeup, with the ring fd
// registered; see docs/design.md). The ring fd polls readable while the
// CQ holds entries (rings without DEFER_TASKRUN).
func (s *Shard) registerPoller() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, s.r.Fd(), &ev); err != nil {
		unix.Close(epfd)
		return err
	}
	s.inEpoll = true
	// Non-blocking, so os.NewFile registers it with the netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return err
	}
	s.pollFile = os.NewFile(uintptr(epfd), "io_uring-epoll")
	s.pollConn, err = s.pollFile.SyscallConn()
	if err != nil {
		s.pollFile.Close()
	}
	return err
}

// arm (re-)enables the ring fd's one-shot event before the seated reaper
// parks, every time: the reaper disarmed it by taking the last event off
// the epoll instance (harvestFn). EPOLL_CTL_MOD checks readiness at once,
// so a CQE posted before the arm still fires. It reports false once Close
// has closed the epoll fd. The epoll fd is used through RawConn.Control,
// which holds it open meanwhile, so a concurrent Close can never make us
// touch a reused descriptor number.
func (s *Shard) arm() bool {
	s.epOp = unix.EPOLL_CTL_MOD
	if !s.inEpoll {
		s.epOp = unix.EPOLL_CTL_ADD
	}
	if err := s.pollConn.Control(s.epCtl); err != nil {
		return false // closed
	}
	if s.epErr != nil {
		// Cannot happen for our own descriptors short of running out of
		// kernel memory; waiting unarmed could hang, so fail loudly.
		panic("completion: arming the ring's epoll event: " + s.epErr.Error())
	}
	s.inEpoll = true
	return true
}

// unwatch takes the ring fd out of the epoll instance while the seated
// reaper waits off the ring: even a disarmed epoll entry stays on the
// ring's wait queue, and the kernel calls it for every CQE (measured,
// GOMAXPROCS=1: Nop+Wait 0.80-0.81 µs with the entry left there, 0.56 µs
// with it removed; the raw ring 0.46-0.47 µs).
func (s *Shard) unwatch() {
	if !s.inEpoll {
		return
	}
	s.epOp = unix.EPOLL_CTL_DEL
	if s.pollConn.Control(s.epCtl) == nil && s.epErr == nil {
		s.inEpoll = false
	}
}

// epollCtl applies epOp to the ring fd in the epoll instance epfd; made
// once (as s.epCtl) so that passing it to Control never allocates.
func (s *Shard) epollCtl(epfd uintptr) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	s.epErr = unix.EpollCtl(int(epfd), s.epOp, s.r.Fd(), &ev)
}

// Queue writes req's entries into the SQ. It does not submit them: call
// Push afterwards, without holding locks the handler takes. It never fails
// for lack of room (it submits to make some); it fails after Close or once
// the ring is broken.
func (s *Shard) Queue(req Request) error {
	_, err := s.QueueTicket(req)
	return err
}

// QueueTicket is Queue that also returns the position just past req's
// entries, for SubmitThrough.
func (s *Shard) QueueTicket(req Request) (Ticket, error) {
	n := req.SQEs()
	if n < 1 || n > MaxSQEs {
		panic("completion: Request.SQEs out of range")
	}
	if err := s.reserve(n); err != nil {
		return 0, err
	}
	req.Prep(s.ents[:n])
	if req.MayBlock() {
		s.mayBlock = true
	}
	s.unpublished++
	t := Ticket(s.r.SQTail())
	s.unreserve()
	return t, nil
}

// SubmitThrough returns once the kernel has taken every SQE queued before
// t, submitting them itself if need be, wherever it runs: in a reaper's
// round too, which would otherwise submit them only when its callbacks
// return. While another goroutine is entering, that one submits them (it
// publishes again before it stops, submitHeld); this one yields until the
// kernel's head has passed t. It returns at once when the entries were
// taken already (no system call), and when the ring is closing or broken
// (the entries never reach the kernel then).
//
// Why: a request the kernel has taken holds its file; one still in the SQ
// names only a descriptor number, which the program may close and the
// kernel then give to the next file opened. A caller that drops a
// long-lived request (a multishot receive) and then lets the program close
// its descriptor calls this first.
func (s *Shard) SubmitThrough(t Ticket) {
	// The reference keeps the SQ ring mapped while its head is read.
	if !s.acquire() {
		return
	}
	defer s.release()
	for tries := 0; !s.broken.Load(); tries++ {
		s.sqMu.Lock()
		taken := s.r.SQConsumed(uint32(t))
		s.sqMu.Unlock()
		if taken {
			return
		}
		if tries > 0 {
			runtime.Gosched() // another goroutine is entering: let it
		}
		s.submitHeld()
		// Every publication is followed by a look at the idle reaper
		// (publish's invariant).
		s.watchIfNeeded()
	}
}

// QueueCancel queues an ASYNC_CANCEL of the request whose user data is
// target. The target's own CQE reports the outcome: it may still complete
// normally if the cancel comes too late. Call Push afterwards.
func (s *Shard) QueueCancel(target sqe.UserData) error {
	if err := s.reserve(1); err != nil {
		return err
	}
	ents := &s.ents
	ents[0].AsyncCancel(uint64(target), 0)
	// Success needs no CQE: the target's own CQE says it all.
	ents[0].Flags |= sqe.CQESkipSuccess
	ents[0].UserData = uint64(sqe.Pack(KindCancel, 0, 0))
	s.unreserve()
	return nil
}

// queueWake queues the NOP whose CQE wakes a parked reaper.
func (s *Shard) queueWake() error {
	if err := s.reserve(1); err != nil {
		return err
	}
	ents := &s.ents
	ents[0].Nop()
	ents[0].UserData = uint64(sqe.Pack(KindWake, 0, 0))
	s.unreserve()
	return nil
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

// reserve takes sqMu and puts n consecutive SQEs in s.ents; the caller
// fills them and calls unreserve. On error nothing is held. No life
// reference: the SQ is only touched under sqMu, after the closed check,
// and Close sets closed under sqMu before it unmaps.
func (s *Shard) reserve(n int) (err error) {
	s.sqMu.Lock()
	for {
		switch {
		case s.closed:
			err = errShardClosed
		case s.broken.Load():
			err = ErrBroken
		}
		if err != nil {
			s.sqMu.Unlock()
			return err
		}
		if s.r.SQSpace() >= uint32(n) {
			break
		}
		// Full: hand the kernel what is there. It consumes every SQE it
		// is given (SUBMIT_ALL), so room appears unless it refuses the
		// whole batch (out of memory); then let the reapers run first.
		s.enterUnlocked(s.publish(), s.mayBlock, false)
		if s.r.SQSpace() < uint32(n) {
			s.sqMu.Unlock()
			time.Sleep(refusedBackoff)
			s.sqMu.Lock()
		}
	}
	for i := 0; i < n; i++ {
		s.ents[i] = s.r.GetSQE()
	}
	return nil
}

func (s *Shard) unreserve() { s.sqMu.Unlock() }

// publish makes the queued SQEs visible to the kernel and counts the
// Requests among them in outstanding, before any of them can complete:
// one atomic add per publication, not one per Request (decision 62).
// Every publication is followed, on the same goroutine, by a look at the
// idle reaper (watchIfNeeded, or the reaper's own park), so a Request
// counted here is never left without a reaper watching the ring. Called
// with sqMu held.
func (s *Shard) publish() uint32 {
	n := s.r.Publish()
	if s.unpublished != 0 {
		s.outstanding.Add(s.unpublished)
		s.unpublished = 0
	}
	return n
}

// Push submits what is queued and reaps what completed during the
// submission and needs no callback, on the calling goroutine. Called from a
// reaper's own callback it does neither: the round submits everything its
// callbacks queued in one enter when they return, then reaps.
//
// round is the caller's promise that it queued from inside a callback
// that the reaper whose goroutine id is round is running (an Aio
// restarting itself from its callback), SomeRound when it runs in some
// reaper's round but does not know which, or 0; the promise spares the
// look at the caller's name (reaperIndex) that otherwise tells a reaper
// from other goroutines.
//
// Except for a start that waits for a storage device (round Urgent),
// submitted at once wherever it runs: a batch's reads otherwise reach the
// device together at the batch's end, which then returns them together,
// and the reads of a chain move in waves instead of a stream (decision
// 44: a chain of O_DIRECT reads at depth 32, with the reaper waiting in
// the ring either way, 92.0k / 85.5k / 88.6k reads/s batched and 114.1k /
// 91.0k / 102.8k one by one, quiet / -stress / -procs 1). An enter per
// such read is small beside the device's time. But not once more than
// deviceDeferAt wait for the device: a start from a round then goes with
// the round's batch like any other (decision 83), since a device that
// holds that many reads is not kept waiting by a batch's callbacks, and
// an enter per read (on a virtual disk, a kick of the device each) was
// a quarter to near half of a read's CPU at depth 128 (24-43% less
// without it, quiet, beside CPU hogs and at one P).
//
// And except while the watchdog has found the caller's own round stuck (a
// callback blocks): then its starts are submitted at once, since that
// round would hold them back until the callback returns, and another
// callback may be waiting for one of them (issue 17 item 5). Only the
// stuck round's: a reaper the OS merely descheduled for a while looks
// stuck too (a busy machine, every few milliseconds), and the other
// reapers' rounds, which still submit when their batches end, went on
// paying an enter per start (decision 42). The cost on the common path is
// one atomic load (stuckN); while some round is stuck, a look at the
// caller's reaper's mark, found by round or, for a start of another Aio
// than the callback's own, by the caller's name (reaperIndex).
//
// Ordering with the watchdog: a start queues before it loads stuckN and
// the mark, and the watchdog marks the reaper, then raises stuckN, then
// submits (stuck), so either this Push sees the mark or that submission
// takes the start.
func (s *Shard) Push(round int64) {
	switch {
	case round == Urgent:
		started := s.deviceStarts.Add(1)
		if int64(started-s.deviceEnds.Load()) > deviceDeferAt && s.stuckN.Load() == 0 && s.inReaper() {
			// The device has a deep queue already: this start goes
			// with the round's batch, in the one enter after it, as
			// any other start from a callback (decision 83).
			return
		}
	case s.stuckN.Load() == 0:
		if round != 0 || s.inReaper() {
			return
		}
	case s.inRoundNotStuck(round):
		return
	}
	if !s.acquire() {
		return
	}
	s.submitHeld()
	s.reapInlineHeld()
	s.release()
	s.watchIfNeeded()
}

// inRoundNotStuck reports whether the caller runs a callback in a round of
// one of s's reapers that the watchdog has not found stuck: that round
// submits what the callback queues when its batch ends. round is Push's.
func (s *Shard) inRoundNotStuck(round int64) bool {
	w := -1
	if round > 0 {
		w = s.seat.Worker(round)
	} else {
		w = s.reaperIndex()
	}
	return w >= 0 && !s.seat.Stuck(w)
}

// watchIfNeeded wakes an idle seated reaper when Requests remain in flight
// after a submission: what the kernel did not complete inline needs a
// reaper watching the ring. Dekker-style pairing with the reaper's idle
// park: the publisher raised outstanding before we read idle (publish: every
// goroutine that publishes calls this after); the reaper sets idle
// before it reads outstanding (all sequentially consistent). So either it
// sees our Request or we see it idle; never neither.
func (s *Shard) watchIfNeeded() {
	if s.outstanding.Load() > 0 && s.idle.Load() {
		s.wakeIdle()
	}
}

func (s *Shard) wakeIdle() {
	select {
	case s.kick <- struct{}{}:
		s.stats.wakeups.Add(1)
	default: // a kick is already pending
	}
}

// submit hands every published and queued SQE to the kernel. If another
// goroutine is entering, it leaves them to that one, which publishes again
// before it stops.
func (s *Shard) submit() {
	if s.acquire() {
		s.submitHeld()
		s.release()
	}
}

// submitHeld is submit for callers that hold a reference, or that are reapers
// (Close unmaps the ring only after the reapers have exited).
func (s *Shard) submitHeld() {
	s.sqMu.Lock()
	if s.entering || s.closed {
		s.sqMu.Unlock()
		return
	}
	s.entering = true
	for {
		n := s.publish()
		block := s.mayBlock
		s.mayBlock = false
		s.sqMu.Unlock()
		err := s.enterUnlocked(n, block, true)
		s.sqMu.Lock()
		switch {
		case err == nil && s.r.Unpublished() != 0:
			// Queued while we were in the kernel: go again.
			continue
		case err != nil && err != ErrBroken && s.r.Pending() != 0:
			// Refused for lack of memory: let completions drain, retry.
			s.sqMu.Unlock()
			time.Sleep(refusedBackoff)
			s.sqMu.Lock()
			continue
		}
		s.entering = false
		s.sqMu.Unlock()
		return
	}
}

// fileWorkersEvery: the io-wq cap is applied again after every this many
// enters (a power of two), and after the first, counted apart for the
// enterer's and the other enters (enterUnlocked).
const fileWorkersEvery = 1024

// capFileWorkers applies Config.FileWorkers to the io-wq of every thread
// that has submitted to the ring so far. The kernel keeps the cap per
// thread (one io-wq per thread, shared by all its rings) and applies a
// ring's cap by itself only to threads whose first io_uring use comes
// after it; a Go program submits from whichever threads its goroutines
// run on, so the cap is applied again as threads come: after the first
// enter (the thread that made it has joined the ring's list by then) and
// every fileWorkersEvery enters after, one system call each. Best effort:
// kernels before 5.15 refuse it (EINVAL) and keep their own cap.
func (s *Shard) capFileWorkers() {
	s.r.RegisterIOWQMaxWorkers(s.fileWorkers, 0)
}

// enterUnlocked calls io_uring_enter to submit n published SQEs. Transient
// refusals (EAGAIN, EBUSY, ENOMEM) are returned for the caller to retry;
// EBADR (the kernel dropped CQEs) breaks the shard for good. enterer: the
// caller is submitHeld's loop, which holds entering, so it counts the
// enter in the enterer's single-writer counters (two release stores);
// the other callers, which may run beside it, in the shared atomic ones.
func (s *Shard) enterUnlocked(n uint32, block, enterer bool) error {
	if n == 0 && !s.r.NeedsFlush() {
		return nil
	}
	got, err := s.r.EnterPublished(n, 0, block)
	var e uint64
	if enterer {
		e = s.stats.entererEnters.Add(1)
		s.stats.entererSubmitted.Add(uint64(got))
	} else {
		e = s.stats.enters.Add(1)
		s.stats.submitted.Add(uint64(got))
	}
	if s.fileWorkers > 0 && e&(fileWorkersEvery-1) == 1 {
		s.capFileWorkers()
	}
	if err == syscall.EBADR || s.injectBadr.Load() {
		s.broken.Store(true)
		return ErrBroken
	}
	return err
}

// Broken reports whether the kernel dropped completions on this ring.
func (s *Shard) Broken() bool { return s.broken.Load() }

// inReaper reports whether the caller is one of this shard's reapers inside
// a round.
func (s *Shard) inReaper() bool { return s.reaperIndex() >= 0 }

// reaperIndex is the number of the reaper the caller is, inside a round,
// or -1: the caller's name (self) against each round's. Read only while
// some round runs.
func (s *Shard) reaperIndex() int {
	if s.batching.Load() == 0 {
		return -1
	}
	me := self()
	for i := range s.rounds {
		if s.rounds[i].Load() == me {
			return i
		}
	}
	return -1
}

// useToken: the goroutine's token names a reaper (internal/gtoken, one
// load); otherwise its thread id (a system call), which names the
// goroutine because the round locks the reaper to its thread.
const useToken = gtoken.Available

// self names the calling goroutine for reaperIndex.
func self() uintptr {
	if useToken {
		return gtoken.Current()
	}
	return uintptr(unix.Gettid())
}

// inlineOK decides, with the CQ held, whether a user's goroutine may take c.
func (s *Shard) inlineOK(c *ring.CQE) bool {
	switch sqe.UserData(c.UserData).Kind() {
	case KindCancel:
		return true // nothing to do: the target reports for itself
	case KindWake:
		return false // a parked reaper must see it
	}
	return s.handler.Inline(c)
}

// ReapInline takes the ready CQEs that need no callback, up to the first
// that does, and completes them on the calling goroutine. It returns how
// many it took. If another goroutine is reaping, it returns 0 at once:
// that one takes them.
func (s *Shard) ReapInline() int {
	if !s.acquire() {
		return 0
	}
	n := s.reapInlineHeld()
	s.release()
	return n
}

// reapInlineHeld is ReapInline for callers that hold a reference.
func (s *Shard) reapInlineHeld() int {
	if s.closed || !s.cqMu.TryLock() {
		return 0
	}
	total := 0
	finals := int64(0)
	for {
		n := s.r.PeekCQEsWhile(s.inlineCQEs[:], s.keepInline)
		for i := 0; i < n; i++ {
			c := &s.inlineCQEs[i]
			if sqe.UserData(c.UserData).Kind() != KindCancel && s.handler.Complete(c, nil) {
				finals++
			}
		}
		total += n
		if n < len(s.inlineCQEs) {
			break
		}
	}
	if finals != 0 {
		s.outstanding.Add(-finals)
	}
	if total > 0 {
		s.stats.completed.Add(uint64(total))
		s.stats.inline.Add(uint64(total))
	}
	s.cqMu.Unlock()
	if total > 0 {
		// What the Handler handed off while the CQ was held (an Aio ended
		// here whose callback goes to a reaper, a multishot's cancel): its
		// wake, now that no lock is held.
		s.Wake()
	}
	return total
}

// Handoff schedules cb on a reaper (seat.Seat.Handoff). ok is false after
// Close has stopped the reapers, or once the ring is broken; the caller
// must then run cb some other way. wake reports that a parked reaper must
// be woken: the caller calls Wake once it holds no lock. Handoff makes no
// system call, so it may be called under an Aio's mutex; it does not
// allocate once the seat's lists have grown.
func (s *Shard) Handoff(cb Callback) (ok, wake bool) {
	if s.broken.Load() {
		// No way to wake a reaper (a wake is a NOP, and a broken ring
		// takes no more SQEs).
		return false, false
	}
	return s.seat.Handoff(cb)
}

// HandoffHere is Handoff for a callback that the calling goroutine made
// due (its operation's try finished at once): if the caller is one of
// this shard's reapers in a round, running a callback that started that
// operation, cb runs on the same reaper once that callback returns
// (seat.HandoffTo), with no wake of another; otherwise as Handoff. The
// thread-id system call that tells is made only while rounds run.
func (s *Shard) HandoffHere(cb Callback) (ok, wake bool) {
	if s.broken.Load() {
		return false, false
	}
	if w := s.reaperIndex(); w >= 0 {
		return s.seat.HandoffTo(w, cb)
	}
	return s.seat.Handoff(cb)
}

// Wake makes the wake that Handoff reported, if nobody has yet. Call it
// holding no lock: it may enter the kernel.
func (s *Shard) Wake() { s.seat.Wake() }

// WokeWaiter records that an operation's end readied a goroutine in Wait:
// the seated reaper's next park does not poll (park).
func (s *Shard) WokeWaiter() { s.woke.Add() }

// seatHooks is the shard as its seat's seat.Backend (the methods at the end
// of this file).
type seatHooks Shard

// Park implements seat.Backend: the seated reaper waits for the ring.
//
// Idle: with nothing in flight it waits off the ring, on kick, with the
// ring fd out of the epoll set, so that CQEs reaped inline by their
// submitters wake nobody. Pairings: it sets idle before it reads
// outstanding and the seat's lists (the shared one and its own,
// seat.HasWorkFor); a publisher raises outstanding (publish), and Handoff
// the list it appends to, before watchIfNeeded and Wake read idle. So
// either it sees the work or they see it idle and kick it.
//
// Busy: after starts that wait for a device it first waits in
// io_uring_enter for a while (waitInEnter). Otherwise, or when that wait
// ends with nothing, it arms the ring fd's one-shot event, then parks on
// the epoll fd:
// a CQE posted after hasWork looked fires the armed event and marks the
// epoll fd ready, and the netpoller is edge-triggered, so the park cannot
// miss it. Then it takes the event off the epoll instance: EPOLLONESHOT
// disarms the ring fd when the event is delivered, so CQEs posted during
// the round wake no thread blocked in the netpoller.
func (s *Shard) park(w int) seat.Park {
	s.parkW = w
	if !s.needsWatch() {
		s.idle.Store(true)
		if !s.needsWatch() {
			s.unwatch()
			s.stats.sleeps.Add(1)
			select {
			case <-s.kick:
			case <-s.quit:
				s.idle.Store(false)
				return seat.Closed
			}
		}
		s.idle.Store(false)
		return seat.Again
	}
	if n := s.deviceStarts.Load(); n != s.deviceSeen {
		s.deviceSeen = n
		if p, ok := s.waitInEnter(); ok {
			return p
		}
	}
	// A goroutine that an operation's end readied in Wait since the last
	// park is runnable and wants a P, which a poll would hold (at
	// GOMAXPROCS=1 the only one) while looking for completions that
	// goroutine, not this reaper, goes on from: park at once (decision
	// 72). The poll serves callback chains, which the reapers run.
	if !s.woke.Moved() {
		if p, ok := s.poll(); ok {
			return p
		}
	}
	var began time.Time
	if s.busy.Off() {
		began = time.Now()
	}
	if !s.arm() {
		return seat.Closed // Close closed the epoll fd
	}
	if err := s.pollConn.Read(s.hasWork); err != nil {
		return seat.Closed // Close closed the file
	}
	s.pollConn.Control(s.harvestFn)
	if s.busy.Off() {
		s.busy.ParkedFor(time.Since(began))
	}
	if s.ready() {
		return seat.Ready
	}
	return seat.Again
}

// DeviceDone records the end of an operation that was submitted as one
// waiting for a device (Push with Urgent), however it ended.
func (s *Shard) DeviceDone() { s.deviceEnds.Add(1) }

// deviceDeferAt is how many operations may wait for a device before a
// new one started from a round's callback waits for the round's batch end
// instead of going to the kernel at once (decision 83). At once, each
// start is an enter, and on this machine's virtio disk a kick of the
// device, about twice fio's CPU per read; with the batch, one enter takes
// the batch's starts, but each waits for the callbacks after it, which
// at depth 32 left the device short of reads (-12%) and at depth 128
// cost no reads/s (its reads wait far longer in the device than a batch
// takes) at 24-43% less CPU per read. Between the two depths measured.
const deviceDeferAt = 64

// deviceWaitMax bounds the seated reaper's wait in io_uring_enter (park):
// long enough for a device read here (a 4 KiB O_DIRECT read takes 60-120
// µs, try_linux.go; with more in flight one ends sooner), short enough
// that a wait with nothing
// coming costs at most this much before the reaper falls back to the
// netpoller, and that Close, which cannot cut the wait short, is not held
// up for long.
const deviceWaitMax = time.Millisecond

// waitInEnter is the busy park's first step after starts that wait for a
// device (decision 44): the seated reaper waits for the ring in
// io_uring_enter, up to deviceWaitMax, rather than on the netpoller. The
// device's completion queues task_work on the thread that submitted the
// read, which is as a rule this one (the round that ran the chain's
// callbacks submitted their reads); a thread waiting in the ring runs that
// task_work and returns with the CQEs at once, where the netpoller's wait
// takes that thread's wakeup, then the CQE's epoll wakeup of a thread in
// the netpoller, then a P for the reaper: under -stress each of those
// waits for the CPU beside a busy process (read-direct qd32 67.5k ->
// 85.5k reads/s there; quiet and at -procs 1 this part alone was within
// the noise, 93.1k -> 92.0k and 92.7k -> 88.6k). The cost: the wait is a
// system call that holds this thread, and its P until the runtime's
// monitor (sysmon) takes the P back for other goroutines. Anything that completes ends the
// wait, a hand-off's wake NOP included (wakeHolder). ok false: nothing
// came in time (or the kernel has no bounded wait): park on the
// netpoller as usual.
func (s *Shard) waitInEnter() (p seat.Park, ok bool) {
	if s.r.CQReady() != 0 {
		return seat.Ready, true // no need to enter
	}
	ready, err := s.r.WaitFor(deviceWaitMax)
	switch err {
	case nil:
		s.stats.enters.Add(1)
	case syscall.EBADR:
		s.broken.Store(true) // the kernel dropped CQEs, as in enterUnlocked
	}
	select {
	case <-s.quit:
		return seat.Closed, true
	default:
	}
	if ready || s.ready() {
		return seat.Ready, true
	}
	return 0, false
}

// ready reports whether the seated reaper, parking, has work: CQEs,
// overflowed CQEs to flush, or hand-offs, on the shared list or its own.
func (s *Shard) ready() bool {
	return s.r.CQReady() != 0 || s.r.NeedsFlush() || s.seat.HasWorkFor(s.parkW)
}

// needsWatch reports whether the seated reaper must watch the ring: a
// Request is in flight, a CQE or a handed-off callback waits, or the
// kernel holds overflowed CQEs.
func (s *Shard) needsWatch() bool {
	return s.outstanding.Load() > 0 || s.ready()
}

// watchdogPeriod is how long a callback may run before the ring's seat
// goes to another reaper. Shorter costs more timer work on long rounds
// (one reset per period); longer leaves completions waiting behind a
// blocked callback for longer.
const watchdogPeriod = time.Millisecond

// reapRound is the ring's part of a round (seat.Backend.Round): it reaps
// every CQE the CQ holds, adding the callbacks of what ended to b. look is
// false for a reaper that does not hold the seat: it then reaps nothing.
func (s *Shard) reapRound(w int, b *Batch, look bool) bool {
	if !look {
		return false
	}
	cqes := s.cqes[w]
	// No life reference: Close unmaps the ring only after the reapers exit.
	s.cqMu.Lock()
	flushed := s.flushOverflow()
	n := s.r.PeekCQEs(cqes)
	finals := int64(0)
	// The CQEs are completed before cqMu is released: a multishot
	// request posts many CQEs whose order is its data's order, and
	// another goroutine that took cqMu next (a standby reaper given the
	// seat by the watchdog, or a user's goroutine reaping inline) would
	// otherwise complete later CQEs of the same request before these.
	// Complete runs no user code and takes only the handler's locks,
	// which come after cqMu in the lock order.
	for i := 0; i < n; i++ {
		c := &cqes[i]
		switch sqe.UserData(c.UserData).Kind() {
		case KindWake:
			// A wake has done its work by waking the holder; counted, for
			// a round that turns out to have lost the seat (endRound).
			s.wakesTaken[w]++
		case KindCancel:
			// A cancel's target reports for itself.
		default:
			if s.handler.Complete(c, b) {
				finals++
			}
		}
	}
	// One RMW per round, not per CQE: only the reapers' decision to park
	// off the ring reads it, and the holder reads it after its round.
	if finals != 0 {
		s.outstanding.Add(-finals)
	}
	if n > 0 {
		s.stats.completed.Add(uint64(n))
	}
	s.cqMu.Unlock()
	if n > 0 {
		return true
	}
	if !flushed && !s.broken.Load() {
		// The kernel kept the overflowed CQEs and the CQ is empty: give
		// it a moment rather than spin; the reaper comes back at once
		// (hasWork sees NeedsFlush).
		time.Sleep(refusedBackoff)
	}
	return false
}

// beginRound locks the reaper to its thread and records its name for the
// round, so that Push tells a start from one of its callbacks
// (reaperIndex). The lock is what makes a thread id name the goroutine;
// with the token it is kept for speed: without it a chain of cached reads
// at depth 1 lost 17-20% quiet and at -procs 1 (decision 47).
func (s *Shard) beginRound(w int) {
	runtime.LockOSThread()
	s.rounds[w].Store(self())
	s.batching.Add(1)
}

// endRound undoes beginRound. A reaper that lost the seat kicks the new
// holder if work is in flight: what this round's callbacks started, and
// what it did not reap, is now the new holder's, which may be waiting off
// the ring (those starts skipped the kick: Push from a callback). And if
// the round reaped a wake NOP, that may have been the one a hand-off sent
// to the new holder (a reap begun while this reaper still held the seat),
// which then waits for a CQE that never comes while the hand-off sits on
// the ready list (found by TestCloseRacesEveryHandoff: Close hung on a
// Sleep's callback in 3 of 10 runs): it wakes the holder again. Only then:
// a NOP on every handover cost system calls under load (read-cached qd1
// under -stress, 1.05 system calls per read against 1.00).
func (s *Shard) endRound(w int, lost bool) {
	if lost {
		if s.wakesTaken[w] > 0 {
			s.wakeHolder()
		} else {
			s.watchIfNeeded()
		}
	}
	s.wakesTaken[w] = 0
	s.batching.Add(-1)
	s.rounds[w].Store(0)
	runtime.UnlockOSThread()
}

// stuck is seat.Backend's Stuck, on the watchdog's goroutine: reaper w's
// round has run no callback for a period (one blocks, as a rule). What
// its callbacks queued for afterBatch goes to the kernel now, and while
// stuckN is raised Push submits starts from callbacks at once; an idle
// holder is kicked, since those starts skipped the kick. The seat has
// already handed the seat to another reaper if w held it, so what
// completes is reaped and run there.
func (s *Shard) stuck() {
	s.stuckN.Add(1)
	s.submit()
	s.watchIfNeeded()
}

// unstuck is seat.Backend's Unstuck: the round stuck reported moves again.
func (s *Shard) unstuck() { s.stuckN.Add(-1) }

// afterBatch submits in one enter everything a batch's callbacks started
// (their Push skipped it), then kicks the holder if it waits off the ring:
// the batch may have run on a standby reaper (a callback routed to the
// worker that ran its Aio's previous one), whose starts the idle holder
// would otherwise never hear of (TestRecvMsgOrderManyConns stalled under
// -race: RecvMsg re-arms submitted by a standby, the holder asleep on
// kick with the multishot in flight).
func (s *Shard) afterBatch() {
	s.submitHeld()
	s.watchIfNeeded()
}

// wakeHolder is seat.Backend's Wake: a kick for a holder idle off the
// ring, else a KindWake NOP whose CQE makes the ring fd readable (the
// holder armed it before it parked, or arms it after this and finds the
// CQE then).
func (s *Shard) wakeHolder() {
	if s.idle.Load() {
		s.wakeIdle()
		return
	}
	if s.queueWake() == nil {
		s.stats.wakeups.Add(1)
		s.submit()
		// The submission may have published others' Requests too
		// (publish): whoever publishes looks at the idle reaper.
		s.watchIfNeeded()
	}
}

// The seat.Backend methods, on a named type so that they stay out of
// Shard's method set (the engine's backend interface).
func (h *seatHooks) Park(w int) seat.Park { return (*Shard)(h).park(w) }
func (h *seatHooks) Round(w int, b *seat.Batch, look bool) bool {
	return (*Shard)(h).reapRound(w, b, look)
}
func (h *seatHooks) AfterBatch(int)            { (*Shard)(h).afterBatch() }
func (h *seatHooks) BeginRound(w int)          { (*Shard)(h).beginRound(w) }
func (h *seatHooks) EndRound(w int, lost bool) { (*Shard)(h).endRound(w, lost) }
func (h *seatHooks) Wake()                     { (*Shard)(h).wakeHolder() }
func (h *seatHooks) Stuck(int)                 { (*Shard)(h).stuck() }
func (h *seatHooks) Unstuck(int)               { (*Shard)(h).unstuck() }

// flushOverflow moves CQEs from the kernel's overflow list into the CQ
// (GETEVENTS with nothing to submit) when there are any; called with cqMu
// held. It reports false when the kernel did not: EBADR breaks the shard
// as in enterUnlocked; a transient refusal (the CQ still full, EAGAIN,
// EBUSY, ENOMEM) is retried by the next look; any other error is also
// retried, and the first one is kept for Close to report.
func (s *Shard) flushOverflow() bool {
	if !s.r.NeedsFlush() {
		return true
	}
	err := s.enterUnlocked(0, false, false)
	switch err {
	case nil:
		return true
	case ErrBroken, syscall.EAGAIN, syscall.EBUSY, syscall.ENOMEM:
	default:
		s.flushErr.CompareAndSwap(nil, &err)
	}
	return false
}

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
