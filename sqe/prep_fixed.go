package sqe

import "unsafe"

// Transfers through registered buffers (io_uring_register
// IORING_REGISTER_BUFFERS*): the kernel pinned the buffer's pages when it
// was registered, so the request skips pinning them anew. bufIndex names
// the buffer's slot in the ring's table; every byte addressed must lie
// inside that buffer, or the request fails with -EFAULT.

// Vectored fixed-buffer opcodes (Linux 6.15), numbered as enum io_uring_op.
const (
	OpReadvFixed  Op = 60 // IORING_OP_READV_FIXED
	OpWritevFixed Op = 61 // IORING_OP_WRITEV_FIXED
)

func init() {
	opNames[OpReadvFixed] = "READV_FIXED"
	opNames[OpWritevFixed] = "WRITEV_FIXED"
}

// ReadFixed prepares IORING_OP_READ_FIXED of n bytes into buf, which lies
// inside registered buffer bufIndex, at off (-1: the file position).
func (s *SQE) ReadFixed(fd int32, buf unsafe.Pointer, n uint32, off int64, bufIndex uint16, rwFlags uint32) {
	s.prepRW(OpReadFixed, fd, buf, n, uint64(off))
	s.OpFlags = rwFlags
	s.BufIndex = bufIndex
}

// WriteFixed prepares IORING_OP_WRITE_FIXED; as ReadFixed.
func (s *SQE) WriteFixed(fd int32, buf unsafe.Pointer, n uint32, off int64, bufIndex uint16, rwFlags uint32) {
	s.prepRW(OpWriteFixed, fd, buf, n, uint64(off))
	s.OpFlags = rwFlags
	s.BufIndex = bufIndex
}

// ReadvFixed prepares IORING_OP_READV_FIXED over nr iovecs at iov, every
// one inside registered buffer bufIndex. The kernel copies the iovec
// array at submission; the buffers are the registration's.
func (s *SQE) ReadvFixed(fd int32, iov unsafe.Pointer, nr uint32, off int64, bufIndex uint16, rwFlags uint32) {
	s.prepRW(OpReadvFixed, fd, iov, nr, uint64(off))
	s.OpFlags = rwFlags
	s.BufIndex = bufIndex
}

// WritevFixed prepares IORING_OP_WRITEV_FIXED; as ReadvFixed.
func (s *SQE) WritevFixed(fd int32, iov unsafe.Pointer, nr uint32, off int64, bufIndex uint16, rwFlags uint32) {
	s.prepRW(OpWritevFixed, fd, iov, nr, uint64(off))
	s.OpFlags = rwFlags
	s.BufIndex = bufIndex
}
