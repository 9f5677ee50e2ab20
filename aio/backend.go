package aio

import (
	"fmt"
	"os"

	"github.com/aioring/aioring/internal/completion"
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
// (*completion.Shard) or the portable backend (*portShard). A backend only
// takes a built request out and brings its result back, as a completion
// of the request's user data (Aio.completeRes); it decides nothing of the
// contract. The method set is the shard's plus Submit, which ringBackend
// adds.
type backend interface {
	// Queue takes the request of an Aio whose mu is held; nothing
	// completes inside it. Push carries it out.
	Queue(completion.Request) error
	// QueueCancel asks to cancel the request with this user data (Aio.mu
	// held); the request's own result still decides.
	QueueCancel(sqe.UserData) error
	// Submit carries out what a's start queued, on the calling goroutine
	// as far as that never blocks, and never runs a callback on it.
	// fromCallback: a restarts itself from its own callback.
	Submit(a *Aio, fromCallback bool)
	// Push carries out whatever is queued (cancels, and on the ring the
	// SQEs of others too), under the same rules.
	Push(fromCallback bool)
	// ReapInline completes, on the calling goroutine, results that are
	// ready and need no callback; it returns how many.
	ReapInline() int
	// Handoff runs cb on one of the backend's goroutines; ok is false when
	// it has none left. It makes no system call (callers hold an Aio's
	// mutex); wake reports that Wake must be called once no lock is held.
	Handoff(completion.Callback) (ok, wake bool)
	// Wake wakes the goroutine that Handoff said must be woken.
	Wake()
	// Broken reports that results may have been lost (EBADR).
	Broken() bool
	// IsReaper reports whether goroutine goid runs the backend's callbacks.
	IsReaper(goid int64) bool
	// Close stops the backend's goroutines; every request has ended.
	Close() error
}

// ringBackend is an io_uring shard as a backend: what a start queued is
// in the SQ, and Push submits it with everything else queued.
type ringBackend struct{ *completion.Shard }

// Submit implements backend.
func (r ringBackend) Submit(_ *Aio, fromCallback bool) { r.Push(fromCallback) }

var _ backend = ringBackend{}
