//go:build linux

package aio_test

// Fsync and Fdatasync made beside the ring (syncaside.go, decision 84):
// on a ring engine a blocking call on a goroutine of the engine's own,
// within a bound, with the same results and the whole contract.

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// syncStarters are the two operations made beside the ring.
var syncStarters = map[string]func(a *aio.Aio, fd int){
	"Fsync":     func(a *aio.Aio, fd int) { a.Fsync(fd) },
	"Fdatasync": func(a *aio.Aio, fd int) { a.Fdatasync(fd) },
}

// needTwoPs skips a test of the syncs made beside the ring where there
// are none: at GOMAXPROCS=1 every sync goes through it (claim), and an
// engine without io_uring (qemu-user, another system) has no ring: its
// file workers make every sync.
func needTwoPs(t *testing.T) {
	if runtime.GOMAXPROCS(0) == 1 {
		t.Skip("GOMAXPROCS=1: every sync goes through the ring (syncaside.go)")
	}
	if e := newEngine(t, aio.Config{}); e.Backend() != aio.BackendIOURing {
		t.Skipf("backend %s: no ring to sync beside (%v)", e.Backend(), e.Fallback())
	}
}

// dirtyFile is a temporary file with a page written and not yet synced.
func dirtyFile(t *testing.T) int {
	t.Helper()
	fd := tempFile(t, "", unix.O_RDWR)
	if _, err := unix.Pwrite(fd, make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	return fd
}

// runSync starts one sync on a fresh Aio of e, waits for it, and returns
// its error and how Stats.Submitted and Stats.Direct moved.
func runSync(t *testing.T, e *aio.Engine, start func(*aio.Aio, int), fd int) (err error, submitted, direct uint64) {
	t.Helper()
	a := e.NewAio(nil)
	defer a.Free()
	before := e.Stats()
	start(a, fd)
	a.Wait()
	after := e.Stats()
	return a.Result(), after.Submitted - before.Submitted, after.Direct - before.Direct
}

// TestSyncBesideTheRing: on a ring engine a sync is made by the engine's
// own call (counted in Stats.Direct, no request submitted); with
// Config.RingOnly, or with no place left, it goes through the ring.
func TestSyncBesideTheRing(t *testing.T) {
	needTwoPs(t)
	for name, start := range syncStarters {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			err, sub, direct := runSync(t, e, start, dirtyFile(t))
			if err != nil || sub != 0 || direct != 1 {
				t.Errorf("beside the ring: err %v, %d submitted, %d direct; want nil, 0, 1", err, sub, direct)
			}
			ro := newEngine(t, aio.Config{RingOnly: true})
			err, sub, direct = runSync(t, ro, start, dirtyFile(t))
			if err != nil || sub == 0 || direct != 0 {
				t.Errorf("RingOnly: err %v, %d submitted, %d direct; want nil, >0, 0", err, sub, direct)
			}
			full := newEngine(t, aio.Config{})
			aio.SetSyncBeside(full, 0, nil)
			err, sub, direct = runSync(t, full, start, dirtyFile(t))
			if err != nil || sub == 0 || direct != 0 {
				t.Errorf("no place left: err %v, %d submitted, %d direct; want nil, >0, 0", err, sub, direct)
			}
			// At one P a blocking call would hold the only P: the ring.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			err, sub, direct = runSync(t, e, start, dirtyFile(t))
			if err != nil || sub == 0 || direct != 0 {
				t.Errorf("GOMAXPROCS=1: err %v, %d submitted, %d direct; want nil, >0, 0", err, sub, direct)
			}
		})
	}
}

// TestSyncBesideErrorsAsTheRing: what the call refuses ends the operation
// with the errno the ring's request gives, and a zero timeout still ends
// it with ErrTimedOut at once, beside the ring or not.
func TestSyncBesideErrorsAsTheRing(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	own(t, p[0])
	own(t, p[1])
	beside := newEngine(t, aio.Config{})
	ring := newEngine(t, aio.Config{RingOnly: true})
	for name, start := range syncStarters {
		for _, c := range []struct {
			what string
			fd   int
			want error
		}{
			{"no such descriptor", 1 << 20, syscall.EBADF},
			{"a pipe", p[1], syscall.EINVAL},
		} {
			for _, e := range []*aio.Engine{beside, ring} {
				err, _, direct := runSync(t, e, start, c.fd)
				if !errors.Is(err, c.want) || direct != 0 {
					t.Errorf("%s of %s (RingOnly %v): %v, %d direct; want %v, 0", name, c.what, e.Config().RingOnly, err, direct, c.want)
				}
			}
		}
		for _, e := range []*aio.Engine{beside, ring} {
			a := e.NewAio(nil)
			a.SetTimeout(0)
			start(a, dirtyFile(t))
			a.Wait()
			if !errors.Is(a.Result(), aio.ErrTimedOut) {
				t.Errorf("%s with a zero timeout (RingOnly %v): %v, want ErrTimedOut", name, e.Config().RingOnly, a.Result())
			}
			a.Free()
		}
	}
}

// TestSyncBesideBound: while the engine's one place is taken, the next
// sync goes through the ring and ends, and the held one ends when its
// call does; each callback runs once.
func TestSyncBesideBound(t *testing.T) {
	needTwoPs(t)
	e := newEngine(t, aio.Config{})
	release := make(chan struct{})
	var held atomic.Bool
	aio.SetSyncBeside(e, 1, func(after bool) {
		if !after && held.CompareAndSwap(false, true) {
			<-release // the first sync's goroutine waits here, before its call
		}
	})
	first := newRecorder()
	a := e.NewAio(first.cb)
	a.Fdatasync(dirtyFile(t))
	err, sub, direct := runSync(t, e, syncStarters["Fsync"], dirtyFile(t))
	if err != nil || sub == 0 || direct != 0 {
		t.Errorf("with the place taken: err %v, %d submitted, %d direct; want nil, >0, 0", err, sub, direct)
	}
	select {
	case c := <-first.ch:
		t.Fatalf("the held sync ended before its call: %v", c.err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if c := first.next(t); c.err != nil {
		t.Errorf("held sync: %v", c.err)
	}
	a.Wait()
	if n := first.n.Load(); n != 1 {
		t.Errorf("held sync's callback ran %d times", n)
	}
	// The worker gives its place back when the held callback has
	// returned, a moment after Wait may return (busy drops to 0 inside
	// the callback's end): a sync started in that moment still finds no
	// place and takes the ring, so look again until the place is back.
	for deadline := time.Now().Add(5 * time.Second); ; {
		err, sub, direct = runSync(t, e, syncStarters["Fsync"], dirtyFile(t))
		if err != nil || sub == 0 && direct == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil || sub != 0 || direct != 1 {
		t.Errorf("with the place free again: err %v, %d submitted, %d direct; want nil, 0, 1", err, sub, direct)
	}
}

// TestSyncBesideAbortStop: an Abort while the call runs cannot take it
// back (the kernel cannot cancel a running fsync either): the call's
// result decides, the callback runs once, and Stop returns only after it.
func TestSyncBesideAbortStop(t *testing.T) {
	needTwoPs(t)
	e := newEngine(t, aio.Config{})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	aio.SetSyncBeside(e, 4, func(after bool) {
		if !after {
			entered <- struct{}{}
			<-release
		}
	})
	rec := newRecorder()
	a := e.NewAio(rec.cb)
	a.Fdatasync(dirtyFile(t))
	<-entered
	a.Abort(errors.New("too late"))
	stopped := make(chan struct{})
	go func() { a.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while the call ran")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-stopped
	if c := rec.next(t); c.err != nil {
		t.Errorf("aborted during its call: %v, want the call's nil", c.err)
	}
	if n := rec.n.Load(); n != 1 {
		t.Errorf("callback ran %d times", n)
	}
}

// TestSyncBesideCloseWaits: Engine.Close returns only once every sync
// worker has gone (rule "Closing": no goroutine of the engine remains),
// even one that lingers after ending its operation.
func TestSyncBesideCloseWaits(t *testing.T) {
	needTwoPs(t)
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	aio.SetSyncBeside(e, 4, func(after bool) {
		if after {
			time.Sleep(50 * time.Millisecond)
		}
	})
	recs := make([]*recorder, 3)
	for i := range recs {
		recs[i] = newRecorder()
		e.NewAio(recs[i].cb).Fdatasync(dirtyFile(t))
	}
	e.Close()
	buf := make([]byte, 1<<20)
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "syncThenEnd") || strings.Contains(st, "(*syncAside).worker") {
		t.Errorf("a sync goroutine outlived Engine.Close:\n%s", st)
	}
	for i, r := range recs {
		if n := r.n.Load(); n != 1 {
			t.Errorf("sync %d: callback ran %d times", i, n)
		}
	}
}
