package aio

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
// Cost: one more SQE and, when no other goroutine submits meanwhile, one
// io_uring_enter per ring and CloseFD, and the kernel's search of its
// pending requests. A program that never starts a request that may wait
// without end (engine.ringWaits: socket transfers, accepts, connects,
// splices, messages) pays none of it: a regular file's reads and writes
// end by themselves, which is what the files-by-name chains close.
// A ReadAt of a pipe waits without end too, but is not told apart from a
// file's read when it starts; in a program that uses no socket on the
// engine, Cancel or Stop ends it.

// noteRingWaiter records that an operation of kind, which may wait
// without end, is started on the engine: from then on CloseFD cancels
// its descriptor's requests. One load per such start once set.
func (e *Engine) noteRingWaiter(kind opKind) {
	switch kind {
	case opRecv, opSend, opRecvFrom, opSendTo, opAccept, opConnect, opSplice, opRecvMsg:
		if !e.ringWaits.Load() {
			e.ringWaits.Store(true)
		}
	}
}

// cancelFDRequests ends every request on fd in the engine's rings, before
// CloseFD closes it. Called with no lock held.
func (e *Engine) cancelFDRequests(fd int) {
	if e.backend != BackendIOURing || !e.ringWaits.Load() {
		return
	}
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
