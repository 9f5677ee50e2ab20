package tcpecho

import (
	"fmt"

	"github.com/aioring/aioring/aio"
)

// loop echoes one client with one Aio that alternates: a Recv into the
// connection's one buffer, then Sends until everything received is back,
// then the next Recv. A request-and-reply client finds its echo sent
// before the next receive starts, which then usually finds the next
// request already there; a streaming client is echoed chunk by chunk, at
// most one buffer held, and TCP's flow control pushes back on it while a
// send waits for the socket. Everything about the connection is touched
// only by the Aio's callback, one at a time: no lock.
type loop struct {
	s       *server
	fd      int
	a       *aio.Aio
	buf     []byte
	n, sent int  // bytes received into buf, and how many of them are sent back
	sending bool // the pending operation is a Send
}

func newLoop(s *server, fd int) *loop {
	l := &loop{s: s, fd: fd, buf: make([]byte, s.buf)}
	l.a = s.e.NewAio(l.done)
	l.a.SetTimeout(s.idle)
	return l
}

func (l *loop) start() {
	l.a.SetIOV(l.buf)
	l.a.Recv(l.fd)
}

// done is the Aio's callback: it carries the echo on to the next step.
func (l *loop) done(a *aio.Aio) {
	n, err := a.Count(), a.Result()
	switch {
	case err != nil && l.sending:
		l.close(reason("send", err))
	case err != nil:
		l.close(reason("receive", err))
	case !l.sending && n == 0:
		// The client ended its stream; all it sent before is echoed.
		l.close("client closed")
	case !l.sending:
		l.n, l.sent, l.sending = n, 0, true
		a.SetIOV(l.buf[:n])
		a.Send(l.fd)
	case l.sent+n < l.n:
		// A short send: the rest.
		l.sent += n
		a.SetIOV(l.buf[l.sent:l.n])
		a.Send(l.fd)
	default:
		l.sending = false
		a.SetIOV(l.buf)
		a.Recv(l.fd)
	}
}

// close ends the connection: the socket (CloseFD, as conn does) and the
// Aio, released once this callback returns (Reap).
func (l *loop) close(why string) {
	fmt.Fprintf(l.s.log, "connection %d closed: %s\n", l.fd, why)
	l.s.e.CloseFD(l.fd)
	l.a.Reap()
}
