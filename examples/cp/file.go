//go:build linux

package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// copyFile copies the regular file src to dst through a temporary file in
// dst's directory, renamed over dst only once complete and fsynced.
func (c *copier) copyFile(src, dst string, perm os.FileMode) (err error) {
	srcDirect := c.o.direct
	in, err := c.openDirect(src, unix.O_RDONLY, 0, &srcDirect)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	defer unix.Close(in)
	var st unix.Stat_t
	if err := unix.Fstat(in, &st); err != nil {
		return &os.PathError{Op: "stat", Path: src, Err: err}
	}

	dir := filepath.Dir(dst)
	tmp := filepath.Join(dir, "."+filepath.Base(dst)+".cp-"+randomSuffix())
	dstDirect := c.o.direct
	out := -1
	err = c.temps.create(tmp, func() (err error) {
		out, err = c.openDirect(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600, &dstDirect)
		return err
	})
	if err != nil {
		return &os.PathError{Op: "create", Path: tmp, Err: err}
	}
	defer func() {
		if out >= 0 {
			unix.Close(out)
		}
		if err != nil {
			c.temps.remove(tmp) // nothing half-written stays behind
		}
	}()

	// Reserve the destination's blocks up front: the file system can lay
	// them out in one piece, and a full disk fails here, before any data
	// is copied. A file system without fallocate (EOPNOTSUPP) just goes on.
	if st.Size > 0 {
		if err := c.run(func(a *aio.Aio) { a.Fallocate(out, 0, 0, st.Size) }); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
			return &os.PathError{Op: "fallocate", Path: tmp, Err: err}
		}
	}
	b := &blockCopy{c: c, in: in, out: out, size: st.Size, bs: c.o.bs,
		srcDirect: srcDirect, dstDirect: dstDirect, done: make(chan struct{})}
	if err := b.run(); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := c.checkEnd(in, st.Size, srcDirect); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if dstDirect {
		// The last block was written padded to the alignment.
		if err := unix.Ftruncate(out, st.Size); err != nil {
			return &os.PathError{Op: "truncate", Path: tmp, Err: err}
		}
	}
	if err := unix.Fchmod(out, uint32(perm)); err != nil {
		return &os.PathError{Op: "chmod", Path: tmp, Err: err}
	}
	// Fdatasync: the data, and the metadata reading it back needs (the
	// size); the rename and the directory's fsync then publish it.
	if err := c.run(func(a *aio.Aio) { a.Fdatasync(out) }); err != nil {
		return &os.PathError{Op: "fdatasync", Path: tmp, Err: err}
	}
	err = unix.Close(out)
	out = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: tmp, Err: err}
	}
	if err := c.temps.rename(tmp, dst); err != nil {
		return err
	}
	return c.syncDir(dir)
}

// checkEnd makes sure the source ends at size, as the blocks copied
// assumed: a file that grew during the copy, or whose size says less than
// it holds (/proc's say 0), fails the copy instead of being cut short.
func (c *copier) checkEnd(in int, size int64, direct bool) error {
	off := size
	if direct {
		off = size &^ (directAlign - 1) // O_DIRECT reads at aligned offsets
	}
	buf := alignedBuf(directAlign)
	n := 0
	err := c.run(func(a *aio.Aio) {
		a.SetIOV(buf)
		a.ReadAt(in, off)
		a.Wait()
		n = a.Count()
	})
	if err != nil {
		return err
	}
	if int64(n) > size-off {
		return errGrew
	}
	return nil
}

// openDirect opens name through the engine (OpenAt: close-on-exec), with
// O_DIRECT when *direct is set; a file system that refuses O_DIRECT
// (EINVAL) gets a plain open and *direct is cleared.
func (c *copier) openDirect(name string, flags int, perm uint32, direct *bool) (int, error) {
	if *direct {
		fd, err := c.openAt(name, flags|unix.O_DIRECT, perm)
		if !errors.Is(err, unix.EINVAL) {
			return fd, err
		}
		*direct = false
	}
	return c.openAt(name, flags, perm)
}

// openAt runs one engine OpenAt and returns the new descriptor.
func (c *copier) openAt(name string, flags int, perm uint32) (int, error) {
	fd := -1
	err := c.run(func(a *aio.Aio) {
		a.OpenAt(unix.AT_FDCWD, name, flags, perm)
		a.Wait()
		fd = a.FD()
	})
	return fd, err
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// blockCopy copies one file with c.o.inflight Aios, each a chain of
// callbacks over the blocks it claims.
type blockCopy struct {
	c                    *copier
	in, out              int
	size                 int64
	bs                   int
	srcDirect, dstDirect bool

	mu     sync.Mutex
	next   int64 // offset of the next unclaimed block
	err    error // the first failure; no block is claimed after it
	active int   // slots still working
	done   chan struct{}
}

// slot is one Aio and the block it is moving.
type slot struct {
	b       *blockCopy
	a       *aio.Aio
	buf     []byte
	off     int64 // the block's offset
	n       int   // the block's length
	pos     int   // bytes read, then bytes written, of the block
	writing bool
}

func (b *blockCopy) run() error {
	n := b.c.o.inflight
	if blocks := (b.size + int64(b.bs) - 1) / int64(b.bs); blocks < int64(n) {
		n = max(int(blocks), 1)
	}
	slots := make([]*slot, n)
	b.active = n
	for i := range slots {
		s := &slot{b: b, buf: alignedBuf(b.bs)}
		s.a = b.c.e.NewAio(s.step)
		s.a.SetTimeout(aio.Infinite)
		slots[i] = s
	}
	for _, s := range slots {
		s.claim()
	}
	<-b.done
	for _, s := range slots {
		s.a.Free() // waits for the last callback to return
	}
	return b.err
}

// claim takes the next block and starts reading it, or retires the slot.
func (s *slot) claim() {
	b := s.b
	b.mu.Lock()
	if b.err != nil || b.next >= b.size {
		b.active--
		if b.active == 0 {
			close(b.done)
		}
		b.mu.Unlock()
		return
	}
	s.off = b.next
	s.n = int(min(int64(b.bs), b.size-b.next))
	b.next += int64(s.n)
	b.mu.Unlock()
	s.pos, s.writing = 0, false
	s.read()
}

func (s *slot) read() {
	end := s.n
	if s.b.srcDirect {
		end = alignUp(s.n, directAlign) // O_DIRECT reads whole sectors
	}
	s.a.SetIOV(s.buf[s.pos:end])
	s.a.ReadAt(s.b.in, s.off+int64(s.pos))
}

func (s *slot) write() {
	end := s.n
	if s.b.dstDirect {
		end = alignUp(s.n, directAlign)
		clear(s.buf[s.n:end]) // padding, cut off by the final truncate
	}
	s.a.SetIOV(s.buf[s.pos:end])
	s.a.WriteAt(s.b.out, s.off+int64(s.pos))
}

// step is the slot's callback: it moves the block one operation further.
func (s *slot) step(a *aio.Aio) {
	if err := a.Result(); err != nil {
		s.fail(err)
		return
	}
	s.pos += a.Count()
	switch {
	case !s.writing && a.Count() == 0 && s.pos < s.n:
		s.fail(errShrank)
	case !s.writing && s.pos < s.n:
		s.read() // a short read: fetch the rest of the block
	case !s.writing:
		s.writing, s.pos = true, 0
		s.write()
	case a.Count() == 0:
		s.fail(io.ErrShortWrite)
	case s.pos < s.n:
		s.write() // a short write: send the rest
	default:
		s.b.c.bar.add(int64(s.n))
		s.claim()
	}
}

func (s *slot) fail(err error) {
	b := s.b
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	s.claim() // retires the slot, as b.err is set
}
