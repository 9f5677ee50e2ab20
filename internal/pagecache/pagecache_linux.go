//go:build linux

package pagecache

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Drop asks the kernel to drop fd's clean pages from the page cache and
// checks with mincore(2) (which starts no readahead, as a read would) that
// the first page is gone; it skips the test where the kernel keeps it
// (tmpfs has no disk to go to).
//
// A page of a disk file can also outlast one drop (seen once in 10 000
// runs beside a loop dropping every cache; a page still referenced, by
// another CPU's batch of pages for one, is not dropped): the drop is tried
// a few times before the test gives up.
func Drop(tb testing.TB, fd int) {
	tb.Helper()
	DropFrom(tb, fd, 0)
}

// DropFrom is Drop for the pages from off (a multiple of the page size)
// to the end of the file: those before stay as they were. It checks the
// page at off.
func DropFrom(tb testing.TB, fd int, off int64) {
	tb.Helper()
	m, err := unix.Mmap(fd, off, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		tb.Fatalf("mmap: %v", err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, 1)
	for try := 0; try < 5; try++ {
		if try > 0 {
			time.Sleep(time.Millisecond)
		}
		if err := unix.Fadvise(fd, off, 0, unix.FADV_DONTNEED); err != nil {
			tb.Fatalf("fadvise: %v", err)
		}
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			tb.Fatalf("mincore: %v", e)
		}
		if vec[0]&1 == 0 {
			return
		}
	}
	tb.Skip("cannot make a page uncached here (still resident after FADV_DONTNEED five times): the temp dir is probably tmpfs")
}
