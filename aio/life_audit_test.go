//go:build linux

package aio_test

// Audit of the lifecycle and the parameters common to every operation
// (Free, Reap, Stop, Abort, Wait, Busy, Result, Count, Finish, Close), on
// both backends (eachBackend). The first test failed before its fix; the
// others cover rules that held but that no earlier test checked on both
// backends in this form.

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Rule "Count: bytes transferred by the last op" with the provider API:
// a Finish with a negative count must not leave a nonsense Count. It used
// to store the count as an unsigned word, so Finish(nil, -1) made Count
// report 9223372036854775807 (math.MaxInt64), silently. Finish now
// refuses a negative count with a panic that says so, as it refuses a
// Finish without a Start, and the operation stays pending for a valid
// Finish.
func TestAuditLifeFinishNegativeCount(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		a := e.NewAio(nil)
		defer a.Free()
		if !a.Start(nil) {
			t.Fatal("Start refused on a fresh aio")
		}
		var msg string
		func() {
			defer func() { msg = panicText(recover()) }()
			a.Finish(nil, -1)
		}()
		if msg == "<non-string panic>" {
			// No panic: the result must at least be sane.
			a.Wait()
			if n := a.Count(); n < 0 || n > 0 {
				t.Fatalf("Finish(nil, -1): Count() = %d; a negative count must be refused, not reported as a byte count", n)
			}
			return
		}
		if !strings.Contains(msg, "negative") {
			t.Errorf("Finish(nil, -1) panicked with %q, which does not name the negative count", msg)
		}
		if !a.Busy() {
			t.Fatal("the refused Finish ended the operation")
		}
		a.Finish(nil, 3)
		a.Wait()
		if a.Result() != nil || a.Count() != 3 {
			t.Fatalf("after a valid Finish: (%v, %d), want (nil, 3)", a.Result(), a.Count())
		}
	})
}

// Rule "Free ... twice or use after Free": Free and Reap again are no-ops,
// and every later start ends with ErrStopped in exactly one callback (or,
// without a callback, at Wait), with the Aio idle afterwards; nothing
// hangs.
func TestAuditLifeUseAfterFree(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		x, _, _, _ := socketpair(t)
		starts := []func(a *aio.Aio){
			func(a *aio.Aio) { a.Nop() },
			func(a *aio.Aio) { a.SetIOV(make([]byte, 8)); a.Recv(x) },
			func(a *aio.Aio) { a.Sleep(time.Hour) },
			func(a *aio.Aio) { a.RecvMsg(x) },
			func(a *aio.Aio) { a.Start(nil) },
		}
		for _, how := range []string{"Free", "Reap"} {
			for _, withCB := range []bool{true, false} {
				r := newRecorder()
				a := e.NewAio(nil)
				if withCB {
					a = e.NewAio(r.cb)
				}
				a.Sleep(time.Hour)
				if how == "Free" {
					within(t, waitLimit, "Free", a.Free)
				} else {
					a.Reap()
				}
				if err, _ := ended(t, a, r, withCB); err != aio.ErrStopped {
					t.Errorf("%s: the pending Sleep ended with %v, want ErrStopped", how, err)
				}
				if !within(t, waitLimit, "Free, Free, Reap after "+how, func() { a.Free(); a.Free(); a.Reap() }) {
					return
				}
				for i, s := range starts {
					s(a)
					if err, _ := ended(t, a, r, withCB); err != aio.ErrStopped {
						t.Errorf("%s cb=%v: start %d after it: %v, want ErrStopped", how, withCB, i, err)
					}
					if !within(t, waitLimit, "Wait", a.Wait) {
						return
					}
					if a.Busy() {
						t.Errorf("%s cb=%v: start %d: Busy after Wait", how, withCB, i)
					}
				}
				a.Cancel()
				a.Abort(errors.New("late"))
				within(t, waitLimit, "a last Free", a.Free)
				if withCB {
					if n, want := r.n.Load(), int32(len(starts)+1); n != want {
						t.Errorf("%s: %d callbacks, want %d", how, n, want)
					}
				}
			}
		}
	})
}

// Rule "Stop ... from another goroutine while a callback restarts the Aio
// in a loop": Stop returns, the Aio is idle, and no callback runs after
// Stop has returned; for operations that end at once (Nop, Sleep(0)), at
// a timer (Sleep), from the kernel (Recv with data waiting, a cached
// ReadAt) and from a provider.
func TestAuditLifeStopWhileCallbackLoops(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		x, y, _, _ := socketpair(t)
		if err := unix.SetNonblock(y, true); err != nil {
			t.Fatal(err)
		}
		quit := make(chan struct{})
		fed := make(chan struct{})
		t.Cleanup(func() { close(quit); <-fed }) // before y is closed (cleanups run last first)
		go func() {                              // data for every Recv of the loop, until the test ends
			defer close(fed)
			b := make([]byte, 1<<12)
			for {
				select {
				case <-quit:
					return
				case <-time.After(time.Millisecond):
				}
				unix.Write(y, b) // EAGAIN when full: the loop's Recvs drain it
			}
		}()
		f := tempFile(t, strings.Repeat("z", 4096), unix.O_RDONLY)
		ops := map[string]func(a *aio.Aio){
			"Nop":    func(a *aio.Aio) { a.Nop() },
			"Sleep0": func(a *aio.Aio) { a.Sleep(0) },
			"Sleep":  func(a *aio.Aio) { a.Sleep(time.Millisecond) },
			"Recv":   func(a *aio.Aio) { a.Recv(x) },
			"ReadAt": func(a *aio.Aio) { a.ReadAt(f, 0) },
			"Start": func(a *aio.Aio) {
				var once atomic.Bool
				fin := func(err error) {
					if once.CompareAndSwap(false, true) {
						a.Finish(err, 0)
					}
				}
				if a.Start(func(_ *aio.Aio, err error) { fin(err) }) {
					go fin(nil)
				}
			},
		}
		for name, op := range ops {
			for round := 0; round < 10; round++ {
				var stopped atomic.Bool
				var late atomic.Int32
				a := e.NewAio(func(a *aio.Aio) {
					if stopped.Load() {
						late.Add(1)
					}
					if a.Result() != aio.ErrStopped {
						op(a)
					}
				})
				a.SetIOV(make([]byte, 16))
				op(a)
				time.Sleep(time.Duration(round%4) * time.Millisecond)
				if !within(t, waitLimit, name+": Stop", a.Stop) {
					return
				}
				stopped.Store(true)
				if a.Busy() {
					t.Errorf("%s: Busy after Stop returned", name)
				}
				time.Sleep(5 * time.Millisecond) // proving an absence
				if n := late.Load(); n != 0 {
					t.Errorf("%s: %d callbacks after Stop returned", name, n)
				}
				a.Free()
			}
		}
	})
}

// Rule "Closing": Close runs every callback and waits for them, also the
// callbacks of Aios that callbacks make and start during Close (their
// operations end with ErrClosed).
func TestAuditLifeCloseWaitsForAiosMadeDuringClose(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		var made, finished atomic.Int32
		var results sync.Map
		const n = 8
		for i := 0; i < n; i++ {
			a := e.NewAio(func(a *aio.Aio) {
				b := e.NewAio(func(b *aio.Aio) {
					time.Sleep(100 * time.Millisecond) // Close must wait for this
					results.Store(b, b.Result())
					finished.Add(1)
				})
				made.Add(1)
				b.Nop()
			})
			a.Sleep(time.Hour)
		}
		if !within(t, waitLimit, "Close", func() { e.Close() }) {
			return
		}
		if m, f := made.Load(), finished.Load(); m != n || f != m {
			t.Fatalf("Close returned with %d of %d callbacks of Aios made during Close finished (want %d)", f, m, n)
		}
		results.Range(func(_, v any) bool {
			if v != aio.ErrClosed {
				t.Errorf("a Nop started during Close ended with %v, want ErrClosed", v)
			}
			return true
		})
	})
}

// within runs f and reports whether it returned within d; it fails the
// test if not (f is left running).
func within(t *testing.T, d time.Duration, what string, f func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		t.Errorf("%s did not return within %v", what, d)
		return false
	}
}
