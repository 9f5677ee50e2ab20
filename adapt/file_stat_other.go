//go:build !linux

package adapt

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// Stat returns the file's status as os.File.Stat does. There is no statx
// off Linux: it is fstat(2), made at once.
func (f *File) Stat() (fs.FileInfo, error) {
	if err := f.check("stat"); err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(f.fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: err}
	}
	return &fileStat{
		name:    filepath.Base(f.name),
		size:    st.Size,
		mode:    fileMode(uint32(st.Mode)),
		modTime: modTime(&st),
		sys:     &st,
	}, nil
}
