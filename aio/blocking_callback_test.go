package aio_test

// Rule "Exactly once", its last sentences: a callback that blocks holds
// back nothing but itself. An operation it started before it blocked, and
// other Aios' completions (even those reaped in the same round as its
// own), go on: their callbacks run on another of the engine's goroutines
// while it still blocks. Each case blocks a callback until another
// callback has run, with a bound far above any latency, so a completion
// held back by the blocked callback shows as a failure, not a hang.

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// blockLimit bounds how long a test's callback blocks waiting for another
// callback: far above any latency, and well under waitLimit.
const blockLimit = 5 * time.Second

// blockedStart runs one case: a's callback starts b's operation (start)
// and then blocks until b's callback has run. It fails if b's callback
// did not run while a's callback blocked.
func blockedStart(t *testing.T, e *aio.Engine, start func(b *aio.Aio)) {
	t.Helper()
	bRan := make(chan struct{})
	var bCalls atomic.Int32
	b := e.NewAio(func(b *aio.Aio) {
		if bCalls.Add(1) == 1 {
			close(bRan)
		}
	})
	defer b.Free()
	var sawB atomic.Bool
	a := e.NewAio(func(a *aio.Aio) {
		start(b)
		select {
		case <-bRan:
			sawB.Store(true)
		case <-time.After(blockLimit):
		}
	})
	defer a.Free()
	a.Nop()
	a.Wait()
	if !sawB.Load() {
		t.Fatalf("b's callback did not run within %v while a's callback, which started b's operation, blocked waiting for it", blockLimit)
	}
	b.Wait()
	if err := b.Result(); err != nil {
		t.Fatalf("b's result: %v", err)
	}
	if n := bCalls.Load(); n != 1 {
		t.Fatalf("b's callback ran %d times, want 1", n)
	}
}

func TestBlockedCallbackDoesNotHoldBackItsStarts(t *testing.T) {
	e := newEngine(t, aio.Config{})
	t.Run("Nop", func(t *testing.T) {
		blockedStart(t, e, func(b *aio.Aio) { b.Nop() })
	})
	t.Run("ReadAt", func(t *testing.T) {
		fd := tempFile(t, strings.Repeat("x", 4096), unix.O_RDONLY)
		buf := make([]byte, 4096)
		blockedStart(t, e, func(b *aio.Aio) {
			b.SetIOV(buf)
			b.ReadAt(fd, 0)
		})
	})
	t.Run("Sleep", func(t *testing.T) {
		blockedStart(t, e, func(b *aio.Aio) { b.Sleep(time.Millisecond) })
	})
	t.Run("RecvWithDataWaiting", func(t *testing.T) {
		lfd, sa, _ := listener(t, 1)
		snd, _ := dial(t, sa)
		rcv, _, err := unix.Accept(lfd)
		if err != nil {
			t.Fatal(err)
		}
		own(t, rcv)
		if _, err := unix.Write(snd, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		blockedStart(t, e, func(b *aio.Aio) {
			b.SetIOV(buf)
			b.Recv(rcv)
		})
	})
	// The start comes after the watchdog has already handed the seat on:
	// the blocked round is no longer the holder's when it queues.
	t.Run("NopAfterHandover", func(t *testing.T) {
		blockedStart(t, e, func(b *aio.Aio) {
			time.Sleep(20 * time.Millisecond) // the behaviour under test: a start from a round the watchdog gave up on
			b.Nop()
		})
	})
}

// An Aio restarting itself from its callback and then blocking: its next
// callback may not run beside the one still running (one Aio's callbacks
// never overlap), and it runs once that one returns.
func TestBlockedCallbackSelfRestartDoesNotOverlap(t *testing.T) {
	e := newEngine(t, aio.Config{})
	var running, overlaps, calls atomic.Int32
	release := make(chan struct{})
	done := make(chan struct{})
	a := e.NewAio(func(a *aio.Aio) {
		if running.Add(1) != 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		switch calls.Add(1) {
		case 1:
			a.Nop()
			select { // long enough for the watchdog to give up on this round
			case <-release:
			case <-time.After(50 * time.Millisecond):
			}
		case 2:
			close(done)
		}
	})
	defer a.Free()
	a.Nop()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("the restarted operation's callback never ran")
	}
	a.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d callbacks of one Aio ran beside another of its callbacks", n)
	}
}

// A callback blocks on a channel that another Aio's callback closes. The
// other completion is reaped in the same round (both started in one
// batch, by a third callback), or later, or is a Sleep's.
func TestBlockedCallbackDoesNotHoldBackOthers(t *testing.T) {
	e := newEngine(t, aio.Config{})
	run := func(t *testing.T, startBoth func(a, c *aio.Aio)) {
		cRan := make(chan struct{})
		var sawC atomic.Bool
		c := e.NewAio(func(*aio.Aio) { close(cRan) })
		defer c.Free()
		a := e.NewAio(func(*aio.Aio) {
			select {
			case <-cRan:
				sawC.Store(true)
			case <-time.After(blockLimit):
			}
		})
		defer a.Free()
		startBoth(a, c)
		a.Wait()
		c.Wait()
		if !sawC.Load() {
			t.Fatalf("c's callback did not run within %v while a's callback blocked waiting for it", blockLimit)
		}
	}
	t.Run("SameRound", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			run(t, func(a, c *aio.Aio) {
				d := e.NewAio(func(*aio.Aio) { a.Nop(); c.Nop() })
				d.Nop()
				d.Wait()
				d.Free()
			})
		}
	})
	t.Run("Later", func(t *testing.T) {
		run(t, func(a, c *aio.Aio) {
			a.Nop()
			time.Sleep(5 * time.Millisecond) // a's callback is blocked by now (not required: ordering only varies the case)
			c.Nop()
		})
	})
	t.Run("Sleep", func(t *testing.T) {
		run(t, func(a, c *aio.Aio) {
			a.Nop()
			c.Sleep(2 * time.Millisecond)
		})
	})
}

// The same cases with GOMAXPROCS=1, in a child process (GOMAXPROCS changes
// the engine's defaults and would disturb other tests in this one).
func TestBlockedCallbackOneProc(t *testing.T) {
	if os.Getenv("AIORING_BLOCKED_CHILD") != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBlockedCallback(DoesNotHoldBack|SelfRestart)", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "AIORING_BLOCKED_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBlockedCallbackDoesNotHoldBackOthers") {
		t.Fatalf("child with GOMAXPROCS=1: %v\n%s", err, out)
	}
	if runtime.GOMAXPROCS(0) != 1 {
		t.Logf("child passed with GOMAXPROCS=1 (this process: %d)", runtime.GOMAXPROCS(0))
	}
}
