package aio

import (
	"sync"
	"sync/atomic"

	"github.com/aioring/aioring/internal/op"
)

// A closed descriptor's requests in the ring (CloseFD).
//
// A request the kernel has taken holds its file: close(2) of the
// descriptor drops the descriptor only, so a Recv, Send, Accept or Splice
// waiting in the ring would go on waiting (its socket kept open, its peer
// never seeing the close) until data, its timeout or a Cancel came. So
// CloseFD, on a ring engine, first queues an ASYNC_CANCEL of every request
// on the descriptor (IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL,
// 5.19) on each ring, and sees it into the kernel before the close: the
// kernel resolves the descriptor when it issues the cancel, so a number
// closed and reused afterwards is never matched. The requests end with
// -ECANCELED; with no abort of the Aio's own and before any deadline of
// its operation, resultLocked reports that as ErrClosed, as the portable
// backend reports the waits CloseFD ends there (op.Closed).
//
// The kernel matches a file, not a number: the cancel also ends requests
// made through another descriptor of the same open file (a dup(2), an
// inherited copy), which close(2) of this one leaves alone. So each
// CloseFD takes a number in sequence (fdCloses.seq) and records it as its
// descriptor's last close (fdCloses), each operation records the count
// when it begins (op.Desc.CloseSeq), and a request that ends cancelled
// with no abort of its Aio's own and before its deadline reads ErrClosed
// only if its own descriptor was closed since it began; otherwise another
// descriptor's close caught it, and it is queued again as it was
// (retryAndUnlock), as a socket transfer the kernel gives back is
// (decision 78). An operation begun on a descriptor while another
// goroutine closes that descriptor races with the close, as with
// close(2).
//
// Cost: one more SQE and, when no other goroutine submits meanwhile, one
// io_uring_enter per ring and CloseFD, and the kernel's search of its
// pending requests. A program that never starts a request that may wait
// without end (Engine.ringWaits: socket transfers, accepts, connects,
// splices, messages) pays none of it: a regular file's reads and writes
// end by themselves, which is what the files-by-name chains close.
// A read or write of a pipe, a socket or a terminal (ReadAt, WriteAt)
// waits without end too: the engine learns it at the try before the
// ring, which a stream always declines (op.Desc.Stream: ESPIPE at an
// offset, or not a regular file at the file position), and from then on
// CloseFD cancels as for sockets (noteStreamWaiter). With Config.RingOnly
// nothing is tried, nor a registered descriptor's read at an offset: in a
// program that uses no socket on such an engine, Cancel or Stop ends
// such a read.

// noteRingWaiter records that an operation of kind, which may wait
// without end, is started on the engine: from then on CloseFD cancels
// its descriptor's requests. One load per such start once set.
func (e *Engine) noteRingWaiter(kind opKind) {
	switch kind {
	case opRecv, opSend, opRecvFrom, opSendTo, opAccept, opConnect, opSplice, opRecvMsg:
		e.noteStreamWaiter()
	}
}

// noteStreamWaiter records that a request which may wait without end goes
// to the ring (a socket's, or a read or write of a stream: op.Desc.Stream):
// from then on CloseFD cancels its descriptor's requests. A load, and a
// store only the first time.
func (e *Engine) noteStreamWaiter() {
	if !e.ringWaits.Load() {
		e.ringWaits.Store(true)
	}
}

// cancelFDRequests ends every request on fd in the engine's rings, before
// CloseFD closes it. Called with no lock held.
func (e *Engine) cancelFDRequests(fd int) {
	if e.backend != BackendIOURing || !e.ringWaits.Load() {
		return
	}
	e.fdCloses.add(int32(fd)) // before any request can end by it
	for _, sh := range e.shards {
		rg, ok := sh.(ringer)
		if !ok {
			continue
		}
		if t, err := rg.QueueCancelFD(int32(fd)); err == nil {
			rg.SubmitThrough(t)
		}
	}
}

// fdCloses is, for each descriptor number CloseFD cancelled requests of,
// the sequence number of its last such close (seq's value then). It holds
// one entry per number ever closed so, which the process's descriptor
// table bounds.
type fdCloses struct {
	mu   sync.Mutex
	seq  atomic.Uint32 // CloseFDs with a cancel so far
	last map[int32]uint32
}

// add records a CloseFD of fd as the next in sequence.
func (c *fdCloses) add(fd int32) {
	c.mu.Lock()
	if c.last == nil {
		c.last = make(map[int32]uint32)
	}
	c.last[fd] = c.seq.Add(1)
	c.mu.Unlock()
}

// closedSince reports whether CloseFD cancelled fd's requests after the
// count was seq (an operation's CloseSeq): wrapping, as the count does
// after 2^32 closes.
func (c *fdCloses) closedSince(fd int32, seq uint32) bool {
	c.mu.Lock()
	at, ok := c.last[fd]
	c.mu.Unlock()
	return ok && int32(at-seq) > 0
}

// caughtByOtherCloseLocked reports whether an operation that ended with r
// was cancelled by a CloseFD of another descriptor of its file, and is to
// be queued again. Called with a.mu held.
func (a *Aio) caughtByOtherCloseLocked(r op.Result) bool {
	return r.End == op.Interrupted && a.abortErr == nil && !a.desc.Attempt &&
		a.e.ringWaits.Load() && !a.deadlineCameLocked() &&
		!a.e.fdCloses.closedSince(a.desc.FD, a.desc.CloseSeq)
}
