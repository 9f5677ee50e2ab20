//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package portable

// The portable backend: the same contract without io_uring. It carries
// out an operation as its op.Desc describes it and reports how it ended
// as an op.Result (a count or a negated errno; a cancel; its deadline; an
// attempt that would block) to its sink, the engine; what that means for
// the program (timeouts, aborts) is decided in the aio package's
// complete.go, as for a CQE.
//
//   - Sockets (and pipes): one non-blocking system call (MSG_DONTWAIT,
//     RWF_NOWAIT), on the goroutine that started the operation. If it
//     would block, the operation waits on the descriptor's readiness in an
//     epoll (kqueue) instance of the backend's own, registered one-shot;
//     that instance's descriptor is parked on Go's netpoller by the seat
//     holder (seat.go), after a short poll of it (decision 70), and the
//     holder retries the call when the descriptor is ready. A
//     receive whose Aio's recent receives all had to wait goes straight
//     to the wait, without the call (recvstreak.go). The
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
//     operation waits for readiness, for the Desc's Deadline; when it fires
//     the operation ends as op.TimedOut. Regular-file timeouts use the
//     Aio's engine timer, as on the ring (the Desc then has no Deadline).
//   - Cancel: an operation still queued or waiting ends as op.Interrupted;
//     one whose system call is running keeps that call's result unless it
//     would have blocked, so a completed result always stands.
//
// Ownership: every portOp field below "guarded by p.mu" and every list
// belongs to p.mu; a portOp in state pRunning is owned by the goroutine
// running its system call, which alone reads the fields Queue copied from
// the Desc (written under Aio.mu before Queue and not again until the
// operation ends). Lock
// order: Aio.mu → p.mu; the seat's lock is taken alone or under Aio.mu. No lock is
// held while a callback runs or a system call blocks (epoll_ctl runs under
// p.mu; it does not block).

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aioring/aioring/internal/busypoll"
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/internal/seat"
	"golang.org/x/sys/unix"
	"unsafe"
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
	// pBlocking: a file worker is in a files-by-name call (op.Kind.IsFile),
	// which nothing can interrupt; a cancel detaches it (detachLocked).
	pBlocking
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
// on the Aio's first portable operation, kept in its Desc's Backend field,
// and reused.
type portOp struct {
	p *Backend

	// Set by Queue under Aio.mu and p.mu; read by whoever runs the call.
	token      uint64
	kind       op.Kind
	vector     bool // several buffers: iovp/niov (files) or msg (sockets)
	nonblock   bool // a zero-timeout attempt
	fd         int32
	wfd        int32 // the descriptor a wait is on: fd, or a Splice's out
	out        int32 // Splice: the descriptor written to
	outOff     int64 // Splice: out's offset; -1: none
	n          uint32
	how        int32  // Shutdown
	spliceMode uint8  // Splice: what its ends need (spliceEnds), once known; 0 unknown
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
	capWrite   bool          // without preadv2, a write to a pipe or socket: cut to what readiness promises (tryRW)
	file       fileOp        // a files-by-name operation's arguments (file.go)
	// A read's tries (try_linux.go): their state, the token of the
	// operation whose try found it waiting for the device (set by Try,
	// taken by Queue), and, from Queue, that this one goes straight to a
	// file worker.
	rtry      readTry
	missToken uint64
	toWorker  bool
	// fresh: Queue made it and run has not tried it yet (run's first
	// pass, on the starter); recvWaits: how its Aio's recent receives
	// went on that first pass.
	fresh     bool
	recvWaits recvStreak

	// guarded by p.mu
	state      portState
	cancel     bool   // a cancel or the link timer came while running or queued
	cancelEnd  op.End // how: op.Interrupted (a cancel) or op.TimedOut (the link timer)
	dir        uint8  // the wait list it is on, while pWaiting
	res        int32  // pDone: the result
	end        op.End // pDone: how it ended
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
	// accepting: a file worker is in accept4 on this (blocking) listener.
	// Another Accept of the engine waits for readiness again instead of
	// blocking in a second accept4 that the one pending connection cannot
	// satisfy (it would wait, uncancellable, for the next connection).
	accepting bool
}

// Sink receives the portable backend's results: the engine.
type Sink interface {
	// CompleteOp ends the operation named token with r; b is the calling
	// worker's batch, or nil off a worker.
	CompleteOp(token uint64, r op.Result, b *seat.Batch)
}

// Backend is the portable backend of one engine.
type Backend struct {
	sink Sink
	now  func() int64 // the engine's clock: CLOCK_MONOTONIC ns (op.Deadline.Abs)

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
	// busy: the seat holder's polling before it parks (seat.go); only the
	// holder touches it, outside rounds.
	busy busypoll.Policy
	// woke counts goroutines an operation's end readied in Wait
	// (WokeWaiter); the seat holder's Park and poll look at it
	// (decision 72).
	woke  busypoll.Readied
	polls atomic.Uint64 // polls begun (pollBusy), for Polls
	looks atomic.Uint64 // looks at the poller they made, for Looks

	wg sync.WaitGroup
}

// Start starts the portable backend of e: its epoll (kqueue) instance and
// its callback goroutines (file workers start on demand). busyPoll is how
// long the seat holder may poll for readiness before it parks (0: never;
// decision 70).
func Start(sink Sink, now func() int64, callbacks int, busyPoll time.Duration) (*Backend, error) {
	p := &Backend{sink: sink, now: now, fds: make(map[int32]*fdWait)}
	if canPoll {
		p.busy.Max = busyPoll
	}
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
	p.startWorkers(callbacks)
	return p, nil
}

// Supports implements backend: every kind (Splice only where the system
// has splice(2)), never zero copy.
func (p *Backend) Supports(d *op.Desc) bool {
	if d.Kind.IsFile() {
		return fileSupported(d.Kind)
	}
	if d.ZeroCopy {
		return false
	}
	switch {
	case d.Kind >= op.Nop && d.Kind <= op.Connect:
		return true
	case d.Kind == op.Splice:
		return haveSplice
	}
	return d.Kind >= op.SendTo && d.Kind <= op.Shutdown
}

// portOpOf returns the portOp in d.Backend, made on the Aio's first
// portable operation (or try).
func (p *Backend) portOpOf(d *op.Desc) *portOp {
	po, _ := d.Backend.(*portOp)
	if po == nil {
		po = &portOp{p: p}
		d.Backend = po
	}
	return po
}

// Queue implements backend: it takes the operation d describes.
func (p *Backend) Queue(d *op.Desc) error {
	po := p.portOpOf(d)
	// A read whose try (try_linux.go) found it waiting for the device
	// goes to a file worker without trying again: only this operation's.
	po.toWorker = d.Kind == op.Read && po.missToken == d.Token && d.Token != 0
	po.missToken = 0
	po.token, po.kind, po.fd, po.off = d.Token, d.Kind, d.FD, d.Off
	po.wfd, po.out, po.outOff, po.n, po.how, po.spliceMode = d.FD, d.Out, d.OutOff, d.N, d.How, 0
	po.nonblock, po.connecting, po.noNowait, po.capWrite = d.Attempt, false, false, false
	po.fresh = true
	po.flags = 0
	if d.Kind == op.Send || d.Kind == op.SendTo {
		po.flags = msgNosignal
	}
	po.iov, po.vector, po.iovp, po.niov, po.msg = d.Iov, false, nil, 0, nil
	if d.NVec > 0 {
		po.vector, po.iovp, po.niov = true, d.Vec, d.NVec
		if d.Kind == op.Recv || d.Kind == op.Send {
			*d.Hdr = unix.Msghdr{Iov: d.Vec}
			d.Hdr.SetIovlen(d.NVec)
			po.msg = d.Hdr
		}
	}
	po.sa, po.salen, po.sock = d.Addr, d.AddrLen, d.Sock
	if d.Kind == op.SendTo || d.Kind == op.RecvFrom {
		// Always a msghdr: the address (and, for RecvFrom, the source
		// and MSG_TRUNC written back) travel in it. It and the address
		// are the Aio's, pinned until the operation ends.
		*d.Hdr = unix.Msghdr{Iov: d.Vec}
		d.Hdr.SetIovlen(d.NVec)
		if d.AddrLen != 0 {
			d.Hdr.Name, d.Hdr.Namelen = (*byte)(unsafe.Pointer(d.Addr)), d.AddrLen
		}
		po.msg, po.vector = d.Hdr, true
	}
	if d.Kind.IsFile() {
		po.file.queue(d)
	}
	switch {
	case d.Deadline.Abs != 0:
		po.deadline = d.Deadline.Abs
	case d.Deadline.Rel != 0:
		po.deadline = op.AddMono(p.now(), d.Deadline.Rel) // SetTimeout(math.MaxInt64) stays far
	default:
		po.deadline = 0
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

// Cancel implements backend. An operation queued or waiting ends as
// op.Interrupted (by the next Push); a running one keeps its system call's
// result unless that would have blocked.
func (p *Backend) Cancel(d *op.Desc) error {
	po, _ := d.Backend.(*portOp)
	if po == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPortClosed
	}
	if po.token == d.Token {
		p.cancelLocked(po, op.Interrupted)
		if po.file.detached {
			// The file worker keeps po until its call returns; the
			// Aio's next operation gets a portOp of its own.
			d.Backend = nil
		}
	}
	return nil
}

// cancelLocked moves po to doneQ, ended as end, if it has not begun its
// system call, and otherwise marks it.
func (p *Backend) cancelLocked(po *portOp, end op.End) {
	switch po.state {
	case pRunning:
		po.cancel, po.cancelEnd = true, end
	case pWaiting:
		p.unwaitLocked(po)
		p.doneLocked(po, end)
	case pFileQueued:
		p.fileQ.remove(po)
		p.doneLocked(po, end)
	case pBlocking:
		p.detachLocked(po, end)
	}
}

func (p *Backend) doneLocked(po *portOp, end op.End) {
	po.state, po.res, po.end = pDone, 0, end
	p.doneQ.push(po)
}

// result reads the result res of po's system call in op's terms: a
// zero-timeout attempt that would have had to wait is op.WouldBlock.
func (po *portOp) result(res int32) op.Result {
	if po.nonblock {
		switch -res {
		case int32(unix.EAGAIN):
			return op.Result{End: op.WouldBlock}
		case int32(unix.EINPROGRESS), int32(unix.EALREADY):
			if po.kind == op.Connect {
				return op.Result{End: op.WouldBlock}
			}
		}
	}
	return op.Result{Res: res}
}

// Submit implements backend: the starter tries its own operation, which
// Queue left in state pRunning, then ends what was cancelled. An
// operation that ends here with a callback has it handed to a worker by
// the sink, so callbacks never run on the starter.
func (p *Backend) Submit(d *op.Desc, _ int64) {
	p.run(d.Backend.(*portOp), nil)
	p.Push(0)
}

// Push implements backend: it ends the operations cancelled before they
// began their system call (doneQ), on the calling goroutine.
func (p *Backend) Push(int64) {
	for {
		p.mu.Lock()
		po := p.doneQ.pop()
		if po == nil {
			p.mu.Unlock()
			return
		}
		r := op.Result{Res: po.res, End: po.end}
		unmade := po.kind == op.Close && !po.file.detached
		fd := po.fd
		token := p.endLocked(po)
		p.mu.Unlock()
		if unmade {
			closeUnmade(fd)
		}
		p.sink.CompleteOp(token, r, nil)
	}
}

// EndWaiters ends every operation waiting for fd's readiness as
// op.Closed, on the calling goroutine: the engine's CloseFD calls it
// before it closes fd. The poller drops a closed descriptor without a
// report (epoll and kqueue both), so these would otherwise wait until
// their deadlines, or for ever. An operation in its system call (a file
// worker's) is not waiting and keeps its result. Call it holding no
// lock: it runs the ends' completions.
func (p *Backend) EndWaiters(fd int32) {
	p.mu.Lock()
	if fw := p.fds[fd]; fw != nil && !p.closed {
		for _, list := range []*opList{&fw.readers, &fw.writers} {
			for po := list.pop(); po != nil; po = list.pop() {
				p.doneLocked(po, op.Closed)
			}
		}
		// The next waiter on this number arms afresh (the entry is
		// gone from the poller with the descriptor, or names a
		// duplicate nobody waits on).
		fw.armed = 0
	}
	p.mu.Unlock()
	p.Push(0)
}

// endLocked takes po out of the backend (its timer disarmed) and returns
// the token its result goes to.
func (p *Backend) endLocked(po *portOp) uint64 {
	po.state, po.cancel = pIdle, false
	if po.armed {
		po.armed = false
		if !po.timer.Stop() {
			po.stale++
		}
	}
	return po.token
}

// run tries po (state pRunning, owned by the caller) and then ends it, or
// parks it on its descriptor or the file queue.
func (p *Backend) run(po *portOp, b *seat.Batch) {
	var res int32
	var next portNext
	skipped := false
	switch {
	case po.kind.IsFile():
		next = nFile // a blocking call by name or on a whole file
	case po.toWorker:
		next = nFile // its try found it waiting for the device (try_linux.go)
	case po.fresh && po.recvWaits.skip(po):
		next, skipped = nRead, true // its recent receives all had to wait (recvstreak.go)
	default:
		res, next = p.try(po)
		if po.fresh {
			po.recvWaits.note(po, next)
		}
	}
	po.fresh = false
	var r op.Result
	p.mu.Lock()
	if next != nDone && po.cancel {
		// Cancelled (or timed out) while the call ran, and it would block.
		next, r = nDone, op.Result{End: po.cancelEnd}
	} else if next == nDone {
		r = po.result(res)
	}
	switch next {
	case nRead, nWrite:
		if po.deadline != 0 && po.deadline <= p.now() {
			next, r = nDone, op.Result{End: op.TimedOut} // the link timer's deadline passed
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
		if errno == unix.ECANCELED { // closed
			next, r = nDone, op.Result{End: op.Interrupted}
			break
		}
		if skipped {
			// The poller refused the descriptor (closed, or its
			// number reused for something it cannot watch): the call
			// itself says why, as it would have without the skip.
			po.recvWaits = recvStreak{}
			p.mu.Unlock()
			p.run(po, b)
			return
		}
		if errno != unix.EPERM || (po.kind != op.Read && po.kind != op.Write) {
			next, r = nDone, op.Result{Res: -int32(errno)}
			break
		}
		// A regular file: it cannot be polled, it is always "ready", and
		// reading it may block. A file worker does it.
		next = nFile
	}
	if next == nFile {
		if p.closed {
			r = op.Result{End: op.Interrupted}
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
	token := p.endLocked(po)
	p.mu.Unlock()
	if po.kind == op.Close && r.End != op.Completed {
		closeUnmade(po.fd) // ended before its call: fields still ours
	}
	p.sink.CompleteOp(token, r, b)
}

// waitLocked puts po on its descriptor's wait list for dir and arms the
// poller for it. It returns the poller's errno when the descriptor cannot
// be waited for (EPERM: a regular file).
func (p *Backend) waitLocked(po *portOp, dir uint8) unix.Errno {
	if p.closed {
		return unix.ECANCELED
	}
	fw := p.fds[po.wfd]
	if fw == nil {
		fw = new(fdWait)
		p.fds[po.wfd] = fw
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
		if errno := p.pl.arm(po.wfd, want); errno != 0 {
			return errno
		}
		fw.armed = want
	}
	list.push(po)
	po.state, po.dir = pWaiting, dir
	return 0
}

// unwaitLocked takes a waiting po off its descriptor's list.
func (p *Backend) unwaitLocked(po *portOp) {
	fw := p.fds[po.wfd]
	if po.dir == evWrite {
		fw.writers.remove(po)
	} else {
		fw.readers.remove(po)
	}
}

// armLinkLocked arms po's link timer for its deadline.
func (p *Backend) armLinkLocked(po *portOp) {
	if po.armed {
		return // armed when it first waited; the deadline has not moved
	}
	d := time.Duration(po.deadline - p.now())
	po.armed = true
	if po.timer == nil {
		po.timer = time.AfterFunc(d, po.onLink)
	} else {
		po.timer.Reset(d)
	}
}

// onLink is the link timer: the operation, if it still waits, ends as
// op.TimedOut. A fire that endLocked could not stop belongs to an earlier
// operation and is skipped.
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
		po.cancel, po.cancelEnd = true, op.TimedOut
		p.mu.Unlock()
		return
	default:
		p.mu.Unlock()
		return
	}
	token := p.endLocked(po)
	p.mu.Unlock()
	p.sink.CompleteOp(token, op.Result{End: op.TimedOut}, nil)
}

// fileWorker runs blocking system calls until Close, or until a cancel
// detaches it from the call it is in (then it leaves once that returns).
func (p *Backend) fileWorker() {
	p.mu.Lock()
	for {
		po := p.fileQ.pop()
		if po == nil {
			if p.closed {
				p.mu.Unlock()
				p.wg.Done()
				return
			}
			p.fileIdle++
			p.fileCond.Wait()
			p.fileIdle--
			continue
		}
		po.state = pRunning
		if po.kind.IsFile() {
			if !p.blockFile(po) {
				return // detached: it has left the pool
			}
			continue
		}
		var fw *fdWait
		if po.kind == op.Accept {
			if fw = p.acceptTurnLocked(po); fw == nil {
				continue // waits for readiness again, or ended
			}
		}
		p.mu.Unlock()
		res := p.block(po)
		if po.kind == op.Splice && res == -int32(unix.EAGAIN) {
			// Another reader or writer of the pipe took what readiness
			// promised: the Splice tries again, and waits if it must
			// (or ends, if cancelled meanwhile), as from the start.
			p.run(po, nil)
			p.mu.Lock()
			continue
		}
		p.mu.Lock()
		if fw != nil {
			fw.accepting = false
		}
		token := p.endLocked(po)
		p.mu.Unlock()
		p.sink.CompleteOp(token, op.Result{Res: res}, nil)
		p.mu.Lock()
	}
}

// acceptTurnLocked gives po, an Accept on a blocking listener, the
// listener's turn at accept4, and returns the listener's entry; or, when
// another Accept of this engine is in accept4 on it, or no connection is
// pending any more, puts po back to waiting for readiness (or ends it, if
// it cannot wait) and returns nil. Called with p.mu held.
func (p *Backend) acceptTurnLocked(po *portOp) *fdWait {
	fw := p.fds[po.fd]
	if fw == nil {
		fw = new(fdWait)
		p.fds[po.fd] = fw
	}
	if !fw.accepting && acceptable(po.fd) {
		fw.accepting = true
		return fw
	}
	if po.cancel {
		token := p.endLocked(po)
		end := po.cancelEnd
		p.mu.Unlock()
		p.sink.CompleteOp(token, op.Result{End: end}, nil)
		p.mu.Lock()
		return nil
	}
	if errno := p.waitLocked(po, evRead); errno != 0 {
		token := p.endLocked(po)
		p.mu.Unlock()
		p.sink.CompleteOp(token, op.Result{Res: -int32(errno)}, nil)
		p.mu.Lock()
		return nil
	}
	if po.deadline != 0 {
		p.armLinkLocked(po)
	}
	return nil
}

// acceptable reports whether a connection (or an error) is pending on
// listener fd, without blocking.
func acceptable(fd int32) bool {
	fds := [1]unix.PollFd{{Fd: fd, Events: unix.POLLIN}}
	n, _ := unix.Poll(fds[:], 0)
	return n > 0
}

// ReapInline implements backend: results never wait to be reaped here.
func (p *Backend) ReapInline() int { return 0 }

// Broken implements backend: nothing can lose results.
func (p *Backend) Broken() bool { return false }

// WokeWaiter implements the engine's backend: an operation's end readied
// a goroutine in Wait, so the seat holder's next park does not poll (Park).
func (p *Backend) WokeWaiter() { p.woke.Add() }

// Polls reports how many polls the seat holders began before parking.
func (p *Backend) Polls() uint64 { return p.polls.Load() }

// Looks reports how many looks at the poller those polls made (tests:
// whether a poll goes on).
func (p *Backend) Looks() uint64 { return p.looks.Load() }

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
	if po.kind == op.Recv || po.kind == op.RecvFrom {
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

// readiness: a descriptor found ready goes to a file worker for the
// blocking call; one that is not waits in the poller (or, for a zero
// timeout, ends with EAGAIN).
func readiness(po *portOp, read bool) (int32, portNext) {
	ev, next := int16(unix.POLLIN), nRead
	if !read {
		ev, next = unix.POLLOUT, nWrite
	}
	fds := [1]unix.PollFd{{Fd: po.fd, Events: ev}}
	if n, _ := unix.Poll(fds[:], 0); n > 0 {
		return 0, nFile
	}
	if po.nonblock {
		return -int32(unix.EAGAIN), nDone
	}
	return 0, next
}
