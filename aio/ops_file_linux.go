//go:build linux

package aio

import (
	"time"
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// Statx fills st with the status of path relative to dirfd, as statx(2)
// with flags (unix.AT_SYMLINK_NOFOLLOW, unix.AT_EMPTY_PATH, ...) and mask
// (unix.STATX_BASIC_STATS, ...). st is filled before the callback runs,
// and not touched after it; it must not be read or written while the
// operation runs. A nil st or a path with a NUL byte gives ErrInvalid. A
// Statx of an open descriptor (AT_EMPTY_PATH, empty path) is a statx(2)
// on the starting goroutine, as every Statx is with Config.StatxInline:
// it completes at once, so a zero timeout lets it run; through the ring,
// a zero timeout gives ErrTimedOut at once. (statx and unix.Statx_t are
// Linux's: there is no Statx on other systems.)
func (a *Aio) Statx(dirfd int, path string, flags, mask int, st *unix.Statx_t) {
	fa := fileArgs{path: path, flags: uint32(flags), mode: uint32(mask), st: unsafe.Pointer(st)}
	switch {
	case a.e.cfg.StatxInline || (path == "" && flags&unix.AT_EMPTY_PATH != 0 && !a.e.cfg.RingOnly):
		// The status of an open descriptor walks no path: its inode is
		// in memory, and the call is cheaper made here than as an
		// IORING_OP_STATX, which the kernel always hands to an io-wq
		// worker (docs/design.md, decision 24).
		a.statxInline(dirfd, &fa, false)
	case !a.e.cfg.RingOnly && a.e.statxPaths.tryInline():
		// A path whose lookup the caches are likely to serve (no recent
		// Statx of this engine had to wait): made here too, and timed
		// (decision 28). Not a zero timeout's attempt, which statxInline
		// declines: a lookup may read the disk, and an attempt must not
		// wait; through the ring it ends with ErrTimedOut at once, as
		// statx(2) has no non-blocking form.
		if !a.statxInline(dirfd, &fa, true) {
			a.startKernelFile(opStatx, dirfd, 0, nil, &fa)
		}
	default:
		a.startKernelFile(opStatx, dirfd, 0, nil, &fa)
	}
}

// statxInline is Statx under Config.StatxInline: the operation is begun
// and described as any other (so a stopped Aio, a closed engine, a past
// expiry and bad input end it as usual), then the starter makes the
// statx(2) itself, with no lock held, and ends it with the call's result
// as a backend would (completeRes), which hands the callback to the
// engine's goroutines. While the call runs the operation is in state
// Kernel: an Abort then asks the backend to cancel a token it never had,
// which finds nothing, and the call's result decides. timed (a path's
// Statx, decision 28): the call alone (not the hand-off after it) is
// timed for statxAdapt, and a zero timeout's attempt is declined (false:
// nothing began, the caller sends it through the ring), decided in the
// same critical section that begins the operation.
func (a *Aio) statxInline(dirfd int, fa *fileArgs, timed bool) bool {
	d, ok, declined, clock := a.beginInline(opStatx, dirfd, fa, timed)
	if declined {
		return false
	}
	if !ok {
		return true
	}
	var t0 int64
	if clock {
		t0 = a.e.clock.now() // one clock read, where time.Now makes two
	}
	var r uintptr
	var e unix.Errno
	for {
		// The path and the buffer are pinned until the operation ends,
		// which only completeRes below does (short of a broken ring).
		r, _, e = unix.Syscall6(unix.SYS_STATX, uintptr(d.FD), uintptr(unsafe.Pointer(&d.Path[0])),
			uintptr(d.Flags), uintptr(d.Mode), uintptr(d.Stat), 0)
		if e != unix.EINTR {
			break
		}
	}
	var took time.Duration
	if clock {
		took = time.Duration(a.e.clock.now() - t0)
	}
	res := int32(r)
	if e != 0 {
		res = -int32(e)
	}
	a.mu.Lock()
	switch {
	case clock:
		a.e.statxPaths.took(&a.statxSlowRun, took)
	case timed:
		a.e.statxPaths.untimed(&a.statxSlowRun)
	}
	a.completeResAndUnlock(sqe.UserData(d.Token), op.Result{Res: res}, nil)
	return true
}

// beginInline runs beginInlineLocked under mu (unlocked by defer, also
// when a busy Aio panics) and returns a copy of the description. With
// timed (a Statx of a path) it begins nothing and reports declined when
// the operation would be a zero timeout's attempt (no expiry set, a
// timeout of 0), and it reports clock when the call is to be timed
// (statxAdapt.timeNext).
func (a *Aio) beginInline(kind opKind, fd int, fa *fileArgs, timed bool) (d op.Desc, ok, declined, clock bool) {
	a.mu.Lock()
	defer a.unlock()
	if timed && a.attemptLocked() {
		return d, false, true, false
	}
	if ok = a.beginInlineLocked(kind, fd, fa); ok {
		d = a.desc
	}
	return d, ok, false, timed && a.e.statxPaths.timeNext(a.statxSlowRun)
}

// beginInlineLocked begins kind and describes it, as queueKernelLocked does up
// to the backend: false when it ended at once (its callback is handed
// off). It puts the operation in state Kernel for the inline call.
func (a *Aio) beginInlineLocked(kind opKind, fd int, fa *fileArgs) bool {
	a.beginLocked(kind.name())
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		return false
	}
	if tm := a.timingLocked(); tm.mode == tPast {
		a.finishLocked(ErrTimedOut, 0, nil)
		return false
	}
	// Nothing pinned: the starter's own statx(2) is all that uses the
	// path and the buffer, and it keeps them alive for the call.
	a.noPin = true
	err := a.buildLocked(kind, fd, 0, nil, fa)
	a.noPin = false
	if err != nil {
		a.finishLocked(err, 0, nil)
		return false
	}
	a.state = stateKernel
	return true
}
