//go:build linux

package aio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Statx fills st with the status of path relative to dirfd, as statx(2)
// with flags (unix.AT_SYMLINK_NOFOLLOW, unix.AT_EMPTY_PATH, ...) and mask
// (unix.STATX_BASIC_STATS, ...). st is filled before the callback runs,
// and not touched after it; it must not be read or written while the
// operation runs. A nil st or a path with a NUL byte gives ErrInvalid; a
// zero timeout ErrTimedOut at once. (statx and unix.Statx_t are Linux's:
// there is no Statx on other systems.)
func (a *Aio) Statx(dirfd int, path string, flags, mask int, st *unix.Statx_t) {
	fa := fileArgs{path: path, flags: uint32(flags), mode: uint32(mask), st: unsafe.Pointer(st)}
	a.startKernelFile(opStatx, dirfd, 0, nil, &fa)
}
