//go:build linux

package aio_test

// Rule "Closing" against every kind of completion hand-off at once:
// Engine.Close runs while Sleep timers fire, RecvMsg delivers queued
// messages (multishot on io_uring), zero-copy sends wait for their
// notifications, Cancel and Abort land from another goroutine, timeouts
// fire, provider ops finish from their own goroutines and callbacks
// restart their ops. Each iteration uses a fresh engine; after Close
// returns, every op started has had exactly one callback and every
// callback has returned, and no goroutine is left once the test ends.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// errRaceAbort is the reason the canceller gives to Abort.
var errRaceAbort = errors.New("close race: abort")

// raceAio is one Aio of a close-race iteration and what happened to it.
// started counts op starts (the first one and each restart from the
// callback, counted before the start call); calls counts callback entries,
// finished callback returns.
type raceAio struct {
	kind                     string
	a                        *aio.Aio
	op                       func(a *aio.Aio) // starts the Aio's op
	started, calls, finished atomic.Int64
	closed                   atomic.Int64 // callbacks that saw ErrClosed
	bad                      atomic.Value // the first unexpected result
}

// callback returns the Aio's callback: it checks the result, frees a
// received message, and restarts the op with restart unless the engine
// (or the Aio) is done. Results other than nil, ErrClosed and those in
// allowed are recorded as bad.
func (r *raceAio) callback(restart func(a *aio.Aio), allowed ...error) func(*aio.Aio) {
	return func(a *aio.Aio) {
		defer r.finished.Add(1)
		r.calls.Add(1)
		if m := a.Msg(); m != nil {
			m.Free()
		}
		err := a.Result()
		if errors.Is(err, aio.ErrClosed) {
			r.closed.Add(1)
			return
		}
		if err != nil {
			ok := false
			for _, w := range allowed {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				r.bad.CompareAndSwap(nil, fmt.Errorf("%s: unexpected result %v (count %d)", r.kind, err, a.Count()))
				return
			}
		}
		r.start(restart)
	}
}

func (r *raceAio) start(op func(a *aio.Aio)) {
	r.started.Add(1)
	op(r.a)
}

// closeRaceFDs owns the descriptors of one iteration; they are closed after
// the engine, so no op ever sees its descriptor closed under it.
type closeRaceFDs []int

func (f *closeRaceFDs) add(fds ...int) { *f = append(*f, fds...) }

func (f *closeRaceFDs) closeAll() {
	for _, fd := range *f {
		unix.Close(fd)
	}
	*f = nil
}

// closeRaceTCP returns a connected loopback TCP pair (sender, receiver).
// rcvbuf > 0 shrinks the receiver's buffer, so zero-copy sends stay
// unacknowledged (their notifications pending) until the reader catches
// up.
func closeRaceTCP(t *testing.T, fds *closeRaceFDs, rcvbuf int) (snd, rcv int) {
	t.Helper()
	snd, rcv = aio.LoopbackTCP(t, 0, rcvbuf)
	fds.add(snd, rcv)
	return snd, rcv
}

func closeRaceSocketpair(t *testing.T, fds *closeRaceFDs, typ int) (x, y int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fds.add(p[0], p[1])
	return p[0], p[1]
}

// shortIOTimeout makes blocking reads and writes on fd give up after 2 ms,
// so the helper goroutines that feed and drain sockets notice their stop
// signal.
func shortIOTimeout(t *testing.T, fd int) {
	tv := unix.NsecToTimeval((2 * time.Millisecond).Nanoseconds())
	for _, opt := range []int{unix.SO_SNDTIMEO, unix.SO_RCVTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			t.Fatal(err)
		}
	}
}

// everyKindCalledBack reports whether every kind of op in all has had a
// callback.
func everyKindCalledBack(all []*raceAio) bool {
	seen := map[string]bool{}
	for _, r := range all {
		seen[r.kind] = seen[r.kind] || r.calls.Load() > 0
	}
	for _, ok := range seen {
		if !ok {
			return false
		}
	}
	return true
}

func TestCloseRacesEveryHandoff(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	const maxIters, minIters = 400, 100
	budget := 15 * time.Second // both the plain and the -race run stay near it on two cores
	if testing.Short() {
		budget = 4 * time.Second
	}
	var closedKinds sync.Map // kind -> *[2]atomic.Int64: callbacks, and those with ErrClosed, over all iterations
	var zcRan bool
	t0 := time.Now()
	iters := 0
	for ; iters < maxIters && (iters < minIters || time.Since(t0) < budget); iters++ {
		zc := closeRaceIteration(t, iters, &closedKinds)
		zcRan = zcRan || zc
		if t.Failed() {
			t.Fatalf("iteration %d failed", iters)
		}
	}
	var summary []string
	closedKinds.Range(func(k, v any) bool {
		n := v.(*[2]atomic.Int64)
		summary = append(summary, fmt.Sprintf("%s %d/%d", k, n[1].Load(), n[0].Load()))
		return true
	})
	t.Logf("%d iterations in %v; callbacks ended by Close / all callbacks, per kind: %v", iters, time.Since(t0).Round(time.Millisecond), summary)
	if !zcRan {
		t.Log("zero-copy sends not raced: portable backend (no SEND_ZC notifications there)")
	}
	goleak.VerifyNone(t, leaks)
}

// closeRaceIteration runs one engine through the race and reports whether
// it raced zero-copy sends.
func closeRaceIteration(t *testing.T, iter int, closedKinds *sync.Map) bool {
	rng := rand.New(rand.NewPCG(uint64(iter), 16))
	e, err := aio.NewEngine(aio.Config{SendZeroCopyMin: 1024})
	if err != nil {
		t.Fatal(err)
	}
	// On the way out, also when the iteration fails: the engine is closed
	// first (callbacks may still add helpers), then the helpers stopped,
	// then the descriptors closed.
	var fds closeRaceFDs
	defer fds.closeAll()
	stop := make(chan struct{})
	var helpers sync.WaitGroup
	stopped := false
	stopHelpers := func() {
		if !stopped {
			stopped = true
			close(stop)
			helpers.Wait()
		}
	}
	defer stopHelpers()
	closed := false
	defer func() {
		if !closed {
			e.Close()
		}
	}()

	var all []*raceAio
	add := func(kind string) *raceAio {
		r := &raceAio{kind: kind}
		all = append(all, r)
		return r
	}

	// Sleep timers firing, restarted from the callback; one under a
	// timeout shorter than its sleep, so the timer races the timeout.
	for i := 0; i < 3; i++ {
		r := add("sleep")
		d := time.Duration(i*70) * time.Microsecond
		sleep := func(a *aio.Aio) { a.Sleep(d) }
		r.a = e.NewAio(r.callback(sleep, aio.ErrCanceled, errRaceAbort, aio.ErrTimedOut))
		if i == 2 {
			r.a.SetTimeout(100 * time.Microsecond)
		}
		r.op = sleep
	}

	// RecvMsg with messages queued: SEQPACKET keeps each write a message
	// of its own, so the multishot receive posts one CQE per message; a
	// burst is queued before the first RecvMsg and a writer keeps adding.
	for i := 0; i < 2; i++ {
		r := add("recvmsg")
		x, y := closeRaceSocketpair(t, &fds, unix.SOCK_SEQPACKET)
		shortIOTimeout(t, y)
		pkt := make([]byte, 64)
		for k := 0; k < 32; k++ {
			if _, err := unix.Write(y, pkt); err != nil {
				t.Fatal(err)
			}
		}
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				unix.Write(y, pkt) // EAGAIN after 2 ms when full: look at stop again
			}
		}()
		recv := func(a *aio.Aio) { a.RecvMsg(x) }
		r.a = e.NewAio(r.callback(recv, aio.ErrCanceled, errRaceAbort))
		r.op = recv
	}

	// Zero-copy sends over loopback TCP, restarted from the callback: one
	// receiver drains fast, the other has a tiny window, so sends wait for
	// their notifications (the kernel's IORING_CQE_F_NOTIF) when Close
	// comes. The portable backend has no zero-copy send.
	zc := e.Backend() == aio.BackendIOURing
	if zc {
		for i := 0; i < 2; i++ {
			r := add("sendzc")
			snd, rcv := closeRaceTCP(t, &fds, []int{0, 4096}[i])
			shortIOTimeout(t, rcv)
			helpers.Add(1)
			go func() {
				defer helpers.Done()
				buf := make([]byte, 64<<10)
				for {
					select {
					case <-stop:
						return
					default:
					}
					unix.Read(rcv, buf) // EAGAIN after 2 ms when empty
				}
			}()
			data := make([]byte, 8<<10)
			send := func(a *aio.Aio) { a.SetIOV(data); a.Send(snd) }
			r.a = e.NewAio(r.callback(send, aio.ErrCanceled, errRaceAbort, aio.ErrTimedOut))
			if i == 1 {
				r.a.SetTimeout(time.Millisecond)
			}
			r.op = send
		}
	}

	// Recvs that only Cancel, Abort or a timeout end: the canceller below
	// targets every Aio, and these have nothing else to end them.
	idle, _ := closeRaceSocketpair(t, &fds, unix.SOCK_STREAM)
	for i := 0; i < 3; i++ {
		r := add("cancel")
		buf := make([]byte, 16)
		recv := func(a *aio.Aio) { a.SetIOV(buf); a.Recv(idle) }
		r.a = e.NewAio(r.callback(recv, aio.ErrCanceled, errRaceAbort, aio.ErrTimedOut))
		if i == 2 {
			r.a.SetTimeout(50 * time.Microsecond) // a link timeout, restarted
		}
		r.op = recv
	}

	// A provider op finished by a goroutine of its own, racing its cancel
	// hook (Cancel, Abort or Close); exactly one of them finishes.
	{
		r := add("provider")
		provide := func(a *aio.Aio) {
			var once sync.Once
			finish := func(err error) { once.Do(func() { a.Finish(err, 0) }) }
			if a.Start(func(_ *aio.Aio, err error) { finish(err) }) {
				helpers.Add(1)
				go func() {
					defer helpers.Done()
					runtime.Gosched()
					finish(nil)
				}()
			}
		}
		r.a = e.NewAio(r.callback(provide, aio.ErrCanceled, errRaceAbort))
		r.op = provide
	}

	// A Nop chain: the fastest restart there is.
	{
		r := add("nop")
		nop := func(a *aio.Aio) { a.Nop() }
		r.a = e.NewAio(r.callback(nop, aio.ErrCanceled, errRaceAbort))
		r.op = nop
	}

	// Chains of cached file reads: on io_uring each is tried on its
	// starter first (tryfirst.go), so Close and the canceller land while
	// a read is tried: a 4 KiB read's try holds the Aio's lock, a 128
	// KiB read's runs between its start and the ring without it
	// (stateTry).
	for _, size := range []int{4 << 10, 128 << 10} {
		r := add(fmt.Sprintf("cached-read-%dk", size>>10))
		path := t.TempDir() + "/cached"
		if err := os.WriteFile(path, make([]byte, 4*size), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds.add(f)
		var off int64 // the callbacks of one Aio run one at a time
		read := func(a *aio.Aio) {
			off = (off + int64(size)) % int64(4*size)
			a.ReadAt(f, off)
		}
		r.a = e.NewAio(r.callback(read, aio.ErrCanceled, errRaceAbort))
		r.a.SetIOV(make([]byte, size))
		r.op = read
	}

	// Chains of syncs of a file with dirty pages: on io_uring each is a
	// blocking fdatasync(2) on a goroutine of the engine's own
	// (syncaside.go), which no cancel reaches and Close must wait for;
	// past the engine's bound of such goroutines, an io-wq fsync.
	for i := 0; i < 2; i++ {
		r := add("sync")
		f, err := unix.Open(t.TempDir()+"/synced", unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		fds.add(f)
		page := make([]byte, 4096)
		sync := func(a *aio.Aio) {
			unix.Pwrite(f, page, 0) // something to flush
			a.Fdatasync(f)
		}
		r.a = e.NewAio(r.callback(sync, aio.ErrCanceled, errRaceAbort))
		r.op = sync
	}

	for _, r := range all {
		r.start(r.op)
	}

	// The canceller: Cancel or Abort on random Aios, across Close and after.
	helpers.Add(1)
	go func() {
		defer helpers.Done()
		crng := rand.New(rand.NewPCG(uint64(iter), 61))
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			r := all[crng.IntN(len(all))]
			if crng.IntN(2) == 0 {
				r.a.Cancel()
			} else {
				r.a.Abort(errRaceAbort)
			}
			if n%8 == 7 {
				runtime.Gosched()
			}
		}
	}()

	// Close once every kind has had a callback (so timers, queued
	// messages and notifications are in flight, not merely submitted),
	// after a random number of yields to vary the phase Close meets.
	deadline := time.Now().Add(waitLimit)
	for !everyKindCalledBack(all) {
		if time.Now().After(deadline) {
			for _, r := range all {
				t.Logf("%s: %d started, %d callbacks", r.kind, r.started.Load(), r.calls.Load())
			}
			t.Fatalf("iteration %d: not every kind of op completed within %v", iter, waitLimit)
		}
		runtime.Gosched()
	}
	for k := rng.IntN(64); k > 0; k-- {
		runtime.Gosched()
	}
	if err := e.Close(); err != nil {
		t.Fatalf("iteration %d: Close: %v", iter, err)
	}
	closed = true
	// Close has returned: every op started by now has had its callback,
	// and every callback has returned.
	for i, r := range all {
		s, c, f := r.started.Load(), r.calls.Load(), r.finished.Load()
		if c != s || f != s {
			t.Errorf("iteration %d, aio %d (%s): when Close returned, %d ops started, %d callbacks entered, %d returned", iter, i, r.kind, s, c, f)
		}
		if r.a.Busy() {
			t.Errorf("iteration %d, aio %d (%s): Busy after Close", iter, i, r.kind)
		}
	}
	stopHelpers()
	// Nothing may arrive later either: no second callback for any op.
	for i, r := range all {
		if s, c := r.started.Load(), r.calls.Load(); c != s {
			t.Errorf("iteration %d, aio %d (%s): %d ops started, %d callbacks after the helpers stopped", iter, i, r.kind, s, c)
		}
		if err, _ := r.bad.Load().(error); err != nil {
			t.Errorf("iteration %d, aio %d: %v", iter, i, err)
		}
		v, _ := closedKinds.LoadOrStore(r.kind, new([2]atomic.Int64))
		v.(*[2]atomic.Int64)[0].Add(r.calls.Load())
		v.(*[2]atomic.Int64)[1].Add(r.closed.Load())
	}
	return zc
}
