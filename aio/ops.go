package aio

import (
	"math"
	"time"
	"unsafe"

	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// User data kinds of the engine's SQEs (see sqe.UserData).
const (
	kindOp          sqe.Kind = 1 // an operation; its CQE decides the result
	kindLinkTimeout sqe.Kind = 2 // LINK_TIMEOUT with CQE_SKIP_SUCCESS: posts nothing
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

var opNames = [...]string{opNop: "Nop", opSleep: "Sleep", opRead: "ReadAt", opWrite: "WriteAt",
	opFsync: "Fsync", opRecv: "Recv", opSend: "Send", opAccept: "Accept", opConnect: "Connect", opRecvMsg: "RecvMsg"}

// kernelReq is what Prep writes into the ring for the current operation.
type kernelReq struct {
	kind     opKind
	sqeOp    sqe.Op
	link     bool // a LINK_TIMEOUT follows the operation
	ioprio   uint16
	fd       int32
	n        uint32
	opFlags  uint32
	tsFlags  uint32
	addr     uint64
	off      uint64
	userData sqe.UserData
	ts       sqe.Timespec
	// mayBlock: submitting it can copy a lot inline (see tuning.go).
	mayBlock bool
	// Sleep only: the timer is the Aio's timeout, not the sleep.
	sleepTimesOut bool
}

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
	if abs := a.expireAt; abs != 0 {
		a.expireAt = 0
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

// resolvedTimeoutLocked is the relative timeout with DefaultTimeout
// replaced by the engine's; negative means none.
func (a *Aio) resolvedTimeoutLocked() time.Duration {
	d := a.timeout
	if d == DefaultTimeout {
		d = a.e.cfg.DefaultTimeout
	}
	return d
}

// isFileIO reports whether kind reads or writes a file's data.
func isFileIO(kind opKind) bool { return kind == opRead || kind == opWrite }

func (a *Aio) userData() sqe.UserData { return sqe.Pack(kindOp, a.slot, a.gen) }

// Nop completes with nil after a round trip through the ring.
func (a *Aio) Nop() { a.startKernel(opNop, -1, 0, nil) }

// ReadAt reads into the IOV from fd at offset off (-1: the file's current
// position). Count is 0 at end of file.
func (a *Aio) ReadAt(fd int, off int64) { a.startKernel(opRead, fd, off, nil) }

// WriteAt writes the IOV to fd at offset off (-1: the current position).
func (a *Aio) WriteAt(fd int, off int64) { a.startKernel(opWrite, fd, off, nil) }

// Fsync flushes fd's data and metadata to storage. A zero timeout makes it
// end with ErrTimedOut at once, as fsync has no non-blocking form.
func (a *Aio) Fsync(fd int) { a.startKernel(opFsync, fd, 0, nil) }

// Recv receives into the IOV from socket fd. Count is 0 when the peer has
// closed.
func (a *Aio) Recv(fd int) { a.startKernel(opRecv, fd, 0, nil) }

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
func (a *Aio) RecvMsg(fd int) {
	if a.e.msgs.multishot {
		a.startMulti(fd, false)
		return
	}
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
	a.expireAt = 0 // one-shot: consumed, though Sleep ignores it
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
	// A runtime timer, not an IORING_OP_TIMEOUT: arming one is a heap
	// insert on this P, with no system call and no SQE (docs/design.md).
	a.req.kind = opSleep
	a.req.sleepTimesOut = timesOut
	a.state = stateTimer
	if d > 0 {
		a.armTimerLocked(d)
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
	// Outside mu: submitting may complete this or other operations inline,
	// and completing takes their locks.
	if fromCallback, queued := a.queueKernel(kind, fd, off, sa); queued {
		a.sh.Submit(a, fromCallback)
	}
}

// queueKernel begins kind and queues its SQEs. queued is false when the
// operation ended at once (its callback is scheduled) and there is nothing
// to submit. fromCallback reports an Aio restarted from its own callback:
// a reaper of a.sh runs that callback and submits when it returns. (If
// another goroutine starts it while the callback runs, as nng allows, the
// operation is submitted when the callback returns, or with any earlier
// submission on the ring.)
func (a *Aio) queueKernel(kind opKind, fd int, off int64, sa unix.Sockaddr) (fromCallback, queued bool) {
	a.mu.Lock()
	defer a.unlock() // also when beginLocked panics
	fromCallback = a.state == stateCallback
	if kind == opSend && a.x != nil && a.x.attached != nil && !a.x.attached.live.Load() {
		panic("aio: Send of a Msg already freed (use after free)")
	}
	a.beginLocked(opNames[kind])
	if kind == opRecvMsg && a.x != nil {
		a.x.attached = nil
	}
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		return fromCallback, false
	}
	tm := a.timingLocked()
	if tm.mode == tPast {
		a.finishLocked(ErrTimedOut, 0, nil)
		return fromCallback, false
	}
	if err := a.buildLocked(kind, fd, off, sa); err != nil {
		if err == errNoBuffer {
			a.waitBufferLocked(tm)
			return fromCallback, false
		}
		a.finishLocked(err, 0, nil) // unpins what build pinned
		return fromCallback, false
	}
	if kind == opSend { // zero-copy send, when configured (sendzc.go)
		a.zeroCopyLocked(tm)
	}
	if !a.e.Supports(a.req.sqeOp) {
		a.finishLocked(ErrUnsupported, 0, nil)
		return fromCallback, false
	}
	if !a.armLocked(tm) {
		a.finishLocked(ErrTimedOut, 0, nil)
		return fromCallback, false
	}
	// Queued under mu, so an Abort (which queues its cancel under mu too)
	// can never overtake it.
	if a.sh.Queue(&a.req) != nil {
		// Closed or broken (the kernel dropped CQEs): Engine.Close
		// reports the cause.
		a.finishLocked(ErrClosed, 0, nil)
		return fromCallback, false
	}
	a.state = stateKernel
	return fromCallback, true
}

// buildLocked fills a.req for kind. Descriptors are passed to the kernel as
// they are, so a bad one comes back as the kernel's errno.
func (a *Aio) buildLocked(kind opKind, fd int, off int64, sa unix.Sockaddr) error {
	if fd > math.MaxInt32 || fd < math.MinInt32 {
		return unix.EBADF
	}
	r := &a.req
	*r = kernelReq{kind: kind, fd: int32(fd), userData: a.userData()}
	switch kind {
	case opNop:
		r.sqeOp, r.fd = sqe.OpNop, -1
	case opRead, opWrite:
		r.off = uint64(off)
		if a.niov > 1 {
			r.sqeOp = sqe.OpReadv
			if kind == opWrite {
				r.sqeOp = sqe.OpWritev
			}
			return a.vectorLocked(r)
		}
		r.sqeOp = sqe.OpRead
		if kind == opWrite {
			r.sqeOp = sqe.OpWrite
		}
		return a.singleLocked(r)
	case opFsync:
		r.sqeOp = sqe.OpFsync
	case opRecv, opSend:
		if kind == opSend {
			r.opFlags = msgNosignal
			if a.x != nil && a.x.attached != nil {
				// SetMsg's message wins over the IOV, however many
				// buffers that holds. Its buffer is the pool's mapping,
				// outside the Go heap: nothing to pin.
				r.sqeOp = sqe.OpSend
				if b := a.x.attached.Bytes(); len(b) > 0 {
					r.addr, r.n = uint64(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
				}
				return nil
			}
		}
		if a.niov > 1 {
			r.sqeOp = sqe.OpRecvmsg
			if kind == opSend {
				r.sqeOp = sqe.OpSendmsg
			}
			if err := a.vectorLocked(r); err != nil {
				return err
			}
			x := a.x
			x.msg = unix.Msghdr{Iov: &x.iovecs[0]}
			x.msg.SetIovlen(int(a.niov))
			r.addr, r.n = uint64(uintptr(unsafe.Pointer(&x.msg))), 1
			return nil
		}
		r.sqeOp = sqe.OpRecv
		if kind == opSend {
			r.sqeOp = sqe.OpSend
		}
		return a.singleLocked(r)
	case opRecvMsg:
		r.sqeOp = sqe.OpRecv
		return a.bufferLocked(r)
	case opAccept:
		r.sqeOp, r.opFlags = sqe.OpAccept, sockCloexec
	case opConnect:
		x := a.extra()
		n, err := putSockaddr(&x.sa, sa)
		if err != nil {
			return ErrInvalid
		}
		x.sock = sa
		r.sqeOp, r.addr, r.off = sqe.OpConnect, uint64(uintptr(unsafe.Pointer(&x.sa))), uint64(n)
		a.pin.Pin(x)
	}
	return nil
}

// singleLocked points r at the one buffer of the IOV (or none) and pins it.
func (a *Aio) singleLocked(r *kernelReq) error {
	b := a.iov0
	if a.niov == 0 || len(b) == 0 {
		return nil
	}
	if uint64(len(b)) > math.MaxUint32 {
		return ErrInvalid
	}
	r.addr, r.n = uint64(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
	r.mayBlock = isFileIO(r.kind) && len(b) > inlineCopyMax
	a.pin.Pin(&b[0])
	return nil
}

// vectorLocked fills the iovec array from the IOV and pins the buffers and
// the array (the kernel reads the array at submission, the buffers until the
// CQE).
func (a *Aio) vectorLocked(r *kernelReq) error {
	x := a.extra()
	total := 0
	for i := 0; i < int(a.niov); i++ {
		b := a.iov0
		if i > 0 {
			b = x.iov[i-1]
		}
		total += len(b)
		x.iovecs[i] = unix.Iovec{}
		if len(b) > 0 {
			x.iovecs[i].Base = &b[0]
			x.iovecs[i].SetLen(len(b))
			a.pin.Pin(&b[0])
		}
	}
	r.addr, r.n = uint64(uintptr(unsafe.Pointer(&x.iovecs[0]))), uint32(a.niov)
	r.mayBlock = isFileIO(r.kind) && total > inlineCopyMax
	a.pin.Pin(x)
	return nil
}

// armLocked applies the timeout: a non-blocking flag for a zero timeout, a
// LINK_TIMEOUT where the kernel's timer can cut the operation, the engine's
// own timer where it cannot (io-wq work: regular files and fsync). It
// returns false when a zero timeout cannot be honoured without blocking.
func (a *Aio) armLocked(tm timing) bool {
	r := &a.req
	a.nonblock = false
	switch tm.mode {
	case tInfinite:
		return true
	case tZero:
		a.nonblock = true
		switch r.kind {
		case opNop:
		case opRecv, opSend, opRecvMsg:
			r.opFlags |= unix.MSG_DONTWAIT
		case opRead, opWrite:
			r.opFlags |= sqe.RWFNowait
		case opAccept, opConnect:
			// One attempt: the operation is issued, and if it would
			// block, the shortest link timer cancels it.
			r.link = true
			r.ts = sqe.Timespec{Nsec: 1}
		default:
			return false
		}
		return true
	}
	switch r.kind {
	case opRead, opWrite, opFsync, opRecvMsg:
		// opRecvMsg: the timer also bounds a wait for a free buffer.
		a.armDeadlineLocked(tm)
	default:
		r.link = true
		if tm.mode == tAbsolute {
			r.ts.SetNanoseconds(tm.abs)
			r.tsFlags = sqe.TimeoutAbs
		} else {
			r.ts.SetNanoseconds(int64(tm.rel))
		}
	}
	return true
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

// armTimerLocked arms the Aio's runtime timer to fire after d: Sleep's
// end, or the engine's deadline for an operation no link timer can cut.
// The timer is made once per Aio (a method value bound once) and reset per
// operation, so arming never allocates after the first time, and it reads
// no clock of its own: the runtime's timer never fires early.
func (a *Aio) armTimerLocked(d time.Duration) {
	x := a.extra()
	x.armed = true
	if x.timer == nil {
		x.timer = time.AfterFunc(d, a.onTimer)
	} else {
		x.timer.Reset(d)
	}
}

// disarmLocked stops the timer of the operation that just ended. If the
// timer has already fired, its function has started and waits for mu: it
// is counted as stale, and ignored when it gets there.
func (a *Aio) disarmLocked() {
	if a.x != nil && a.x.armed {
		a.x.armed = false
		if !a.x.timer.Stop() {
			a.x.stale++
		}
	}
}

// onTimer runs on the timer's goroutine. A fire of an earlier operation's
// arm that disarmLocked could not stop is skipped (stale), so a timer never
// acts on an operation before that operation's own deadline.
func (a *Aio) onTimer() {
	a.mu.Lock()
	x := a.x
	if x.stale > 0 {
		x.stale--
		a.unlock()
		return
	}
	if !x.armed {
		a.unlock()
		return
	}
	x.armed = false
	if a.state == stateTimer {
		var err error
		if a.req.sleepTimesOut {
			err = ErrTimedOut
		}
		a.finishLocked(err, 0, nil)
		a.unlock()
		return
	}
	a.abortLocked(ErrTimedOut)
}

// SQEs implements completion.Request.
func (r *kernelReq) SQEs() int {
	if r.link {
		return 2
	}
	return 1
}

// MayBlock implements completion.Request.
func (r *kernelReq) MayBlock() bool { return r.mayBlock }

// Prep implements completion.Request; it runs on the starting goroutine
// with the shard's SQ held.
func (r *kernelReq) Prep(s []*sqe.SQE) {
	*s[0] = sqe.SQE{Opcode: r.sqeOp, Fd: r.fd, Ioprio: r.ioprio, Off: r.off, Addr: r.addr,
		Len: r.n, OpFlags: r.opFlags, UserData: uint64(r.userData)}
	if r.link {
		s[0].Flags |= sqe.IOLink
		lt := s[1]
		lt.LinkTimeout(&r.ts, r.tsFlags)
		// One CQE per operation: the timer reports only through the
		// operation's -ECANCELED.
		lt.Flags |= sqe.CQESkipSuccess
		lt.UserData = uint64(sqe.Pack(kindLinkTimeout, r.userData.Index(), r.userData.Gen()))
	}
}
