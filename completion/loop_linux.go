//go:build linux

package completion

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// Loop owns one ring and the goroutine that drives it.
type Loop struct {
	handler Handler
	spin    time.Duration

	// Submit pushes onto a lock-free stack (a Treiber stack that is only
	// ever emptied whole, so it has no ABA problem); the loop takes it all
	// with one Swap and reverses it into submission order.
	submitted atomic.Pointer[Node]

	// Fields below are handed over between goroutines under mu.
	mu       sync.Mutex
	cancels  []sqe.UserData // queued by Cancel
	closing  bool
	exited   bool
	queued   atomic.Int32  // len(cancels) (+1 while closing), read without mu by the spinning loop
	sleeping atomic.Uint32 // 1 while the loop is (about to be) asleep in the kernel

	wakeFd int // eventfd; a write wakes the loop

	// Netpoll mode: a duplicate of the ring fd, registered with Go's
	// netpoller.
	pollFile *os.File
	pollConn syscall.RawConn

	// Owned by the loop goroutine.
	r         *ring.Ring
	probe     *ring.Probe
	inflight  int // Requests submitted whose final CQE is not reaped
	wakeArmed bool
	wakeBuf   uint64 // the eventfd READ's target; on the heap with the Loop
	spareCans []sqe.UserData
	sqes      [MaxSQEs]*sqe.SQE
	cqes      []ring.CQE

	stats struct{ enters, submitted, completed, sleeps, wakeups atomic.Uint64 }
	done  chan struct{}
	err   error // fatal ring error, set by the loop before it exits
}

// Start creates the ring on a new goroutine and starts the loop. It returns
// the setup error (matching errors.ErrUnsupported where io_uring cannot be
// used).
func Start(cfg Config) (*Loop, error) {
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
	if cfg.Spin == 0 {
		cfg.Spin = DefaultSpin
	}
	wakeFd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // blocking: the ring must poll it, not get EAGAIN
	if err != nil {
		return nil, err
	}
	l := &Loop{handler: cfg.Handler, spin: cfg.Spin, wakeFd: wakeFd, done: make(chan struct{}),
		cqes: make([]ring.CQE, 256)}
	ready := make(chan error, 1)
	go l.run(cfg, ready)
	if err := <-ready; err != nil {
		unix.Close(wakeFd)
		return nil, err
	}
	return l, nil
}

func (l *Loop) run(cfg Config, ready chan<- error) {
	// SINGLE_ISSUER makes the creating thread the only submitter, and
	// DEFER_TASKRUN runs completions only when that thread waits: lock
	// before creating the ring, and stay locked for the ring's life.
	runtime.LockOSThread()
	flags := cfg.Flags
	if cfg.Netpoll {
		flags &^= ring.SetupSingleIssuer | ring.SetupDeferTaskrun | ring.SetupCoopTaskrun | ring.SetupTaskrunFlag
	}
	r, err := ring.New(ring.Options{Entries: cfg.Entries, CQEntries: cfg.CQEntries, Flags: flags})
	if err == nil {
		l.probe, err = r.Probe()
		if err == nil && cfg.Netpoll {
			err = l.registerPoller(r)
		}
		if err != nil {
			r.Close()
		}
	}
	if err != nil {
		ready <- err
		runtime.UnlockOSThread()
		return
	}
	if r.Flags()&(ring.SetupSingleIssuer|ring.SetupDeferTaskrun) == 0 {
		runtime.UnlockOSThread()
	}
	l.r = r
	ready <- nil
	l.loop()
	l.mu.Lock()
	l.exited = true
	l.mu.Unlock()
	if l.pollFile != nil {
		l.pollFile.Close()
	}
	r.Close()
	unix.Close(l.wakeFd)
	close(l.done)
	// The thread stays locked if it was: the goroutine exits and the
	// runtime retires the thread with it, as a thread that was a ring's
	// submitter should not run other goroutines' task work.
}

// Submit queues req for the ring. It never fails and never blocks on ring
// space: requests beyond what the SQ holds wait their turn in the loop.
// After Close, Submit panics.
func (l *Loop) Submit(req Request) {
	n := req.QueueNode()
	n.req = req
	for {
		head := l.submitted.Load()
		n.next = head
		// The CAS publishes n.next and the request's fields to the loop,
		// whose Swap reads them (both sequentially consistent).
		if l.submitted.CompareAndSwap(head, n) {
			break
		}
	}
	l.wake()
}

// Cancel asks the kernel to cancel the request whose user data is target
// (IORING_OP_ASYNC_CANCEL). The target's own CQE reports the outcome: it may
// still complete normally if the cancel comes too late.
func (l *Loop) Cancel(target sqe.UserData) {
	l.mu.Lock()
	l.cancels = append(l.cancels, target)
	l.queued.Add(1)
	l.mu.Unlock()
	l.wake()
}

// wake makes sure a sleeping loop notices queued work. Dekker-style pairing
// with the loop's sleep: we publish the work (the CAS on submitted, or
// queued.Add, both sequentially consistent) before reading sleeping; the
// loop stores sleeping before re-reading both. So either the loop sees our
// work or we see it asleep; never neither.
func (l *Loop) wake() {
	if l.sleeping.Load() == 1 && l.sleeping.CompareAndSwap(1, 0) {
		l.stats.wakeups.Add(1)
		one := uint64(1)
		// Blocks only if the counter would overflow, which cannot happen.
		unix.Write(l.wakeFd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

// Close cancels whatever is still in the ring, waits for every request's
// final CQE to reach the Handler, and releases the ring, its memory and
// the eventfd. Requests submitted before Close are completed (mostly
// with -ECANCELED); callers must not Submit after calling Close.
func (l *Loop) Close() error {
	l.mu.Lock()
	already := l.closing
	l.closing = true
	l.queued.Add(1) // make a spinning loop look at closing
	l.mu.Unlock()
	if !already {
		l.forceWake()
	}
	<-l.done
	return l.err
}

func (l *Loop) forceWake() {
	l.sleeping.Store(0)
	one := uint64(1)
	unix.Write(l.wakeFd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

// Probe reports the opcodes the kernel supports.
func (l *Loop) Probe() *ring.Probe { return l.probe }

// Flags returns the setup flags the ring runs with.
func (l *Loop) Flags() ring.SetupFlags { return l.r.Flags() }

// Features returns the ring's IORING_FEAT_* bits.
func (l *Loop) Features() ring.Features { return l.r.Features() }

// Stats returns a snapshot of the loop's counters.
func (l *Loop) Stats() Stats {
	return Stats{Enters: l.stats.enters.Load(), Submitted: l.stats.submitted.Load(),
		Completed: l.stats.completed.Load(), Sleeps: l.stats.sleeps.Load(), Wakeups: l.stats.wakeups.Load()}
}

// loop is the owner goroutine's body. Invariant: while the loop sleeps in
// the kernel a READ on wakeFd is armed, so a wake() always ends the sleep.
func (l *Loop) loop() {
	cancelAllSent := false
	for {
		// Cancels first, then requests: a cancel is queued after its
		// target, so taking the cancels first guarantees every target
		// of a cancel we take is in this batch of requests or an
		// earlier one, and its SQE precedes the cancel's.
		l.mu.Lock()
		cans, closing := l.cancels, l.closing
		l.cancels = l.spareCans[:0]
		l.queued.Store(0)
		l.mu.Unlock()
		nreqs := 0
		if head := l.submitted.Swap(nil); head != nil {
			// The stack is newest first; reverse it into arrival order.
			var fifo *Node
			for head != nil {
				next := head.next
				head.next = fifo
				fifo = head
				head = next
			}
			for n := fifo; n != nil; {
				next := n.next
				n.next = nil
				l.prep(n.req)
				n = next
				nreqs++
			}
		}

		worked := nreqs > 0 || len(cans) > 0
		for _, target := range cans {
			s := l.getSQEs(1)[0]
			s.AsyncCancel(uint64(target), 0)
			// Success needs no CQE: the target's own CQE says it all.
			s.Flags |= sqe.CQESkipSuccess
			s.UserData = uint64(sqe.Pack(KindCancel, 0, 0))
		}
		l.spareCans = cans

		if closing {
			if nreqs > 0 || !cancelAllSent {
				// Everything still in the kernel, the wake READ included,
				// completes now with -ECANCELED (or runs to its end if it
				// cannot be cancelled).
				s := l.getSQEs(1)[0]
				s.CancelAllRequests()
				s.UserData = uint64(sqe.Pack(KindCancel, 0, 0))
				cancelAllSent = true
			}
			if l.inflight == 0 && !l.wakeArmed && l.r.Pending() == 0 {
				return
			}
		} else if !l.wakeArmed {
			s := l.getSQEs(1)[0]
			s.Read(int32(l.wakeFd), unsafe.Pointer(&l.wakeBuf), 8, 0, 0)
			s.UserData = uint64(sqe.Pack(KindWake, 0, 0))
			l.wakeArmed = true
		}

		if l.reap() > 0 {
			worked = true
		}
		var wait uint32
		// Closing with nothing left to complete (the exit check above
		// failed only because an SQPOLL thread advances the SQ head after
		// posting the CQEs): sleeping would wait for a CQE that never
		// comes, so look again instead.
		drained := closing && l.inflight == 0 && !l.wakeArmed
		if !worked && !drained && l.r.Pending() == 0 {
			if !l.spinForWork() {
				// Announce the sleep, then look once more: see wake().
				l.sleeping.Store(1)
				if l.queued.Load() == 0 && l.submitted.Load() == nil {
					wait = 1
					l.stats.sleeps.Add(1)
				} else {
					l.sleeping.Store(0)
				}
			}
		}
		if wait > 0 && l.pollConn != nil {
			l.park()
			wait = 0
		}
		if l.r.Pending() > 0 || wait > 0 || l.r.NeedsFlush() {
			l.enter(wait)
		}
		l.sleeping.Store(0)
		l.reap()
	}
}

// registerPoller puts a duplicate of the ring fd on Go's netpoller. The
// duplicate shares the ring's open file, so it polls readable whenever the
// CQ holds entries.
func (l *Loop) registerPoller(r *ring.Ring) error {
	fd, err := unix.FcntlInt(uintptr(r.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	// Non-blocking, so os.NewFile registers it with the netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return err
	}
	l.pollFile = os.NewFile(uintptr(fd), "io_uring")
	l.pollConn, err = l.pollFile.SyscallConn()
	if err != nil {
		l.pollFile.Close()
		l.pollFile = nil
	}
	return err
}

// park blocks the loop goroutine on the netpoller until the CQ has entries
// (the wake eventfd's READ completing is one). The netpoller is
// edge-triggered: a CQE posted after the check below still marks the
// descriptor ready, so the park cannot miss it.
func (l *Loop) park() {
	l.pollConn.Read(func(uintptr) bool {
		return l.r.CQReady() != 0 || l.r.NeedsFlush()
	})
}

// spinForWork polls for queued work or kernel completions for up to the
// spin time and reports whether any arrived.
func (l *Loop) spinForWork() bool {
	if l.spin < 0 {
		return false
	}
	deadline := time.Now().Add(l.spin)
	for i := 0; ; i++ {
		if l.submitted.Load() != nil || l.queued.Load() != 0 || l.r.CQReady() != 0 || l.r.NeedsFlush() {
			return true
		}
		if i&63 == 63 && time.Now().After(deadline) {
			return false
		}
	}
}

// getSQEs returns n consecutive entries of one submission, submitting what
// is queued first if the SQ lacks room.
func (l *Loop) getSQEs(n int) []*sqe.SQE {
	for l.r.SQSpace() < uint32(n) {
		l.enter(0)
		if l.r.SQSpace() < uint32(n) {
			// The kernel did not take everything (e.g. EAGAIN for lack of
			// memory); make room by reaping, then retry.
			l.reap()
			runtime.Gosched()
		}
	}
	for i := 0; i < n; i++ {
		l.sqes[i] = l.r.GetSQE()
	}
	return l.sqes[:n]
}

func (l *Loop) prep(req Request) {
	n := req.SQEs()
	if n < 1 || n > MaxSQEs {
		panic("completion: Request.SQEs out of range")
	}
	req.Prep(l.getSQEs(n))
	l.inflight++
}

// enter submits what is queued and, when wait is 1, sleeps until a CQE
// arrives. Errors other than EINTR (retried in ring) are resource shortages
// the loop rides out; EBADR (the kernel dropped CQEs, out of memory) cannot
// be repaired and is recorded.
func (l *Loop) enter(wait uint32) {
	before := l.r.Pending()
	_, err := l.r.SubmitAndWait(wait)
	l.stats.enters.Add(1)
	l.stats.submitted.Add(uint64(before - l.r.Pending()))
	switch err {
	case nil:
	case syscall.EBADR:
		l.err = errors.New("completion: the kernel dropped completions (EBADR); some operations will never complete")
	default:
		// EAGAIN, EBUSY, ENOMEM: back off briefly and let the next round
		// retry.
		time.Sleep(50 * time.Microsecond)
	}
}

// reap hands every ready CQE to the handler and returns how many there were.
func (l *Loop) reap() int {
	total := 0
	for {
		n := l.r.PeekCQEs(l.cqes)
		for i := 0; i < n; i++ {
			c := &l.cqes[i]
			switch sqe.UserData(c.UserData).Kind() {
			case KindWake:
				l.wakeArmed = false
			case KindCancel:
				// -ENOENT / -EALREADY, or a cancel-all count: the targets
				// report for themselves.
			default:
				if l.handler.Complete(c) {
					l.inflight--
				}
			}
		}
		total += n
		if n < len(l.cqes) {
			break
		}
	}
	if total > 0 {
		l.stats.completed.Add(uint64(total))
		l.handler.Flush()
	}
	return total
}
