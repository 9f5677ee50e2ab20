package adapt

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Stat returns the file's status as os.File.Stat does, through the engine
// (an aio Statx of the descriptor, AT_EMPTY_PATH). Sys returns a
// *syscall.Stat_t filled from it, as os's FileInfo has.
func (f *File) Stat() (fs.FileInfo, error) {
	st := new(unix.Statx_t)
	_, err := f.op(context.Background(), "stat", func(a *aio.Aio) {
		a.Statx(f.fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, st)
	})
	if err != nil {
		return nil, err
	}
	return statxInfo(filepath.Base(f.name), st), nil
}

// statxInfo turns a statx result into an fs.FileInfo named name.
func statxInfo(name string, st *unix.Statx_t) fs.FileInfo {
	// syscall.Stat_t's field types differ between architectures (Nlink
	// and Blksize are 32-bit on arm64, the times' halves on 32-bit
	// ones): each is set through setField, which converts to its type.
	sys := new(syscall.Stat_t)
	setField(&sys.Dev, unix.Mkdev(st.Dev_major, st.Dev_minor))
	setField(&sys.Ino, st.Ino)
	setField(&sys.Nlink, uint64(st.Nlink))
	setField(&sys.Mode, uint64(st.Mode))
	setField(&sys.Uid, uint64(st.Uid))
	setField(&sys.Gid, uint64(st.Gid))
	setField(&sys.Rdev, unix.Mkdev(st.Rdev_major, st.Rdev_minor))
	setField(&sys.Size, st.Size)
	setField(&sys.Blksize, uint64(st.Blksize))
	setField(&sys.Blocks, st.Blocks)
	sys.Atim = statxTimespec(st.Atime)
	sys.Mtim = statxTimespec(st.Mtime)
	sys.Ctim = statxTimespec(st.Ctime)
	return &fileStat{
		name:    name,
		size:    int64(st.Size),
		mode:    fileMode(uint32(st.Mode)),
		modTime: time.Unix(st.Mtime.Sec, int64(st.Mtime.Nsec)),
		sys:     sys,
	}
}

// setField stores v in an integer field of syscall.Stat_t, whatever its
// width and sign on this architecture.
func setField[T ~int32 | ~int64 | ~uint32 | ~uint64](dst *T, v uint64) { *dst = T(v) }

// statxTimespec is t as a syscall.Timespec, whose halves are 32 or 64
// bits wide by architecture.
func statxTimespec(t unix.StatxTimestamp) syscall.Timespec {
	var ts syscall.Timespec
	setField(&ts.Sec, uint64(t.Sec))
	setField(&ts.Nsec, uint64(t.Nsec))
	return ts
}
