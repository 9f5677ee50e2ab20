//go:build linux

package portable

import (
	"testing"
	"time"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/internal/seat"
	"golang.org/x/sys/unix"
)

// sink collects results by token.
type sink chan result

type result struct {
	token uint64
	r     op.Result
}

func (s sink) CompleteOp(token uint64, r op.Result, _ *seat.Batch) { s <- result{token, r} }

func monoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// The backend reports in op's terms, with no aio type in sight: an attempt
// that would block is WouldBlock, a deadline is TimedOut, a cancel is
// Interrupted, data is Completed with its count.
func TestReportsInOpTerms(t *testing.T) {
	p, s := startBackend(t)
	fds := socketPair(t)
	buf := make([]byte, 8)
	recv := func(token uint64) *op.Desc {
		d := &op.Desc{Kind: op.Recv, FD: int32(fds[0]), Token: token}
		d.Iov.Base = &buf[0]
		d.Iov.SetLen(len(buf))
		return d
	}
	wait := func(want uint64) op.Result {
		t.Helper()
		select {
		case got := <-s:
			if got.token != want {
				t.Fatalf("result for token %d, want %d", got.token, want)
			}
			return got.r
		case <-time.After(10 * time.Second):
			t.Fatalf("no result for token %d", want)
		}
		return op.Result{}
	}
	start := func(d *op.Desc) {
		t.Helper()
		if err := p.Queue(d); err != nil {
			t.Fatal(err)
		}
		p.Submit(d, 0)
	}

	d := recv(1)
	d.Attempt = true
	start(d)
	if r := wait(1); r.End != op.WouldBlock {
		t.Errorf("attempt on an empty socket: %+v, want WouldBlock", r)
	}

	d = recv(2)
	d.Deadline.Rel = int64(20 * time.Millisecond)
	start(d)
	if r := wait(2); r.End != op.TimedOut {
		t.Errorf("deadline on an empty socket: %+v, want TimedOut", r)
	}

	d = recv(3)
	start(d)
	if err := p.Cancel(d); err != nil {
		t.Fatal(err)
	}
	p.Push(0)
	if r := wait(3); r.End != op.Interrupted {
		t.Errorf("cancelled while waiting: %+v, want Interrupted", r)
	}

	d = recv(4)
	start(d)
	unix.Write(fds[1], []byte("hello"))
	if r := wait(4); r.End != op.Completed || r.Res != 5 || string(buf[:5]) != "hello" {
		t.Errorf("data: %+v %q, want Completed with 5", r, buf[:5])
	}
}

// startWithoutPreadv2 starts a backend that behaves as on a kernel
// without preadv2 (noRWv2, restored when t ends) and returns it with the
// sink of its results.
func startWithoutPreadv2(t *testing.T) (*Backend, sink) {
	t.Helper()
	noRWv2.Store(true)
	t.Cleanup(func() { noRWv2.Store(false) })
	return startBackend(t)
}

// startBackend starts a backend with two callback goroutines and no busy
// poll, closed when t ends, and returns it with the sink of its results.
func startBackend(t *testing.T) (*Backend, sink) {
	t.Helper()
	s := make(sink, 4)
	p, err := Start(s, monoNow, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, s
}

// socketPair returns a connected AF_UNIX stream pair, closed when t ends.
func socketPair(t *testing.T) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds
}

// startRW queues and submits a read or write of buf on fd at off.
func startRW(t *testing.T, p *Backend, token uint64, kind op.Kind, fd int, off int64, buf []byte, attempt bool) *op.Desc {
	t.Helper()
	d := &op.Desc{Kind: kind, FD: int32(fd), Off: off, Token: token, Attempt: attempt}
	d.Iov.Base = &buf[0]
	d.Iov.SetLen(len(buf))
	if err := p.Queue(d); err != nil {
		t.Fatal(err)
	}
	p.Submit(d, 0)
	return d
}

// next is the sink's next result, or a failure after 10 s.
func (s sink) next(t *testing.T) op.Result {
	t.Helper()
	select {
	case got := <-s:
		return got.r
	case <-time.After(10 * time.Second):
		t.Fatal("no result within 10 s (a file worker blocked?)")
	}
	return op.Result{}
}

// Without preadv2 (a kernel before 4.6, or qemu-user, which has none),
// reads and writes go through preadv/pwritev, and readv/writev at the file
// position; a zero-timeout attempt on a file still ends (it can no longer
// be told the data is cached, so it is read by a file worker).
func TestReadWriteWithoutPreadv2(t *testing.T) {
	p, s := startWithoutPreadv2(t)
	fd, err := unix.Open(t.TempDir()+"/f", unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	run := func(token uint64, kind op.Kind, off int64, buf []byte, attempt bool) op.Result {
		t.Helper()
		startRW(t, p, token, kind, fd, off, buf, attempt)
		return s.next(t)
	}
	if r := run(1, op.Write, 4, []byte("world"), false); r.End != op.Completed || r.Res != 5 {
		t.Fatalf("pwritev at 4: %+v", r)
	}
	if r := run(2, op.Write, -1, []byte("hell"), false); r.End != op.Completed || r.Res != 4 {
		t.Fatalf("writev at the file position: %+v", r)
	}
	buf := make([]byte, 9)
	if r := run(3, op.Read, 0, buf, false); r.End != op.Completed || r.Res != 9 || string(buf) != "hellworld" {
		t.Fatalf("preadv at 0: %+v %q, want hellworld", r, buf)
	}
	clear(buf)
	if r := run(4, op.Read, 4, buf, true); r.End != op.Completed || r.Res != 5 || string(buf[:5]) != "world" {
		t.Fatalf("zero-timeout attempt at 4: %+v %q, want world", r, buf[:5])
	}
}

// Without preadv2 a write to a pipe cannot be made non-blocking per call:
// after its readiness it is cut to a page, so a cancel still ends a write
// to a full pipe (a blocking write on a file worker would hold it until
// the reader drained the pipe), and a write larger than the pipe's room
// ends short instead of blocking.
func TestPipeWriteWithoutPreadv2(t *testing.T) {
	p, s := startWithoutPreadv2(t)
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	big := make([]byte, 1<<20)
	// An empty pipe: the write ends after at most a page.
	startRW(t, p, 1, op.Write, fds[1], -1, big, false)
	if r := s.next(t); r.End != op.Completed || r.Res <= 0 || r.Res > capWriteMax {
		t.Fatalf("write of 1 MiB into an empty pipe: %+v, want 1 to %d bytes", r, capWriteMax)
	}
	// Fill it, then a write waits for room, and a cancel ends it.
	unix.SetNonblock(fds[1], true)
	for {
		if _, err := unix.Write(fds[1], big[:4096]); err != nil {
			break
		}
	}
	unix.SetNonblock(fds[1], false)
	d := startRW(t, p, 2, op.Write, fds[1], -1, big, false)
	time.Sleep(20 * time.Millisecond)
	if err := p.Cancel(d); err != nil {
		t.Fatal(err)
	}
	p.Push(0)
	if r := s.next(t); r.End != op.Interrupted {
		t.Fatalf("cancelled write into a full pipe: %+v, want Interrupted", r)
	}
}
