package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
)

// copyAio copies s.File to s.Dst with s.Depth aios, each reading a chunk of
// s.MsgSize bytes and writing it at the same offset before taking the next
// chunk: a few reads and writes in flight at once.
func copyAio(s *spec) (*result, error) {
	src, err := os.Open(s.File)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := os.OpenFile(s.Dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	dstOpen := true
	defer func() {
		if dstOpen {
			dst.Close()
		}
	}()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	bufs, err := alignedBuffers(s.Depth, s.MsgSize)
	if err != nil {
		return nil, err
	}
	e, err := aio.NewEngine(engineConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close()

	var (
		next atomic.Int64 // the offset of the next chunk to read
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	fail := func(err error) {
		mu.Lock()
		if ferr == nil {
			ferr = err
		}
		mu.Unlock()
	}
	type worker struct {
		buf     []byte
		off     int64 // where the chunk came from and goes to
		n, done int   // bytes in the chunk, bytes of it written
		writing bool
	}
	// step starts the worker's next operation, or returns false when it has
	// nothing left to do.
	step := func(a *aio.Aio, w *worker) bool {
		if w.writing && w.done < w.n {
			a.SetIOV(w.buf[w.done:w.n])
			a.WriteAt(dfd, w.off+int64(w.done))
			return true
		}
		w.writing = false
		w.off = next.Add(int64(len(w.buf))) - int64(len(w.buf))
		if w.off >= size {
			return false
		}
		w.n, w.done = 0, 0
		a.SetIOV(w.buf)
		a.ReadAt(sfd, w.off)
		return true
	}
	ls := watchLoop(e)
	ts := startThreadSampler()
	u0, c0, t0 := selfUsage(), cpuTime(), time.Now()
	aios := make([]*aio.Aio, s.Depth)
	for i := range aios {
		w := &worker{buf: bufs[i]}
		aios[i] = e.NewAio(func(a *aio.Aio) {
			if err := a.Result(); err != nil {
				fail(err)
				wg.Done()
				return
			}
			switch {
			case w.writing:
				w.done += a.Count()
			case a.Count() == 0:
				fail(fmt.Errorf("source ended early at %d", w.off))
				wg.Done()
				return
			default:
				// A short read (the last chunk) writes what it got; the
				// rest of a chunk is never skipped, since reads of a
				// regular file are short only at its end.
				w.n = a.Count()
				w.writing = true
			}
			if !step(a, w) {
				wg.Done()
			}
		})
		wg.Add(1)
		if !step(aios[i], w) {
			wg.Done()
		}
	}
	wg.Wait()
	// The copy ends with the destination closed, as copyStd's does, and
	// a failed close fails it.
	dstOpen = false
	cerr := dst.Close()
	wall, cpu, use := time.Since(t0), cpuTime()-c0, selfUsage().sub(u0)
	for _, a := range aios {
		a.Free()
	}
	if ferr != nil {
		return nil, ferr
	}
	if cerr != nil {
		return nil, cerr
	}
	r := copyResult(size, wall, cpu, ts.finish())
	r.setCountsOver(float64(size)/miB, use, nil)
	r.Loop = ls.done()
	return r, nil
}

// copyStd is io.Copy between two *os.File, which uses copy_file_range; with
// rw set, it is a plain read and write loop through a buffer of s.MsgSize
// bytes, which is what the aioring copy does with a few in flight.
func copyStd(s *spec, rw bool) (*result, error) {
	src, err := os.Open(s.File)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := os.OpenFile(s.Dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	// The clock starts with the files open, as copyAio's does: the
	// opens are not part of the copy either side measures.
	ts := startThreadSampler()
	u0, c0, t0 := selfUsage(), cpuTime(), time.Now()
	var n int64
	if rw {
		// Hiding the files' ReadFrom and WriteTo keeps io.CopyBuffer from
		// taking the copy_file_range path.
		n, err = io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, s.MsgSize))
	} else {
		n, err = io.Copy(dst, src)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	r := copyResult(n, time.Since(t0), cpuTime()-c0, ts.finish())
	r.setCountsOver(float64(n)/miB, selfUsage().sub(u0), nil)
	return r, nil
}

// copyCp runs cp(1) as its own process, measured whole: its system calls
// from its exec to its end, its context switches from its rusage.
func copyCp(ctx context.Context, c *children, s *spec) (*result, error) {
	cmd := exec.CommandContext(ctx, "cp", s.File, s.Dst)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	t0 := time.Now()
	k, err := c.startCountedCmd(cmd, nil)
	if err == nil {
		err = c.wait(cmd)
	}
	wall := time.Since(t0)
	out := bytes.TrimSpace(b.Bytes())
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("cp: %v: %s", err, out)
	}
	ps := cmd.ProcessState
	r := copyResult(s.FileSize, wall, ps.UserTime()+ps.SystemTime(), 1)
	var use usage
	if k != nil {
		use.sys, use.sysOK = k.final, k.finalOK
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		use.csw, use.cswOK = uint64(ru.Nvcsw+ru.Nivcsw), true
	}
	r.setCountsOver(float64(s.FileSize)/miB, use, nil)
	return r, nil
}

func copyResult(size int64, wall, cpu time.Duration, threads int) *result {
	r := &result{Seconds: wall.Seconds(), CPUSeconds: cpu.Seconds(), Threads: threads}
	r.MBPerS = float64(size) / 1e6 / r.Seconds
	r.CPUSPerGiB = r.CPUSeconds / (float64(size) / giB)
	return r
}
