package sqe

import "unsafe"

// Files by name, metadata and durability: the opcodes that take a path or
// act on a whole descriptor. Kept apart from prep.go, as the zero-copy
// sends are. Each is one request with one CQE; the kernel hands all of
// them but CLOSE (and a cached OPENAT lookup) to io-wq.

// File opcodes, numbered as enum io_uring_op.
const (
	OpFallocate Op = 17 // IORING_OP_FALLOCATE (5.6)
	OpOpenat    Op = 18 // IORING_OP_OPENAT (5.6)
	OpClose     Op = 19 // IORING_OP_CLOSE (5.6)
	OpStatx     Op = 21 // IORING_OP_STATX (5.6)
)

func init() {
	opNames[OpFallocate] = "FALLOCATE"
	opNames[OpOpenat] = "OPENAT"
	opNames[OpClose] = "CLOSE"
	opNames[OpStatx] = "STATX"
}

// Openat prepares IORING_OP_OPENAT of the NUL-terminated path at dirfd
// with open flags (open_flags) and mode (len). The path must stay valid
// until the CQE: it is copied at prep on current kernels, but older ones
// read it when the request is issued.
func (s *SQE) Openat(dirfd int32, path unsafe.Pointer, flags uint32, mode uint32) {
	s.prepRW(OpOpenat, dirfd, path, mode, 0)
	s.OpFlags = flags
}

// Statx prepares IORING_OP_STATX of the NUL-terminated path at dirfd with
// AT_* flags (statx_flags) and mask (len) into the struct statx at buf
// (off). The path and buf must stay valid until the CQE.
func (s *SQE) Statx(dirfd int32, path unsafe.Pointer, flags uint32, mask uint32, buf unsafe.Pointer) {
	s.prepRW(OpStatx, dirfd, path, mask, uint64(uintptr(buf)))
	s.OpFlags = flags
}

// Close prepares IORING_OP_CLOSE of fd.
func (s *SQE) Close(fd int32) { s.prepRW(OpClose, fd, nil, 0, 0) }

// Fallocate prepares IORING_OP_FALLOCATE: mode in len, the offset in off
// and the length in addr, as liburing's io_uring_prep_fallocate.
func (s *SQE) Fallocate(fd int32, mode uint32, off, length int64) {
	s.prepRW(OpFallocate, fd, nil, mode, uint64(off))
	s.Addr = uint64(length)
}
