//go:build linux

package completion

// Operations carried out at once, before the ring: a file read whose data
// the page cache holds costs one preadv2(2) (about 0.6-0.7 µs here) where
// io_uring's inline read of the same block costs about 1.4x a pread
// (fio psync 691 k IOPS against io_uring 488 k at depth 1; see
// docs/design.md, "Cache hits without the ring"). RWF_NOWAIT makes the
// kernel refuse (EAGAIN) rather than wait for a disk, so a try never
// blocks; what it cannot finish goes to the ring as before.

import (
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// Tuning of the tries (docs/design.md, "Cache hits without the ring").
const (
	// tryMissLimit: after this many tries in a row that the kernel
	// refused (the data was not cached), an Aio stops trying and goes
	// straight to the ring...
	tryMissLimit = 3
	// ...trying again once every tryProbeEvery operations, so cold data
	// pays for a try on about 1 read in tryProbeEvery.
	tryProbeEvery = 64
)

// tryState is what the ring keeps per Aio about its tries, in the Aio's
// Desc.Backend. Only the Aio's starter touches it, during the try (the
// Aio's stateTry), so it needs no lock.
type tryState struct {
	kind     op.Kind // what the flags were read for: Read, or Splice (trysplice_linux.go)
	fd       int32   // the descriptor whose flags were read
	out      int32   // Splice: the other end, whose flags were read too
	buffered bool    // Read: fd is a descriptor opened without O_DIRECT
	splice   uint8   // Splice: how its ends can be spliced (spliceReady, spliceRing)
	age      uint8   // tries since the flags were read; read again when it wraps
	miss     uint8   // Read: tries in a row that the kernel refused
	skip     uint8   // Read: reads sent to the ring since the last try, while missing
	// Splice (trysplice_linux.go): which ends are pipes; guessed: the
	// last wait's end was guessed.
	inPipe, outPipe, guessed bool
}

// tryStateOf returns the try state in d.Backend, made on first use.
func tryStateOf(d *op.Desc) *tryState {
	ts, _ := d.Backend.(*tryState)
	if ts == nil {
		ts = &tryState{fd: -1}
		d.Backend = ts
	}
	return ts
}

// Try carries out d on the calling goroutine if a non-blocking system call
// can finish it: a positioned file read whose data is in the page cache,
// or a Splice between pipes and non-blocking sockets (trySplice, which
// may also leave d waiting for readiness). done false means it did nothing that matters: the caller queues d as
// usual, and the ring reads the whole range again (a partial result is
// dropped, never reported, since a ring read of a regular file keeps
// reading to the end of the range or the file). A zero-timeout attempt
// (d.Attempt) is done either way: what the cache held, or WouldBlock.
//
// A read it declines because it would wait for the device (an O_DIRECT
// descriptor, a miss, or an Aio whose tries keep missing) is marked
// d.Device, for the aio package to submit at once.
//
// O_DIRECT descriptors are never tried: RWF_NOWAIT does not make a direct
// read return early, it waits for the device (measured here: 60-120 µs
// per 4 KiB read, on the starting goroutine). Their flags are read with
// fcntl(F_GETFL) when an Aio first reads a descriptor, and again every 256
// reads (a closed number may be reused for another file). Each Aio keeps
// a miss streak (tryMissLimit, tryProbeEvery).
//
// The buffers must stay put for the call (the Aio pins them when it
// builds d). It allocates only on an Aio's first read.
func (s *Shard) Try(d *op.Desc) (r op.Result, done bool) {
	if d.Kind == op.Splice {
		return s.trySplice(d)
	}
	if d.Kind != op.Read || d.Off < 0 || d.Len() == 0 {
		// A read of nothing still checks the descriptor in the kernel.
		return op.Result{}, false
	}
	ts := tryStateOf(d)
	if ts.kind != op.Read || ts.fd != d.FD || ts.age == 0 {
		fl, err := unix.FcntlInt(uintptr(d.FD), unix.F_GETFL, 0)
		ts.kind, ts.fd, ts.buffered = op.Read, d.FD, err == nil && fl&unix.O_DIRECT == 0
		ts.miss, ts.skip = 0, 0
	}
	ts.age++
	// Every read the try leaves to the ring waits for the device, but
	// for the registered ones below, which are not tried: those wait
	// for it when their descriptor is O_DIRECT (for a registered
	// descriptor the number's flags are a guess: the number may have
	// been closed and reused since it was registered, and only the
	// submission's timing depends on the guess).
	d.Device = !ts.buffered
	if !ts.buffered || d.FixedFile || d.FixedBuf {
		// A registered descriptor is read through the ring's file table,
		// which holds the file even once its number is closed and
		// perhaps reused: the number itself may name another file. A
		// registered buffer is read with READ_FIXED, as API.md promises.
		return op.Result{}, false
	}
	if ts.miss >= tryMissLimit {
		if ts.skip++; ts.skip < tryProbeEvery {
			d.Device = true
			return op.Result{}, false
		}
		ts.skip = 0
	}
	if d.NVec > 0 {
		r, done = tryReadv(d)
	} else {
		r, done = tryRead(d)
	}
	if done && r.End != op.WouldBlock {
		ts.miss = 0
	} else if ts.miss < tryMissLimit {
		ts.miss++
	}
	d.Device = !done
	return r, done
}

// TryUnderLock reports whether a try of d is short enough to run under
// its caller's lock (the Aio's mutex: one critical section for the start,
// the try and the end, where an unlocked try takes two): a file read of
// at most inlineCopyMax bytes, which is one preadv2 with RWF_NOWAIT
// through RawSyscall, never waiting for a device. Larger reads copy
// through Syscall for up to a few hundred microseconds, and a Splice may
// wait for readiness: those run without it.
func (s *Shard) TryUnderLock(d *op.Desc) bool {
	return d.Kind == op.Read && d.Len() <= inlineCopyMax
}

// tryRead reads d's one buffer, going on after a short read until the
// buffer is full or a read returns 0 (the end of the file): io_uring's
// read gives the same count.
func tryRead(d *op.Desc) (op.Result, bool) {
	iov := d.Iov
	want := int(iov.Len)
	total := 0
	for total < want {
		n, e := preadv2(d.FD, &iov, 1, d.Off+int64(total), want-total)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN && d.Attempt && total == 0:
			return op.Result{End: op.WouldBlock}, true
		case e != 0:
			// EAGAIN: not all in the cache. EOPNOTSUPP: no RWF_NOWAIT
			// here. Anything else (EBADF, EISDIR, ESPIPE...): the ring
			// reports it with the same errno, in its own terms.
			if d.Attempt && total > 0 {
				return op.Result{Res: int32(total)}, true
			}
			return op.Result{}, false
		case n == 0:
			return op.Result{Res: int32(total)}, true
		}
		total += n
		if total == want {
			break // never form a pointer one past the buffer (checkptr)
		}
		iov.Base = (*byte)(unsafe.Add(unsafe.Pointer(iov.Base), n))
		iov.SetLen(want - total)
	}
	return op.Result{Res: int32(total)}, true
}

// tryReadv reads d's iovec array: done when it fills every buffer or the
// file ends within them (a one-byte read past a short count finds nothing);
// a short read before the end goes to the ring (advancing an array of
// buffers is not worth it for what is rare).
func tryReadv(d *op.Desc) (op.Result, bool) {
	want := d.Len()
	n, e := preadv2Retry(d.FD, d.Vec, d.NVec, d.Off, want)
	switch {
	case e == unix.EAGAIN && d.Attempt:
		return op.Result{End: op.WouldBlock}, true
	case e != 0:
		return op.Result{}, false
	case n == want || n == 0 || d.Attempt:
		return op.Result{Res: int32(n)}, true
	}
	var probe byte
	iov := unix.Iovec{Base: &probe}
	iov.SetLen(1)
	if m, e := preadv2Retry(d.FD, &iov, 1, d.Off+int64(n), 1); e == 0 && m == 0 {
		return op.Result{Res: int32(n)}, true
	}
	return op.Result{}, false
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
// inlineCopyMax use RawSyscall, as the ring's inline submissions do;
// larger ones Syscall, so that a long copy lets the scheduler and the GC
// go on.
func preadv2(fd int32, iov *unix.Iovec, n int, off int64, size int) (int, unix.Errno) {
	// pos_l, pos_h: the kernel joins the halves by shifts of half a word,
	// so on 64-bit targets the high half contributes nothing.
	o := uint64(off)
	var r uintptr
	var e unix.Errno
	if size <= inlineCopyMax {
		r, _, e = unix.RawSyscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n),
			uintptr(o), uintptr(o>>32), unix.RWF_NOWAIT)
	} else {
		r, _, e = unix.Syscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n),
			uintptr(o), uintptr(o>>32), unix.RWF_NOWAIT)
	}
	return int(r), e
}
