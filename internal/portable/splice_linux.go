//go:build linux

package portable

// Splice on the portable backend. SPLICE_F_NONBLOCK keeps the pipe end
// from waiting, but a socket end waits whenever the socket itself is in
// blocking mode (tcp_splice_read and splice_to_socket look only at the
// socket's O_NONBLOCK), and the caller's descriptor flags are never
// changed. So:
//   - no blocking socket end: the non-blocking splice on the trying
//     goroutine; EAGAIN waits for the end that is not ready (a poll of
//     both says which);
//   - a blocking socket end: both ends are polled; when both are ready, a
//     file worker makes the call, which then has data to move and room
//     for it (as Accept on a blocking listener: if another thread takes
//     the data or the room in between, the call waits, uncancellable).
// Regular files never wait for readiness (poll says they are ready).

import (
	splicex "github.com/aioring/aioring/internal/splice"
	"golang.org/x/sys/unix"
)

// haveSplice: Linux has splice(2).
const haveSplice = true

// spliceMode values (0: not known yet).
const (
	spliceNonblock = 1 // no blocking socket end
	spliceBlocking = 2 // a socket end in blocking mode
)

// splice makes one splice(2) call of po with SPLICE_F_NONBLOCK.
func splice(po *portOp) (int32, unix.Errno) {
	var in, out *int64
	if po.off != -1 {
		in = &po.off
	}
	if po.outOff != -1 {
		out = &po.outOff
	}
	n, e := splicex.Nonblock(po.fd, in, po.out, out, int(po.n))
	return int32(n), e
}

// trySplice runs po's splice once without blocking, or says what to wait
// for.
func trySplice(po *portOp) (int32, portNext) {
	if po.spliceMode == 0 {
		mode, pipes := uint8(spliceNonblock), 0
		var ends [2]splicex.End
		for i, fd := range [2]int32{po.fd, po.out} {
			end, e := splicex.EndOf(fd)
			if e != 0 {
				return -int32(e), nDone
			}
			ends[i] = end
			if end == splicex.Pipe {
				pipes++
			}
			if end == splicex.BlockingSocket {
				mode = spliceBlocking
			}
		}
		if pipes == 0 {
			// What splice(2) says, before any wait for readiness that
			// could never end.
			return -int32(unix.EINVAL), nDone
		}
		if mode == spliceBlocking {
			// No call is made before the wait: what splice(2) refuses
			// at once is refused here, or the wait (for a pipe end
			// that never polls ready in that direction) would last
			// until the deadline.
			if e := blockingSpliceArgs(po, ends); e != 0 {
				return -int32(e), nDone
			}
		}
		po.spliceMode = mode
	}
	if po.spliceMode == spliceNonblock {
		n, e := splice(po)
		if e != unix.EAGAIN {
			return tryNext(po, n, e, nRead)
		}
	}
	// Which end is not ready? Both ready: a blocking end's call goes to a
	// file worker; a non-blocking one raced (the readiness changed), and
	// waits for its input, which reports at once if still ready.
	fds := [2]unix.PollFd{{Fd: po.fd, Events: unix.POLLIN}, {Fd: po.out, Events: unix.POLLOUT}}
	unix.Poll(fds[:], 0)
	inReady, outReady := fds[0].Revents != 0, fds[1].Revents != 0
	if inReady && outReady && po.spliceMode == spliceBlocking {
		return 0, nFile
	}
	if po.nonblock {
		return -int32(unix.EAGAIN), nDone
	}
	if inReady && !outReady {
		po.wfd = po.out
		return 0, nWrite
	}
	po.wfd = po.fd
	return 0, nRead
}

// blockingSpliceArgs checks, for a Splice with a blocking socket end (and
// so a pipe at the other; ends are their kinds), what splice(2) checks
// before it waits: the input readable and the output writable (EBADF),
// and no offset on the pipe (ESPIPE).
func blockingSpliceArgs(po *portOp, ends [2]splicex.End) unix.Errno {
	for i, fd := range [2]int32{po.fd, po.out} {
		if ends[i] != splicex.Pipe {
			continue
		}
		fl, e := getfl(fd)
		if e != 0 {
			return e
		}
		acc := fl & unix.O_ACCMODE
		if i == 0 && acc == unix.O_WRONLY || i == 1 && acc == unix.O_RDONLY {
			return unix.EBADF
		}
		if i == 0 && po.off != -1 || i == 1 && po.outOff != -1 {
			return unix.ESPIPE
		}
	}
	return 0
}
