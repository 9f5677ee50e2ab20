//go:build linux

package main

import (
	"errors"
	"fmt"
	"sync"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// conn echoes one client. The receiving Aio (rx) and the sending Aio (tx)
// run at the same time over two buffers.
//
// Invariants, under mu: a buffer is in exactly one place, free, being
// received into, queued or being sent; inflight counts the operations
// started and whose callback has not yet taken mu; once closing is set no
// operation starts, and the socket is closed and both Aios reaped when
// inflight drops to 0.
type conn struct {
	s      *server
	fd     int
	rx, tx *aio.Aio

	mu        sync.Mutex
	bufs      [2][]byte
	free      []int // buffers nobody uses
	rxBuf     int   // the buffer rx is receiving into
	queue     []filled
	sent      int  // bytes of queue[0] already sent
	sending   bool // tx is sending queue[0]
	receiving bool // rx has a Recv pending
	inflight  int
	closing   bool
	why       string
}

type filled struct{ buf, n int }

func newConn(s *server, fd int) *conn {
	c := &conn{s: s, fd: fd, free: []int{0, 1}}
	for i := range c.bufs {
		c.bufs[i] = make([]byte, s.buf)
	}
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

// recvLocked starts a Recv into a free buffer, if there is one; otherwise
// the next sent buffer restarts receiving.
func (c *conn) recvLocked() {
	if c.closing || c.receiving || len(c.free) == 0 {
		return
	}
	c.rxBuf = c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.receiving = true
	c.inflight++
	c.rx.SetIOV(c.bufs[c.rxBuf])
	c.rx.Recv(c.fd)
}

// sendLocked sends the rest of the first queued buffer.
func (c *conn) sendLocked() {
	if c.closing || c.sending || len(c.queue) == 0 {
		return
	}
	f := c.queue[0]
	c.sending = true
	c.inflight++
	c.tx.SetIOV(c.bufs[f.buf][c.sent:f.n])
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
	case err != nil:
		c.closeLocked(reason("receive", err))
	case n == 0:
		c.closeLocked("client closed")
	default:
		c.queue = append(c.queue, filled{c.rxBuf, n})
		c.sendLocked()
		c.recvLocked()
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
			c.free = append(c.free, c.queue[0].buf)
			c.queue = c.queue[1:]
			c.sent = 0
		}
		c.sendLocked()
		c.recvLocked()
	}
	c.finishLocked()
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
	unix.Close(c.fd)
	// Reap is the way to free an Aio from a callback (its own or another's):
	// each is released once its callback has returned.
	c.rx.Reap()
	c.tx.Reap()
}
