//go:build linux

package completion

// Splice without io-wq. The kernel hands every IORING_OP_SPLICE to an
// io-wq worker (io_splice_prep forces it async), so each one costs a
// worker's wakeup and two context switches, and a splice from a quiet
// socket holds its worker until data comes. Between pipes and sockets in
// non-blocking mode (O_NONBLOCK), splice(2) with SPLICE_F_NONBLOCK never
// waits (tcp_splice_read and splice_to_socket look only at the socket's
// O_NONBLOCK; SPLICE_F_NONBLOCK covers the pipe), so such a Splice is made
// by the goroutine that starts it, and when an end is not ready it waits
// for that end with an IORING_OP_POLL_ADD in its place (Desc.WaitEvents,
// prepOp); the poll's CQE (End Ready) brings it back here, on the
// goroutine that reaps it, for another try: package net's way with its
// splice pipes, the ring serving as the poller (docs/design.md, decision
// 38). A regular file or a blocking socket end goes to the ring as
// IORING_OP_SPLICE, as before: there the call may wait.

import (
	"github.com/aioring/aioring/internal/op"
	splicex "github.com/aioring/aioring/internal/splice"
	"golang.org/x/sys/unix"
)

// tryState.splice values (0: not known).
const (
	spliceReady = 1 // both ends are pipes or non-blocking sockets: made here
	spliceRing  = 2 // a regular file, a blocking socket, or an end fstat refused: the ring
)

// spliceRetries: how many times trySplice calls splice(2) again when it
// refused (EAGAIN) although poll(2) said both ends were ready, before it
// waits for the input anyway (which reports at once if still ready).
const spliceRetries = 2

// trySplice carries out the Splice d if its ends allow a non-blocking
// call, or leaves it waiting for the end that is not ready (done false
// with d.WaitEvents set: the caller queues d, and the ring polls). done
// false with WaitEvents 0: d goes to the ring as IORING_OP_SPLICE. A
// zero-timeout attempt (d.Attempt) is done either way (WouldBlock when
// nothing could move).
func (s *Shard) trySplice(d *op.Desc) (op.Result, bool) {
	retry := d.WaitEvents != 0 // after a wait for readiness (End Ready)
	d.WaitFD, d.WaitEvents = 0, 0
	if d.FixedFile {
		return op.Result{}, false // the number is a slot of the ring's file table
	}
	ts := tryStateOf(d)
	// The ends' flags, read at each Splice's first try: a socket put in
	// blocking mode since, or a number closed and reused for a file of
	// another kind (a pipe's end is read-only or write-only, a socket is
	// read-write), must not get a splice(2) here, which would block the
	// starter (a reaper, when it retries) beyond any cancel or timeout.
	// Not again at a retry after a wait for readiness: the same
	// operation's ends (two fcntl calls per try were 15 more system
	// calls per 1 MiB message in the proxy, docs/design.md decision 97).
	inFl, outFl := ts.inFl, ts.outFl
	if !retry {
		inFl, _ = splicex.Flags(d.FD)
		outFl, _ = splicex.Flags(d.Out)
	}
	if ts.splice == 0 || ts.fd != d.FD || ts.out != d.Out || ts.age == 0 || ts.inFl != inFl || ts.outFl != outFl {
		// Read again every 256 splices too: a closed number may be
		// reused for another file.
		if retry {
			inFl, _ = splicex.Flags(d.FD)
			outFl, _ = splicex.Flags(d.Out)
		}
		ts.fd, ts.out, ts.inFl, ts.outFl = d.FD, d.Out, inFl, outFl
		ts.splice = spliceRing
		in, _ := splicex.EndOf(d.FD) // an error is the ring's to report (EBADF...)
		out, _ := splicex.EndOf(d.Out)
		if nonblocking(in) && nonblocking(out) {
			ts.splice = spliceReady
		}
		ts.inPipe, ts.outPipe, ts.guessed = in == splicex.Pipe, out == splicex.Pipe, false
	}
	ts.age++
	if ts.splice != spliceReady {
		return op.Result{}, false
	}
	for tries := 0; ; tries++ {
		n, e := spliceNonblock(d)
		switch {
		case e == 0:
			return op.Result{Res: int32(n)}, true
		case e != unix.EAGAIN:
			// What the ring's splice would say (EINVAL for two
			// non-pipes, ESPIPE for an offset on a pipe, EPIPE...).
			return op.Result{Res: -int32(e)}, true
		case d.Attempt:
			return op.Result{End: op.WouldBlock}, true
		}
		// Which end is not ready? Guessed from the ends' kinds, without
		// a system call: a socket feeding a pipe waits for data, a pipe
		// feeding a socket for room (what a proxy's splices wait for:
		// it splices into an empty pipe, and out of a full one). A
		// wrong guess (an empty pipe, a full one) wakes at once and
		// refuses again; then poll(2) says.
		if !retry || !ts.guessed {
			switch {
			case !ts.inPipe && ts.outPipe:
				d.WaitFD, d.WaitEvents, ts.guessed = d.FD, unix.POLLIN, true
				return op.Result{}, false
			case ts.inPipe && !ts.outPipe:
				d.WaitFD, d.WaitEvents, ts.guessed = d.Out, unix.POLLOUT, true
				return op.Result{}, false
			}
		}
		ts.guessed = false
		// The input first: a splice from a quiet socket into a full
		// pipe waits for the data, and then for room, as splice(2)
		// itself would.
		fds := [2]unix.PollFd{{Fd: d.FD, Events: unix.POLLIN}, {Fd: d.Out, Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds[:], 0); err != nil {
			fds[0].Revents, fds[1].Revents = 0, 0 // EINTR: wait for the input
		}
		switch {
		case fds[0].Revents == 0:
			d.WaitFD, d.WaitEvents = d.FD, unix.POLLIN
		case fds[1].Revents == 0:
			d.WaitFD, d.WaitEvents = d.Out, unix.POLLOUT
		case tries < spliceRetries:
			continue // both ready: the readiness changed under the call
		default:
			d.WaitFD, d.WaitEvents = d.FD, unix.POLLIN
		}
		return op.Result{}, false
	}
}

// nonblocking reports whether a splice(2) with SPLICE_F_NONBLOCK never
// waits on an end of this kind: a pipe, or a socket in non-blocking mode.
func nonblocking(e splicex.End) bool { return e == splicex.Pipe || e == splicex.Socket }

// spliceNonblock is splice(2) of d with SPLICE_F_NONBLOCK, with the
// offsets as the ring takes them (-1: none), copied so that the kernel's
// update of an offset stays here.
func spliceNonblock(d *op.Desc) (int, unix.Errno) {
	inOff, outOff := d.Off, d.OutOff
	var in, out *int64
	if inOff != -1 {
		in = &inOff
	}
	if outOff != -1 {
		out = &outOff
	}
	return splicex.Nonblock(d.FD, in, d.Out, out, int(d.N))
}
