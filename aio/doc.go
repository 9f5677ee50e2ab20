// Package aio is the Go form of nng's nng_aio, driven by io_uring, or
// where io_uring cannot be used by a portable backend with the same
// contract.
//
// An Aio is a reusable handle that runs one asynchronous operation at a
// time. Allocate it with a callback, set its parameters (buffers with
// SetIOV, a timeout with SetTimeout or SetExpire), start an operation
// (Nop, Sleep, ReadAt, WriteAt, Fsync, Recv, RecvMsg, Send, Accept,
// Connect; datagrams with SendTo, RecvFrom and From; Splice, Shutdown),
// and the callback runs exactly once when the operation ends,
// on one of the engine's callback goroutines. Result and Count tell how it
// went. Wait blocks until the operation and its callback are done; an Aio
// without a callback is used with Wait alone.
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
// operation with IORING_OP_ASYNC_CANCEL; Sleeps wait in the engine's
// queue, under one runtime timer, and a fire ends every Sleep then due on
// one goroutine. Cancel,
// Abort and Stop use ASYNC_CANCEL too, and the operation's own completion
// decides the result: data that was received is never reported as
// cancelled or timed out. docs/design.md describes the engine.
//
// Buffers passed to SetIOV must not be touched while an operation that uses
// them is in flight; the engine keeps them reachable and pinned until the
// kernel is done with them, which is always before the callback runs. An
// Aio keeps its last buffer pinned until its next operation uses another
// (or none), Free or Reap, or the engine's Close: the next operation on the
// same buffer then costs no pin.
//
// # Messages
//
// RecvMsg receives into a buffer of the engine's pool that the kernel
// picks (nng_aio_get_msg): Msg then holds the bytes, now the caller's,
// who gives the buffer back with Msg.Free. SetMsg attaches a message to an
// Aio (nng_aio_set_msg), and Send then sends its bytes, so a RecvMsg →
// SetMsg → Send chain forwards data without copying it. The engine never
// frees a message by itself; a second Free, or Bytes or Send after Free,
// panics.
//
// Under the hood each descriptor RecvMsg is used on has one multishot
// receive armed in the kernel (IORING_RECV_MULTISHOT with a
// provided-buffer ring, Linux 6.0): messages that arrive while nobody
// receives are queued in order for the next RecvMsg, and one that arrives
// as a RecvMsg is cancelled or times out is kept, never lost. On older
// kernels RecvMsg is a single-shot receive into a pool buffer, with the
// same contract. Accept on a listening descriptor likewise keeps one
// multishot accept armed and queues accepted descriptors. On a datagram
// socket each message is one datagram, with its source in From (see
// Aio.RecvMsg), and SendTo sends an attached message back. A Recv or
// RecvFrom on a descriptor with a multishot armed takes what the next
// RecvMsg would have, from the same queue and in order, copied into its
// IOV.
//
// Memory is bounded twice. Each ring has one pool of Config.MsgBuffers
// buffers of Config.MsgBufferSize bytes (by default 1024 × 4 KiB: 4 MiB of
// address space per ring, made on the ring's first RecvMsg, resident only
// as the kernel writes buffers); an idle connection pins no buffer, only
// its state (under 1 KiB of heap, measured). Each descriptor queues at
// most 16 results (messages or accepted descriptors) before the engine
// stops its multishot, so the sender is held back by TCP flow control;
// nothing is dropped. When the pool runs dry (ENOBUFS) a receive waits for
// a Free, subject to its timeout: it is not an error. A RecvMsg with a
// zero timeout returns what has already arrived, or ErrTimedOut.
//
// A descriptor's multishot lives as long as an Aio that started RecvMsg
// or Accept on it does: when the last such Aio stops (Stop, Free or Reap)
// the engine cancels the multishot, gives queued messages back to the pool
// and closes queued accepted descriptors. So freeing the Aios and closing
// the descriptor with a plain close, in either order, closes the socket (a
// connection sends its FIN, a listener stops accepting), and nothing
// queued is leaked; what was queued and not received is discarded. To
// keep receiving on a descriptor, keep one Aio that used it. The engine
// also drops a descriptor's state by itself once a RecvMsg or Accept has
// reported its end (end of stream or an error), and Engine.Close drops
// them all.
//
// Engine.CloseFD is needed when a descriptor is closed while an Aio that
// used it lives on (a pooled Aio, or a listener whose accepting Aios keep
// running): after a plain close the kernel's multishot then holds the
// socket open until that Aio stops, and if the number is reused, an Aio
// already attached to the old descriptor would get its queued data. (A
// RecvMsg or Accept from an Aio that has not used the old descriptor
// checks its identity, and starts afresh on the new one.) CloseFD ends the
// multishot, ends waiting calls with ErrClosed (on io_uring also the
// requests waiting in the ring on the descriptor), and closes the
// descriptor.
//
// Config.SendZeroCopyMin (0, off, by default) makes Sends of at least that
// many bytes zero-copy (IORING_OP_SEND_ZC): worth trying on real NICs; over
// loopback it never paid (docs/design.md, decision 15). The callback then
// waits until the kernel has released the buffer, for TCP until the peer
// has acknowledged the data, which can be well after the send's timeout.
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
// NewEngine gives. Windows is not supported. On the portable backend
// RecvMsg is a single-shot receive into a pool buffer (as on kernels
// before 6.0): a waiting RecvMsg holds one buffer, and nothing is queued
// between calls; Accept is single-shot, and zero-copy send is off.
package aio
