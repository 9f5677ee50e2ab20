package adapt

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/internal/fdhold"
	"golang.org/x/sys/unix"
)

// File is an open file whose reads, writes and syncs are engine operations.
// Like *os.File it is safe for concurrent use: ReadAt and WriteAt calls run
// in parallel, each on an Aio of its own. Close waits for operations in
// flight and then closes the descriptor; later operations fail with an
// error matching os.ErrClosed. Read, Write and Seek of a regular file or a
// directory are serialised, as the kernel serialises read(2), write(2)
// and lseek(2) on one open file (an io_uring read or write at the file
// position does not take that lock). ReadAt and WriteAt of a file that
// has no offsets (a pipe, a socket, a terminal) fail with ESPIPE as
// os.File's do, although the ring's reads and writes would ignore the
// offset there; ReadContext and WriteContext are the cancellable Read and
// Write of such a stream.
type File struct {
	e    *aio.Engine
	fd   int
	name string

	// appendMode: opened by OpenFile with O_APPEND, where WriteAt is
	// refused as os.File refuses it (pwrite would append instead).
	appendMode bool

	// kind is the file's S_IFMT bits once looked up (fileKind), with
	// kindNoOffsets when the file takes no offsets; 0 before.
	kind atomic.Uint32
	// posMu serialises Read, Write and Seek of a regular file or a
	// directory. The kernel does so for read(2), write(2) and lseek(2)
	// (f_pos_lock), but an io_uring read or write at the file position
	// reads the position when it starts and stores it when it ends, so
	// concurrent ones would read the same bytes twice or write over
	// each other. Streams have no position and are left unserialised:
	// a Read waiting on a socket must not hold back a Write.
	posMu sync.Mutex

	// life is the count of operations in flight, with fileClosed set
	// once Close has begun: an operation adds 1 and backs out if the bit
	// is set, and takes its 1 off when it ends (release); the end that
	// leaves the bit alone signals drained, which Close waits on. One
	// atomic add at each end of an operation, where a mutex pair each
	// was (docs/design.md, decision 89).
	life    atomic.Int64
	drained chan struct{} // buffered 1; see life

	// spare is one idle Aio, taken and given back with one atomic
	// instruction each; pool holds the others, under poolMu.
	spare  atomic.Pointer[aio.Aio]
	poolMu sync.Mutex
	pool   []*aio.Aio // idle Aios for the next operations
}

// fileClosed is the bit of File.life that Close sets.
const fileClosed = int64(1) << 62

// kindNoOffsets is the bit of File.kind, above the S_IFMT bits, for a
// file that pread(2) and pwrite(2) refuse with ESPIPE (the kernel's
// FMODE_PREAD and FMODE_PWRITE are clear: pipes, sockets, and character
// devices opened as streams, such as terminals).
const kindNoOffsets = 1 << 30

// maxPooled bounds the Aios a File keeps between operations besides its
// spare; more concurrent operations allocate and free their own.
const maxPooled = 16

// maxChunk bounds one read or write: the kernel transfers at most about
// 2 GiB per call anyway, and the engine takes at most 4 GiB per buffer.
const maxChunk = 1 << 30

// OpenFile opens the named file with flag and perm as os.OpenFile does,
// through the engine (an aio OpenAt: on io_uring an IORING_OP_OPENAT, on
// the portable backend a file worker's openat), and returns a File on
// engine e. The descriptor is close-on-exec. Errors are *os.PathError, so
// errors.Is(err, fs.ErrNotExist) and the like hold as for os.OpenFile.
func OpenFile(e *aio.Engine, name string, flag int, perm os.FileMode) (*File, error) {
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(aio.Infinite)
	a.OpenAt(unix.AT_FDCWD, name, flag, openMode(perm))
	a.Wait()
	if err := a.Result(); err != nil {
		if err == aio.ErrInvalid {
			err = syscall.EINVAL // a NUL in name, as os.OpenFile reports it
		}
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := NewFile(e, a.FD(), name)
	f.appendMode = flag&os.O_APPEND != 0
	return f, nil
}

// Open is OpenFile (its older name).
func Open(e *aio.Engine, name string, flag int, perm os.FileMode) (*File, error) {
	return OpenFile(e, name, flag, perm)
}

// openMode is perm as open(2) takes it: the permission bits and the
// setuid, setgid and sticky bits, as os.OpenFile passes them.
func openMode(perm os.FileMode) uint32 {
	m := uint32(perm.Perm())
	if perm&os.ModeSetuid != 0 {
		m |= unix.S_ISUID
	}
	if perm&os.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if perm&os.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// NewFile returns a File for fd, which it then owns; name is used in
// errors.
func NewFile(e *aio.Engine, fd int, name string) *File {
	return &File{e: e, fd: fd, name: name, drained: make(chan struct{}, 1)}
}

// Name is the name given to Open or NewFile.
func (f *File) Name() string { return f.name }

// Fd is the file descriptor, valid until Close.
func (f *File) Fd() int { return f.fd }

// ReadAt reads len(p) bytes at offset off, looping over short reads as
// os.File does. It returns io.EOF when the file ends first.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// WriteAt writes all of p at offset off, looping over short writes.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	return f.WriteAtContext(context.Background(), p, off)
}

// Read reads from the file position, as os.File.Read: one read, io.EOF at
// end of file. Concurrent Reads share the position, as with os.File.
func (f *File) Read(p []byte) (int, error) {
	return f.ReadContext(context.Background(), p)
}

// ReadContext is Read that gives up when ctx is done: the pending read is
// cancelled and the error matches ctx.Err(), unless the read had bytes to
// report. It is how to read a pipe or a socket with a cancel or deadline.
func (f *File) ReadContext(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, f.check("read")
	}
	if f.sharesPos() {
		f.posMu.Lock()
		defer f.posMu.Unlock()
	}
	n, err := f.op(ctx, "read", func(a *aio.Aio) {
		a.SetIOV(p[:min(len(p), maxChunk)])
		a.ReadAt(f.fd, -1)
	})
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write writes all of p at the file position.
func (f *File) Write(p []byte) (int, error) {
	return f.WriteContext(context.Background(), p)
}

// WriteContext is Write that gives up when ctx is done; the error then
// matches ctx.Err() and the count says how much was written.
func (f *File) WriteContext(ctx context.Context, p []byte) (int, error) {
	if f.sharesPos() {
		f.posMu.Lock()
		defer f.posMu.Unlock()
	}
	return f.writeLoop(ctx, p, -1)
}

// Sync flushes the file's data and metadata to storage (an engine Fsync).
func (f *File) Sync() error { return f.SyncContext(context.Background()) }

// ReadAtContext is ReadAt that gives up when ctx is done: the pending read
// is cancelled and the error matches ctx.Err(). Bytes the kernel already
// read are still returned, with that error.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: f.name, Err: errors.New("negative offset")}
	}
	if len(p) > 0 && f.noOffsets() {
		return 0, f.espipe("read")
	}
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+maxChunk)]
		at := off + int64(done)
		n, err := f.op(ctx, "read", func(a *aio.Aio) {
			a.SetIOV(chunk)
			a.ReadAt(f.fd, at)
		})
		done += n
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.EOF
		}
	}
	return done, f.check("read")
}

// WriteAtContext is WriteAt that gives up when ctx is done; the error then
// matches ctx.Err() and the count says how much was written.
func (f *File) WriteAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if f.appendMode {
		return 0, errWriteAtInAppendMode
	}
	if off < 0 {
		return 0, &os.PathError{Op: "writeat", Path: f.name, Err: errors.New("negative offset")}
	}
	if len(p) == 0 {
		return 0, f.check("write") // as ReadAt: no call, where Write makes one
	}
	if f.noOffsets() {
		return 0, f.espipe("write")
	}
	return f.writeLoop(ctx, p, off)
}

// espipe is os.File's error for a ReadAt or WriteAt of a file without
// offsets, or the closed File's error when that is why the look failed.
func (f *File) espipe(op string) error {
	if err := f.check(op); err != nil {
		return err
	}
	return &os.PathError{Op: op, Path: f.name, Err: syscall.ESPIPE}
}

// errWriteAtInAppendMode is os.File's error for WriteAt on a file opened
// with O_APPEND.
var errWriteAtInAppendMode = errors.New("os: invalid use of WriteAt on file opened with O_APPEND")

// fileKind returns the S_IFMT bits of the file, with kindNoOffsets, looked
// up once; 0 when they cannot be known. It takes no hold on f (an
// operation's hold here would be one more in flight for Close to see): a
// look that Close overtakes may see another descriptor, so it is kept
// only if f was not closed when it ended, and what it returns matters
// only to calls that then fail with os.ErrClosed.
func (f *File) fileKind() uint32 {
	if k := f.kind.Load(); k != 0 {
		return k
	}
	k, err := fileType(f.fd)
	if err != nil {
		return 0
	}
	switch k {
	case unix.S_IFIFO, unix.S_IFSOCK:
		k |= kindNoOffsets
	case unix.S_IFCHR:
		// Some character devices take offsets (/dev/zero), others are
		// streams (a terminal). A stream's open clears FMODE_LSEEK with
		// FMODE_PREAD (nonseekable_open, stream_open), so an lseek that
		// moves nothing tells them apart.
		if _, err := unix.Seek(f.fd, 0, io.SeekCurrent); err == unix.ESPIPE {
			k |= kindNoOffsets
		}
	}
	if f.life.Load()&fileClosed != 0 {
		return 0
	}
	f.kind.Store(k)
	return k
}

// sharesPos reports whether f has a file position that the kernel
// serialises its reads, writes and seeks on (a regular file or a
// directory): then posMu must.
func (f *File) sharesPos() bool {
	k := f.fileKind() &^ kindNoOffsets
	return k == unix.S_IFREG || k == unix.S_IFDIR
}

// noOffsets reports whether pread(2) and pwrite(2) of f would fail with
// ESPIPE, as os.File's ReadAt and WriteAt then do: the ring's reads and
// writes at an offset would read or write the stream instead.
func (f *File) noOffsets() bool { return f.fileKind()&kindNoOffsets != 0 }

// writeLoop writes all of p at off (-1: the file position).
func (f *File) writeLoop(ctx context.Context, p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) || len(p) == 0 {
		chunk := p[done:min(len(p), done+maxChunk)]
		at := off
		if off >= 0 {
			at += int64(done)
		}
		n, err := f.op(ctx, "write", func(a *aio.Aio) {
			a.SetIOV(chunk)
			a.WriteAt(f.fd, at)
		})
		done += n
		if err != nil {
			return done, err
		}
		if len(p) == 0 {
			break
		}
		if n == 0 {
			return done, &os.PathError{Op: "write", Path: f.name, Err: io.ErrShortWrite}
		}
	}
	return done, nil
}

// SyncContext is Sync that gives up when ctx is done.
func (f *File) SyncContext(ctx context.Context) error {
	_, err := f.op(ctx, "sync", func(a *aio.Aio) { a.Fsync(f.fd) })
	return err
}

// Seek sets the file position for the next Read or Write, as
// os.File.Seek: whence is io.SeekStart, io.SeekCurrent or io.SeekEnd; a
// resulting negative position is an error (EINVAL). It is lseek(2) itself:
// it never waits, so it is no engine operation.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if f.sharesPos() {
		f.posMu.Lock()
		defer f.posMu.Unlock()
	}
	// Held, as an operation is, so that Close cannot close the
	// descriptor (and another open reuse its number) under the lseek.
	if f.life.Add(1)&fileClosed != 0 {
		f.release()
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: os.ErrClosed}
	}
	defer f.release()
	off, err := unix.Seek(f.fd, offset, whence)
	if err != nil {
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: err}
	}
	return off, nil
}

// copyBuf is the buffer size of ReadFrom and WriteTo: larger than io.Copy's
// 32 KiB, so a copy takes fewer engine operations.
const copyBuf = 256 << 10

// onlyWriter and onlyReader hide File's ReadFrom and WriteTo from io.Copy,
// which would otherwise call them back.
type onlyWriter struct{ f *File }

func (w onlyWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

type onlyReader struct{ f *File }

func (r onlyReader) Read(p []byte) (int, error) { return r.f.Read(p) }

// ReadFrom copies r to the file at the file position until r ends
// (io.ReaderFrom, as os.File.ReadFrom): a nil error at r's io.EOF.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	if err := f.check("write"); err != nil {
		return 0, err
	}
	return io.CopyBuffer(onlyWriter{f}, r, make([]byte, copyBuf))
}

// WriteTo copies the file from its position to its end to w (io.WriterTo,
// as os.File.WriteTo): a nil error at the end of the file.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if err := f.check("read"); err != nil {
		return 0, err
	}
	return io.CopyBuffer(w, onlyReader{f}, make([]byte, copyBuf))
}

// Close waits for the operations in flight, then closes the descriptor
// through the engine (a CloseFD, which also ends the descriptor's state
// in the engine). Later calls, like other operations after Close, return
// an error matching os.ErrClosed.
func (f *File) Close() error {
	if f.life.Or(fileClosed)&fileClosed != 0 {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	for f.life.Load() != fileClosed {
		<-f.drained // the last operation in flight ended (release)
	}
	f.poolMu.Lock()
	pool := f.pool
	f.pool = nil
	f.poolMu.Unlock()
	if a := f.spare.Swap(nil); a != nil {
		pool = append(pool, a)
	}
	for _, a := range pool {
		a.Free()
	}
	a := f.e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(aio.Infinite)
	a.CloseFD(f.fd) // closes f.fd whatever the result
	a.Wait()
	if err := a.Result(); err != nil {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// check returns the error for an operation on a closed File, or nil.
func (f *File) check(op string) error {
	if f.life.Load()&fileClosed != 0 {
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	}
	return nil
}

// release ends an operation's hold on f (see File.life).
func (f *File) release() {
	if f.life.Add(-1) == fileClosed {
		select {
		case f.drained <- struct{}{}:
		default: // a signal is pending; Close reads the count again anyway
		}
	}
}

// op runs one engine operation started by start on a pooled Aio and waits
// for it, or for ctx: then it cancels the operation, waits for its real
// result, and reports ctx.Err() unless the operation transferred data.
func (f *File) op(ctx context.Context, name string, start func(a *aio.Aio)) (int, error) {
	if f.life.Add(1)&fileClosed != 0 {
		f.release()
		return 0, &os.PathError{Op: name, Path: f.name, Err: os.ErrClosed}
	}
	defer f.release()
	if err := ctx.Err(); err != nil {
		return 0, &os.PathError{Op: name, Path: f.name, Err: err}
	}

	a := f.getAio()
	start(a)
	if ctx.Done() != nil {
		// The cancel must have finished before the Aio goes back to the
		// pool, or it could cancel somebody else's operation.
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			a.Cancel()
			close(fired)
		})
		a.Wait()
		if !stop() {
			<-fired
		}
	} else {
		a.Wait()
	}
	n, err := a.Count(), a.Result()
	a.SetIOV() // drop the caller's buffer
	f.putAio(a)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, aio.ErrCanceled) && ctx.Err() != nil:
		err = ctx.Err()
	}
	return n, &os.PathError{Op: name, Path: f.name, Err: err}
}

func (f *File) getAio() *aio.Aio {
	if a := f.spare.Swap(nil); a != nil {
		return a
	}
	f.poolMu.Lock()
	if n := len(f.pool); n > 0 {
		a := f.pool[n-1]
		f.pool = f.pool[:n-1]
		f.poolMu.Unlock()
		return a
	}
	f.poolMu.Unlock()
	a := f.e.NewAio(nil)
	a.SetTimeout(aio.Infinite)
	// Its operations name f.fd alone, which f holds open until Close,
	// after they have ended and the Aio is freed: the engine may keep
	// what it learnt of the descriptor between them (internal/fdhold).
	fdhold.Mark(a)
	return a
}

func (f *File) putAio(a *aio.Aio) {
	if f.spare.CompareAndSwap(nil, a) {
		return
	}
	f.poolMu.Lock()
	if len(f.pool) < maxPooled {
		f.pool = append(f.pool, a)
		a = nil
	}
	f.poolMu.Unlock()
	if a != nil {
		a.Free()
	}
}
