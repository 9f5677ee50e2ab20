package tcpecho

import (
	"errors"
	"fmt"
	"sync"

	"github.com/aioring/aioring/aio"
)

// conn echoes one client with Config.Msgs. The receiving Aio (rx) and the
// sending Aio (tx) run at the same time over two slots, each a message of
// the engine's pool (RecvMsg, then SetMsg and Send, no copy; each freed
// once wholly sent). Until decision 57 (docs/design.md) the example
// echoed this way over two buffers by default too; one Aio in turn
// (loop.go) measured faster.
//
// Invariants, under mu: a slot is in exactly one place, free, being
// received into, queued or being sent; a queued slot's message (with
// -msg) is the connection's until freed; inflight counts the operations
// started and whose callback has not yet taken mu; once eof is set nothing
// more is received, and the connection closes once the queue is sent;
// once closing is set no operation starts, and the socket is closed and
// both Aios reaped when inflight drops to 0.
type conn struct {
	s      *server
	fd     int
	rx, tx *aio.Aio

	mu        sync.Mutex
	free      []int // slots nobody uses
	rxSlot    int   // the slot rx is receiving into
	queue     []filled
	sent      int  // bytes of queue[0] already sent
	sending   bool // tx is sending queue[0]
	receiving bool // rx has a Recv pending
	eof       bool // the client ended its stream: no more receives; close once the queue is sent
	inflight  int
	closing   bool
	why       string
}

// filled is a received slot: message m, of n bytes.
type filled struct {
	slot, n int
	m       *aio.Msg
}

// release gives f's slot back, and its message to the engine's pool.
func (c *conn) release(f filled) {
	f.m.Free()
	c.free = append(c.free, f.slot)
}

func newConn(s *server, fd int) *conn {
	c := &conn{s: s, fd: fd, free: []int{0, 1}}
	c.rx = s.e.NewAio(c.received)
	c.tx = s.e.NewAio(c.sentSome)
	c.rx.SetTimeout(s.idle)
	c.tx.SetTimeout(s.idle)
	return c
}

func (c *conn) start() {
	c.mu.Lock()
	c.recvLocked()
	c.mu.Unlock()
}

// recvLocked starts a RecvMsg for a free slot, if there is one;
// otherwise the next sent message restarts receiving.
func (c *conn) recvLocked() {
	if c.closing || c.eof || c.receiving || len(c.free) == 0 {
		return
	}
	c.rxSlot = c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.receiving = true
	c.inflight++
	c.rx.RecvMsg(c.fd)
}

// sendLocked sends the rest of the first queued slot: its message,
// attached, from the first byte; after a short send, the bytes not yet
// sent through the IOV.
func (c *conn) sendLocked() {
	if c.closing || c.sending || len(c.queue) == 0 {
		return
	}
	f := c.queue[0]
	c.sending = true
	c.inflight++
	if c.sent == 0 {
		c.tx.SetMsg(f.m)
	} else {
		c.tx.SetMsg(nil)
		c.tx.SetIOV(f.m.Bytes()[c.sent:])
	}
	c.tx.Send(c.fd)
}

// received is rx's callback.
func (c *conn) received(a *aio.Aio) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	c.receiving = false
	n, err := a.Count(), a.Result()
	switch {
	case c.closing:
		if m := a.Msg(); err == nil && m != nil {
			m.Free() // arrived as the receive was aborted
		}
	case err != nil:
		c.closeLocked(reason("receive", err))
	case n == 0:
		// The client ended its stream. What it sent before is still
		// owed to it: close once the queue is sent (closing now
		// aborted a pending send and dropped the queue).
		c.free = append(c.free, c.rxSlot)
		c.eof = true
		c.closeIfDoneLocked()
	default:
		c.queue = append(c.queue, filled{c.rxSlot, n, a.Msg()})
		c.sendLocked()
		// A receive that filled a whole message (Buf bytes) left more
		// queued, as a client streaming does: receive again at once, beside the send.
		// A shorter one drained the socket, and the client's next bytes
		// come after it has our echo (a request and its reply): receive
		// once the send is done (sentSome), when they are there, rather
		// than now, when the kernel finds nothing and has to wait for the
		// socket (measured: docs/design.md, decision 34).
		if n == c.s.buf || !c.sending {
			c.recvLocked()
		}
	}
	c.finishLocked()
}

// sentSome is tx's callback.
func (c *conn) sentSome(a *aio.Aio) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	c.sending = false
	n, err := a.Count(), a.Result()
	switch {
	case c.closing:
	case err != nil:
		c.closeLocked(reason("send", err))
	default:
		c.sent += n
		if c.sent == c.queue[0].n {
			c.release(c.queue[0])
			c.queue = c.queue[1:]
			c.sent = 0
		}
		c.sendLocked()
		c.recvLocked()
		c.closeIfDoneLocked()
	}
	c.finishLocked()
}

// closeIfDoneLocked closes the connection once the client has ended its
// stream and everything it sent has been echoed.
func (c *conn) closeIfDoneLocked() {
	if c.eof && !c.sending && len(c.queue) == 0 {
		c.closeLocked("client closed")
	}
}

func reason(op string, err error) string {
	switch {
	case errors.Is(err, aio.ErrTimedOut):
		return "idle timeout (" + op + ")"
	case errors.Is(err, aio.ErrClosed):
		return "server stopping"
	}
	return fmt.Sprintf("%s: %v", op, err)
}

// closeLocked stops the connection: the other direction's pending
// operation is aborted, and finishLocked closes the socket once both have
// ended.
func (c *conn) closeLocked(why string) {
	c.closing, c.why = true, why
	if c.receiving {
		c.rx.Abort(aio.ErrCanceled)
	}
	if c.sending {
		c.tx.Abort(aio.ErrCanceled)
	}
}

func (c *conn) finishLocked() {
	if !c.closing || c.inflight > 0 {
		return
	}
	c.inflight = -1 // finish once
	fmt.Fprintf(c.s.log, "connection %d closed: %s\n", c.fd, c.why)
	for _, f := range c.queue {
		c.release(f) // nothing is in flight: no Send holds its message
	}
	c.queue = nil
	// CloseFD, not close: a RecvMsg's multishot receive would hold the
	// socket open in the kernel (package aio's doc, Messages).
	c.s.e.CloseFD(c.fd)
	// Reap is the way to free an Aio from a callback (its own or another's):
	// each is released once its callback has returned.
	c.rx.Reap()
	c.tx.Reap()
}
