//go:build linux

package aio_test

// Registered resources (API.md "Registered resources"): FixedBuffer and
// FreeFixedBuffer, RegisterFD and UnregisterFD, on both backends. Where a
// test must know that the ring used the registration rather than the
// plain path, it makes the kernel show it: a registered buffer's pages
// were pinned when it was registered, so after the program maps fresh
// memory over the same addresses a READ_FIXED still lands in the old
// pages (a plain READ lands in the new ones); a registered descriptor's
// table holds its own reference to the file, so operations that name it
// by its slot work after the descriptor number was closed.

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// eachBackend runs f on an engine of each backend.
func eachBackend(t *testing.T, f func(t *testing.T, e *aio.Engine)) {
	for _, be := range []aio.Backend{aio.BackendIOURing, aio.BackendPortable} {
		t.Run(string(be), func(t *testing.T) {
			e, err := aio.NewEngine(aio.Config{Backend: be})
			if err != nil {
				t.Skipf("%s unavailable: %v", be, err)
			}
			t.Cleanup(func() { e.Close() })
			f(t, e)
		})
	}
}

// directFile opens a new file in a temporary directory with O_DIRECT, or
// skips when the file system refuses O_DIRECT (tmpfs).
func directFile(t *testing.T, size int) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "direct")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err == unix.EINVAL {
		t.Skipf("the file system of %s refuses O_DIRECT", path)
	}
	if err != nil {
		t.Fatalf("open O_DIRECT: %v", err)
	}
	own(t, fd)
	return fd
}

// openTemp creates a file holding content, opens it read-write and
// returns it with an idempotent close.
func openTemp(t *testing.T, content string) (int, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd, own(t, fd)
}

// withoutIPCLock runs f on a thread that has dropped CAP_IPC_LOCK from its
// effective capabilities (a ring made there is charged to
// RLIMIT_MEMLOCK), or skips when capabilities cannot be changed. The
// thread is never handed back to the scheduler: it exits with its
// goroutine.
func withoutIPCLock(t *testing.T, f func() (*aio.Engine, error)) *aio.Engine {
	t.Helper()
	type res struct {
		e    *aio.Engine
		err  error
		skip string
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // not undone: the thread dies with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			ch <- res{skip: "capget: " + err.Error()}
			return
		}
		if data[0].Effective&(1<<unix.CAP_IPC_LOCK) == 0 {
			e, err := f()
			ch <- res{e: e, err: err}
			return
		}
		data[0].Effective &^= 1 << unix.CAP_IPC_LOCK
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			ch <- res{skip: "capset: " + err.Error()}
			return
		}
		e, err := f()
		ch <- res{e: e, err: err}
	}()
	r := <-ch
	if r.skip != "" {
		t.Skip(r.skip)
	}
	if r.err != nil {
		t.Skipf("io_uring unavailable: %v", r.err)
	}
	return r.e
}

// mincore is mincore(2): ENOMEM when b is not mapped.
func mincore(b, vec []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

// runOp starts an operation on a and waits for it.
func runOp(t *testing.T, a *aio.Aio, start func()) (int, error) {
	t.Helper()
	start()
	a.Wait()
	return a.Count(), a.Result()
}

// Data written from one registered buffer with O_DIRECT reads back into
// another, single and vectored, on both backends.
func TestFixedBufferDirectRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		const size = 256 << 10
		fd := directFile(t, size)
		src, err := e.FixedBuffer(size)
		if err != nil {
			t.Fatalf("FixedBuffer: %v", err)
		}
		dst, err := e.FixedBuffer(size)
		if err != nil {
			t.Fatalf("FixedBuffer: %v", err)
		}
		if uintptr(unsafe.Pointer(&src[0]))%uintptr(os.Getpagesize()) != 0 || len(src) != size {
			t.Fatalf("FixedBuffer(%d): %p len %d, want page-aligned, len %d", size, &src[0], len(src), size)
		}
		for i := range src {
			src[i] = byte(i*7 + i>>12)
		}
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV(src)
		if n, err := runOp(t, a, func() { a.WriteAt(fd, 0) }); err != nil || n != size {
			t.Fatalf("WriteAt: %d, %v", n, err)
		}
		a.SetIOV(dst)
		if n, err := runOp(t, a, func() { a.ReadAt(fd, 0) }); err != nil || n != size {
			t.Fatalf("ReadAt: %d, %v", n, err)
		}
		if !bytes.Equal(src, dst) {
			t.Fatal("the data read back differs from the data written")
		}
		// Vectored, inside one buffer (READV_FIXED where the kernel has
		// it), then across the two.
		clear(dst)
		a.SetIOV(dst[:4096], dst[8192:16384])
		if n, err := runOp(t, a, func() { a.ReadAt(fd, 4096) }); err != nil || n != 4096+8192 {
			t.Fatalf("vectored ReadAt: %d, %v", n, err)
		}
		if !bytes.Equal(dst[:4096], src[4096:8192]) || !bytes.Equal(dst[8192:16384], src[8192:16384]) {
			t.Fatal("vectored ReadAt read the wrong bytes")
		}
		a.SetIOV(src[:4096], dst[:4096])
		if n, err := runOp(t, a, func() { a.WriteAt(fd, 0) }); err != nil || n != 8192 {
			t.Fatalf("vectored WriteAt across buffers: %d, %v", n, err)
		}
		for _, b := range [][]byte{src, dst} {
			if err := e.FreeFixedBuffer(b); err != nil {
				t.Fatalf("FreeFixedBuffer: %v", err)
			}
		}
	})
}

// remapFresh maps fresh zeroed memory over b, as a program that reuses
// addresses would: b's registered pages stay pinned by the ring, but the
// program no longer sees them.
func remapFresh(t *testing.T, b []byte) {
	t.Helper()
	if _, err := unix.MmapPtr(-1, 0, unsafe.Pointer(&b[0]), uintptr(len(b)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		t.Fatalf("mmap MAP_FIXED: %v", err)
	}
}

// On io_uring, a read or write whose IOV lies in a registered buffer goes
// out as READ_FIXED/WRITE_FIXED (READV_FIXED for a vector, where the
// kernel has it): the kernel moves the bytes through the pages pinned at
// registration, which the program no longer sees once it has mapped fresh
// memory over them. The same steps on memory that is not registered
// (a plain READ) land in the fresh mapping: the control.
func TestFixedBufferUsesRegisteredPages(t *testing.T) {
	e, err := aio.NewEngine(aio.Config{Backend: aio.BackendIOURing})
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer e.Close()
	const size = 8192
	fd := tempFile(t, strings.Repeat("x", size), unix.O_RDWR)
	a := e.NewAio(nil)
	defer a.Free()

	readInto := func(b []byte, iov ...[]byte) []byte {
		remapFresh(t, b)
		a.SetIOV(iov...)
		if n, err := runOp(t, a, func() { a.ReadAt(fd, 0) }); err != nil || n == 0 {
			t.Fatalf("ReadAt: %d, %v", n, err)
		}
		return b
	}
	plain, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(plain)
	if got := readInto(plain, plain); got[0] != 'x' {
		t.Fatal("control: a plain read did not land in the fresh mapping")
	}
	fixed, err := e.FixedBuffer(size)
	if err != nil {
		t.Fatal(err)
	}
	if got := readInto(fixed, fixed); !bytes.Equal(got, make([]byte, size)) {
		t.Fatal("a read into a registered buffer landed in the program's fresh mapping: it did not go out as READ_FIXED")
	}
	if aio.FixedVectorsForTest(e) {
		if got := readInto(fixed, fixed[:100], fixed[4096:]); !bytes.Equal(got, make([]byte, size)) {
			t.Fatal("a vectored read inside one registered buffer did not go out as READV_FIXED")
		}
	} else {
		t.Log("this kernel has no READV_FIXED: vectors go out plainly")
	}
	// Write: the registered pages hold 'x' (read just now); the fresh
	// mapping holds 'w'. WRITE_FIXED writes the registered pages.
	remapFresh(t, fixed)
	for i := range fixed {
		fixed[i] = 'w'
	}
	a.SetIOV(fixed[:10])
	if n, err := runOp(t, a, func() { a.WriteAt(fd, 0) }); err != nil || n != 10 {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	got := make([]byte, 10)
	if _, err := unix.Pread(fd, got, 0); err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.Repeat("x", 10) {
		t.Fatalf("file holds %q after a write from a registered buffer: it did not go out as WRITE_FIXED", got)
	}
	if err := e.FreeFixedBuffer(fixed); err != nil {
		t.Fatal(err)
	}
}

// FreeFixedBuffer: ErrInvalid for a slice that names no buffer, a second
// free, and a buffer a pending operation's IOV lies in; a slice starting
// at the buffer's first byte names it, whatever its length.
func TestFreeFixedBufferErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		b, err := e.FixedBuffer(10000)
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string][]byte{
			"nil": nil, "heap": make([]byte, 10), "b[1:]": b[1:], "b[4096:]": b[4096:],
		} {
			if err := e.FreeFixedBuffer(s); !errors.Is(err, aio.ErrInvalid) {
				t.Errorf("FreeFixedBuffer(%s) = %v, want ErrInvalid", name, err)
			}
		}
		// In use: a Recv into b pending on a socket with nothing to read.
		s, _, _, _ := socketpair(t)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV(b[100:200])
		a.Recv(s)
		if err := e.FreeFixedBuffer(b); !errors.Is(err, aio.ErrInvalid) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("FreeFixedBuffer while a Recv into it is pending = %v, want ErrInvalid saying it is in use", err)
		}
		a.Cancel()
		a.Wait()
		if !errors.Is(a.Result(), aio.ErrCanceled) {
			t.Fatalf("Recv after Cancel: %v", a.Result())
		}
		if err := e.FreeFixedBuffer(b[:0]); err != nil {
			t.Fatalf("FreeFixedBuffer(b[:0]) once idle: %v", err)
		}
		if err := e.FreeFixedBuffer(b); !errors.Is(err, aio.ErrInvalid) {
			t.Errorf("second FreeFixedBuffer = %v, want ErrInvalid", err)
		}
	})
}

// FixedBuffer's sizes: not positive, over the kernel's 1 GiB: ErrInvalid
// saying which; and the slot table has an end.
func TestFixedBufferSizes(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		for _, n := range []int{0, -1} {
			if _, err := e.FixedBuffer(n); !errors.Is(err, aio.ErrInvalid) {
				t.Errorf("FixedBuffer(%d) = %v, want ErrInvalid", n, err)
			}
		}
		_, err := e.FixedBuffer(1<<30 + 1)
		if !errors.Is(err, aio.ErrInvalid) || !strings.Contains(err.Error(), "1 GiB") {
			t.Errorf("FixedBuffer(1 GiB + 1) = %v, want ErrInvalid naming the kernel's 1 GiB limit", err)
		}
		b, err := e.FixedBuffer(1)
		if err != nil || len(b) != 1 {
			t.Fatalf("FixedBuffer(1) = len %d, %v", len(b), err)
		}
	})
}

// Beyond RLIMIT_MEMLOCK the kernel refuses to pin a registered buffer;
// the error says so and matches ENOMEM. The kernel charges the limit only
// to rings made by a process without CAP_IPC_LOCK: the engine is made
// while this thread has dropped it from its effective set.
func TestFixedBufferMemlockLimit(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		t.Fatal(err)
	}
	lim := unix.Rlimit{Cur: 1 << 20, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		t.Skipf("cannot lower RLIMIT_MEMLOCK: %v", err)
	}
	defer unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old)
	e := withoutIPCLock(t, func() (*aio.Engine, error) {
		return aio.NewEngine(aio.Config{Backend: aio.BackendIOURing, Rings: 1})
	})
	defer e.Close()
	small, err := e.FixedBuffer(64 << 10)
	if err != nil {
		t.Fatalf("FixedBuffer(64 KiB) under a 1 MiB RLIMIT_MEMLOCK: %v", err)
	}
	_, err = e.FixedBuffer(4 << 20)
	if !errors.Is(err, syscall.ENOMEM) || !strings.Contains(err.Error(), "RLIMIT_MEMLOCK") {
		t.Fatalf("FixedBuffer(4 MiB) under a 1 MiB RLIMIT_MEMLOCK = %v, want ENOMEM naming RLIMIT_MEMLOCK", err)
	}
	if err := e.FreeFixedBuffer(small); err != nil {
		t.Fatal(err)
	}
}

// Close unmaps every registered buffer; afterwards FixedBuffer,
// FreeFixedBuffer and RegisterFD give ErrClosed.
func TestFixedBufferCloseFrees(t *testing.T) {
	for _, be := range []aio.Backend{aio.BackendIOURing, aio.BackendPortable} {
		t.Run(string(be), func(t *testing.T) {
			e, err := aio.NewEngine(aio.Config{Backend: be})
			if err != nil {
				t.Skipf("%s unavailable: %v", be, err)
			}
			b, err := e.FixedBuffer(3 * 4096)
			if err != nil {
				t.Fatal(err)
			}
			vec := make([]byte, 3)
			if err := mincore(b, vec); err != nil {
				t.Fatalf("mincore of a live buffer: %v", err)
			}
			fd, _, _, _ := socketpair(t)
			if err := e.RegisterFD(fd); err != nil {
				t.Fatal(err)
			}
			e.Close()
			if err := mincore(b, vec); err != unix.ENOMEM {
				t.Fatalf("mincore of a buffer after Close = %v, want ENOMEM (unmapped)", err)
			}
			if _, err := e.FixedBuffer(10); !errors.Is(err, aio.ErrClosed) {
				t.Errorf("FixedBuffer after Close = %v, want ErrClosed", err)
			}
			if err := e.FreeFixedBuffer(b); !errors.Is(err, aio.ErrClosed) {
				t.Errorf("FreeFixedBuffer after Close = %v, want ErrClosed", err)
			}
			if err := e.RegisterFD(fd); !errors.Is(err, aio.ErrClosed) {
				t.Errorf("RegisterFD after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// RegisterFD and UnregisterFD: a descriptor that is not open, one
// registered twice, and unregistering one that is not registered are
// ErrInvalid.
func TestRegisterFDErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		fd, _, closeFD, _ := socketpair(t)
		if err := e.RegisterFD(fd); err != nil {
			t.Fatal(err)
		}
		if err := e.RegisterFD(fd); !errors.Is(err, aio.ErrInvalid) {
			t.Errorf("second RegisterFD = %v, want ErrInvalid", err)
		}
		if err := e.UnregisterFD(fd); err != nil {
			t.Fatal(err)
		}
		if err := e.UnregisterFD(fd); !errors.Is(err, aio.ErrInvalid) {
			t.Errorf("UnregisterFD of an unregistered descriptor = %v, want ErrInvalid", err)
		}
		closeFD()
		for _, bad := range []int{fd, -1, math.MaxInt} {
			if err := e.RegisterFD(bad); !errors.Is(err, aio.ErrInvalid) {
				t.Errorf("RegisterFD(%d) (not open) = %v, want ErrInvalid", bad, err)
			}
		}
	})
}

// Reads, writes, sends and receives on registered descriptors carry the
// data. On io_uring they name the descriptor by its slot: the descriptor
// numbers are closed first, and the table's reference keeps the files.
func TestRegisterFDRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		ring := e.Backend() == aio.BackendIOURing
		ffd, closeF := openTemp(t, "0123456789")
		s0, s1, close0, close1 := socketpair(t)
		for _, fd := range []int{ffd, s0, s1} {
			if err := e.RegisterFD(fd); err != nil {
				t.Fatal(err)
			}
		}
		if ring {
			// Only the table holds the files now. (The test closes the
			// numbers; nothing else in it opens descriptors meanwhile.)
			closeF()
			close0()
			close1()
		}
		a := e.NewAio(nil)
		defer a.Free()
		buf := make([]byte, 4)
		a.SetIOV(buf)
		if n, err := runOp(t, a, func() { a.ReadAt(ffd, 3) }); err != nil || n != 4 || string(buf) != "3456" {
			t.Fatalf("ReadAt on a registered descriptor: %d %v %q", n, err, buf)
		}
		a.SetIOV([]byte("ab"))
		if n, err := runOp(t, a, func() { a.WriteAt(ffd, 0) }); err != nil || n != 2 {
			t.Fatalf("WriteAt: %d %v", n, err)
		}
		a.SetIOV(buf[:2])
		if n, err := runOp(t, a, func() { a.ReadAt(ffd, 0) }); err != nil || n != 2 || string(buf[:2]) != "ab" {
			t.Fatalf("ReadAt after WriteAt: %d %v %q", n, err, buf[:2])
		}
		if _, err := runOp(t, a, func() { a.Fsync(ffd) }); err != nil {
			t.Fatalf("Fsync: %v", err)
		}
		a.SetIOV([]byte("ping"))
		if n, err := runOp(t, a, func() { a.Send(s0) }); err != nil || n != 4 {
			t.Fatalf("Send: %d %v", n, err)
		}
		a.SetIOV(buf)
		if n, err := runOp(t, a, func() { a.Recv(s1) }); err != nil || n != 4 || string(buf) != "ping" {
			t.Fatalf("Recv: %d %v %q", n, err, buf)
		}
		for _, fd := range []int{ffd, s0, s1} {
			if err := e.UnregisterFD(fd); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// UnregisterFD while an operation that named the descriptor by its slot is
// pending: it returns at once; the operation keeps its file and completes
// with its own result; when it has ended, the table lets go of the file
// (here its last reference: the peer then reads end of stream).
func TestUnregisterFDWhilePending(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		ring := e.Backend() == aio.BackendIOURing
		s0, s1, close0, _ := socketpair(t)
		if err := e.RegisterFD(s0); err != nil {
			t.Fatal(err)
		}
		a := e.NewAio(nil)
		defer a.Free()
		buf := make([]byte, 8)
		a.SetIOV(buf)
		a.Recv(s0)
		if ring {
			close0() // the pending Recv and the table hold the socket
		}
		if err := e.UnregisterFD(s0); err != nil {
			t.Fatalf("UnregisterFD with a Recv pending: %v", err)
		}
		if ring {
			// New operations use the descriptor itself, closed now.
			b := e.NewAio(nil)
			b.SetIOV(make([]byte, 1))
			b.Send(s0)
			b.Wait()
			if !errors.Is(b.Result(), syscall.EBADF) {
				t.Fatalf("Send on the closed number after UnregisterFD = %v, want EBADF", b.Result())
			}
			b.Free()
		}
		write(t, s1, "late")
		a.Wait()
		if a.Result() != nil || a.Count() != 4 || string(buf[:4]) != "late" {
			t.Fatalf("the pending Recv after UnregisterFD: %v %d %q", a.Result(), a.Count(), buf[:4])
		}
		if !ring {
			return
		}
		// Its last use ended: the slot is emptied, the socket's last
		// reference goes, and the peer sees the end of the stream.
		tv := unix.NsecToTimeval(int64(waitLimit))
		if err := unix.SetsockoptTimeval(s1, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(err)
		}
		// A socket with SO_RCVTIMEO returns EINTR even under SA_RESTART
		// (signal(7)), and the Go runtime's preemption signal lands on
		// this thread at any time: read again.
		n, err := unix.Read(s1, buf)
		for err == unix.EINTR {
			n, err = unix.Read(s1, buf)
		}
		if n != 0 || err != nil {
			t.Fatalf("peer read after the unregistered socket's last use = %d, %v; want end of stream", n, err)
		}
	})
}

// Engine.CloseFD unregisters a registered descriptor before closing it:
// the file is gone (the peer sees the end of the stream), and the number
// is no longer registered.
func TestCloseFDUnregisters(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		s0, s1 := fds[0], fds[1] // s0 is closed by CloseFD alone
		own(t, s1)
		if err := e.RegisterFD(s0); err != nil {
			t.Fatal(err)
		}
		if err := e.CloseFD(s0); err != nil {
			t.Fatal(err)
		}
		if err := e.UnregisterFD(s0); !errors.Is(err, aio.ErrInvalid) {
			t.Errorf("UnregisterFD after CloseFD = %v, want ErrInvalid", err)
		}
		buf := make([]byte, 1)
		if n, err := unix.Read(s1, buf); n != 0 || err != nil {
			t.Fatalf("peer read after CloseFD = %d, %v; want end of stream", n, err)
		}
	})
}
