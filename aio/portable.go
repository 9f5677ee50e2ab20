//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package aio

// The portable backend: the same contract without io_uring. It only
// carries an operation out and brings its result back as the kernel's
// result code (a count or a negated errno) through Aio.completeRes, the
// one place both backends end operations; what that code means (timeouts,
// aborts, zero-timeout attempts) is decided in complete.go, as for a CQE.
//
//   - Sockets (and pipes): one non-blocking system call (MSG_DONTWAIT,
//     RWF_NOWAIT), on the goroutine that started the operation. If it
//     would block, the operation waits on the descriptor's readiness in an
//     epoll (kqueue) instance of the backend's own, registered one-shot;
//     that instance's descriptor is parked on Go's netpoller by one poller
//     goroutine, which retries the call when the descriptor is ready. The
//     caller's descriptors are never registered with Go's poller and their
//     flags are never changed (Connect: see portable_sys_*.go).
//   - Regular files, fsync, and accept on a blocking listener: a blocking
//     system call on a file worker goroutine; at most fileWorkers of them
//     per engine (tuning.go), so a slow disk queues operations instead of
//     growing threads. A cached read or write is tried first with
//     RWF_NOWAIT on the starter (Linux).
//   - Callbacks: handed to callback goroutines (Config.Callbacks of them),
//     which run them through the same path as the ring's reapers
//     (aioCallback.RunCallback); never on the starter, never on the poller.
//   - A LINK_TIMEOUT's twin: a runtime timer per Aio, armed only while the
//     operation waits for readiness; when it fires the operation ends with
//     -ECANCELED, which complete.go maps to ErrTimedOut. Regular-file
//     timeouts use the Aio's engine timer, as on the ring.
//   - Cancel: an operation still queued or waiting ends with -ECANCELED; one
//     whose system call is running keeps that call's result unless it
//     would have blocked, so a completed result always stands.
//
// Ownership: every portOp field below "guarded by p.mu" and every list
// belongs to p.mu; a portOp in state pRunning is owned by the goroutine
// running its system call, which alone reads its request (the request is
// written under Aio.mu before Queue and not again until it ends). Lock
// order: Aio.mu → p.mu; the seat's lock is taken alone or under Aio.mu. No lock is
// held while a callback runs or a system call blocks (epoll_ctl runs under
// p.mu; it does not block).

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// errPortClosed is Queue's refusal after Close; the operation ends with
// ErrClosed.
var errPortClosed = errors.New("aio: portable backend closed")

// portState is where a portable operation is.
type portState uint8

const (
	pIdle       portState = iota // not queued anywhere: idle, or being ended
	pWaiting                     // on its descriptor's wait list
	pFileQueued                  // in fileQ, for a file worker
	pRunning                     // a goroutine runs its system call
	pDone                        // in doneQ with res: cancelled, ended by the next Push
)

// What try says comes next.
type portNext uint8

const (
	nDone  portNext = iota // res is the result
	nRead                  // wait until the descriptor is readable, then try again
	nWrite                 // wait until writable, then try again
	nFile                  // a file worker does the blocking call
)

// Readiness directions, as armed in the poller and reported by it.
const (
	evRead  uint8 = 1 << iota
	evWrite       // also: an error or hangup wakes both
)

// pollEvent is one readiness report of the poller: the descriptor, the
// directions it woke, and the directions the report disarmed (one-shot).
type pollEvent struct {
	fd              int32
	ready, disarmed uint8
}

// portOp is the portable backend's state of an Aio's operation. It is made
// on the Aio's first portable operation and reused.
type portOp struct {
	a *Aio
	p *portShard

	// Set by Queue under Aio.mu and p.mu; read by whoever runs the call.
	ud         sqe.UserData
	kind       opKind
	vector     bool // several buffers: iovp/niov (files) or msg (sockets)
	nonblock   bool // a zero-timeout attempt
	fd         int32
	flags      uint32 // MSG_* or RWF_* from the request
	off        int64
	iov        unix.Iovec // the one buffer
	iovp       *unix.Iovec
	niov       int
	msg        *unix.Msghdr
	sa         *unix.RawSockaddrAny
	salen      uint32
	sock       unix.Sockaddr // Connect's address as given (for the x/sys calls off Linux)
	deadline   int64         // a link timeout's deadline, engine clock ns; 0: none
	connecting bool          // Connect got EINPROGRESS: readiness means it ended
	noNowait   bool          // the descriptor refused RWF_NOWAIT: readiness, then a file worker

	// guarded by p.mu
	state      portState
	cancel     bool  // a cancel or the link timer came while running or queued
	dir        uint8 // the wait list it is on, while pWaiting
	res        int32
	prev, next *portOp
	timer      *time.Timer // the link timer, made once
	armed      bool
	stale      int32 // fires of earlier arms that Stop could not prevent
}

// opList is an intrusive FIFO of portOps (a portOp is in one list at a
// time), so queuing never allocates.
type opList struct{ head, tail *portOp }

func (l *opList) push(po *portOp) {
	po.prev, po.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = po
	} else {
		l.head = po
	}
	l.tail = po
}

func (l *opList) remove(po *portOp) {
	if po.prev != nil {
		po.prev.next = po.next
	} else {
		l.head = po.next
	}
	if po.next != nil {
		po.next.prev = po.prev
	} else {
		l.tail = po.prev
	}
	po.prev, po.next = nil, nil
}

func (l *opList) pop() *portOp {
	po := l.head
	if po != nil {
		l.remove(po)
	}
	return po
}

// fdWait is what waits on one descriptor. Entries stay once made: there
// is at most one per descriptor number.
type fdWait struct {
	readers, writers opList
	armed            uint8 // directions armed in the poller (one-shot)
}

// portShard is the portable backend of one engine.
type portShard struct {
	e *Engine

	mu       sync.Mutex
	closed   bool
	doneQ    opList // cancelled, to be ended by the next Push
	fileQ    opList // for the file workers
	fds      map[int32]*fdWait
	pl       poller // the epoll/kqueue instance; arm it under mu
	fileCond sync.Cond
	fileIdle int // file workers waiting on fileCond
	fileN    int // file workers started (at most fileWorkers)

	pollFile *os.File // the poller's descriptor, parked on Go's netpoller
	pollConn syscall.RawConn

	seatState // the callback goroutines and the seat (portable_seat.go)

	wg sync.WaitGroup
}

// startPortable starts the portable backend of e: its poller goroutine and
// its callback goroutines (file workers start on demand).
func startPortable(e *Engine) (*portShard, error) {
	p := &portShard{e: e, fds: make(map[int32]*fdWait)}
	p.fileCond.L = &p.mu
	fd, err := p.pl.open()
	if err != nil {
		return nil, err
	}
	if err := p.pl.openWake(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Non-blocking, so os.NewFile registers it with the netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	p.pollFile = os.NewFile(uintptr(fd), "aio-portable-poller")
	if p.pollConn, err = p.pollFile.SyscallConn(); err != nil {
		p.pollFile.Close()
		p.pl.closeWake()
		return nil, err
	}
	p.startWorkers(e.cfg.Callbacks)
	return p, nil
}

// Queue implements backend: it records the request of a.
func (p *portShard) Queue(req completion.Request) error {
	r := req.(*kernelReq)
	a := p.e.table.lookup(r.userData.Index())
	po := a.port
	if po == nil {
		po = &portOp{a: a, p: p}
		a.port = po
	}
	po.ud, po.kind, po.fd, po.flags, po.off = r.userData, r.kind, r.fd, r.opFlags, int64(r.off)
	po.nonblock, po.connecting, po.noNowait, po.vector = a.nonblock, false, false, false
	po.iov = unix.Iovec{}
	if b := a.iov0; a.niov > 0 && len(b) > 0 {
		po.iov.Base = &b[0]
		po.iov.SetLen(len(b))
	}
	switch {
	case r.kind == opRecvMsg:
		// A single-shot receive into the pool buffer that bufferLocked
		// took (msgfallback.go): this backend has no multishot requests.
		po.kind = opRecv
		b := a.x.pending.buf
		po.iov.Base = &b[0]
		po.iov.SetLen(len(b))
	case r.kind == opSend && r.sqeOp == sqe.OpSend && a.x != nil && a.x.attached != nil:
		// SetMsg's message, which buildLocked sent instead of the IOV.
		po.iov = unix.Iovec{}
		if b := a.x.attached.Bytes(); len(b) > 0 {
			po.iov.Base = &b[0]
			po.iov.SetLen(len(b))
		}
	}
	switch r.sqeOp {
	case sqe.OpReadv, sqe.OpWritev:
		po.vector, po.iovp, po.niov = true, &a.x.iovecs[0], int(a.niov)
	case sqe.OpRecvmsg, sqe.OpSendmsg:
		po.vector, po.iovp, po.niov, po.msg = true, &a.x.iovecs[0], int(a.niov), &a.x.msg
	case sqe.OpConnect:
		po.sa, po.salen, po.sock = &a.x.sa, uint32(r.off), a.x.sock
	}
	po.deadline = 0
	if r.link {
		ns := r.ts.Sec*1e9 + r.ts.Nsec
		if r.tsFlags&sqe.TimeoutAbs != 0 {
			po.deadline = ns
		} else {
			po.deadline = p.e.clock.now() + ns
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPortClosed
	}
	// Running from here: its starter tries it in Submit, right after
	// releasing Aio.mu; a cancel meanwhile only marks it.
	po.state, po.cancel = pRunning, false
	return nil
}

// QueueCancel implements backend. An operation queued or waiting ends with
// -ECANCELED (by the next Push); a running one keeps its system call's
// result unless that would have blocked.
func (p *portShard) QueueCancel(ud sqe.UserData) error {
	a := p.e.table.lookup(ud.Index())
	if a == nil || a.port == nil {
		return nil
	}
	po := a.port
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPortClosed
	}
	if po.ud == ud {
		p.cancelLocked(po)
	}
	return nil
}

// cancelLocked moves po to doneQ with -ECANCELED if it has not begun its
// system call, and otherwise marks it.
func (p *portShard) cancelLocked(po *portOp) {
	switch po.state {
	case pRunning:
		po.cancel = true
	case pWaiting:
		p.unwaitLocked(po)
		p.doneLocked(po)
	case pFileQueued:
		p.fileQ.remove(po)
		p.doneLocked(po)
	}
}

func (p *portShard) doneLocked(po *portOp) {
	po.state, po.res = pDone, -int32(unix.ECANCELED)
	p.doneQ.push(po)
}

// Submit implements backend: the starter tries its own operation, which
// Queue left in state pRunning, then ends what was cancelled. An
// operation that ends here with a callback has it handed to a worker
// (finishLocked), so callbacks never run on the starter.
func (p *portShard) Submit(a *Aio, _ bool) {
	p.run(a.port, nil)
	p.Push(false)
}

// Push implements backend: it ends the operations cancelled before they
// began their system call (doneQ), on the calling goroutine.
func (p *portShard) Push(bool) {
	for {
		p.mu.Lock()
		po := p.doneQ.pop()
		if po == nil {
			p.mu.Unlock()
			return
		}
		res := po.res
		ud := p.endLocked(po)
		p.mu.Unlock()
		po.a.completeRes(ud, res, nil)
	}
}

// endLocked takes po out of the backend (its timer disarmed) and returns
// the user data its result goes to.
func (p *portShard) endLocked(po *portOp) sqe.UserData {
	po.state, po.cancel = pIdle, false
	if po.armed {
		po.armed = false
		if !po.timer.Stop() {
			po.stale++
		}
	}
	return po.ud
}

// run tries po (state pRunning, owned by the caller) and then ends it, or
// parks it on its descriptor or the file queue.
func (p *portShard) run(po *portOp, b *completion.Batch) {
	res, next := p.try(po)
	p.mu.Lock()
	if next != nDone && po.cancel {
		// Cancelled (or timed out) while the call ran, and it would block.
		next, res = nDone, -int32(unix.ECANCELED)
	}
	switch next {
	case nRead, nWrite:
		if po.deadline != 0 && po.deadline <= p.e.clock.now() {
			next, res = nDone, -int32(unix.ECANCELED) // the link timer's deadline passed
			break
		}
		dir := evRead
		if next == nWrite {
			dir = evWrite
		}
		errno := p.waitLocked(po, dir)
		if errno == 0 {
			if po.deadline != 0 {
				p.armLinkLocked(po)
			}
			p.mu.Unlock()
			return
		}
		if errno != unix.EPERM || po.kind == opRecv || po.kind == opSend || po.kind == opConnect || po.kind == opAccept {
			next, res = nDone, -int32(errno)
			break
		}
		// A regular file: it cannot be polled, it is always "ready", and
		// reading it may block. A file worker does it.
		next = nFile
	}
	if next == nFile {
		if p.closed {
			next, res = nDone, -int32(unix.ECANCELED)
		} else {
			po.state = pFileQueued
			p.fileQ.push(po)
			if p.fileIdle > 0 {
				p.fileCond.Signal()
			} else if p.fileN < fileWorkers() {
				p.fileN++
				p.wg.Add(1)
				go p.fileWorker()
			}
			p.mu.Unlock()
			return
		}
	}
	ud := p.endLocked(po)
	p.mu.Unlock()
	po.a.completeRes(ud, res, b)
}

// waitLocked puts po on its descriptor's wait list for dir and arms the
// poller for it. It returns the poller's errno when the descriptor cannot
// be waited for (EPERM: a regular file).
func (p *portShard) waitLocked(po *portOp, dir uint8) unix.Errno {
	if p.closed {
		return unix.ECANCELED
	}
	fw := p.fds[po.fd]
	if fw == nil {
		fw = new(fdWait)
		p.fds[po.fd] = fw
	}
	list := &fw.readers
	if dir == evWrite {
		list = &fw.writers
	}
	first := list.head == nil
	if first || fw.armed&dir == 0 {
		// The first waiter of a direction always arms: an entry left
		// armed for a descriptor number since closed and reused would
		// otherwise never report.
		want := dir
		if fw.readers.head != nil {
			want |= evRead
		}
		if fw.writers.head != nil {
			want |= evWrite
		}
		if errno := p.pl.arm(po.fd, want); errno != 0 {
			return errno
		}
		fw.armed = want
	}
	list.push(po)
	po.state, po.dir = pWaiting, dir
	return 0
}

// unwaitLocked takes a waiting po off its descriptor's list.
func (p *portShard) unwaitLocked(po *portOp) {
	fw := p.fds[po.fd]
	if po.dir == evWrite {
		fw.writers.remove(po)
	} else {
		fw.readers.remove(po)
	}
}

// armLinkLocked arms po's link timer for its deadline.
func (p *portShard) armLinkLocked(po *portOp) {
	if po.armed {
		return // armed when it first waited; the deadline has not moved
	}
	d := time.Duration(po.deadline - p.e.clock.now())
	po.armed = true
	if po.timer == nil {
		po.timer = time.AfterFunc(d, po.onLink)
	} else {
		po.timer.Reset(d)
	}
}

// onLink is the link timer: the operation, if it still waits, ends with
// -ECANCELED (complete.go makes that ErrTimedOut). A fire that endLocked
// could not stop belongs to an earlier operation and is skipped.
func (po *portOp) onLink() {
	p := po.p
	p.mu.Lock()
	if po.stale > 0 {
		po.stale--
		p.mu.Unlock()
		return
	}
	if !po.armed {
		p.mu.Unlock()
		return
	}
	po.armed = false
	switch po.state {
	case pWaiting:
		p.unwaitLocked(po)
	case pFileQueued:
		p.fileQ.remove(po)
	case pRunning:
		po.cancel = true
		p.mu.Unlock()
		return
	default:
		p.mu.Unlock()
		return
	}
	ud := p.endLocked(po)
	p.mu.Unlock()
	po.a.completeRes(ud, -int32(unix.ECANCELED), nil)
}

// fileWorker runs blocking system calls until Close.
func (p *portShard) fileWorker() {
	defer p.wg.Done()
	p.mu.Lock()
	for {
		po := p.fileQ.pop()
		if po == nil {
			if p.closed {
				p.mu.Unlock()
				return
			}
			p.fileIdle++
			p.fileCond.Wait()
			p.fileIdle--
			continue
		}
		po.state = pRunning
		p.mu.Unlock()
		res := p.block(po)
		p.mu.Lock()
		ud := p.endLocked(po)
		p.mu.Unlock()
		po.a.completeRes(ud, res, nil)
		p.mu.Lock()
	}
}

// ReapInline implements backend: results never wait to be reaped here.
func (p *portShard) ReapInline() int { return 0 }

// Broken implements backend: nothing can lose results.
func (p *portShard) Broken() bool { return false }

// portableSupports reports the opcodes the portable backend carries out.
func portableSupports(op sqe.Op) bool {
	switch op {
	case sqe.OpNop, sqe.OpRead, sqe.OpWrite, sqe.OpReadv, sqe.OpWritev, sqe.OpFsync,
		sqe.OpRecv, sqe.OpSend, sqe.OpRecvmsg, sqe.OpSendmsg, sqe.OpAccept, sqe.OpConnect:
		return true
	}
	return false
}

// fileWorkers is the most goroutines one engine keeps blocked in file
// system calls.
func fileWorkers() int { return max(fileWorkersMin, fileWorkersPerP*runtime.GOMAXPROCS(0)) }

// tryNext classifies the result of one non-blocking system call: done
// with n, failed with e, a zero-timeout attempt that would have blocked,
// or a wait for readiness in direction wait before trying again. Both
// systems' try use it.
func tryNext(po *portOp, n int32, e unix.Errno, wait portNext) (int32, portNext) {
	switch {
	case e == 0:
		return n, nDone
	case e != unix.EAGAIN:
		return -int32(e), nDone
	case po.nonblock:
		return -int32(unix.EAGAIN), nDone
	}
	return 0, wait
}

// sockWait is the readiness a socket transfer waits for.
func sockWait(po *portOp) portNext {
	if po.kind == opRecv {
		return nRead
	}
	return nWrite
}

// connectNext classifies connect(2)'s result on a socket made
// non-blocking for the call: connected, failed, or in progress (then the
// operation waits for writability and reads SO_ERROR, unless it is a
// zero-timeout attempt).
func connectNext(po *portOp, e unix.Errno) (int32, portNext) {
	switch e {
	case 0:
		return 0, nDone
	case unix.EINPROGRESS:
		if po.nonblock {
			return -int32(e), nDone
		}
		po.connecting = true
		return 0, nWrite
	}
	return -int32(e), nDone
}
