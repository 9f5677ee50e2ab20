//go:build linux

package aio

// Regression tests for defects found by reading the first engine's code
// (the Engine v2 issue). Each names the defect it guards against.

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/internal/completion"
	"github.com/aioring/aioring/ring"
	"golang.org/x/sys/unix"
)

// Defect: internal plumbing (Engine.Complete, Engine.Flush, Aio.Prep,
// Aio.SQEs, Aio.QueueNode) was exported, and a user calling e.Flush()
// raced the completion loop. The public types must carry only the
// contract's methods and the documented extras.
func TestRegressNoPlumbingInPublicAPI(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		want map[string]bool
	}{
		{reflect.TypeOf(&Engine{}), map[string]bool{"Close": true, "NewAio": true,
			"Stats": true, "Supports": true, "Backend": true, "Fallback": true, "CloseFD": true,
			// The resolved configuration (adapt reads RingOnly from it).
			"Config": true,
			// Registered resources (API.md).
			"FixedBuffer": true, "FreeFixedBuffer": true, "RegisterFD": true, "UnregisterFD": true}},
		{reflect.TypeOf(&Aio{}), map[string]bool{"Free": true, "Reap": true, "Stop": true,
			"Cancel": true, "Abort": true, "Wait": true, "Busy": true, "Result": true, "Count": true,
			"SetTimeout": true, "SetExpire": true, "SetIOV": true, "SetInput": true, "Input": true,
			"SetOutput": true, "Output": true, "Nop": true, "Sleep": true, "ReadAt": true,
			"WriteAt": true, "Fsync": true, "Recv": true, "Send": true, "Accept": true,
			"Connect": true, "Start": true, "Finish": true, "RecvMsg": true, "SetMsg": true, "Msg": true,
			// Datagrams, splice, shutdown (API.md, "Streams and datagrams").
			"SendTo": true, "RecvFrom": true, "From": true, "Splice": true, "Shutdown": true,
			// Files by name (API.md).
			"OpenAt": true, "Statx": true, "CloseFD": true, "Fdatasync": true, "Fallocate": true, "FD": true}},
	} {
		for i := 0; i < c.typ.NumMethod(); i++ {
			if m := c.typ.Method(i).Name; !c.want[m] {
				t.Errorf("%v exports %s, which is not in the contract or the documented extras", c.typ, m)
			}
		}
	}
}

// Defect: Engine.Stats returned completion.Stats, RingFlags a
// ring.SetupFlags and Supports took an sqe.Op, so io_uring's vocabulary
// was part of the contract even on the portable backend. No exported
// method or field of the package's types may name a type of the engine's
// plumbing packages.
func TestRegressPublicAPISpeaksItsOwnTerms(t *testing.T) {
	plumbing := func(ty reflect.Type) bool {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Array {
			ty = ty.Elem()
		}
		p := ty.PkgPath()
		return strings.HasPrefix(p, "github.com/aioring/aioring/") && !strings.HasSuffix(p, "/aio")
	}
	for _, typ := range []reflect.Type{reflect.TypeOf(&Engine{}), reflect.TypeOf(&Aio{}),
		reflect.TypeOf(&Msg{}), reflect.TypeOf(Config{}), reflect.TypeOf(Stats{}), reflect.TypeOf(Feature(0))} {
		for i := 0; i < typ.NumMethod(); i++ {
			m := typ.Method(i)
			for j := 0; j < m.Type.NumIn(); j++ {
				if plumbing(m.Type.In(j)) {
					t.Errorf("%v.%s takes %v", typ, m.Name, m.Type.In(j))
				}
			}
			for j := 0; j < m.Type.NumOut(); j++ {
				if plumbing(m.Type.Out(j)) {
					t.Errorf("%v.%s returns %v", typ, m.Name, m.Type.Out(j))
				}
			}
		}
		if typ.Kind() == reflect.Struct {
			for i := 0; i < typ.NumField(); i++ {
				if f := typ.Field(i); f.IsExported() && plumbing(f.Type) {
					t.Errorf("%v.%s is a %v", typ, f.Name, f.Type)
				}
			}
		}
	}
}

// Defect: a start from another goroutine while the callback of the
// previous operation still ran could let that callback's end mark the new
// operation idle; its CQE was then dropped as stale and Wait hung. nng
// allows the start; it must end in exactly one callback and Wait must
// return.
func TestRegressStartDuringCallbackFromOtherGoroutine(t *testing.T) {
	e := testEngine(t)
	for _, sleep := range []bool{false, true} {
		var calls atomic.Int64
		inCb := make(chan struct{})
		release := make(chan struct{})
		a := e.NewAio(func(a *Aio) {
			if calls.Add(1)%2 == 1 {
				inCb <- struct{}{}
				<-release
			}
		})
		for i := 0; i < 200; i++ {
			a.Nop()
			<-inCb // the first op's callback runs, and waits
			if sleep {
				a.Sleep(time.Microsecond)
			} else {
				a.Nop() // started while that callback still runs
			}
			release <- struct{}{}
			done := make(chan struct{})
			go func() { a.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("sleep=%v round %d: Wait hung; %d callbacks", sleep, i, calls.Load())
			}
			if got := calls.Load(); got != int64(2*(i+1)) {
				t.Fatalf("sleep=%v round %d: %d callbacks, want %d", sleep, i, got, 2*(i+1))
			}
		}
		a.Free()
	}
}

// Defect: after EBADR (the kernel dropped CQEs) Close waited forever for
// the lost completions, and a submit after Close queued a request that
// never completed. Now operations on a broken ring end with ErrClosed,
// and Close returns, reporting the cause.
func TestRegressBrokenRingCloses(t *testing.T) {
	e, err := NewEngine(Config{Rings: 1})
	if err != nil {
		t.Skip(err)
	}
	if e.Backend() != BackendIOURing {
		e.Close()
		t.Skip("io_uring only: EBADR is the ring's lost-completion report; the portable backend loses none")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	var pendingErr atomic.Value
	r := e.NewAio(func(a *Aio) { pendingErr.Store(a.Result()) })
	r.SetIOV(make([]byte, 16))
	r.Recv(fds[0]) // nobody sends: pending until Close
	completion.InjectEBADRForTest(e.shards[0].(ringBackend).Shard)
	n := e.NewAio(nil)
	n.Nop() // its enter reports EBADR
	n.Wait()
	n.Nop() // refused by the broken ring
	n.Wait()
	if n.Result() != ErrClosed {
		t.Fatalf("op on a broken ring: %v, want ErrClosed", n.Result())
	}
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, completion.ErrBroken) {
			t.Fatalf("Close: %v, want completion.ErrBroken", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a ring that lost completions")
	}
	if got := pendingErr.Load(); got != ErrClosed {
		t.Fatalf("pending Recv ended with %v, want ErrClosed", got)
	}
}

// Defect: buffers pinned while building an operation stayed pinned when
// the operation was then refused (an opcode the kernel lacks). The runtime
// panics when it collects a Pinner that still holds pins, so a leak here
// crashes this test binary.
func TestRegressRefusedOpUnpins(t *testing.T) {
	e := testEngine(t)
	if e.Backend() != BackendIOURing {
		t.Skip("io_uring only: the opcode probe is the ring's")
	}
	saved := e.probe
	e.probe = ring.Probe{} // the kernel "lacks" every opcode now
	defer func() { e.probe = saved }()
	for i := 0; i < 100; i++ {
		a := e.NewAio(nil)
		a.SetIOV(make([]byte, 4096), make([]byte, 4096))
		a.ReadAt(0, 0)
		a.Wait()
		if a.Result() != ErrUnsupported {
			t.Fatalf("ReadAt with the opcode missing: %v, want ErrUnsupported", a.Result())
		}
		a.Free()
	}
	runtime.GC()
	runtime.GC()
	// The Pinners' finalizers, queued by the collections above, run on
	// the runtime's one finalizer goroutine; a sentinel whose finalizer is
	// queued after theirs tells when they have run, where a sleep would
	// only hope so.
	ran := make(chan struct{})
	sentinel := new([32]byte)
	runtime.SetFinalizer(sentinel, func(*[32]byte) { close(ran) })
	sentinel = nil
	runtime.GC()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("finalizers did not run within 10 s")
	}
}

// Defect: a RecvMsg or Accept whose multishot the ring refused (closed or
// broken) was parked as a waiter anyway, and ended only at Engine.Close.
// Now it ends at once with ErrClosed, as a kernel operation does.
func TestRegressMultishotRefusedEndsAtOnce(t *testing.T) {
	if !useMultishotAccept || forceMsgFallback {
		t.Skip("multishot accept off")
	}
	e, err := NewEngine(Config{Rings: 1})
	if err != nil {
		t.Skip(err)
	}
	if !e.msgs.msAccept {
		e.Close()
		t.Skip("kernel without multishot accept")
	}
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 4); err != nil {
		t.Fatal(err)
	}
	completion.InjectEBADRForTest(e.shards[0].(ringBackend).Shard)
	n := e.NewAio(nil)
	n.Nop() // its enter reports EBADR: the ring is broken
	n.Wait()
	done := make(chan error, 1)
	a := e.NewAio(func(a *Aio) { done <- a.Result() })
	a.SetTimeout(Infinite)
	a.Accept(lfd)
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("Accept on a broken ring: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Accept on a broken ring still waiting after 5 s")
	}
	e.Close()
}
