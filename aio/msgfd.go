package aio

// Design notes: messages and multishot requests.
//
// Ownership:
//   - A ring's pool (msgPool) owns its buffers. A buffer is in exactly one
//     place: the pool's free set (the kernel's provided-buffer ring, or the
//     fallback's list), a live Msg (the program's), or a queued Msg of an
//     fdState (the engine's, until a RecvMsg hands it over or Close gives
//     it back). Msg.Free is the only way a live buffer returns.
//   - An fdState is the engine's per-descriptor state while RecvMsg or
//     Accept is used on it: one multishot request in the kernel (armed),
//     the results it posted that nobody has taken yet (the queue, in
//     order), and the Aios waiting for them. All of it is under
//     msgEngine.mu. The multishot belongs to the descriptor, not to an
//     Aio: cancelling a RecvMsg takes the Aio off the waiters and leaves
//     the multishot armed, so a message the kernel fills afterwards is
//     queued for the next RecvMsg instead of being lost.
//   - An fdState is found by descriptor number in a map under the lock
//     (fds; the lock guards the queue anyway, and a map lookup is small
//     against a receive, where a table indexed by descriptor would grow
//     with the largest number ever used), and by its table index in the user data of the multishot's
//     CQEs (table), with a generation so that a CQE of a dropped state
//     never reaches a new one. It is dropped (taken out of fds) when a
//     RecvMsg or Accept has reported its end (end of stream or an error),
//     when the last Aio that used it stops (users, below), by
//     Engine.CloseFD, and by Engine.Close; its table slot is freed when
//     the multishot's last CQE has arrived. What a dropped state still
//     holds or still receives goes back: buffers to the pool, accepted
//     descriptors closed.
//   - Users: every Aio lists the states it has started a RecvMsg or Accept
//     on (aioExtra.msgFDs; a few entries at most, as dropped ones are
//     pruned when it attaches to another), and a state counts the Aios
//     that list it (users). Stop, Free and Reap detach the Aio
//     (dropMsgStates); the last user to go drops the state. So a program
//     that closes a descriptor with a plain close after freeing (or before
//     freeing) the Aios that received on it leaves no multishot holding
//     the socket. A waiter is always a user, so a state without users has
//     no waiters.
//   - Descriptor numbers are reused: a state records the identity of its
//     socket (device and inode, from fstat at creation), and an Aio that
//     attaches to an existing state for the first time checks it; a state
//     whose descriptor is closed or now names another file is dropped and
//     a fresh one made. An Aio already attached skips the check (it would
//     be a system call per receive): a descriptor closed and its number
//     reused while an Aio that used it lives must go through
//     Engine.CloseFD.
//
// Lock order: msgEngine.mu → Aio.mu → msgEngine.poolMu, a pool's mu, a
// shard's SQ lock. Msg.Free takes the pool's mu alone, and msgEngine.mu
// (buffersBack) only after releasing it.

import (
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// User data kinds of the engine's multishot requests.
const (
	kindMsgRecv   sqe.Kind = 3 // a descriptor's multishot RECV (buffer select)
	kindMsgAccept sqe.Kind = 4 // a descriptor's multishot ACCEPT
)

// msgEngine is an Engine's message machinery.
type msgEngine struct {
	e         *Engine
	nbuf      int  // Config.MsgBuffers, resolved
	size      int  // Config.MsgBufferSize, resolved
	multishot bool // multishot RECV with a buffer ring; else single-shot fallback
	msAccept  bool // Accept uses a multishot ACCEPT

	poolMu sync.Mutex
	pools  []msgPool // by shard index; made on a ring's first RecvMsg

	mu       sync.Mutex
	fds      map[int32]*fdState
	table    []*fdState // by index in user data
	gens     []uint32   // generation of each table slot
	freeIDs  []uint32
	starved  []*fdState // stopped by ENOBUFS; re-armed as buffers come back
	armed    int        // multishot requests in the kernel
	closing  bool
	fbWait   []*Aio // fallback RecvMsg waiting for a buffer
	fbWaitMu sync.Mutex

	// starvations counts receives that found the pool empty (-ENOBUFS, or
	// no free buffer for a fallback receive), for tests.
	starvations atomic.Int64
}

// fdState is one descriptor's multishot request and what it posted. All
// fields are under msgEngine.mu.
type fdState struct {
	ms        *msgEngine
	id        uint32
	fd        int32
	accept    bool
	sh        backend
	rg        ringer  // sh's ring: the multishot's home
	pool      msgPool // nil for accept
	armed     bool    // the multishot is in the kernel (its last CQE not seen)
	canceling bool    // an ASYNC_CANCEL of it is queued
	dropped   bool    // out of fds; what arrives goes back
	starved   bool    // in msgEngine.starved
	ended     bool    // the last CQE said end of stream (endErr nil) or an error
	endErr    error
	q         []msgItem // ring buffer, grown when the bound is overshot
	qh, qn    int
	waiters   []*Aio
	users     int    // Aios listing st in their msgFDs
	dev, ino  uint64 // the socket's identity at creation (fstat)
	req       msReq
}

// msgItem is a queued result: a message, or an accepted descriptor.
type msgItem struct {
	m  *Msg
	fd int32
}

// msReq is the multishot request, as a completion.Request.
type msReq struct {
	fd     int32
	group  uint16
	accept bool
	ud     sqe.UserData
}

func (r *msReq) SQEs() int      { return 1 }
func (r *msReq) MayBlock() bool { return false }
func (r *msReq) Prep(s []*sqe.SQE) {
	if r.accept {
		s[0].AcceptMultishot(r.fd, sockCloexec)
	} else {
		s[0].RecvMultishot(r.fd, r.group, 0)
	}
	s[0].UserData = uint64(r.ud)
}

func (ms *msgEngine) init(e *Engine, cfg Config) {
	ms.e = e
	ms.nbuf, ms.size = cfg.MsgBuffers, cfg.MsgBufferSize
	ms.multishot = !forceMsgFallback && ring.KernelAtLeast(6, 0)
	ms.msAccept = useMultishotAccept && !forceMsgFallback && ring.KernelAtLeast(5, 19)
	if _, ok := e.shards[0].(ringer); !ok {
		// The portable backend has no multishot requests: RecvMsg is a
		// single-shot receive into a pool buffer, Accept single-shot.
		ms.multishot, ms.msAccept = false, false
	}
	ms.fds = make(map[int32]*fdState)
	ms.pools = make([]msgPool, len(e.shards))
}

// poolFor returns sh's pool, making it on first use.
func (ms *msgEngine) poolFor(sh backend) (msgPool, error) {
	ms.poolMu.Lock()
	defer ms.poolMu.Unlock()
	i := 0
	for i < len(ms.e.shards) && ms.e.shards[i] != sh {
		i++
	}
	if ms.pools[i] == nil {
		p, err := newPool(ms, sh, ms.nbuf, ms.size, !ms.multishot)
		if err != nil {
			return nil, err
		}
		ms.pools[i] = p
	}
	return ms.pools[i], nil
}

// stateLocked returns fd's state, making it for a's ring if there is none,
// and attaches a to it. Called with ms.mu and a.mu held.
// push is the ring of a stale state dropped on the way, whose cancel the
// caller submits once it has released the locks.
func (ms *msgEngine) stateLocked(a *Aio, fd int32, accept bool) (st *fdState, push backend, err error) {
	st = ms.fds[fd]
	if st != nil && !a.usesLocked(st) && !st.sameFile() {
		// fd was closed, or its number now names another file, while
		// an Aio that used it lives on: the old state must not serve
		// the new descriptor. Its waiters (other Aios: a is not a
		// user, and every waiter is) end with ErrClosed; taking their
		// mu while holding a.mu is safe because two Aios' locks are
		// only ever nested under msgEngine.mu, which is held here.
		if ms.dropLocked(st, ErrClosed) {
			push = st.sh
		}
		st = nil
	}
	if st == nil {
		if st, err = ms.newStateLocked(a, fd, accept); err != nil {
			return nil, push, err
		}
	}
	if st.accept != accept {
		return nil, push, ErrInvalid // RecvMsg and Accept on one descriptor
	}
	ms.attachLocked(a, st)
	return st, push, nil
}

// sameFile reports whether st.fd still names the socket st was made for.
func (st *fdState) sameFile() bool {
	var s unix.Stat_t
	if unix.Fstat(int(st.fd), &s) != nil {
		return false
	}
	return uint64(s.Dev) == st.dev && uint64(s.Ino) == st.ino
}

// usesLocked reports whether a lists st.
func (a *Aio) usesLocked(st *fdState) bool {
	l := a.x.msgFDs
	if n := len(l); n > 0 && l[n-1] == st {
		return true // the common case: the same descriptor again
	}
	for _, s := range l {
		if s == st {
			return true
		}
	}
	return false
}

// attachLocked lists st in a's states, pruning dropped ones first.
func (ms *msgEngine) attachLocked(a *Aio, st *fdState) {
	x := a.x
	if a.usesLocked(st) {
		return
	}
	k := 0
	for _, s := range x.msgFDs {
		if s.dropped {
			s.users--
			continue
		}
		x.msgFDs[k] = s
		k++
	}
	clear(x.msgFDs[k:])
	x.msgFDs = append(x.msgFDs[:k], st)
	st.users++
}

// dropMsgStates detaches a, which has stopped (no RecvMsg or Accept can
// start on it any more), from the states it used, and drops those it was
// the last user of.
func (a *Aio) dropMsgStates() {
	a.mu.Lock()
	none := a.x == nil || len(a.x.msgFDs) == 0
	a.unlock()
	if none {
		return // stopped is set: the list cannot grow any more
	}
	ms := &a.e.msgs
	ms.mu.Lock()
	a.mu.Lock()
	l := a.x.msgFDs
	a.x.msgFDs = nil
	a.unlock()
	var push [4]backend
	np := 0
	var more []backend
	for _, st := range l {
		st.users--
		if st.users == 0 && ms.dropLocked(st, ErrStopped) {
			if np < len(push) {
				push[np] = st.sh
				np++
			} else {
				more = append(more, st.sh)
			}
		}
	}
	ms.mu.Unlock()
	for _, sh := range push[:np] {
		sh.Push(false)
	}
	for _, sh := range more {
		sh.Push(false)
	}
}

// newStateLocked makes fd's state for a's ring.
func (ms *msgEngine) newStateLocked(a *Aio, fd int32, accept bool) (*fdState, error) {
	st := &fdState{ms: ms, fd: fd, accept: accept, sh: a.sh}
	st.rg, _ = a.sh.(ringer) // multishot is on only where it is a ring
	var s unix.Stat_t
	if err := unix.Fstat(int(fd), &s); err != nil {
		return nil, err // a closed descriptor: the kernel's errno
	}
	st.dev, st.ino = uint64(s.Dev), uint64(s.Ino)
	kind := kindMsgAccept
	if !accept {
		p, err := ms.poolFor(a.sh)
		if err != nil {
			return nil, err
		}
		st.pool = p
		st.req.group, _ = p.group()
		kind = kindMsgRecv
	}
	if n := len(ms.freeIDs); n > 0 {
		st.id = ms.freeIDs[n-1]
		ms.freeIDs = ms.freeIDs[:n-1]
	} else {
		if len(ms.table) >= math.MaxInt32 {
			return nil, ErrInvalid
		}
		st.id = uint32(len(ms.table))
		ms.table = append(ms.table, nil)
		ms.gens = append(ms.gens, 0)
	}
	ms.gens[st.id]++
	ms.table[st.id] = st
	st.req = msReq{fd: fd, group: st.req.group, accept: accept, ud: sqe.Pack(kind, st.id, ms.gens[st.id])}
	ms.fds[fd] = st
	return st, nil
}

// armLocked queues st's multishot if it should run: not armed, not ended,
// not starved, and the queue below its bound. It reports whether st.sh
// needs a Push. A ring that no longer takes requests ends st with
// ErrClosed.
func (ms *msgEngine) armLocked(st *fdState) bool {
	if st.armed || st.ended || st.starved || st.dropped || st.qn >= msgQueueMax || ms.closing {
		return false
	}
	if st.rg.QueueRequest(&st.req) != nil {
		st.ended, st.endErr = true, ErrClosed
		return false
	}
	st.armed = true
	ms.armed++
	return true
}

// enqueueLocked appends it to st's queue; past the bound, it stops the
// multishot (TCP's window then fills and the sender waits): nothing is
// dropped, the queue grows by what was already posted.
//
// b is nil when a user's goroutine reaps (ReapInline): the hand-offs made
// then (here, and for a waiter with a callback in finishLocked) only queue;
// their wake comes after the locks are released.
func (ms *msgEngine) enqueueLocked(st *fdState, it msgItem, b *completion.Batch) {
	if st.qn == len(st.q) {
		// Made on the first result queued, so an idle descriptor costs
		// no queue; doubled when the bound is overshot.
		q := make([]msgItem, max(msgQueueMax, 2*len(st.q)))
		for i := 0; i < st.qn; i++ {
			q[i] = st.q[(st.qh+i)%len(st.q)]
		}
		st.q, st.qh = q, 0
	}
	st.q[(st.qh+st.qn)%len(st.q)] = it
	st.qn++
	if st.qn >= msgQueueMax && st.armed && !st.canceling {
		st.canceling = true
		if b == nil {
			// Reaped by a user's goroutine, which submits nothing
			// afterwards: a reaper queues the cancel, and its round
			// submits it.
			// The wake this may owe is made by the inline reap once it
			// has released the CQ (Shard.ReapInline), out of our locks.
			if ok, _ := st.sh.Handoff((*fdCancel)(st)); !ok {
				st.canceling = false
			}
		} else if st.rg.QueueCancel(st.req.ud) != nil {
			st.canceling = false
		}
	}
}

// fdCancel is an fdState seen by a shard as a completion.Callback: it
// queues the cancel of the multishot on a reaper.
type fdCancel fdState

// Running implements completion.Callback: a cancel follows no callback.
func (c *fdCancel) Running() int64 { return 0 }

func (c *fdCancel) RunCallback(int64) {
	st := (*fdState)(c)
	st.ms.mu.Lock()
	if st.armed && st.rg.QueueCancel(st.req.ud) != nil {
		st.canceling = false
	}
	st.ms.mu.Unlock()
}

func (ms *msgEngine) popLocked(st *fdState) msgItem {
	it := st.q[st.qh]
	st.q[st.qh] = msgItem{}
	st.qh = (st.qh + 1) % len(st.q)
	st.qn--
	return it
}

// serveLocked hands queued results, then the end, to waiting Aios in
// order. b is the reaper's batch of st.sh, or nil. It drops st once its
// end has been reported.
func (ms *msgEngine) serveLocked(st *fdState, b *completion.Batch) {
	for len(st.waiters) > 0 && (st.qn > 0 || st.ended) {
		a := st.waiters[0]
		copy(st.waiters, st.waiters[1:])
		st.waiters[len(st.waiters)-1] = nil
		st.waiters = st.waiters[:len(st.waiters)-1]
		if st.qn > 0 {
			ms.finishWaiter(a, st, ms.popLocked(st), nil, b)
			continue
		}
		ms.finishWaiter(a, st, msgItem{}, st.endErr, b)
		if len(st.waiters) == 0 {
			ms.dropLocked(st, nil)
		}
	}
}

// finishWaiter ends a's RecvMsg or Accept with it, or with err when it is
// empty. a is in stateMsg: it was on st's waiters, which only this lock
// changes.
func (ms *msgEngine) finishWaiter(a *Aio, st *fdState, it msgItem, err error, b *completion.Batch) {
	a.mu.Lock()
	if a.sh != st.sh {
		b = nil // the batch belongs to another ring's reaper
	}
	a.x.waitSt = nil
	switch {
	case it.m != nil:
		a.x.attached = it.m
		a.finishLocked(nil, it.m.n, b)
	case err == nil && st.accept:
		a.x.outputs[0] = int(it.fd)
		a.finishLocked(nil, 0, b)
	default:
		a.finishLocked(err, 0, b)
	}
	a.unlock()
}

// dropLocked takes st out of use: queued messages go back to the pool,
// queued descriptors are closed, waiters end with err (ErrClosed, for
// CloseFD and Close), and the multishot is cancelled. Its table slot is
// freed when the multishot's last CQE arrives.
func (ms *msgEngine) dropLocked(st *fdState, err error) (push bool) {
	if st.dropped {
		return false
	}
	st.dropped = true
	if ms.fds[st.fd] == st {
		delete(ms.fds, st.fd)
	}
	for st.qn > 0 {
		ms.retire(st, ms.popLocked(st))
	}
	for _, a := range st.waiters {
		ms.finishWaiter(a, st, msgItem{}, err, nil)
	}
	st.waiters = nil
	if st.starved {
		st.starved = false
		st.pool.fed()
		ms.unstarveLocked(st)
	}
	if !st.armed {
		ms.freeIDLocked(st)
		return false
	}
	if !st.canceling && st.rg.QueueCancel(st.req.ud) == nil {
		st.canceling = true
		return true
	}
	return false
}

// retire gives back what a result holds that nobody will take.
func (ms *msgEngine) retire(st *fdState, it msgItem) {
	if it.m != nil {
		it.m.pool.put(it.m)
	} else if st.accept {
		unix.Close(int(it.fd))
	}
}

func (ms *msgEngine) freeIDLocked(st *fdState) {
	if ms.table[st.id] == st {
		ms.table[st.id] = nil
		ms.freeIDs = append(ms.freeIDs, st.id)
	}
}

func (ms *msgEngine) unstarveLocked(st *fdState) {
	for i, s := range ms.starved {
		if s == st {
			ms.starved = append(ms.starved[:i], ms.starved[i+1:]...)
			return
		}
	}
}

// complete handles a CQE of a multishot request. b is the batch of the
// reaper of the request's ring that reaped it, or nil when a user's
// goroutine did (only CQEs with IORING_CQE_F_MORE: see Handler.Inline).
// It reports whether the CQE was the request's last.
func (ms *msgEngine) complete(c *ring.CQE, b *completion.Batch) (final bool) {
	ud := sqe.UserData(c.UserData)
	final = c.Flags&ring.CQEFMore == 0
	ms.mu.Lock()
	var st *fdState
	if i := ud.Index(); int(i) < len(ms.table) && ms.gens[i]&sqe.GenMask == ud.Gen() {
		st = ms.table[i]
	}
	var it msgItem
	got := false
	switch {
	case ud.Kind() == kindMsgAccept && c.Res >= 0:
		it, got = msgItem{fd: c.Res}, true
	case c.Flags&ring.CQEFBuffer != 0 && st != nil && c.Res > 0:
		it, got = msgItem{m: st.pool.take(uint16(c.Flags>>ring.CQEBufferShift), int(c.Res))}, true
	case c.Flags&ring.CQEFBuffer != 0 && st != nil:
		// A buffer selected for an empty result: straight back.
		st.pool.put(st.pool.take(uint16(c.Flags>>ring.CQEBufferShift), 0))
	}
	if st == nil {
		// Cannot happen (a slot is freed only after its last CQE); never
		// leak an accepted descriptor if it does.
		if got && it.fd > 0 && it.m == nil {
			unix.Close(int(it.fd))
		}
		ms.mu.Unlock()
		return final
	}
	if final {
		st.armed, st.canceling = false, false
		ms.armed--
	}
	switch {
	case st.dropped:
		if got {
			ms.retire(st, it)
		}
		if final {
			ms.freeIDLocked(st)
		}
		ms.mu.Unlock()
		return final
	case got:
		ms.enqueueLocked(st, it, b)
	case c.Res == 0 && !st.accept:
		st.ended = true // end of stream
	case c.Res == -int32(syscall.ENOBUFS):
		// The pool is empty: not an error. Wait for a Free, unless one
		// came back since the kernel looked.
		ms.starvations.Add(1)
		if st.pool.starve() {
			st.starved = true
			ms.starved = append(ms.starved, st)
		}
	case c.Res == -int32(syscall.ECANCELED) && !ms.closing:
		// Our own cancel at the queue's bound: re-armed below when the
		// queue has room.
	case c.Res < 0 && final:
		st.ended, st.endErr = true, syscall.Errno(-c.Res)
		if ms.closing {
			st.endErr = ErrClosed
		}
	}
	ms.serveLocked(st, b)
	if final && !st.dropped {
		// A last CQE is reaped only by a reaper (Handler.Inline), whose
		// round submits what it queued: no Push here.
		ms.armLocked(st)
		if st.ended {
			// The ring refused the re-arm (closed or broken): the
			// waiters end now rather than at Engine.Close.
			ms.serveLocked(st, b)
		}
	}
	ms.mu.Unlock()
	return final
}

// buffersBack re-arms receives that starved, now that a buffer is back in
// p, and restarts fallback receives waiting for one.
func (ms *msgEngine) buffersBack(p msgPool) {
	ms.mu.Lock()
	var push backend
	for i := 0; i < len(ms.starved); i++ {
		st := ms.starved[i]
		if st.pool != p {
			continue
		}
		ms.starved = append(ms.starved[:i], ms.starved[i+1:]...)
		st.starved = false
		p.fed()
		if ms.armLocked(st) {
			push = st.sh
		}
		break // one receive per buffer returned
	}
	ms.mu.Unlock()
	if push != nil {
		push.Push(false)
	}
	ms.wakeFallback(p)
}

// startMulti begins RecvMsg (accept false) or Accept on fd through its
// multishot request.
func (a *Aio) startMulti(fd int, accept bool) {
	var stale backend
	if sh, fromCallback := a.queueMulti(fd, accept, &stale); sh != nil {
		sh.Push(fromCallback && sh == a.sh)
	}
	if stale != nil {
		stale.Push(false)
	}
}

// queueMulti begins the operation. stale is set to the ring of a stale
// state dropped on the way (see stateLocked), to submit its cancel.
func (a *Aio) queueMulti(fd int, accept bool, stale *backend) (push backend, fromCallback bool) {
	ms := &a.e.msgs
	ms.mu.Lock()
	defer ms.mu.Unlock()
	a.mu.Lock()
	defer a.unlock()
	fromCallback = a.state == stateCallback
	name := "RecvMsg"
	if accept {
		name = "Accept"
	}
	a.beginLocked(name)
	x := a.extra()
	x.attached = nil
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		return nil, fromCallback
	}
	tm := a.timingLocked()
	if tm.mode == tPast {
		a.finishLocked(ErrTimedOut, 0, nil)
		return nil, fromCallback
	}
	if fd < 0 || fd > math.MaxInt32 {
		a.finishLocked(unix.EBADF, 0, nil)
		return nil, fromCallback
	}
	st, dropped, err := ms.stateLocked(a, int32(fd), accept)
	*stale = dropped
	if err != nil {
		a.finishLocked(err, 0, nil)
		return nil, fromCallback
	}
	if len(st.waiters) == 0 && st.qn > 0 {
		it := ms.popLocked(st)
		if ms.armLocked(st) {
			push = st.sh
		}
		if it.m != nil {
			x.attached = it.m
			a.finishLocked(nil, it.m.n, nil)
		} else {
			x.outputs[0] = int(it.fd)
			a.finishLocked(nil, 0, nil)
		}
		return push, fromCallback
	}
	if len(st.waiters) == 0 && st.ended {
		ms.dropLocked(st, nil)
		a.finishLocked(st.endErr, 0, nil)
		return nil, fromCallback
	}
	if ms.armLocked(st) {
		push = st.sh
	}
	if st.ended && len(st.waiters) == 0 {
		// The ring refused the multishot (closed or broken): waiting
		// would last until Engine.Close.
		ms.dropLocked(st, nil)
		a.finishLocked(st.endErr, 0, nil)
		return push, fromCallback
	}
	if tm.mode == tZero {
		// A non-blocking attempt: what has arrived is queued; nothing has.
		a.finishLocked(ErrTimedOut, 0, nil)
		return push, fromCallback
	}
	st.waiters = append(st.waiters, a)
	x.waitSt = st
	a.state = stateMsg
	a.armDeadlineLocked(tm)
	return push, fromCallback
}

// zeroAttempt reports whether an Accept on fd is a zero-timeout attempt
// that nothing has been accepted for yet: it then runs as a single-shot
// non-blocking ACCEPT, so that a connection already waiting is taken at
// once, and no multishot is left armed by a mere poll.
func (ms *msgEngine) zeroAttempt(a *Aio, fd int) bool {
	a.mu.Lock()
	zero := a.expireAt == 0 && a.resolvedTimeoutLocked() == 0
	a.unlock()
	if !zero || fd < 0 || fd > math.MaxInt32 {
		return false
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.fds[int32(fd)] == nil
}

// abortMsgLocked ends a RecvMsg or Accept waiting in stateMsg with err, and
// unlocks a.mu. It takes the Aio off its descriptor's waiters (the
// multishot stays armed for the next receive), or off the fallback's
// buffer waiters.
func (a *Aio) abortMsgLocked(err error) {
	ms := &a.e.msgs
	if a.x.waitSt == nil {
		// Fallback receive waiting for a buffer.
		ms.fbWaitMu.Lock()
		for i, w := range ms.fbWait {
			if w == a {
				ms.fbWait = append(ms.fbWait[:i], ms.fbWait[i+1:]...)
				break
			}
		}
		ms.fbWaitMu.Unlock()
		// Whoever clears waitPool (under a.mu) undoes its starve.
		if a.x.waitPool != nil {
			a.x.waitPool.fed()
			a.x.waitPool = nil
		}
		a.finishLocked(err, 0, nil)
		a.unlock()
		return
	}
	gen := a.gen
	a.unlock()
	ms.mu.Lock()
	a.mu.Lock()
	if a.state == stateMsg && a.gen == gen && a.x.waitSt != nil {
		st := a.x.waitSt
		for i, w := range st.waiters {
			if w == a {
				st.waiters = append(st.waiters[:i], st.waiters[i+1:]...)
				break
			}
		}
		a.x.waitSt = nil
		a.finishLocked(err, 0, nil)
	}
	a.unlock()
	ms.mu.Unlock()
}

// closeFD drops fd's state and closes fd.
func (ms *msgEngine) closeFD(fd int) error {
	if fd < 0 || fd > math.MaxInt32 {
		return unix.EBADF
	}
	ms.mu.Lock()
	var sh backend
	if st := ms.fds[int32(fd)]; st != nil {
		if ms.dropLocked(st, ErrClosed) {
			sh = st.sh
		}
	}
	ms.mu.Unlock()
	if sh != nil {
		sh.Push(false)
		// The cancel just queued completes asynchronously, and until it
		// does the kernel's request holds the file, so close alone would
		// leave the socket open for a moment (a listener accepting, a
		// connection without its FIN). shutdown ends the socket now, for
		// every reference; an error (not a socket) changes nothing.
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
	return unix.Close(fd)
}

// close drops every state and waits, up to a grace period on a broken
// ring, for the multishots' last CQEs. Engine.Close calls it once every
// Aio is idle, with the reapers still running.
func (ms *msgEngine) close() {
	ms.mu.Lock()
	ms.closing = true
	var push []backend
	for _, st := range ms.table {
		if st != nil && ms.dropLocked(st, ErrClosed) {
			push = append(push, st.sh)
		}
	}
	ms.mu.Unlock()
	for _, sh := range push {
		sh.Push(false)
	}
	deadline := time.Now().Add(brokenCloseGrace)
	for {
		ms.mu.Lock()
		n := ms.armed
		ms.mu.Unlock()
		if n == 0 {
			return
		}
		broken := false
		for _, sh := range ms.e.shards {
			broken = broken || sh.Broken()
		}
		if broken && time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// closePools releases the pools once the rings are closed. On a broken
// ring the kernel may still write into them, so their memory is kept.
func (ms *msgEngine) closePools(broken bool) {
	ms.poolMu.Lock()
	defer ms.poolMu.Unlock()
	for i, p := range ms.pools {
		if p != nil && !broken {
			p.close()
		}
		ms.pools[i] = nil
	}
}
