package aio

// Files by name, metadata and durability (issue 18): OpenAt, Statx,
// CloseFD, Fdatasync, Fallocate, and FD. On io_uring they are
// IORING_OP_OPENAT, STATX, CLOSE, FSYNC with IORING_FSYNC_DATASYNC and
// FALLOCATE (each checked against the kernel's probe: a missing one ends
// with ErrUnsupported through the callback); on the portable backend,
// blocking calls on its bounded file workers (docs/design.md, "Files by
// name"). The kernel runs all of them but CLOSE in io-wq, where a
// LINK_TIMEOUT only starts once the call has returned, so their timeouts
// are the Aio's own timer, which cancels them (armLocked).

import (
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// The files-by-name operations. Numbered from 32, apart from the other
// operations (see name).
const (
	opOpenAt opKind = iota + 32
	opStatx
	opClose
	opFdatasync
	opFallocate
)

var fileOpNames = [...]string{opOpenAt - 32: "OpenAt", opStatx - 32: "Statx", opClose - 32: "CloseFD",
	opFdatasync - 32: "Fdatasync", opFallocate - 32: "Fallocate"}

// name is the public name of the operation, for panics.
func (k opKind) name() string {
	if k >= opOpenAt && k <= opFallocate {
		return fileOpNames[k-opOpenAt]
	}
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return "operation"
}

// fileArgs carries a files-by-name operation's arguments from its start
// method to buildLocked (on the starter's stack).
type fileArgs struct {
	path   string
	flags  uint32
	mode   uint32
	st     unsafe.Pointer // Statx's *unix.Statx_t (ops_file_linux.go)
	length int64
}

// fileExtra is an Aio's state for the files-by-name operations.
type fileExtra struct {
	// path is the NUL-terminated copy of the last path, grown as needed
	// and reused, so an operation with a path allocates nothing once it
	// has held one as long. It is pinned while an operation uses it; the
	// next operation may overwrite it only after that one has ended
	// (one operation at a time), and the portable backend copies it
	// into its own state at Queue.
	path []byte
}

// OpenAt opens path relative to directory dirfd (unix.AT_FDCWD: the
// working directory), as openat(2) with flags and mode. The descriptor is
// close-on-exec (O_CLOEXEC is always added); on success FD holds it and it
// is the caller's to close. An OpenAt that is cancelled or times out while
// the kernel completes the open anyway reports its real result (nil, and
// the descriptor in FD): nothing is leaked. A zero timeout ends it with
// ErrTimedOut at once, as openat has no non-blocking form. A path with a
// NUL byte gives ErrInvalid.
//
// Reusing the same Aio allocates nothing once its path buffer has grown to
// the longest path it has opened.
//
// A FIFO: on io_uring the kernel first tries the open without blocking, so
// an open of a FIFO whose path it finds cached does not wait for the other
// end (write-only: ENXIO), where openat(2) and the portable backend wait
// (docs/design.md, "Files by name").
func (a *Aio) OpenAt(dirfd int, path string, flags int, mode uint32) {
	fa := fileArgs{path: path, flags: uint32(flags) | unix.O_CLOEXEC, mode: mode}
	a.startKernelFile(opOpenAt, dirfd, 0, nil, &fa)
}

// CloseFD closes fd. First it ends fd's state in the engine, as
// Engine.CloseFD does (a descriptor registered with RegisterFD is
// unregistered, RecvMsg or Accept calls waiting on fd end with
// ErrClosed, its queued messages and descriptors go back, a multishot
// request on it is cancelled and the socket shut down); then close(2) runs
// as the operation, and its result is the operation's.
//
// fd is closed whatever the operation's result, as close(2) releases a
// descriptor even when it reports an error: when the operation ends
// before its close could run (a stopped Aio, a closed engine, an expiry
// already past, a Cancel that took it first), fd is closed all the same,
// and a zero timeout does not refuse it. So never use or close fd again
// after CloseFD.
func (a *Aio) CloseFD(fd int) {
	if fd >= 0 && fd <= math.MaxInt32 {
		a.e.unregisterForClose(fd) // a registered descriptor first leaves the rings' tables
		a.e.msgs.endFD(fd)
	}
	a.startKernelFile(opClose, fd, 0, nil, nil)
}

// Fdatasync flushes fd's data to storage, and of its metadata only what
// reading the data back needs (fdatasync(2)). A zero timeout makes it end
// with ErrTimedOut at once. It is carried out as Fsync is.
func (a *Aio) Fdatasync(fd int) {
	if !a.syncBeside(opFdatasync, fd) {
		a.startKernelFile(opFdatasync, fd, 0, nil, nil)
	}
}

// Fallocate allocates (or, with mode's FALLOC_FL_* flags, punches or
// zeroes) length bytes of fd from off, as fallocate(2).
func (a *Aio) Fallocate(fd int, mode uint32, off, length int64) {
	fa := fileArgs{mode: mode, length: length}
	a.startKernelFile(opFallocate, fd, off, nil, &fa)
}

// FD returns the descriptor the last operation produced: after an OpenAt
// or an Accept that succeeded, the new descriptor, which is the caller's;
// -1 otherwise (an operation in progress, a failure, another operation).
func (a *Aio) FD() int {
	a.mu.Lock()
	fd := int(a.newFD) - 1
	a.mu.Unlock()
	return fd
}

// buildFileLocked describes a files-by-name kind in a.desc (buildLocked
// set its FD and Token) and pins its path and statx buffer until the
// operation ends.
func (a *Aio) buildFileLocked(kind opKind, off int64, fa *fileArgs) error {
	d := &a.desc
	switch kind {
	case opOpenAt, opStatx:
		if kind == opStatx && fa.st == nil {
			return ErrInvalid
		}
		if strings.IndexByte(fa.path, 0) >= 0 {
			return ErrInvalid
		}
		x := a.extra()
		if n := len(fa.path) + 1; cap(x.file.path) < n {
			x.file.path = make([]byte, n, max(n, 2*cap(x.file.path)))
		}
		p := x.file.path[:len(fa.path)+1]
		copy(p, fa.path)
		p[len(fa.path)] = 0
		d.Path, d.Flags, d.Mode = p, fa.flags, fa.mode
		d.Kind = op.OpenAt
		if kind == opStatx {
			d.Kind, d.Stat = op.Statx, fa.st
		}
		if !a.noPin { // an inline Statx's own system call needs no pin
			a.pinOtherLocked(&p[0])
			if kind == opStatx {
				a.pinOtherLocked(fa.st)
			}
		}
	case opClose:
		d.Kind = op.Close
	case opFdatasync:
		d.Kind = op.Fdatasync
	case opFallocate:
		d.Kind, d.Mode, d.Off, d.Length = op.Fallocate, fa.mode, off, fa.length
	default:
		return ErrInvalid
	}
	return nil
}

// closeRefused closes fd for a CloseFD that ended before reaching its
// backend (see CloseFD), on the starter, with no lock held. Nothing else
// can have been given fd's number meanwhile: fd was open until here.
func closeRefused(fd int) {
	if fd >= 0 && fd <= math.MaxInt32 {
		syscall.Close(fd)
	}
}

// closeRingFD closes fd with close(2) if it is an io_uring instance's
// descriptor, and reports whether it did. IORING_OP_CLOSE refuses those
// (EBADF) and leaves them open, where CloseFD promises close(2): a
// CloseFD of another library's ring must not leak it. Only for a ring
// CLOSE that gave EBADF: the number is still the caller's if it names a
// ring, and a number that is not open (or that now names another file)
// is left alone.
func closeRingFD(fd int32) bool {
	if fd < 0 {
		return false
	}
	l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd)))
	if err != nil || l != "anon_inode:[io_uring]" {
		return false
	}
	return syscall.Close(int(fd)) == nil
}

// statxAdapt decides, per engine, where a Statx of a path goes (decision
// 28): made by the starter while the lookups are served from memory, and
// through the ring (an io-wq worker) for the next statxRingAfterSlow
// after an Aio's statx(2) calls took longer than statxSlow
// statxSlowInARow times in a row, which is lookups that read the disk:
// their starter, often a reaper running a chain, waited for them. Then
// the starter tries again. A single slow call is not enough (decision
// 35): a thread preempted during its call looks the same, and on a busy
// machine that happened often enough to send a warm tree's stats through
// io-wq, at several times the cost; its next call is fast, where a cold
// tree's are slow one after the other. Beside CPU hogs two in a row still
// happened, and left io-wq's workers behind as threads, so it takes three
// (decision 86). ring counts the Statx still to send to the ring; any
// goroutine may update it (atomics only).
type statxAdapt struct{ ring atomic.Int32 }

const (
	// statxSlow: an inline statx(2) longer than this read the disk (a
	// cached one takes about 1 µs here; a read of the disk, 100 µs or
	// more), or its thread was preempted.
	statxSlow = 50 * time.Microsecond
	// statxSlowInARow: how many slow calls in a row of one Aio send the
	// engine's next Statx to the ring; at most statxRunMask+1, as the
	// run is counted in the state's low bits.
	statxSlowInARow = 3
	// statxRingAfterSlow: how many path Statx go through the ring after
	// that, so a cold tree pays for a blocked starter about once per
	// that many.
	statxRingAfterSlow = 256
)

// tryInline reports whether the next Statx of a path is made by its
// starter.
func (sa *statxAdapt) tryInline() bool {
	if sa.ring.Load() <= 0 {
		return true
	}
	sa.ring.Add(-1)
	return false
}

// statxTimeEvery: an Aio times one inline statx(2) of a path in this many
// (a power of two of at most 64), and every one that follows a slow one:
// two clock reads per call were 6-8% of a warm Statx's cost (decision 67).
// A cold tree is still found after about as many calls as when every call
// was timed: an Aio's second call comes only after the other Aios' calls
// (64 in the bench's chains), and by then some Aio's sampled call has
// been slow.
const statxTimeEvery = 8

// The Aio's statx state (Aio.statxSlowRun, under its mu): bits 0-1 its
// slow calls in a row (up to statxSlowInARow), bits 2-7 its untimed calls
// since the last timed one.
const (
	statxRunMask  = 3
	statxSkipUnit = 4
)

// timeNext reports whether an Aio whose statx state is st times its next
// inline statx(2): after a slow one, or at its turn.
func (sa *statxAdapt) timeNext(st uint8) bool {
	return st&statxRunMask != 0 || (st/statxSkipUnit)%statxTimeEvery == 0
}

// untimed records an inline statx(2) that was not timed.
func (sa *statxAdapt) untimed(st *uint8) {
	skip := (*st/statxSkipUnit + 1) % statxTimeEvery
	*st = *st&statxRunMask | skip*statxSkipUnit
}

// took records how long an Aio's timed inline statx(2) took; st is that
// Aio's statx state. A slow call starts or extends the Aio's run; the
// run's statxSlowInARow-th sends the engine's next Statx to the ring.
func (sa *statxAdapt) took(st *uint8, d time.Duration) {
	skip := (*st/statxSkipUnit + 1) % statxTimeEvery
	run := *st & statxRunMask
	switch {
	case d <= statxSlow:
		run = 0
	case run+1 >= statxSlowInARow:
		run = 0
		sa.ring.Store(statxRingAfterSlow)
	default:
		run++
	}
	*st = run | skip*statxSkipUnit
}
