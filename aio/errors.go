package aio

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// aioError is a sentinel error that also matches the standard library's
// value for the same condition, so code written against os, net or context
// recognises it with errors.Is.
type aioError struct {
	msg     string
	also    []error
	timeout bool
}

func (e *aioError) Error() string { return e.msg }

func (e *aioError) Is(target error) bool {
	for _, t := range e.also {
		if t == target {
			return true
		}
	}
	return false
}

// Timeout reports whether the error is a timeout, as net.Error does.
func (e *aioError) Timeout() bool { return e.timeout }

// The errors an operation can end with, besides a syscall.Errno from the
// kernel.
var (
	// ErrTimedOut: the operation's timeout or expiry passed first. It
	// matches os.ErrDeadlineExceeded and context.DeadlineExceeded.
	ErrTimedOut error = &aioError{msg: "aio: operation timed out", also: []error{os.ErrDeadlineExceeded, context.DeadlineExceeded}, timeout: true}
	// ErrCanceled: Cancel ended the operation. It matches context.Canceled.
	ErrCanceled error = &aioError{msg: "aio: operation canceled", also: []error{context.Canceled}}
	// ErrStopped: the Aio was stopped (Stop, Free, Reap).
	ErrStopped error = &aioError{msg: "aio: aio stopped"}
	// ErrClosed: the engine is closed. It matches os.ErrClosed and
	// net.ErrClosed.
	ErrClosed error = &aioError{msg: "aio: engine closed", also: []error{os.ErrClosed, net.ErrClosed}}
	// ErrInvalid: an argument is out of range. It matches os.ErrInvalid.
	ErrInvalid error = &aioError{msg: "aio: invalid argument", also: []error{os.ErrInvalid}}
	// ErrUnsupported: io_uring, or the operation, is not available here. It
	// matches errors.ErrUnsupported.
	ErrUnsupported error = &aioError{msg: "aio: not supported", also: []error{errors.ErrUnsupported}}
)

// wrapError attaches a cause to one of the sentinel errors: errors.Is
// matches both, and the message says which and why.
type wrapError struct {
	kind  error
	cause error
}

func (e *wrapError) Error() string   { return e.kind.Error() + ": " + e.cause.Error() }
func (e *wrapError) Unwrap() []error { return []error{e.kind, e.cause} }

// errSentEmpty is a Send or SendTo of a non-empty buffer that the kernel
// ended with 0 bytes sent: io_uring on Linux 6.18 does that to a unix
// datagram socket whose peer's queue is full (complete.go), after its
// receiver got an empty datagram. It matches syscall.EAGAIN (the peer had
// no room), so a caller that retries on EAGAIN sends the data again.
var errSentEmpty error = &aioError{msg: "aio: the kernel sent an empty datagram in place of the buffer (io_uring, a unix datagram peer with a full queue): nothing of it was sent", also: []error{syscall.EAGAIN}}
