package aio_test

// Contract rules "Cancel and Abort" and "Provider API" (/work/shared/API.md):
// what Cancel and Abort do to kernel ops and to provider ops, and that no
// byte is lost to a cancel that races the data.

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
)

// Rule "Start failures": Start on a stopped aio, with a zero timeout or a
// past expiry returns false, and the callback still runs with the reason.
func TestProviderStartFailures(t *testing.T) {
	cases := []struct {
		name  string
		setup func(e *aio.Engine, a *aio.Aio)
		want  error
	}{
		{"stopped", func(e *aio.Engine, a *aio.Aio) { a.Stop() }, aio.ErrStopped},
		{"zero-timeout", func(e *aio.Engine, a *aio.Aio) { a.SetTimeout(0) }, aio.ErrTimedOut},
		{"zero-timeout-nil-cancel", func(e *aio.Engine, a *aio.Aio) { a.SetTimeout(0) }, aio.ErrTimedOut},
		{"past-expire", func(e *aio.Engine, a *aio.Aio) { a.SetExpire(time.Now().Add(-time.Millisecond)) }, aio.ErrTimedOut},
		{"closed", func(e *aio.Engine, a *aio.Aio) { e.Close() }, aio.ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			r := newRecorder()
			a := e.NewAio(r.cb)
			tc.setup(e, a)
			var cancel func(*aio.Aio, error)
			if tc.name != "zero-timeout-nil-cancel" {
				cancel = func(a *aio.Aio, err error) { t.Errorf("cancel hook called (%v) for a Start that failed", err) }
			}
			if a.Start(cancel) {
				t.Fatal("Start returned true")
			}
			if c := r.next(t); !errors.Is(c.err, tc.want) {
				t.Errorf("callback got %v, want %v", c.err, tc.want)
			}
			a.Wait()
			e.Close()
			if n := r.n.Load(); n != 1 {
				t.Errorf("callback ran %d times, want 1", n)
			}
		})
	}
}

// Rule "Cancel and Abort": Cancel or Abort on an idle aio changes nothing:
// Result and Count of the last op stay, no callback runs, it stays idle.
func TestCancelIdleChangesNothing(t *testing.T) {
	e := newEngine(t, aio.Config{})
	x, y, _, _ := socketpair(t)
	r := newRecorder()
	a := e.NewAio(r.cb)

	// Never used.
	a.Cancel()
	a.Abort(errCustom)
	if a.Busy() || a.Result() != nil || a.Count() != 0 {
		t.Fatalf("fresh aio after Cancel: busy=%v result=%v count=%d", a.Busy(), a.Result(), a.Count())
	}

	// After a success.
	write(t, y, "12345")
	a.SetIOV(make([]byte, 16))
	a.Recv(x)
	r.next(t)
	a.Wait()
	a.Cancel()
	a.Abort(errCustom)
	if a.Busy() || a.Result() != nil || a.Count() != 5 {
		t.Fatalf("after Cancel on an idle aio: busy=%v result=%v count=%d, want false, nil, 5", a.Busy(), a.Result(), a.Count())
	}

	// After a failure.
	a.Recv(-1)
	r.next(t)
	a.Wait()
	a.Cancel()
	if got := a.Result(); got != syscall.EBADF {
		t.Fatalf("after Cancel on an idle aio: result %v, want EBADF", got)
	}

	// No callback came from the Cancels: a Nop is the only one to come.
	a.Nop()
	r.next(t)
	e.Close()
	if n := r.n.Load(); n != 3 {
		t.Fatalf("%d callbacks, want 3", n)
	}
}

// Rule "Cancel and Abort": a Recv that got data is never reported as
// cancelled or timed out, and a cancelled one consumed nothing. Race the
// data against Cancel, Abort and a timeout many times; every byte sent
// must be received exactly once, either by the aio or left in the socket.
func TestNoDataLostToCancel(t *testing.T) {
	for _, how := range []string{"cancel", "abort", "timeout"} {
		t.Run(how, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			x, y, _, _ := socketpair(t)
			r := newRecorder()
			a := e.NewAio(r.cb)
			buf := make([]byte, 64)
			a.SetIOV(buf)
			var got, cancelled int
			for i := 0; i < 500; i++ {
				msg := fmt.Sprintf("msg-%04d", i)
				if how == "timeout" {
					a.SetTimeout(time.Duration(i%4) * 50 * time.Microsecond)
					if i%4 == 0 {
						a.SetTimeout(aio.Infinite)
					}
				}
				a.Recv(x)
				write(t, y, msg)
				switch how {
				case "cancel":
					a.Cancel()
				case "abort":
					a.Abort(errCustom)
				}
				c := r.next(t)
				a.Wait()
				if c.count > 0 {
					got++
					if c.err != nil {
						t.Fatalf("iteration %d: %d bytes received but Result = %v", i, c.count, c.err)
					}
					if s := string(buf[:c.count]); s != msg {
						t.Fatalf("iteration %d: received %q, want %q", i, s, msg)
					}
					continue
				}
				cancelled++
				want := aio.ErrCanceled
				switch how {
				case "abort":
					want = errCustom
				case "timeout":
					want = aio.ErrTimedOut
				}
				if !errors.Is(c.err, want) {
					t.Fatalf("iteration %d: Count 0 with %v, want %v", i, c.err, want)
				}
				if rest := string(drain(t, x)); rest != msg {
					t.Fatalf("iteration %d: op %v, but the socket holds %q, want %q (bytes lost)", i, c.err, rest, msg)
				}
			}
			t.Logf("%s: %d received, %d cancelled before data", how, got, cancelled)
		})
	}
}

// Rule "Cancel and Abort" on the engine-timer path: a ReadAt on a pipe
// raced against Cancel never loses bytes either.
func TestNoDataLostToCancelPipe(t *testing.T) {
	e := newEngine(t, aio.Config{})
	rfd, wfd, _, _ := pipe(t)
	r := newRecorder()
	a := e.NewAio(r.cb)
	buf := make([]byte, 64)
	a.SetIOV(buf)
	for i := 0; i < 300; i++ {
		msg := fmt.Sprintf("pipe-%04d", i)
		if i%2 == 0 {
			a.SetTimeout(time.Duration(i%5) * 40 * time.Microsecond)
		} else {
			a.SetTimeout(aio.Infinite)
		}
		a.ReadAt(rfd, -1)
		write(t, wfd, msg)
		if i%2 == 1 {
			a.Cancel()
		}
		c := r.next(t)
		a.Wait()
		if c.count > 0 {
			if c.err != nil || string(buf[:c.count]) != msg {
				t.Fatalf("iteration %d: (%v, %q), want (nil, %q)", i, c.err, buf[:c.count], msg)
			}
			continue
		}
		if !errors.Is(c.err, aio.ErrCanceled) && !errors.Is(c.err, aio.ErrTimedOut) {
			t.Fatalf("iteration %d: Count 0 with %v", i, c.err)
		}
		if rest := string(drain(t, rfd)); rest != msg {
			t.Fatalf("iteration %d: op %v, pipe holds %q, want %q", i, c.err, rest, msg)
		}
	}
}

// Rule "Provider API": Start/Finish carry the result and count; the cancel
// hook receives ErrCanceled on Cancel, ErrTimedOut after the timeout
// (never before it), the Abort error, and ErrStopped on Stop; it is called
// at most once.
func TestProviderCancelHook(t *testing.T) {
	t.Run("finish-count", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		r := newRecorder()
		a := e.NewAio(r.cb)
		if !a.Start(func(*aio.Aio, error) { t.Error("cancel hook called") }) {
			t.Fatal("Start returned false")
		}
		go a.Finish(nil, 42)
		if c := r.next(t); c.err != nil || c.count != 42 {
			t.Fatalf("(%v, %d), want (nil, 42)", c.err, c.count)
		}
	})
	cases := []struct {
		name    string
		setup   func(a *aio.Aio)
		trigger func(a *aio.Aio)
		want    error
	}{
		{"cancel", nil, func(a *aio.Aio) { a.Cancel() }, aio.ErrCanceled},
		{"abort", nil, func(a *aio.Aio) { a.Abort(errCustom) }, errCustom},
		{"stop", nil, func(a *aio.Aio) { go a.Stop() }, aio.ErrStopped},
		{"timeout", func(a *aio.Aio) { a.SetTimeout(40 * time.Millisecond) }, nil, aio.ErrTimedOut},
		{"expire", func(a *aio.Aio) { a.SetExpire(time.Now().Add(40 * time.Millisecond)) }, nil, aio.ErrTimedOut},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			r := newRecorder()
			a := e.NewAio(r.cb)
			if tc.setup != nil {
				tc.setup(a)
			}
			hook := make(chan error, 4)
			t0 := time.Now()
			if !a.Start(func(h *aio.Aio, err error) {
				if h != a {
					t.Errorf("cancel hook got another aio")
				}
				hook <- err
			}) {
				t.Fatal("Start returned false")
			}
			if tc.trigger != nil {
				tc.trigger(a)
				tc.trigger(a) // a second request must not call the hook again
			}
			var got error
			select {
			case got = <-hook:
			case <-time.After(waitLimit):
				t.Fatal("cancel hook not called")
			}
			if !errors.Is(got, tc.want) {
				t.Fatalf("hook got %v, want %v", got, tc.want)
			}
			if tc.trigger == nil && time.Since(t0) < 40*time.Millisecond {
				t.Fatalf("timed out after %v, before 40ms", time.Since(t0))
			}
			if !a.Busy() {
				t.Fatal("not Busy before the provider's Finish")
			}
			a.Finish(got, 0)
			if c := r.next(t); !errors.Is(c.err, tc.want) {
				t.Fatalf("callback got %v, want %v", c.err, tc.want)
			}
			a.Wait()
			select {
			case err := <-hook:
				t.Fatalf("hook called a second time (%v)", err)
			default:
			}
		})
	}
}

// Rule "Provider API": a nil cancel means the op can neither time out nor
// be cancelled; only Finish ends it.
func TestProviderNilCancel(t *testing.T) {
	e := newEngine(t, aio.Config{})
	r := newRecorder()
	a := e.NewAio(r.cb)
	a.SetTimeout(20 * time.Millisecond)
	if !a.Start(nil) {
		t.Fatal("Start returned false")
	}
	a.Cancel()
	time.Sleep(150 * time.Millisecond) // proving an absence
	select {
	case c := <-r.ch:
		t.Fatalf("op with a nil cancel ended by itself: %v", c.err)
	default:
	}
	if !a.Busy() {
		t.Fatal("not Busy")
	}
	a.Finish(nil, 3)
	if c := r.next(t); c.err != nil || c.count != 3 {
		t.Fatalf("(%v, %d), want (nil, 3)", c.err, c.count)
	}
}

// Rule "Provider API": Finish without a pending Start panics, and so does a
// second Finish.
func TestFinishWithoutStartPanics(t *testing.T) {
	e := newEngine(t, aio.Config{})
	r := newRecorder()
	a := e.NewAio(r.cb)
	mustPanic(t, "Finish on a fresh aio", func() { a.Finish(nil, 0) })
	if !a.Start(nil) {
		t.Fatal("Start returned false")
	}
	a.Finish(nil, 1)
	mustPanic(t, "a second Finish", func() { a.Finish(nil, 2) })
	if c := r.next(t); c.err != nil || c.count != 1 {
		t.Fatalf("(%v, %d), want (nil, 1)", c.err, c.count)
	}
	a.Wait()
	a.Nop()
	r.next(t)
	a.Wait()
	mustPanic(t, "Finish after a kernel op", func() { a.Finish(nil, 0) })
	e.Close()
	if n := r.n.Load(); n != 2 {
		t.Fatalf("%d callbacks, want 2", n)
	}
}
