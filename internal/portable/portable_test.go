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
	s := make(sink, 4)
	p, err := Start(s, monoNow, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
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
