package aio

// The message machinery's lookup structures (msgfd.go's design notes):
// descriptor number → state in fdShardCount maps, each under a short lock
// of its own; CQE user data → state in a table read without a lock; and
// msgAfter, what a locked section leaves for after its locks are released.

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

const (
	// fdShardCount is the number of descriptor-number maps (a power of
	// two). Descriptors a server holds are mostly consecutive numbers,
	// so connections spread over all of them.
	fdShardCount = 64
	// chunkSlots is the number of user-data slots per table chunk.
	chunkSlots = 256
)

// fdShard is one of the descriptor-number maps, on a cache line of its
// own so that lookups of different shards do not share one.
type fdShard struct {
	mu sync.Mutex
	m  map[int32]*fdState
	_  [64 - 16]byte
}

// msgChunk is chunkSlots consecutive user-data slots.
type msgChunk struct {
	st  [chunkSlots]atomic.Pointer[fdState]
	gen [chunkSlots]uint32 // last generation handed out per slot; under tabMu
}

// msgAfter is what a locked section leaves for after its locks are
// released: rings to push (cancels queued on them), dropped multishots to
// see into the kernel, and accepted descriptors to close(2). It lives on
// the caller's stack; more, subs and fds are allocated only past the
// common case (more than four rings, more than one dropped multishot, a
// dropped accept state that held connections).
type msgAfter struct {
	push [4]backend
	np   int
	more []backend
	sub  ticketAt
	subs []ticketAt
	fds  []int32
	// Buffers a Recv or RecvFrom emptied (msgmixed.go), to give back to
	// their pool: giving may re-arm starved multishots, which takes their
	// states' locks.
	give  [2]*Msg
	ngive int
	gives []*Msg
}

// ticketAt is a dropped multishot's place in its ring's SQ.
type ticketAt struct {
	rg ringer
	t  completion.Ticket
}

// submitThrough records that the SQEs of rg queued up to t must have
// reached the kernel before run returns.
func (w *msgAfter) submitThrough(rg ringer, t completion.Ticket) {
	switch {
	case w.sub.rg == nil:
		w.sub = ticketAt{rg, t}
	default:
		w.subs = append(w.subs, ticketAt{rg, t})
	}
}

// pushLater records that sh has a cancel queued to submit.
func (w *msgAfter) pushLater(sh backend) {
	for _, p := range w.push[:w.np] {
		if p == sh {
			return
		}
	}
	for _, p := range w.more {
		if p == sh {
			return
		}
	}
	if w.np < len(w.push) {
		w.push[w.np] = sh
		w.np++
		return
	}
	w.more = append(w.more, sh)
}

// pushed reports whether a cancel was queued.
func (w *msgAfter) pushed() bool { return w.np > 0 }

// run sees the dropped multishots into the kernel, submits the queued
// cancels and closes the descriptors. Called with no lock held.
//
// The first step is why Stop, Free and CloseFD may return and the program
// then close the descriptor: a multishot SQE still in the SQ names only a
// number, and the kernel resolves it when it takes the SQE; the number may
// by then name the next socket opened, whose data it would take
// (TestMsgDropInCallbackThenReuse). Taken, it holds the old socket until
// its cancel ends it. Most have been taken long before: one lock pair.
// A reaper's round would submit them only when its callbacks return, so
// this submits them at once wherever it runs.
func (w *msgAfter) run() {
	if w.sub.rg != nil {
		w.sub.rg.SubmitThrough(w.sub.t)
	}
	for _, s := range w.subs {
		s.rg.SubmitThrough(s.t)
	}
	for _, sh := range w.push[:w.np] {
		sh.Push(0)
	}
	for _, sh := range w.more {
		sh.Push(0)
	}
	w.closeFDs()
}

// closeFDs closes the descriptors and gives back the emptied buffers
// only: a CQE's handler, in a reaper's round that submits what it queued
// itself, drops only states whose multishot has ended (no submitThrough).
func (w *msgAfter) closeFDs() {
	for _, fd := range w.fds {
		unix.Close(int(fd))
	}
	for _, m := range w.give[:w.ngive] {
		m.pool.give(m)
	}
	for _, m := range w.gives {
		m.pool.give(m)
	}
}

// giveLater records that m, taken off a queue and no longer live, goes
// back to its pool once the locks are released.
func (w *msgAfter) giveLater(m *Msg) {
	if w.ngive < len(w.give) {
		w.give[w.ngive] = m
		w.ngive++
		return
	}
	w.gives = append(w.gives, m)
}

// shard returns the map fd's state is in.
func (ms *msgEngine) shard(fd int32) *fdShard {
	return &ms.fds[uint32(fd)%fdShardCount]
}

// lookup returns fd's published state, or nil.
func (ms *msgEngine) lookup(fd int32) *fdState {
	s := ms.shard(fd)
	s.mu.Lock()
	st := s.m[fd]
	s.mu.Unlock()
	return st
}

// publish makes st fd's state, giving it a table slot, unless fd has one
// already: that one is returned instead (st is then never used).
func (ms *msgEngine) publish(st *fdState, kind sqe.Kind) (*fdState, error) {
	s := ms.shard(st.fd)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[st.fd]; old != nil {
		return old, nil
	}
	ms.tabMu.Lock()
	err := ms.allocIDLocked(st, kind)
	ms.tabMu.Unlock()
	if err != nil {
		return nil, err
	}
	if s.m == nil {
		s.m = make(map[int32]*fdState)
	}
	s.m[st.fd] = st
	ms.live.Add(1)
	return st, nil
}

// unpublishLocked takes st out of fds. Called with st.mu held.
func (ms *msgEngine) unpublishLocked(st *fdState) {
	s := ms.shard(st.fd)
	s.mu.Lock()
	if s.m[st.fd] == st {
		delete(s.m, st.fd)
		ms.live.Add(-1)
	}
	s.mu.Unlock()
}

// allocIDLocked gives st a table slot, a new generation of it, and the
// request's user data. Called with tabMu held.
func (ms *msgEngine) allocIDLocked(st *fdState, kind sqe.Kind) error {
	var id uint32
	if n := len(ms.freeIDs); n > 0 {
		id = ms.freeIDs[n-1]
		ms.freeIDs = ms.freeIDs[:n-1]
	} else {
		if ms.nslots >= math.MaxInt32 {
			return ErrInvalid
		}
		id = ms.nslots
		ms.nslots++
		var dir []*msgChunk
		if d := ms.dir.Load(); d != nil {
			dir = *d
		}
		if int(id/chunkSlots) >= len(dir) {
			// A new directory with the same chunks and one more: a
			// reader holding the old one still finds every older slot.
			nd := make([]*msgChunk, len(dir)+1)
			copy(nd, dir)
			nd[len(dir)] = new(msgChunk)
			ms.dir.Store(&nd)
		}
	}
	c := (*ms.dir.Load())[id/chunkSlots]
	c.gen[id%chunkSlots]++
	st.id, st.gen = id, c.gen[id%chunkSlots]
	st.req = msReq{fd: st.fd, group: st.req.group, accept: st.accept, hdr: st.req.hdr, ud: sqe.Pack(kind, id, st.gen)}
	c.st[id%chunkSlots].Store(st)
	return nil
}

// freeIDLocked frees st's table slot, once its multishot's last CQE has
// arrived (or it was never armed). Called with st.mu held.
func (ms *msgEngine) freeIDLocked(st *fdState) {
	if st.freed {
		return
	}
	st.freed = true
	ms.tabMu.Lock()
	slot := &(*ms.dir.Load())[st.id/chunkSlots].st[st.id%chunkSlots]
	if slot.Load() == st {
		slot.Store(nil)
	}
	ms.freeIDs = append(ms.freeIDs, st.id)
	ms.tabMu.Unlock()
}

// byUserData returns the state a multishot CQE's user data names, or nil
// if that slot holds another generation. The caller checks st.freed
// under st.mu.
func (ms *msgEngine) byUserData(ud sqe.UserData) *fdState {
	i := ud.Index()
	d := ms.dir.Load()
	if d == nil || int(i/chunkSlots) >= len(*d) {
		// Not expected (the slot was made before the request was
		// queued); look again under the lock rather than trust a
		// directory loaded early.
		ms.tabMu.Lock()
		d = ms.dir.Load()
		ms.tabMu.Unlock()
		if d == nil || int(i/chunkSlots) >= len(*d) {
			return nil
		}
	}
	st := (*d)[i/chunkSlots].st[i%chunkSlots].Load()
	if st == nil || st.gen&sqe.GenMask != ud.Gen() {
		return nil
	}
	return st
}

// states returns every state holding a table slot (armed or published).
func (ms *msgEngine) states() []*fdState {
	ms.tabMu.Lock()
	defer ms.tabMu.Unlock()
	d := ms.dir.Load()
	if d == nil {
		return nil
	}
	var l []*fdState
	for i := uint32(0); i < ms.nslots; i++ {
		if st := (*d)[i/chunkSlots].st[i%chunkSlots].Load(); st != nil {
			l = append(l, st)
		}
	}
	return l
}

// fileID is a descriptor's identity, from fstat.
type fileID struct{ dev, ino uint64 }

func fstatID(fd int32) (fileID, error) {
	var s unix.Stat_t
	if err := unix.Fstat(int(fd), &s); err != nil {
		return fileID{}, err // a closed descriptor: the kernel's errno
	}
	return fileID{uint64(s.Dev), uint64(s.Ino)}, nil
}

// without returns s without its first element equal to v, the order of
// the others kept (the starved and waiting lists are short).
func without[T comparable](s []T, v T) []T {
	if i := slices.Index(s, v); i >= 0 {
		return slices.Delete(s, i, i+1)
	}
	return s
}
