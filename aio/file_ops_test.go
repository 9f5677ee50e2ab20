//go:build linux

package aio_test

// Files by name, metadata and durability (issue 18; API.md "Files by
// name"): each operation's result, errors as the kernel's errno, bad input
// as ErrInvalid, timeouts, Cancel, Stop and Close of an open that blocks
// (a FIFO without a peer), and no descriptor leaked by any of them. Run
// on the backend AIORING_BACKEND selects (both, in CI).

import (
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// fileEngine makes an engine, skipping when it lacks the kernel's
// support for the file operations (io_uring older than 5.6).
func fileEngine(t *testing.T) *aio.Engine {
	t.Helper()
	e := newEngine(t, aio.Config{})
	a := e.NewAio(nil)
	defer a.Free()
	var st unix.Statx_t
	a.Statx(unix.AT_FDCWD, "/", 0, unix.STATX_TYPE, &st)
	a.Wait()
	if errors.Is(a.Result(), aio.ErrUnsupported) {
		t.Skipf("no IORING_OP_STATX on this kernel (%v)", a.Result())
	}
	return e
}

// run starts op on a fresh Aio without a callback and waits for it.
func run(t *testing.T, e *aio.Engine, op func(a *aio.Aio)) *aio.Aio {
	t.Helper()
	a := e.NewAio(nil)
	t.Cleanup(a.Free)
	op(a)
	a.Wait()
	return a
}

func TestFileOpenAtStatxReadClose(t *testing.T) {
	e := fileEngine(t)
	dir := t.TempDir()
	want := []byte("hello, files by name")
	if err := os.WriteFile(filepath.Join(dir, "f"), want, 0o640); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	own(t, dfd)

	a := run(t, e, func(a *aio.Aio) { a.OpenAt(dfd, "f", unix.O_RDONLY, 0) })
	fd := a.FD()
	if a.Result() != nil || fd < 0 {
		t.Fatalf("OpenAt: %v, FD %d", a.Result(), fd)
	}
	if a.Output(0) != nil {
		t.Errorf("OpenAt: Output(0) = %v, want nil (only Accept sets it)", a.Output(0))
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("opened descriptor: F_GETFD %#x, %v: want FD_CLOEXEC", flags, err)
	}

	var st unix.Statx_t
	a.Statx(dfd, "f", unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("Statx: %v", a.Result())
	}
	if a.FD() != -1 {
		t.Errorf("FD after Statx = %d, want -1", a.FD())
	}
	if st.Size != uint64(len(want)) || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o777 != 0o640 {
		t.Errorf("Statx: size %d mode %#o, want %d and a regular file 0640", st.Size, st.Mode, len(want))
	}
	// AT_EMPTY_PATH on the opened descriptor: the same file.
	var st2 unix.Statx_t
	a.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO, &st2)
	a.Wait()
	if a.Result() != nil || st2.Ino != st.Ino {
		t.Errorf("Statx(AT_EMPTY_PATH): %v, ino %d want %d", a.Result(), st2.Ino, st.Ino)
	}

	buf := make([]byte, 64)
	a.SetIOV(buf)
	a.ReadAt(fd, 0)
	a.Wait()
	if a.Result() != nil || string(buf[:a.Count()]) != string(want) {
		t.Fatalf("ReadAt of the opened file: %v %q", a.Result(), buf[:a.Count()])
	}

	a.CloseFD(fd)
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("CloseFD: %v", a.Result())
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("after CloseFD: F_GETFD = %v, want EBADF", err)
	}
}

func TestFileCreateFallocateFdatasync(t *testing.T) {
	e := fileEngine(t)
	path := filepath.Join(t.TempDir(), "new")
	a := run(t, e, func(a *aio.Aio) { a.OpenAt(unix.AT_FDCWD, path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600) })
	fd := a.FD()
	if a.Result() != nil || fd < 0 {
		t.Fatalf("OpenAt(O_CREAT): %v %d", a.Result(), fd)
	}
	defer unix.Close(fd)
	a.Fallocate(fd, 0, 0, 1<<20)
	a.Wait()
	if errors.Is(a.Result(), syscall.EOPNOTSUPP) {
		t.Skipf("the file system of %s has no fallocate", path)
	}
	if a.Result() != nil {
		t.Fatalf("Fallocate: %v", a.Result())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 1<<20 {
		t.Fatalf("after Fallocate: size %v, %v; want 1 MiB", fi.Size(), err)
	}
	// FALLOC_FL_KEEP_SIZE: blocks past the end, size unchanged.
	a.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 1<<20, 1<<20)
	a.Wait()
	if fi, _ := os.Stat(path); a.Result() != nil || fi.Size() != 1<<20 {
		t.Errorf("Fallocate(KEEP_SIZE): %v, size %d", a.Result(), fi.Size())
	}
	a.SetIOV([]byte("durable"))
	a.WriteAt(fd, 0)
	a.Wait()
	a.Fdatasync(fd)
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("Fdatasync: %v", a.Result())
	}
	// Creating it again with O_EXCL: EEXIST.
	a.OpenAt(unix.AT_FDCWD, path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
	a.Wait()
	if !errors.Is(a.Result(), syscall.EEXIST) || a.FD() != -1 {
		t.Errorf("OpenAt(O_EXCL) of an existing file: %v, FD %d; want EEXIST, -1", a.Result(), a.FD())
	}
}

func TestFileErrors(t *testing.T) {
	e := fileEngine(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	var st unix.Statx_t
	rfd := tempFile(t, "x", unix.O_RDONLY)
	for _, tc := range []struct {
		name string
		op   func(a *aio.Aio)
		want error
	}{
		{"OpenAt missing", func(a *aio.Aio) { a.OpenAt(unix.AT_FDCWD, missing, unix.O_RDONLY, 0) }, syscall.ENOENT},
		{"OpenAt bad dirfd", func(a *aio.Aio) { a.OpenAt(1<<20, "rel", unix.O_RDONLY, 0) }, syscall.EBADF},
		{"OpenAt NUL in path", func(a *aio.Aio) { a.OpenAt(unix.AT_FDCWD, "a\x00b", unix.O_RDONLY, 0) }, aio.ErrInvalid},
		{"OpenAt dir for writing", func(a *aio.Aio) { a.OpenAt(unix.AT_FDCWD, dir, unix.O_WRONLY, 0) }, syscall.EISDIR},
		{"Statx missing", func(a *aio.Aio) { a.Statx(unix.AT_FDCWD, missing, 0, unix.STATX_BASIC_STATS, &st) }, syscall.ENOENT},
		{"Statx nil", func(a *aio.Aio) { a.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_BASIC_STATS, nil) }, aio.ErrInvalid},
		{"Statx NUL in path", func(a *aio.Aio) { a.Statx(unix.AT_FDCWD, "\x00", 0, unix.STATX_BASIC_STATS, &st) }, aio.ErrInvalid},
		{"Statx bad flags", func(a *aio.Aio) { a.Statx(unix.AT_FDCWD, dir, -1, unix.STATX_BASIC_STATS, &st) }, syscall.EINVAL},
		{"CloseFD -1", func(a *aio.Aio) { a.CloseFD(-1) }, syscall.EBADF},
		{"CloseFD unused", func(a *aio.Aio) { a.CloseFD(1 << 20) }, syscall.EBADF},
		{"CloseFD huge", func(a *aio.Aio) { a.CloseFD(math.MaxInt) }, syscall.EBADF},
		{"Fdatasync bad", func(a *aio.Aio) { a.Fdatasync(1 << 20) }, syscall.EBADF},
		{"Fallocate bad", func(a *aio.Aio) { a.Fallocate(1<<20, 0, 0, 10) }, syscall.EBADF},
		{"Fallocate read-only", func(a *aio.Aio) { a.Fallocate(rfd, 0, 0, 10) }, syscall.EBADF},
		{"Fallocate negative", func(a *aio.Aio) { a.Fallocate(rfd, 0, -1, 10) }, syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			a := e.NewAio(rec.cb)
			defer a.Free()
			tc.op(a)
			c := rec.next(t)
			if !errors.Is(c.err, tc.want) {
				t.Errorf("result %v, want %v", c.err, tc.want)
			}
			if a.FD() != -1 {
				t.Errorf("FD %d after a failure, want -1", a.FD())
			}
			if errno, ok := c.err.(syscall.Errno); tc.want != aio.ErrInvalid && !ok {
				t.Errorf("result %T %v is not a syscall.Errno", c.err, errno)
			}
		})
	}
}

// TestFileZeroTimeout: openat, statx and the rest have no non-blocking
// form, so a zero timeout ends them at once with ErrTimedOut.
func TestFileZeroTimeout(t *testing.T) {
	e := fileEngine(t)
	fd := tempFile(t, "x", unix.O_RDWR)
	var st unix.Statx_t
	for name, op := range map[string]func(a *aio.Aio){
		"OpenAt":    func(a *aio.Aio) { a.OpenAt(unix.AT_FDCWD, "/", unix.O_RDONLY, 0) },
		"Statx":     func(a *aio.Aio) { a.Statx(unix.AT_FDCWD, "/", 0, unix.STATX_TYPE, &st) },
		"Fdatasync": func(a *aio.Aio) { a.Fdatasync(fd) },
		"Fallocate": func(a *aio.Aio) { a.Fallocate(fd, 0, 0, 10) },
	} {
		a := run(t, e, func(a *aio.Aio) { a.SetTimeout(0); op(a) })
		if a.Result() != aio.ErrTimedOut || a.FD() != -1 {
			t.Errorf("%s with a zero timeout: %v, FD %d; want ErrTimedOut", name, a.Result(), a.FD())
		}
	}
}

func TestFileFDAfterAccept(t *testing.T) {
	e := newEngine(t, aio.Config{})
	lfd, sa, closeL := listener(t, 8)
	defer closeL()
	_, closeC := dial(t, sa)
	defer closeC()
	a := run(t, e, func(a *aio.Aio) { a.Accept(lfd) })
	if a.Result() != nil {
		t.Fatalf("Accept: %v", a.Result())
	}
	out, _ := a.Output(0).(int)
	if fd := a.FD(); fd < 0 || fd != out {
		t.Errorf("after Accept: FD %d, Output(0) %v; want the same descriptor", fd, a.Output(0))
	}
	unix.Close(out)
	a.Nop()
	a.Wait()
	if a.FD() != -1 {
		t.Errorf("FD after Nop = %d, want -1", a.FD())
	}
}

// fifo makes a FIFO and returns its path and a path that opens it through
// a /proc/self/fd magic link. Opening the FIFO for writing blocks until a
// reader opens it, in io-wq or on a file worker alike, when it is opened
// through the link: the ring's inline attempt at OPENAT (a cached lookup
// with O_NONBLOCK) cannot follow a magic link and hands the open to
// io-wq, where it blocks as openat(2) does. (Through its own path the
// ring's inline attempt would end it at once with ENXIO: docs/design.md.)
func fifo(t *testing.T) (path, link string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	own(t, fd)
	return path, "/proc/self/fd/" + strconv.Itoa(fd)
}

// release opens path's read end without blocking and closes it again,
// which lets any open of the write end still blocked complete (a detached
// file worker, an io-wq worker whose cancel did not take).
func release(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open the FIFO's read end: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	unix.Close(fd)
}

// settleFDs waits until the process holds want descriptors (a detached
// worker closes what its late open returned on its own time).
func settleFDs(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := openFDs(t)
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open, want %d: leaked %d", n, want, n-want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFileBlockedOpenEnds: an OpenAt that blocks (a FIFO's write end with
// no reader) ends at its timeout, at Cancel, at Abort, at Stop and at the
// engine's Close, with exactly one callback each and no descriptor left.
func TestFileBlockedOpenEnds(t *testing.T) {
	path, link := fifo(t)
	base := openFDs(t)
	for _, tc := range []struct {
		name string
		end  func(e *aio.Engine, a *aio.Aio)
		want error
	}{
		{"timeout", nil, aio.ErrTimedOut},
		{"Cancel", func(_ *aio.Engine, a *aio.Aio) { a.Cancel() }, aio.ErrCanceled},
		{"Abort", func(_ *aio.Engine, a *aio.Aio) { a.Abort(errTest) }, errTest},
		{"Stop", func(_ *aio.Engine, a *aio.Aio) { go a.Stop() }, aio.ErrStopped},
		{"Close", func(e *aio.Engine, _ *aio.Aio) { go e.Close() }, aio.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := fileEngine(t)
			rec := newRecorder()
			a := e.NewAio(rec.cb)
			if tc.end == nil {
				a.SetTimeout(30 * time.Millisecond)
			}
			start := time.Now()
			a.OpenAt(unix.AT_FDCWD, link, unix.O_WRONLY, 0)
			if tc.end != nil {
				time.Sleep(30 * time.Millisecond)
				tc.end(e, a)
			}
			c := rec.next(t)
			if c.err != tc.want {
				t.Errorf("result %v, want %v", c.err, tc.want)
			}
			if tc.end == nil && time.Since(start) < 30*time.Millisecond {
				t.Errorf("timed out after %v, before its 30ms", time.Since(start))
			}
			if a.FD() != -1 {
				t.Errorf("FD %d, want -1", a.FD())
			}
			select {
			case c := <-rec.ch:
				t.Fatalf("a second callback: %v", c.err)
			case <-time.After(20 * time.Millisecond):
			}
			a.Free()
			e.Close()
			release(t, path)
			settleFDs(t, base)
		})
	}
}

var errTest = errors.New("test abort")

// TestFileOpenStormNoLeak: many OpenAt (regular files, and a FIFO whose
// opens block until released) with random Cancels and timeouts on 32
// Aios; every descriptor a callback sees in FD is closed by it, and
// afterwards the process holds as many descriptors as before: a cancel
// that raced with the kernel's open never lost one.
func TestFileOpenStormNoLeak(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := 0; i < 16; i++ {
		p := filepath.Join(dir, "f"+string(rune('a'+i)))
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	ff, link := fifo(t)
	base := openFDs(t)
	e := fileEngine(t)
	const aios, perAio = 32, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[error]int{}
	for i := 0; i < aios; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			a := e.NewAio(nil)
			defer a.Free()
			var st unix.Statx_t
			for j := 0; j < perAio; j++ {
				switch rng.Intn(4) {
				case 0:
					a.SetTimeout(time.Duration(rng.Intn(200)) * time.Microsecond)
				case 1:
					a.SetTimeout(aio.Infinite)
				}
				path := files[rng.Intn(len(files))]
				blocking := rng.Intn(8) == 0
				if blocking {
					path = link
					a.SetTimeout(time.Duration(1+rng.Intn(3)) * time.Millisecond)
				}
				if rng.Intn(5) == 0 {
					a.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, &st)
				} else {
					flags := unix.O_RDONLY
					if blocking {
						flags = unix.O_WRONLY
					}
					a.OpenAt(unix.AT_FDCWD, path, flags, 0)
				}
				if rng.Intn(3) == 0 {
					time.Sleep(time.Duration(rng.Intn(50)) * time.Microsecond)
					a.Cancel()
				}
				a.Wait()
				if fd := a.FD(); fd >= 0 {
					if a.Result() != nil {
						t.Errorf("FD %d with result %v", fd, a.Result())
					}
					a.CloseFD(fd)
					a.Wait()
					// A short timeout may end it first; the
					// descriptor is closed all the same (the
					// count at the end checks).
					if err := a.Result(); err != nil && err != aio.ErrTimedOut {
						t.Errorf("CloseFD: %v", err)
					}
				}
				mu.Lock()
				seen[a.Result()]++
				mu.Unlock()
			}
		}(int64(i))
	}
	// A reader now and then: some blocked opens complete, after or
	// against their cancel.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				if fd, err := unix.Open(ff, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
					time.Sleep(200 * time.Microsecond)
					unix.Close(fd)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	e.Close()
	release(t, ff)
	settleFDs(t, base)
	t.Logf("results: %v", seen)
	if seen[nil] == 0 || seen[aio.ErrCanceled]+seen[aio.ErrTimedOut] == 0 {
		t.Errorf("the storm did not mix successes with cancels and timeouts: %v", seen)
	}
}

// TestFileRegisteredFD: Fdatasync and Fallocate work on a descriptor
// registered with RegisterFD (through the rings' file tables), and CloseFD
// unregisters it before closing it, as Engine.CloseFD does.
func TestFileRegisteredFD(t *testing.T) {
	e := fileEngine(t)
	fd, err := unix.Open(filepath.Join(t.TempDir(), "f"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RegisterFD(fd); err != nil {
		unix.Close(fd)
		t.Skipf("RegisterFD: %v", err)
	}
	a := run(t, e, func(a *aio.Aio) { a.Fallocate(fd, 0, 0, 4096) })
	if err := a.Result(); err != nil && !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("Fallocate of a registered descriptor: %v", err)
	}
	a.Fdatasync(fd)
	a.Wait()
	if a.Result() != nil {
		t.Errorf("Fdatasync of a registered descriptor: %v", a.Result())
	}
	a.CloseFD(fd)
	a.Wait()
	if a.Result() != nil {
		t.Errorf("CloseFD of a registered descriptor: %v", a.Result())
	}
	if err := e.UnregisterFD(fd); !errors.Is(err, aio.ErrInvalid) {
		t.Errorf("UnregisterFD after CloseFD: %v, want ErrInvalid (CloseFD unregisters)", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("after CloseFD: F_GETFD %v, want EBADF", err)
	}
}
