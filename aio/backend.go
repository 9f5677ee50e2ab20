package aio

import (
	"fmt"
	"os"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Backend names how an engine carries operations to the kernel.
type Backend string

// The backends. Every one implements the whole contract of this package;
// they differ in how, and so in speed.
const (
	// BackendAuto is io_uring where it can be used, and the portable
	// backend otherwise (Engine.Fallback says why). The environment
	// variable AIORING_BACKEND overrides it.
	BackendAuto Backend = ""
	// BackendIOURing is io_uring or, where it cannot be used, an error
	// matching ErrUnsupported that says why and what to do.
	BackendIOURing Backend = "io_uring"
	// BackendPortable runs sockets as non-blocking system calls with
	// readiness waits on Go's netpoller (through an epoll or kqueue
	// instance of the engine's own) and file I/O as blocking system calls
	// on a bounded pool of goroutines. It needs no io_uring.
	BackendPortable Backend = "portable"
)

// BackendEnv is the environment variable that overrides BackendAuto for
// every engine, Default's included: "io_uring" or "portable".
const BackendEnv = "AIORING_BACKEND"

// resolveBackend applies AIORING_BACKEND to BackendAuto and checks the
// result.
func resolveBackend(b Backend) (Backend, error) {
	if b == BackendAuto {
		if v, ok := os.LookupEnv(BackendEnv); ok && v != "" {
			switch Backend(v) {
			case BackendIOURing, BackendPortable:
				return Backend(v), nil
			}
			return "", &wrapError{ErrInvalid, fmt.Errorf("%s=%q: want %q or %q (or unset)", BackendEnv, v, BackendIOURing, BackendPortable)}
		}
		return BackendAuto, nil
	}
	switch b {
	case BackendIOURing, BackendPortable:
		return b, nil
	}
	return "", &wrapError{ErrInvalid, fmt.Errorf("Config.Backend %q: want %q, %q or %q", string(b), BackendAuto, BackendIOURing, BackendPortable)}
}

// backend is the seam between the semantics of an operation (this
// package: the state table in lifecycle.go, results in complete.go,
// timeouts in ops.go) and what carries it out: an io_uring shard
// (ringBackend) or the portable backend (internal/portable). The Aio describes
// its operation once, backend-neutrally (op.Desc); a backend turns the
// description into its own form and reports how it ended in op's terms
// (op.Result), through the engine's handler; it decides nothing of the
// contract.
type backend interface {
	// Supports reports whether the backend can carry out d as described
	// (the kernel's probe on io_uring).
	Supports(d *op.Desc) bool
	// Try carries out d at once on the calling goroutine, with no lock
	// held (but see TryUnderLock), if a system call can finish it without blocking (a page-cache
	// hit); done false: nothing happened that counts, Queue it.
	Try(d *op.Desc) (r op.Result, done bool)
	// TryUnderLock reports whether Try of d is short and never waits,
	// so that the starter may call it with the Aio's mu held.
	TryUnderLock(d *op.Desc) bool
	// Queue takes d, the description of an Aio whose mu is held; nothing
	// completes inside it. Submit carries it out.
	Queue(d *op.Desc) error
	// Cancel asks to end the operation d describes (Aio.mu held); its
	// own result still decides.
	Cancel(d *op.Desc) error
	// Submit carries out what the start of d queued, on the calling
	// goroutine as far as that never blocks, and never runs a callback
	// on it. round: d's Aio restarts itself from its own callback, which
	// the backend's worker goroutine with that id runs in a round;
	// completion.SomeRound in a round of an unknown worker;
	// completion.Urgent for an operation that waits for a device, to be
	// submitted at once wherever it was started; else 0.
	Submit(d *op.Desc, round int64)
	// Push carries out whatever is queued (cancels, and on the ring the
	// SQEs of others too), under the same rules.
	Push(round int64)
	// ReapInline completes, on the calling goroutine, results that are
	// ready and need no callback; it returns how many.
	ReapInline() int
	// Handoff runs cb on one of the backend's goroutines; ok is false when
	// it has none left. It makes no system call (callers hold an Aio's
	// mutex); wake reports that Wake must be called once no lock is held.
	Handoff(completion.Callback) (ok, wake bool)
	// HandoffHere is Handoff for a callback the calling goroutine made
	// due by finishing an operation at once: when it is one of the
	// backend's goroutines in a round, cb runs there next, with no wake.
	HandoffHere(completion.Callback) (ok, wake bool)
	// Wake wakes the goroutine that Handoff said must be woken.
	Wake()
	// WokeWaiter records that an operation's end readied a goroutine
	// waiting for it in Wait, which then wants a P more than a poll of
	// the backend's does (decision 72).
	WokeWaiter()
	// Broken reports that results may have been lost (EBADR).
	Broken() bool
	// IsReaper reports whether goroutine goid runs the backend's callbacks.
	IsReaper(goid int64) bool
	// Close stops the backend's goroutines; every request has ended.
	Close() error
}

// deviceCounter is the ring's count of operations waiting for a device
// (completion.Shard.DeviceDone), which decides whether a start from a
// round goes to the kernel at once (decision 83); the portable backend
// has none.
type deviceCounter interface{ DeviceDone() }

// ringBackend is an io_uring shard as a backend: what a start queued is
// in the SQ, and Push submits it with everything else queued. Beyond the
// seam it is what the message machinery and zero-copy send need of a
// ring (multishot requests, a provided-buffer ring), which they reach
// through the ringer interface.
type ringBackend struct {
	*completion.Shard
	probe *ring.Probe
}

// Supports implements backend: the kernel's probe has d's opcode.
func (r ringBackend) Supports(d *op.Desc) bool {
	o, ok := completion.Opcode(d)
	return ok && r.probe.Supports(o)
}

// Queue implements backend.
func (r ringBackend) Queue(d *op.Desc) error { return r.QueueOp(d) }

// Cancel implements backend: an ASYNC_CANCEL of d's token.
func (r ringBackend) Cancel(d *op.Desc) error { return r.QueueCancel(sqe.UserData(d.Token)) }

// Submit implements backend.
func (r ringBackend) Submit(_ *op.Desc, round int64) { r.Push(round) }

// ringer is what only a ring offers: requests of the engine's own making
// (multishot receive and accept) and their cancels, and provided-buffer
// rings. The message machinery asks a backend for it and, on the
// portable backend, does without.
type ringer interface {
	QueueRequest(completion.Request) (completion.Ticket, error)
	SubmitThrough(completion.Ticket)
	QueueCancel(sqe.UserData) error
	QueueCancelFD(fd int32) (completion.Ticket, error)
	RegisterBufRing(entries uint32, group uint16) (*ring.BufRing, error)
}

// QueueRequest implements ringer.
func (r ringBackend) QueueRequest(req completion.Request) (completion.Ticket, error) {
	return r.Shard.QueueTicket(req)
}

var (
	_ backend = ringBackend{}
	_ ringer  = ringBackend{}
)
