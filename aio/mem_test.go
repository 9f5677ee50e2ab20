//go:build linux

package aio

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An idle Aio costs at most 512 bytes (the engine issue's memory target):
// measured as heap growth per NewAio over many, not by unsafe.Sizeof alone,
// so the slot table and anything NewAio allocates count too.
func TestIdleAioSize(t *testing.T) {
	e := testEngine(t)
	const n = 20000
	aios := make([]*Aio, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range aios {
		aios[i] = e.NewAio(nil)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("idle Aio: %.0f bytes on the heap each (struct %d bytes)", per, unsafe.Sizeof(Aio{}))
	if per > 512 {
		t.Fatalf("an idle Aio costs %.0f bytes, want <= 512", per)
	}
	runtime.KeepAlive(aios)
}

// allocsOnEachBackend runs f on an engine of each backend (a subtest each,
// skipped where the backend is unavailable), unless the race detector is
// on: it allocates on its own, so allocation counts mean nothing there.
func allocsOnEachBackend(t *testing.T, f func(t *testing.T, e *Engine)) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	onEachBackend(t, func(t *testing.T, be Backend) { f(t, backendEngine(t, be)) })
}

// Steady-state operations on a reused Aio allocate nothing (the engine
// issue's allocation target), on whichever goroutine: AllocsPerRun counts
// the whole process's mallocs. Both backends.
func TestZeroAllocsPerOp(t *testing.T) {
	allocsOnEachBackend(t, func(t *testing.T, e *Engine) {
		zeroAllocsPerOp(t, e)
	})
}

func zeroAllocsPerOp(t *testing.T, e *Engine) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	a := e.NewAio(nil)
	buf := make([]byte, 4096)
	s, r := e.NewAio(nil), e.NewAio(nil)
	out, in := make([]byte, 64), make([]byte, 64)
	s.SetIOV(out)
	r.SetIOV(in)
	cbDone := make(chan struct{}, 1)
	c := e.NewAio(func(*Aio) { cbDone <- struct{}{} })

	for _, tc := range []struct {
		name string
		op   func()
	}{
		{"Nop", func() { a.Nop(); a.Wait() }},
		{"NopCallback", func() { c.Nop(); <-cbDone; c.Wait() }},
		{"ReadAt", func() {
			a.SetIOV(buf)
			a.ReadAt(int(f.Fd()), 4096)
			a.Wait()
			if a.Result() != nil || a.Count() != 4096 {
				t.Fatalf("ReadAt: %v %d", a.Result(), a.Count())
			}
		}},
		{"SendRecv", func() {
			s.Send(fds[0])
			r.Recv(fds[1])
			s.Wait()
			r.Wait()
			if r.Result() != nil || r.Count() != 64 {
				t.Fatalf("Recv: %v %d", r.Result(), r.Count())
			}
		}},
	} {
		tc.op() // warm up: first use may allocate (pinner, wait condition)
		tc.op()
		if n := testing.AllocsPerRun(200, tc.op); n != 0 {
			t.Errorf("%s: %.2f allocations per op, want 0", tc.name, n)
		}
	}
}
