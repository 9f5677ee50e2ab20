//go:build linux

package portable

// The portable backend's system calls on Linux: raw calls on the request's
// own buffers (no allocation), and the epoll instance.

import (
	"sync/atomic"
	"unsafe"

	"github.com/aioring/aioring/internal/fdtype"
	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// poller is the backend's epoll instance. Each waited-for descriptor is in
// it EPOLLONESHOT, so a report disarms it until the next wait re-arms it
// (EPOLL_CTL_MOD checks readiness at once: a change before the arm is not
// missed).
type poller struct {
	fd  int
	wfd int     // an eventfd in the instance (data -1): wakes the seat holder
	one [8]byte // wake's write, native-endian 1
}

// rawEvents is one worker's buffer for epoll_wait. Each worker has its
// own: two may harvest at once (the holder in Park, and a worker the
// watchdog unseated that looks again before it sees it lost the seat),
// and with one shared buffer the kernel's copy for one overwrote the
// other's events before they were read: a one-shot report lost, and an
// operation that waited for it until its deadline (TestPollerConcurrentWaits).
type rawEvents [pollBatch]unix.EpollEvent

// openWake adds the wake eventfd, level-triggered.
func (pl *poller) openWake() error {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(pl.fd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return err
	}
	pl.wfd = fd
	*(*uint64)(unsafe.Pointer(&pl.one)) = 1
	return nil
}

// wake makes the instance readable until the seat holder drains it.
func (pl *poller) wake() { unix.Write(pl.wfd, pl.one[:]) }

func (pl *poller) closeWake() { unix.Close(pl.wfd) }

func (pl *poller) open() (int, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	pl.fd = fd
	return fd, err
}

// arm (re-)arms fd for the directions in want. EPERM: fd is a regular
// file (or another kind epoll cannot watch).
func (pl *poller) arm(fd int32, want uint8) unix.Errno {
	ev := unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: fd}
	if want&evRead != 0 {
		ev.Events |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if want&evWrite != 0 {
		ev.Events |= unix.EPOLLOUT
	}
	err := unix.EpollCtl(pl.fd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	if err == unix.ENOENT {
		err = unix.EpollCtl(pl.fd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		if err == unix.EEXIST {
			err = unix.EpollCtl(pl.fd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		}
	}
	if err != nil {
		return err.(unix.Errno)
	}
	return 0
}

// wait takes the ready events off the epoll instance fd without blocking,
// through the caller's own buffer raw; woke reports the wake eventfd
// (drained here).
func (pl *poller) wait(fd int, raw *rawEvents, out []pollEvent) (n int, woke bool) {
	for {
		got, err := unix.EpollWait(fd, raw[:len(out)], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return 0, false
		}
		for i := 0; i < got; i++ {
			e := &raw[i]
			if e.Fd == -1 {
				// The drain's buffer is the caller's own: two workers
				// may harvest at once (rawEvents), and a shared one
				// was a data race (found by -race in CI), if a
				// harmless one.
				var drain [8]byte
				unix.Read(pl.wfd, drain[:])
				woke = true
				continue
			}
			var r uint8
			if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				r |= evRead
			}
			if e.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				r |= evWrite
			}
			out[n] = pollEvent{fd: e.Fd, ready: r, disarmed: evRead | evWrite}
			n++
		}
		return n, woke
	}
}

// noRWv2 is set once preadv2 has failed with ENOSYS: a kernel before 4.6,
// or an emulator without it (qemu-user 7.2 has none, seen running the
// arm64 tests). Reads and writes then use preadv/pwritev (readv/writev at
// the file position), and RWF_NOWAIT attempts report EOPNOTSUPP, so that
// their descriptors go the way of those without RWF_NOWAIT (tryRW).
var noRWv2 atomic.Bool

// rw is a read or write of po at its offset (-1: the file position) with
// preadv2/pwritev2 flags (RWF_NOWAIT for an attempt). It uses Syscall, as
// os.File does: even a cached transfer may copy for long.
func rw(po *portOp, flags uintptr) (int32, unix.Errno) {
	iov, n := &po.iov, uintptr(1)
	if po.vector {
		iov, n = po.iovp, uintptr(po.niov)
	}
	// pos_l, pos_h: the kernel joins them by half-word shifts, so on
	// 64-bit targets the high half contributes nothing.
	off := uint64(po.off)
	for {
		nr := rwCall(po.kind == op.Write, po.off, flags)
		if nr == 0 {
			return 0, unix.EOPNOTSUPP // no RWF_NOWAIT without preadv2
		}
		r, _, e := unix.Syscall6(nr, uintptr(po.fd), uintptr(unsafe.Pointer(iov)), n,
			uintptr(off), uintptr(off>>32), flags)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.ENOSYS && !noRWv2.Load():
			noRWv2.Store(true)
			continue
		case e == unix.ESPIPE && po.off != -1:
			// A stream (pipe, FIFO, terminal): io_uring ignores the
			// offset there, and so does this backend. But not a
			// socket's at an offset other than 0: the ring hands the
			// position to the socket, whose read_iter and write_iter
			// refuse any but 0 with ESPIPE, and the two backends must
			// agree (TestAuditReadWriteAtSocketOffsetBothBackends).
			// Only this rare path pays the fstat.
			if po.off != 0 {
				if m, err := fdtype.Mode(po.fd); err == 0 && m == unix.S_IFSOCK {
					return 0, unix.ESPIPE
				}
			}
			po.off, off = -1, ^uint64(0)
			continue
		}
		return int32(r), e
	}
}

// rwCall is the system call rw makes: preadv2 or pwritev2, or without
// them (noRWv2) preadv/pwritev at an offset and readv/writev at the file
// position (which ignore the offset's arguments); 0 for an attempt with
// flags that only preadv2 knows.
func rwCall(write bool, off int64, flags uintptr) uintptr {
	switch {
	case !noRWv2.Load() && write:
		return unix.SYS_PWRITEV2
	case !noRWv2.Load():
		return unix.SYS_PREADV2
	case flags != 0:
		return 0
	case off == -1 && write:
		return unix.SYS_WRITEV
	case off == -1:
		return unix.SYS_READV
	case write:
		return unix.SYS_PWRITEV
	}
	return unix.SYS_PREADV
}

// try runs po's system call once without blocking.
func (p *Backend) try(po *portOp) (int32, portNext) {
	switch po.kind {
	case op.Nop:
		return 0, nDone
	case op.Read, op.Write:
		return tryRW(po)
	case op.Fsync:
		return 0, nFile
	case op.Recv, op.Send:
		n, e := sockIO(po)
		return tryNext(po, n, e, sockWait(po))
	case op.Accept:
		return tryAccept(po)
	case op.Connect:
		return tryConnect(po)
	case op.SendTo, op.RecvFrom:
		nr := uintptr(unix.SYS_SENDMSG)
		if po.kind == op.RecvFrom {
			nr = unix.SYS_RECVMSG
		}
		r, _, e := unix.RawSyscall(nr, uintptr(po.fd), uintptr(unsafe.Pointer(po.msg)), uintptr(po.flags|unix.MSG_DONTWAIT))
		return tryNext(po, int32(r), e, sockWait(po))
	case op.Splice:
		return trySplice(po)
	case op.Shutdown:
		// shutdown(2) never waits.
		_, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(po.fd), uintptr(po.how), 0)
		return -int32(e), nDone
	}
	return -int32(unix.EINVAL), nDone
}

// tryRW: a read or write with RWF_NOWAIT, which the kernel refuses where
// the data is not at hand (EAGAIN: a pipe then waits for readiness, a
// regular file, which epoll refuses with EPERM, goes to a file worker).
// Descriptors without RWF_NOWAIT (EOPNOTSUPP: inotify, some devices) wait
// for readiness and then a file worker reads, so a timeout or Cancel can
// still end a read that nothing answers.
func tryRW(po *portOp) (int32, portNext) {
	if !po.noNowait {
		n, e := rw(po, unix.RWF_NOWAIT)
		switch e {
		case 0:
			return n, nDone
		case unix.EAGAIN:
			if po.nonblock {
				return -int32(unix.EAGAIN), nDone
			}
			if po.kind == op.Read {
				return 0, nRead
			}
			return 0, nWrite
		case unix.EOPNOTSUPP:
			po.noNowait = true
			// Without preadv2 nothing makes one write to a pipe or
			// socket non-blocking: after its readiness the write is
			// cut to a page, which a writable pipe takes whole (a
			// stream write may end short, as the ring's may), so that
			// it never blocks a file worker where a cancel cannot
			// reach it. Writes to regular files stay whole.
			po.capWrite = po.kind == op.Write && noRWv2.Load() && !regularFile(po.fd)
		default:
			return -int32(e), nDone
		}
	}
	return readiness(po, po.kind == op.Read)
}

// capWriteMax is how much of a write capWrite lets through: one page,
// what a pipe that polls writable has room for.
const capWriteMax = 4096

// regularFile reports whether fd is a regular file (or the look failed,
// and the call will say why).
func regularFile(fd int32) bool {
	m, e := fdtype.Mode(fd)
	return e != 0 || m == unix.S_IFREG
}

// sockIO is one non-blocking receive or send: MSG_DONTWAIT makes this call
// non-blocking whatever the descriptor's mode, which stays the caller's.
func sockIO(po *portOp) (int32, unix.Errno) {
	flags := uintptr(po.flags | unix.MSG_DONTWAIT)
	var r uintptr
	var e unix.Errno
	switch {
	case po.vector && po.kind == op.Recv:
		r, _, e = unix.RawSyscall(unix.SYS_RECVMSG, uintptr(po.fd), uintptr(unsafe.Pointer(po.msg)), flags)
	case po.vector:
		r, _, e = unix.RawSyscall(unix.SYS_SENDMSG, uintptr(po.fd), uintptr(unsafe.Pointer(po.msg)), flags)
	case po.kind == op.Recv:
		r, _, e = unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(po.fd), uintptr(unsafe.Pointer(po.iov.Base)), uintptr(po.iov.Len), flags, 0, 0)
	default:
		r, _, e = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(po.fd), uintptr(unsafe.Pointer(po.iov.Base)), uintptr(po.iov.Len), flags, 0, 0)
	}
	return int32(r), e
}

// getfl returns fd's file status flags.
func getfl(fd int32) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0)
	return int(r), e
}

// tryAccept: accept(2) has no per-call non-blocking flag. On a
// non-blocking listener accept4 is tried at once; on a blocking one (the
// caller's choice, which is kept) readiness is waited for, and then a file
// worker calls accept4, which does not block unless another process or
// thread took the connection in between (then it waits for the next one;
// see docs/design.md).
func tryAccept(po *portOp) (int32, portNext) {
	fl, e := getfl(po.fd)
	if e != 0 {
		return -int32(e), nDone
	}
	if fl&unix.O_NONBLOCK != 0 {
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(po.fd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
		return tryNext(po, int32(r), e, nRead)
	}
	fds := [1]unix.PollFd{{Fd: po.fd, Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds[:], 0); n > 0 {
		return 0, nFile // a connection is there (or an error, which accept4 reports)
	}
	if po.nonblock {
		return -int32(unix.EAGAIN), nDone
	}
	return 0, nRead
}

// tryConnect: connect(2) has no per-call non-blocking flag either. On a
// blocking socket the descriptor is made non-blocking for the connect(2)
// call alone and restored right after it (the connection then proceeds in
// the kernel whatever the mode), so the caller finds its flags as it left
// them. While the socket connects nothing else may use it (the contract:
// one operation on an unconnected socket). When it becomes writable,
// SO_ERROR says how the connection ended.
func tryConnect(po *portOp) (int32, portNext) {
	if po.connecting {
		v, err := unix.GetsockoptInt(int(po.fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return -int32(err.(unix.Errno)), nDone
		}
		return -int32(v), nDone
	}
	fl, e := getfl(po.fd)
	if e != 0 {
		return -int32(e), nDone
	}
	if fl&unix.O_NONBLOCK == 0 {
		if _, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(po.fd), unix.F_SETFL, uintptr(fl|unix.O_NONBLOCK)); e != 0 {
			return -int32(e), nDone
		}
	}
	_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(po.fd), uintptr(unsafe.Pointer(po.sa)), uintptr(po.salen))
	if fl&unix.O_NONBLOCK == 0 {
		unix.RawSyscall(unix.SYS_FCNTL, uintptr(po.fd), unix.F_SETFL, uintptr(fl))
	}
	return connectNext(po, e)
}

// block runs po's system call on a file worker, blocking as long as it
// must (Syscall, so the scheduler hands the P to others meanwhile).
func (p *Backend) block(po *portOp) int32 {
	for {
		var r uintptr
		var e unix.Errno
		switch po.kind {
		case op.Read, op.Write:
			if po.capWrite {
				if po.vector { // the first buffer that holds anything, alone
					for _, v := range unsafe.Slice(po.iovp, po.niov) {
						if v.Len > 0 {
							po.iov = v
							break
						}
					}
					po.vector = false
				}
				if po.iov.Len > capWriteMax {
					po.iov.SetLen(capWriteMax)
				}
			}
			var n int32
			n, e = rw(po, 0)
			r = uintptr(n)
		case op.Fsync:
			_, _, e = unix.Syscall(unix.SYS_FSYNC, uintptr(po.fd), 0, 0)
		case op.Accept:
			r, _, e = unix.Syscall6(unix.SYS_ACCEPT4, uintptr(po.fd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
		case op.Splice:
			var n int32
			n, e = splice(po)
			r = uintptr(n)
		default:
			e = unix.EINVAL
		}
		switch e {
		case 0:
			return int32(r)
		case unix.EINTR:
			continue
		}
		return -int32(e)
	}
}

// msgNosignal keeps a send on a closed socket from raising SIGPIPE.
const msgNosignal = unix.MSG_NOSIGNAL

// canPoll: the seat holder may poll before it parks (pollBusy) here,
// where sched_yield hands the CPU to a task woken onto it.
const canPoll = true

// yieldCPU gives the thread's CPU to another runnable task, if any.
func yieldCPU() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
