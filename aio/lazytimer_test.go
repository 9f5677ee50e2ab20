//go:build linux

package aio

// The lazy arm (ops.go, armLazyLocked; decision 48): a long relative
// timeout on a socket transfer is the Aio's timer, left running across
// operations. What must hold: each operation times out at its own
// deadline, never earlier and not much later; a later operation is not
// cut by a fire meant for an earlier one; a shorter timeout re-arms the
// timer earlier; a Sleep or another arm after it is not cut short by it;
// and a freed Aio's lazy arm is stopped.

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lazySetup returns an Aio without a callback on a fresh engine, with
// timeout set, and a connected pair of stream sockets x and y; all are
// freed and closed at the end of the test.
func lazySetup(t *testing.T, timeout time.Duration) (a *Aio, x, y int) {
	t.Helper()
	e := testEngine(t)
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	a = e.NewAio(nil)
	t.Cleanup(a.Free) // before the engine's Close and the sockets' (cleanups run last first)
	a.SetTimeout(timeout)
	return a, p[0], p[1]
}

// recvWait receives into buf on a (no callback) and waits.
func recvWait(a *Aio, fd int, buf []byte) (int, error, time.Duration) {
	t0 := time.Now()
	a.SetIOV(buf)
	a.Recv(fd)
	a.Wait()
	return a.Count(), a.Result(), time.Since(t0)
}

// echoOnce sends one byte on y and receives it on x through a.
func echoOnce(t *testing.T, a *Aio, x, y int) {
	t.Helper()
	if _, err := unix.Write(y, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if n, err, _ := recvWait(a, x, make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Recv = %d, %v; want 1, nil", n, err)
	}
}

func TestLazyTimeoutIsEachOperations(t *testing.T) {
	const timeout = 150 * time.Millisecond
	a, x, y := lazySetup(t, timeout)
	for range 20 {
		echoOnce(t, a, x, y)
	}
	a.mu.Lock()
	lazy := a.lazy && a.armed
	a.mu.Unlock()
	if !lazy {
		t.Fatal("a Recv with a 150 ms timeout left no lazy arm")
	}
	// The fire meant for the first Recvs' deadlines must not cut a later
	// one: start one 100 ms on, and answer it 100 ms after that, past
	// the first deadline but inside its own.
	time.Sleep(100 * time.Millisecond)
	wrote := make(chan struct{})
	defer func() { <-wrote }() // y stays open (and its number ours) until the write
	go func() {
		defer close(wrote)
		time.Sleep(100 * time.Millisecond)
		unix.Write(y, []byte{2})
	}()
	if n, err, _ := recvWait(a, x, make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Recv answered inside its own deadline = %d, %v; want 1, nil", n, err)
	}
	// One that gets nothing times out at its own deadline.
	n, err, took := recvWait(a, x, make([]byte, 1))
	if !errors.Is(err, ErrTimedOut) || n != 0 {
		t.Fatalf("unanswered Recv = %d, %v; want 0, ErrTimedOut", n, err)
	}
	if took < timeout || took > timeout+5*time.Second {
		t.Errorf("unanswered Recv timed out after %v, want %v (and not seconds later)", took, timeout)
	}
}

// A shorter timeout than the running lazy arm's re-arms it: the operation
// times out at its own deadline, not the old one.
func TestLazyTimeoutShortened(t *testing.T) {
	a, x, y := lazySetup(t, 10*time.Second)
	echoOnce(t, a, x, y)
	a.SetTimeout(150 * time.Millisecond)
	_, err, took := recvWait(a, x, make([]byte, 1))
	if !errors.Is(err, ErrTimedOut) {
		t.Fatalf("Recv = %v, want ErrTimedOut", err)
	}
	if took < 150*time.Millisecond || took > 5*time.Second {
		t.Errorf("timed out after %v, want 150ms, well before the earlier arm's 10s", took)
	}
}

// A Sleep after transfers with a lazy arm lasts its whole duration: the
// lazy fire due during it is dropped, not taken for the Sleep's.
func TestLazyArmDoesNotCutASleep(t *testing.T) {
	a, x, y := lazySetup(t, 120*time.Millisecond)
	echoOnce(t, a, x, y)
	a.SetTimeout(Infinite)
	t0 := time.Now()
	a.Sleep(400 * time.Millisecond)
	a.Wait()
	if err, took := a.Result(), time.Since(t0); err != nil || took < 400*time.Millisecond {
		t.Errorf("Sleep(400ms) = %v after %v; want nil after at least 400ms", err, took)
	}
}

// Freeing an Aio stops its lazy arm.
func TestLazyArmStoppedByFree(t *testing.T) {
	a, x, y := lazySetup(t, time.Hour)
	echoOnce(t, a, x, y)
	a.Free()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.armed || a.lazy {
		t.Errorf("after Free: armed %v, lazy %v; want the lazy arm stopped", a.armed, a.lazy)
	}
}
