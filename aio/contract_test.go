package aio_test

// Black-box tests of the contract in /work/shared/API.md, against the real
// kernel. Each test names the rule it checks. Outcomes that must not happen
// (a second callback, a lost completion) are checked by closing the engine,
// which delivers everything still in the ring, and then counting.

import (
	"errors"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// opSpec says how to drive one kind of operation to each outcome.
type opSpec struct {
	name string
	// ok starts the op so that it succeeds and returns its Count.
	ok func(t *testing.T, a *aio.Aio) int
	// fail starts the op so that the kernel (or provider) fails it, and
	// returns that error; nil when the op cannot fail.
	fail func(t *testing.T, a *aio.Aio) error
	// block starts the op so that it stays pending until something ends
	// it; nil when the op cannot be made to wait.
	block func(t *testing.T, a *aio.Aio)
}

var opSpecs = []opSpec{
	{
		name: "Nop",
		ok:   func(t *testing.T, a *aio.Aio) int { a.Nop(); return 0 },
	},
	{
		name:  "Sleep",
		ok:    func(t *testing.T, a *aio.Aio) int { a.Sleep(5 * time.Millisecond); return 0 },
		block: func(t *testing.T, a *aio.Aio) { a.Sleep(time.Hour) },
	},
	{
		name: "ReadAt",
		ok: func(t *testing.T, a *aio.Aio) int {
			fd := tempFile(t, "hello, world", unix.O_RDONLY)
			a.SetIOV(make([]byte, 64))
			a.ReadAt(fd, 0)
			return 12
		},
		fail: func(t *testing.T, a *aio.Aio) error {
			a.SetIOV(make([]byte, 64))
			a.ReadAt(-1, 0)
			return syscall.EBADF
		},
		block: func(t *testing.T, a *aio.Aio) {
			r, _, _, _ := pipe(t)
			a.SetIOV(make([]byte, 64))
			a.ReadAt(r, -1)
		},
	},
	{
		name: "WriteAt",
		ok: func(t *testing.T, a *aio.Aio) int {
			fd := tempFile(t, "", unix.O_RDWR)
			a.SetIOV([]byte("hello"))
			a.WriteAt(fd, 0)
			return 5
		},
		fail: func(t *testing.T, a *aio.Aio) error {
			fd := tempFile(t, "x", unix.O_RDONLY)
			a.SetIOV([]byte("hello"))
			a.WriteAt(fd, 0)
			return syscall.EBADF
		},
		block: func(t *testing.T, a *aio.Aio) {
			_, w, _, _ := pipe(t)
			fill(t, w)
			a.SetIOV([]byte("hello"))
			a.WriteAt(w, -1)
		},
	},
	{
		name: "Fsync",
		ok: func(t *testing.T, a *aio.Aio) int {
			a.Fsync(tempFile(t, "data", unix.O_RDWR))
			return 0
		},
		fail: func(t *testing.T, a *aio.Aio) error { a.Fsync(-1); return syscall.EBADF },
	},
	{
		name: "Recv",
		ok: func(t *testing.T, a *aio.Aio) int {
			x, y, _, _ := socketpair(t)
			write(t, y, "hello")
			a.SetIOV(make([]byte, 64))
			a.Recv(x)
			return 5
		},
		fail: func(t *testing.T, a *aio.Aio) error {
			a.SetIOV(make([]byte, 64))
			a.Recv(tempFile(t, "not a socket", unix.O_RDONLY))
			return syscall.ENOTSOCK
		},
		block: func(t *testing.T, a *aio.Aio) {
			x, _, _, _ := socketpair(t)
			a.SetIOV(make([]byte, 64))
			a.Recv(x)
		},
	},
	{
		name: "Send",
		ok: func(t *testing.T, a *aio.Aio) int {
			x, _, _, _ := socketpair(t)
			a.SetIOV([]byte("hello"))
			a.Send(x)
			return 5
		},
		fail: func(t *testing.T, a *aio.Aio) error {
			x, _, _, closeY := socketpair(t)
			closeY()
			a.SetIOV([]byte("hello"))
			a.Send(x)
			return syscall.EPIPE
		},
		block: func(t *testing.T, a *aio.Aio) {
			x, _, _, _ := socketpair(t)
			fill(t, x)
			a.SetIOV([]byte("hello"))
			a.Send(x)
		},
	},
	{
		name: "Accept",
		ok: func(t *testing.T, a *aio.Aio) int {
			l, sa, _ := listener(t, 8)
			dial(t, sa)
			a.Accept(l)
			return 0
		},
		fail: func(t *testing.T, a *aio.Aio) error {
			fd, _ := tcpSocket(t) // not listening
			a.Accept(fd)
			return syscall.EINVAL
		},
		block: func(t *testing.T, a *aio.Aio) {
			l, _, _ := listener(t, 8)
			a.Accept(l)
		},
	},
	{
		name: "Connect",
		ok: func(t *testing.T, a *aio.Aio) int {
			_, sa, _ := listener(t, 8)
			fd, _ := tcpSocket(t)
			a.Connect(fd, sa)
			return 0
		},
		fail: func(t *testing.T, a *aio.Aio) error {
			sa := closedPort(t)
			fd, _ := tcpSocket(t)
			a.Connect(fd, sa)
			return syscall.ECONNREFUSED
		},
		block: func(t *testing.T, a *aio.Aio) {
			sa := fullListener(t)
			fd, _ := tcpSocket(t)
			a.Connect(fd, sa)
		},
	},
	{
		name: "Start",
		ok: func(t *testing.T, a *aio.Aio) int {
			if a.Start(nil) {
				go a.Finish(nil, 7)
			}
			return 7
		},
		fail: func(t *testing.T, a *aio.Aio) error {
			if a.Start(nil) {
				go a.Finish(syscall.EIO, 0)
			}
			return syscall.EIO
		},
		block: func(t *testing.T, a *aio.Aio) {
			a.Start(func(a *aio.Aio, err error) { a.Finish(err, 0) })
		},
	},
}

var errCustom = errors.New("custom abort reason")

// outcome is one way an operation can end, and how to bring it about.
type outcome struct {
	name string
	// run drives op on a (of engine e) to this outcome and returns the
	// result and count the callback must see. ok is false when the op has
	// no way to reach this outcome.
	run func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (want error, count int, ok bool)
}

var outcomes = []outcome{
	{"success", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		return nil, op.ok(t, a), true
	}},
	{"failure", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.fail == nil {
			return nil, 0, false
		}
		return op.fail(t, a), 0, true
	}},
	{"timeout", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		a.SetTimeout(20 * time.Millisecond)
		op.block(t, a)
		return aio.ErrTimedOut, 0, true
	}},
	{"expire", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil || op.name == "Sleep" { // Sleep ignores SetExpire
			return nil, 0, false
		}
		a.SetExpire(time.Now().Add(20 * time.Millisecond))
		op.block(t, a)
		return aio.ErrTimedOut, 0, true
	}},
	{"zero-timeout", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		a.SetTimeout(0)
		op.block(t, a)
		return aio.ErrTimedOut, 0, true
	}},
	{"past-expire", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.name == "Sleep" {
			return nil, 0, false
		}
		a.SetExpire(time.Now().Add(-time.Second))
		op.ok(t, a)
		return aio.ErrTimedOut, 0, true
	}},
	{"cancel", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		op.block(t, a)
		a.Cancel()
		return aio.ErrCanceled, 0, true
	}},
	{"abort", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		op.block(t, a)
		a.Abort(errCustom)
		return errCustom, 0, true
	}},
	{"stop", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		op.block(t, a)
		a.Stop()
		if n := r.n.Load(); n != 1 {
			t.Errorf("Stop returned with %d callbacks run, want 1 (Stop waits for the callback)", n)
		}
		return aio.ErrStopped, 0, true
	}},
	{"free", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		op.block(t, a)
		a.Free()
		if n := r.n.Load(); n != 1 {
			t.Errorf("Free returned with %d callbacks run, want 1", n)
		}
		return aio.ErrStopped, 0, true
	}},
	{"reap", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		op.block(t, a)
		a.Reap() // from another goroutine: does not wait
		return aio.ErrStopped, 0, true
	}},
	{"stopped", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		a.Stop()
		op.ok(t, a)
		return aio.ErrStopped, 0, true
	}},
	{"close", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		if op.block == nil {
			return nil, 0, false
		}
		op.block(t, a)
		e.Close()
		if n := r.n.Load(); n != 1 {
			t.Errorf("Close returned with %d callbacks run, want 1 (Close waits for callbacks)", n)
		}
		return aio.ErrClosed, 0, true
	}},
	{"closed", func(t *testing.T, e *aio.Engine, a *aio.Aio, r *recorder, op opSpec) (error, int, bool) {
		e.Close()
		op.ok(t, a)
		return aio.ErrClosed, 0, true
	}},
}

// Rule "Exactly once": every op ends in exactly one call of its callback,
// whatever happens (success, failure, timeout, cancel, stop, engine close);
// the callback never runs on the goroutine that started the op. Start
// failures (stopped, closed, zero timeout, past expiry) arrive the same way.
func TestExactlyOnce(t *testing.T) {
	for _, op := range opSpecs {
		for _, oc := range outcomes {
			t.Run(op.name+"/"+oc.name, func(t *testing.T) {
				e := newEngine(t, aio.Config{})
				r := newRecorder()
				a := e.NewAio(r.cb)
				me := goid()
				start := time.Now()
				want, wantCount, ok := oc.run(t, e, a, r, op)
				if !ok {
					t.Skipf("%s cannot be driven to %s", op.name, oc.name)
				}
				c := r.next(t)
				if fd, isFd := c.out0.(int); isFd {
					own(t, fd)
				}
				if c.err != want {
					// "nil, one of the Err* values, or a syscall.Errno":
					// the value itself, comparable with ==.
					t.Errorf("Result = %#v, want %v itself", c.err, want)
				}
				if _, isErrno := want.(syscall.Errno); isErrno {
					if got, isErrno := c.err.(syscall.Errno); !isErrno || got != want {
						t.Errorf("Result = %#v (%T), want the syscall.Errno %v itself", c.err, c.err, want)
					}
				}
				if c.count != wantCount {
					t.Errorf("Count = %d, want %d", c.count, wantCount)
				}
				if c.goid == me {
					t.Errorf("callback ran on the goroutine that started the op (%d)", me)
				}
				if oc.name == "timeout" || oc.name == "expire" {
					if el := c.at.Sub(start); el < 20*time.Millisecond {
						t.Errorf("timed out after %v, before the 20ms deadline", el)
					}
				}
				a.Wait()
				if a.Busy() {
					t.Errorf("Busy after the callback and Wait")
				}
				// Close delivers every completion still in the ring, so a
				// second callback would show up by now.
				e.Close()
				if n := r.n.Load(); n != 1 {
					t.Errorf("callback ran %d times, want exactly 1", n)
				}
			})
		}
	}
}

// Rule "Exactly once": the kernel is finished with the op's buffers before
// the callback runs, so the received bytes are in the buffer when the
// callback looks.
func TestBuffersCompleteAtCallback(t *testing.T) {
	e := newEngine(t, aio.Config{})
	x, y, _, _ := socketpair(t)
	buf := make([]byte, 32)
	seen := make(chan string, 1)
	a := e.NewAio(func(a *aio.Aio) { seen <- string(buf[:a.Count()]) })
	a.SetIOV(buf)
	a.Recv(x)
	write(t, y, "payload-1234")
	select {
	case s := <-seen:
		if s != "payload-1234" {
			t.Fatalf("buffer at callback time = %q, want %q", s, "payload-1234")
		}
	case <-time.After(waitLimit):
		t.Fatal("no callback")
	}
}

// Rule "Start failures come through the callback, never as a second path":
// no op method returns anything.
func TestOpsReturnNothing(t *testing.T) {
	typ := reflect.TypeOf((*aio.Aio)(nil))
	for _, name := range []string{"Nop", "Sleep", "ReadAt", "WriteAt", "Fsync", "Recv", "Send", "Accept", "Connect", "Finish"} {
		m, ok := typ.MethodByName(name)
		if !ok {
			t.Errorf("Aio has no method %s", name)
			continue
		}
		if n := m.Type.NumOut(); n != 0 {
			t.Errorf("Aio.%s returns %d values, want none", name, n)
		}
	}
}
