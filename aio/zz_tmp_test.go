package aio

import (
	"testing"

	"golang.org/x/sys/unix"
)

func BenchmarkTmpStdReadAt(b *testing.B) {
	f := benchCachedFile(b)
	buf := make([]byte, 4096)
	for i := 0; i < b.N; i++ {
		f.ReadAt(buf, int64(i%256)*4096)
	}
}
func BenchmarkTmpPreadv2(b *testing.B) {
	f := benchCachedFile(b)
	fd := int(f.Fd())
	buf := make([]byte, 4096)
	iov := [][]byte{buf}
	for i := 0; i < b.N; i++ {
		unix.Preadv2(fd, iov, int64(i%256)*4096, unix.RWF_NOWAIT)
	}
}
func BenchmarkTmpPread(b *testing.B) {
	f := benchCachedFile(b)
	fd := int(f.Fd())
	buf := make([]byte, 4096)
	for i := 0; i < b.N; i++ {
		unix.Pread(fd, buf, int64(i%256)*4096)
	}
}
