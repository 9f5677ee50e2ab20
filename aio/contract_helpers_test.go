package aio_test

// Helpers shared by the contract tests: engines that close themselves,
// callbacks that record what they saw, and descriptors (socketpairs,
// loopback TCP, pipes, temp files) that are closed exactly once.

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// waitLimit bounds every wait for a callback. It is far above any latency
// the engine should show, so a timeout means a lost completion, not a slow
// machine.
const waitLimit = 10 * time.Second

// newEngine makes an engine that is closed when the test ends.
func newEngine(t testing.TB, cfg aio.Config) *aio.Engine {
	t.Helper()
	e, err := aio.NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// call is what a recorder saw in one callback.
type call struct {
	err   error
	count int
	goid  int64
	out0  any
	at    time.Time
}

// recorder is a callback that counts its calls and reports each on a
// channel.
type recorder struct {
	n  atomic.Int32
	ch chan call
}

func newRecorder() *recorder { return &recorder{ch: make(chan call, 4096)} }

func (r *recorder) cb(a *aio.Aio) {
	r.n.Add(1)
	r.ch <- call{err: a.Result(), count: a.Count(), goid: goid(), out0: a.Output(0), at: time.Now()}
}

// next waits for the next callback.
func (r *recorder) next(t testing.TB) call {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no callback within %v", waitLimit)
	}
	panic("unreachable")
}

// ended waits for a's operation to end and returns its result and count:
// from rec when a runs rec's callback (withCallback), else after Wait.
func ended(t testing.TB, a *aio.Aio, rec *recorder, withCallback bool) (error, int) {
	t.Helper()
	if withCallback {
		c := rec.next(t)
		return c.err, c.count
	}
	a.Wait()
	return a.Result(), a.Count()
}

// goid returns the calling goroutine's id from its stack header.
func goid() int64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic("cannot parse goroutine id: " + err.Error())
	}
	return id
}

// own registers fd for closing at the end of the test and returns an
// idempotent close function, so a test may close it early without the
// cleanup closing a number the process has since reused.
func own(t testing.TB, fd int) func() {
	t.Helper()
	var once sync.Once
	c := func() { once.Do(func() { unix.Close(fd) }) }
	t.Cleanup(c)
	return c
}

// socketpair returns a connected pair of stream sockets.
func socketpair(t testing.TB) (a, b int, closeA, closeB func()) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|tSockCloexec, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	return fds[0], fds[1], own(t, fds[0]), own(t, fds[1])
}

// tcpSocket returns a new blocking IPv4 TCP socket.
func tcpSocket(t testing.TB) (int, func()) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|tSockCloexec, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	return fd, own(t, fd)
}

var loopback = [4]byte{127, 0, 0, 1}

// listener returns a TCP socket listening on 127.0.0.1 and its address.
func listener(t testing.TB, backlog int) (int, *unix.SockaddrInet4, func()) {
	t.Helper()
	fd, closeFd := tcpSocket(t)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: loopback}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fd, sa.(*unix.SockaddrInet4), closeFd
}

// dial connects a new blocking TCP socket to sa with plain syscalls.
func dial(t testing.TB, sa unix.Sockaddr) (int, func()) {
	t.Helper()
	fd, closeFd := tcpSocket(t)
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return fd, closeFd
}

// fullListener returns a listener whose accept queue is full, so a further
// connect to it blocks (the kernel drops its SYNs).
func fullListener(t testing.TB) *unix.SockaddrInet4 {
	t.Helper()
	_, sa, _ := listener(t, 0)
	dial(t, sa) // fills the queue of a backlog-0 listener
	return sa
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) *unix.SockaddrInet4 {
	t.Helper()
	fd, sa, closeFd := listener(t, 1)
	_ = fd
	closeFd()
	return sa
}

// pipe returns the read and write ends of a pipe.
func pipe(t testing.TB) (r, w int, closeR, closeW func()) {
	t.Helper()
	var p [2]int
	if err := tPipe(p[:]); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	return p[0], p[1], own(t, p[0]), own(t, p[1])
}

// fill writes to fd until the kernel would block, so that a blocking write
// on it waits. fd is left in blocking mode.
func fill(t testing.TB, fd int) {
	t.Helper()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatalf("set nonblock: %v", err)
	}
	chunk := make([]byte, 64<<10)
	for {
		_, err := unix.Write(fd, chunk)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatalf("filling fd %d: %v", fd, err)
		}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatalf("clear nonblock: %v", err)
	}
}

// tempFile creates a file holding content and opens it with flags.
func tempFile(t testing.TB, content string, flags int) int {
	t.Helper()
	_, fd := tempFileAt(t, content, flags)
	return fd
}

// tempFileAt is tempFile that also returns the file's path.
func tempFileAt(t testing.TB, content string, flags int) (path string, fd int) {
	t.Helper()
	path = tempPath(t, content)
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	own(t, fd)
	return path, fd
}

// tempPath creates a file holding content in a new temporary directory
// and returns its path.
func tempPath(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// drain reads what fd holds now without blocking (fd must be a socket or
// pipe that can be made non-blocking).
func drain(t testing.TB, fd int) []byte {
	t.Helper()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	defer unix.SetNonblock(fd, false)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN || n == 0 {
			return out
		}
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		out = append(out, buf[:n]...)
	}
}

// write writes all of p to fd.
func write(t testing.TB, fd int, p string) {
	t.Helper()
	n, err := unix.Write(fd, []byte(p))
	if err != nil || n != len(p) {
		t.Fatalf("write: %d, %v", n, err)
	}
}

// mustPanic runs f and returns the panic's message; it fails the test if f
// does not panic.
func mustPanic(t testing.TB, what string, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("%s did not panic", what)
		}
		msg = panicText(r)
	}()
	f()
	return ""
}

func panicText(r any) string {
	switch v := r.(type) {
	case string:
		return v
	case error:
		return v.Error()
	}
	return "<non-string panic>"
}

// openFDs counts the process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory ReadDir itself had open
}

// allStacks returns every goroutine's stack, for failure messages.
func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
