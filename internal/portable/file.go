//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package portable

// Files by name, metadata and durability (op.Kind.IsFile: OpenAt, Statx,
// Close, Fdatasync, Fallocate) on the portable backend: one blocking call
// on a file worker, as fsync is. Unlike a read, such a call may block for
// as long as something else decides (an open of a FIFO waits for its
// peer, a lookup on a hung network file system for the server), and no
// goroutine's system call can be interrupted. So a cancel, or the Aio's
// timer, does not wait for it: the worker is detached from the call
// (detachLocked), the operation ends at once with the cancel's error, and
// what the call produces later is disposed of by the worker itself (a
// descriptor an open returned is closed; a stat result is dropped). For
// that the worker reads nothing the Aio may reuse: the path is copied
// into the portOp at Queue, statx writes into the portOp's scratch and is
// copied into the caller's struct only if the operation is still the
// caller's, and a detached portOp is never given to another operation.

import (
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// fileOp is a files-by-name operation's part of a portOp.
type fileOp struct {
	path   []byte // the NUL-terminated path, the backend's own copy
	flags  uint32
	mode   uint32
	length int64
	stat   unsafe.Pointer // the caller's struct statx
	stx    statxBuf       // statx writes here; copied to stat on success
	// detached: a cancel ended the operation while a worker was in its
	// call; that worker alone holds the portOp from then on.
	detached bool
}

// queue copies d's arguments; the path buffer is grown as needed and
// reused, so a warm Aio allocates nothing.
func (f *fileOp) queue(d *op.Desc) {
	f.path = append(f.path[:0], d.Path...)
	f.flags, f.mode, f.length, f.stat = d.Flags, d.Mode, d.Length, d.Stat
	f.detached = false
}

// blockFile runs po's files-by-name call on the calling file worker
// (p.mu held, po popped from fileQ) and ends it, unless a cancel detached
// it meanwhile. It returns with p.mu held, or false, without it, when the
// worker was detached and must leave.
func (p *Backend) blockFile(po *portOp) bool {
	po.state = pBlocking
	p.mu.Unlock()
	res := fileCall(po)
	p.mu.Lock()
	if po.file.detached {
		p.mu.Unlock()
		if po.kind == op.OpenAt && res >= 0 {
			// Its operation ended as cancelled or timed out: the
			// descriptor is nobody's, so it is closed here.
			unix.Close(int(res))
		}
		return false
	}
	if po.kind == op.Statx && res >= 0 {
		copyStatx(po.file.stat, &po.file.stx)
	}
	token := p.endLocked(po)
	p.mu.Unlock()
	p.sink.CompleteOp(token, op.Result{Res: res}, nil)
	p.mu.Lock()
	return true
}

// closeUnmade closes fd for a Close that a cancel (or the backend's
// Close) ended before its call was made: a close is never left undone,
// so the descriptor is not leaked whoever ended the operation. Called
// with no lock held.
func closeUnmade(fd int32) { unix.Close(int(fd)) }

// detachLocked ends po, whose worker is in a call that cannot be
// interrupted, as end (by the next Push). The worker leaves the pool (a
// new one may start in its place, so a call that never returns does not
// shrink the pool) and no longer counts for Close, which does not wait
// for it; it disposes of the call's result when it returns.
func (p *Backend) detachLocked(po *portOp, end op.End) {
	po.file.detached = true
	p.fileN--
	p.wg.Done()
	p.doneLocked(po, end)
}
