//go:build linux

package aio

// Benchmarks behind the performance targets of the engine issue. Run:
//
//	go test -run '^$' -bench . -benchmem ./aio/
//
// The Ring* benchmarks are the raw ring package doing the same work on one
// locked goroutine: the upper bound for Go on this machine. Compare ratios
// within one run.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/internal/gtoken"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

func benchEngine(b *testing.B) *Engine {
	b.Helper()
	e, err := NewEngine(Config{})
	if err != nil {
		b.Skipf("no engine: %v", err)
	}
	return e
}

// benchSocketpair returns a connected AF_UNIX stream pair, closed when the
// benchmark ends.
func benchSocketpair(b *testing.B) [2]int {
	b.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds
}

// benchCachedFile returns a 1 MiB file, in the page cache once written,
// open for reading and writing, closed when the benchmark ends.
func benchCachedFile(b *testing.B) *os.File {
	b.Helper()
	path := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkNopConcurrent: 256 aios, each restarting Nop from its callback.
func BenchmarkNopConcurrent(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	const depth = 256
	var left atomic.Int64
	left.Store(int64(b.N))
	var done sync.WaitGroup
	cb := func(a *Aio) {
		if left.Add(-1) >= depth {
			a.Nop()
			return
		}
		done.Done()
	}
	aios := make([]*Aio, depth)
	for i := range aios {
		aios[i] = e.NewAio(cb)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := min(depth, b.N)
	done.Add(n)
	// The first depth completions do not restart; account for them so
	// exactly b.N ops run in total.
	left.Add(int64(depth - n))
	for _, a := range aios[:n] {
		a.Nop()
	}
	done.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	st := e.Stats()
	b.ReportMetric(float64(st.Enters)/float64(b.N), "enters/op")
	b.ReportMetric(float64(st.Sleeps)*1e6/float64(b.N), "sleeps/Mop")
}

// BenchmarkNopPairs: 128 pairs of Aios, each one's callback starting the
// other's Nop, as a connection's receive and send Aios start each other:
// starts of another Aio from a callback, which the round must recognise as
// its own to submit them with its batch (decision 47).
func BenchmarkNopPairs(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	const pairs = 128
	var left atomic.Int64
	left.Store(int64(b.N))
	var done sync.WaitGroup
	aios := make([]*Aio, 2*pairs)
	for i := range aios {
		other := i ^ 1
		aios[i] = e.NewAio(func(*Aio) {
			if left.Add(-1) >= pairs {
				aios[other].Nop()
				return
			}
			done.Done()
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := min(pairs, b.N)
	done.Add(n)
	left.Add(int64(pairs - n)) // as in NopConcurrent: exactly b.N ops
	for i := range n {
		aios[2*i].Nop()
	}
	done.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	st := e.Stats()
	b.ReportMetric(float64(st.Enters)/float64(b.N), "enters/op")
}

// BenchmarkRingNopBatch: the raw ring, batches of 32 NOPs per enter.
func BenchmarkRingNopBatch(b *testing.B) {
	benchRawRing(b, 32)
}

// BenchmarkNopSingle: one Aio, Nop then Wait, one at a time.
func BenchmarkNopSingle(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	a := e.NewAio(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Nop()
		a.Wait()
	}
}

// BenchmarkRingNopSingle: the raw ring, one NOP submitted and waited for at
// a time.
func BenchmarkRingNopSingle(b *testing.B) {
	benchRawRing(b, 1)
}

func benchRawRing(b *testing.B, batch int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := ring.New(ring.Options{Entries: 256, Flags: ring.SetupSingleIssuer | ring.SetupDeferTaskrun |
		ring.SetupCoopTaskrun | ring.SetupTaskrunFlag | ring.SetupSubmitAll | ring.SetupNoSQArray})
	if err != nil {
		b.Skip(err)
	}
	defer r.Close()
	cqes := make([]ring.CQE, 256)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		for i := 0; i < n; i++ {
			s := r.GetSQE()
			s.Nop()
			s.UserData = uint64(sqe.Pack(1, uint32(i), 0))
		}
		if _, err := r.SubmitAndWait(uint32(n)); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; {
			got += r.PeekCQEs(cqes)
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkReadAt: 4 KiB cached reads on a reused Aio.
func BenchmarkReadAt(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	f := benchCachedFile(b)
	a := e.NewAio(nil)
	buf := make([]byte, 4096)
	a.SetIOV(buf)
	fd := int(f.Fd())
	b.ReportAllocs()
	b.SetBytes(4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.ReadAt(fd, int64(i%256)*4096)
		a.Wait()
		if a.Result() != nil || a.Count() != 4096 {
			b.Fatal(a.Result(), a.Count())
		}
	}
}

// BenchmarkWriteAt: 4 KiB writes at an offset into a cached file on a
// reused Aio: made on the starter (decision 68; where the file system
// refuses RWF_NOWAIT, as ext4 does, a plain pwritev2), through the ring
// (Config.RingOnly: on ext4 an io-wq worker's), and os.File.WriteAt for
// comparison.
func BenchmarkWriteAt(b *testing.B) {
	buf := make([]byte, 4096)
	benchRingOrNot(b, "tried", func(b *testing.B, e *Engine, a *Aio, fd int) {
		a.SetIOV(buf)
		b.SetBytes(4096)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a.WriteAt(fd, int64(i%256)*4096)
			a.Wait()
			if a.Result() != nil || a.Count() != 4096 {
				b.Fatal(a.Result(), a.Count())
			}
		}
	})
	b.Run("os.File", func(b *testing.B) {
		f := benchCachedFile(b)
		b.ReportAllocs()
		b.SetBytes(4096)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.WriteAt(buf, int64(i%256)*4096); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchRingOrNot runs body as two sub-benchmarks, on an engine with the
// default paths (named def) and on one with Config.RingOnly ("ring"),
// each with a reused Aio and a cached file's descriptor.
func benchRingOrNot(b *testing.B, def string, body func(b *testing.B, e *Engine, a *Aio, fd int)) {
	for _, c := range []struct {
		name     string
		ringOnly bool
	}{{def, false}, {"ring", true}} {
		b.Run(c.name, func(b *testing.B) {
			e, err := NewEngine(Config{RingOnly: c.ringOnly})
			if err != nil {
				b.Skipf("no engine: %v", err)
			}
			defer e.Close()
			f := benchCachedFile(b)
			b.ReportAllocs()
			body(b, e, e.NewAio(nil), int(f.Fd()))
		})
	}
}

// BenchmarkFdatasync: a 4 KiB page written with pwrite, then made durable
// with Fdatasync and Wait, on a reused Aio: on a sync worker of the
// engine (decision 84), through the ring (Config.RingOnly: an io-wq
// worker's), and os.File.Sync (fsync, the standard library's only sync)
// after os.File.WriteAt, for comparison. Each op waits for the disk's
// flush, so the figure is the host's as much as the engine's.
func BenchmarkFdatasync(b *testing.B) {
	page := make([]byte, 4096)
	benchRingOrNot(b, "worker", func(b *testing.B, e *Engine, a *Aio, fd int) {
		before := e.Stats()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := unix.Pwrite(fd, page, int64(i%256)*4096); err != nil {
				b.Fatal(err)
			}
			a.Fdatasync(fd)
			a.Wait()
			if a.Result() != nil {
				b.Fatal(a.Result())
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(e.Stats().Direct-before.Direct)/float64(b.N), "direct/op")
	})
	b.Run("os.File", func(b *testing.B) {
		f := benchCachedFile(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.WriteAt(page, int64(i%256)*4096); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSendRecv: 64-byte Send then Recv over a socketpair, each on its
// own reused Aio.
func BenchmarkSendRecv(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	fds := benchSocketpair(b)
	s, r := e.NewAio(nil), e.NewAio(nil)
	out, in := make([]byte, 64), make([]byte, 64)
	s.SetIOV(out)
	r.SetIOV(in)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Send(fds[0])
		r.Recv(fds[1])
		s.Wait()
		r.Wait()
		if r.Result() != nil || r.Count() != 64 {
			b.Fatal(r.Result(), r.Count())
		}
	}
}

// BenchmarkSleep: a 1 µs Sleep and Wait: the runtime timer path (the
// runtime's timer resolution, not the engine, sets the figure).
func BenchmarkSleep(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	a := e.NewAio(nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a.Sleep(time.Microsecond)
		a.Wait()
	}
}

// BenchmarkSleepCallbacks: n Aios, each restarting a 1 µs Sleep from its
// callback, which runs on its runtime timer's goroutine (timercb.go):
// what a timer costs with the machine kept busy, for each way such a
// callback is named: by goroutine token where there is one, or by the
// digit chain, whose frames, with many Aios (long slot numbers) and a
// callback that starts an operation, outgrow a fresh goroutine's stack
// on every fire (decision 64).
func BenchmarkSleepCallbacks(b *testing.B) {
	modes := []bool{false}
	if gtoken.Available {
		modes = append(modes, true)
	}
	for _, n := range []int{1024, 100000} {
		for _, tokens := range modes {
			name := fmt.Sprintf("aios=%d/%s", n, map[bool]string{false: "chain", true: "token"}[tokens])
			b.Run(name, func(b *testing.B) { benchSleepCallbacks(b, n, tokens) })
		}
	}
}

func benchSleepCallbacks(b *testing.B, n int, tokens bool) {
	defer SetTimerTokens(tokens)()
	e := benchEngine(b)
	defer e.Close()
	var left atomic.Int64
	left.Store(int64(b.N))
	var done sync.WaitGroup
	done.Add(n)
	aios := make([]*Aio, n)
	for i := range aios {
		aios[i] = e.NewAio(func(a *Aio) {
			if left.Add(-1) < 0 || a.Result() != nil {
				done.Done()
				return
			}
			a.Sleep(time.Microsecond)
		})
	}
	b.ResetTimer()
	for _, a := range aios {
		a.Sleep(time.Microsecond)
	}
	done.Wait()
	b.StopTimer()
	for _, a := range aios {
		a.Wait()
		a.Free()
	}
}

// BenchmarkReadChain: one Aio restarting a 4 KiB cached read from its own
// callback, on one ring with one and with two callback goroutines. With
// two, the second stands by off the netpoller (docs/design.md, "the
// seat"); before that change it parked on the ring too and the two-reaper
// case was 1.6 times slower.
func BenchmarkReadChain(b *testing.B) {
	for _, cbs := range []int{1, 2} {
		b.Run(map[int]string{1: "callbacks=1", 2: "callbacks=2"}[cbs], func(b *testing.B) {
			e, err := NewEngine(Config{Callbacks: cbs, Rings: 1})
			if err != nil {
				b.Skipf("no engine: %v", err)
			}
			defer e.Close()
			f := benchCachedFile(b)
			fd := int(f.Fd())
			var done sync.WaitGroup
			left := b.N
			done.Add(1)
			a := e.NewAio(func(a *Aio) {
				left--
				if left <= 0 || a.Result() != nil {
					done.Done()
					return
				}
				a.ReadAt(fd, int64(left%256)*4096)
			})
			a.SetIOV(make([]byte, 4096))
			b.ResetTimer()
			a.ReadAt(fd, 0)
			done.Wait()
			b.StopTimer()
			if a.Result() != nil {
				b.Fatal(a.Result())
			}
		})
	}
}

// BenchmarkRecvTimeout: a Recv with a 10 s timeout (a LINK_TIMEOUT) that
// data ends before the timer: the cost a timeout adds in the common case.
// Compare with BenchmarkRecvPending.
func BenchmarkRecvTimeout(b *testing.B) { benchRecvPending(b, 10*time.Second) }

// BenchmarkRecvShortTimeout: the same with a 50 ms timeout, below
// lazyTimeoutMin: a LINK_TIMEOUT, whose deadline a ring engine makes
// absolute at the start (one clock read; decision 78).
func BenchmarkRecvShortTimeout(b *testing.B) { benchRecvPending(b, 50*time.Millisecond) }

// BenchmarkRecvPending: a Recv that waits for data, then the Send that
// brings it, with no timeout.
func BenchmarkRecvPending(b *testing.B) { benchRecvPending(b, Infinite) }

func benchRecvPending(b *testing.B, timeout time.Duration) {
	e := benchEngine(b)
	defer e.Close()
	fds := benchSocketpair(b)
	s, r := e.NewAio(nil), e.NewAio(nil)
	s.SetTimeout(timeout)
	r.SetTimeout(timeout)
	s.SetIOV(make([]byte, 64))
	r.SetIOV(make([]byte, 64))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Recv(fds[1]) // no data yet: it waits in the kernel
		s.Send(fds[0])
		s.Wait()
		r.Wait()
		if r.Result() != nil || r.Count() != 64 {
			b.Fatal(r.Result(), r.Count())
		}
	}
}

// BenchmarkRecvTimeoutFires: a Recv on a silent socket with a 100 µs
// timeout; late-us/op is how long after the deadline Wait returned.
func BenchmarkRecvTimeoutFires(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	fds := benchSocketpair(b)
	r := e.NewAio(nil)
	const d = 100 * time.Microsecond
	r.SetTimeout(d)
	r.SetIOV(make([]byte, 64))
	var late time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r.Recv(fds[1])
		r.Wait()
		late += time.Since(t0) - d
		if r.Result() != ErrTimedOut {
			b.Fatal(r.Result())
		}
	}
	b.ReportMetric(float64(late.Microseconds())/float64(b.N), "late-us/op")
}

// BenchmarkStatxPath: a callback chain of Statx of one cached path, which
// the engine makes on its starter while lookups stay cached (decision 28).
func BenchmarkStatxPath(b *testing.B) {
	e := benchEngine(b)
	defer e.Close()
	path := benchCachedFile(b).Name()
	var (
		st   unix.Statx_t
		n    int
		done = make(chan error, 1)
	)
	a := e.NewAio(func(a *Aio) {
		if err := a.Result(); err != nil {
			done <- err
			return
		}
		if n++; n >= b.N {
			done <- nil
			return
		}
		a.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	})
	defer a.Free()
	b.ReportAllocs()
	b.ResetTimer()
	a.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCloseFD: a socket closed by an Aio's CloseFD (and its peer by
// close(2)), on an engine that has (waits=on) or has not started a socket
// transfer: the first makes CloseFD cancel the descriptor's requests in
// the ring first (fdcancel.go), an ASYNC_CANCEL seen into the kernel.
// pending: Recvs of other sockets waiting in the ring meanwhile, which
// the kernel's search for the descriptor's requests passes over.
func BenchmarkCloseFD(b *testing.B) {
	for _, pending := range []int{0, 256} {
		for _, waits := range []bool{false, true} {
			name := fmt.Sprintf("pending=%d/waits=off", pending)
			if waits {
				name = fmt.Sprintf("pending=%d/waits=on", pending)
			}
			b.Run(name, func(b *testing.B) {
				e := benchEngine(b)
				defer e.Close()
				var others []*Aio
				for range pending {
					p := benchSocketpair(b)
					o := e.NewAio(func(*Aio) {})
					o.SetTimeout(Infinite)
					o.SetIOV(make([]byte, 16))
					o.Recv(p[0])
					others = append(others, o)
				}
				e.ringWaits.Store(waits)
				a := e.NewAio(nil)
				defer a.Free()
				a.SetTimeout(Infinite)
				b.ResetTimer()
				for range b.N {
					fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						b.Fatal(err)
					}
					a.CloseFD(fds[0])
					a.Wait()
					if err := a.Result(); err != nil {
						b.Fatal(err)
					}
					unix.Close(fds[1])
				}
				b.StopTimer()
				for _, o := range others {
					o.Free()
				}
			})
		}
	}
}
