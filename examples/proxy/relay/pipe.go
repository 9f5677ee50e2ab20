//go:build linux

package relay

import (
	"errors"
	"fmt"

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
//
// Splicing (without Config.Copy): bulk is set, at most once, by the Recv that
// filled its whole buffer; from then on nothing more is received with
// Recv, rx splices src → kw only when the pipe is empty (inPipe 0: see
// recvLocked) and tx, once the queue has drained, splices kr → dst
// until it is empty again, so bytes leave dst in the order they left src
// and the two never splice the same pipe at once. inPipe is the bytes
// spliced in and not yet out; dst is shut only once it is 0 too. kr and
// kw are -1 until bulk, and closed by finishLocked.
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

	bulk     bool // the direction moves through the kernel pipe (not Config.Copy)
	kr, kw   int  // the kernel pipe's read and write ends, -1 before bulk
	pipeCap  int  // bytes the kernel pipe holds
	inPipe   int  // bytes spliced into it and not yet out; rx splices only at 0
	txSplice bool // tx's pending operation is a Splice (sending is set too)
	noBulk   bool // a kernel pipe could not be made: keep copying
}

// pipeSize is the kernel pipe asked for per spliced direction (as far as
// fs.pipe-max-size allows): package net sizes its splice pipes so too, so
// one splice moves as much as one of its.
const pipeSize = 1 << 20

// chunk is received bytes waiting to be sent, and the slot holding them;
// m is the message holding them (Config.Msgs), or nil.
type chunk struct {
	slot int
	b    []byte
	m    *aio.Msg
}

func newPipe(c *conn, name string, src, dst int) *pipe {
	p := &pipe{c: c, name: name, src: src, dst: dst, kr: -1, kw: -1,
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
	if p.c.closing || p.receiving || p.eof {
		return
	}
	if p.bulk {
		// Only into an empty pipe: rx and tx take turns on it. A splice
		// from a socket waits for data holding the pipe's lock (the
		// kernel's splice_file_to_pipe), so a splice out of the pipe
		// started meanwhile would wait behind it, holding back the bytes
		// the peer waits for before it sends more: a deadlock (a
		// request/echo loop of large messages found it). Package net's
		// splice takes the same turns. On the non-blocking sockets of
		// this mode no splice waits in the kernel, but receiving into
		// a pipe while it drains measured dearer (docs/design.md,
		// decision 38), so the turns stay.
		if p.inPipe == 0 {
			p.receiving = true
			p.c.inflight++
			p.rx.Splice(p.src, -1, p.kw, -1, p.pipeCap)
		}
		return
	}
	if len(p.free) == 0 {
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
	if p.c.closing || p.sending {
		return
	}
	if len(p.queue) == 0 {
		// What was received before the switch to splicing has all been
		// sent: the pipe's bytes come next.
		if p.bulk && p.inPipe > 0 {
			p.sending, p.txSplice = true, true
			p.c.inflight++
			p.tx.Splice(p.kr, -1, p.dst, -1, p.inPipe)
		}
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
	if p.bulk {
		p.splicedIn(n, err)
		c.finishLocked()
		return
	}
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
		full := n == len(p.bufs[p.rxSlot]) // false with Msgs: no buffer
		p.queue = append(p.queue, p.take(a))
		if full && c.p.splices() {
			p.goBulkLocked()
		}
		p.sendLocked()
		p.recvLocked()
	}
	c.finishLocked()
}

// goBulkLocked switches the direction to splicing through a kernel pipe
// of its own; the chunks already queued are sent first (sendLocked). A
// pipe that cannot be made (out of descriptors) leaves the direction
// copying, as it was.
func (p *pipe) goBulkLocked() {
	if p.bulk || p.noBulk || p.c.p.noSplice.Load() {
		return
	}
	var fds [2]int
	// A blocking pipe: the engine's splice on non-blocking sockets passes
	// SPLICE_F_NONBLOCK, which makes the pipe's end non-blocking for that
	// call alone (aio.Aio.Splice).
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		p.noBulk = true
		fmt.Fprintf(p.c.p.cfg.Log, "connection %d: %s: no pipe to splice through, copying: %v\n", p.c.client, p.name, err)
		return
	}
	unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize) // best effort
	size, err := unix.FcntlInt(uintptr(fds[1]), unix.F_GETPIPE_SZ, 0)
	if err != nil || size <= 0 {
		size = 64 << 10 // Linux's default pipe
	}
	p.kr, p.kw, p.pipeCap, p.bulk = fds[0], fds[1], size, true
	p.c.p.spliced.Add(1)
}

// closeKernelPipe closes the kernel pipe, if any; nothing is in flight
// (finishLocked), and what it still holds is dropped with the connection.
func (p *pipe) closeKernelPipe() {
	if p.kr >= 0 {
		unix.Close(p.kr)
		unix.Close(p.kw)
		p.kr, p.kw = -1, -1
	}
}

// splicedIn ends rx's splice from src into the kernel pipe.
func (p *pipe) splicedIn(n int, err error) {
	c := p.c
	switch {
	case c.closing:
	case errors.Is(err, aio.ErrUnsupported) && p.inPipe == 0:
		// The kernel has no IORING_OP_SPLICE. It was the first splice
		// (inPipe 0: none moved bytes before), so nothing is in the
		// pipe: copy from here on, and let no other direction try.
		c.p.noSplice.Store(true)
		c.p.spliced.Add(-1)
		p.bulk = false
		p.closeKernelPipe()
		p.recvLocked()
	case err != nil:
		c.closeLocked(p.name+": splice from the socket", err)
	case n == 0:
		p.eof = true
		p.shutLocked()
	default:
		p.inPipe += n
		p.sendLocked()
		p.recvLocked()
	}
}

// splicedOut ends tx's splice from the kernel pipe into dst.
func (p *pipe) splicedOut(n int, err error) {
	c := p.c
	switch {
	case c.closing:
	case err != nil:
		c.closeLocked(p.name+": splice to the socket", err)
	case n == 0:
		// The pipe holds bytes: a splice that moved none would be
		// retried forever.
		c.closeLocked(p.name+": splice to the socket", errors.New("spliced 0 bytes"))
	default:
		p.inPipe -= n
		p.sendLocked()
		p.recvLocked()
		p.shutLocked()
	}
}

// sentSome is tx's callback.
func (p *pipe) sentSome(a *aio.Aio) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	p.sending = false
	n, err := a.Count(), a.Result()
	if p.txSplice {
		p.txSplice = false
		p.splicedOut(n, err)
		c.finishLocked()
		return
	}
	if p.shutting {
		p.shutting = false
		if errors.Is(err, aio.ErrUnsupported) {
			// The kernel has no IORING_OP_SHUTDOWN (before 5.11):
			// shutdown(2) never waits, so make it here.
			err = unix.Shutdown(p.dst, unix.SHUT_WR)
		}
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
	if !p.eof || p.done || p.sending || len(p.queue) > 0 || p.inPipe > 0 || p.c.closing {
		return
	}
	p.sending, p.shutting = true, true
	p.c.inflight++
	p.tx.Shutdown(p.dst, unix.SHUT_WR)
}
