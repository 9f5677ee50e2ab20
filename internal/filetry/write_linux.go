//go:build linux

package filetry

// Positioned file writes on the calling goroutine (docs/design.md,
// decision 68). A buffered write whose pages the kernel can take at once
// is a copy into the page cache: pwritev2 with RWF_NOWAIT does it where
// the file system allows (xfs, btrfs), and refuses with EAGAIN where it
// would wait. ext4 (and tmpfs, on this kernel) refuse RWF_NOWAIT for every
// buffered write (EOPNOTSUPP), and io_uring then hands the write to an
// io-wq worker: a cached 4 KiB write costs about five times
// os.File.WriteAt's there. So a descriptor that refused RWF_NOWAIT has its small writes made here with
// a plain pwritev2 at the offset, the system call os.File makes, which
// may wait (for a lock, for reclaim, for a page to be read before a
// partial overwrite, for writeback when too much is dirty): it is timed,
// and an Aio whose writes were slow twice in a row leaves its next
// writeRingAfterSlow writes to its backend, as a Statx of a path does
// (decision 28).
//
// Why a plain pwritev2 here can never block on what is not a file: the
// descriptor just refused RWF_NOWAIT, which pipes, FIFOs and sockets all
// take, and a write at an offset to anything that cannot seek (a
// terminal, a pipe, a socket) fails with ESPIPE before it writes or
// waits. A write at the file position (-1), which nothing refuses so, is
// made here only for a regular file: State.regular says whether to try
// it at all, and fdtype.IsRegular asks again before each write that may
// block (a statx of the type alone: decision 91), unless the Aio's owner
// holds the descriptor open (op.Desc.Held, decision 94); it moves the position
// as os.File.Write's does (decision 90). What refuses RWF_NOWAIT and
// seeks is a file (or a device such as /dev/null), whose write ends when
// the kernel has the data. The
// refusal is remembered per descriptor number until the flags are read
// again (State.refresh), and that is safe for the same reason: a number
// reused for a pipe or socket meanwhile meets ESPIPE and goes to the
// backend.

import (
	"time"
	"unsafe"

	"github.com/aioring/aioring/internal/fdtype"
	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// Tuning of the writes made on the caller.
const (
	// writeSlow: an inline write longer than this waited for longer than
	// an io-wq worker's trip is worth. A cached 4 KiB write takes a
	// microsecond or two, but writes to a file under writeback wait tens
	// to hundreds of microseconds now and then, for the inode's lock
	// behind another writer, the journal or the dirty-page throttle; a
	// worker would wait as long, at more CPU and one thread more, and
	// its writes would hold the same lock against the starters' (at 50
	// µs, the bench's random overwrites sent writes to the ring in every
	// run, decision 92). Shorter than this, the other callbacks of the
	// starter's goroutine wait no longer than the watchdog lets them
	// (completion.watchdogPeriod, 1 ms, hands them on); a file system
	// whose writes wait longer, twice in a row, gets the ring.
	writeSlow = time.Millisecond
	// writeSlowInARow: slow writes in a row (one alone may be a
	// preemption) after which an Aio leaves its writes to its backend...
	writeSlowInARow = 2
	// ...for this many writes, then makes them itself again.
	writeRingAfterSlow = 256
	// writeTimeEvery: an Aio times one inline write in this many (and
	// every one after a slow one): two clock reads per write would cost
	// a few percent of a cached write.
	writeTimeEvery = 8
)

// How a descriptor met RWF_NOWAIT on a write (writeState.nowait).
const (
	nowaitUnknown uint8 = iota
	nowaitTakes         // it took one: every write tries it
	nowaitRefused       // EOPNOTSUPP: small writes are made blocking
)

// writeState is what a State keeps about its Aio's writes, reset when the
// descriptor's flags are read again.
type writeState struct {
	nowait uint8
	slow   uint8  // timed inline writes in a row that were slow
	untime uint8  // inline writes since the last timed one
	toRing uint16 // writes still to leave to the backend after a slow run
}

// epoch is the origin of the writes' clock: time.Since of a time with a
// monotonic reading reads one clock.
var epoch = time.Now()

// Write tries d, a Write at an offset (or a regular file's at the file
// position), on the calling goroutine, and says
// how it went: Done with the result (a short count when the kernel took
// part of it and would then have waited), Direct for an O_DIRECT
// descriptor (left to the backend: such a write waits for the device),
// Declined for anything else the backend carries out as if untried (a
// registered descriptor or buffer, an error before any byte was written,
// a stream at an offset, a write RWF_NOWAIT refused that is larger than
// InlineMax or a zero timeout's attempt, an Aio backing off after slow
// writes). It never reports NotCached, and it never sets d.Device: a
// write left to the ring goes out with the round's batch (decision 63).
// It may block for as long as the kernel's write does; the buffers must
// stay put for the call. It never allocates.
func (s *State) Write(d *op.Desc) (op.Result, Outcome) {
	d.Device = false
	if d.Kind != op.Write || d.Off < -1 || d.Len() == 0 {
		return op.Result{}, Declined
	}
	s.refresh(d.FD)
	switch {
	case !s.buffered:
		return op.Result{}, Direct
	case d.FixedFile || d.FixedBuf:
		return op.Result{}, Declined // as for reads (State.Read)
	case d.Off == -1 && !s.regular(d.FD):
		// At the file position nothing fails with ESPIPE: a blocking
		// write to a full pipe or socket would wait here. Only a regular
		// file's writes are made here (see the file's comment).
		d.Stream = true
		return op.Result{}, Declined
	}
	w := &s.w
	if w.toRing > 0 {
		w.toRing--
		return op.Result{}, Declined
	}
	if w.nowait != nowaitRefused {
		n, e := writeAll(d, unix.RWF_NOWAIT)
		switch {
		case e == 0 || n > 0:
			w.nowait = nowaitTakes
			return op.Result{Res: int32(n)}, Done
		case e == unix.EAGAIN && d.Attempt:
			return op.Result{End: op.WouldBlock}, Done
		case e != unix.EOPNOTSUPP:
			// EAGAIN: it would wait; ESPIPE: a pipe, socket or
			// terminal at an offset; or an error the backend reports.
			d.Stream = d.Stream || e == unix.ESPIPE
			return op.Result{}, Declined
		}
		w.nowait = nowaitRefused
	}
	if d.Attempt || d.Len() > InlineMax {
		return op.Result{}, Declined
	}
	if d.Off == -1 && !d.Held && !fdtype.IsRegular(d.FD) {
		// Looked at again for each blocking write at the position: the
		// kind State.regular remembers is the number's when the flags
		// were read, and a number closed and reused for a pipe since
		// would block here. Unless the Aio's owner holds the descriptor
		// open (d.Held: an adapt.File's), so that the number cannot have
		// been reused (decision 94).
		d.Stream = true
		return op.Result{}, Declined
	}
	timed := w.timeNext()
	var t0 time.Duration
	if timed {
		t0 = time.Since(epoch)
	}
	n, e := writeAll(d, 0)
	if timed {
		w.took(time.Since(epoch) - t0)
	}
	if e != 0 && n == 0 {
		d.Stream = d.Stream || e == unix.ESPIPE
		return op.Result{}, Declined // ESPIPE: not a file; or an error the backend reports
	}
	return op.Result{Res: int32(n)}, Done
}

// timeNext reports whether the next inline write is timed (every one
// after a slow one, else one in writeTimeEvery), and counts it.
func (w *writeState) timeNext() bool {
	timed := w.slow > 0 || w.untime%writeTimeEvery == 0
	w.untime++
	return timed
}

// took records how long a timed inline write took: a slow one starts or
// extends the run, and the run's writeSlowInARow-th leaves the next
// writeRingAfterSlow writes to the backend.
func (w *writeState) took(d time.Duration) {
	switch {
	case d <= writeSlow:
		w.slow = 0
	case w.slow+1 >= writeSlowInARow:
		w.slow, w.toRing = 0, writeRingAfterSlow
	default:
		w.slow++
	}
}

// writeAll writes d's buffers at d.Off with pwritev2 flags: one buffer
// until all of it is written or a call fails (a regular file's write
// through io_uring also goes on to the end), an iovec array in one call.
// It returns the bytes written and the error that stopped it (EINTR
// retried).
func writeAll(d *op.Desc, flags int) (int, unix.Errno) {
	if d.NVec > 0 {
		for {
			n, e := pwritev2(d.FD, d.Vec, d.NVec, d.Off, flags, d.Len())
			if e != unix.EINTR {
				return max(n, 0), e
			}
		}
	}
	iov := d.Iov
	want := int(iov.Len)
	total := 0
	for total < want {
		at := d.Off + int64(total)
		if d.Off == -1 {
			at = -1 // the file position, which each write moves on
		}
		n, e := pwritev2(d.FD, &iov, 1, at, flags, want-total)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return total, e
		case n == 0:
			return total, 0 // nothing taken and no error: as io_uring reports it
		}
		total += n
		if total == want {
			break // never form a pointer one past the buffer (checkptr)
		}
		iov.Base = (*byte)(unsafe.Add(unsafe.Pointer(iov.Base), n))
		iov.SetLen(want - total)
	}
	return total, 0
}

// pwritev2 is pwritev2(fd, iov, n, off, flags) of size bytes. With
// RWF_NOWAIT, up to InlineMax, it uses RawSyscall as preadv2 does;
// otherwise Syscall, so that the scheduler gives the P away if the write
// waits or copies for long.
func pwritev2(fd int32, iov *unix.Iovec, n int, off int64, flags int, size int) (int, unix.Errno) {
	o := uint64(off) // pos_l, pos_h: see preadv2
	var r uintptr
	var e unix.Errno
	if flags&unix.RWF_NOWAIT != 0 && size <= InlineMax {
		r, _, e = unix.RawSyscall6(unix.SYS_PWRITEV2, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n),
			uintptr(o), uintptr(o>>32), uintptr(flags))
	} else {
		r, _, e = unix.Syscall6(unix.SYS_PWRITEV2, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n),
			uintptr(o), uintptr(o>>32), uintptr(flags))
	}
	return int(r), e
}
