//go:build linux

package fdtype

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// emptyPath is the "" that statx(2) takes with AT_EMPTY_PATH to mean the
// descriptor itself. It is a package variable so that passing it never
// allocates (unix.Statx would copy its string argument to the heap).
var emptyPath [1]byte

// noStatx is set once statx(2) failed with ENOSYS or EPERM (a kernel
// before 4.11, or a seccomp filter that refuses it, which older container
// runtimes' default profiles did with EPERM): Mode then asks fstat(2),
// which answers wherever it did before.
var noStatx atomic.Bool

// Mode returns the S_IFMT bits of the file fd names (unix.S_IFREG,
// unix.S_IFIFO, unix.S_IFSOCK...), or the errno of the look (EBADF for a
// closed descriptor). It asks for STATX_TYPE alone, which leaves the
// inode's times unqueried (see the package comment). It may wait as
// long as the file system's getattr does; it never allocates.
func Mode(fd int32) (uint32, unix.Errno) {
	if !noStatx.Load() {
		var stx unix.Statx_t
		_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(fd),
			uintptr(unsafe.Pointer(&emptyPath[0])), unix.AT_EMPTY_PATH,
			unix.STATX_TYPE, uintptr(unsafe.Pointer(&stx)), 0)
		switch {
		case e == 0:
			return uint32(stx.Mode) & unix.S_IFMT, 0
		case e != unix.ENOSYS && e != unix.EPERM:
			return 0, e
		}
		noStatx.Store(true)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return 0, err.(unix.Errno)
	}
	return st.Mode & unix.S_IFMT, 0
}

// IsRegular reports whether fd names a regular file now.
func IsRegular(fd int32) bool {
	m, e := Mode(fd)
	return e == 0 && m == unix.S_IFREG
}
