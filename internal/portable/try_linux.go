//go:build linux

package portable

// A read at an offset tried first by the aio package, on its starter and,
// for at most filetry.InlineMax bytes, under the Aio's lock (decision 66):
// one preadv2(RWF_NOWAIT) in the critical section that begins the
// operation, which a page-cache hit then ends there too, without the
// backend's lock (mu) or its queues. A read the page cache does not hold
// then goes straight to a file worker when it is queued (toWorker),
// skipping the starter's own try, which would only be refused again and
// then ask epoll, which refuses regular files. An O_DIRECT read is left
// to Submit as before: its starter's preadv2 waits for the device there,
// which measured cheaper than a file worker's hand-off (decision 66).

import (
	"github.com/aioring/aioring/internal/filetry"
	"github.com/aioring/aioring/internal/op"
)

// readTry is what a portOp keeps about its Aio's tries.
type readTry = filetry.State

// Try implements backend: a Read at an offset, through internal/filetry.
// done false leaves d to Queue and Submit as if untried; a read that will
// wait for a device is marked (missToken) for Queue to send to a file
// worker. Splices and other operations are tried by Submit instead.
func (p *Backend) Try(d *op.Desc) (op.Result, bool) {
	if d.Kind == op.Write {
		// A buffered write where RWF_NOWAIT is refused (ext4) made here
		// rather than by a file worker (decision 68); what it declines
		// Submit tries as before.
		r, out := p.portOpOf(d).rtry.Write(d)
		return r, out == filetry.Done
	}
	if d.Kind != op.Read {
		return op.Result{}, false
	}
	po := p.portOpOf(d)
	r, out := po.rtry.Read(d)
	po.missToken = 0
	if out == filetry.NotCached {
		po.missToken = d.Token
	}
	return r, out == filetry.Done
}

// TryUnderLock implements backend: a read of at most filetry.InlineMax
// bytes is one preadv2 that never waits, short enough for the Aio's lock.
func (p *Backend) TryUnderLock(d *op.Desc) bool {
	return d.Kind == op.Read && d.Len() <= filetry.InlineMax
}

// TriesFiles reports whether the aio package should try reads (and
// writes) at an offset first (Try): on Linux, where RWF_NOWAIT exists.
func (p *Backend) TriesFiles() bool { return true }
