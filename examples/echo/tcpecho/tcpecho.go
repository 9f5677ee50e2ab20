// Package tcpecho is the TCP echo server of examples/echo: an accept
// chain on one Aio, and per connection one Aio that receives into the
// connection's buffer and sends it back, in turn (loop.go); with
// Config.Msgs, one Aio receiving messages of the engine's pool and one
// sending them, at the same time (conn.go). The bench's tcp-echo scenario
// runs this same code (its aioring-example row), so what it measures is
// what the example does. The one-Aio loop echoed 16 KiB messages up to a
// fifth faster than two Aios over two buffers, and at less CPU per
// message in 12 of the 18 measured cases (docs/design.md, decision 57).
package tcpecho

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Config is how Serve echoes.
type Config struct {
	// Idle disconnects a client that sends nothing, or stops reading its
	// echo, for this long; 0 never does.
	Idle time.Duration
	// Buf is the bytes per receive (default 16 KiB): the one buffer a
	// connection holds. With Msgs the engine's pool buffers are received
	// into instead: set Buf to the engine's aio.Config.MsgBufferSize, as
	// examples/echo does, since a receive that fills Buf is what tells a
	// streaming client apart.
	Buf int
	// Msgs receives with RecvMsg into the engine's pool and sends each
	// message back as it is (SetMsg, Send): no copy.
	Msgs bool
	// Log receives connection events; nil discards them.
	Log io.Writer
	// Accepted, if set, is called with each accepted socket just before
	// the server starts echoing on it (a hook for tests).
	Accepted func(fd int)
}

// DefaultBuf is Config.Buf's default.
const DefaultBuf = 16 << 10

// server is one Serve: its engine, its listening socket and its Config.
type server struct {
	e        *aio.Engine
	fd       int
	idle     time.Duration
	buf      int
	msgs     bool
	log      io.Writer
	accepted func(fd int)
}

// Serve accepts connections on the listening socket lfd with e and echoes
// on each until the client closes, the idle timeout passes, or e is
// closed. stopped is closed once the accept chain has ended (e.Close
// ends it and every connection: their sockets are closed by their
// callbacks). lfd stays the caller's to close.
func Serve(e *aio.Engine, lfd int, cfg Config) (stopped chan struct{}) {
	s := &server{e: e, fd: lfd, idle: cfg.Idle, buf: cfg.Buf, msgs: cfg.Msgs, log: cfg.Log, accepted: cfg.Accepted}
	if s.idle <= 0 {
		s.idle = aio.Infinite
	}
	if s.buf <= 0 {
		s.buf = DefaultBuf
	}
	if s.log == nil {
		s.log = io.Discard
	}
	stopped = make(chan struct{})
	s.startAccepting(stopped)
	return stopped
}

// startAccepting runs the accept chain; stopped is closed when it ends
// (the engine was closed).
func (s *server) startAccepting(stopped chan struct{}) {
	var retrying bool // the last op was the pause after a failed Accept
	a := s.e.NewAio(func(a *aio.Aio) {
		err := a.Result()
		switch {
		case retrying:
			retrying = false
		case err == nil:
			s.serve(a.Output(0).(int))
		case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
			a.Reap()
			close(stopped)
			return
		default:
			// Out of descriptors, a connection reset before it was
			// accepted...: pause briefly, then accept again.
			fmt.Fprintln(s.log, "accept:", err)
			retrying = true
			a.Sleep(10 * time.Millisecond)
			return
		}
		a.Accept(s.fd)
	})
	a.SetTimeout(aio.Infinite)
	a.Accept(s.fd)
}

// serve starts echoing on an accepted socket.
func (s *server) serve(fd int) {
	// A failure only costs latency: keep serving.
	if err := NoDelay(fd); err != nil {
		fmt.Fprintf(s.log, "connection %d: %v\n", fd, err)
	}
	if s.accepted != nil {
		s.accepted(fd)
	}
	if s.msgs {
		newConn(s, fd).start()
		return
	}
	newLoop(s, fd).start()
}

// NoDelay sets TCP_NODELAY, as package net does on every TCP connection.
// Without it Nagle's algorithm holds back the partial segment that ends an
// echoed message until the client's delayed ACK of the previous one
// arrives, tens of milliseconds per message. A socket with no TCP layer (a
// unix socket: EOPNOTSUPP) has nothing to set, and is not an error.
func NoDelay(fd int) error {
	err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	switch {
	case err == nil, errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOPROTOOPT):
		return nil
	}
	return os.NewSyscallError("setsockopt TCP_NODELAY", err)
}
