package aio_test

// Contract rule "Closing" (/work/shared/API.md): Engine.Close ends every
// pending op with ErrClosed, waits for every callback and leaves nothing
// behind, also with SQPOLL, resubmitting callbacks and racing starts; and
// "No lost work under load" with rings smaller than the work.

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
)

// Rule "No lost work under load": with a ring of 8 entries, 1000 Sleeps,
// 1000 Nops and ops restarted from callbacks all complete exactly once.
func TestNoLostWorkUnderLoad(t *testing.T) {
	e := newEngine(t, aio.Config{Entries: 8})
	const n = 1000
	var wg sync.WaitGroup
	counts := make([]atomic.Int32, 2*n)
	var bad atomic.Int32
	aios := make([]*aio.Aio, 2*n)
	for i := range aios {
		rounds := 0
		aios[i] = e.NewAio(func(a *aio.Aio) {
			counts[i].Add(1)
			if a.Result() != nil {
				bad.Add(1)
			}
			rounds++
			if rounds < 3 {
				a.Nop() // restarted from the callback: more queueing
				return
			}
			wg.Done()
		})
	}
	wg.Add(2 * n)
	var starters sync.WaitGroup
	for g := 0; g < 4; g++ {
		starters.Add(1)
		go func() {
			defer starters.Done()
			for i := g; i < 2*n; i += 4 {
				if i < n {
					aios[i].Sleep(time.Duration(i%7) * time.Millisecond)
				} else {
					aios[i].Nop()
				}
			}
		}()
	}
	starters.Wait()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		missing := 0
		for i := range counts {
			if counts[i].Load() < 3 {
				missing++
			}
		}
		t.Fatalf("%d of %d aios did not finish their 3 ops", missing, 2*n)
	}
	e.Close()
	for i := range counts {
		if c := counts[i].Load(); c != 3 {
			t.Fatalf("aio %d: %d callbacks, want 3", i, c)
		}
	}
	if b := bad.Load(); b != 0 {
		t.Fatalf("%d ops failed", b)
	}
}

// Rule "No lost work under load" for kernel I/O: more pending Recvs than
// the ring holds, each then fed; every one completes with its own bytes.
func TestManyPendingRecvsSmallRing(t *testing.T) {
	e := newEngine(t, aio.Config{Entries: 8})
	const n = 200
	type conn struct {
		x, y int
		buf  []byte
		a    *aio.Aio
	}
	r := newRecorder()
	conns := make([]conn, n)
	for i := range conns {
		x, y, _, _ := socketpair(t)
		c := conn{x: x, y: y, buf: make([]byte, 16), a: e.NewAio(r.cb)}
		c.a.SetIOV(c.buf)
		c.a.SetTimeout(aio.Infinite)
		c.a.Recv(x)
		conns[i] = c
	}
	for i, c := range conns {
		write(t, c.y, fmt.Sprintf("conn-%03d", i))
	}
	for i := 0; i < n; i++ {
		if c := r.next(t); c.err != nil || c.count != 8 {
			t.Fatalf("completion %d: (%v, %d)", i, c.err, c.count)
		}
	}
	for i, c := range conns {
		c.a.Wait()
		if got := string(c.buf[:c.a.Count()]); got != fmt.Sprintf("conn-%03d", i) {
			t.Fatalf("conn %d got %q", i, got)
		}
	}
	e.Close()
	if got := r.n.Load(); got != n {
		t.Fatalf("%d callbacks, want %d", got, n)
	}
}

// Rule "Closing": Close completes every pending op with ErrClosed (Recv
// and Accept blocked forever, Sleep(1h), ReadAt on a pipe, a provider op
// with a cancel hook), runs and waits for every callback, is idempotent
// (also concurrently), and later ops end with ErrClosed.
func TestClosePendingAndAfter(t *testing.T) {
	e := newEngine(t, aio.Config{})
	r := newRecorder()
	var hookErr atomic.Value
	var finished atomic.Int32
	cb := func(a *aio.Aio) {
		time.Sleep(10 * time.Millisecond) // Close must wait for this
		r.cb(a)
		finished.Add(1)
	}
	x, _, _, _ := socketpair(t)
	l, _, _ := listener(t, 8)
	pr, _, _, _ := pipe(t)
	starts := []func(a *aio.Aio){
		func(a *aio.Aio) { a.SetIOV(make([]byte, 8)); a.Recv(x) },
		func(a *aio.Aio) { a.Accept(l) },
		func(a *aio.Aio) { a.Sleep(time.Hour) },
		func(a *aio.Aio) { a.SetIOV(make([]byte, 8)); a.ReadAt(pr, -1) },
		func(a *aio.Aio) {
			a.Start(func(a *aio.Aio, err error) { hookErr.Store(err); a.Finish(err, 0) })
		},
	}
	var aios []*aio.Aio
	for _, s := range starts {
		a := e.NewAio(cb)
		s(a)
		aios = append(aios, a)
	}
	var closers sync.WaitGroup
	for i := 0; i < 3; i++ {
		closers.Add(1)
		go func() {
			defer closers.Done()
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if n := finished.Load(); n != int32(len(starts)) {
				t.Errorf("Close returned with %d of %d callbacks finished", n, len(starts))
			}
		}()
	}
	closers.Wait()
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range starts {
		if c := r.next(t); !errors.Is(c.err, aio.ErrClosed) {
			t.Errorf("pending op ended with %v, want ErrClosed", c.err)
		}
	}
	if err, _ := hookErr.Load().(error); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("provider cancel hook got %v, want ErrClosed", err)
	}
	// After Close: old and new aios alike.
	aios = append(aios, e.NewAio(cb))
	for _, a := range aios {
		a.Nop()
		if c := r.next(t); !errors.Is(c.err, aio.ErrClosed) {
			t.Errorf("op after Close: %v, want ErrClosed", c.err)
		}
		a.Wait()
		if a.Start(nil) {
			t.Error("Start after Close returned true")
		}
		if c := r.next(t); !errors.Is(c.err, aio.ErrClosed) {
			t.Errorf("Start after Close: %v, want ErrClosed", c.err)
		}
		a.Wait()
	}
	if got, want := r.n.Load(), int32(len(starts)+2*len(aios)); got != want {
		t.Errorf("%d callbacks, want %d", got, want)
	}
}

// Rule "Closing": no goroutine or descriptor of the engine remains after
// Close, with and without SQPOLL, and with ops pending at Close.
func TestCloseLeavesNothing(t *testing.T) {
	for _, cfg := range []aio.Config{{}, {Entries: 8, Callbacks: 5}, {SQPoll: true}} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			if cfg.SQPoll {
				if e := newEngine(t, aio.Config{}); e.Backend() != aio.BackendIOURing {
					t.Skipf("io_uring only: SQPOLL is a ring setup flag; this engine runs the %s backend", e.Backend())
				}
			}
			x, _, _, _ := socketpair(t)
			openFDs(t) // warm up anything ReadDir opens lazily
			runtime.GC()
			fds0 := openFDs(t)
			g0 := runtime.NumGoroutine()
			e, err := aio.NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := newRecorder()
			for i := 0; i < 10; i++ {
				a := e.NewAio(r.cb)
				switch i % 3 {
				case 0:
					a.Sleep(time.Hour)
				case 1:
					a.SetIOV(make([]byte, 4))
					a.SetTimeout(time.Hour)
					a.Recv(x)
				case 2:
					a.Nop()
				}
			}
			if openFDs(t) <= fds0 {
				t.Fatal("the engine holds no descriptor while open; the fd count cannot tell a leak")
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if n := r.n.Load(); n != 10 {
				t.Fatalf("%d callbacks by the end of Close, want 10", n)
			}
			if fds := openFDs(t); fds != fds0 {
				t.Errorf("%d descriptors open after Close, %d before NewEngine", fds, fds0)
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // polling interval of a wait with a deadline
			}
			if g := runtime.NumGoroutine(); g > g0 {
				t.Errorf("%d goroutines after Close, %d before NewEngine:\n%s", g, g0, allStacks())
			}
		})
	}
}

// Config.SQPoll: ops complete and Close finishes, on fresh engines closed
// at once (the kernel's submission thread may be asleep, with
// IORING_SQ_NEED_WAKEUP set, from the start) and on an engine whose
// thread went idle (sq_thread_idle defaults to one second).
func TestSQPoll(t *testing.T) {
	if e := newEngine(t, aio.Config{}); e.Backend() != aio.BackendIOURing {
		t.Skipf("io_uring only: SQPOLL is a ring setup flag; this engine runs the %s backend", e.Backend())
	}
	closeWithin := func(t *testing.T, e *aio.Engine) {
		t.Helper()
		done := make(chan struct{})
		go func() { e.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("Close hung")
		}
	}
	for i := 0; i < 20; i++ {
		e, err := aio.NewEngine(aio.Config{SQPoll: true})
		if err != nil {
			t.Fatal(err)
		}
		r := newRecorder()
		e.NewAio(r.cb).Nop()
		e.NewAio(r.cb).Sleep(time.Hour)
		closeWithin(t, e)
		if n := r.n.Load(); n != 2 {
			t.Fatalf("cycle %d: %d callbacks by the end of Close, want 2", i, n)
		}
	}
	// Engines that never had a kernel op: Close's cancel-all is the only
	// SQE after the wake READ, and the kernel thread posts its CQE before
	// it advances the SQ head (a loop that slept then hung, about once
	// in 150 engines).
	for i := 0; i < 150; i++ {
		e, err := aio.NewEngine(aio.Config{SQPoll: true})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			a := e.NewAio(nil)
			a.Stop()
			a.Nop() // ErrStopped, without reaching the kernel
			a.Wait()
		}
		closeWithin(t, e)
	}
	e := newEngine(t, aio.Config{SQPoll: true})
	r := newRecorder()
	a := e.NewAio(r.cb)
	a.Nop()
	r.next(t)
	a.Wait()
	time.Sleep(1500 * time.Millisecond) // let the SQ thread go idle
	a.Nop()
	if c := r.next(t); c.err != nil {
		t.Fatalf("Nop after idle: %v", c.err)
	}
	a.Wait()
	a.Sleep(time.Hour)
	closeWithin(t, e)
	if c := r.next(t); !errors.Is(c.err, aio.ErrClosed) {
		t.Fatalf("pending Sleep at Close: %v, want ErrClosed", c.err)
	}
}

// Rule "Closing" with callbacks that keep resubmitting: Close ends every
// chain with ErrClosed (a resubmission after the close starts is refused
// through the callback) and returns with every aio idle.
func TestCloseDuringResubmission(t *testing.T) {
	e := newEngine(t, aio.Config{})
	const n = 50
	var last [n]atomic.Value
	var rounds atomic.Int64
	aios := make([]*aio.Aio, n)
	for i := range aios {
		aios[i] = e.NewAio(func(a *aio.Aio) {
			rounds.Add(1)
			if err := a.Result(); err != nil {
				last[i].Store(err)
				return
			}
			if i%2 == 0 {
				a.Nop()
			} else {
				a.Sleep(100 * time.Microsecond)
			}
		})
		aios[i].Nop()
	}
	// Let the chains run.
	for rounds.Load() < 10*n {
		runtime.Gosched()
	}
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Close did not return while callbacks resubmit")
	}
	for i, a := range aios {
		if a.Busy() {
			t.Errorf("aio %d busy after Close", i)
		}
		if err, _ := last[i].Load().(error); !errors.Is(err, aio.ErrClosed) {
			t.Errorf("aio %d: chain ended with %v, want ErrClosed", i, err)
		}
	}
}

// Rule "Closing" and "Exactly once" under a race: ops started by several
// goroutines while Close runs each end in exactly one callback, with
// their own result or ErrClosed; the ones started after Close returned
// all end with ErrClosed.
func TestCloseRacesStarts(t *testing.T) {
	for round := 0; round < 5; round++ {
		e := newEngine(t, aio.Config{})
		x, y, _, _ := socketpair(t)
		var started, called, afterClose, afterCloseOK atomic.Int64
		var closed atomic.Bool
		var bad atomic.Value
		var wg sync.WaitGroup
		const extra = 50 // ops each starter makes after it has seen Close return
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				left := extra
				for i := 0; left > 0; i++ {
					isAfter := closed.Load()
					if isAfter {
						left--
					} else if i%32 == 31 {
						// Keep the load bounded, so that Close, which waits for
						// every queued callback, is not buried under them.
						time.Sleep(50 * time.Microsecond)
					}
					a := e.NewAio(func(a *aio.Aio) {
						called.Add(1)
						err := a.Result()
						if isAfter {
							afterClose.Add(1)
							if errors.Is(err, aio.ErrClosed) {
								afterCloseOK.Add(1)
							}
						}
						if err != nil && !errors.Is(err, aio.ErrClosed) && !errors.Is(err, aio.ErrTimedOut) {
							bad.Store(err)
						}
					})
					started.Add(1)
					switch i % 4 {
					case 0:
						a.Nop()
					case 1:
						a.Sleep(time.Duration(i%3) * time.Millisecond)
					case 2:
						a.SetTimeout(time.Millisecond)
						a.SetIOV(make([]byte, 1))
						a.Recv(x)
					case 3:
						// The hook and the worker race to finish; the
						// provider lets exactly one of them.
						var once sync.Once
						finish := func(err error) { once.Do(func() { a.Finish(err, 0) }) }
						if a.Start(func(a *aio.Aio, err error) { finish(err) }) {
							go finish(nil)
						}
					}
				}
			}()
		}
		_ = y
		// Close once the starters are in full flow: ops completing, others
		// pending (a busy machine must not let Close come first).
		aio.WaitUntil(t, "200 callbacks before Close", func() bool { return called.Load() >= 200 })
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		closed.Store(true)
		wg.Wait()
		deadline := time.Now().Add(waitLimit)
		for called.Load() < started.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling interval of a wait with a deadline
		}
		if s, c := started.Load(), called.Load(); s != c {
			t.Fatalf("round %d: %d ops started, %d callbacks", round, s, c)
		}
		time.Sleep(20 * time.Millisecond) // a duplicate would show up here
		if s, c := started.Load(), called.Load(); s != c {
			t.Fatalf("round %d: %d ops started, %d callbacks (duplicates)", round, s, c)
		}
		if a, ok := afterClose.Load(), afterCloseOK.Load(); a != ok || a != 4*extra {
			t.Fatalf("round %d: %d ops started after Close, %d of them ErrClosed", round, a, ok)
		}
		if err, _ := bad.Load().(error); err != nil {
			t.Fatalf("round %d: unexpected result %v", round, err)
		}
	}
}
