package aio_test

// Contract rules "Timeouts", "Sleep(d)" and the zero-timeout start
// failures (/work/shared/API.md): when a timer may fire, which deadline
// wins, and what a zero timeout means.

import (
	"errors"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Rule "Start failures": a zero timeout that cannot complete at once ends
// with ErrTimedOut, promptly, through the callback (Recv on an empty
// socket, Fsync, Sleep(d>0), Accept with nothing pending, ReadAt on an
// empty pipe); the provider's Start returns false and the callback gets
// ErrTimedOut.
func TestZeroTimeoutCannotComplete(t *testing.T) {
	for _, op := range opSpecs {
		start := op.block
		if op.name == "Fsync" {
			start = func(t *testing.T, a *aio.Aio) { a.Fsync(tempFile(t, "x", unix.O_RDWR)) }
		}
		if start == nil {
			continue
		}
		t.Run(op.name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			r := newRecorder()
			a := e.NewAio(r.cb)
			a.SetTimeout(0)
			t0 := time.Now()
			start(t, a)
			c := r.next(t)
			if !errors.Is(c.err, aio.ErrTimedOut) {
				t.Errorf("Result = %v, want ErrTimedOut", c.err)
			}
			if el := time.Since(t0); el > 2*time.Second {
				t.Errorf("a zero timeout took %v", el)
			}
		})
	}
}

// Rule "Timeouts": SetTimeout persists across ops.
func TestSetTimeoutPersists(t *testing.T) {
	e := newEngine(t, aio.Config{})
	x, _, _, _ := socketpair(t)
	r := newRecorder()
	a := e.NewAio(r.cb)
	a.SetIOV(make([]byte, 8))
	a.SetTimeout(30 * time.Millisecond)
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		a.Recv(x)
		c := r.next(t)
		if !errors.Is(c.err, aio.ErrTimedOut) {
			t.Fatalf("op %d: %v, want ErrTimedOut", i, c.err)
		}
		if el := c.at.Sub(t0); el < 30*time.Millisecond {
			t.Fatalf("op %d timed out after %v < 30ms", i, el)
		}
		a.Wait()
	}
}

// stillPending checks that a's op is still running after d, then cancels it
// and expects ErrCanceled: the op had no (or a later) deadline.
func stillPending(t *testing.T, a *aio.Aio, r *recorder, d time.Duration) {
	t.Helper()
	time.Sleep(d) // proving an absence: nothing to wait on
	select {
	case c := <-r.ch:
		t.Fatalf("op ended after <%v with %v; it should still be pending", d, c.err)
	default:
	}
	if !a.Busy() {
		t.Fatal("not Busy while the op should be pending")
	}
	a.Cancel()
	if c := r.next(t); !errors.Is(c.err, aio.ErrCanceled) {
		t.Fatalf("after Cancel: %v, want ErrCanceled", c.err)
	}
	a.Wait()
}

// Rule "Timeouts": SetExpire applies to the next op only, and wins over
// SetTimeout for that op, in both directions (earlier and later).
func TestSetExpireOneShotAndWins(t *testing.T) {
	e := newEngine(t, aio.Config{})
	x, _, _, _ := socketpair(t)
	r := newRecorder()
	a := e.NewAio(r.cb)
	a.SetIOV(make([]byte, 8))

	// Earlier expiry than the timeout: the expiry ends the op.
	a.SetTimeout(time.Hour)
	deadline := time.Now().Add(40 * time.Millisecond)
	a.SetExpire(deadline)
	a.Recv(x)
	c := r.next(t)
	if !errors.Is(c.err, aio.ErrTimedOut) {
		t.Fatalf("with expiry: %v, want ErrTimedOut", c.err)
	}
	if c.at.Before(deadline) {
		t.Fatalf("expired %v before its deadline", deadline.Sub(c.at))
	}
	a.Wait()

	// One-shot: the next op runs under the hour-long timeout again.
	a.Recv(x)
	stillPending(t, a, r, 150*time.Millisecond)

	// Later expiry than the timeout: the expiry still decides.
	a.SetTimeout(20 * time.Millisecond)
	a.SetExpire(time.Now().Add(time.Hour))
	a.Recv(x)
	stillPending(t, a, r, 200*time.Millisecond)

	// And the timeout is back for the op after that.
	t0 := time.Now()
	a.Recv(x)
	if c := r.next(t); !errors.Is(c.err, aio.ErrTimedOut) || c.at.Sub(t0) < 20*time.Millisecond {
		t.Fatalf("after the one-shot expiry: %v after %v, want ErrTimedOut after >= 20ms", c.err, c.at.Sub(t0))
	}
}

// Rule "Timeouts": SetExpire with the zero Time clears a pending expiry.
func TestSetExpireZeroClears(t *testing.T) {
	e := newEngine(t, aio.Config{})
	r := newRecorder()
	a := e.NewAio(r.cb)
	a.SetExpire(time.Now().Add(-time.Hour))
	a.SetExpire(time.Time{})
	a.Nop()
	if c := r.next(t); c.err != nil {
		t.Fatalf("Nop after a cleared expiry: %v, want nil", c.err)
	}
}

// Rule "Timeouts": Infinite means no timer, even on an engine whose
// DefaultTimeout is short; DefaultTimeout (the initial value) resolves to
// Config.DefaultTimeout, and 0 there means Infinite.
func TestInfiniteAndDefaultTimeout(t *testing.T) {
	t.Run("engine-default-applies", func(t *testing.T) {
		e := newEngine(t, aio.Config{DefaultTimeout: 40 * time.Millisecond})
		x, _, _, _ := socketpair(t)
		r := newRecorder()
		a := e.NewAio(r.cb)
		a.SetIOV(make([]byte, 8))
		t0 := time.Now()
		a.Recv(x)
		c := r.next(t)
		if !errors.Is(c.err, aio.ErrTimedOut) || c.at.Sub(t0) < 40*time.Millisecond {
			t.Fatalf("fresh aio: %v after %v, want ErrTimedOut after >= 40ms", c.err, c.at.Sub(t0))
		}
		a.Wait()
		a.SetTimeout(aio.Infinite)
		a.Recv(x)
		stillPending(t, a, r, 200*time.Millisecond)
		a.SetTimeout(aio.DefaultTimeout)
		t0 = time.Now()
		a.Recv(x)
		c = r.next(t)
		if !errors.Is(c.err, aio.ErrTimedOut) || c.at.Sub(t0) < 40*time.Millisecond {
			t.Fatalf("SetTimeout(DefaultTimeout): %v after %v, want ErrTimedOut after >= 40ms", c.err, c.at.Sub(t0))
		}
	})
	t.Run("zero-config-is-infinite", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, _, _, _ := socketpair(t)
		r := newRecorder()
		a := e.NewAio(r.cb)
		a.SetIOV(make([]byte, 8))
		a.Recv(x)
		stillPending(t, a, r, 200*time.Millisecond)
		a.SetTimeout(aio.DefaultTimeout)
		a.Sleep(50 * time.Millisecond)
		if c := r.next(t); c.err != nil {
			t.Fatalf("Sleep under an infinite default timeout: %v", c.err)
		}
	})
}

// Rule "Timeouts": a timer never fires before its deadline, on every timer
// path: the kernel's link timeout (Recv, Accept), the engine's timer for
// io-wq style ops (ReadAt/WriteAt on a pipe), Sleep's own timeout, the
// provider's timer, and absolute expiries on each.
func TestTimerNeverEarly(t *testing.T) {
	type path struct {
		name  string
		start func(t *testing.T, a *aio.Aio)
	}
	var paths []path
	for _, op := range opSpecs {
		if op.block != nil {
			paths = append(paths, path{op.name, op.block})
		}
	}
	for _, p := range paths {
		for _, abs := range []bool{false, true} {
			if abs && p.name == "Sleep" {
				continue
			}
			name := p.name + "/relative"
			if abs {
				name = p.name + "/absolute"
			}
			t.Run(name, func(t *testing.T) {
				e := newEngine(t, aio.Config{})
				r := newRecorder()
				a := e.NewAio(r.cb)
				for _, d := range []time.Duration{time.Millisecond, 3 * time.Millisecond, 7 * time.Millisecond, 15 * time.Millisecond} {
					t0 := time.Now()
					deadline := t0.Add(d)
					if abs {
						a.SetExpire(deadline)
					} else {
						a.SetTimeout(d)
					}
					p.start(t, a)
					c := r.next(t)
					if !errors.Is(c.err, aio.ErrTimedOut) {
						t.Fatalf("d=%v: %v, want ErrTimedOut", d, c.err)
					}
					if c.at.Before(deadline) {
						t.Fatalf("d=%v: fired %v early", d, deadline.Sub(c.at))
					}
					a.Wait()
				}
			})
		}
	}
}

// Rule "Timeouts" (zero = non-blocking attempt): a zero timeout succeeds
// when the op can complete at once: Recv with data queued, Send with room,
// Accept with a connection queued, ReadAt (RWF_NOWAIT) on a cached file,
// Nop.
func TestZeroTimeoutSucceedsWhenReady(t *testing.T) {
	cases := []struct {
		name  string
		start func(t *testing.T, a *aio.Aio) (count int, check func(*testing.T))
	}{
		{"Recv", func(t *testing.T, a *aio.Aio) (int, func(*testing.T)) {
			x, y, _, _ := socketpair(t)
			write(t, y, "ready")
			buf := make([]byte, 16)
			a.SetIOV(buf)
			a.Recv(x)
			return 5, func(t *testing.T) {
				if string(buf[:5]) != "ready" {
					t.Errorf("buffer %q", buf[:5])
				}
			}
		}},
		{"Recv-several-buffers", func(t *testing.T, a *aio.Aio) (int, func(*testing.T)) {
			x, y, _, _ := socketpair(t)
			write(t, y, "abcdef")
			b1, b2 := make([]byte, 2), make([]byte, 8)
			a.SetIOV(b1, b2)
			a.Recv(x) // RECVMSG with MSG_DONTWAIT
			return 6, func(t *testing.T) {
				if string(b1) != "ab" || string(b2[:4]) != "cdef" {
					t.Errorf("buffers %q %q", b1, b2)
				}
			}
		}},
		{"Send", func(t *testing.T, a *aio.Aio) (int, func(*testing.T)) {
			x, y, _, _ := socketpair(t)
			a.SetIOV([]byte("room"))
			a.Send(x)
			return 4, func(t *testing.T) {
				if got := string(drain(t, y)); got != "room" {
					t.Errorf("peer got %q", got)
				}
			}
		}},
		{"Accept", func(t *testing.T, a *aio.Aio) (int, func(*testing.T)) {
			l, sa, _ := listener(t, 8)
			dial(t, sa)
			a.Accept(l)
			return 0, nil
		}},
		{"ReadAt", func(t *testing.T, a *aio.Aio) (int, func(*testing.T)) {
			fd := tempFile(t, "cached bytes", unix.O_RDONLY)
			// Bring the file into the page cache first.
			if _, err := unix.Pread(fd, make([]byte, 64), 0); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			a.SetIOV(buf)
			a.ReadAt(fd, 0)
			return 12, func(t *testing.T) {
				if string(buf[:12]) != "cached bytes" {
					t.Errorf("buffer %q", buf[:12])
				}
			}
		}},
		{"Nop", func(t *testing.T, a *aio.Aio) (int, func(*testing.T)) { a.Nop(); return 0, nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			r := newRecorder()
			a := e.NewAio(r.cb)
			a.SetTimeout(0)
			count, check := tc.start(t, a)
			c := r.next(t)
			if fd, ok := c.out0.(int); ok {
				own(t, fd)
			}
			if c.err != nil || c.count != count {
				t.Fatalf("got (%v, %d), want (nil, %d)", c.err, c.count, count)
			}
			if check != nil {
				check(t)
			}
		})
	}
}

// Rule "Sleep(d)": nil after >= d; Sleep(0) is nil; a shorter positive
// timeout ends it with ErrTimedOut at the timeout; a zero timeout ends it
// with ErrTimedOut at once; SetExpire does not apply; Cancel gives
// ErrCanceled.
func TestSleep(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(a *aio.Aio)
		d       time.Duration
		want    error
		atLeast time.Duration
		below   time.Duration
	}{
		{"plain", nil, 60 * time.Millisecond, nil, 60 * time.Millisecond, 5 * time.Second},
		{"zero", nil, 0, nil, 0, 2 * time.Second},
		{"zero-with-zero-timeout", func(a *aio.Aio) { a.SetTimeout(0) }, 0, nil, 0, 2 * time.Second},
		{"longer-timeout", func(a *aio.Aio) { a.SetTimeout(time.Hour) }, 40 * time.Millisecond, nil, 40 * time.Millisecond, 5 * time.Second},
		{"shorter-timeout", func(a *aio.Aio) { a.SetTimeout(50 * time.Millisecond) }, time.Hour, aio.ErrTimedOut, 50 * time.Millisecond, 5 * time.Second},
		{"zero-timeout", func(a *aio.Aio) { a.SetTimeout(0) }, time.Hour, aio.ErrTimedOut, 0, 2 * time.Second},
		{"expire-earlier-ignored", func(a *aio.Aio) { a.SetExpire(time.Now().Add(10 * time.Millisecond)) }, 150 * time.Millisecond, nil, 150 * time.Millisecond, 5 * time.Second},
		{"expire-past-ignored", func(a *aio.Aio) { a.SetExpire(time.Now().Add(-time.Second)) }, 30 * time.Millisecond, nil, 30 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			r := newRecorder()
			a := e.NewAio(r.cb)
			if tc.setup != nil {
				tc.setup(a)
			}
			t0 := time.Now()
			a.Sleep(tc.d)
			c := r.next(t)
			el := c.at.Sub(t0)
			if !errors.Is(c.err, tc.want) || (tc.want == nil && c.err != nil) {
				t.Fatalf("Result = %v, want %v", c.err, tc.want)
			}
			if el < tc.atLeast || el >= tc.below {
				t.Fatalf("ended after %v, want within [%v, %v)", el, tc.atLeast, tc.below)
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		r := newRecorder()
		a := e.NewAio(r.cb)
		a.Sleep(time.Hour)
		a.Cancel()
		if c := r.next(t); !errors.Is(c.err, aio.ErrCanceled) {
			t.Fatalf("Result = %v, want ErrCanceled", c.err)
		}
	})
}

// Rule "Timeouts ... where the kernel cannot honour one (ops blocked in
// io-wq) the engine cancels them itself": a ReadAt on a blocking inotify
// descriptor (no non-blocking read support, so it blocks in an io-wq
// worker) ends with ErrTimedOut at its timeout, with ErrCanceled on
// Cancel, and with ErrClosed on Engine.Close. An eventfd and a FIFO are
// checked the same way.
func TestBlockedReadIsCut(t *testing.T) {
	open := map[string]func(t *testing.T) int{
		"fifo": func(t *testing.T) int {
			p := t.TempDir() + "/fifo"
			if err := unix.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			return fd
		},
	}
	for name, opener := range pollOnlyDescriptors {
		open[name] = opener
	}
	for name, opener := range open {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			fd := opener(t)
			own(t, fd)
			r := newRecorder()
			a := e.NewAio(r.cb)
			a.SetIOV(make([]byte, 4096))

			a.SetTimeout(50 * time.Millisecond)
			t0 := time.Now()
			a.ReadAt(fd, -1)
			if c := r.next(t); !errors.Is(c.err, aio.ErrTimedOut) || c.at.Sub(t0) < 50*time.Millisecond {
				t.Fatalf("with a 50ms timeout: %v after %v", c.err, c.at.Sub(t0))
			}
			a.Wait()

			a.SetTimeout(aio.Infinite)
			m := aio.MarkSubmissions(t)
			a.ReadAt(fd, -1)
			m.Parked(t, e, a, fd) // Cancel must find it waiting, not on its way
			a.Cancel()
			if c := r.next(t); !errors.Is(c.err, aio.ErrCanceled) {
				t.Fatalf("after Cancel: %v", c.err)
			}
			a.Wait()

			m = aio.MarkSubmissions(t)
			a.ReadAt(fd, -1)
			m.Parked(t, e, a, fd) // and so must Close
			e.Close()
			if c := r.next(t); !errors.Is(c.err, aio.ErrClosed) {
				t.Fatalf("after Close: %v", c.err)
			}
		})
	}
}
