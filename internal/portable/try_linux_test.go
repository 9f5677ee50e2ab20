//go:build linux

package portable

import (
	"os"
	"testing"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/internal/pagecache"
	"golang.org/x/sys/unix"
)

// A read whose try found the page cache without its data goes straight to
// a file worker when it is queued (toWorker), and only that read: the mark
// is the operation's token, so a later operation of the same Aio that was
// not tried (here a read at the file position of an empty pipe, which
// must wait for readiness, where a cancel can end it) never inherits it
// from a try that was not followed by a queue (an abort in between, say).
func TestTryMissMarksOnlyItsOwnRead(t *testing.T) {
	p, s := startBackend(t)

	path := t.TempDir() + "/cold"
	if err := os.WriteFile(path, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil { // clean pages can be dropped
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := unix.Preadv2(fd, [][]byte{buf}, 0, unix.RWF_NOWAIT); err != nil && err != unix.EAGAIN {
		t.Skipf("preadv2 with RWF_NOWAIT: %v: nothing is tried here", err)
	}
	var po *portOp
	// RWF_NOWAIT starts the readahead of a page it does not find, and a
	// fast disk may finish it inside the call; then the try found the
	// data. Drop it again and retry, up to a bound.
	for token := uint64(1); ; token++ {
		if token == 20 {
			t.Skip("every try found the page: this disk finishes the readahead inside preadv2(RWF_NOWAIT)")
		}
		pagecache.Drop(t, fd)
		d := &op.Desc{Kind: op.Read, FD: int32(fd), Off: 0, Token: token}
		if po != nil {
			d.Backend = po
		}
		d.Iov.Base = &buf[0]
		d.Iov.SetLen(len(buf))
		if _, done := p.Try(d); done {
			po = d.Backend.(*portOp)
			continue
		}
		if err := p.Queue(d); err != nil {
			t.Fatal(err)
		}
		po = d.Backend.(*portOp)
		if !po.toWorker {
			t.Fatal("a read that its try found uncached is not marked for a file worker")
		}
		p.Submit(d, 0)
		if r := s.next(t); r.End != op.Completed || r.Res != 4096 {
			t.Fatalf("uncached read through a file worker: %+v, want 4096 bytes", r)
		}
		break
	}

	// A try's mark left behind (as by a try that missed and an abort
	// before the queue), and then another operation.
	po.missToken = 1000
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	d := &op.Desc{Kind: op.Read, FD: int32(pipe[0]), Off: -1, Token: 1001, Backend: po}
	d.Iov.Base = &buf[0]
	d.Iov.SetLen(len(buf))
	if err := p.Queue(d); err != nil {
		t.Fatal(err)
	}
	if po.toWorker {
		t.Fatal("a read that was not tried inherited another operation's mark")
	}
	p.Submit(d, 0)
	// Waiting for readiness, so a cancel ends it (a file worker blocked
	// in the pipe's read would not let it).
	if err := p.Cancel(d); err != nil {
		t.Fatal(err)
	}
	p.Push(0)
	if r := s.next(t); r.End != op.Interrupted {
		t.Fatalf("cancelled read of an empty pipe: %+v, want Interrupted", r)
	}
}
