package aio

// Stats are an engine's counters (Engine.Stats), for tests, benchmarks and
// diagnosis: how many system calls the engine made into its rings and how
// its callback goroutines slept and woke. They count from NewEngine and
// only grow.
type Stats struct {
	Enters    uint64 // io_uring_enter system calls (submissions and waits)
	Submitted uint64 // requests the kernel took from the submission queues
	Completed uint64 // completions reaped
	Inline    uint64 // of Completed, those reaped by a goroutine that started or waited for its operation, with no hand-off
	Sleeps    uint64 // times a callback goroutine parked with nothing to do
	Wakeups   uint64 // times the engine woke a parked callback goroutine itself
	Polls     uint64 // times a callback goroutine polled for work before parking (Config.BusyPoll), on either backend
	Direct    uint64 // operations finished by a system call of the engine's own, never reaching the ring: a read or write tried first on its starter, a Splice on its starter or after a readiness wait, an Fsync or Fdatasync on a sync worker (none with Config.RingOnly); not attempts that would have had to wait, nor errors
	// Requeued counts socket transfers (Recv, Send, RecvFrom, SendTo,
	// Accept) that the kernel gave back unfinished and the engine queued
	// again: io_uring stops waiting for a socket's readiness itself after
	// 128 wake-ups that found nothing to do, which several operations
	// waiting on one socket cause (each datagram wakes them all). On a
	// blocking socket the kernel instead parks such an operation in an
	// io-wq worker thread until it is done; a socket that several
	// operations wait on at once is better made non-blocking
	// (docs/design.md, decision 78).
	Requeued uint64
}

// Feature is an optional capability of an engine (Engine.Supports).
type Feature uint8

// The features.
const (
	// FeatureZeroCopySend: Config.SendZeroCopyMin can take effect; the
	// kernel has IORING_OP_SEND_ZC (Linux 6.0).
	FeatureZeroCopySend Feature = iota + 1
	// FeatureMultishotRecv: RecvMsg keeps one multishot receive per
	// descriptor, with buffers the kernel picks from the engine's pool
	// (Linux 6.0); otherwise each RecvMsg is one receive.
	FeatureMultishotRecv
	// FeatureMultishotAccept: Accept keeps one multishot accept per
	// listening descriptor (Linux 5.19); otherwise each Accept is one.
	FeatureMultishotAccept
)

var featureNames = [...]string{FeatureZeroCopySend: "ZeroCopySend",
	FeatureMultishotRecv: "MultishotRecv", FeatureMultishotAccept: "MultishotAccept"}

func (f Feature) String() string {
	if int(f) < len(featureNames) && featureNames[f] != "" {
		return featureNames[f]
	}
	return "Feature(?)"
}
