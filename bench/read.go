package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
)

// implAioFixed is aioring with its buffers from Engine.FixedBuffer and
// the file registered (Engine.RegisterFD): READ_FIXED on a fixed file
// (read-direct, io_uring only).
const implAioFixed = "aioring-fixed"

// blocksFile opens the test file: with O_DIRECT when s asks for it; for
// write-cached, for writing and synced first, so that every
// implementation's run starts from the same cached file with nothing
// dirty (fioBlocks syncs it too).
func blocksFile(s *spec) (*os.File, error) {
	if s.Scenario == scenWriteCached {
		if err := syncFile(s.File); err != nil {
			return nil, err
		}
		return os.OpenFile(s.File, os.O_RDWR, 0)
	}
	flag := os.O_RDONLY
	if s.Direct {
		flag |= syscall.O_DIRECT
	}
	return os.OpenFile(s.File, flag, 0)
}

// syncFile makes the data of the file at path durable.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// blocksAio keeps s.Depth reads (write-cached: writes) of 4 KiB in flight:
// s.Depth aios, each with its own aligned buffer, each restarting ReadAt
// (WriteAt) at a random aligned offset from its callback. implAioFixed
// takes the buffers from one Engine.FixedBuffer and registers the file
// (Engine.RegisterFD), so every read is a READ_FIXED on a fixed file;
// nothing else changes.
func blocksAio(s *spec) (*result, error) {
	write := s.Scenario == scenWriteCached
	what := "read"
	if write {
		what = "write"
	}
	f, err := blocksFile(s)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fd := int(f.Fd())
	blocks := uint64(s.FileSize / blockSize)
	e, err := aio.NewEngine(engineConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	var bufs [][]byte
	if s.Impl == implAioFixed {
		if bufs, err = fixedBuffers(e, s.Depth, blockSize); err != nil {
			return nil, err
		}
		if err := e.RegisterFD(fd); err != nil {
			return nil, err
		}
		defer e.UnregisterFD(fd)
	} else if bufs, err = alignedBuffers(s.Depth, blockSize); err != nil {
		return nil, err
	}
	type worker struct {
		tally
		a     *aio.Aio
		rnd   rng
		start time.Time
	}
	var (
		ph phase
		wg sync.WaitGroup
	)
	ws := make([]*worker, s.Depth)
	for i := range ws {
		w := &worker{rnd: newRNG(uint64(i) + 1)}
		ws[i] = w
		w.a = e.NewAio(func(a *aio.Aio) {
			now := time.Now()
			if err := a.Result(); err != nil || a.Count() != blockSize {
				w.err = fmt.Errorf("%s: %v (%d bytes)", what, err, a.Count())
				wg.Done()
				return
			}
			switch ph.Load() {
			case phaseMeasure:
				w.count(&ph, now.Sub(w.start))
			case phaseStop:
				wg.Done()
				return
			}
			w.start = now
			if write {
				a.WriteAt(fd, int64(w.rnd.below(blocks))*blockSize)
			} else {
				a.ReadAt(fd, int64(w.rnd.below(blocks))*blockSize)
			}
		})
		if err := w.a.SetIOV(bufs[i]); err != nil {
			return nil, err
		}
	}
	ls := watchLoop(e)
	ts := startThreadSampler()
	wg.Add(len(ws))
	for _, w := range ws {
		w.start = time.Now()
		if write {
			w.a.WriteAt(fd, int64(w.rnd.below(blocks))*blockSize)
		} else {
			w.a.ReadAt(fd, int64(w.rnd.below(blocks))*blockSize)
		}
	}
	sp, _ := window(&ph, s.Warmup, s.Window, 0)
	wg.Wait()
	r := &result{Threads: ts.finish(), Loop: ls.done()}
	tallies := make([]*tally, len(ws))
	for i, w := range ws {
		tallies[i] = &w.tally
		w.a.Free()
	}
	if err := r.sum(tallies, true, blockSize, sp.wall, sp.cpu); err != nil {
		return nil, err
	}
	r.setCounts(sp.self, nil)
	return r, nil
}

// blocksStd is the standard library's way: s.Depth goroutines, each
// calling (*os.File).ReadAt (WriteAt) in a loop. A regular file has no
// poller, so each blocked call holds an OS thread.
func blocksStd(s *spec) (*result, error) {
	write := s.Scenario == scenWriteCached
	f, err := blocksFile(s)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	blocks := uint64(s.FileSize / blockSize)
	bufs, err := alignedBuffers(s.Depth, blockSize)
	if err != nil {
		return nil, err
	}
	return closedLoop(s, s.Depth, func(i int) func() (time.Duration, error) {
		buf, rnd := bufs[i], newRNG(uint64(i)+1)
		return func() (time.Duration, error) {
			t0 := time.Now()
			off := int64(rnd.below(blocks)) * blockSize
			if write {
				n, err := f.WriteAt(buf, off)
				if err != nil || n != blockSize {
					return 0, fmt.Errorf("write: %v (%d bytes)", err, n)
				}
				return time.Since(t0), nil
			}
			n, err := f.ReadAt(buf, off)
			if err != nil || n != blockSize {
				return 0, fmt.Errorf("read: %v (%d bytes)", err, n)
			}
			return time.Since(t0), nil
		}
	}, blockSize)
}

// fixedBuffers cuts n buffers of size bytes out of one registered buffer
// of e (page-aligned, so each suits O_DIRECT when size is a multiple of
// the page size); Close frees it.
func fixedBuffers(e *aio.Engine, n, size int) ([][]byte, error) {
	mem, err := e.FixedBuffer(n * size)
	if err != nil {
		return nil, fmt.Errorf("FixedBuffer: %w", err)
	}
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return bufs, nil
}
