//go:build linux

package aio

import (
	"errors"
	"testing"

	"github.com/aioring/aioring/internal/completion"
	"golang.org/x/sys/unix"
)

// DeviceWaiting is how many reads e's rings count as waiting for a
// device (decision 83); 0 on the portable backend.
func DeviceWaiting(e *Engine) int64 {
	var n int64
	for _, s := range e.shards {
		if r, ok := s.(ringBackend); ok {
			n += completion.DeviceWaitingForTest(r.Shard)
		}
	}
	return n
}

// DeviceBacklog makes every ring of e count n more reads waiting for a
// device (n < 0: fewer), as a device holding that many would.
func DeviceBacklog(e *Engine, n int64) {
	for _, s := range e.shards {
		if r, ok := s.(ringBackend); ok {
			completion.AddDeviceBacklogForTest(r.Shard, n)
		}
	}
}

// LoopbackTCP returns a connected loopback TCP pair (sender, receiver),
// sndbuf and rcvbuf applied when positive; the caller closes both.
func LoopbackTCP(t testing.TB, sndbuf, rcvbuf int) (snd, rcv int) {
	return loopbackTCP(t, sndbuf, rcvbuf)
}

// NeedSplice and NeedShutdown skip the calling test when e cannot run the
// operation (a kernel whose io_uring probe lacks IORING_OP_SPLICE or
// IORING_OP_SHUTDOWN: the start ends with ErrUnsupported; no Feature
// names them).
func NeedSplice(t testing.TB, e *Engine)   { needSplice(t, e) }
func NeedShutdown(t testing.TB, e *Engine) { needShutdown(t, e) }

// needSplice probes with a splice from an empty pipe into another (a
// pipe into itself is EINVAL) and a zero timeout, which ends with
// ErrTimedOut on an engine that splices.
func needSplice(t testing.TB, e *Engine) {
	t.Helper()
	var pp, qq [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pp[0])
	defer unix.Close(pp[1])
	if err := unix.Pipe2(qq[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(qq[0])
	defer unix.Close(qq[1])
	probeOp(t, e, "Splice", "IORING_OP_SPLICE", ErrTimedOut, func(a *Aio) { a.Splice(pp[0], -1, qq[1], -1, 1) })
}

// needShutdown probes with a shutdown of a pipe, which the kernel refuses
// with ENOTSOCK on an engine that has the operation.
func needShutdown(t testing.TB, e *Engine) {
	t.Helper()
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pp[0])
	defer unix.Close(pp[1])
	probeOp(t, e, "Shutdown", "IORING_OP_SHUTDOWN", unix.ENOTSOCK, func(a *Aio) { a.Shutdown(pp[0], unix.SHUT_RDWR) })
}

// probeOp starts one operation with a zero timeout: ErrUnsupported skips
// the test, want is how an engine with the operation ends it, anything
// else fails the test (the probe itself would be wrong).
func probeOp(t testing.TB, e *Engine, name, opcode string, want error, start func(*Aio)) {
	t.Helper()
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(0)
	start(a)
	a.Wait()
	switch err := a.Result(); {
	case errors.Is(err, ErrUnsupported):
		t.Skipf("%s unsupported on this engine (%s backend; the ring's probe lacks %s): %v", name, e.Backend(), opcode, err)
	case !errors.Is(err, want):
		t.Fatalf("probing %s: %v, want %v", name, err, want)
	}
}

// SetSyncBeside sets how many syncs e makes beside its ring at once
// (syncaside.go) and a hook each one's goroutine runs before its call
// (after false) and once its operation has ended (after true); nil: none.
// Call it before e's first sync.
func SetSyncBeside(e *Engine, max int32, hook func(after bool)) {
	e.aside.max, e.aside.hook = max, hook
}
