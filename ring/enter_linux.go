//go:build linux

package ring

import (
	"errors"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Submit publishes the filled SQEs and hands them to the kernel without
// waiting. It returns how many the kernel consumed.
func (r *Ring) Submit() (int, error) {
	return r.SubmitAndWait(0)
}

// SubmitAndWait publishes the filled SQEs, submits them, and waits until at
// least waitNr CQEs are ready. It also flushes overflowed CQEs and runs
// deferred task work when the kernel asks for that. Signals (EINTR) are
// retried; the wait is then resumed.
func (r *Ring) SubmitAndWait(waitNr uint32) (int, error) {
	toSubmit := r.flush()
	n, err := r.EnterPublished(toSubmit, waitNr, waitNr > 0)
	// A combined submit and wait reports the number submitted even when a
	// signal cut the wait short, so it can return with fewer than waitNr
	// CQEs; resume waiting until they are there.
	for err == nil && waitNr > 0 && r.CQReady() < waitNr {
		_, err = r.enter(0, waitNr, EnterGetEvents, nil, 0, true)
	}
	return n, err
}

// Publish makes the SQEs filled since the last Publish (or Submit) visible
// to the kernel and returns how many published SQEs it has not consumed
// yet. Like GetSQE it must not run concurrently with other SQ writers;
// EnterPublished may then be called by any goroutine, without that
// exclusion, to hand them over: the kernel consumes only what the tail
// shows, and serialises concurrent submitters itself.
func (r *Ring) Publish() uint32 { return r.flush() }

// EnterPublished submits up to toSubmit published SQEs (see Publish) and,
// when waitNr > 0, waits for that many CQEs. It flushes overflowed CQEs
// when the kernel asks for that and wakes an SQPOLL thread that sleeps.
//
// mayBlock selects the system call: io_uring_enter that only submits
// returns without sleeping, but it runs inline whatever can complete at
// once, and that can be long (a page-cache copy of a large read). With
// mayBlock false it is issued with RawSyscall, which skips the scheduler's
// bookkeeping (about 80 ns, and no sysmon wakeup on an idle process) but
// keeps this thread's P, and a stop-the-world waits for it; callers pass
// true when the submission may hold long inline work, and for waits.
func (r *Ring) EnterPublished(toSubmit, waitNr uint32, mayBlock bool) (int, error) {
	var flags uint32
	if waitNr > 0 || r.NeedsFlush() {
		flags |= EnterGetEvents
	}
	if r.params.Flags&SetupSQPoll != 0 {
		// With SQPOLL the kernel thread submits; an enter is needed only to
		// wait, or to wake the thread when it has gone to sleep (it then
		// sets NEED_WAKEUP and ignores new SQEs until IORING_ENTER_SQ_WAKEUP).
		// The tail store in flush (sequentially consistent with SQPOLL
		// alone) and this load are both sequentially consistent, so a
		// thread that sleeps after missing the new tail has set the flag
		// by the time we look (liburing's io_uring_smp_mb in
		// sq_ring_needs_enter).
		if toSubmit > 0 && r.SQFlags()&SQNeedWakeup != 0 {
			flags |= EnterSQWakeup
		}
		if flags == 0 {
			return int(toSubmit), nil
		}
	}
	if toSubmit == 0 && flags == 0 {
		return 0, nil
	}
	return r.enter(toSubmit, waitNr, flags, nil, 0, mayBlock || waitNr > 0)
}

// SubmitAndWaitTimeout is SubmitAndWait with a bound on the wait. It returns
// syscall.ETIME when d passes before waitNr CQEs are ready. It needs
// IORING_FEAT_EXT_ARG (5.11).
func (r *Ring) SubmitAndWaitTimeout(waitNr uint32, d time.Duration) (int, error) {
	toSubmit := r.flush()
	r.waitTs.SetNanoseconds(int64(max(d, 0)))
	r.enterArg = GetEventsArg{Ts: uint64(uintptr(unsafe.Pointer(&r.waitTs)))}
	return r.enter(toSubmit, waitNr, EnterGetEvents|EnterExtArg, unsafe.Pointer(&r.enterArg), unsafe.Sizeof(r.enterArg), true)
}

// WaitFor waits up to d for at least one CQE, submitting nothing, and
// reports whether the CQ holds one when it returns (a wait the bound
// ends returns false with a nil error; a signal restarts the wait with
// the whole bound, as enter's EINTR retry does, so d is not a hard
// limit). It runs
// whatever task_work the kernel queued on this thread meanwhile, which is
// how completions of requests this thread submitted get posted. Unlike
// the other methods it may run beside submitters on other goroutines
// (the kernel serialises entries), but not beside another WaitFor: its
// wait argument is the Ring's. It always enters the kernel (with CQEs
// already there it returns at once); callers that would rather not look
// at CQReady first. It needs IORING_FEAT_EXT_ARG (5.11) and returns
// errors.ErrUnsupported without it.
func (r *Ring) WaitFor(d time.Duration) (bool, error) {
	if r.params.Features&FeatExtArg == 0 {
		return false, errors.ErrUnsupported
	}
	r.forTs.SetNanoseconds(int64(max(d, 0)))
	r.forArg = GetEventsArg{Ts: uint64(uintptr(unsafe.Pointer(&r.forTs)))}
	_, err := r.enter(0, 1, EnterGetEvents|EnterExtArg, unsafe.Pointer(&r.forArg), unsafe.Sizeof(r.forArg), true)
	if err == syscall.ETIME {
		err = nil
	}
	return r.CQReady() != 0, err
}

// enter calls io_uring_enter. It retries EINTR: the kernel returns it only
// when it consumed nothing, so the retry neither loses nor repeats SQEs.
// With EXT_ARG the timespec is relative, so a retried wait can outlast the
// caller's bound by the time spent before the signal; callers that need a
// hard bound check the clock themselves.
func (r *Ring) enter(toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize uintptr, mayBlock bool) (int, error) {
	for {
		var n uintptr
		var errno syscall.Errno
		if !mayBlock {
			// Nothing to wait for and nothing long inline: the kernel
			// submits (work that would block goes to io-wq or the poll
			// path) and returns. RawSyscall skips the scheduler's syscall
			// bookkeeping, about 80 ns, and does not wake sysmon.
			n, _, errno = syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit),
				uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
		} else {
			// A wait, or a submission whose inline work can be long:
			// only Syscall lets the scheduler hand this thread's P to
			// other goroutines meanwhile, and lets a GC stop the world.
			n, _, errno = syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit),
				uintptr(minComplete), uintptr(flags), uintptr(arg), argSize)
		}
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}
