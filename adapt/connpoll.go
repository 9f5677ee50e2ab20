package adapt

// The netpoller path of Conn (decision 46 in docs/design.md).
//
// A blocking Read through the engine wakes in two hops: the backend's
// worker is woken by readiness (or a completion), makes the call, and then
// wakes the goroutine that waits. The socket is the Conn's own, so it can
// be registered with Go's netpoller instead, through an *os.File made
// from it (os.NewFile registers a non-blocking descriptor): the caller's
// goroutine then makes the system call itself and parks in the runtime
// until the socket is ready, as package net does, and the runtime's
// poller readies that goroutine directly.
//
// Ownership: pf owns fd from initPoll on; Close closes it through pf,
// which waits for the calls in flight (the runtime's reference count on
// the descriptor), so fd is never closed under a read(2) or write(2). The
// RawConn callbacks take their arguments and leave their results in
// pollSide, one per direction; pollSide.mu makes one Read (or Write) at a
// time the owner of its side, so the callbacks are bound once and no call
// allocates.

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// pollSide is one direction of a Conn on the netpoller path.
type pollSide struct {
	mu    sync.Mutex // held for a whole Read (Write): owns the fields below
	buf   []byte
	n     int
	err   error
	fn    func(fd uintptr) bool // c.readReady or c.writeReady, bound once
	waits atomic.Uint64         // calls that found the socket not ready (tests)
}

// initPoll makes fd non-blocking and hands it to an *os.File registered
// with Go's netpoller. A fresh socket's file status flags are O_RDWR
// alone, so one fcntl sets them without reading them first; one from the
// netpoller path's accept4 is non-blocking already.
func (c *Conn) initPoll(origin connOrigin) error {
	var err error
	switch origin {
	case connForeign:
		err = unix.SetNonblock(c.fd, true)
	case connAccepted, connDialed:
		_, err = unix.FcntlInt(uintptr(c.fd), unix.F_SETFL, unix.O_RDWR|unix.O_NONBLOCK)
	}
	if err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	pf := os.NewFile(uintptr(c.fd), "socket")
	// SyscallConn fails only for a nil *os.File, which NewFile never
	// returns for a descriptor >= 0. (Closing pf on such a failure would
	// close fd under the caller, which closes it when NewConn fails.)
	rc, _ := pf.SyscallConn()
	c.pf, c.rc = pf, rc
	c.pin.fn, c.pout.fn = c.readReady, c.writeReady
	return nil
}

// readPoll is Read on the netpoller path.
func (c *Conn) readPoll(b []byte) (int, error) {
	s := &c.pin
	s.mu.Lock()
	s.buf, s.n, s.err = b, 0, nil
	err := c.rc.Read(s.fn)
	n, cerr := s.n, s.err
	s.buf = nil
	s.mu.Unlock()
	if err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return 0, c.pollError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readReady makes one read(2) and reports whether the Read is over; false
// (EAGAIN) makes the runtime wait for readability and call it again.
func (c *Conn) readReady(fd uintptr) bool {
	s := &c.pin
	for {
		n, err := unix.Read(int(fd), s.buf)
		switch err {
		case nil:
			s.n = n
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			s.waits.Add(1)
			return false
		}
		s.err = err
		return true
	}
}

// writePoll is Write on the netpoller path: all of b, waiting for room as
// often as it takes.
func (c *Conn) writePoll(b []byte) (int, error) {
	s := &c.pout
	s.mu.Lock()
	s.buf, s.n, s.err = b, 0, nil
	var err error
	if len(b) > 0 {
		err = c.rc.Write(s.fn)
	}
	n, cerr := s.n, s.err
	s.buf = nil
	s.mu.Unlock()
	if err == nil {
		err = cerr
	}
	if err != nil {
		return n, c.pollError("write", err)
	}
	return n, nil
}

// writeReady writes what is left of the Write's buffer and reports whether
// the Write is over; false (EAGAIN) makes the runtime wait for room.
func (c *Conn) writeReady(fd uintptr) bool {
	s := &c.pout
	for s.n < len(s.buf) {
		n, err := unix.Write(int(fd), s.buf[s.n:])
		switch err {
		case nil:
			s.n += n
		case unix.EINTR:
		case unix.EAGAIN:
			s.waits.Add(1)
			return false
		default:
			s.err = err
			return true
		}
	}
	return true
}

// pollError maps what the netpoller path met to the error package net
// returns for it: a passed deadline, a Close (the runtime's own "use of
// closed file" when Close woke the call), or the system call's errno.
func (c *Conn) pollError(op string, err error) error {
	var errno unix.Errno
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = os.ErrDeadlineExceeded
	case c.closed.Load():
		err = net.ErrClosed
	case errors.As(err, &errno):
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: c.net, Source: c.laddr, Addr: c.raddr, Err: err}
}
