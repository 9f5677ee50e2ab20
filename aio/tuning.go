package aio

import "time"

// Runtime tuning constants, in one place. Each was chosen by measurement;
// docs/design.md has the figures.

// DefaultEntries is the submission queue size of each ring when
// Config.Entries is 0.
const DefaultEntries = 1024

// DefaultFileWorkers is Config.FileWorkers when it is 0: the kernel's
// io-wq workers for file work that must wait, per submitting thread.
const DefaultFileWorkers = 2

// DefaultBusyPoll is Config.BusyPoll when it is 0: long enough for a
// loopback round trip's next message here (20-30 µs at one connection),
// short enough that a look that finds nothing costs little (decision 50).
const DefaultBusyPoll = 50 * time.Microsecond

// syncAsideMax is how many Fsyncs and Fdatasyncs a ring engine makes at
// once as blocking calls on goroutines of its own, each holding a thread
// (decision 84); more go through the ring, to io-wq.
const syncAsideMax = 4

// cqFactor sizes each completion queue as a multiple of its submission
// queue, so bursts of completions rarely overflow into the kernel's backlog.
const cqFactor = 8

// MaxRings is the most rings an engine has (Config.Rings): each is a
// descriptor and kernel memory, and its reapers poll it, so a count far
// above the CPUs only costs. The default, one ring per two callbacks, is
// bounded by it too.
const MaxRings = 1024

// reapersPerRing is the fewest reapers a ring gets by default: one can run
// a slow callback while another keeps reaping.
const reapersPerRing = 2

// lazyTimeoutMin is the shortest relative timeout of a socket operation
// that the Aio's own runtime timer enforces, armed once and left running
// across operations (a "lazy" arm, ops.go), instead of a LINK_TIMEOUT per
// operation: an idle timeout of seconds costs then a clock read per
// operation, not a kernel timer (decision 48). Shorter ones keep the link,
// which the kernel honours to the microsecond.
const lazyTimeoutMin = 100 * time.Millisecond

// brokenCloseGrace is how long Engine.Close waits for operations on a ring
// whose kernel dropped completions (EBADR) before it ends them itself.
const brokenCloseGrace = 100 * time.Millisecond

// DefaultMsgBuffers and DefaultMsgBufferSize size each ring's message
// pool when Config leaves them 0: 1024 buffers of 4 KiB, 4 MiB of address
// space per ring, of which only the pages the kernel has written are
// resident (docs/design.md has the measurements).
const (
	DefaultMsgBuffers    = 1024
	DefaultMsgBufferSize = 4096
)

// MaxMsgBufferSize is the largest Config.MsgBufferSize: the kernel's
// largest single transfer (MAX_RW_COUNT, INT_MAX rounded down to a page).
const MaxMsgBufferSize = 0x7ffff000

// msgQueueMax is how many results (messages, accepted descriptors) a
// descriptor queues for later RecvMsg or Accept calls before the engine
// stops its multishot request; the sender is then held back by TCP flow
// control, and nothing is dropped.
const msgQueueMax = 16

// useMultishotAccept selects Accept's implementation: one multishot
// ACCEPT per listening descriptor, or a single-shot ACCEPT per call
// (docs/design.md, the accept-rate comparison).
var useMultishotAccept = true

// forceMsgFallback makes RecvMsg use its single-shot fallback and Accept
// its single-shot form, as on kernels before 6.0; tests set it before
// NewEngine.
var forceMsgFallback = false

// fixedBufferSlots is the size of each ring's registered-buffer table:
// the most FixedBuffers an engine holds at once. The table is sparse
// (kernel memory per slot is a pointer) and registered on the first
// FixedBuffer.
const fixedBufferSlots = 256

// fixedFileSlots is the size of each ring's fixed file table: the most
// descriptors RegisterFD holds at once. It must stay within RLIMIT_NOFILE
// (the kernel's bound for a file table; Go raises the soft limit to the
// hard one at start). Registered on the first RegisterFD.
const fixedFileSlots = 1024
