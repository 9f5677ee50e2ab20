// Package completion runs the goroutine that owns an io_uring: it is the
// only code that submits to the ring or reaps from it.
//
// Any goroutine hands it work with Loop.Submit and Loop.Cancel. The loop
// batches everything queued while it was busy into one io_uring_enter, reaps
// every CQE that is ready, and passes each to a Handler. When there is
// nothing to do it spins briefly and then sleeps inside io_uring_enter; a
// submitter that finds it asleep wakes it by writing an eventfd on which the
// loop keeps a READ armed in the ring, so one wait covers both kinds of
// event.
//
// With IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN (the default flags, used
// when the kernel has them) the kernel lets only the creating thread submit,
// and completions are delivered only while that thread waits in the ring. The
// loop therefore creates the ring from its own goroutine locked to its OS
// thread, and never leaves it. Without those flags it does not lock.
//
// User data is encoded with sqe.Pack. Kinds KindWake and KindCancel are the
// loop's own; its Handler sees every other CQE.
package completion
