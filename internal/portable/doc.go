// Package portable is the engine's backend without io_uring: the same
// contract carried out with non-blocking system calls, readiness waits on
// Go's netpoller (through an epoll or kqueue instance of its own) and a
// bounded pool of file workers for calls that block. It takes operations
// as op.Desc, reports how they ended as op.Result to its Sink, and runs
// callbacks on an internal/seat Seat of its own, so it knows nothing of
// the aio package's types.
//
// It is internal: only the engine imports it (aio.BackendPortable selects
// it). The design notes on what runs where, and the lock order, are at the
// top of portable.go.
package portable
