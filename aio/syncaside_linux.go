//go:build linux

package aio

import (
	"math"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// syncBeside starts an Fsync or Fdatasync (kind) of fd as a blocking call
// on one of the engine's sync workers, and reports true; false: the
// caller sends it through the backend (see syncaside.go for when), and
// nothing has begun.
func (a *Aio) syncBeside(kind opKind, fd int) bool {
	s := &a.e.aside
	if fx := a.e.fixed.files.Load(); fx != nil && fd >= 0 && fd <= math.MaxInt32 && fx.byFD[int32(fd)] != nil {
		return false // registered: the number may be closed already
	}
	if !s.claim() {
		return false
	}
	j, ok, declined := a.beginBeside(kind, fd)
	switch {
	case declined:
		s.n.Add(-1)
		return false
	case !ok: // ended at once (stopped, closed, bad input): its callback is handed off
		s.n.Add(-1)
		return true
	}
	s.send(j)
	return true
}

// beginBeside begins kind under mu as beginInline does, declining a zero
// timeout's attempt before anything begins, and describes the job.
func (a *Aio) beginBeside(kind opKind, fd int) (j syncJob, ok, declined bool) {
	a.mu.Lock()
	defer a.unlock()
	if a.attemptLocked() {
		return j, false, true
	}
	if ok = a.beginInlineLocked(kind, fd, nil); ok {
		j = syncJob{a: a, fsync: kind == opFsync, fd: a.desc.FD, token: a.desc.Token}
	}
	return j, ok, false
}

// syncThenEnd makes j's call and ends the operation with its result, on
// a sync worker, which then runs the callback itself as a timer's
// goroutine does (timercb.go): no hand-off to a reaper, no wakeup. Its
// place is given back only once that callback has returned, so that a
// callback that blocks holds its own worker and no other sync waits for
// it: past the places taken, syncs go through the ring.
func (a *Aio) syncThenEnd(j syncJob) {
	s := &a.e.aside
	defer s.n.Add(-1)
	if s.hook != nil {
		s.hook(false)
	}
	errno := syncCall(j.fsync, int(j.fd))
	r := op.Result{}
	if errno != 0 {
		r.Res = -int32(errno)
	}
	ud := sqe.UserData(j.token)
	a.mu.Lock()
	if a.state != stateKernel || a.gen&sqe.GenMask != ud.Gen() {
		a.unlock() // not ours to end (short of a broken ring, never)
		return
	}
	a.countDirectLocked(r)
	count, err := a.resultLocked(r)
	a.timerFiring = true // the end's callback is this goroutine's to run (runHere)
	a.finishLocked(err, count, nil)
	a.timerFiring = false
	run := a.claimRunHereLocked()
	a.unlock()
	if s.hook != nil {
		s.hook(true)
	}
	if run {
		a.runTimerCallbacks()
	}
}

// syncCall makes the fsync(2) (or, fsync false, fdatasync(2)) of fd
// that syncThenEnd carries out beside the ring, retrying EINTR. Syscall,
// not RawSyscall: the call waits for the device, and the scheduler must
// hand this thread's P to other goroutines meanwhile.
func syncCall(fsync bool, fd int) unix.Errno {
	nr := uintptr(unix.SYS_FDATASYNC)
	if fsync {
		nr = unix.SYS_FSYNC
	}
	for {
		_, _, e := unix.Syscall(nr, uintptr(fd), 0, 0)
		if e != unix.EINTR {
			return e
		}
	}
}
