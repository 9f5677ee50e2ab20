//go:build linux

package portable

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

func TestRecvStreakPolicy(t *testing.T) {
	po := &portOp{kind: op.Recv}
	var rs recvStreak
	for i := 0; i < recvSkipAfter; i++ {
		if rs.skip(po) {
			t.Fatalf("skipped after %d waits, want %d first", i, recvSkipAfter)
		}
		rs.note(po, nRead)
	}
	for round := 0; round < 2; round++ {
		for i := 1; i < recvProbeEvery; i++ {
			if !rs.skip(po) {
				t.Fatalf("round %d: receive %d after the streak tried", round, i)
			}
		}
		if rs.skip(po) {
			t.Fatalf("round %d: no probe after %d skips", round, recvProbeEvery-1)
		}
		rs.note(po, nRead) // the probe waited too: skipping goes on
	}
	if !rs.skip(po) {
		t.Fatal("a probe that waited ended the skipping")
	}
	rs.note(po, nDone) // data found at once (by a probe): tries again
	if rs.skip(po) {
		t.Fatal("skipped after a try that found data")
	}
	for _, other := range []*portOp{{kind: op.Send}, {kind: op.RecvFrom}, {kind: op.Recv, nonblock: true}} {
		var rs recvStreak
		for i := 0; i < 4; i++ {
			rs.note(other, nRead)
		}
		if rs.skip(other) {
			t.Errorf("kind %v, attempt %v: skipped", other.kind, other.nonblock)
		}
	}
}

// With the first try skipped, data that is already there is still
// received (the arm looks at readiness), and a descriptor the poller
// refuses gets the call's own error, not the poller's.
func TestRecvSkippedTryLosesNothing(t *testing.T) {
	p, s := startBackend(t)
	fds := socketPair(t)
	buf := make([]byte, 16)
	d := &op.Desc{Kind: op.Recv, FD: int32(fds[0])}
	d.Iov.Base = &buf[0]
	d.Iov.SetLen(len(buf))
	token := uint64(0)
	recv := func() op.Result {
		t.Helper()
		token++
		d.Token = token
		if err := p.Queue(d); err != nil {
			t.Fatal(err)
		}
		p.Submit(d, 0)
		select {
		case got := <-s:
			if got.token != token {
				t.Fatalf("result for token %d, want %d", got.token, token)
			}
			return got.r
		case <-time.After(10 * time.Second):
			t.Fatalf("receive %d never ended", token)
		}
		return op.Result{}
	}
	for i := 0; i < 4; i++ { // each receive waits: the streak builds
		go func() { time.Sleep(5 * time.Millisecond); unix.Write(fds[1], []byte("w")) }()
		if r := recv(); r.Res != 1 || buf[0] != 'w' {
			t.Fatalf("receive %d that waited: %+v", i, r)
		}
	}
	if po := d.Backend.(*portOp); po.recvWaits.waited != recvSkipAfter {
		t.Fatalf("streak %d after receives that waited, want %d", po.recvWaits.waited, recvSkipAfter)
	}
	unix.Write(fds[1], []byte("already here"))
	if r := recv(); r.Res != 12 || string(buf[:12]) != "already here" {
		t.Fatalf("receive with data waiting, its try skipped: %+v %q", r, buf[:r.Res])
	}
	// The number now names a regular file, which epoll refuses (EPERM):
	// the receive reports recv(2)'s ENOTSOCK.
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Dup3(int(f.Fd()), fds[0], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if r := recv(); r.Res != -int32(unix.ENOTSOCK) {
		t.Fatalf("receive on a regular file after the streak: %+v, want -ENOTSOCK", r)
	}
}
