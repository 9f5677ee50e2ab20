//go:build linux

package relay

import (
	"errors"
	"fmt"
	"sync"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// conn is one proxied connection: the client's socket, the upstream's, the
// Aio connecting the upstream, and once connected a pipe each way.
//
// Invariants, under mu (which also guards both pipes' state): inflight
// counts the operations started (the connect, each pipe's receives and
// sends) whose callback has not yet taken mu; once closing is set no
// operation starts; both sockets are closed and every Aio reaped exactly
// once, by finishLocked, when inflight is 0 and either closing is set or
// both pipes have ended.
type conn struct {
	p          *Proxy
	client, up int
	dialer     *aio.Aio

	mu       sync.Mutex
	pipes    [2]*pipe // toUp (client to upstream), toClient; nil until connected
	inflight int
	ended    int // pipes that passed their whole stream on
	closing  bool
	failed   bool   // closing because of an error (logged), not a stop
	why      string // why the connection ends
}

func newConn(p *Proxy, client, up int) *conn {
	c := &conn{p: p, client: client, up: up}
	c.dialer = p.e.NewAio(c.connected)
	c.dialer.SetTimeout(p.cfg.DialTimeout)
	return c
}

// dial connects the upstream socket.
func (c *conn) dial() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight++
	c.dialer.Connect(c.up, c.p.cfg.Upstream)
}

// connected is the dialer's callback: start both pipes, or give up.
func (c *conn) connected(a *aio.Aio) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	err := a.Result()
	a.Reap() // one connect per connection
	c.dialer = nil
	if err != nil {
		c.closeLocked("connect to upstream", err)
		c.finishLocked()
		return
	}
	for _, fd := range []int{c.client, c.up} {
		if err := noDelay(fd); err != nil {
			// A failure only costs latency: keep forwarding.
			fmt.Fprintf(c.p.cfg.Log, "connection %d: %v\n", c.client, err)
		}
		if c.p.splices() {
			// Non-blocking sockets let the engine make each splice
			// itself when its ends are ready, with the ring as the
			// poller, instead of in an io-wq worker (aio.Aio.Splice);
			// Recv and Send wait for readiness on them as on blocking
			// ones. If it fails, splices go to io-wq: still correct.
			if err := unix.SetNonblock(fd, true); err != nil {
				fmt.Fprintf(c.p.cfg.Log, "connection %d: non-blocking: %v\n", c.client, err)
			}
		}
	}
	if c.p.cfg.Verbose {
		fmt.Fprintf(c.p.cfg.Log, "connection %d: forwarding to %s\n", c.client, String(c.p.cfg.Upstream))
	}
	c.pipes[0] = newPipe(c, "client to upstream", c.client, c.up)
	c.pipes[1] = newPipe(c, "upstream to client", c.up, c.client)
	for _, p := range c.pipes {
		p.recvLocked()
	}
}

// endedLocked counts a pipe that passed its whole stream on.
func (c *conn) endedLocked() {
	c.ended++
	if c.ended == len(c.pipes) {
		c.why = "both sides closed"
	}
}

// closeLocked ends the connection because op failed with err: the pending
// operations of both pipes are aborted, and finishLocked closes the
// sockets once they have all ended.
func (c *conn) closeLocked(op string, err error) {
	if c.closing {
		return
	}
	c.closing = true
	switch {
	case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
		c.why = "proxy stopping"
	case errors.Is(err, aio.ErrTimedOut):
		c.why, c.failed = op+": timed out", true
	default:
		c.why, c.failed = fmt.Sprintf("%s: %v", op, err), true
	}
	for _, p := range c.pipes {
		if p == nil {
			continue
		}
		if p.receiving {
			p.rx.Abort(aio.ErrCanceled)
		}
		if p.sending {
			p.tx.Abort(aio.ErrCanceled)
		}
	}
}

// finishLocked closes both sockets and reaps the Aios once nothing is in
// flight and the connection is over.
func (c *conn) finishLocked() {
	if c.inflight != 0 || !c.closing && c.ended < len(c.pipes) {
		return
	}
	c.inflight = -1 // finish once
	if c.failed || c.p.cfg.Verbose {
		fmt.Fprintf(c.p.cfg.Log, "connection %d closed: %s\n", c.client, c.why)
	}
	// CloseFD: a plain close would leave a RecvMsg's multishot receive
	// holding the socket open in the kernel (aio's package doc).
	c.p.e.CloseFD(c.client)
	c.p.e.CloseFD(c.up)
	// Reap frees an Aio from a callback (its own or another's) once its
	// callback has returned.
	for _, p := range c.pipes {
		if p != nil {
			p.drainLocked()
			p.closeKernelPipe()
			p.rx.Reap()
			p.tx.Reap()
		}
	}
	c.p.open.Add(-1)
}
