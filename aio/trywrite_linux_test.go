package aio_test

// File writes made on their starter (decision 68, internal/filetry):
// pwritev2 with RWF_NOWAIT where the file system takes it, and a plain
// pwritev2 of at most 64 KiB where it refuses (ext4), instead of an
// io-wq worker. The contract is the same whichever path a write takes.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// readBack reads n bytes of fd at off.
func readBack(t *testing.T, fd int, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if m, err := unix.Pread(fd, b, off); err != nil || m != n {
		t.Fatalf("reading back %d bytes at %d: %d, %v", n, off, m, err)
	}
	return b
}

func TestTryWritesSkipTheRing(t *testing.T) {
	for _, ringOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("RingOnly=", ringOnly), func(t *testing.T) {
			eachTryBackend(t, aio.Config{RingOnly: ringOnly}, func(t *testing.T, e *aio.Engine) {
				fd := tempFile(t, "", unix.O_RDWR)
				a := e.NewAio(nil)
				defer a.Free()
				buf := make([]byte, 4096)
				a.SetIOV(buf)
				before := e.Stats()
				const writes = 50
				for i := 0; i < writes; i++ {
					for j := range buf {
						buf[j] = byte(i)
					}
					off := int64(i) * 4096
					a.WriteAt(fd, off)
					a.Wait()
					if err := a.Result(); err != nil || a.Count() != 4096 {
						t.Fatalf("write %d: %v, %d bytes", i, a.Result(), a.Count())
					}
					if !bytes.Equal(readBack(t, fd, off, 4096), buf) {
						t.Fatalf("write %d: the file holds other bytes", i)
					}
				}
				checkTried(t, e, before, writes, ringOnly, "writes")
			})
		})
	}
}

// Errors are the kernel's, whichever path reports them.
func TestTryWriteErrorsAreTheKernels(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV([]byte("data"))
		a.WriteAt(1<<20, 0) // no such descriptor
		a.Wait()
		if !errors.Is(a.Result(), syscall.EBADF) {
			t.Errorf("WriteAt of a bad descriptor: %v, want EBADF", a.Result())
		}
		ro := tempFile(t, "read only", unix.O_RDONLY)
		a.WriteAt(ro, 0)
		a.Wait()
		if !errors.Is(a.Result(), syscall.EBADF) {
			t.Errorf("WriteAt of a read-only descriptor: %v, want EBADF", a.Result())
		}
		if got := string(readBack(t, ro, 0, 9)); got != "read only" {
			t.Errorf("a refused write changed the file: %q", got)
		}
	})
}

// TestTryWriteCallbackChain: a chain of writes started from callbacks is
// made on its starters. Two timed writes in a row over writeSlow (a
// preempted thread on a busy machine: the CI's parallel packages) send
// the Aio's next 256 to the backend by design, so a chain that lost
// more than a few is run again, up to three times; a chain whose writes
// all go to the backend fails every time.
func TestTryWriteCallbackChain(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		const n, attempts = 2000, 3
		var direct []uint64
		for range attempts {
			fd := tempFile(t, "", unix.O_RDWR)
			buf := make([]byte, 512)
			d := runChain(t, e, n, buf, func(a *aio.Aio, left int) {
				buf[0] = byte(left)
				a.WriteAt(fd, int64(left%8)*512)
			})
			// The last write (left 1) went to 512; the one before it to 1024.
			if got := readBack(t, fd, 512, 1025); got[0] != 1 || got[512] != 2 {
				t.Fatalf("the chain's last writes left %d and %d, want 1 and 2", got[0], got[512])
			}
			if direct = append(direct, d); d >= n-10 {
				return
			}
		}
		t.Errorf("of %d chained writes, %v done directly in %d attempts", n, direct, attempts)
	})
}

func TestTryWriteAllocs(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fd := tempFile(t, "", unix.O_RDWR)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV(make([]byte, 4096))
		a.WriteAt(fd, 0)
		a.Wait()
		allocs := testing.AllocsPerRun(200, func() {
			a.WriteAt(fd, 0)
			a.Wait()
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per WriteAt+Wait, want 0", allocs)
		}
	})
}

// A zero timeout's write never waits on its starter: it is written whole,
// or it times out having written nothing.
func TestTryWriteZeroTimeout(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fd := tempFile(t, "", unix.O_RDWR)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(0)
		a.SetIOV([]byte("attempt"))
		a.WriteAt(fd, 0)
		a.Wait()
		switch err := a.Result(); {
		case err == nil && a.Count() == 7:
			if got := string(readBack(t, fd, 0, 7)); got != "attempt" {
				t.Errorf("file holds %q", got)
			}
		case errors.Is(err, aio.ErrTimedOut) && a.Count() == 0:
		default:
			t.Errorf("zero timeout's WriteAt: %v, %d bytes; want all 7 or ErrTimedOut with none", err, a.Count())
		}
	})
}

// A descriptor number an Aio wrote a file through, closed and reused for a
// full pipe: the next WriteAt on it must neither block its starter (a
// pipe takes no write at an offset, so the starter's write fails at once)
// nor escape a cancel.
func TestTryWriteReusedNumberStaysCancellable(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fd := tempFile(t, "", unix.O_RDWR)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV([]byte(strings.Repeat("f", 64)))
		for i := 0; i < 3; i++ {
			a.WriteAt(fd, 0)
			a.Wait()
			if a.Result() != nil || a.Count() != 64 {
				t.Fatalf("write %d to the file: %v, %d bytes", i, a.Result(), a.Count())
			}
		}
		r, w, closeR, closeW := pipe(t)
		defer closeR()
		defer closeW()
		fill(t, w)
		if err := unix.Dup3(w, fd, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		go func() { a.WriteAt(fd, 0); close(started) }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			unix.Read(r, make([]byte, 1<<20))
			t.Fatal("WriteAt of a full pipe through a reused number blocked its starter")
		}
		time.Sleep(20 * time.Millisecond)
		a.Cancel()
		ended := make(chan struct{})
		go func() { a.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			unix.Read(r, make([]byte, 1<<20))
			<-ended
			t.Fatal("a cancelled WriteAt of a full pipe did not end")
		}
		if !errors.Is(a.Result(), aio.ErrCanceled) {
			t.Errorf("cancelled WriteAt of a full pipe: %v, %d bytes; want ErrCanceled", a.Result(), a.Count())
		}
	})
}
