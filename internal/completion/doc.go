// Package completion is the aio engine's io_uring backend: a Shard is a
// ring, the goroutines that reap it, and the rules for who may touch which
// end of it. It is internal because only the engine should import it: its
// API follows the engine's needs, not a contract with users (the pure-Go
// liburing that users may import is ring and sqe).
//
// Any goroutine submits: Queue writes a Request's SQEs into the ring under
// the shard's SQ lock, and Push enters the kernel on the calling goroutine
// and then reaps, on that same goroutine, what completed during the
// submission and needs no callback (Handler.Inline). What needs a callback,
// and what completes later, goes to the shard's reapers: one of them holds
// the seat and waits for the ring through an epoll instance (the ring fd
// armed one-shot) parked on Go's netpoller; with nothing in flight it waits
// off the ring on a channel instead, and the ring fd is out of the epoll
// set. A round reaps every CQE, gives each to the Handler, runs the
// callbacks it collected on the reaper's own goroutine, and submits in one
// enter what those callbacks queued. The reapers are an internal/seat Seat's
// workers: its doc has the seat's rules (the standby reapers, the watchdog
// that hands the seat on when a callback blocks, hand-offs).
//
// The ring runs without SINGLE_ISSUER and DEFER_TASKRUN (many goroutines
// submit) and with COOP_TASKRUN; docs/design.md has the measurements.
//
// User data is encoded with sqe.Pack. Kinds KindWake and KindCancel are the
// shard's own; its Handler sees every other CQE.
package completion
