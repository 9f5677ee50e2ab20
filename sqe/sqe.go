package sqe

import "unsafe"

// SQE is struct io_uring_sqe (64 bytes). Unions are flattened to the member
// aioring uses; the comment names the others sharing the same bytes.
type SQE struct {
	Opcode      Op     // __u8 opcode
	Flags       Flag   // __u8 flags (IOSQE_*)
	Ioprio      uint16 // __u16 ioprio; also send/recv/accept op flags
	Fd          int32  // __s32 fd
	Off         uint64 // off | addr2
	Addr        uint64 // addr | splice_off_in
	Len         uint32 // len
	OpFlags     uint32 // rw_flags | fsync_flags | msg_flags | timeout_flags | accept_flags | cancel_flags | nop_flags ...
	UserData    uint64 // user_data, returned in the CQE
	BufIndex    uint16 // buf_index | buf_group
	Personality uint16 // personality
	FileIndex   uint32 // splice_fd_in | file_index | optlen | addr_len
	Addr3       uint64 // addr3 | attr_ptr | optval
	Pad2        uint64 // __pad2[0]
}

// Size is sizeof(struct io_uring_sqe) without IORING_SETUP_SQE128.
const Size = 64

var _ [Size - unsafe.Sizeof(SQE{})]byte // compile-time: SQE is 64 bytes

// Op is an io_uring opcode (enum io_uring_op).
type Op uint8

// Opcodes, numbered as enum io_uring_op.
const (
	OpNop         Op = 0  // IORING_OP_NOP
	OpReadv       Op = 1  // IORING_OP_READV
	OpWritev      Op = 2  // IORING_OP_WRITEV
	OpFsync       Op = 3  // IORING_OP_FSYNC
	OpReadFixed   Op = 4  // IORING_OP_READ_FIXED
	OpWriteFixed  Op = 5  // IORING_OP_WRITE_FIXED
	OpPollAdd     Op = 6  // IORING_OP_POLL_ADD
	OpPollRemove  Op = 7  // IORING_OP_POLL_REMOVE
	OpSendmsg     Op = 9  // IORING_OP_SENDMSG
	OpRecvmsg     Op = 10 // IORING_OP_RECVMSG
	OpTimeout     Op = 11 // IORING_OP_TIMEOUT
	OpTimeoutRmv  Op = 12 // IORING_OP_TIMEOUT_REMOVE
	OpAccept      Op = 13 // IORING_OP_ACCEPT
	OpAsyncCancel Op = 14 // IORING_OP_ASYNC_CANCEL
	OpLinkTimeout Op = 15 // IORING_OP_LINK_TIMEOUT
	OpConnect     Op = 16 // IORING_OP_CONNECT
	OpRead        Op = 22 // IORING_OP_READ
	OpWrite       Op = 23 // IORING_OP_WRITE
	OpSend        Op = 26 // IORING_OP_SEND
	OpRecv        Op = 27 // IORING_OP_RECV
	OpShutdown    Op = 34 // IORING_OP_SHUTDOWN
)

var opNames = map[Op]string{
	OpNop: "NOP", OpReadv: "READV", OpWritev: "WRITEV", OpFsync: "FSYNC",
	OpReadFixed: "READ_FIXED", OpWriteFixed: "WRITE_FIXED", OpPollAdd: "POLL_ADD",
	OpPollRemove: "POLL_REMOVE", OpSendmsg: "SENDMSG", OpRecvmsg: "RECVMSG",
	OpTimeout: "TIMEOUT", OpTimeoutRmv: "TIMEOUT_REMOVE", OpAccept: "ACCEPT",
	OpAsyncCancel: "ASYNC_CANCEL", OpLinkTimeout: "LINK_TIMEOUT", OpConnect: "CONNECT",
	OpRead: "READ", OpWrite: "WRITE", OpSend: "SEND", OpRecv: "RECV", OpShutdown: "SHUTDOWN",
}

// String returns the kernel's name for the opcode without the IORING_OP_ prefix.
func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return "OP(" + itoa(int(o)) + ")"
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// Flag is a per-SQE flag (IOSQE_*).
type Flag uint8

// Per-SQE flags, as IOSQE_* in io_uring.h.
const (
	FixedFile      Flag = 1 << 0 // IOSQE_FIXED_FILE: Fd indexes the registered file table
	IODrain        Flag = 1 << 1 // IOSQE_IO_DRAIN
	IOLink         Flag = 1 << 2 // IOSQE_IO_LINK: the next SQE runs after this one
	IOHardlink     Flag = 1 << 3 // IOSQE_IO_HARDLINK
	Async          Flag = 1 << 4 // IOSQE_ASYNC: go straight to io-wq (defeats LINK_TIMEOUT)
	BufferSelect   Flag = 1 << 5 // IOSQE_BUFFER_SELECT
	CQESkipSuccess Flag = 1 << 6 // IOSQE_CQE_SKIP_SUCCESS: no CQE unless it fails
)

// Operation-specific flags, in the OpFlags word or Ioprio as noted.
const (
	FsyncDatasync = 1 << 0 // IORING_FSYNC_DATASYNC (OpFlags)

	TimeoutAbs      = 1 << 0 // IORING_TIMEOUT_ABS (OpFlags)
	TimeoutBoottime = 1 << 2 // IORING_TIMEOUT_BOOTTIME
	TimeoutRealtime = 1 << 3 // IORING_TIMEOUT_REALTIME

	CancelAll = 1 << 0 // IORING_ASYNC_CANCEL_ALL (OpFlags)
	CancelFd  = 1 << 1 // IORING_ASYNC_CANCEL_FD
	CancelAny = 1 << 2 // IORING_ASYNC_CANCEL_ANY

	NopInjectResult = 1 << 0 // IORING_NOP_INJECT_RESULT (OpFlags): res = (s32)Len

	AcceptDontwait = 1 << 1 // IORING_ACCEPT_DONTWAIT (Ioprio), 6.10+

	// RecvsendPollFirst: IORING_RECVSEND_POLL_FIRST (Ioprio of RECV,
	// RECVMSG, SEND, SENDMSG), 5.19+: arm the poll without trying first.
	RecvsendPollFirst = 1 << 0

	RWFNowait = 0x8 // RWF_NOWAIT (OpFlags of READ/WRITE)
)

// Timespec is struct __kernel_timespec, the argument of TIMEOUT and
// LINK_TIMEOUT. The kernel copies it at submission (IORING_FEAT_SUBMIT_STABLE),
// but it must not live on a goroutine stack, which may move.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// SetNanoseconds stores a duration in nanoseconds.
func (t *Timespec) SetNanoseconds(ns int64) {
	t.Sec = ns / 1e9
	t.Nsec = ns % 1e9
}
