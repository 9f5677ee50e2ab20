package aio

import (
	"sync/atomic"
)

// Msg is a received message in a buffer of the engine's pool
// (nng_msg, for the bytes it carries). RecvMsg hands one to the caller,
// who gives it back with Free; SetMsg attaches one to an Aio for Send.
//
// Ownership: a live Msg belongs to the program; the engine never frees
// one by itself. Free returns the buffer to the pool, from which the
// kernel may fill it again at once: every use after Free is a bug, and the
// engine panics on the ones it can see (a second Free, Bytes after Free,
// a Send of a freed Msg). Msg values are recycled (that keeps a receive
// free of allocations), but only through a first-in first-out list at
// least as long as the pool, so a stale *Msg stays detectably freed until
// at least MsgBuffers later messages have been received on its ring.
type Msg struct {
	pool msgPool
	buf  []byte // the whole pool buffer
	off  int    // where the bytes start in buf (after a multishot RECVMSG's header)
	n    int    // bytes received
	// A datagram received by a multishot RECVMSG: its source is in buf
	// (msgdgram.go), nameLen bytes long; the receiving Aio copies it out
	// for From when it takes the Msg.
	dgram   bool
	nameLen uint8
	bid     uint16 // buffer id in the pool
	h       uint32 // handle index in the pool
	live    atomic.Bool
}

// Bytes returns the message's bytes, valid until Free. It panics after
// Free.
func (m *Msg) Bytes() []byte {
	if !m.live.Load() {
		panic("aio: Msg.Bytes called after Free (use after free)")
	}
	return m.buf[m.off : m.off+m.n : m.off+m.n]
}

// Free gives the buffer back to the engine's pool. A second Free, or any
// use after Free, panics: a buffer must never be handed out twice.
func (m *Msg) Free() {
	if !m.live.CompareAndSwap(true, false) {
		panic("aio: Msg.Free called twice (or on a Msg already freed): a buffer must never be handed out twice")
	}
	m.pool.give(m)
}

// SetMsg attaches m to the Aio: Send then sends m's bytes instead of the
// IOV. nil detaches. The engine never frees m; the caller still owns it,
// and must keep it live until the Send's callback.
func (a *Aio) SetMsg(m *Msg) {
	a.mu.Lock()
	if m != nil || a.x != nil {
		a.extra().attached = m
	}
	a.unlock()
}

// Msg returns the attached message: after a successful RecvMsg, the
// message received (now the caller's, to Free); nil at end of stream.
func (a *Aio) Msg() *Msg {
	a.mu.Lock()
	defer a.unlock()
	if a.x == nil {
		return nil
	}
	return a.x.attached
}

// msgPool is a ring's pool of message buffers. The io_uring pool publishes
// free buffers to the kernel's provided-buffer ring; another backend can
// supply its own (it receives into a buffer it takes with get). A pool
// locks what it needs itself and makes no system call under its lock: it
// is called under a descriptor's state lock or an Aio's (take, put, get,
// starve), under its ring's msgRing.waitMu (starve), and with no lock
// held from Free (give).
type msgPool interface {
	// take turns buffer bid, which the kernel selected and filled with n
	// bytes, into a live Msg.
	take(bid uint16, n int) *Msg
	// get takes a free buffer for a receive the engine points at it
	// itself; it returns a Msg that is not live yet (n is its capacity),
	// or nil when none is free.
	get() *Msg
	// put returns a buffer taken by get or take that never went live
	// (or whose Msg the engine itself retires: end of stream, Close).
	put(m *Msg)
	// give is Free's half: the buffer of a Msg that was live goes back.
	give(m *Msg)
	// starve records a receive stopped for lack of buffers, to be woken
	// (msgEngine.buffersBack) when one comes back; it records nothing and
	// reports false when a buffer is free after all.
	starve() bool
	// fed undoes one starve, when the receive is woken or gives up.
	fed()
	// group reports the kernel buffer group the pool feeds, if any.
	group() (uint16, bool)
	// close releases the pool's memory; the ring using it is closed.
	close()
}
