package completion

// Declarations shared by the Linux loop and the stub that builds elsewhere.

import (
	"time"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// The loop's own user data kinds. Users of the loop must not use them.
const (
	KindWake   sqe.Kind = sqe.MaxKind     // the eventfd READ that wakes a sleeping loop
	KindCancel sqe.Kind = sqe.MaxKind - 1 // ASYNC_CANCEL requests; their CQEs are not passed on
)

// MaxSQEs is the most entries one Request may ask for.
const MaxSQEs = 4

// DefaultFlags are the setup flags the loop asks for first. The ring falls
// back from them on kernels that lack some (ring.FallbackOrder).
const DefaultFlags = ring.SetupSingleIssuer | ring.SetupDeferTaskrun | ring.SetupCoopTaskrun |
	ring.SetupTaskrunFlag | ring.SetupSubmitAll | ring.SetupNoSQArray

// Request is one unit of work for the ring: usually an operation and, when it
// has a timeout, its LINK_TIMEOUT. The loop calls SQEs and then Prep on its
// own goroutine, with entries that are consecutive in one submission.
type Request interface {
	// SQEs returns how many entries Prep fills, 1 to MaxSQEs.
	SQEs() int
	// Prep fills the entries; it must overwrite each one completely (the
	// sqe helpers do). It must not block.
	Prep(s []*sqe.SQE)
	// QueueNode returns the request's own link for the submission queue,
	// so queueing never allocates. A request must not be submitted again
	// before its final CQE has reached the Handler.
	QueueNode() *Node
}

// Node links a Request into the loop's submission queue. Embed one in the
// request and return it from QueueNode; its fields are the loop's.
type Node struct {
	next *Node
	req  Request
}

// Handler receives completions on the loop goroutine. It must not block and
// must not call back into the Loop except Submit and Cancel.
type Handler interface {
	// Complete handles one CQE and reports whether it was the last CQE of a
	// Request (the loop counts requests in flight to know when it may close).
	Complete(c *ring.CQE) (final bool)
	// Flush runs after each batch of Complete calls, so the handler can hand
	// a whole batch on at once.
	Flush()
}

// Config configures Start.
type Config struct {
	Entries   uint32          // submission queue size (at least 8)
	CQEntries uint32          // completion queue size; 0: 8 × Entries
	Flags     ring.SetupFlags // setup flags to try first; 0: DefaultFlags
	// Spin is how long the loop polls for new work before it sleeps; 0 means
	// DefaultSpin, negative means never spin.
	Spin    time.Duration
	Handler Handler
	// Netpoll makes an idle loop park on Go's netpoller (the ring's fd is
	// registered there and becomes readable when a CQE is posted) instead
	// of sleeping inside io_uring_enter. The loop goroutine is then not
	// locked to a thread, so an idle engine holds no OS thread; the ring
	// runs without SINGLE_ISSUER, DEFER_TASKRUN and COOP_TASKRUN, which all
	// tie completions to one thread.
	Netpoll bool
}

// DefaultSpin is how long an idle loop polls before sleeping: long enough to
// catch a caller that restarts an operation right after its completion,
// short enough not to matter to an idle process.
const DefaultSpin = 20 * time.Microsecond

// Stats are counters kept by the loop, for tests and benchmarks.
type Stats struct {
	Enters    uint64 // io_uring_enter calls
	Submitted uint64 // SQEs the kernel consumed
	Completed uint64 // CQEs reaped
	Sleeps    uint64 // waits in the kernel with nothing else to do
	Wakeups   uint64 // eventfd writes by submitters that found the loop asleep
}
