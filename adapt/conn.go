package adapt

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Conn is a net.Conn over a connected stream socket. Reads and writes may
// run at once from different goroutines; concurrent Reads (or Writes) take
// turns. Close ends pending operations with net.ErrClosed and closes the
// socket.
//
// A Read or Write takes one of two paths, fixed when the Conn is made:
//   - By default (connpoll.go) the socket is non-blocking and registered
//     with Go's netpoller, which owns the descriptor through an *os.File:
//     the caller's goroutine makes the read(2) or write(2) itself and, when
//     the socket is not ready, parks until the runtime's poller readies it.
//     A waiting Read or Write is woken in one hop, as package net's are
//     (docs/design.md, decision 46).
//   - With aio.Config.RingOnly, each is an engine Recv or Send on its own
//     Aio (runner, op.go), waited for, and the socket stays blocking.
type Conn struct {
	fd     int
	net    string // "tcp" or "unix", for errors
	laddr  net.Addr
	raddr  net.Addr
	closed atomic.Bool

	// The netpoller path; nil on the engine path.
	pf        *os.File // owns fd
	rc        syscall.RawConn
	pin, pout pollSide

	// The engine path; nil on the netpoller path.
	rd, wr *runner
}

var _ net.Conn = (*Conn)(nil)

// NewConn wraps fd, a connected stream socket, which the Conn then owns.
// On the netpoller path (the default) it makes fd non-blocking; with
// aio.Config.RingOnly it leaves fd in blocking mode, as the engine's
// operations expect. For TCP sockets it sets TCP_NODELAY, as the net
// package does.
func NewConn(e *aio.Engine, fd int) (*Conn, error) { return newConn(e, fd, connForeign, nil) }

// connOrigin is what adapt knows of a socket it wraps.
type connOrigin uint8

const (
	// connForeign: NewConn's, a socket from anywhere; its file status
	// flags and options are unknown.
	connForeign connOrigin = iota
	// connAccepted: fresh from a Listener's accept, so its file status
	// flags are O_RDWR alone; its TCP options are set by
	// acceptedOptions (inherited from the listener on Linux).
	connAccepted
	// connDialed: fresh from Dial's socket(2) and connect, its flags
	// O_RDWR alone and its TCP options set before the connect.
	connDialed
	// connPolled: fresh from the netpoller path's accept4, non-blocking
	// already, its options set as connAccepted's.
	connPolled
)

// newConn is NewConn for a socket of the given origin: what adapt knows
// of a socket it made spares system calls that would only find it out.
// raddr is the peer's address when known (accept4 gives it), else nil.
func newConn(e *aio.Engine, fd int, origin connOrigin, raddr net.Addr) (*Conn, error) {
	la := sockName(fd)
	network := "tcp"
	var err error
	switch _, unixSock := la.(*net.UnixAddr); {
	case unixSock:
		network = "unix"
	case origin == connForeign:
		if err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			err = os.NewSyscallError("setsockopt", err)
		}
	case origin == connAccepted || origin == connPolled:
		err = acceptedOptions(fd)
	}
	if err != nil {
		return nil, &net.OpError{Op: "setsockopt", Net: network, Addr: la, Err: err}
	}
	if raddr == nil {
		raddr = peerName(fd)
	}
	c := &Conn{fd: fd, net: network, laddr: la, raddr: raddr}
	if e.Config().RingOnly {
		c.rd, c.wr = newRunner(e), newRunner(e)
		return c, nil
	}
	if err := c.initPoll(origin); err != nil {
		return nil, &net.OpError{Op: "set", Net: network, Addr: la, Err: err}
	}
	return c, nil
}

// Read reads into b. It returns io.EOF once the peer has closed its side,
// and 0, nil for an empty b.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		if c.closed.Load() {
			return 0, c.opError("read", net.ErrClosed)
		}
		return 0, nil
	}
	if c.pf != nil {
		return c.readPoll(b)
	}
	n, err := c.rd.run(context.Background(), func(a *aio.Aio) {
		a.SetIOV(b)
		a.Recv(c.fd)
	}, nil)
	if err != nil {
		return 0, c.opError("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write sends all of b unless an error or the write deadline stops it; it
// returns how much was sent.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 && c.closed.Load() {
		return 0, c.opError("write", net.ErrClosed)
	}
	if c.pf != nil {
		return c.writePoll(b)
	}
	sent := 0
	for sent < len(b) {
		rest := b[sent:]
		n, err := c.wr.run(context.Background(), func(a *aio.Aio) {
			a.SetIOV(rest)
			a.Send(c.fd)
		}, nil)
		sent += n
		if err != nil {
			return sent, c.opError("write", err)
		}
		if n == 0 {
			return sent, c.opError("write", io.ErrUnexpectedEOF)
		}
	}
	return sent, nil
}

// Close ends pending reads and writes with net.ErrClosed and closes the
// socket. Later calls return net.ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	if c.pf != nil {
		// The netpoller wakes pending calls with an error (read as
		// net.ErrClosed: closed is set) and closes fd when the last
		// of them has left its system call.
		if err := c.pf.Close(); err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // the errno inside the *fs.PathError
			}
			return c.opError("close", os.NewSyscallError("close", err))
		}
		return nil
	}
	c.rd.close()
	c.wr.close()
	if err := unix.Close(c.fd); err != nil {
		return c.opError("close", os.NewSyscallError("close", err))
	}
	return nil
}

// CloseWrite shuts down the sending side (the peer reads io.EOF); http.Server
// uses it for a graceful close.
func (c *Conn) CloseWrite() error { return c.shutdown("close", unix.SHUT_WR) }

// CloseRead shuts down the receiving side.
func (c *Conn) CloseRead() error { return c.shutdown("close", unix.SHUT_RD) }

func (c *Conn) shutdown(op string, how int) error {
	if c.closed.Load() {
		return c.opError(op, net.ErrClosed)
	}
	if err := unix.Shutdown(c.fd, how); err != nil {
		return c.opError(op, os.NewSyscallError("shutdown", err))
	}
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return c.laddr }
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both deadlines. A change reaches operations already
// pending: a deadline in the past ends them with a timeout at once.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadline(t, true, true) }

func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, true, false) }

func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

// setDeadline sets the read deadline, the write deadline or both: the
// file's on the netpoller path, the runners' on the engine path.
func (c *Conn) setDeadline(t time.Time, read, write bool) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	if c.pf == nil {
		if (read && !c.rd.setDeadline(t)) || (write && !c.wr.setDeadline(t)) {
			return c.opError("set", net.ErrClosed)
		}
		return nil
	}
	var err error
	switch {
	case read && write:
		err = c.pf.SetDeadline(t)
	case read:
		err = c.pf.SetReadDeadline(t)
	default:
		err = c.pf.SetWriteDeadline(t)
	}
	switch {
	case err == nil:
		return nil
	case c.closed.Load() || errors.Is(err, os.ErrClosed):
		return c.opError("set", net.ErrClosed)
	}
	return c.opError("set", err)
}

// opError wraps err as the net package would: a timeout becomes
// os.ErrDeadlineExceeded, a kernel errno an *os.SyscallError, and the whole
// an *net.OpError.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.net, Source: c.laddr, Addr: c.raddr, Err: netErr(op, err)}
}

// netErr maps an engine result to the error the net package reports for
// the same condition.
func netErr(op string, err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, aio.ErrTimedOut):
		return os.ErrDeadlineExceeded
	case errors.Is(err, net.ErrClosed):
		return net.ErrClosed // our Close, or the engine's
	case errors.Is(err, aio.ErrStopped):
		return net.ErrClosed
	case errors.As(err, &errno):
		name := map[string]string{"accept": acceptCall, "dial": "connect"}[op] // read and write: as named, as net names them
		if name == "" {
			name = op
		}
		return os.NewSyscallError(name, errno)
	}
	return err
}
