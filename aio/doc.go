// Package aio is the Go form of nng's nng_aio, driven by io_uring, or
// where io_uring cannot be used by a portable backend with the same
// contract.
//
// An Aio is a reusable handle that runs one asynchronous operation at a
// time. Allocate it with a callback, set its parameters (buffers with
// SetIOV, a timeout with SetTimeout or SetExpire), start an operation (Nop,
// Sleep, ReadAt, WriteAt, Fsync, Recv, Send, Accept, Connect), and the
// callback runs exactly once when the operation ends, on one of the engine's
// callback goroutines. Result and Count tell how it went. Wait blocks until
// the operation and its callback are done; an Aio without a callback is used
// with Wait alone.
//
// Every Aio belongs to an Engine, which owns one or more io_urings (package
// completion) and binds each Aio to one of them. The goroutine that starts
// an operation writes its submission queue entries and enters the kernel
// itself; what the kernel completes during that call (a NOP, a cached
// read, a send with buffer room) is reaped on the same goroutine when the
// Aio has no callback, so Wait returns without a wakeup. Callbacks run on
// the engine's own goroutines, which reap each ring through Go's netpoller;
// operations a callback starts are submitted together when its batch of
// callbacks returns. A timeout becomes a linked LINK_TIMEOUT entry, or, for
// operations the kernel's link timer cannot interrupt (regular-file I/O
// and fsync run in io-wq workers), a runtime timer that cancels the
// operation with IORING_OP_ASYNC_CANCEL; Sleep is a runtime timer. Cancel,
// Abort and Stop use ASYNC_CANCEL too, and the operation's own completion
// decides the result: data that was received is never reported as
// cancelled or timed out. docs/design.md describes the engine.
//
// Buffers passed to SetIOV must not be touched while an operation that uses
// them is in flight; the engine keeps them reachable and pinned until the
// kernel is done with them, which is always before the callback runs.
//
// Rules, as in nng:
//   - Starting an operation while the previous one has not reached its
//     callback panics. The callback may start the next operation; so may
//     another goroutine once the callback has begun (as in nng), although
//     Busy stays true until the callback returns. An operation started by
//     another goroutine while the callback runs is submitted when the
//     callback's batch returns (or with any earlier submission on its
//     ring).
//   - Wait, Stop and Free must not be called from the Aio's own callback;
//     use Reap there.
//   - Start failures (a stopped Aio, a closed engine, a zero timeout that
//     cannot complete at once, an expiry in the past) are reported through
//     the callback like any other result.
//
// # Backends
//
// Config.Backend picks how operations reach the kernel. BackendIOURing is
// the engine described above. BackendPortable implements the same
// contract without io_uring: socket operations are non-blocking system
// calls (MSG_DONTWAIT; the caller's descriptor flags are kept) that wait
// for readiness in an epoll (kqueue) instance of the engine's own, parked
// on Go's netpoller; file operations are blocking system calls on a
// bounded pool of goroutines; callbacks run on the engine's callback
// goroutines. BackendAuto, the zero value, is io_uring where it can be
// used and the portable backend otherwise; Engine.Backend says which runs
// and Engine.Fallback why io_uring was not used. The environment variable
// AIORING_BACKEND ("io_uring" or "portable") overrides BackendAuto for
// every engine, Default's included, so any program or test suite runs on
// either backend unchanged; any other value makes NewEngine return
// ErrInvalid. On macOS and the BSDs the portable backend is what
// NewEngine gives. Windows is not supported.
package aio
