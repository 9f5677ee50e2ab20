package aio

// Waiting for events instead of sleeping: tests that must act (Cancel,
// Stop, Close, a peer's reset) only once an operation waits in the kernel,
// or once something else has happened, wait for that; a sleep would let a
// busy machine turn them into a weaker case where the act comes first.
// Exported for the black-box tests (package aio_test). How an operation is
// seen to wait is per OS (parked_linux_test.go, parked_other_test.go).

import (
	"testing"
	"time"
)

// WaitUntil polls cond until it holds, failing the test after 10 s: a
// wait for an event the test cannot be told of directly.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(100 * time.Microsecond) // polling interval
	}
}

// SubmitMark is where the process's io_uring submission queues stood
// before an operation started: the sum of their tails (SqTail in each
// ring's /proc/self/fdinfo).
type SubmitMark struct{ tail uint64 }

// MarkSubmissions notes the submission queues' tails; start the operation
// after it and call Parked.
func MarkSubmissions(t testing.TB) SubmitMark {
	t.Helper()
	return SubmitMark{markTail(t)}
}

// Parked waits until a's operation on fd, started after m was taken, waits
// in the kernel, or until a is no longer busy (it ended; the caller checks
// how). On the io_uring backend: an SQE was submitted since m and the
// kernel has consumed every SQE (SqHead == SqTail in every ring), so the
// operation was issued and, not having completed, is armed on the file's
// wait queue (the ring's PollList) or with an io-wq worker. On the
// portable backend, and for a ring engine's blocking socket transfers: fd is armed in the backend's epoll instance
// (EPOLLONESHOT with a direction, in the instance's fdinfo); an arm left
// there by an earlier op on fd that was cancelled counts too.
func (m SubmitMark) Parked(t testing.TB, e *Engine, a *Aio, fd int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.Busy() {
		if m.parkedNow(t, e, a, fd) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the operation on fd %d did not park in the kernel within 10 s", fd)
		}
		time.Sleep(100 * time.Microsecond) // polling interval
	}
}

// onReadinessBackend reports whether a's current operation is a blocking
// socket transfer that a ring engine carries by readiness (sockwait.go).
func (a *Aio) onReadinessBackend() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.onPort
}
