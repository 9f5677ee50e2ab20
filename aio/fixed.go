package aio

// Registered resources: memory registered with every ring of the engine
// (FixedBuffer), used by ReadAt and WriteAt through READ_FIXED and
// WRITE_FIXED whenever the IOV lies inside it, and descriptors registered
// in every ring's fixed file table (RegisterFD), named by their slot
// (IOSQE_FIXED_FILE) by the operations on them. docs/design.md, section
// "Registered resources", has the ownership and lifetime rules.
//
// Concurrency. fixedRes.mu serialises the calls that change the tables
// (FixedBuffer, FreeFixedBuffer, RegisterFD, UnregisterFD, Close) and is
// never held with an Aio's lock. Starters read the registrations without
// it, from immutable snapshots published with an atomic store, and take a
// use of what they found with one atomic add; the use is dropped when the
// operation ends (finishLocked). A buffer being freed or a descriptor being
// unregistered carries a bit in the same word, so a starter that finds it
// in an old snapshot either took its use before the bit was set (the free
// then fails; the unregister waits for the use to end) or sees the bit and
// backs off. An engine that registered nothing pays one atomic load per
// start for each kind of resource.
//
// Lock order: Aio.mu → (nothing of this file: starters use atomics only);
// fixedRes.mu → Shard life references (io_uring_register).

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// fixedRes is an engine's registered resources.
type fixedRes struct {
	mu     sync.Mutex
	closed bool // under mu: Close unmapped every buffer

	// Lock-free reads by starters; written under mu. nil when nothing is
	// registered (or, for files, on the portable backend, which has no
	// table to name them in).
	bufs  atomic.Pointer[bufSnap]
	files atomic.Pointer[fileSnap]

	// Under mu.
	bufTable  []bool               // per ring: its sparse buffer table is registered
	fileTable []bool               // per ring: its sparse file table is registered
	bufFree   []uint16             // buffer slots emptied and ready for reuse
	bufNext   uint16               // the lowest buffer slot never used
	fileFree  []uint32             // file slots emptied and ready for reuse
	fileNext  uint32               // the lowest file slot never used
	locked    int64                // bytes of registered buffers (each ring pins them all)
	byFD      map[int32]*fixedFile // every registered descriptor, both backends
	clearing  sync.WaitGroup       // goroutines emptying a file slot whose last use ended
}

// fixedBuf is one FixedBuffer: an anonymous mapping, outside the Go heap,
// so the collector never moves or frees it while the kernel holds its
// pages.
type fixedBuf struct {
	mem       []byte // the whole mapping, as unix.Mmap returned it (Munmap needs it)
	base, end uintptr
	index     uint16 // its slot in every ring's buffer table
	// state counts the operations using the buffer, with bufFreeing set
	// once FreeFixedBuffer has claimed it (only when the count was 0).
	state atomic.Int64
}

const bufFreeing = int64(1) << 62

// take adds a use; false when the buffer is being freed.
func (b *fixedBuf) take() bool {
	if b.state.Add(1)&bufFreeing != 0 {
		b.state.Add(-1)
		return false
	}
	return true
}

// bufSnap is the set of live buffers, sorted by base address. It is never
// changed once published.
type bufSnap struct {
	bufs []*fixedBuf
	ring bool // io_uring with READ_FIXED/WRITE_FIXED: operations may go out fixed
	vec  bool // and READV_FIXED/WRITEV_FIXED (Linux 6.15)
}

// find returns the buffer whose memory holds address p, and whether the
// n bytes from p lie wholly inside it.
func (s *bufSnap) find(p uintptr, n uint64) (*fixedBuf, bool) {
	bs := s.bufs
	lo, hi := 0, len(bs)
	for lo < hi { // the first buffer starting above p
		m := int(uint(lo+hi) >> 1)
		if bs[m].base <= p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return nil, false
	}
	b := bs[lo-1]
	if p >= b.end {
		return nil, false
	}
	return b, n <= uint64(b.end-p)
}

// fixedFile is one RegisterFD.
type fixedFile struct {
	fd    int32
	index uint32 // its slot in every ring's file table
	// state counts the operations that name the descriptor by its slot,
	// with fileGone once UnregisterFD has run and fileClaimed once one
	// goroutine has taken the job of emptying the slot (when gone and
	// unused).
	state atomic.Int64
}

const (
	fileGone    = int64(1) << 62
	fileClaimed = int64(1) << 61
)

// fileSnap maps registered descriptors to their slots (io_uring only).
// Never changed once published.
type fileSnap struct {
	byFD map[int32]*fixedFile
}

// fixedUse is what an Aio's operation holds (under Aio.mu): a use of a
// buffer its IOV lies in (of several, for a vector: aioExtra.fixedVec),
// and of the registered descriptor it names by slot.
type fixedUse struct {
	buf  *fixedBuf
	file *fixedFile
	nvec uint8 // entries of aioExtra.fixedVec in use
}

// registrar is what a ring offers for registered resources; the portable
// backend has none of it.
type registrar interface {
	RegisterBufferTable(n uint32) error
	UpdateBuffer(i uint32, base unsafe.Pointer, n uint64) error
	RegisterFileTable(n uint32) error
	UpdateFile(i uint32, fd int32) error
}

var _ registrar = ringBackend{}

// FixedBuffer returns size bytes of page-aligned memory registered with
// every ring of the engine (io_uring's registered buffers: the kernel pins
// the pages once, instead of on every operation), so suitable for O_DIRECT.
// ReadAt and WriteAt whose IOV lies wholly inside such memory (one buffer,
// or, where the kernel has READV_FIXED, several inside the same one) go
// out as READ_FIXED and WRITE_FIXED without anything else to do.
//
// The memory is an anonymous mapping outside the Go heap: it is the
// engine's until FreeFixedBuffer or Close, which unmap it; using it
// afterwards faults. size <= 0 is ErrInvalid, and so is a size over the
// kernel's limit for one registered buffer (1 GiB). The kernel charges
// the pages to RLIMIT_MEMLOCK once per ring (unless the process has
// CAP_IPC_LOCK); beyond it the error matches syscall.ENOMEM and says so.
// A kernel without updatable buffer tables (before 5.13) gives an error
// matching ErrUnsupported. On the portable backend it is plain aligned
// memory with the same rules.
func (e *Engine) FixedBuffer(size int) ([]byte, error) {
	if size <= 0 {
		return nil, &wrapError{ErrInvalid, fmt.Errorf("FixedBuffer(%d): the size must be positive", size)}
	}
	if size > ring.MaxFixedBuffer {
		return nil, &wrapError{ErrInvalid, fmt.Errorf("FixedBuffer(%d): larger than the kernel's limit of 1 GiB for one registered buffer", size)}
	}
	fx := &e.fixed
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.closed || e.closed.Load() {
		return nil, ErrClosed
	}
	old := fx.bufs.Load()
	n := 0
	if old != nil {
		n = len(old.bufs)
	}
	if n >= fixedBufferSlots {
		return nil, &wrapError{ErrInvalid, fmt.Errorf("FixedBuffer(%d): the engine already has %d registered buffers, its most", size, fixedBufferSlots)}
	}
	isRing := e.backend == BackendIOURing
	if isRing {
		if err := e.bufTablesLocked(); err != nil {
			return nil, err
		}
	}
	page := unix.Getpagesize()
	mlen := (size + page - 1) &^ (page - 1)
	mem, err := unix.Mmap(-1, 0, mlen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("aio: FixedBuffer(%d): mmap: %w", size, err)
	}
	base := uintptr(unsafe.Pointer(&mem[0]))
	b := &fixedBuf{mem: mem, base: base, end: base + uintptr(mlen)}
	if len(fx.bufFree) > 0 {
		b.index = fx.bufFree[len(fx.bufFree)-1]
		fx.bufFree = fx.bufFree[:len(fx.bufFree)-1]
	} else {
		b.index = fx.bufNext
		fx.bufNext++
	}
	if isRing {
		for i, sh := range e.shards {
			err := sh.(registrar).UpdateBuffer(uint32(b.index), unsafe.Pointer(&mem[0]), uint64(mlen))
			if err == nil {
				continue
			}
			for _, done := range e.shards[:i] {
				done.(registrar).UpdateBuffer(uint32(b.index), nil, 0)
			}
			unix.Munmap(mem)
			fx.bufFree = append(fx.bufFree, b.index)
			if e.closed.Load() {
				return nil, ErrClosed
			}
			return nil, fx.registerError(size, len(e.shards), err)
		}
	}
	fx.locked += int64(mlen)
	s := &bufSnap{bufs: make([]*fixedBuf, 0, n+1), ring: isRing}
	if isRing {
		s.ring = e.probe.Supports(sqe.OpReadFixed) && e.probe.Supports(sqe.OpWriteFixed)
		s.vec = s.ring && e.probe.Supports(sqe.OpReadvFixed) && e.probe.Supports(sqe.OpWritevFixed)
	}
	if old != nil {
		s.bufs = append(s.bufs, old.bufs...)
	}
	at := len(s.bufs)
	for at > 0 && s.bufs[at-1].base > base {
		at--
	}
	s.bufs = append(s.bufs, nil)
	copy(s.bufs[at+1:], s.bufs[at:])
	s.bufs[at] = b
	fx.bufs.Store(s)
	return mem[:size:size], nil
}

// registerError says why the kernel refused to register a buffer:
// RLIMIT_MEMLOCK for ENOMEM, when it is finite.
func (fx *fixedRes) registerError(size, rings int, err error) error {
	if err == syscall.ENOMEM {
		var rl unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl) == nil && rl.Cur != unix.RLIM_INFINITY {
			return fmt.Errorf("aio: FixedBuffer(%d): the kernel would not lock it: RLIMIT_MEMLOCK is %d bytes, every one of the engine's %d rings charges the buffer to it, and the engine has %d bytes registered already; raise the limit (ulimit -l, LimitMEMLOCK=) or grant CAP_IPC_LOCK: %w",
				size, rl.Cur, rings, fx.locked, err)
		}
	}
	return fmt.Errorf("aio: FixedBuffer(%d): registering it with the ring: %w", size, err)
}

// bufTablesLocked registers the sparse buffer table on every ring that
// lacks one (once per ring, on the first FixedBuffer).
func (e *Engine) bufTablesLocked() error {
	fx := &e.fixed
	if fx.bufTable == nil {
		fx.bufTable = make([]bool, len(e.shards))
	}
	for i, sh := range e.shards {
		if fx.bufTable[i] {
			continue
		}
		if err := sh.(registrar).RegisterBufferTable(fixedBufferSlots); err != nil {
			if e.closed.Load() {
				return ErrClosed
			}
			return &wrapError{ErrUnsupported, fmt.Errorf("registering the ring's buffer table: %w", err)}
		}
		fx.bufTable[i] = true
	}
	return nil
}

// FreeFixedBuffer unregisters and unmaps memory FixedBuffer returned. b
// names the buffer by its first byte: any slice whose data pointer is the
// buffer's start (b[:0] included, a slice starting further in not). A
// slice that names no live buffer is ErrInvalid, and so is a buffer that
// a pending operation's IOV lies in (wait for the operation first). After
// Close, which freed every buffer, it is ErrClosed.
func (e *Engine) FreeFixedBuffer(b []byte) error {
	if cap(b) == 0 {
		return &wrapError{ErrInvalid, fmt.Errorf("FreeFixedBuffer: an empty slice names no buffer")}
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	fx := &e.fixed
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.closed {
		return ErrClosed
	}
	s := fx.bufs.Load()
	var fb *fixedBuf
	at := 0
	if s != nil {
		for i, c := range s.bufs {
			if c.base == p {
				fb, at = c, i
				break
			}
		}
	}
	if fb == nil {
		return &wrapError{ErrInvalid, fmt.Errorf("FreeFixedBuffer: %#x is not the start of a buffer from FixedBuffer", p)}
	}
	if !fb.state.CompareAndSwap(0, bufFreeing) {
		return &wrapError{ErrInvalid, fmt.Errorf("FreeFixedBuffer: the buffer at %#x is in use by a pending operation", p)}
	}
	// Unpublished first: a starter that still finds it in the old
	// snapshot sees bufFreeing and ends its operation with ErrInvalid.
	if len(s.bufs) == 1 {
		fx.bufs.Store(nil)
	} else {
		ns := &bufSnap{bufs: make([]*fixedBuf, 0, len(s.bufs)-1), ring: s.ring, vec: s.vec}
		ns.bufs = append(append(ns.bufs, s.bufs[:at]...), s.bufs[at+1:]...)
		fx.bufs.Store(ns)
	}
	if e.backend == BackendIOURing {
		for _, sh := range e.shards {
			// Emptying a slot drops the kernel's pins once no request
			// uses it; none does (the use count was 0). An error leaves
			// the slot filled: the next buffer in it replaces it.
			sh.(registrar).UpdateBuffer(uint32(fb.index), nil, 0)
		}
	}
	fx.bufFree = append(fx.bufFree, fb.index)
	fx.locked -= int64(len(fb.mem))
	return unix.Munmap(fb.mem)
}

// RegisterFD registers descriptor fd in every ring's fixed file table:
// the operations started on fd afterwards (ReadAt, WriteAt, Fsync, Recv,
// Send, Accept, Connect) name it by its slot (IOSQE_FIXED_FILE), which
// spares the kernel a descriptor lookup and a file reference per
// operation. The table holds its own reference to the file: close a
// registered descriptor with Engine.CloseFD, which unregisters it first,
// or UnregisterFD it before closing it, or the table keeps the file open
// and the number, once reused, still reaches the old file through the
// engine. The exception is an Accept that waits: the engine's multishot
// accept serves it, one request that outlives the operation, armed on
// the number; so close a registered listener with CloseFD, or unregister
// it first, as any other. A descriptor that is not open, and one already
// registered, is ErrInvalid. On the portable backend nothing is
// registered, with the same errors.
func (e *Engine) RegisterFD(fd int) error {
	if fd < 0 || fd > math.MaxInt32 {
		return &wrapError{ErrInvalid, fmt.Errorf("RegisterFD(%d): not a descriptor", fd)}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return &wrapError{ErrInvalid, fmt.Errorf("RegisterFD(%d): %w", fd, err)}
	}
	fx := &e.fixed
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.closed || e.closed.Load() {
		return ErrClosed
	}
	if fx.byFD[int32(fd)] != nil {
		return &wrapError{ErrInvalid, fmt.Errorf("RegisterFD(%d): already registered", fd)}
	}
	f := &fixedFile{fd: int32(fd)}
	if e.backend == BackendIOURing {
		if err := e.fileSlotLocked(f); err != nil {
			return err
		}
	}
	if fx.byFD == nil {
		fx.byFD = make(map[int32]*fixedFile)
	}
	fx.byFD[f.fd] = f
	fx.publishFilesLocked(e)
	return nil
}

// fileSlotLocked gives f a slot and fills it on every ring, registering
// the tables on first use.
func (e *Engine) fileSlotLocked(f *fixedFile) error {
	fx := &e.fixed
	if fx.fileTable == nil {
		fx.fileTable = make([]bool, len(e.shards))
	}
	for i, sh := range e.shards {
		if fx.fileTable[i] {
			continue
		}
		if err := sh.(registrar).RegisterFileTable(fixedFileSlots); err != nil {
			if e.closed.Load() {
				return ErrClosed
			}
			return fmt.Errorf("aio: RegisterFD(%d): registering the ring's file table of %d slots: %w", f.fd, fixedFileSlots, err)
		}
		fx.fileTable[i] = true
	}
	switch {
	case len(fx.fileFree) > 0:
		f.index = fx.fileFree[len(fx.fileFree)-1]
		fx.fileFree = fx.fileFree[:len(fx.fileFree)-1]
	case fx.fileNext < fixedFileSlots:
		f.index = fx.fileNext
		fx.fileNext++
	default:
		return &wrapError{ErrInvalid, fmt.Errorf("RegisterFD(%d): the engine's file tables are full (%d descriptors)", f.fd, fixedFileSlots)}
	}
	for i, sh := range e.shards {
		if err := sh.(registrar).UpdateFile(f.index, f.fd); err != nil {
			for _, done := range e.shards[:i] {
				done.(registrar).UpdateFile(f.index, -1)
			}
			fx.fileFree = append(fx.fileFree, f.index)
			if e.closed.Load() {
				return ErrClosed
			}
			if err == syscall.EBADF {
				return &wrapError{ErrInvalid, fmt.Errorf("RegisterFD(%d): %w", f.fd, err)}
			}
			return fmt.Errorf("aio: RegisterFD(%d): %w", f.fd, err)
		}
	}
	return nil
}

// publishFilesLocked publishes a copy of byFD for starters (io_uring only).
func (fx *fixedRes) publishFilesLocked(e *Engine) {
	if e.backend != BackendIOURing {
		return
	}
	if len(fx.byFD) == 0 {
		fx.files.Store(nil)
		return
	}
	m := make(map[int32]*fixedFile, len(fx.byFD))
	for fd, f := range fx.byFD {
		m[fd] = f
	}
	fx.files.Store(&fileSnap{byFD: m})
}

// UnregisterFD undoes RegisterFD: operations started on fd afterwards use
// the descriptor itself. Operations already started with the
// registration go on with the file they named and end with their own
// result; the table lets go of the file (and its slot is reused) when the
// last of them has ended. fd not registered is ErrInvalid.
func (e *Engine) UnregisterFD(fd int) error {
	fx := &e.fixed
	fx.mu.Lock()
	if fx.closed {
		fx.mu.Unlock()
		return ErrClosed
	}
	f := fx.byFD[int32(fd)]
	if f == nil || fd < 0 || fd > math.MaxInt32 {
		fx.mu.Unlock()
		return &wrapError{ErrInvalid, fmt.Errorf("UnregisterFD(%d): not registered", fd)}
	}
	delete(fx.byFD, f.fd)
	fx.publishFilesLocked(e)
	isRing := e.backend == BackendIOURing
	fx.mu.Unlock()
	if !isRing {
		return nil
	}
	// After the new snapshot: a starter that still finds f either took
	// its use before fileGone (and the last use to end empties the slot)
	// or sees fileGone and uses the descriptor itself.
	if f.state.Or(fileGone)&^fileGone == 0 && f.state.CompareAndSwap(fileGone, fileGone|fileClaimed) {
		e.clearFile(f)
	}
	return nil
}

// unregisterForClose unregisters fd, if it is registered, before it is
// closed (Engine.CloseFD and Aio.CloseFD).
func (e *Engine) unregisterForClose(fd int) {
	if e.fixed.files.Load() == nil && e.backend == BackendIOURing {
		return
	}
	// Looked up first: UnregisterFD's error for a descriptor that is not
	// registered allocates, and Aio.CloseFD allocates nothing.
	fx := &e.fixed
	fx.mu.Lock()
	registered := fd >= 0 && fd <= math.MaxInt32 && fx.byFD[int32(fd)] != nil
	fx.mu.Unlock()
	if registered {
		e.UnregisterFD(fd)
	}
}

// dropFile ends one use of f; the last use of an unregistered descriptor
// empties its slot, on a goroutine of its own since the caller may hold
// an Aio's lock (no blocking system call runs under one).
func (e *Engine) dropFile(f *fixedFile) {
	if f.state.Add(-1) == fileGone && f.state.CompareAndSwap(fileGone, fileGone|fileClaimed) {
		e.fixed.clearing.Add(1)
		go func() {
			defer e.fixed.clearing.Done()
			e.clearFile(f)
		}()
	}
}

// clearFile empties f's slot on every ring and makes it reusable. Exactly
// one goroutine calls it per registration: the one that claimed it.
func (e *Engine) clearFile(f *fixedFile) {
	fx := &e.fixed
	fx.mu.Lock()
	defer fx.mu.Unlock()
	if fx.closed {
		return // the rings are gone, and their tables with them
	}
	for _, sh := range e.shards {
		// An error (the ring is closing) leaves the slot filled; nobody
		// names it any more, and the ring's teardown drops it.
		sh.(registrar).UpdateFile(f.index, -1)
	}
	fx.fileFree = append(fx.fileFree, f.index)
}

// closeFixed frees every registered buffer and forgets every descriptor,
// once the rings are closed (Close). It waits for the goroutines that
// empty slots.
func (e *Engine) closeFixed() {
	fx := &e.fixed
	fx.mu.Lock()
	fx.closed = true
	if s := fx.bufs.Load(); s != nil {
		for _, b := range s.bufs {
			unix.Munmap(b.mem)
		}
	}
	fx.bufs.Store(nil)
	fx.files.Store(nil)
	fx.byFD = nil
	fx.mu.Unlock()
	fx.clearing.Wait()
}

// fixedLocked looks up the registered resources of the operation a.desc
// describes and takes a use of each (dropped by finishLocked). On
// io_uring it marks the description so that the ring names them: the
// registered descriptor by its slot, the registered buffer by its index
// for a read or write. It fails only when the IOV lies in a buffer being
// freed.
func (a *Aio) fixedLocked() error {
	d := &a.desc
	fx := &a.e.fixed
	if s := fx.files.Load(); s != nil && d.FD >= 0 {
		switch d.Kind {
		case op.Read, op.Write, op.Fsync, op.Recv, op.Send, op.Accept, op.Connect,
			op.Fdatasync, op.Fallocate: // not Close, OpenAt or Statx: the kernel refuses a fixed file there
			if f := s.byFD[d.FD]; f != nil {
				if f.state.Add(1)&fileGone == 0 {
					a.fixed.file = f
					d.FixedFile, d.FileIndex = true, f.index
				} else {
					a.e.dropFile(f) // unregistered meanwhile: the descriptor itself
				}
			}
		}
	}
	if s := fx.bufs.Load(); s != nil {
		switch d.Kind {
		case op.Read, op.Write, op.Recv, op.Send,
			op.SendTo, op.RecvFrom: // a datagram's IOV too: FreeFixedBuffer must refuse it meanwhile
			return a.fixedBufsLocked(s, d)
		}
	}
	return nil
}

// fixedBufsLocked takes a use of every registered buffer that d's buffers
// lie in, so that FreeFixedBuffer refuses it meanwhile, and marks a read
// or write whose buffers all lie wholly inside one of them.
func (a *Aio) fixedBufsLocked(s *bufSnap, d *op.Desc) error {
	rw := s.ring && (d.Kind == op.Read || d.Kind == op.Write)
	if d.NVec == 0 {
		if d.Iov.Len == 0 {
			return nil
		}
		b, whole := s.find(uintptr(unsafe.Pointer(d.Iov.Base)), uint64(d.Iov.Len)) // Len: 32 bits on 32-bit targets
		if b == nil {
			return nil
		}
		if !b.take() {
			return &wrapError{ErrInvalid, errFreedBuffer}
		}
		a.fixed.buf = b
		if rw && whole {
			d.FixedBuf, d.BufIndex = true, b.index
		}
		return nil
	}
	x := a.extra()
	var one *fixedBuf
	same := true
	for _, v := range d.Vecs() {
		if v.Len == 0 {
			same = false
			continue
		}
		b, whole := s.find(uintptr(unsafe.Pointer(v.Base)), uint64(v.Len))
		if b == nil || !whole || (one != nil && b != one) {
			same = false
		}
		if b == nil {
			continue
		}
		if !b.take() {
			return &wrapError{ErrInvalid, errFreedBuffer}
		}
		x.fixedVec[a.fixed.nvec] = b
		a.fixed.nvec++
		one = b
	}
	if rw && s.vec && same && one != nil {
		d.FixedBuf, d.BufIndex = true, one.index
	}
	return nil
}

var errFreedBuffer = fmt.Errorf("the IOV lies in a registered buffer that FreeFixedBuffer is freeing")

// dropFixedLocked ends the uses the operation took (finishLocked).
func (a *Aio) dropFixedLocked() {
	u := &a.fixed
	if u.buf != nil {
		u.buf.state.Add(-1)
	}
	for i := range u.nvec {
		a.x.fixedVec[i].state.Add(-1)
		a.x.fixedVec[i] = nil
	}
	if u.file != nil {
		a.e.dropFile(u.file)
	}
	*u = fixedUse{}
}
