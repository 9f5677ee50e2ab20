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
	"github.com/aioring/aioring/internal/filetry"
	"github.com/aioring/aioring/internal/op"
)

// tryState is what the ring keeps per Aio about its tries, in the Aio's
// Desc.Backend. Only the Aio's starter touches it, during the try (the
// Aio's stateTry, or under its lock), so it needs no lock.
type tryState struct {
	file filetry.State // Read's and Write's (internal/filetry)
	// Splice's (trysplice_linux.go): the descriptors whose flags were
	// read, tries since, how its ends can be spliced (spliceReady,
	// spliceRing; 0: not read), which ends are pipes, and whether the
	// last wait's end was guessed; and the ends' file status flags
	// (F_GETFL) when their kinds were read.
	fd, out                  int32
	age                      uint8
	splice                   uint8
	inPipe, outPipe, guessed bool
	inFl, outFl              int
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
// can finish it: a positioned file read whose data is in the page cache
// (internal/filetry), a positioned buffered file write (filetry's Write,
// which may block briefly: see there), or a Splice between pipes and
// non-blocking sockets (trySplice, which may also leave d waiting for
// readiness). done false
// means it did nothing that matters: the caller queues d as usual, and the
// ring reads the whole range again (a partial result is dropped, never
// reported, since a ring read of a regular file keeps reading to the end
// of the range or the file). A zero-timeout attempt (d.Attempt) is done
// either way: what the cache held, or WouldBlock.
//
// A read it declines because it would wait for the device (an O_DIRECT
// descriptor, a miss, or an Aio whose tries keep missing) is marked
// d.Device, for the aio package to submit at once. It allocates only on
// an Aio's first try.
func (s *Shard) Try(d *op.Desc) (r op.Result, done bool) {
	if d.Kind == op.Splice {
		return s.trySplice(d)
	}
	var out filetry.Outcome
	switch d.Kind {
	case op.Read:
		r, out = tryStateOf(d).file.Read(d) // which declines what it cannot try
	case op.Write:
		r, out = tryStateOf(d).file.Write(d) // decision 68
	default:
		return op.Result{}, false
	}
	return r, out == filetry.Done
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
