//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package portable

// The portable backend's system calls on macOS and the BSDs, through
// x/sys's wrappers (which may allocate: the zero-allocation target is
// Linux's), and its kqueue instance, parked on Go's netpoller as the
// Linux epoll instance is. Sockets and pipes wait for readiness in the
// kqueue (EV_ONESHOT filters); regular files, fsync, and reads or writes
// of a descriptor found ready are blocking calls on the file workers,
// since these systems lack RWF_NOWAIT. This file builds in CI
// (GOOS=darwin go vet, go test -c) but has not run: no such host here.

import (
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// poller is the backend's kqueue instance.
type poller struct {
	fd int
	wr [2]int           // a non-blocking pipe whose read end is in the kqueue: wakes the seat holder
	ch [2]unix.Kevent_t // arm's changes, under the backend's mu
}

// wakeByte is what wake writes into the pipe; only read, so any number
// of goroutines may wake at once.
var wakeByte = [1]byte{1}

// rawEvents is one worker's buffer for kevent: each has its own, since
// two may harvest at once (see sys_linux.go).
type rawEvents [pollBatch]unix.Kevent_t

// openWake adds the wake pipe's read end (not one-shot).
func (pl *poller) openWake() error {
	if err := unix.Pipe(pl.wr[:]); err != nil {
		return err
	}
	for _, fd := range pl.wr {
		unix.CloseOnExec(fd)
		unix.SetNonblock(fd, true)
	}
	unix.SetKevent(&pl.ch[0], pl.wr[0], unix.EVFILT_READ, unix.EV_ADD|unix.EV_ENABLE)
	if _, err := unix.Kevent(pl.fd, pl.ch[:1], nil, nil); err != nil {
		pl.closeWake()
		return err
	}
	return nil
}

// wake makes the instance readable until the seat holder drains it.
func (pl *poller) wake() { unix.Write(pl.wr[1], wakeByte[:]) }

func (pl *poller) closeWake() {
	unix.Close(pl.wr[0])
	unix.Close(pl.wr[1])
}

func (pl *poller) open() (int, error) {
	fd, err := unix.Kqueue()
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	pl.fd = fd
	return fd, nil
}

// arm adds one-shot read and/or write filters for fd.
func (pl *poller) arm(fd int32, want uint8) unix.Errno {
	n := 0
	if want&evRead != 0 {
		unix.SetKevent(&pl.ch[n], int(fd), unix.EVFILT_READ, unix.EV_ADD|unix.EV_ENABLE|unix.EV_ONESHOT)
		n++
	}
	if want&evWrite != 0 {
		unix.SetKevent(&pl.ch[n], int(fd), unix.EVFILT_WRITE, unix.EV_ADD|unix.EV_ENABLE|unix.EV_ONESHOT)
		n++
	}
	if _, err := unix.Kevent(pl.fd, pl.ch[:n], nil, nil); err != nil {
		if e, ok := err.(unix.Errno); ok {
			return e
		}
		return unix.EINVAL
	}
	return 0
}

// wait takes the ready events off the kqueue fd without blocking, through
// the caller's own buffer raw. Each
// report disarms only its own filter. woke reports the wake pipe (drained
// here).
func (pl *poller) wait(fd int, raw *rawEvents, out []pollEvent) (n int, woke bool) {
	var zero unix.Timespec
	for {
		got, err := unix.Kevent(fd, nil, raw[:len(out)], &zero)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return 0, false
		}
		for i := 0; i < got; i++ {
			k := &raw[i]
			if int(k.Ident) == pl.wr[0] {
				var drain [64]byte // the caller's own: two workers may harvest at once
				for {
					if m, _ := unix.Read(pl.wr[0], drain[:]); m <= 0 {
						break
					}
				}
				woke = true
				continue
			}
			dir := evRead
			if k.Filter == unix.EVFILT_WRITE {
				dir = evWrite
			}
			ready := dir
			if k.Flags&unix.EV_ERROR != 0 {
				ready = evRead | evWrite
			}
			out[n] = pollEvent{fd: int32(k.Ident), ready: ready, disarmed: dir}
			n++
		}
		return n, woke
	}
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EIO
}

// buffers returns po's buffers as slices (the vector's, or the one).
func buffers(po *portOp, dst *[op.MaxVec][]byte) [][]byte {
	if !po.vector {
		if po.iov.Base == nil {
			dst[0] = nil
		} else {
			dst[0] = unsafe.Slice(po.iov.Base, int(po.iov.Len))
		}
		return dst[:1]
	}
	iovs := unsafe.Slice(po.iovp, po.niov)
	for i := range iovs {
		dst[i] = nil
		if iovs[i].Base != nil {
			dst[i] = unsafe.Slice(iovs[i].Base, int(iovs[i].Len))
		}
	}
	return dst[:po.niov]
}

// try runs po's system call once without blocking.
func (p *Backend) try(po *portOp) (int32, portNext) {
	switch po.kind {
	case op.Nop:
		return 0, nDone
	case op.Read, op.Write:
		var st unix.Stat_t
		if err := unix.Fstat(int(po.fd), &st); err != nil {
			return -int32(errnoOf(err)), nDone
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			return 0, nFile
		}
		return readiness(po, po.kind == op.Read)
	case op.Fsync:
		return 0, nFile
	case op.Recv, op.Send:
		var bb [op.MaxVec][]byte
		bufs := buffers(po, &bb)
		flags := int(po.flags) | unix.MSG_DONTWAIT
		var n int
		var err error
		if po.kind == op.Recv {
			if len(bufs) == 1 {
				n, _, err = unix.Recvfrom(int(po.fd), bufs[0], flags)
			} else {
				n, _, _, _, err = unix.RecvmsgBuffers(int(po.fd), bufs, nil, flags)
			}
		} else {
			n, err = unix.SendmsgBuffers(int(po.fd), bufs, nil, nil, flags)
		}
		return tryNext(po, int32(n), errnoOf(err), sockWait(po))
	case op.Accept:
		fl, err := unix.FcntlInt(uintptr(po.fd), unix.F_GETFL, 0)
		if err != nil {
			return -int32(errnoOf(err)), nDone
		}
		if fl&unix.O_NONBLOCK != 0 {
			nfd, e := acceptCloexec(po.fd)
			return tryNext(po, int32(nfd), e, nRead)
		}
		return readiness(po, true)
	case op.Connect:
		if po.connecting {
			v, err := unix.GetsockoptInt(int(po.fd), unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return -int32(errnoOf(err)), nDone
			}
			return -int32(v), nDone
		}
		fl, err := unix.FcntlInt(uintptr(po.fd), unix.F_GETFL, 0)
		if err != nil {
			return -int32(errnoOf(err)), nDone
		}
		// As on Linux: non-blocking for the connect(2) call alone.
		if fl&unix.O_NONBLOCK == 0 {
			if _, err := unix.FcntlInt(uintptr(po.fd), unix.F_SETFL, fl|unix.O_NONBLOCK); err != nil {
				return -int32(errnoOf(err)), nDone
			}
		}
		// The address as the aio package encoded it (sa_len set), not
		// x/sys's Connect, which encodes into the caller's value.
		_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(po.fd), uintptr(unsafe.Pointer(po.sa)), uintptr(po.salen))
		if fl&unix.O_NONBLOCK == 0 {
			unix.FcntlInt(uintptr(po.fd), unix.F_SETFL, fl)
		}
		return connectNext(po, e)
	case op.SendTo, op.RecvFrom:
		// Raw sendmsg/recvmsg on the Aio's msghdr: x/sys's Sendmsg
		// would encode the address into the caller's Sockaddr value,
		// which may be shared (the aio package encodes it, sa_len
		// included, into the Aio's own storage).
		nr := uintptr(unix.SYS_SENDMSG)
		if po.kind == op.RecvFrom {
			nr = unix.SYS_RECVMSG
		}
		r, _, e := unix.Syscall(nr, uintptr(po.fd), uintptr(unsafe.Pointer(po.msg)), uintptr(int(po.flags)|unix.MSG_DONTWAIT))
		return tryNext(po, int32(r), e, sockWait(po))
	case op.Shutdown:
		return -int32(errnoOf(unix.Shutdown(int(po.fd), int(po.how)))), nDone
	}
	return -int32(unix.EINVAL), nDone
}

// acceptCloexec accepts and marks the descriptor close-on-exec (not in
// one call: macOS has no accept4).
func acceptCloexec(fd int32) (int, unix.Errno) {
	nfd, _, err := unix.Accept(int(fd))
	if err != nil {
		return -1, errnoOf(err)
	}
	unix.CloseOnExec(nfd)
	return nfd, 0
}

// block runs po's system call on a file worker.
func (p *Backend) block(po *portOp) int32 {
	switch po.kind {
	case op.Read, op.Write:
		var bb [op.MaxVec][]byte
		total := 0
		for _, b := range buffers(po, &bb) {
			var n int
			var e unix.Errno
			for {
				var err error
				switch {
				case po.kind == op.Read && po.off == -1:
					n, err = unix.Read(int(po.fd), b)
				case po.kind == op.Read:
					n, err = unix.Pread(int(po.fd), b, po.off+int64(total))
				case po.off == -1:
					n, err = unix.Write(int(po.fd), b)
				default:
					n, err = unix.Pwrite(int(po.fd), b, po.off+int64(total))
				}
				e = errnoOf(err)
				if e == unix.ESPIPE && po.off != -1 {
					po.off = -1 // a stream: the offset is ignored, as io_uring does
					continue
				}
				if e != unix.EINTR {
					break
				}
			}
			if e != 0 {
				if total > 0 {
					return int32(total)
				}
				return -int32(e)
			}
			total += n
			if n < len(b) {
				break
			}
		}
		return int32(total)
	case op.Fsync:
		return -int32(errnoOf(unix.Fsync(int(po.fd))))
	case op.Accept:
		nfd, e := acceptCloexec(po.fd)
		if e != 0 {
			return -int32(e)
		}
		return int32(nfd)
	}
	return -int32(unix.EINVAL)
}

// msgNosignal: these systems have no per-call flag everywhere (macOS
// lacks MSG_NOSIGNAL); Go's runtime ignores SIGPIPE on descriptors other
// than stdout and stderr.
const msgNosignal = 0

// canPoll: no busy poll off Linux (measured only there, decision 70);
// Config.BusyPoll is ignored.
const canPoll = false

// yieldCPU is never called off Linux (canPoll).
func yieldCPU() {}
