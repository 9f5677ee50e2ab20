//go:build linux

package filetry

import (
	"unsafe"

	"github.com/aioring/aioring/internal/fdtype"
	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// Tuning of the tries.
const (
	// missLimit: after this many tries in a row that the kernel refused
	// (the data was not cached), an Aio stops trying and goes straight to
	// its backend's own path...
	missLimit = 3
	// ...trying again once every probeEvery reads, so cold data pays for
	// a try on about 1 read in probeEvery.
	probeEvery = 64
)

// Outcome says how a try went.
type Outcome uint8

const (
	// Done: the read is finished (the result, or WouldBlock for a
	// zero-timeout attempt).
	Done Outcome = iota
	// NotCached: the page cache does not hold all of it (the kernel
	// refused, or the Aio's recent tries did so and this one was
	// skipped): a read of a regular file (or block device) that will
	// wait for the device, and nothing else.
	NotCached
	// Direct: an O_DIRECT descriptor, not tried (RWF_NOWAIT does not make
	// a direct read return early: it waits for the device, 60-120 µs per
	// 4 KiB read here, on the calling goroutine).
	Direct
	// Declined: anything else, which the backend's own path carries out
	// as if untried: a descriptor without RWF_NOWAIT (EOPNOTSUPP), a
	// stream at an offset (ESPIPE), an error (EBADF, EISDIR...) the
	// backend reports in its own terms, a short vector read, a
	// registered descriptor or buffer; or a read skipped after such
	// tries.
	Declined
)

// State is what one Aio keeps about its tries. Only the Aio's starter
// touches it, during the try, so it needs no lock.
type State struct {
	fd       int32 // the descriptor whose flags were read
	known    bool  // fd's flags were read
	buffered bool  // fd was opened without O_DIRECT
	// kind: whether fd is a regular file (kindRegular) or not
	// (kindOther), looked up (fdtype.IsRegular) by the first read or write at the
	// file position after the flags were read; kindUnknown before.
	kind uint8
	age  uint8 // tries since the flags were read; read again when it wraps
	miss uint8 // tries in a row that the kernel refused
	skip uint8 // reads not tried since the last try, while missing
	// missed: how the last refused try went (NotCached or Declined),
	// which is what a read skipped while missing reports: a stream read
	// at an offset (ESPIPE) must never pass for one that only waits for
	// a device.
	missed Outcome
	w      writeState // Write's (write_linux.go)
}

// refresh reads fd's flags when the State first meets it, when the
// number changes, and every 256 tries (a closed number may be reused for
// another file), and starts the reads' miss counts anew then. What the
// writes learnt of RWF_NOWAIT is forgotten with the flags; a back-off
// after slow writes only when the number changes.
func (s *State) refresh(fd int32) {
	if !s.known || s.fd != fd || s.age == 0 {
		if !s.known || s.fd != fd {
			s.w = writeState{}
		}
		s.w.nowait = nowaitUnknown
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		s.known, s.fd, s.buffered = true, fd, err == nil && fl&unix.O_DIRECT == 0
		s.kind = kindUnknown
		s.miss, s.skip = 0, 0
	}
	s.age++
}

// Read tries d, a Read at an offset or, for a regular file's one buffer,
// at the file position (Off -1), and says how it went. The flags of d's
// descriptor are read with fcntl(F_GETFL) when the State first meets
// it, and again every 256 tries (a closed number may be reused for another
// file). d.Device is set when the read is left to the backend and will
// wait for a storage device (NotCached, Direct, and Declined after a try
// the kernel refused), for the aio package to submit it at once.
//
// A read of a registered descriptor or into a registered buffer (the
// ring's file table, READ_FIXED) is never tried. The buffers must stay
// put for the call. It never allocates.
func (s *State) Read(d *op.Desc) (op.Result, Outcome) {
	if d.Kind != op.Read || d.Off < -1 || d.Len() == 0 {
		// A read of nothing still checks the descriptor in the kernel.
		return op.Result{}, Declined
	}
	s.refresh(d.FD)
	if d.Off == -1 && (d.NVec > 0 || !s.regular(d.FD)) {
		// At the file position only a regular file's one buffer is
		// tried: a pipe's or a socket's EAGAIN says no data yet, not a
		// device's wait, and a vector's short read could not be
		// finished at a position it has moved. Left as untried, not as
		// a miss: what such descriptors do is not this Aio's reads'
		// history.
		d.Device = false
		d.Stream = d.Stream || !s.regular(d.FD)
		return op.Result{}, Declined
	}
	d.Device = !s.buffered
	switch {
	case !s.buffered:
		return op.Result{}, Direct
	case d.FixedFile || d.FixedBuf:
		// A registered descriptor is read through the ring's file table,
		// which holds the file even once its number is closed and
		// perhaps reused: the number itself may name another file. A
		// registered buffer is read with READ_FIXED, as API.md promises.
		return op.Result{}, Declined
	}
	if s.miss >= missLimit {
		if s.skip++; s.skip < probeEvery {
			d.Device = true
			return op.Result{}, s.missed
		}
		s.skip = 0
	}
	var r op.Result
	var out Outcome
	if d.NVec > 0 {
		r, out = readv(d)
	} else {
		r, out = read(d)
	}
	switch {
	case out == Done && r.End != op.WouldBlock:
		s.miss = 0
	case out == Done:
		if s.miss < missLimit {
			s.miss++
		}
		s.missed = NotCached // an attempt that would have waited
	default:
		if s.miss < missLimit {
			s.miss++
		}
		s.missed = out
	}
	d.Device = out != Done
	return r, out
}

// File kinds (State.kind).
const (
	kindUnknown = iota
	kindRegular
	kindOther
)

// regular reports whether fd is a regular file, looking it up once per
// refresh of the flags. A number closed and reused meanwhile may be
// another kind of file now: a read tried at its position then only meets
// an EAGAIN that the backend's read waits out; a write that may block
// asks fdtype.IsRegular itself.
func (s *State) regular(fd int32) bool {
	if s.kind == kindUnknown {
		s.kind = kindOther
		if fdtype.IsRegular(fd) {
			s.kind = kindRegular
		}
	}
	return s.kind == kindRegular
}

// missed maps a refused preadv2 to an Outcome, and marks d.Stream when
// the descriptor is a stream (ESPIPE).
func missed(d *op.Desc, e unix.Errno) Outcome {
	switch e {
	case unix.EAGAIN:
		return NotCached
	case unix.ESPIPE:
		d.Stream = true // a pipe, socket or terminal at an offset: the ring's read may wait without end
	}
	return Declined
}

// read reads d's one buffer, going on after a short read until the buffer
// is full or a read returns 0 (the end of the file): io_uring's read, and
// a blocking pread loop, give the same count.
func read(d *op.Desc) (op.Result, Outcome) {
	iov := d.Iov
	want := int(iov.Len)
	total := 0
	for total < want {
		at := d.Off + int64(total)
		if d.Off == -1 {
			at = -1 // the file position, which each read moves on
		}
		n, e := preadv2(d.FD, &iov, 1, at, want-total)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN && d.Attempt && total == 0:
			return op.Result{End: op.WouldBlock}, Done
		case e != 0:
			// EAGAIN: not all in the cache. EOPNOTSUPP: no RWF_NOWAIT
			// here. Anything else (EBADF, EISDIR, ESPIPE...): the
			// backend reports it with the same errno, in its own terms.
			// A partial result is dropped: the backend reads the whole
			// range again. Not at the file position, which the part
			// read has moved: that part is the result, a short read.
			if (d.Attempt || d.Off == -1) && total > 0 {
				return op.Result{Res: int32(total)}, Done
			}
			return op.Result{}, missed(d, e)
		case n == 0:
			return op.Result{Res: int32(total)}, Done
		}
		total += n
		if total == want {
			break // never form a pointer one past the buffer (checkptr)
		}
		iov.Base = (*byte)(unsafe.Add(unsafe.Pointer(iov.Base), n))
		iov.SetLen(want - total)
	}
	return op.Result{Res: int32(total)}, Done
}

// readv reads d's iovec array: done when it fills every buffer or the file
// ends within them (a one-byte read past a short count finds nothing); a
// short read before the end is declined (advancing an array of buffers is
// not worth it for what is rare).
func readv(d *op.Desc) (op.Result, Outcome) {
	want := d.Len()
	n, e := preadv2Retry(d.FD, d.Vec, d.NVec, d.Off, want)
	switch {
	case e == unix.EAGAIN && d.Attempt:
		return op.Result{End: op.WouldBlock}, Done
	case e != 0:
		return op.Result{}, missed(d, e)
	case n == want || n == 0 || d.Attempt:
		return op.Result{Res: int32(n)}, Done
	}
	var probe byte
	iov := unix.Iovec{Base: &probe}
	iov.SetLen(1)
	if m, e := preadv2Retry(d.FD, &iov, 1, d.Off+int64(n), 1); e == 0 && m == 0 {
		return op.Result{Res: int32(n)}, Done
	}
	return op.Result{}, Declined
}

// preadv2Retry is preadv2, retried on EINTR.
func preadv2Retry(fd int32, iov *unix.Iovec, n int, off int64, size int) (int, unix.Errno) {
	for {
		r, e := preadv2(fd, iov, n, off, size)
		if e != unix.EINTR {
			return r, e
		}
	}
}

// preadv2 is preadv2(fd, iov, n, off, RWF_NOWAIT). Transfers up to
// InlineMax use RawSyscall; larger ones Syscall, so that a long copy lets
// the scheduler and the GC go on.
func preadv2(fd int32, iov *unix.Iovec, n int, off int64, size int) (int, unix.Errno) {
	// pos_l, pos_h: the kernel joins the halves by shifts of half a word,
	// so on 64-bit targets the high half contributes nothing.
	o := uint64(off)
	var r uintptr
	var e unix.Errno
	if size <= InlineMax {
		r, _, e = unix.RawSyscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n),
			uintptr(o), uintptr(o>>32), unix.RWF_NOWAIT)
	} else {
		r, _, e = unix.Syscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n),
			uintptr(o), uintptr(o>>32), unix.RWF_NOWAIT)
	}
	return int(r), e
}
