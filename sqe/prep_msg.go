package sqe

// Prep helpers for multishot requests and kernel-selected buffers.

import "unsafe"

// Flags for multishot receive and accept, in the Ioprio field.
const (
	IoprioRecvMultishot   = 1 << 1 // IORING_RECV_MULTISHOT (6.0), in Ioprio of RECV
	IoprioAcceptMultishot = 1 << 0 // IORING_ACCEPT_MULTISHOT (5.19), in Ioprio of ACCEPT
)

// RecvMultishot prepares a multishot IORING_OP_RECV that takes each buffer
// from buffer group group (IOSQE_BUFFER_SELECT): one CQE per receive, each
// with IORING_CQE_F_BUFFER and the buffer id, and IORING_CQE_F_MORE while
// the request stays armed. Len is 0: each receive may fill a whole buffer.
func (s *SQE) RecvMultishot(fd int32, group uint16, msgFlags uint32) {
	s.prepRW(OpRecv, fd, nil, 0, 0)
	s.Flags = BufferSelect
	s.Ioprio = IoprioRecvMultishot
	s.OpFlags = msgFlags
	s.BufIndex = group
}

// RecvmsgMultishot prepares a multishot IORING_OP_RECVMSG (6.0) that takes
// each buffer from buffer group group: msg is a template the kernel reads
// when the request is prepared (msg_namelen and msg_controllen only; its
// iovec count must be 0). Each CQE's buffer holds a struct
// io_uring_recvmsg_out, then msg_namelen bytes of source address, then
// msg_controllen bytes of control data, then the payload; res is the bytes
// used from the start of the buffer. A datagram socket posts one CQE per
// datagram, an empty one included.
func (s *SQE) RecvmsgMultishot(fd int32, msg unsafe.Pointer, group uint16, msgFlags uint32) {
	s.prepRW(OpRecvmsg, fd, msg, 1, 0)
	s.Flags = BufferSelect
	s.Ioprio = IoprioRecvMultishot
	s.OpFlags = msgFlags
	s.BufIndex = group
}

// AcceptMultishot prepares a multishot IORING_OP_ACCEPT: one CQE per
// accepted connection (its descriptor in res), IORING_CQE_F_MORE while it
// stays armed. flags are accept4's (SOCK_CLOEXEC, ...).
func (s *SQE) AcceptMultishot(fd int32, flags uint32) {
	s.prepRW(OpAccept, fd, nil, 0, 0)
	s.Ioprio = IoprioAcceptMultishot
	s.OpFlags = flags
}
