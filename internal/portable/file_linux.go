//go:build linux

package portable

import (
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// statxBuf is scratch for a struct statx (unix.Statx_t, 256 bytes).
type statxBuf = unix.Statx_t

func copyStatx(dst unsafe.Pointer, src *statxBuf) { *(*unix.Statx_t)(dst) = *src }

// fileSupported: every files-by-name kind has its system call on Linux.
func fileSupported(op.Kind) bool { return true }

// fileCall makes po's files-by-name system call, blocking (Syscall, so
// the scheduler hands the P to others meanwhile), and returns its result
// or a negated errno.
func fileCall(po *portOp) int32 {
	f := &po.file
	var path unsafe.Pointer
	if len(f.path) > 0 {
		path = unsafe.Pointer(&f.path[0])
	}
	fd := uintptr(po.fd) // sign-extended: AT_FDCWD stays -100
	for {
		var r uintptr
		var e unix.Errno
		switch po.kind {
		case op.OpenAt:
			r, _, e = unix.Syscall6(unix.SYS_OPENAT, fd, uintptr(path), uintptr(f.flags), uintptr(f.mode), 0, 0)
		case op.Statx:
			r, _, e = unix.Syscall6(unix.SYS_STATX, fd, uintptr(path), uintptr(f.flags), uintptr(f.mode),
				uintptr(unsafe.Pointer(&f.stx)), 0)
		case op.Close:
			// Never retried: Linux has released the descriptor even
			// when close reports EINTR, and the number may be reused.
			_, _, e = unix.Syscall(unix.SYS_CLOSE, fd, 0, 0)
			if e != 0 {
				return -int32(e)
			}
			return 0
		case op.Fdatasync:
			_, _, e = unix.Syscall(unix.SYS_FDATASYNC, fd, 0, 0)
		case op.Fallocate:
			// x/sys passes the 64-bit offset and length as each
			// architecture's calling convention splits them (two
			// registers apiece on 32-bit targets).
			if err := unix.Fallocate(int(po.fd), f.mode, po.off, f.length); err != nil {
				if e, _ = err.(unix.Errno); e == 0 {
					e = unix.EIO // x/sys reports errno values only
				}
			}
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
