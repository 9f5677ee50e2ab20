package sqe

// Splice and shutdown (datagrams use SENDMSG/RECVMSG from prep.go).

// OpSplice is IORING_OP_SPLICE (5.7).
const OpSplice Op = 30

func init() { opNames[OpSplice] = "SPLICE" }

// SpliceFNonblock is SPLICE_F_NONBLOCK: the pipe end does not wait.
const SpliceFNonblock = 0x02

// Splice prepares IORING_OP_SPLICE of up to n bytes from fdIn at offIn to
// fdOut at offOut (-1: no offset, as a pipe or socket needs; the kernel
// reads (u64)-1 as "none"), as io_uring_prep_splice does: fd is the
// output, splice_fd_in (FileIndex) the input, splice_off_in in Addr.
func (s *SQE) Splice(fdIn int32, offIn int64, fdOut int32, offOut int64, n uint32, flags uint32) {
	s.prepRW(OpSplice, fdOut, nil, n, uint64(offOut))
	s.Addr = uint64(offIn)
	s.FileIndex = uint32(fdIn)
	s.OpFlags = flags
}

// Shutdown prepares IORING_OP_SHUTDOWN (5.11) of socket fd; how is
// SHUT_RD, SHUT_WR or SHUT_RDWR (carried in len).
func (s *SQE) Shutdown(fd int32, how uint32) {
	s.prepRW(OpShutdown, fd, nil, how, 0)
}
