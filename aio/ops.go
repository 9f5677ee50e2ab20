package aio

import (
	"math"
	"time"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// User data kinds of the engine's operations (see sqe.UserData): the
// token a backend reports a result with.
const (
	kindOp sqe.Kind = 1 // an operation; its result decides
)

// opKind is the public operation an Aio runs.
type opKind uint8

const (
	opNop opKind = iota + 1
	opSleep
	opRead
	opWrite
	opFsync
	opRecv
	opSend
	opAccept
	opConnect
	opRecvMsg // the single-shot fallback of RecvMsg (msgfallback.go)
)

// Datagrams, splice, shutdown (ops_stream.go).
const (
	opSendTo opKind = iota + 16
	opRecvFrom
	opSplice
	opShutdown
)

var opNames = [...]string{opNop: "Nop", opSleep: "Sleep", opRead: "ReadAt", opWrite: "WriteAt",
	opFsync: "Fsync", opRecv: "Recv", opSend: "Send", opAccept: "Accept", opConnect: "Connect", opRecvMsg: "RecvMsg",
	opSendTo: "SendTo", opRecvFrom: "RecvFrom", opSplice: "Splice", opShutdown: "Shutdown"}

// timing is an operation's resolved timeout.
type timing struct {
	mode timingMode
	rel  time.Duration // tRelative
	abs  int64         // tAbsolute: CLOCK_MONOTONIC ns
}

type timingMode uint8

const (
	tInfinite timingMode = iota
	tZero                // non-blocking attempt
	tRelative
	tAbsolute
	tPast // an expiry that has already passed
)

// timingLocked resolves the timeout of the operation being started and
// consumes a one-shot expiry.
func (a *Aio) timingLocked() timing {
	if abs := a.expiryLocked(); abs != 0 {
		a.clearExpiryLocked()
		if abs <= a.e.clock.now() {
			return timing{mode: tPast}
		}
		return timing{mode: tAbsolute, abs: abs}
	}
	d := a.resolvedTimeoutLocked()
	switch {
	case d == 0:
		return timing{mode: tZero}
	case d < 0:
		return timing{mode: tInfinite}
	}
	return timing{mode: tRelative, rel: d}
}

// attemptLocked reports whether the operation about to start is a zero
// timeout's attempt (no expiry set, a timeout of 0), as timingLocked will
// resolve it, without consuming the expiry.
func (a *Aio) attemptLocked() bool {
	return a.expiryLocked() == 0 && a.resolvedTimeoutLocked() == 0
}

// resolvedTimeoutLocked is the relative timeout with DefaultTimeout
// replaced by the engine's; negative means none.
func (a *Aio) resolvedTimeoutLocked() time.Duration {
	d := a.timeout
	if d == DefaultTimeout {
		d = a.e.cfg.DefaultTimeout
	}
	return d
}

func (a *Aio) userData() sqe.UserData { return sqe.Pack(kindOp, a.slot, a.gen) }

// Nop completes with nil after a round trip through the ring.
func (a *Aio) Nop() { a.startKernel(opNop, -1, 0, nil) }

// ReadAt reads into the IOV from fd at offset off (-1: the file's current
// position). Count is 0 at end of file.
func (a *Aio) ReadAt(fd int, off int64) { a.startKernel(opRead, fd, off, nil) }

// WriteAt writes the IOV to fd at offset off (-1: the current position).
func (a *Aio) WriteAt(fd int, off int64) { a.startKernel(opWrite, fd, off, nil) }

// Fsync flushes fd's data and metadata to storage. A zero timeout makes it
// end with ErrTimedOut at once, as fsync has no non-blocking form. On an
// io_uring engine it is a blocking fsync(2) on one of the engine's sync
// workers, which also runs the callback (through the ring, in an io-wq
// worker, at GOMAXPROCS=1, with Config.RingOnly, for a registered
// descriptor or when every sync worker is busy). Once its call has begun
// neither an Abort nor a timeout can take it back: its result stands.
func (a *Aio) Fsync(fd int) {
	if !a.syncBeside(opFsync, fd) {
		a.startKernel(opFsync, fd, 0, nil)
	}
}

// Recv receives into the IOV from socket fd. Count is 0 when the peer has
// closed. On a descriptor that RecvMsg receives from (its multishot
// request armed), Recv takes the data RecvMsg would get next, in order,
// copied into the IOV; what does not fit is left for the next receive.
func (a *Aio) Recv(fd int) {
	if a.e.msgs.live.Load() != 0 && a.recvQueued(fd, opRecv) {
		return // fd has a RecvMsg's multishot: served from its queue (msgmixed.go)
	}
	a.startKernel(opRecv, fd, 0, nil)
}

// Send sends the IOV on socket fd, or the attached message's bytes when
// SetMsg attached one. Count may be short of the length.
func (a *Aio) Send(fd int) { a.startKernel(opSend, fd, 0, nil) }

// RecvMsg receives from socket fd into a buffer of the engine's pool that
// the kernel picks. On success Msg holds the bytes, now the caller's to
// Free, and Count is their length; at end of stream Count is 0 and Msg nil.
// Timeouts, Cancel, Abort, Stop and Close are as for Recv, and a message
// the kernel has filled is never lost: one that arrives while nobody
// receives is kept, in order, for the next RecvMsg on fd while an Aio
// that used fd lives. The package doc tells how memory is bounded, and
// when to close fd with Engine.CloseFD rather than unix.Close.
//
// On a datagram socket each Msg is one datagram, an empty one included
// (Count 0 with a Msg: there is no end of stream), and From is its source
// as after RecvFrom. A datagram longer than a buffer is truncated, as
// net.UDPConn.ReadFrom truncates: through io_uring's multishot receive the
// start of each buffer holds the kernel's header and the source (32 bytes
// for IPv4, 48 for IPv6, 128 for unix sockets), so a Msg holds at most
// Config.MsgBufferSize less that; buffers too small for any payload give
// ErrInvalid. Single-shot receives (the portable backend, kernels before
// 6.0) use the whole buffer.
func (a *Aio) RecvMsg(fd int) {
	if a.e.msgs.multishot {
		a.startMulti(fd, false)
		return
	}
	// The ring's pool is made (an mmap, once) before the Aio is locked;
	// an error here comes back from bufferLocked, through the callback.
	a.e.msgs.poolFor(a.sh)
	a.startKernel(opRecvMsg, fd, 0, nil)
}

// Accept accepts a connection on listening socket fd; Output(0) then holds
// the new descriptor as an int (close-on-exec, blocking mode).
func (a *Aio) Accept(fd int) {
	if a.e.msgs.msAccept && !a.e.msgs.zeroAttempt(a, fd) {
		a.startMulti(fd, true)
		return
	}
	a.startKernel(opAccept, fd, 0, nil)
}

// Connect connects socket fd to sa (*unix.SockaddrInet4, *unix.SockaddrInet6
// or *unix.SockaddrUnix; others give ErrInvalid).
func (a *Aio) Connect(fd int, sa unix.Sockaddr) { a.startKernel(opConnect, fd, 0, sa) }

// Sleep completes with nil after d (nng_sleep_aio). A positive timeout
// shorter than d ends it with ErrTimedOut at the timeout, and a zero timeout
// at once; SetExpire does not apply to it. A negative d sleeps until
// cancelled or timed out.
func (a *Aio) Sleep(d time.Duration) {
	a.mu.Lock()
	defer a.unlock()
	a.beginLocked("Sleep")
	a.clearExpiryLocked() // one-shot: consumed, though Sleep ignores it
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		return
	}
	timesOut := false
	if t := a.resolvedTimeoutLocked(); t >= 0 && (d < 0 || d > t) {
		d, timesOut = t, true
	}
	if d == 0 {
		if timesOut {
			a.finishLocked(ErrTimedOut, 0, nil)
		} else {
			a.finishLocked(nil, 0, nil)
		}
		return
	}
	// The engine's queue of Sleeps, not an IORING_OP_TIMEOUT: arming is
	// a heap insert, with no system call and no SQE (docs/design.md).
	a.kind = opSleep
	a.sleepTimesOut = timesOut
	a.state = stateTimer
	if d > 0 {
		a.armSleepLocked(d)
	}
	// d < 0: until cancelled; no timer at all.
}

// admitLocked returns the error an operation must end with before it
// reaches the kernel: a stopped Aio, a closed engine, no slot.
func (a *Aio) admitLocked() error {
	switch {
	case a.stopped:
		return ErrStopped
	case a.e.closed.Load():
		return ErrClosed
	case a.slot == noSlot:
		return ErrInvalid
	}
	return nil
}

func (a *Aio) startKernel(kind opKind, fd int, off int64, sa unix.Sockaddr) {
	a.startKernelFile(kind, fd, off, sa, nil)
}

// startKernelFile is startKernel with a files-by-name operation's
// arguments (ops_file.go); fa is nil for the other operations.
func (a *Aio) startKernelFile(kind opKind, fd int, off int64, sa unix.Sockaddr, fa *fileArgs) {
	a.e.noteRingWaiter(kind)
	var (
		round int64
		next  startNext
		tm    timing
		be    backend
	)
	if kind == opRead {
		// A read never goes to the readiness backend (mayUsePort), so
		// mu is taken once here for either start.
		a.mu.Lock()
		if a.smallReadLocked(fd, off) {
			a.startSmallReadLocked(fd, off) // the commonest read's own start (tryfirst.go)
			return
		}
		round, next, tm, be = a.queueKernelLocked(kind, fd, off, sa, fa, false)
	} else {
		// Outside mu: submitting may complete this or other operations
		// inline, and completing takes their locks.
		mayUsePort := a.mayUsePort(kind)
		a.mu.Lock()
		round, next, tm, be = a.queueKernelLocked(kind, fd, off, sa, fa, mayUsePort)
	}
	if next == startNone && kind == opClose {
		closeRefused(fd) // ended before its backend had it (ops_file.go)
	}
	if next == startTry {
		next = a.tryThenQueue(tm)
	}
	a.submitNext(be, next, round)
}

// submitNext hands what a start queued to its backend, as next says:
// with the caller's round (startSubmit), or at once wherever it runs
// (startSubmitNow); anything else queued nothing. Called without mu.
func (a *Aio) submitNext(be backend, next startNext, round int64) {
	switch next {
	case startSubmit:
		be.Submit(&a.desc, round)
	case startSubmitNow:
		be.Submit(&a.desc, completion.Urgent)
	}
}

// startNext is what a start does once it has released mu.
type startNext uint8

const (
	startNone      startNext = iota // the operation ended at once: its callback is scheduled
	startSubmit                     // queued: submit it
	startTry                        // in stateTry: try it first (tryfirst.go), then queue it if it is not done
	startSubmitNow                  // queued, and it waits for a device: submit it at once, even from a callback (completion.Urgent)
)

// queueKernelLocked begins kind and queues its SQEs, or leaves it in stateTry
// for the starter to try first. round is the worker goroutine of a.sh
// running the Aio's own callback when the Aio restarts itself from it (that
// round submits when the callback returns), else 0. (If another goroutine starts it while the callback runs, as
// nng allows, the operation is submitted when the callback returns, or
// with any earlier submission on the ring.) be is the backend that
// queued it (opBackend), which startSubmit submits to; mayUsePort is
// mayUsePort's answer for kind. Called with mu held; it releases mu.
func (a *Aio) queueKernelLocked(kind opKind, fd int, off int64, sa unix.Sockaddr, fa *fileArgs, mayUsePort bool) (round int64, next startNext, tm timing, be backend) {
	defer a.unlock() // also when beginLocked panics
	round = a.ownRoundLocked()
	if (kind == opSend || kind == opSendTo) && a.x != nil && a.x.attached != nil && !a.x.attached.live.Load() {
		panic("aio: " + kind.name() + " of a Msg already freed (use after free)")
	}
	a.beginLocked(kind.name())
	if kind == opRecvMsg && a.x != nil {
		a.x.attached = nil
	}
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		return round, startNone, tm, nil
	}
	tm = a.timingLocked()
	if tm.mode == tPast {
		a.finishLocked(ErrTimedOut, 0, nil)
		return round, startNone, tm, nil
	}
	// A read tried first is not pinned: its starter's preadv2 is all
	// that uses the buffers, unless it misses (tryThenQueue pins then).
	try := a.tryFirst(kind, off)
	a.noPin = try
	err := a.buildLocked(kind, fd, off, sa, fa)
	a.noPin = false
	if err != nil {
		if err == errNoBuffer {
			a.waitBufferLocked(tm)
			return round, startNone, tm, nil
		}
		a.finishLocked(err, 0, nil) // unpins what build pinned
		return round, startNone, tm, nil
	}
	if kind == opSend { // zero-copy send, when configured (sendzc.go)
		a.zeroCopyLocked(tm)
	}
	if err := a.fixedLocked(); err != nil { // registered buffers and descriptors (fixed.go)
		a.finishLocked(err, 0, nil)
		return round, startNone, tm, nil
	}
	a.onPort = a.onPortLocked(mayUsePort)
	if !a.opBackend().Supports(&a.desc) {
		a.finishLocked(ErrUnsupported, 0, nil)
		return round, startNone, tm, nil
	}
	if try {
		// A zero timeout's attempt is one non-blocking call, which the
		// try is: it must know (armLocked, which would say so, runs only
		// when the try misses).
		a.desc.Attempt = tm.mode == tZero
		if a.sh.TryUnderLock(&a.desc) {
			// A small read: tried under mu, so that the start, the
			// try and the end are one critical section (decision 61).
			r, done := a.sh.Try(&a.desc)
			return round, a.afterTryLocked(r, done, tm), tm, a.sh
		}
		a.state = stateTry
		return round, startTry, tm, a.sh // reads and Splices: never on the readiness backend
	}
	if !a.enqueueLocked(tm) {
		return round, startNone, tm, nil
	}
	return round, startSubmit, tm, a.opBackend()
}

// enqueueLocked applies the timeout and queues the described operation
// (state Kernel), or ends it at once, reporting false.
func (a *Aio) enqueueLocked(tm timing) bool {
	if !a.armLocked(tm) {
		a.finishLocked(ErrTimedOut, 0, nil)
		return false
	}
	// Queued under mu, so an Abort (which queues its cancel under mu too)
	// can never overtake it.
	if a.opBackend().Queue(&a.desc) != nil {
		// Closed or broken (the kernel dropped CQEs): Engine.Close
		// reports the cause.
		a.finishLocked(ErrClosed, 0, nil)
		return false
	}
	a.state = stateKernel
	return true
}

// buildLocked describes kind in a.desc: what, on which descriptor, with
// which buffers and address (the timing comes in armLocked). Descriptors
// are passed on as they are, so a bad one comes back as the kernel's
// errno. The memory the description points to is pinned here until the
// operation ends (finishLocked unpins).
func (a *Aio) buildLocked(kind opKind, fd int, off int64, sa unix.Sockaddr, fa *fileArgs) error {
	if fd > math.MaxInt32 || fd < math.MinInt32 {
		return unix.EBADF
	}
	a.kind = kind
	a.dropStalePinsLocked() // pin.go; no operation is in flight here
	d := &a.desc
	// The backend's per-Aio state and the owner's promise (Held) outlive
	// the operation.
	be, held := d.Backend, d.Held
	*d = op.Desc{FD: int32(fd), Token: uint64(a.userData()), Backend: be, Held: held,
		CloseSeq: a.e.fdCloses.seq.Load()} // fdcancel.go
	switch kind {
	case opNop:
		d.Kind, d.FD = op.Nop, -1
	case opRead, opWrite:
		d.Kind, d.Off = op.Read, off
		if kind == opWrite {
			d.Kind = op.Write
		}
		return a.buffersLocked(d)
	case opFsync:
		d.Kind = op.Fsync
	case opRecv:
		d.Kind = op.Recv
		return a.buffersLocked(d)
	case opSend:
		d.Kind = op.Send
		if a.attachedLocked(d) {
			return nil
		}
		return a.buffersLocked(d)
	case opRecvMsg:
		return a.bufferLocked(d)
	case opAccept:
		d.Kind = op.Accept
	case opConnect:
		d.Kind = op.Connect
		x := a.extra()
		n, err := putSockaddr(&x.sa, sa)
		if err != nil {
			return ErrInvalid
		}
		x.sock = sa
		d.Addr, d.AddrLen, d.Sock = &x.sa, uint32(n), sa
		a.pinExtraLocked()
	default:
		if kind >= opOpenAt {
			return a.buildFileLocked(kind, off, fa) // ops_file.go
		}
		return a.buildStreamLocked(kind, d, off, sa)
	}
	return nil
}

// attachedLocked describes the Msg SetMsg attached, if there is one, as
// d's buffer (Send and SendTo): it wins over the IOV, however many buffers
// that holds. Its buffer is the pool's mapping, outside the Go heap:
// nothing to pin.
func (a *Aio) attachedLocked(d *op.Desc) bool {
	if a.x == nil || a.x.attached == nil {
		return false
	}
	if b := a.x.attached.Bytes(); len(b) > 0 {
		d.Iov.Base = &b[0]
		d.Iov.SetLen(len(b))
	}
	return true
}

// buffersLocked points d at the IOV and pins it: the one buffer in
// d.Iov, or several in the iovec array (pinned too: the kernel reads the
// array at submission, the buffers until the operation ends).
func (a *Aio) buffersLocked(d *op.Desc) error {
	if a.niov <= 1 {
		b := a.iov0
		if a.niov == 0 || len(b) == 0 {
			return nil
		}
		if uint64(len(b)) > math.MaxUint32 {
			return ErrInvalid
		}
		d.Iov.Base = &b[0]
		d.Iov.SetLen(len(b))
	} else {
		x := a.extra()
		for i := 0; i < int(a.niov); i++ {
			b := a.iov0
			if i > 0 {
				b = x.iov[i-1]
			}
			x.iovecs[i] = unix.Iovec{}
			if len(b) > 0 {
				x.iovecs[i].Base = &b[0]
				x.iovecs[i].SetLen(len(b))
			}
		}
		d.Vec, d.NVec, d.Hdr = &x.iovecs[0], int(a.niov), &x.msg
	}
	if !a.noPin {
		a.pinBuffersLocked(d)
	}
	return nil
}

// pinBuffersLocked pins the buffers buffersLocked described in d, and the
// iovec array that holds them (in aioExtra) when there are several.
// runtime.Pinner takes the span's lock per object, twice per operation
// with the Unpin: worth sparing where the starter's own system call is
// all that uses them (noPin).
func (a *Aio) pinBuffersLocked(d *op.Desc) {
	if d.NVec == 0 {
		if d.Iov.Base != nil {
			a.pinBufferLocked(d.Iov.Base, int(d.Iov.Len))
		}
		return
	}
	for _, v := range a.x.iovecs[:d.NVec] {
		if v.Base != nil {
			a.pinOtherLocked(v.Base)
		}
	}
	a.pinExtraLocked()
}

// armLocked applies the timeout: an attempt for a zero timeout, a
// deadline the backend enforces where it can cut the operation, the
// engine's own timer where it cannot (a regular file's I/O and fsync run
// in io-wq or on a file worker, where no timer reaches them). It returns
// false when a zero timeout cannot be honoured without blocking.
func (a *Aio) armLocked(tm timing) bool {
	d := &a.desc
	switch tm.mode {
	case tInfinite:
		return true
	case tZero:
		switch a.kind {
		case opNop, opRecv, opSend, opRecvMsg, opRead, opWrite, opAccept, opConnect,
			opSendTo, opRecvFrom, opSplice, opShutdown:
			d.Attempt = true
			return true
		case opClose:
			// A close is never refused nor left half-done: it runs
			// (close(2) does not wait for anything that a zero
			// timeout could spare), and Attempt means nothing to it.
			return true
		}
		return false
	}
	switch a.kind {
	case opRead, opWrite, opFsync, opRecvMsg, opSplice, opOpenAt, opStatx, opClose, opFdatasync, opFallocate:
		// opRecvMsg: the timer also bounds a wait for a free buffer.
		// opSplice: IORING_OP_SPLICE always runs in io-wq, where a link
		// timer takes effect only once it returns; so do the
		// files-by-name kinds (in io-wq or on a file worker).
		a.armDeadlineLocked(tm)
	default:
		switch {
		case tm.mode == tAbsolute:
			d.Deadline.Abs = tm.abs
		case tm.rel >= lazyTimeoutMin && a.kind.transfer():
			a.armLazyLocked(tm.rel)
		case d.Kind.SocketWait() && a.e.backend == BackendIOURing:
			// The ring may hand the operation back to be queued
			// again (op.Kind.SocketWait): an absolute deadline
			// stays the same across submissions, where a relative
			// one would start over.
			d.Deadline.Abs = op.AddMono(a.e.clock.now(), int64(tm.rel))
		default:
			d.Deadline.Rel = int64(tm.rel)
		}
	}
	return true
}

// transfer reports whether k moves data on a socket or pipe: the kinds
// whose long timeouts a lazy arm enforces (idle timeouts, as a rule).
func (k opKind) transfer() bool {
	switch k {
	case opRecv, opSend, opSendTo, opRecvFrom:
		return true
	}
	return false
}

// armLazyLocked guards the operation being started with the Aio's timer,
// due rel from now. A lazy arm is left running when its operation ends:
// when it fires it ends the operation it then guards if that one's
// deadline has passed, arms itself again for that deadline if not, and
// lapses if none (onTimer). So an Aio that starts operation after
// operation with an idle timeout of seconds resets no timer per
// operation: it stores a deadline, and the timer fires about once per
// timeout. One that would fire after the new deadline (a shorter
// timeout than before) is re-armed now.
func (a *Aio) armLazyLocked(rel time.Duration) {
	x := a.extra() // made once per Aio
	at := op.AddMono(a.e.clock.now(), int64(rel))
	if a.armed && a.lazy && x.lazyFire <= at {
		x.lazyAt = at
		return
	}
	a.armTimerLocked(rel)
	a.lazy, x.lazyAt, x.lazyFire = true, at, at
}

// dropLazyLocked stops a lazy arm, for an arm of another kind or a
// release; a fire that Stop finds started is counted stale, as
// disarmLocked counts one.
func (a *Aio) dropLazyLocked() {
	if a.armed && a.lazy {
		a.armed, a.lazy, a.x.lazyAt = false, false, 0
		if !a.timer.Stop() {
			a.stale++
		}
	}
}

// armDeadlineLocked arms the Aio's timer at tm's deadline when it has one
// (tRelative, tAbsolute); the other modes arm nothing.
func (a *Aio) armDeadlineLocked(tm timing) {
	switch tm.mode {
	case tRelative:
		a.armTimerLocked(tm.rel)
	case tAbsolute:
		a.armTimerLocked(time.Duration(tm.abs - a.e.clock.now()))
	}
}

// armTimerLocked arms the Aio's runtime timer to fire after d: the
// engine's deadline for an operation no link timer can cut (a Sleep's is
// in the engine's queue, armSleepLocked).
// The timer is made once per Aio (a method value bound once) and reset per
// operation, so arming never allocates after the first time, and it reads
// no clock of its own: the runtime's timer never fires early.
func (a *Aio) armTimerLocked(d time.Duration) {
	a.dropLazyLocked()
	a.armed = true
	if a.timer == nil {
		a.timer = time.AfterFunc(d, a.onTimer)
	} else {
		a.timer.Reset(d)
	}
}

// armSleepLocked arms a Sleep's end (or its timeout) d from now in the
// engine's queue of Sleeps (sleepqueue.go, decision 79): no runtime timer
// of the Aio's own, and no goroutine per fire.
func (a *Aio) armSleepLocked(d time.Duration) {
	a.dropLazyLocked()
	a.armed, a.queued = true, true
	a.e.sleeps.add(a, op.AddMono(a.e.clock.now(), int64(d)))
}

// disarmLocked stops the timer of the operation that just ended. If the
// timer has already fired, its function has started and waits for mu: it
// is counted as stale, and ignored when it gets there. A lazy arm is not
// stopped: the operation just leaves it.
func (a *Aio) disarmLocked() {
	if a.armed && a.lazy {
		a.x.lazyAt = 0 // left running: its fire finds nothing to guard, or a later operation
		return
	}
	if a.armed && a.queued {
		a.armed, a.queued = false, false
		a.e.sleeps.withdraw(a) // its entry is dropped when a fire or a compaction meets it
		return
	}
	if a.armed {
		a.armed = false
		if !a.timer.Stop() {
			a.stale++
		}
	}
}
