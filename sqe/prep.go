package sqe

import "unsafe"

// The prep helpers mirror liburing's io_uring_prep_* (src/include/liburing.h).
// Each overwrites every field of s, so an entry reused from the ring never
// carries stale bits into a new request. Pointers are stored as integers: the
// caller must keep the memory they name reachable, and off any goroutine
// stack, for as long as the kernel may use it (see each helper).

func (s *SQE) prepRW(op Op, fd int32, addr unsafe.Pointer, n uint32, off uint64) {
	*s = SQE{Opcode: op, Fd: fd, Addr: uint64(uintptr(addr)), Len: n, Off: off}
}

// Nop prepares IORING_OP_NOP.
func (s *SQE) Nop() { s.prepRW(OpNop, -1, nil, 0, 0) }

// NopInject prepares a NOP whose CQE carries res (IORING_NOP_INJECT_RESULT);
// tests use it to drive error paths through the real kernel.
func (s *SQE) NopInject(res int32) {
	s.prepRW(OpNop, -1, nil, uint32(res), 0)
	s.OpFlags = NopInjectResult
}

// Read prepares IORING_OP_READ of n bytes into buf at off (-1: the file
// position). buf must stay valid until the CQE.
func (s *SQE) Read(fd int32, buf unsafe.Pointer, n uint32, off int64, rwFlags uint32) {
	s.prepRW(OpRead, fd, buf, n, uint64(off))
	s.OpFlags = rwFlags
}

// Write prepares IORING_OP_WRITE. buf must stay valid until the CQE.
func (s *SQE) Write(fd int32, buf unsafe.Pointer, n uint32, off int64, rwFlags uint32) {
	s.prepRW(OpWrite, fd, buf, n, uint64(off))
	s.OpFlags = rwFlags
}

// Readv prepares IORING_OP_READV over nr struct iovec at iov. The iovec array
// must stay valid until submission, the buffers it names until the CQE.
func (s *SQE) Readv(fd int32, iov unsafe.Pointer, nr uint32, off int64, rwFlags uint32) {
	s.prepRW(OpReadv, fd, iov, nr, uint64(off))
	s.OpFlags = rwFlags
}

// Writev prepares IORING_OP_WRITEV; lifetimes as Readv.
func (s *SQE) Writev(fd int32, iov unsafe.Pointer, nr uint32, off int64, rwFlags uint32) {
	s.prepRW(OpWritev, fd, iov, nr, uint64(off))
	s.OpFlags = rwFlags
}

// Fsync prepares IORING_OP_FSYNC of the whole file (flags: FsyncDatasync).
func (s *SQE) Fsync(fd int32, flags uint32) {
	s.prepRW(OpFsync, fd, nil, 0, 0)
	s.OpFlags = flags
}

// Recv prepares IORING_OP_RECV into buf (valid until the CQE).
func (s *SQE) Recv(fd int32, buf unsafe.Pointer, n uint32, msgFlags uint32) {
	s.prepRW(OpRecv, fd, buf, n, 0)
	s.OpFlags = msgFlags
}

// Send prepares IORING_OP_SEND from buf (valid until the CQE).
func (s *SQE) Send(fd int32, buf unsafe.Pointer, n uint32, msgFlags uint32) {
	s.prepRW(OpSend, fd, buf, n, 0)
	s.OpFlags = msgFlags
}

// Recvmsg prepares IORING_OP_RECVMSG with a struct msghdr (valid until the
// CQE, as are the buffers it names).
func (s *SQE) Recvmsg(fd int32, msg unsafe.Pointer, msgFlags uint32) {
	s.prepRW(OpRecvmsg, fd, msg, 1, 0)
	s.OpFlags = msgFlags
}

// Sendmsg prepares IORING_OP_SENDMSG; lifetimes as Recvmsg.
func (s *SQE) Sendmsg(fd int32, msg unsafe.Pointer, msgFlags uint32) {
	s.prepRW(OpSendmsg, fd, msg, 1, 0)
	s.OpFlags = msgFlags
}

// Accept prepares IORING_OP_ACCEPT. addr and addrLen may be nil; when set
// they are written at completion and must stay valid until the CQE.
func (s *SQE) Accept(fd int32, addr unsafe.Pointer, addrLen unsafe.Pointer, flags uint32) {
	s.prepRW(OpAccept, fd, addr, 0, uint64(uintptr(addrLen)))
	s.OpFlags = flags
}

// Connect prepares IORING_OP_CONNECT to the raw sockaddr at addr (valid until
// submission) of length addrLen.
func (s *SQE) Connect(fd int32, addr unsafe.Pointer, addrLen uint32) {
	s.prepRW(OpConnect, fd, addr, 0, uint64(addrLen))
}

// PollAdd prepares a one-shot IORING_OP_POLL_ADD for events (POLLIN, ...).
func (s *SQE) PollAdd(fd int32, events uint32) {
	s.prepRW(OpPollAdd, fd, nil, 0, 0)
	s.OpFlags = events // poll32_events, little-endian hosts only
}

// Timeout prepares IORING_OP_TIMEOUT: it completes with -ETIME when ts
// expires, or with 0 once count other CQEs have been posted (count 0: only
// the timer). ts need only live until submission.
func (s *SQE) Timeout(ts *Timespec, count uint32, flags uint32) {
	s.prepRW(OpTimeout, -1, unsafe.Pointer(ts), 1, uint64(count))
	s.OpFlags = flags
}

// TimeoutRemove prepares IORING_OP_TIMEOUT_REMOVE of the timeout whose user
// data is target.
func (s *SQE) TimeoutRemove(target uint64) {
	s.prepRW(OpTimeoutRmv, -1, nil, 0, 0)
	s.Addr = target
}

// LinkTimeout prepares IORING_OP_LINK_TIMEOUT. It must directly follow, in
// the same submission, an SQE carrying IOLink; it cancels that SQE when ts
// expires.
func (s *SQE) LinkTimeout(ts *Timespec, flags uint32) {
	s.prepRW(OpLinkTimeout, -1, unsafe.Pointer(ts), 1, 0)
	s.OpFlags = flags
}

// AsyncCancel prepares IORING_OP_ASYNC_CANCEL of the request whose user data
// is target. Its CQE is 0, -ENOENT or -EALREADY; the target's own CQE carries
// the outcome for the target.
func (s *SQE) AsyncCancel(target uint64, flags uint32) {
	s.prepRW(OpAsyncCancel, -1, nil, 0, 0)
	s.Addr = target
	s.OpFlags = flags
}

// CancelFD prepares an ASYNC_CANCEL of every pending request on the file
// descriptor fd names when the kernel issues it (IORING_ASYNC_CANCEL_FD |
// IORING_ASYNC_CANCEL_ALL, 5.19); its CQE carries the count cancelled, or
// -EBADF, or -EINVAL before 5.19.
func (s *SQE) CancelFD(fd int32) {
	s.prepRW(OpAsyncCancel, fd, nil, 0, 0)
	s.OpFlags = CancelFd | CancelAll
}

// CancelAllRequests prepares an ASYNC_CANCEL matching every pending request
// (IORING_ASYNC_CANCEL_ANY|ALL); its CQE carries the count cancelled.
func (s *SQE) CancelAllRequests() {
	s.prepRW(OpAsyncCancel, -1, nil, 0, 0)
	s.OpFlags = CancelAny | CancelAll
}
