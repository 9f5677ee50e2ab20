package aio_test

import (
	"testing"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// rawPipe returns a pipe's ends, which the test closes itself (CloseFD
// closes some of them, so a cleanup that closed them again could close a
// number reused meanwhile).
func rawPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	return p[0], p[1]
}

// TestCloseFDEndsAStreamReadOrWrite: a ReadAt of an empty pipe, or a
// WriteAt to a full one, waits in the ring until data or room comes, as a
// Recv does; on an engine that has started no socket operation, CloseFD
// of its descriptor must end it too (ErrClosed), at an offset (which a
// pipe ignores in the ring) and at the file position alike.
func TestCloseFDEndsAStreamReadOrWrite(t *testing.T) {
	for _, c := range []struct {
		name  string
		write bool
		off   int64
	}{
		{"ReadAt", false, 0}, {"ReadAt-position", false, -1},
		{"WriteAt", true, 0}, {"WriteAt-position", true, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := aio.NewEngine(aio.Config{Backend: aio.BackendIOURing})
			if err != nil {
				t.Skipf("io_uring unavailable: %v", err)
			}
			defer e.Close()
			r, w := rawPipe(t)
			fd, other := r, w
			if c.write {
				fd, other = w, r
				fill(t, w)
			}
			defer unix.Close(other)
			waitEndsBy(t, e, fd, "CloseFD", c.name, func(a *aio.Aio) {
				if c.write {
					a.WriteAt(fd, c.off)
				} else {
					a.ReadAt(fd, c.off)
				}
			})
		})
	}
}

// TestCloseFDOfADupLeavesASmallReadAt: the commonest read (small, one
// buffer, no deadline) starts by a path of its own (tryfirst.go); when
// its try finds a pipe with nothing to read it goes to the ring, and a
// CloseFD of a dup of that pipe, whose cancel the kernel matches by file,
// must not end it, even on a descriptor number an earlier CloseFD closed.
func TestCloseFDOfADupLeavesASmallReadAt(t *testing.T) {
	e, err := aio.NewEngine(aio.Config{Backend: aio.BackendIOURing})
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer e.Close()
	// A socket operation: from now on every CloseFD cancels and is
	// recorded, whatever else the engine learns.
	x, _, _, _ := socketpair(t)
	s := e.NewAio(nil)
	s.SetIOV(make([]byte, 1))
	s.SetTimeout(0)
	s.Recv(x)
	s.Wait()
	s.Free()

	// A number closed by CloseFD, then reused for the pipe read.
	old, oldW := rawPipe(t)
	unix.Close(oldW)
	if err := e.CloseFD(old); err != nil {
		t.Fatal(err)
	}
	r, w := rawPipe(t)
	if r != old {
		if err := unix.Dup3(r, old, unix.O_CLOEXEC); err != nil {
			t.Fatalf("dup3: %v", err)
		}
		unix.Close(r)
		r = old
	}
	defer unix.Close(r)
	defer unix.Close(w)

	done := make(chan error, 1)
	buf := make([]byte, 16)
	a := e.NewAio(func(a *aio.Aio) { done <- a.Result() })
	defer a.Free()
	a.SetIOV(buf)
	a.ReadAt(r, -1)
	outlivesDupClose(t, e, a, done, r, w, buf, "the ReadAt")
}
