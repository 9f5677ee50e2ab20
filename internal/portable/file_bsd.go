//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package portable

import (
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// statxBuf: statx is Linux's; the kind is refused (fileSupported), so the
// scratch is never written.
type statxBuf struct{}

func copyStatx(unsafe.Pointer, *statxBuf) {}

// fileSupported: these systems have no statx, and no fallocate in x/sys.
func fileSupported(k op.Kind) bool { return k != op.Statx && k != op.Fallocate }

// fileCall makes po's files-by-name system call through x/sys's wrappers
// (which may allocate: the zero-allocation target is Linux's).
func fileCall(po *portOp) int32 {
	f := &po.file
	var err error
	r := 0
	switch po.kind {
	case op.OpenAt:
		path := string(f.path[:max(len(f.path)-1, 0)])
		for {
			r, err = unix.Openat(int(po.fd), path, int(f.flags), f.mode)
			if err != unix.EINTR {
				break
			}
		}
	case op.Close:
		err = unix.Close(int(po.fd))
	case op.Fdatasync:
		// fdatasync is missing or partial here; fsync does more.
		err = unix.Fsync(int(po.fd))
	default:
		err = unix.EINVAL
	}
	if err != nil {
		if e, ok := err.(unix.Errno); ok {
			return -int32(e)
		}
		return -int32(unix.EIO)
	}
	return int32(r)
}
