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
	sys := &syscall.Stat_t{
		Dev:     unix.Mkdev(st.Dev_major, st.Dev_minor),
		Ino:     st.Ino,
		Nlink:   uint64(st.Nlink),
		Mode:    uint32(st.Mode),
		Uid:     st.Uid,
		Gid:     st.Gid,
		Rdev:    unix.Mkdev(st.Rdev_major, st.Rdev_minor),
		Size:    int64(st.Size),
		Blksize: int64(st.Blksize),
		Blocks:  int64(st.Blocks),
		Atim:    syscall.Timespec{Sec: st.Atime.Sec, Nsec: int64(st.Atime.Nsec)},
		Mtim:    syscall.Timespec{Sec: st.Mtime.Sec, Nsec: int64(st.Mtime.Nsec)},
		Ctim:    syscall.Timespec{Sec: st.Ctime.Sec, Nsec: int64(st.Ctime.Nsec)},
	}
	return &fileStat{
		name:    name,
		size:    int64(st.Size),
		mode:    fileMode(uint32(st.Mode)),
		modTime: time.Unix(st.Mtime.Sec, int64(st.Mtime.Nsec)),
		sys:     sys,
	}
}
