package aio

// A Recv or RecvFrom on a descriptor that a RecvMsg receives from through
// a multishot request (msgfd.go).
//
// The multishot belongs to the descriptor and stays armed after its
// RecvMsg ends, taking whatever arrives into the queue of its state for
// the next RecvMsg. A Recv or RecvFrom sent to the kernel beside it would
// race it for the socket's data: it would wait while the data sat in the
// queue, and then take some of what arrives while the multishot took the
// rest, out of order. So while the descriptor has a state, a Recv or
// RecvFrom is served from that queue as a RecvMsg is, in order with the
// RecvMsgs, and waits on it as they do (with its timeout, its cancel and
// its zero-timeout attempt):
//
//   - A stream's message is copied into the IOV; what does not fit stays
//     at the head of the queue (the Msg's off and n move past what was
//     taken), for the next receive of either kind.
//   - A datagram is copied into the IOV truncated, as recvmsg(2) truncates
//     it, the rest dropped; a RecvFrom gets its source for From.
//   - An emptied buffer goes back to the pool once every lock is released
//     (msgAfter.giveLater), as Msg.Free gives it back.
//
// Without a state, or on a listening socket's accept state, the receive is
// the kernel's as ever. Looking costs one atomic load while no descriptor
// of the engine has a state (msgEngine.live), and one map lookup under its
// shard's lock otherwise.

import "github.com/aioring/aioring/internal/completion"

// recvQueued starts a's Recv or RecvFrom (kind) on fd from fd's multishot
// queue if fd has one, and reports whether it did.
func (a *Aio) recvQueued(fd int, kind opKind) bool { return a.startQueued(fd, false, kind) }

// finishCopy ends waiter a's Recv or RecvFrom with the head of st's
// queue. Called with st.mu held, as finishWaiter.
func (ms *msgEngine) finishCopy(a *Aio, st *fdState, b *completion.Batch, after *msgAfter) {
	a.mu.Lock()
	if a.sh != st.sh {
		b = nil // the batch belongs to another ring's reaper
	}
	kind := a.x.waitCopy
	a.x.waitSt, a.x.waitCopy = nil, 0
	ms.copyOutLocked(a, st, kind, b, after)
	a.unlock()
}

// copyOutLocked ends a's Recv or RecvFrom (kind) with the head of st's
// queue (a message: st is no accept state), taken off the queue unless a
// stream's message had more than the IOV holds. Called with st.mu and
// a.mu held.
func (ms *msgEngine) copyOutLocked(a *Aio, st *fdState, kind opKind, b *completion.Batch, after *msgAfter) {
	m := st.q[st.qh].m
	n := a.copyToIOVLocked(m.buf[m.off : m.off+m.n])
	if m.dgram || n == m.n {
		ms.popLocked(st)
		if m.dgram && kind == opRecvFrom {
			a.sourceOfLocked(m)
		}
		m.live.Store(false)
		after.giveLater(m)
	} else {
		m.off += n
		m.n -= n
	}
	a.finishLocked(nil, n, b)
}

// copyToIOVLocked copies p into a's IOV, buffer by buffer, and returns
// how much it copied. Called with a.mu held.
func (a *Aio) copyToIOVLocked(p []byte) int {
	n := 0
	for i := 0; i < int(a.niov) && n < len(p); i++ {
		buf := a.iov0
		if i > 0 {
			buf = a.x.iov[i-1]
		}
		n += copy(buf, p[n:])
	}
	return n
}
