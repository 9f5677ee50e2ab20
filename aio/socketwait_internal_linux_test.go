//go:build linux

package aio

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A socket transfer's short timeout is an absolute deadline on a ring
// engine, so that a submission again after the kernel gave the operation
// back (op.Kind.SocketWait) keeps it; on the portable backend, which never
// gives one back, it stays relative.
func TestSocketWaitDeadlineSurvivesRequeue(t *testing.T) {
	e := testEngine(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	ended := make(chan struct{}, 1)
	a := e.NewAio(func(*Aio) { ended <- struct{}{} })
	defer a.Free()
	a.SetTimeout(50 * time.Millisecond) // below lazyTimeoutMin: the backend's deadline
	a.SetIOV(make([]byte, 16))
	a.Recv(fds[0])
	a.mu.Lock()
	abs, rel, state := a.desc.Deadline.Abs, a.desc.Deadline.Rel, a.state
	a.mu.Unlock()
	if e.Backend() == BackendIOURing {
		if state != stateKernel {
			t.Fatalf("the Recv is not in the ring (state %v)", state)
		}
		if abs == 0 || rel != 0 {
			t.Errorf("ring Recv with a 50ms timeout: Deadline.Abs %d, Rel %d; want an absolute deadline", abs, rel)
		}
		if now := e.clock.now(); abs <= now || abs > now+int64(50*time.Millisecond) {
			t.Errorf("deadline %d ns from now, want within 50ms", abs-now)
		}
	} else if rel == 0 {
		t.Errorf("portable Recv with a 50ms timeout: Deadline.Rel 0, want it relative")
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the Recv did not time out")
	}
	if err := a.Result(); !errors.Is(err, ErrTimedOut) {
		t.Fatalf("Recv ended with %v, want ErrTimedOut", err)
	}
}
