//go:build linux

package ring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// FallbackOrder returns the order in which New gives up setup flags the
// kernel rejects: the newest and least essential first, as liburing and
// fio do. The slice is a copy: the order New uses cannot be changed.
func FallbackOrder() []SetupFlags { return append([]SetupFlags(nil), fallbackOrder...) }

var fallbackOrder = []SetupFlags{
	SetupNoSQArray,                      // 6.6
	SetupDeferTaskrun,                   // 6.1
	SetupSingleIssuer,                   // 6.0
	SetupTaskrunFlag | SetupCoopTaskrun, // 5.19
	SetupSubmitAll,                      // 5.18
	SetupClamp,
	SetupCQSize,
}

// Ring is one io_uring instance and its three shared mappings.
//
// Ownership: all methods must be called from one goroutine at a time; with
// SINGLE_ISSUER, from the OS thread that created the ring.
type Ring struct {
	fd       int
	params   Params
	sqMem    []byte // SQ ring (and the CQ ring with FEAT_SINGLE_MMAP)
	cqMem    []byte // CQ ring when mapped separately; nil otherwise
	sqesMem  []byte // the SQE array
	closed   bool
	enterArg GetEventsArg // reused by SubmitAndWaitTimeout; heap, so its address is stable
	waitTs   sqe.Timespec
	forArg   GetEventsArg // WaitFor's own, so that it may run beside a submitter
	forTs    sqe.Timespec

	// Submission queue. Words shared with the kernel are only touched
	// through sync/atomic.
	sqHead    *uint32 // written by the kernel as it consumes SQEs
	sqTail    *uint32 // written by us: store-release publishes filled SQEs
	sqFlags   *uint32 // IORING_SQ_* written by the kernel
	sqDropped *uint32
	sqMask    uint32
	sqEntries uint32
	sqes      []sqe.SQE
	// sqeTail is the next SQE we hand out; entries in [published, sqeTail)
	// are filled but not yet visible to the kernel.
	sqeTail   uint32
	published uint32

	// Completion queue.
	cqHead     *uint32 // written by us: store-release frees CQ slots
	cqTail     *uint32 // written by the kernel: load-acquire before reading CQEs
	cqOverflow *uint32
	cqMask     uint32
	cqEntries  uint32
	cqes       []CQE
}

// New creates and maps an io_uring.
func New(opt Options) (*Ring, error) {
	if unsafe.Sizeof(uintptr(0)) != 8 || !littleEndian() {
		return nil, errors.Join(errors.ErrUnsupported, errors.New("io_uring: aioring supports 64-bit little-endian Linux only"))
	}
	if opt.Entries == 0 {
		return nil, fmt.Errorf("io_uring: Entries must be at least 1: %w", syscall.EINVAL)
	}
	if opt.Entries > MaxEntries {
		return nil, fmt.Errorf("io_uring: Entries %d exceeds the kernel's maximum %d: %w", opt.Entries, MaxEntries, syscall.EINVAL)
	}
	flags := opt.Flags
	if opt.CQEntries != 0 {
		flags |= SetupCQSize
	}
	var (
		p     Params
		fd    int
		errno syscall.Errno
	)
	for i := 0; ; i++ {
		p = Params{Flags: flags, SQThreadIdle: opt.SQThreadIdle}
		if flags&SetupCQSize != 0 {
			p.CQEntries = opt.CQEntries
		}
		fd, errno = setup(opt.Entries, &p)
		if errno != syscall.EINVAL {
			break
		}
		// Drop the next flag we asked for; stop when nothing is left to drop.
		dropped := false
		for ; i < len(fallbackOrder); i++ {
			if flags&fallbackOrder[i] != 0 {
				flags &^= fallbackOrder[i]
				dropped = true
				break
			}
		}
		if !dropped {
			break
		}
	}
	if errno != 0 {
		return nil, diagnoseSetup(errno)
	}
	r := &Ring{fd: fd, params: p}
	if err := r.mmap(); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return r, nil
}

func setup(entries uint32, p *Params) (int, syscall.Errno) {
	fd, _, errno := syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	return int(fd), errno
}

func (r *Ring) mmap() error {
	p := &r.params
	sqSize := uintptr(p.SQOff.Array) + uintptr(p.SQEntries)*4
	if p.Flags&SetupNoSQArray != 0 {
		// No index array: the ring ends where the kernel's rings struct ends,
		// which the CQ size below covers (both rings share one struct).
		sqSize = uintptr(p.SQOff.Flags) + 4
	}
	cqSize := uintptr(p.CQOff.CQEs) + uintptr(p.CQEntries)*unsafe.Sizeof(CQE{})
	single := p.Features&FeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
		cqSize = sqSize
	}
	var err error
	r.sqMem, err = unix.Mmap(r.fd, offSQRing, int(sqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("io_uring: mmap SQ ring: %w", err)
	}
	cqMem := r.sqMem
	if !single {
		r.cqMem, err = unix.Mmap(r.fd, offCQRing, int(cqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			r.unmap()
			return fmt.Errorf("io_uring: mmap CQ ring: %w", err)
		}
		cqMem = r.cqMem
	}
	r.sqesMem, err = unix.Mmap(r.fd, offSQEs, int(p.SQEntries)*sqe.Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.unmap()
		return fmt.Errorf("io_uring: mmap SQEs: %w", err)
	}

	sq := unsafe.Pointer(&r.sqMem[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.SQOff.Head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.SQOff.Tail))
	r.sqFlags = (*uint32)(unsafe.Add(sq, p.SQOff.Flags))
	r.sqDropped = (*uint32)(unsafe.Add(sq, p.SQOff.Dropped))
	// ring_mask and ring_entries never change after setup: read them once.
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.SQOff.RingMask))
	r.sqEntries = *(*uint32)(unsafe.Add(sq, p.SQOff.RingEntries))
	r.sqes = unsafe.Slice((*sqe.SQE)(unsafe.Pointer(&r.sqesMem[0])), p.SQEntries)
	if p.Flags&SetupNoSQArray == 0 {
		// Identity map SQ slot i to SQE i once, as liburing does; we then
		// hand out SQEs strictly in ring order.
		array := unsafe.Slice((*uint32)(unsafe.Add(sq, p.SQOff.Array)), p.SQEntries)
		for i := range array {
			array[i] = uint32(i)
		}
	}
	r.sqeTail = atomic.LoadUint32(r.sqTail)
	r.published = r.sqeTail

	cq := unsafe.Pointer(&cqMem[0])
	r.cqHead = (*uint32)(unsafe.Add(cq, p.CQOff.Head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.CQOff.Tail))
	r.cqOverflow = (*uint32)(unsafe.Add(cq, p.CQOff.Overflow))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.CQOff.RingMask))
	r.cqEntries = *(*uint32)(unsafe.Add(cq, p.CQOff.RingEntries))
	r.cqes = unsafe.Slice((*CQE)(unsafe.Add(cq, p.CQOff.CQEs)), p.CQEntries)
	return nil
}

func (r *Ring) unmap() {
	for _, m := range []*[]byte{&r.sqesMem, &r.cqMem, &r.sqMem} {
		if *m != nil {
			unix.Munmap(*m)
			*m = nil
		}
	}
}

// Close unmaps the ring and closes its descriptor. The kernel cancels what
// is still pending asynchronously and may write to buffers afterwards, so
// the caller must have reaped the CQE of every request it submitted before
// releasing any memory those requests use. Close is idempotent.
func (r *Ring) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.unmap()
	return syscall.Close(r.fd)
}

// Fd returns the ring's file descriptor.
func (r *Ring) Fd() int { return r.fd }

// Params returns the parameters the kernel filled in at setup.
func (r *Ring) Params() Params { return r.params }

// Flags returns the setup flags the kernel accepted.
func (r *Ring) Flags() SetupFlags { return r.params.Flags }

// Features returns the IORING_FEAT_* bits.
func (r *Ring) Features() Features { return r.params.Features }

// SQEntries and CQEntries return the queue sizes the kernel chose.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries returns the completion queue size.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}
