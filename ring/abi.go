package ring

import "github.com/aioring/aioring/sqe"

// Probe is the set of opcodes the running kernel supports
// (IORING_REGISTER_PROBE). The zero Probe supports nothing.
type Probe struct {
	LastOp    sqe.Op
	supported [256]bool
}

// Supports reports whether op is implemented by the kernel.
func (p *Probe) Supports(op sqe.Op) bool { return p.supported[op] }

// Kernel ABI of io_uring (include/uapi/linux/io_uring.h). These declarations
// are plain data so the package builds everywhere.

// SQRingOffsets is struct io_sqring_offsets (40 bytes).
type SQRingOffsets struct {
	Head        uint32 // head
	Tail        uint32 // tail
	RingMask    uint32 // ring_mask
	RingEntries uint32 // ring_entries
	Flags       uint32 // flags
	Dropped     uint32 // dropped
	Array       uint32 // array (0 with IORING_SETUP_NO_SQARRAY)
	Resv1       uint32 // resv1
	UserAddr    uint64 // user_addr (IORING_SETUP_NO_MMAP)
}

// CQRingOffsets is struct io_cqring_offsets (40 bytes).
type CQRingOffsets struct {
	Head        uint32 // head
	Tail        uint32 // tail
	RingMask    uint32 // ring_mask
	RingEntries uint32 // ring_entries
	Overflow    uint32 // overflow
	CQEs        uint32 // cqes
	Flags       uint32 // flags
	Resv1       uint32 // resv1
	UserAddr    uint64 // user_addr
}

// Params is struct io_uring_params (120 bytes), in and out of io_uring_setup.
type Params struct {
	SQEntries    uint32        // sq_entries
	CQEntries    uint32        // cq_entries
	Flags        SetupFlags    // flags
	SQThreadCPU  uint32        // sq_thread_cpu
	SQThreadIdle uint32        // sq_thread_idle (ms)
	Features     Features      // features
	WQFd         uint32        // wq_fd
	Resv         [3]uint32     // resv, must be zero
	SQOff        SQRingOffsets // sq_off
	CQOff        CQRingOffsets // cq_off
}

// CQE is struct io_uring_cqe (16 bytes; no IORING_SETUP_CQE32).
type CQE struct {
	UserData uint64 // user_data
	Res      int32  // res: result, or -errno
	Flags    uint32 // flags (IORING_CQE_F_*)
}

// CQE flags.
const (
	CQEFBuffer = 1 << 0 // IORING_CQE_F_BUFFER
	CQEFMore   = 1 << 1 // IORING_CQE_F_MORE: a multishot request will post more
	// CQEFSockNonempty: IORING_CQE_F_SOCK_NONEMPTY (5.19), data was left in
	// the socket after this receive.
	CQEFSockNonempty = 1 << 2
	CQEFNotif        = 1 << 3 // IORING_CQE_F_NOTIF
)

// SetupFlags are IORING_SETUP_* flags.
type SetupFlags uint32

// Setup flags, as IORING_SETUP_* in io_uring.h.
const (
	SetupIOPoll       SetupFlags = 1 << 0  // IORING_SETUP_IOPOLL
	SetupSQPoll       SetupFlags = 1 << 1  // IORING_SETUP_SQPOLL
	SetupSQAff        SetupFlags = 1 << 2  // IORING_SETUP_SQ_AFF
	SetupCQSize       SetupFlags = 1 << 3  // IORING_SETUP_CQSIZE
	SetupClamp        SetupFlags = 1 << 4  // IORING_SETUP_CLAMP
	SetupAttachWQ     SetupFlags = 1 << 5  // IORING_SETUP_ATTACH_WQ
	SetupRDisabled    SetupFlags = 1 << 6  // IORING_SETUP_R_DISABLED
	SetupSubmitAll    SetupFlags = 1 << 7  // IORING_SETUP_SUBMIT_ALL (5.18)
	SetupCoopTaskrun  SetupFlags = 1 << 8  // IORING_SETUP_COOP_TASKRUN (5.19)
	SetupTaskrunFlag  SetupFlags = 1 << 9  // IORING_SETUP_TASKRUN_FLAG (5.19)
	SetupSQE128       SetupFlags = 1 << 10 // IORING_SETUP_SQE128
	SetupCQE32        SetupFlags = 1 << 11 // IORING_SETUP_CQE32
	SetupSingleIssuer SetupFlags = 1 << 12 // IORING_SETUP_SINGLE_ISSUER (6.0)
	SetupDeferTaskrun SetupFlags = 1 << 13 // IORING_SETUP_DEFER_TASKRUN (6.1)
	SetupNoMmap       SetupFlags = 1 << 14 // IORING_SETUP_NO_MMAP
	SetupRegisteredFd SetupFlags = 1 << 15 // IORING_SETUP_REGISTERED_FD_ONLY
	SetupNoSQArray    SetupFlags = 1 << 16 // IORING_SETUP_NO_SQARRAY (6.6)
)

// Features are IORING_FEAT_* bits reported by io_uring_setup.
type Features uint32

// Feature bits, as IORING_FEAT_* in io_uring.h.
const (
	FeatSingleMmap   Features = 1 << 0  // IORING_FEAT_SINGLE_MMAP
	FeatNoDrop       Features = 1 << 1  // IORING_FEAT_NODROP
	FeatSubmitStable Features = 1 << 2  // IORING_FEAT_SUBMIT_STABLE
	FeatRWCurPos     Features = 1 << 3  // IORING_FEAT_RW_CUR_POS
	FeatFastPoll     Features = 1 << 5  // IORING_FEAT_FAST_POLL
	FeatExtArg       Features = 1 << 8  // IORING_FEAT_EXT_ARG
	FeatNativeWorker Features = 1 << 9  // IORING_FEAT_NATIVE_WORKERS
	FeatCQESkip      Features = 1 << 11 // IORING_FEAT_CQE_SKIP
	FeatLinkedFile   Features = 1 << 12 // IORING_FEAT_LINKED_FILE
)

// SQ ring flags (the word at sq_off.flags), written by the kernel.
const (
	SQNeedWakeup = 1 << 0 // IORING_SQ_NEED_WAKEUP
	SQCQOverflow = 1 << 1 // IORING_SQ_CQ_OVERFLOW: CQEs wait in the kernel's backlog
	SQTaskrun    = 1 << 2 // IORING_SQ_TASKRUN: task work pending (TASKRUN_FLAG)
)

// io_uring_enter flags.
const (
	EnterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS
	EnterSQWakeup  = 1 << 1 // IORING_ENTER_SQ_WAKEUP
	EnterSQWait    = 1 << 2 // IORING_ENTER_SQ_WAIT
	EnterExtArg    = 1 << 3 // IORING_ENTER_EXT_ARG
)

// GetEventsArg is struct io_uring_getevents_arg (24 bytes), passed with
// EnterExtArg.
type GetEventsArg struct {
	Sigmask     uint64 // sigmask
	SigmaskSz   uint32 // sigmask_sz
	MinWaitUsec uint32 // min_wait_usec
	Ts          uint64 // ts: *struct __kernel_timespec
}

// mmap offsets.
const (
	offSQRing = 0          // IORING_OFF_SQ_RING
	offCQRing = 0x8000000  // IORING_OFF_CQ_RING
	offSQEs   = 0x10000000 // IORING_OFF_SQES
)

// io_uring_register opcodes.
const (
	registerBuffers     = 0  // IORING_REGISTER_BUFFERS
	unregisterBuffers   = 1  // IORING_UNREGISTER_BUFFERS
	registerFiles       = 2  // IORING_REGISTER_FILES
	unregisterFiles     = 3  // IORING_UNREGISTER_FILES
	registerEventfd     = 4  // IORING_REGISTER_EVENTFD
	unregisterEventfd   = 5  // IORING_UNREGISTER_EVENTFD
	registerProbe       = 8  // IORING_REGISTER_PROBE
	registerEnableRings = 12 // IORING_REGISTER_ENABLE_RINGS
	registerIOWQMax     = 19 // IORING_REGISTER_IOWQ_MAX_WORKERS (5.15)
)

// probeOp is struct io_uring_probe_op (8 bytes).
type probeOp struct {
	Op    uint8
	Resv  uint8
	Flags uint16 // IO_URING_OP_SUPPORTED = 1
	Resv2 uint32
}

// probeHeader is the fixed part of struct io_uring_probe (16 bytes).
type probeHeader struct {
	LastOp uint8 // last_op
	OpsLen uint8 // ops_len
	Resv   uint16
	Resv2  [3]uint32
}

const opSupported = 1 // IO_URING_OP_SUPPORTED

// Maximum ring sizes the kernel accepts (KERN_MAX_ENTRIES, KERN_MAX_CQ_ENTRIES).
const (
	MaxEntries   = 32768
	MaxCQEntries = 65536
)

// Options configure New.
type Options struct {
	// Entries is the submission queue size, rounded up to a power of two by
	// the kernel (at most MaxEntries).
	Entries uint32
	// CQEntries sizes the completion queue (IORING_SETUP_CQSIZE); 0 leaves
	// the kernel's default of twice Entries.
	CQEntries uint32
	// Flags are the setup flags to try first. When the kernel answers EINVAL,
	// New drops them in the order FallbackOrder gives and retries, so a newer flag never keeps
	// an older kernel from working. Flags() reports what was kept.
	Flags SetupFlags
	// SQThreadIdle is the SQPOLL thread's idle time in milliseconds.
	SQThreadIdle uint32
}

// Provided-buffer rings (5.19).
const (
	registerPbufRing   = 22 // IORING_REGISTER_PBUF_RING
	unregisterPbufRing = 23 // IORING_UNREGISTER_PBUF_RING

	// MaxBufRingEntries is the most descriptors a buffer ring may hold
	// (the kernel's limit: ring_entries < 65536, a power of two; liburing
	// and the kernel's own tests keep to 32768).
	MaxBufRingEntries = 32768

	// CQEBufferShift: a CQE with CQEFBuffer carries the buffer id in
	// Flags >> CQEBufferShift (IORING_CQE_BUFFER_SHIFT).
	CQEBufferShift = 16
)
