package completion

// Declarations shared by the Linux shard and the stub that builds elsewhere.

import (
	"errors"
	"time"

	"github.com/aioring/aioring/internal/seat"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// The shard's own user data kinds. Users of the shard must not use them.
const (
	KindWake   sqe.Kind = sqe.MaxKind     // a NOP whose CQE wakes a parked reaper
	KindCancel sqe.Kind = sqe.MaxKind - 1 // ASYNC_CANCEL requests; their CQEs are not passed on
)

// ErrBroken is returned by Queue after the kernel reported that it dropped
// completions (EBADR): operations in flight then may never complete.
var ErrBroken = errors.New("completion: the kernel dropped completions (EBADR)")

// SomeRound is Push's round for a caller inside a reaper's round that does
// not know which reaper runs it (goroutine ids are positive).
const SomeRound int64 = -1

// Urgent is Push's round for a start that must reach the kernel at once
// wherever it runs, a reaper's round included: a read that will wait for
// a storage device, which the device begins sooner the sooner it has it
// (docs/design.md, decision 44). Push counts it, and the seated reaper
// then waits for the ring in io_uring_enter for a while (Shard.park).
const Urgent int64 = -2

// MaxSQEs is the most entries one Request may ask for.
const MaxSQEs = 4

// DefaultFlags are the setup flags a shard asks for first; the ring falls
// back from them on kernels that lack some (ring.FallbackOrder()).
//
// COOP_TASKRUN (decision 41): an operation the kernel finishes as task_work
// (a receive that waited, a read whose device completed) is queued on its
// submitting thread without an interrupt when that thread is running; it
// runs at that thread's next entry into the kernel (a system call, the
// scheduler's tick), and a thread asleep is woken as before. Without it the
// kernel kicks a running submitter with an inter-processor interrupt, in
// the sender's context: on this 2-vCPU VM that made a TCP echo client spend
// 32% more CPU per message against the engine than against net.
//
// Deliberately absent, by measurement (docs/design.md): SINGLE_ISSUER and
// DEFER_TASKRUN tie all submission and completion work to one thread, so
// every operation would cross to that thread and back.
const DefaultFlags = ring.SetupSubmitAll | ring.SetupNoSQArray | ring.SetupCoopTaskrun

// Request is one unit of work for the ring: usually an operation and, when
// it has a timeout, its LINK_TIMEOUT. Exactly one of its CQEs is final
// (Handler.Complete says which). Shard.Queue calls SQEs and then Prep
// on the calling goroutine, with entries that are consecutive in the ring.
type Request interface {
	// SQEs returns how many entries Prep fills, 1 to MaxSQEs.
	SQEs() int
	// Prep fills the entries; it must overwrite each one completely (the
	// sqe helpers do). It must not block.
	Prep(s []*sqe.SQE)
	// MayBlock reports whether submitting the request can run long inline
	// work in the kernel (a large page-cache copy): see
	// ring.EnterPublished.
	MayBlock() bool
}

// Ticket is a position in a ring's submission queue, just past a queued
// Request's entries (Shard.QueueTicket). Shard.SubmitThrough returns once
// the kernel has taken every entry before it: from then on the kernel has
// resolved the entries' descriptor numbers to files, so closing a number
// and reusing it no longer reaches them.
type Ticket uint32

// Callback is work that must run on one of the shard's reapers (the
// workers of its seat): an operation's user callback.
type Callback = seat.Callback

// Batch collects the callbacks a reaper runs after a round of reaping.
type Batch = seat.Batch

// Handler receives a shard's completions.
type Handler interface {
	// Inline reports whether c may be completed on a user's goroutine
	// (one that reaps after its submission, or in Wait): true when it
	// runs no callback. It is called with the CQ held and must be quick.
	Inline(c *ring.CQE) bool
	// Complete handles one CQE of the handler's kinds after it has left
	// the ring. b is the reaper's batch, to which callbacks go; it is nil
	// when a user's goroutine reaps, and then Inline approved c. It must
	// not block. It reports whether c was its Request's last CQE: the
	// shard counts Requests in flight to know when a reaper must watch
	// the ring.
	Complete(c *ring.CQE, b *Batch) (final bool)
}

// Config configures a shard.
type Config struct {
	Entries   uint32          // submission queue size (at least 8)
	CQEntries uint32          // completion queue size; 0: 8 × Entries
	Flags     ring.SetupFlags // setup flags to try first; 0: DefaultFlags
	Reapers   int             // goroutines that reap and run callbacks; at least 1
	Handler   Handler
	// FileWorkers caps the kernel's bounded io-wq workers (file work
	// that must wait) per thread that submits to the ring
	// (IORING_REGISTER_IOWQ_MAX_WORKERS); 0 leaves the kernel's cap. A
	// kernel without the call (before 5.15) keeps its own.
	FileWorkers uint32
	// BusyPoll is how long the seated reaper polls the CQ before it
	// parks with work in flight (busypoll_linux.go); 0 never.
	BusyPoll time.Duration
}

// Stats are counters kept by a shard, for tests and benchmarks.
type Stats struct {
	Enters    uint64 // io_uring_enter calls
	Submitted uint64 // SQEs the kernel consumed
	Completed uint64 // CQEs reaped
	Inline    uint64 // CQEs reaped by user goroutines (a subset of Completed)
	Sleeps    uint64 // times the seated reaper parked with nothing to do (on the ring or, with nothing in flight, off it)
	Wakeups   uint64 // times a parked reaper was woken by the engine itself: a wake NOP, or a kick when work arrived
	Polls     uint64 // busy polls the seated reaper began before parking (busypoll_linux.go)
	Looks     uint64 // looks at the ring those polls made (tests: whether a poll goes on)
}

// Add sums counters, for an engine of several shards.
func (s Stats) Add(o Stats) Stats {
	return Stats{Enters: s.Enters + o.Enters, Submitted: s.Submitted + o.Submitted,
		Completed: s.Completed + o.Completed, Inline: s.Inline + o.Inline,
		Sleeps: s.Sleeps + o.Sleeps, Wakeups: s.Wakeups + o.Wakeups, Polls: s.Polls + o.Polls, Looks: s.Looks + o.Looks}
}
