package aio_test

// Cache hits without the ring (tryfirst.go): file reads tried with
// preadv2(RWF_NOWAIT) on their starter. The contract is the same whichever
// path a read takes; these tests check that the fast path is taken where
// it should be, and that everything it does not finish still is.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/internal/pagecache"
	"golang.org/x/sys/unix"
)

// ringEngine is an io_uring engine, or a skip naming why not.
func ringEngine(t *testing.T, cfg aio.Config) *aio.Engine {
	t.Helper()
	e := newEngine(t, cfg)
	if e.Backend() != aio.BackendIOURing {
		t.Skipf("this test is about the io_uring backend; this engine runs %q", e.Backend())
	}
	return e
}

// needNowaitReads skips a test of the portable backend's tries where the
// system cannot make them: no preadv2 (qemu-user, kernels before 4.6) or
// no RWF_NOWAIT (before 4.14). The ring needs both, and has them.
func needNowaitReads(t *testing.T) {
	t.Helper()
	fd := tempFile(t, "probe", unix.O_RDONLY)
	if _, err := unix.Preadv2(fd, [][]byte{make([]byte, 5)}, 0, unix.RWF_NOWAIT); err != nil {
		t.Skipf("preadv2 with RWF_NOWAIT: %v: the portable backend tries no read here", err)
	}
}

// eachTryBackend runs f, as a subtest each, on an io_uring engine and on
// a portable one made with cfg: both try reads first (decision 66). An
// engine that cannot be made (no io_uring here) skips its subtest.
func eachTryBackend(t *testing.T, cfg aio.Config, f func(t *testing.T, e *aio.Engine)) {
	for _, be := range []aio.Backend{aio.BackendIOURing, aio.BackendPortable} {
		t.Run(string(be), func(t *testing.T) {
			c := cfg
			c.Backend = be
			if be == aio.BackendPortable {
				needNowaitReads(t)
			}
			e, err := aio.NewEngine(c)
			if errors.Is(err, aio.ErrUnsupported) {
				t.Skipf("no %s engine here: %v", be, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			f(t, e)
		})
	}
}

// dropCache makes fd's first page uncached, or skips the test.
func dropCache(t *testing.T, fd int) { pagecache.Drop(t, fd) }

func TestTryFirstCachedReadsSkipTheRing(t *testing.T) {
	content := strings.Repeat("0123456789abcdef", 1024) // 16 KiB
	for _, ringOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("RingOnly=", ringOnly), func(t *testing.T) {
			eachTryBackend(t, aio.Config{RingOnly: ringOnly}, func(t *testing.T, e *aio.Engine) {
				fd := tempFile(t, content, unix.O_RDONLY)
				a := e.NewAio(nil)
				defer a.Free()
				buf := make([]byte, 4096)
				a.SetIOV(buf)
				before := e.Stats()
				const reads = 50
				for i := 0; i < reads; i++ {
					off := int64(i%4) * 4096
					a.ReadAt(fd, off)
					a.Wait()
					if err := a.Result(); err != nil || a.Count() != 4096 {
						t.Fatalf("RingOnly %v: read %d: %v, %d bytes", ringOnly, i, a.Result(), a.Count())
					}
					if !bytes.Equal(buf, []byte(content[off:off+4096])) {
						t.Fatalf("RingOnly %v: read %d: wrong data", ringOnly, i)
					}
				}
				checkTried(t, e, before, reads, ringOnly, "cached reads")
			})
		})
	}
}

// checkTried checks what n operations since before did: with ringOnly,
// none finished directly and (io_uring) at least n SQEs went out; without,
// all n finished directly and no SQE went out.
func checkTried(t *testing.T, e *aio.Engine, before aio.Stats, n uint64, ringOnly bool, what string) {
	t.Helper()
	after := e.Stats()
	direct, submitted := after.Direct-before.Direct, after.Submitted-before.Submitted
	ring := e.Backend() == aio.BackendIOURing
	switch {
	case ringOnly && (direct != 0 || ring && submitted < n):
		t.Errorf("RingOnly: %d %s done directly, %d SQEs submitted; want 0 and (io_uring) >= %d", direct, what, submitted, n)
	case !ringOnly && (direct != n || submitted != 0):
		t.Errorf("%d of %d %s done directly, %d SQEs submitted; want all and 0", direct, n, what, submitted)
	}
}

// A short read is only the end of the file if a read at the next offset
// finds nothing; the count must be the ring's: all bytes up to the end.
func TestTryFirstShortReadAtEndOfFile(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fd := tempFile(t, "hello, world", unix.O_RDONLY)
		r := newRecorder()
		a := e.NewAio(r.cb)
		defer a.Free()
		buf := make([]byte, 64<<10)
		a.SetIOV(buf)
		for _, c := range []struct {
			off  int64
			want string
		}{{0, "hello, world"}, {7, "world"}, {12, ""}, {1 << 20, ""}} {
			a.ReadAt(fd, c.off)
			got := r.next(t)
			if got.err != nil || got.count != len(c.want) || string(buf[:got.count]) != c.want {
				t.Errorf("ReadAt(off %d): %v, %d bytes %q; want %q", c.off, got.err, got.count, buf[:got.count], c.want)
			}
		}
		if e.Stats().Direct != 4 {
			t.Errorf("Direct = %d, want 4", e.Stats().Direct)
		}
	})
}

func TestTryFirstVectoredRead(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		content := strings.Repeat("x", 100) + strings.Repeat("y", 100)
		fd := tempFile(t, content, unix.O_RDONLY)
		a := e.NewAio(nil)
		defer a.Free()
		b1, b2 := make([]byte, 100), make([]byte, 150)
		a.SetIOV(b1, b2)
		a.ReadAt(fd, 0)
		a.Wait()
		if a.Result() != nil || a.Count() != 200 || string(b1)+string(b2[:100]) != content {
			t.Fatalf("vectored read: %v, %d bytes", a.Result(), a.Count())
		}
		if e.Stats().Direct != 1 {
			t.Errorf("Direct = %d, want 1", e.Stats().Direct)
		}
	})
}

// Errors come from the ring, in its terms, whatever the try saw.
func TestTryFirstErrorsAreTheKernels(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV(make([]byte, 16))
		a.ReadAt(1<<20, 0) // no such descriptor
		a.Wait()
		if !errors.Is(a.Result(), syscall.EBADF) {
			t.Errorf("ReadAt of a bad descriptor: %v, want EBADF", a.Result())
		}
		dir := t.TempDir()
		dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		own(t, dfd)
		a.ReadAt(dfd, 0)
		a.Wait()
		if !errors.Is(a.Result(), syscall.EISDIR) {
			t.Errorf("ReadAt of a directory: %v, want EISDIR", a.Result())
		}
		// A read of nothing checks the descriptor too.
		a.SetIOV(nil)
		a.ReadAt(1<<20, 0)
		a.Wait()
		if !errors.Is(a.Result(), syscall.EBADF) {
			t.Errorf("empty ReadAt of a bad descriptor: %v, want EBADF", a.Result())
		}
	})
}

// Data that is not cached reaches the caller through the ring; an Aio
// whose tries keep missing stops trying, and a zero timeout on uncached
// data times out without blocking.
func TestTryFirstMissesGoToTheRing(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		content := strings.Repeat("z", 64<<10)
		fd := tempFile(t, content, unix.O_RDONLY)
		if err := unix.Fsync(fd); err != nil { // clean pages can be dropped
			t.Fatal(err)
		}
		a := e.NewAio(nil)
		defer a.Free()
		buf := make([]byte, 4096)
		a.SetIOV(buf)

		// RWF_NOWAIT starts the readahead of a page it does not find, and a
		// fast disk may finish it inside the call: then the try did find the
		// data, and the read is not a miss (seen here beside a loop dropping
		// every cache each 2 s, in about 1 run of 700; reliability.md). Such
		// a read is dropped again and retried, up to a bound.
		const tries = 20
		for try := 0; ; try++ {
			if try == tries {
				t.Skip("every zero-timeout try found the page: this disk finishes the readahead inside preadv2(RWF_NOWAIT)")
			}
			dropCache(t, fd)
			a.SetTimeout(0)
			a.ReadAt(fd, 0)
			a.Wait()
			if a.Result() == aio.ErrTimedOut {
				break
			}
			if a.Result() != nil || a.Count() != 4096 || string(buf) != content[:4096] {
				t.Fatalf("zero-timeout ReadAt of uncached data: %v, %d bytes; want ErrTimedOut (or, when the readahead was quick, the data)", a.Result(), a.Count())
			}
		}
		a.SetTimeout(aio.DefaultTimeout)

		for misses, try := 0, 0; misses < 3; try++ { // filetry.missLimit misses in a row
			if try == tries {
				t.Skip("the tries kept finding the pages: this disk finishes the readahead inside preadv2(RWF_NOWAIT)")
			}
			dropCache(t, fd)
			before := e.Stats()
			a.ReadAt(fd, 0)
			a.Wait()
			if a.Result() != nil || a.Count() != 4096 || string(buf) != content[:4096] {
				t.Fatalf("uncached ReadAt %d: %v, %d bytes", try, a.Result(), a.Count())
			}
			if e.Stats().Direct-before.Direct != 0 {
				misses = 0 // the try found it after all: the Aio's streak starts again too
				continue
			}
			misses++
		}
		// Now cached, but the streak sends the next reads to the ring.
		before := e.Stats()
		for i := 0; i < 10; i++ {
			a.ReadAt(fd, 0)
			a.Wait()
			if a.Result() != nil || a.Count() != 4096 {
				t.Fatalf("ReadAt after the misses: %v, %d bytes", a.Result(), a.Count())
			}
		}
		if d := e.Stats().Direct - before.Direct; d != 0 {
			t.Errorf("%d reads tried first right after %d misses in a row; want 0", d, 3)
		}
		// Within the probe period a try comes round again, hits, and ends the
		// streak.
		for i := 0; i < 200; i++ {
			a.ReadAt(fd, 0)
			a.Wait()
		}
		if d := e.Stats().Direct - before.Direct; d < 100 {
			t.Errorf("only %d of 210 cached reads done directly after the probe; the streak did not end", d)
		}
	})
}

// A zero timeout on cached data completes with the data.
func TestTryFirstZeroTimeoutCached(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fd := tempFile(t, "cached", unix.O_RDONLY)
		a := e.NewAio(nil)
		defer a.Free()
		buf := make([]byte, 16)
		a.SetIOV(buf)
		a.SetTimeout(0)
		a.ReadAt(fd, 0)
		a.Wait()
		if a.Result() != nil || string(buf[:a.Count()]) != "cached" {
			t.Errorf("zero-timeout ReadAt of cached data: %v, %q", a.Result(), buf[:a.Count()])
		}
	})
}

// A chain of reads restarted from the callback stays on the callback's
// goroutine: never on the starter, every callback exactly once, and each
// after the previous one has returned, also past the follow-ups a reaper
// runs in a row before it hands the next one off.
func TestTryFirstCallbackChain(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fd := tempFile(t, strings.Repeat("c", 8192), unix.O_RDONLY)
		const n = 2000
		buf := make([]byte, 4096)
		if d := runChain(t, e, n, buf, func(a *aio.Aio, left int) { a.ReadAt(fd, int64(left%2)*4096) }); d < n-10 {
			t.Errorf("%d of %d chained cached reads done directly", d, n)
		}
	})
}

// runChain restarts one Aio over buf from its own callback until n
// operations have ended, start(a, left) starting each (left counts down
// from n), and fails t if two callbacks overlap, one runs on the starting
// goroutine, an operation does not fill buf, or the chain stalls. It
// returns how many operations the engine finished without the ring.
func runChain(t *testing.T, e *aio.Engine, n int, buf []byte, start func(a *aio.Aio, left int)) uint64 {
	t.Helper()
	done := make(chan struct{})
	left := n
	starter := goid()
	var bad error
	var inCallback atomic.Bool
	a := e.NewAio(func(a *aio.Aio) {
		if !inCallback.CompareAndSwap(false, true) {
			t.Error("two callbacks of one Aio overlapped")
		}
		defer inCallback.Store(false)
		if goid() == starter && bad == nil {
			bad = errors.New("callback ran on the starting goroutine")
		}
		if err := a.Result(); (err != nil || a.Count() != len(buf)) && bad == nil {
			bad = fmt.Errorf("%v, %d bytes of %d", err, a.Count(), len(buf))
		}
		left--
		if left == 0 {
			close(done)
			return
		}
		start(a, left)
	})
	defer a.Free()
	a.SetIOV(buf)
	before := e.Stats()
	start(a, n)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("chain stalled with %d operations left", left)
	}
	a.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
	return e.Stats().Direct - before.Direct
}

func TestTryFirstAllocs(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fd := tempFile(t, strings.Repeat("a", 4096), unix.O_RDONLY)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV(make([]byte, 4096))
		a.ReadAt(fd, 0)
		a.Wait()
		allocs := testing.AllocsPerRun(200, func() {
			a.ReadAt(fd, 0)
			a.Wait()
		})
		if allocs != 0 {
			t.Errorf("%.1f allocations per cached ReadAt+Wait, want 0", allocs)
		}
	})
}

// openDirect opens path read-only with O_DIRECT, or skips the test where
// the file system refuses it, and returns a page-aligned 4 KiB buffer for
// it; both are released when the test ends.
func openDirect(t *testing.T, path string) (int, []byte) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("O_DIRECT refused here: %v", err)
	}
	own(t, fd)
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(buf) })
	return fd, buf
}

// O_DIRECT reads are never tried: RWF_NOWAIT would not make them return
// early, it would wait for the device on the starting goroutine.
func TestTryFirstSkipsDirectIO(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		path := t.TempDir() + "/direct"
		if err := os.WriteFile(path, bytes.Repeat([]byte("d"), 64<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		fd, buf := openDirect(t, path)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV(buf)
		for i := 0; i < 20; i++ {
			a.ReadAt(fd, int64(i%16)*4096)
			a.Wait()
			if err := a.Result(); err != nil || a.Count() != 4096 || buf[0] != 'd' {
				if errors.Is(err, syscall.EINVAL) && i == 0 {
					t.Skipf("O_DIRECT read refused by this file system: %v", err)
				}
				t.Fatalf("O_DIRECT read %d: %v, %d bytes", i, err, a.Count())
			}
		}
		if d := e.Stats().Direct; d != 0 {
			t.Errorf("%d O_DIRECT reads tried on the starter, want 0", d)
		}
	})
}

// A read that waits for a device leaves a callback that starts it at once
// (decision 44), where other starts from a callback wait for the round's
// batch to end: the submission counter moves inside the callback for an
// O_DIRECT read and for a read whose try missed, and does not for a read
// on an engine that never tries (RingOnly: the ring serves it from the
// cache, batched as before).
func TestDeviceReadsLeaveTheCallbackAtOnce(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("e"), 64<<10)
	if err := os.WriteFile(dir+"/f", content, 0o600); err != nil {
		t.Fatal(err)
	}
	// submittedWhileInCallback starts read(b) from a callback and returns
	// how many SQEs the engine handed the kernel between that start and
	// the callback's return, and b's result.
	submittedWhileInCallback := func(t *testing.T, e *aio.Engine, buf []byte, read func(b *aio.Aio)) (uint64, error) {
		t.Helper()
		b := e.NewAio(nil)
		defer b.Free()
		if err := b.SetIOV(buf); err != nil {
			t.Fatal(err)
		}
		moved := make(chan uint64, 1)
		a := e.NewAio(func(*aio.Aio) {
			before := e.Stats().Submitted
			read(b)
			moved <- e.Stats().Submitted - before
		})
		defer a.Free()
		a.Nop()
		n := <-moved
		b.Wait()
		if b.Result() == nil && b.Count() != len(buf) {
			t.Fatalf("read %d bytes, want %d", b.Count(), len(buf))
		}
		return n, b.Result()
	}

	t.Run("direct", func(t *testing.T) {
		e := ringEngine(t, aio.Config{})
		fd, buf := openDirect(t, dir+"/f")
		n, err := submittedWhileInCallback(t, e, buf, func(b *aio.Aio) { b.ReadAt(fd, 8192) })
		if errors.Is(err, syscall.EINVAL) {
			t.Skipf("O_DIRECT read refused by this file system: %v", err)
		}
		if err != nil || n == 0 {
			t.Errorf("O_DIRECT ReadAt from a callback: %d SQEs submitted before the callback returned (want 1 or more), result %v", n, err)
		}
	})
	t.Run("direct, deep device queue", func(t *testing.T) {
		// Beside more reads waiting for the device than the ring lets
		// go one by one (decision 83), a read started from a callback
		// goes with the round's batch, and still completes.
		e := ringEngine(t, aio.Config{})
		aio.DeviceBacklog(e, 100)
		defer aio.DeviceBacklog(e, -100)
		fd, buf := openDirect(t, dir+"/f")
		n, err := submittedWhileInCallback(t, e, buf, func(b *aio.Aio) { b.ReadAt(fd, 8192) })
		if errors.Is(err, syscall.EINVAL) {
			t.Skipf("O_DIRECT read refused by this file system: %v", err)
		}
		if err != nil || n != 0 {
			t.Errorf("O_DIRECT ReadAt from a callback beside 100 device reads: %d SQEs submitted before the callback returned (want 0: the round's batch takes it), result %v", n, err)
		}
		if !bytes.Equal(buf, content[:4096]) {
			t.Error("O_DIRECT ReadAt read the wrong bytes")
		}
	})
	t.Run("miss", func(t *testing.T) {
		e := ringEngine(t, aio.Config{})
		fd, err := unix.Open(dir+"/f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		own(t, fd)
		buf := make([]byte, 4096)
		// RWF_NOWAIT starts the readahead of a page it does not find,
		// and a fast disk may finish it inside the call: then the try
		// did find the data (Stats.Direct counts it) and the read is
		// not a miss. Drop the page again and retry.
		var n uint64
		for try := 0; ; try++ {
			if try == 20 {
				t.Skip("every try found the page: this disk finishes the readahead inside preadv2(RWF_NOWAIT)")
			}
			dropCache(t, fd)
			d0 := e.Stats().Direct
			n, err = submittedWhileInCallback(t, e, buf, func(b *aio.Aio) { b.ReadAt(fd, 0) })
			if e.Stats().Direct == d0 {
				break
			}
		}
		if err != nil || n == 0 {
			t.Errorf("uncached ReadAt from a callback: %d SQEs submitted before the callback returned (want 1 or more), result %v", n, err)
		}
		if !bytes.Equal(buf, content[:4096]) {
			t.Error("uncached ReadAt read the wrong bytes")
		}
	})
	t.Run("ring-only cached", func(t *testing.T) {
		e := ringEngine(t, aio.Config{RingOnly: true})
		fd, err := unix.Open(dir+"/f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		own(t, fd)
		buf := make([]byte, 4096)
		n, err := submittedWhileInCallback(t, e, buf, func(b *aio.Aio) { b.ReadAt(fd, 0) })
		if err != nil || n != 0 {
			t.Errorf("ReadAt from a callback on a RingOnly engine: %d SQEs submitted before the callback returned (want 0: the round submits it), result %v", n, err)
		}
	})
}

// Every read submitted as waiting for a device is counted out again when
// it ends, however it ends: with its data, cancelled, timed out, from a
// goroutine waiting for it or from a callback chain. The count decides
// whether a start from a callback waits for its round's batch (decision
// 83); one that only grew would end every device read's own submission
// for good.
func TestDeviceCountReturnsToZero(t *testing.T) {
	e := ringEngine(t, aio.Config{})
	path := t.TempDir() + "/f"
	const pages = 256
	if err := os.WriteFile(path, bytes.Repeat([]byte("c"), pages*4096), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, _ := openDirect(t, path)
	const n = 64
	mem, err := unix.Mmap(-1, 0, n*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	buf := func(i int) []byte { return mem[i*4096 : (i+1)*4096 : (i+1)*4096] }

	// Waited for, one at a time and many at once.
	aios := make([]*aio.Aio, n)
	for i := range aios {
		aios[i] = e.NewAio(nil)
		aios[i].SetIOV(buf(i))
	}
	for round := 0; round < 4; round++ {
		for i, a := range aios {
			a.ReadAt(fd, int64((i*7+round)%pages)*4096)
		}
		for _, a := range aios {
			a.Wait()
			if err := a.Result(); err != nil {
				if errors.Is(err, syscall.EINVAL) {
					t.Skipf("O_DIRECT read refused by this file system: %v", err)
				}
				t.Fatal(err)
			}
		}
	}
	// Cancelled at once, and with a timeout too short for the device.
	for i, a := range aios {
		if i%2 == 0 {
			a.SetTimeout(time.Microsecond)
		}
		a.ReadAt(fd, int64(i%pages)*4096)
		if i%2 == 1 {
			a.Cancel()
		}
	}
	for _, a := range aios {
		a.Wait()
		if err := a.Result(); err != nil && !errors.Is(err, aio.ErrCanceled) && !errors.Is(err, aio.ErrTimedOut) {
			t.Fatalf("a cancelled or timed read: %v", err)
		}
		a.SetTimeout(aio.Infinite)
	}
	for _, a := range aios {
		a.Free()
	}
	// Callback chains, whose reads start from the reapers' rounds.
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		left := 8
		wg.Add(1)
		a := e.NewAio(func(a *aio.Aio) {
			left--
			if a.Result() != nil || left == 0 {
				if err := a.Result(); err != nil {
					t.Errorf("chained read: %v", err)
				}
				wg.Done()
				return
			}
			a.ReadAt(fd, int64((i+left)%pages)*4096)
		})
		a.SetIOV(buf(i))
		a.ReadAt(fd, int64(i%pages)*4096)
		defer a.Free()
	}
	wg.Wait()
	if w := aio.DeviceWaiting(e); w != 0 {
		t.Errorf("%d reads still counted as waiting for the device after every one ended, want 0", w)
	}
}

// A read at an offset of a pipe is refused by its try (ESPIPE: the ring
// and the portable backend ignore the offset of a stream and read it), and
// after a few such refusals an Aio skips the try. A skipped read must still
// go the stream's way, waiting for readiness where a cancel ends it, never
// to a portable file worker's blocking read, which nothing could end but
// data.
func TestTryFirstPipeAtOffsetStaysCancellable(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		r, w, closeR, closeW := pipe(t)
		defer closeR()
		defer closeW()
		a := e.NewAio(nil)
		defer a.Free()
		buf := make([]byte, 16)
		a.SetIOV(buf)
		for i := 0; i < 8; i++ { // past the tries' miss limit
			write(t, w, "x")
			a.ReadAt(r, 0)
			a.Wait()
			if a.Result() != nil || a.Count() != 1 || buf[0] != 'x' {
				t.Fatalf("ReadAt %d of a pipe with a byte in it: %v, %d bytes", i, a.Result(), a.Count())
			}
		}
		a.ReadAt(r, 0) // nothing to read: it waits
		time.Sleep(20 * time.Millisecond)
		a.Cancel()
		ended := make(chan struct{})
		go func() { a.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			write(t, w, "unblock")
			<-ended
			t.Fatal("a cancelled ReadAt of an empty pipe did not end: it blocked where a cancel cannot reach")
		}
		if !errors.Is(a.Result(), aio.ErrCanceled) {
			t.Errorf("cancelled ReadAt of an empty pipe: %v, want ErrCanceled", a.Result())
		}
	})
}
