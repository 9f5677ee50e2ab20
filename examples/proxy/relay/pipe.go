//go:build linux

package relay

import (
	"errors"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// pipe forwards one direction of a connection, from socket src to socket
// dst: rx receives while tx sends what was received before, in order.
//
// Invariants, under the conn's mu: a slot is in exactly one place, free,
// being received into (rxSlot, while receiving), or queued (and then
// queue[0] is the one tx may be sending, from byte sent on); at most one
// receive and one send are pending; once eof is set nothing more is
// received, and once the queue has drained after it dst's write side is
// shut down and done is set.
type pipe struct {
	c        *conn
	name     string
	src, dst int
	rx, tx   *aio.Aio

	bufs      [Slots][]byte // nil with Config.Msgs
	free      []int         // slots holding nothing
	rxSlot    int
	queue     []chunk // received and not yet wholly sent, oldest first
	sent      int     // bytes of queue[0] already sent
	receiving bool
	sending   bool
	eof       bool // src ended its stream
	shutting  bool // tx runs the Shutdown that passes the end on (sending is set too)
	done      bool // the whole stream was sent and dst's write side shut
}

// chunk is received bytes waiting to be sent, and the slot holding them;
// m is the message holding them (Config.Msgs), or nil.
type chunk struct {
	slot int
	b    []byte
	m    *aio.Msg
}

func newPipe(c *conn, name string, src, dst int) *pipe {
	p := &pipe{c: c, name: name, src: src, dst: dst,
		free: make([]int, 0, Slots), queue: make([]chunk, 0, Slots)}
	for i := range p.bufs {
		if !c.p.cfg.Msgs {
			p.bufs[i] = make([]byte, c.p.cfg.BufSize)
		}
		p.free = append(p.free, i)
	}
	p.rx = c.p.e.NewAio(p.received)
	p.tx = c.p.e.NewAio(p.sentSome)
	// No idle timeout: one direction of a busy connection may stay quiet
	// for as long as the other streams.
	p.rx.SetTimeout(aio.Infinite)
	p.tx.SetTimeout(aio.Infinite)
	return p
}

// The receive step: recvLocked, take and release are the only code that
// knows where received bytes live. With Config.Msgs a receive is a
// RecvMsg: the kernel fills a buffer of the engine's pool, the chunk holds
// the *aio.Msg, sendLocked attaches it with SetMsg (no copy), and release
// frees it; a slot then bounds how many messages the pipe holds without
// owning a buffer. Otherwise a receive is a Recv into the slot's buffer.

// recvLocked starts a receive into a free slot, if there is one; otherwise
// the next slot freed by a send restarts receiving.
func (p *pipe) recvLocked() {
	if p.c.closing || p.receiving || p.eof || len(p.free) == 0 {
		return
	}
	p.rxSlot = p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.receiving = true
	p.c.inflight++
	if p.bufs[p.rxSlot] == nil {
		p.rx.RecvMsg(p.src)
		return
	}
	p.rx.SetIOV(p.bufs[p.rxSlot])
	p.rx.Recv(p.src)
}

// take is the chunk a successful receive of a's Count() > 0 bytes filled.
func (p *pipe) take(a *aio.Aio) chunk {
	if m := a.Msg(); m != nil {
		return chunk{slot: p.rxSlot, b: m.Bytes(), m: m}
	}
	return chunk{slot: p.rxSlot, b: p.bufs[p.rxSlot][:a.Count()]}
}

// release gives a sent (or dropped) chunk's slot back, and its message to
// the engine's pool.
func (p *pipe) release(ch chunk) {
	if ch.m != nil {
		ch.m.Free()
	}
	p.free = append(p.free, ch.slot)
}

// drainLocked releases every chunk still queued: the connection is over
// and nothing is in flight (finishLocked), so no Send holds a message.
func (p *pipe) drainLocked() {
	for _, ch := range p.queue {
		p.release(ch)
	}
	p.queue = p.queue[:0]
}

// sendLocked sends the rest of the oldest chunk: its message, attached,
// when it starts from the first byte; otherwise (after a short send) the
// bytes not yet sent, through the IOV.
func (p *pipe) sendLocked() {
	if p.c.closing || p.sending || len(p.queue) == 0 {
		return
	}
	p.sending = true
	p.c.inflight++
	if ch := p.queue[0]; ch.m != nil && p.sent == 0 {
		p.tx.SetMsg(ch.m)
	} else {
		p.tx.SetMsg(nil)
		p.tx.SetIOV(ch.b[p.sent:])
	}
	p.tx.Send(p.dst)
}

// received is rx's callback.
func (p *pipe) received(a *aio.Aio) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	p.receiving = false
	n, err := a.Count(), a.Result()
	switch {
	case c.closing:
		// A message that arrived as the receive was aborted is the
		// pipe's like any other: give it back.
		if err == nil && n > 0 {
			p.release(p.take(a))
		} else {
			p.free = append(p.free, p.rxSlot)
		}
	case err != nil:
		p.free = append(p.free, p.rxSlot)
		c.closeLocked(p.name+": receive", err)
	case n == 0:
		p.free = append(p.free, p.rxSlot)
		p.eof = true
		p.shutLocked()
	default:
		p.queue = append(p.queue, p.take(a))
		p.sendLocked()
		p.recvLocked()
	}
	c.finishLocked()
}

// sentSome is tx's callback.
func (p *pipe) sentSome(a *aio.Aio) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	p.sending = false
	n, err := a.Count(), a.Result()
	if p.shutting {
		p.shutting = false
		switch {
		case c.closing:
		case err != nil:
			c.closeLocked(p.name+": end of stream", err)
		default:
			p.done = true
			c.endedLocked()
		}
		c.finishLocked()
		return
	}
	switch {
	case c.closing:
	case err != nil:
		c.closeLocked(p.name+": send", err)
	case n == 0:
		// A send that moved nothing would be retried forever.
		c.closeLocked(p.name+": send", errors.New("sent 0 bytes"))
	default:
		p.sent += n
		if p.sent == len(p.queue[0].b) {
			p.release(p.queue[0])
			copy(p.queue, p.queue[1:])
			p.queue = p.queue[:len(p.queue)-1]
			p.sent = 0
		}
		p.sendLocked()
		p.recvLocked()
		p.shutLocked()
	}
	c.finishLocked()
}

// shutLocked passes the end of the stream on once src has ended and every
// byte received before has been sent: dst's write side is shut down, so
// its peer reads the end while the other direction keeps flowing. The
// shutdown is tx's Shutdown (IORING_OP_SHUTDOWN), counted in flight like
// a send; sentSome finishes it.
func (p *pipe) shutLocked() {
	if !p.eof || p.done || p.sending || len(p.queue) > 0 || p.c.closing {
		return
	}
	p.sending, p.shutting = true, true
	p.c.inflight++
	p.tx.Shutdown(p.dst, unix.SHUT_WR)
}
