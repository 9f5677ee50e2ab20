package aio

// Design notes: messages and multishot requests.
//
// Ownership:
//   - A ring's pool (msgPool) owns its buffers. A buffer is in exactly one
//     place: the pool's free set (the kernel's provided-buffer ring, or the
//     fallback's list), a live Msg (the program's), or a queued Msg of an
//     fdState (the engine's, until a RecvMsg hands it over or Close gives
//     it back). Msg.Free is the only way a live buffer returns. A ring's
//     pool is made once, on the ring's first RecvMsg, behind the ring's
//     own gate (msgRing.mkMu), and never under an Aio's lock or a state's.
//   - An fdState is the engine's per-descriptor state while RecvMsg or
//     Accept is used on it: one multishot request in the kernel (armed),
//     the results it posted that nobody has taken yet (the queue, in
//     order), and the Aios waiting for them. All of it is under the
//     state's own mutex (fdState.mu): servers with many connections on
//     many cores meet on no common lock. The multishot belongs to the
//     descriptor, not to an Aio: cancelling a RecvMsg takes the Aio off
//     the waiters and leaves the multishot armed, so a message the kernel
//     fills afterwards is queued for the next RecvMsg instead of being
//     lost.
//   - An fdState is found (msgtable.go) by descriptor number in one of
//     fdShardCount maps (fds), chosen by the number, each under its own
//     short lock held only for the lookup, insertion or removal itself
//     (one lookup per RecvMsg start; a table indexed by descriptor would
//     grow with the largest number ever used). It is found by its table index in the user data
//     of the multishot's CQEs (table: fixed-size chunks of atomic
//     pointers that never move, read without a lock, one load per CQE),
//     with a generation kept in the state so that a CQE of a dropped
//     state never reaches a new one in the same slot: the slot is cleared
//     under the state's lock when the multishot's last CQE has arrived,
//     and a CQE that found the state checks, under that lock, that its
//     slot was not freed meanwhile. A state is dropped (taken out of fds)
//     when a RecvMsg or Accept has reported its end (end of stream or an
//     error), when the last Aio that used it stops (users, below), by
//     Engine.CloseFD, and by Engine.Close. What a dropped state still
//     holds or still receives goes back: buffers to the pool, accepted
//     descriptors closed (after the state's lock is released).
//   - Users: every Aio lists the states it has started a RecvMsg or Accept
//     on (aioExtra.msgFDs; a few entries at most, as dropped ones are
//     pruned when it attaches to another), and a state counts the Aios
//     that list it (users; meaningful until it is dropped). Stop, Free and
//     Reap detach the Aio (dropMsgStates); the last user to go drops the
//     state. So a program that closes a descriptor with a plain close
//     after freeing (or before freeing) the Aios that received on it
//     leaves no multishot holding the socket. A waiter is always a user,
//     so a state without users has no waiters.
//   - Descriptor numbers are reused: a state records the identity of its
//     socket (device and inode, from an fstat made before the state is
//     published), and an Aio that attaches to an existing state for the
//     first time checks it with an fstat made, without any lock, after it
//     found the state, and then re-validates (the state may have been
//     dropped meanwhile); a state whose descriptor is closed or now names
//     another file is dropped and a fresh one made. An Aio already
//     attached skips the check (it would be a system call per receive): a
//     descriptor closed and its number reused while an Aio that used it
//     lives must go through Engine.CloseFD. And a dropped state's
//     multishot, while still in the SQ, names only the number: dropping
//     it submits the SQ through it before Stop, Free or CloseFD returns
//     (msgAfter.run), so that a close and a reuse of the number after
//     them never reach it.
//   - Starvation (the pool empty) is per ring: the states stopped by
//     ENOBUFS and the fallback receives waiting for a buffer are listed in
//     their ring's msgRing, under msgRing.waitMu, and a Free wakes one.
//
// System calls: none runs under a state's lock, an fd map's lock or the
// table's lock, and none of the machinery's own runs under an Aio's
// lock: fstat runs before the locks are taken (and is re-validated),
// the pool is made under the ring's gate only, and the descriptors to
// close (queued accepted connections of a dropped state) and the
// shutdown of CloseFD wait until every lock is released (msgAfter).
// Queueing SQEs and cancels to a ring under these locks is the ring's
// business (its SQ lock). One exception is left: the single-shot
// fallback (and the portable backend) takes its receive buffer in
// bufferLocked, under the Aio's lock, so a ring's first such RecvMsg
// makes the pool there (once per ring).
//
// Lock order (the message machinery's part of docs/design.md's "Lock
// order", which is the one place the engine-wide order is written; keep
// the two the same):
//
//	Shard.cqMu → fdState.mu → Aio.mu → msgRing.mkMu → msgRing.waitMu → ringPool.mu
//	fdState.mu, Aio.mu → fdShard.mu → msgEngine.tabMu
//	fdState.mu, Aio.mu → Shard.sqMu
//
// Two fdState.mu are never held together, nor two Aio.mu. A multishot
// CQE's handler takes the state's lock under the shard's CQ lock.
// Msg.Free takes ringPool.mu alone, then (a receive waiting for a buffer)
// msgRing.waitMu alone, then a state's lock or an Aio's. msgRing.mkMu is
// held only while the pool is made, with no other message lock held,
// except under Aio.mu by the fallback's bufferLocked (above).

import (
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// User data kinds of the engine's multishot requests.
const (
	kindMsgRecv   sqe.Kind = 3 // a descriptor's multishot RECV, or RECVMSG for a datagram socket (buffer select)
	kindMsgAccept sqe.Kind = 4 // a descriptor's multishot ACCEPT
)

// msgEngine is an Engine's message machinery.
type msgEngine struct {
	e         *Engine
	nbuf      int  // Config.MsgBuffers, resolved
	size      int  // Config.MsgBufferSize, resolved
	multishot bool // multishot RECV with a buffer ring; else single-shot fallback
	msAccept  bool // Accept uses a multishot ACCEPT

	rings []msgRing // by shard index

	fds [fdShardCount]fdShard // descriptor number → state

	// The user-data table: dir's chunks never move once made (dir itself
	// is replaced, with the same chunks and one more, as it grows), so a
	// CQE's lookup loads two pointers without a lock. tabMu guards the
	// slot allocation (nslots, freeIDs, the chunks' gen) and dir's growth.
	dir     atomic.Pointer[[]*msgChunk]
	tabMu   sync.Mutex
	nslots  uint32
	freeIDs []uint32

	closing atomic.Bool // msgEngine.close has begun: nothing is armed any more

	// live counts the published states (in fds): while it is 0, a Recv
	// or RecvFrom looks for none (msgmixed.go), at one load.
	live atomic.Int32

	// starvations counts receives that found the pool empty (-ENOBUFS, or
	// no free buffer for a fallback receive), for tests.
	starvations atomic.Int64

	// closes counts endFD's calls (CloseFD): a fallback RecvMsg asks a
	// descriptor's type again when it has moved (aioExtra.rmFD).
	closes atomic.Uint64
}

// msgRing is the message machinery of one ring (one backend shard).
type msgRing struct {
	sh backend

	// The pool, made on the ring's first RecvMsg. mkMu is the gate: it is
	// taken only when pool is still nil, so that one caller makes the
	// pool (mmap and, with multishot receive, IORING_REGISTER_PBUF_RING)
	// while others for this ring wait; shut (under mkMu) is set by
	// closePools, after which no pool is made.
	pool atomic.Pointer[poolRef]
	mkMu sync.Mutex
	shut bool

	armed atomic.Int32 // multishot requests in the kernel on this ring

	// Receives stopped for lack of buffers, woken one per buffer given
	// back: multishot states (starved) and fallback receives (fbWait).
	waitMu  sync.Mutex
	starved []*fdState
	fbWait  []*Aio
}

// poolRef holds a ring's pool, for msgRing.pool's atomic pointer.
type poolRef struct{ p msgPool }

// fdState is one descriptor's multishot request and what it posted. The
// fields above mu are set before the state is published and never change;
// the others are under mu.
type fdState struct {
	ms       *msgEngine
	mr       *msgRing
	id, gen  uint32 // slot in the user-data table, and its generation
	fd       int32
	accept   bool
	sh       backend
	rg       ringer  // sh's ring: the multishot's home (nil on the portable backend, which has none)
	pool     msgPool // nil for accept
	dev, ino uint64  // the socket's identity at creation (fstat)
	req      msReq
	// A datagram socket's multishot is a RECVMSG (msgdgram.go): hdr is
	// its template, read by the kernel at each arm, and a buffer's
	// payload starts at dgramOff.
	dgram    bool
	dgramOff int
	hdr      unix.Msghdr

	mu        sync.Mutex
	dropped   atomic.Bool       // out of fds; what arrives goes back. Set under mu; read without it when pruning
	freed     bool              // the table slot is freed: a CQE that found st late ignores it
	armed     bool              // the multishot is queued or in the kernel (its last CQE not seen)
	armedAt   completion.Ticket // where the armed multishot's SQE is in the SQ
	canceling bool              // an ASYNC_CANCEL of it is queued
	starved   bool              // in mr.starved (or being taken off it by buffersBack)
	ended     bool              // the last CQE said end of stream (endErr nil) or an error
	endErr    error
	q         []msgItem // ring buffer, grown when the bound is overshot
	qh, qn    int
	waiters   []*Aio
	users     int // Aios listing st in their msgFDs (until dropped)
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
	hdr    *unix.Msghdr // a datagram socket's RECVMSG template; nil: RECV
	ud     sqe.UserData
}

func (r *msReq) SQEs() int      { return 1 }
func (r *msReq) MayBlock() bool { return false }
func (r *msReq) Prep(s []*sqe.SQE) {
	switch {
	case r.accept:
		s[0].AcceptMultishot(r.fd, sockCloexec)
	case r.hdr != nil:
		s[0].RecvmsgMultishot(r.fd, unsafe.Pointer(r.hdr), r.group, 0)
	default:
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
	ms.rings = make([]msgRing, len(e.shards))
	for i := range ms.rings {
		ms.rings[i].sh = e.shards[i]
	}
}

// ringOf returns sh's message ring.
func (ms *msgEngine) ringOf(sh backend) *msgRing {
	for i := range ms.rings {
		if ms.rings[i].sh == sh {
			return &ms.rings[i]
		}
	}
	panic("aio: an Aio's ring is not one of its engine's")
}

// poolFor returns sh's pool, making it on first use. It takes no lock but
// the ring's gate, and must be called with none held: a single-shot
// RecvMsg that calls it before it locks the Aio (ops.go's RecvMsg does)
// leaves bufferLocked nothing to make under the Aio's lock.
func (ms *msgEngine) poolFor(sh backend) (msgPool, error) {
	return ms.ringOf(sh).poolMade(ms)
}

// poolMade returns r's pool, making it on first use behind r's gate: the
// mmap and the buffer ring's registration run under mkMu only.
func (r *msgRing) poolMade(ms *msgEngine) (msgPool, error) {
	if ref := r.pool.Load(); ref != nil {
		return ref.p, nil
	}
	r.mkMu.Lock()
	defer r.mkMu.Unlock()
	if ref := r.pool.Load(); ref != nil {
		return ref.p, nil
	}
	if r.shut {
		return nil, ErrClosed
	}
	p, err := newPool(ms, r.sh, ms.nbuf, ms.size, !ms.multishot)
	if err != nil {
		return nil, err
	}
	r.pool.Store(&poolRef{p})
	return p, nil
}

// newState makes and publishes fd's state for a's ring, with the identity
// id, or returns the state published meanwhile by another goroutine
// (mine then reports false). It takes no lock but the fd map's and the
// table's, so the pool is made here, outside them.
func (ms *msgEngine) newState(a *Aio, fd int32, accept bool, id fileID) (st *fdState, mine bool, err error) {
	mr := ms.ringOf(a.sh)
	n := &fdState{ms: ms, mr: mr, fd: fd, accept: accept, sh: a.sh, dev: id.dev, ino: id.ino}
	n.rg, _ = a.sh.(ringer) // multishot is on only where it is a ring
	kind := kindMsgAccept
	if !accept {
		p, err := mr.poolMade(ms)
		if err != nil {
			return nil, false, err
		}
		n.pool = p
		n.req.group, _ = p.group()
		kind = kindMsgRecv
		if n.rg != nil {
			if err := n.dgramSetup(ms.size); err != nil {
				return nil, false, err
			}
		}
	}
	st, err = ms.publish(n, kind)
	return st, st == n, err
}

// usesLocked reports whether a lists st.
func (a *Aio) usesLocked(st *fdState) bool {
	if a.x == nil {
		return false
	}
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

// attachLocked lists st in a's states, pruning dropped ones first (their
// users count no longer matters, so it is left alone: it is under their
// own locks, which are not held here). Called with st.mu and a.mu held.
func (ms *msgEngine) attachLocked(a *Aio, st *fdState) {
	x := a.x
	if a.usesLocked(st) {
		return
	}
	k := 0
	for _, s := range x.msgFDs {
		if s.dropped.Load() {
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
// the last user of. Each state is locked on its own, without a.mu.
func (a *Aio) dropMsgStates() {
	a.mu.Lock()
	var l []*fdState
	if a.x != nil {
		// stopped is set: the list cannot grow any more.
		l = a.x.msgFDs
		a.x.msgFDs = nil
	}
	a.unlock()
	if len(l) == 0 {
		return
	}
	ms := &a.e.msgs
	var after msgAfter
	for _, st := range l {
		st.mu.Lock()
		st.users--
		if st.users == 0 {
			ms.dropLocked(st, ErrStopped, &after)
		}
		st.mu.Unlock()
	}
	after.run()
}

// armLocked queues st's multishot if it should run: not armed, not ended,
// not starved, and the queue below its bound. It reports whether st.sh
// needs a Push. A ring that no longer takes requests ends st with
// ErrClosed. Called with st.mu held.
func (ms *msgEngine) armLocked(st *fdState) bool {
	if st.armed || st.ended || st.starved || st.dropped.Load() || st.qn >= msgQueueMax || ms.closing.Load() {
		return false
	}
	t, err := st.rg.QueueRequest(&st.req)
	if err != nil {
		st.ended, st.endErr = true, ErrClosed
		return false
	}
	st.armed, st.armedAt = true, t
	st.mr.armed.Add(1)
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

func (c *fdCancel) RunCallback(int64, uint64) {
	st := (*fdState)(c)
	st.mu.Lock()
	if st.armed && st.rg.QueueCancel(st.req.ud) != nil {
		st.canceling = false
	}
	st.mu.Unlock()
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
func (ms *msgEngine) serveLocked(st *fdState, b *completion.Batch, after *msgAfter) {
	for len(st.waiters) > 0 && (st.qn > 0 || st.ended) {
		a := st.waiters[0]
		copy(st.waiters, st.waiters[1:])
		st.waiters[len(st.waiters)-1] = nil
		st.waiters = st.waiters[:len(st.waiters)-1]
		if st.qn > 0 {
			if a.x.waitCopy != 0 {
				ms.finishCopy(a, st, b, after)
			} else {
				ms.finishWaiter(a, st, ms.popLocked(st), nil, b)
			}
			continue
		}
		ms.finishWaiter(a, st, msgItem{}, st.endErr, b)
		if len(st.waiters) == 0 {
			ms.dropLocked(st, nil, after)
		}
	}
}

// finishWaiter ends a's RecvMsg or Accept with it, or with err when it is
// empty. a is in stateMsg: it was on st's waiters, which only st.mu
// (held) changes.
func (ms *msgEngine) finishWaiter(a *Aio, st *fdState, it msgItem, err error, b *completion.Batch) {
	a.mu.Lock()
	if a.sh != st.sh {
		b = nil // the batch belongs to another ring's reaper
	}
	a.x.waitSt, a.x.waitCopy = nil, 0
	switch {
	case it.m != nil:
		a.takeMsgLocked(it.m, b)
	case err == nil && st.accept:
		a.x.outputs[0] = int(it.fd)
		a.newFD = it.fd + 1 // FD (ops_file.go)
		a.finishLocked(nil, 0, b)
	default:
		a.finishLocked(err, 0, b)
	}
	a.unlock()
}

// dropLocked takes st out of use: queued messages go back to the pool,
// queued descriptors are left in after to close, waiters end with err
// (ErrClosed, for CloseFD and Close), and the multishot is cancelled (its
// ring left in after to push). Its table slot is freed when the
// multishot's last CQE arrives. Called with st.mu held and no Aio's lock.
func (ms *msgEngine) dropLocked(st *fdState, err error, after *msgAfter) {
	if st.dropped.Load() {
		return
	}
	st.dropped.Store(true)
	ms.unpublishLocked(st)
	for st.qn > 0 {
		ms.retire(st, ms.popLocked(st), after)
	}
	for _, a := range st.waiters {
		ms.finishWaiter(a, st, msgItem{}, err, nil)
	}
	st.waiters = nil
	if st.starved {
		st.starved = false
		st.pool.fed()
		st.mr.unstarve(st)
	}
	if !st.armed {
		ms.freeIDLocked(st)
		return
	}
	// The multishot may still be in the SQ, naming only the descriptor's
	// number: it must reach the kernel before the program can close the
	// descriptor and the number name another socket (msgAfter.run).
	after.submitThrough(st.rg, st.armedAt)
	if !st.canceling && st.rg.QueueCancel(st.req.ud) == nil {
		st.canceling = true
		after.pushLater(st.sh)
	}
}

// dropUnusedLocked drops st if no Aio uses it: a RecvMsg that published
// it ended before attaching (a stopped Aio, a past deadline).
func (ms *msgEngine) dropUnusedLocked(st *fdState, after *msgAfter) {
	if st.users == 0 {
		ms.dropLocked(st, nil, after)
	}
}

// retire gives back what a result holds that nobody will take: a buffer
// at once, a descriptor through after (closed once the locks are
// released).
func (ms *msgEngine) retire(st *fdState, it msgItem, after *msgAfter) {
	if it.m != nil {
		it.m.pool.put(it.m)
	} else if st.accept {
		after.fds = append(after.fds, it.fd)
	}
}

// unstarve takes st off r's starved list, if it is on it.
func (r *msgRing) unstarve(st *fdState) {
	r.waitMu.Lock()
	r.starved = without(r.starved, st)
	r.waitMu.Unlock()
}

// complete handles a CQE of a multishot request. b is the batch of the
// reaper of the request's ring that reaped it, or nil when a user's
// goroutine did (only CQEs with IORING_CQE_F_MORE: see Handler.Inline).
// It reports whether the CQE was the request's last. The shard completes
// one ring's CQEs in order under its CQ lock, so one request's CQEs are
// handled one after the other.
func (ms *msgEngine) complete(c *ring.CQE, b *completion.Batch) (final bool) {
	ud := sqe.UserData(c.UserData)
	final = c.Flags&ring.CQEFMore == 0
	st := ms.byUserData(ud)
	if st != nil {
		st.mu.Lock()
		if st.freed {
			// Its last CQE came first (cannot happen: see above).
			st.mu.Unlock()
			st = nil
		}
	}
	if st == nil {
		// Cannot happen (a slot is freed only after its last CQE); never
		// leak an accepted descriptor if it does.
		if ud.Kind() == kindMsgAccept && c.Res > 0 {
			unix.Close(int(c.Res))
		}
		return final
	}
	var it msgItem
	got := false
	switch {
	case ud.Kind() == kindMsgAccept && c.Res >= 0:
		it, got = msgItem{fd: c.Res}, true
	case c.Flags&ring.CQEFBuffer != 0 && c.Res > 0:
		m := st.pool.take(uint16(c.Flags>>ring.CQEBufferShift), int(c.Res))
		if st.dgram {
			st.dgramLayout(m)
		}
		it, got = msgItem{m: m}, true
	case c.Flags&ring.CQEFBuffer != 0:
		// A buffer selected for an empty result: straight back.
		st.pool.put(st.pool.take(uint16(c.Flags>>ring.CQEBufferShift), 0))
	}
	if final {
		st.armed, st.canceling = false, false
		st.mr.armed.Add(-1)
	}
	// Cancels queued here need no Push (see the end); after only closes
	// descriptors.
	var after msgAfter
	switch {
	case st.dropped.Load():
		if got {
			ms.retire(st, it, &after)
		}
		if final {
			ms.freeIDLocked(st)
		}
		st.mu.Unlock()
		after.closeFDs()
		return final
	case got:
		ms.enqueueLocked(st, it, b)
	case c.Res == 0 && !st.accept:
		st.ended = true // end of stream
	case c.Res == -int32(syscall.ENOBUFS):
		// The pool is empty: not an error. Wait for a Free, unless one
		// came back since the kernel looked. starve and the listing are
		// one step under waitMu, which buffersBack takes before it looks
		// at the list, so the Free that makes a buffer free either is
		// seen by starve or finds st listed.
		ms.starvations.Add(1)
		st.mr.waitMu.Lock()
		if st.pool.starve() {
			st.starved = true
			st.mr.starved = append(st.mr.starved, st)
		}
		st.mr.waitMu.Unlock()
	case c.Res == -int32(syscall.ECANCELED) && !ms.closing.Load():
		// Our own cancel at the queue's bound: re-armed below when the
		// queue has room.
	case c.Res < 0 && final:
		st.ended, st.endErr = true, syscall.Errno(-c.Res)
		if ms.closing.Load() {
			st.endErr = ErrClosed
		}
	}
	ms.serveLocked(st, b, &after)
	if final && !st.dropped.Load() {
		// A last CQE is reaped only by a reaper (Handler.Inline), whose
		// round submits what it queued: no Push here.
		ms.armLocked(st)
		if st.ended {
			// The ring refused the re-arm (closed or broken): the
			// waiters end now rather than at Engine.Close.
			ms.serveLocked(st, b, &after)
		}
	}
	st.mu.Unlock()
	after.closeFDs()
	return final
}

// buffersBack re-arms a receive that starved, now that a buffer is back in
// p, and restarts a fallback receive waiting for one.
func (ms *msgEngine) buffersBack(p msgPool) {
	var r *msgRing
	for i := range ms.rings {
		if ref := ms.rings[i].pool.Load(); ref != nil && ref.p == p {
			r = &ms.rings[i]
			break
		}
	}
	if r == nil {
		return // closePools ran: nothing waits any more
	}
	var push backend
	for push == nil {
		r.waitMu.Lock()
		if len(r.starved) == 0 {
			r.waitMu.Unlock()
			break
		}
		st := r.starved[0]
		r.starved = append(r.starved[:0], r.starved[1:]...)
		r.waitMu.Unlock()
		st.mu.Lock()
		if !st.starved {
			// Dropped since (dropLocked undid its starve): the buffer
			// goes to the next one.
			st.mu.Unlock()
			continue
		}
		st.starved = false
		p.fed()
		if ms.armLocked(st) {
			push = st.sh
		}
		st.mu.Unlock()
		break // one receive per buffer returned
	}
	if push != nil {
		push.Push(0)
	}
	ms.wakeFallback(r, p)
}

// startMulti begins RecvMsg (accept false) or Accept on fd through its
// multishot request.
func (a *Aio) startMulti(fd int, accept bool) { a.startQueued(fd, accept, 0) }

// startQueued begins a RecvMsg or Accept, or with copyKind a Recv or
// RecvFrom served from fd's queue (msgmixed.go), and pushes what it
// queued; it reports whether it began the operation (queueMulti's
// served).
func (a *Aio) startQueued(fd int, accept bool, copyKind opKind) bool {
	var after msgAfter
	sh, round, served := a.queueMulti(fd, accept, copyKind, &after)
	if sh != nil {
		if sh != a.sh {
			round = 0 // another ring's reapers do not run this callback
		}
		sh.Push(round)
	}
	after.run()
	return served
}

// msgState finds or makes fd's state, checked to be the socket fd names
// now unless a already uses it, and returns it with st.mu and a.mu held.
// The system calls (fstat, and making the pool) run with no lock held.
// When no state can be had, it returns the error, with no lock held; with
// existing, it makes none, and returns nil and no error when fd has none.
func (a *Aio) msgState(fd int, accept, existing bool, after *msgAfter) (*fdState, error) {
	ms := &a.e.msgs
	if fd < 0 || fd > math.MaxInt32 {
		return nil, unix.EBADF
	}
	fd32 := int32(fd)
	var checked *fdState // the state the last fstat was made after finding
	var id fileID
	var statErr error
	for {
		st := ms.lookup(fd32)
		mine := false
		if st == nil && existing {
			return nil, nil
		}
		if st == nil {
			id, statErr = fstatID(fd32)
			if statErr != nil {
				return nil, statErr
			}
			var err error
			if st, mine, err = ms.newState(a, fd32, accept, id); err != nil {
				return nil, err
			}
		}
		st.mu.Lock()
		if st.dropped.Load() {
			// Dropped since the lookup, and so out of fds: look again.
			st.mu.Unlock()
			continue
		}
		a.mu.Lock()
		if mine || a.usesLocked(st) {
			return st, nil
		}
		if checked != st {
			// First use of a state made by another: check that fd still
			// names its socket, with an fstat made now, unlocked, and
			// then look again.
			a.unlock()
			st.mu.Unlock()
			id, statErr = fstatID(fd32)
			checked = st
			continue
		}
		if statErr == nil && id == (fileID{st.dev, st.ino}) {
			return st, nil
		}
		// fd was closed, or its number now names another file, while an
		// Aio that used it lives on: the old state must not serve the
		// new descriptor. Its waiters (other Aios: a is not a user, and
		// every waiter is) end with ErrClosed; a.mu is released first,
		// as two Aios' locks are never held together.
		a.unlock()
		ms.dropLocked(st, ErrClosed, after)
		st.mu.Unlock()
		checked = nil
	}
}

// queueMulti begins the operation: a RecvMsg or an Accept, or with copyKind
// (opRecv, opRecvFrom) a Recv or RecvFrom served from fd's queue, which
// is begun only if fd has a state (served true). after collects what to
// do once the locks are released (cancels of dropped states, descriptors
// to close, buffers to give back).
func (a *Aio) queueMulti(fd int, accept bool, copyKind opKind, after *msgAfter) (push backend, round int64, served bool) {
	ms := &a.e.msgs
	name := "RecvMsg"
	switch {
	case copyKind != 0:
		name = opNames[copyKind]
	case accept:
		name = "Accept"
	}
	st, stErr := a.msgState(fd, accept, copyKind != 0, after)
	if st == nil && stErr == nil {
		return nil, 0, false // a Recv, and fd has no state: an ordinary receive
	}
	if st != nil && copyKind != 0 && st.accept {
		// A listening socket's accepts: the receive is the kernel's to
		// refuse, as on any other listening socket.
		a.unlock()
		st.mu.Unlock()
		return nil, 0, false
	}
	if st == nil {
		a.mu.Lock()
	} else {
		defer st.mu.Unlock()
	}
	defer a.unlock()
	round = a.ownRoundLocked()
	a.beginLocked(name)
	x := a.extra()
	if copyKind == 0 {
		x.attached = nil // a Recv's Aio keeps what SetMsg attached
	}
	served = true
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		if st != nil {
			ms.dropUnusedLocked(st, after)
		}
		return nil, round, served
	}
	tm := a.timingLocked()
	if tm.mode == tPast {
		a.finishLocked(ErrTimedOut, 0, nil)
		if st != nil {
			ms.dropUnusedLocked(st, after)
		}
		return nil, round, served
	}
	if st == nil {
		a.finishLocked(stErr, 0, nil)
		return nil, round, served
	}
	if st.accept != accept {
		a.finishLocked(ErrInvalid, 0, nil) // RecvMsg and Accept on one descriptor
		ms.dropUnusedLocked(st, after)
		return nil, round, served
	}
	ms.attachLocked(a, st)
	if len(st.waiters) == 0 && st.qn > 0 && copyKind != 0 {
		ms.copyOutLocked(a, st, copyKind, nil, after)
		if ms.armLocked(st) {
			push = st.sh
		}
		return push, round, served
	}
	if len(st.waiters) == 0 && st.qn > 0 {
		it := ms.popLocked(st)
		if ms.armLocked(st) {
			push = st.sh
		}
		if it.m != nil {
			a.takeMsgLocked(it.m, nil)
		} else {
			x.outputs[0] = int(it.fd)
			a.newFD = it.fd + 1 // FD (ops_file.go)
			a.finishLocked(nil, 0, nil)
		}
		return push, round, served
	}
	if len(st.waiters) == 0 && st.ended {
		a.finishLocked(st.endErr, 0, nil)
		ms.dropLocked(st, nil, after) // no waiters: no other Aio's lock
		return nil, round, served
	}
	if ms.armLocked(st) {
		push = st.sh
	}
	if st.ended && len(st.waiters) == 0 {
		// The ring refused the multishot (closed or broken): waiting
		// would last until Engine.Close.
		a.finishLocked(st.endErr, 0, nil)
		ms.dropLocked(st, nil, after)
		return push, round, served
	}
	if tm.mode == tZero {
		// A non-blocking attempt: what has arrived is queued; nothing has.
		a.finishLocked(ErrTimedOut, 0, nil)
		return push, round, served
	}
	st.waiters = append(st.waiters, a)
	x.waitSt, x.waitCopy = st, copyKind
	a.state = stateMsg
	a.armDeadlineLocked(tm)
	return push, round, served
}

// zeroAttempt reports whether an Accept on fd is a zero-timeout attempt
// that nothing has been accepted for yet: it then runs as a single-shot
// non-blocking ACCEPT, so that a connection already waiting is taken at
// once, and no multishot is left armed by a mere poll.
func (ms *msgEngine) zeroAttempt(a *Aio, fd int) bool {
	a.mu.Lock()
	zero := a.attemptLocked()
	a.unlock()
	if !zero || fd < 0 || fd > math.MaxInt32 {
		return false
	}
	return ms.lookup(int32(fd)) == nil
}

// abortMsgAndUnlock ends a RecvMsg or Accept waiting in stateMsg with
// err. Called with a.mu held; a.mu is released on every path (the
// state's lock comes first in the lock order). It takes the Aio off its
// descriptor's waiters (the multishot stays armed for the next receive),
// or off the fallback's buffer waiters.
func (a *Aio) abortMsgAndUnlock(err error) {
	ms := &a.e.msgs
	st := a.x.waitSt
	if st == nil {
		// Fallback receive waiting for a buffer.
		r := ms.ringOf(a.sh)
		r.waitMu.Lock()
		for i, w := range r.fbWait {
			if w == a {
				r.fbWait = append(r.fbWait[:i], r.fbWait[i+1:]...)
				break
			}
		}
		r.waitMu.Unlock()
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
	st.mu.Lock()
	a.mu.Lock()
	if a.state == stateMsg && a.gen == gen && a.x.waitSt == st {
		for i, w := range st.waiters {
			if w == a {
				st.waiters = append(st.waiters[:i], st.waiters[i+1:]...)
				break
			}
		}
		a.x.waitSt, a.x.waitCopy = nil, 0
		a.finishLocked(err, 0, nil)
	}
	a.unlock()
	st.mu.Unlock()
}

// closeFD drops fd's state and closes fd. The shutdown and the close(2)s
// run with no lock held.
func (ms *msgEngine) closeFD(fd int) error {
	if fd < 0 || fd > math.MaxInt32 {
		return unix.EBADF
	}
	ms.endFD(fd)
	return unix.Close(fd)
}

// endFD drops fd's state (0 <= fd <= MaxInt32), as closeFD does before
// its close(2): Aio.CloseFD then closes through its backend. It runs with
// no lock held, and allocates nothing when fd has no state.
func (ms *msgEngine) endFD(fd int) {
	ms.closes.Add(1)
	ms.e.endPortWaiters(fd)
	ms.e.cancelFDRequests(fd) // fdcancel.go
	var after msgAfter
	for {
		st := ms.lookup(int32(fd))
		if st == nil {
			break
		}
		st.mu.Lock()
		if st.dropped.Load() {
			st.mu.Unlock()
			continue // out of fds by now: look again
		}
		ms.dropLocked(st, ErrClosed, &after)
		st.mu.Unlock()
		break
	}
	pushed := after.pushed()
	after.run()
	if pushed {
		// The cancel just queued completes asynchronously, and until it
		// does the kernel's request holds the file, so close alone would
		// leave the socket open for a moment (a listener accepting, a
		// connection without its FIN). shutdown ends the socket now, for
		// every reference; an error (not a socket) changes nothing.
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
}

// close drops every state and waits, up to a grace period on a broken
// ring, for the multishots' last CQEs. Engine.Close calls it once every
// Aio is idle, with the reapers still running. closing is set before the
// states are listed: a state published after the listing sees it and is
// never armed.
func (ms *msgEngine) close() {
	ms.closing.Store(true)
	var after msgAfter
	for _, st := range ms.states() {
		st.mu.Lock()
		ms.dropLocked(st, ErrClosed, &after)
		st.mu.Unlock()
	}
	after.run()
	deadline := time.Now().Add(brokenCloseGrace)
	for {
		n := int32(0)
		for i := range ms.rings {
			n += ms.rings[i].armed.Load()
		}
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
// No pool is made afterwards.
func (ms *msgEngine) closePools(broken bool) {
	for i := range ms.rings {
		r := &ms.rings[i]
		r.mkMu.Lock()
		r.shut = true
		if ref := r.pool.Load(); ref != nil && !broken {
			ref.p.close()
		}
		r.pool.Store(nil)
		r.mkMu.Unlock()
	}
}

// poolOf returns ring i's pool, nil before its first RecvMsg.
func (ms *msgEngine) poolOf(i int) msgPool {
	if ref := ms.rings[i].pool.Load(); ref != nil {
		return ref.p
	}
	return nil
}
