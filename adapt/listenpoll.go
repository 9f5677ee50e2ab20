package adapt

// The netpoller path of Listener (decision 73), as connpoll.go is Conn's.
//
// An engine Accept wakes the goroutine blocked in it in two hops: the
// engine's reaper is woken by the completion and then wakes the waiter,
// which costs a server that takes a connection per request more CPU than
// package net's accept, whose goroutine the runtime's poller readies
// directly. So by default a Listener accepts as net does: the listening
// socket is registered with Go's netpoller (through an *os.File), and the
// goroutine in Accept makes accept4(2) itself and parks in the runtime
// until a connection waits. accept4 gives the connection non-blocking and
// close-on-exec, with its peer's address, so the Conn needs neither fcntl
// nor getpeername. With aio.Config.RingOnly Accept is an engine Accept.
//
// Ownership: pf owns a duplicate of the listening socket (F_DUPFD_CLOEXEC),
// not fd itself: fd stays the Listener's, for Fd and engine operations on
// it, and Close closes it with the engine's CloseFD, which also ends any
// multishot accept an engine operation left on it. The duplicate shares
// fd's open file, so both are non-blocking and both see the same queue.
// Close closes pf first, which wakes the Accepts that wait and closes the
// duplicate once they have left their system call (the runtime's
// reference count).

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenPoll is the netpoller side of a Listener; nil with RingOnly.
type listenPoll struct {
	pf    *os.File // owns a duplicate of the listening socket
	rc    syscall.RawConn
	waits atomic.Uint64 // accept4 calls that found no connection (tests)
}

// initPoll registers a duplicate of the listening socket with Go's
// netpoller (os.NewFile registers a non-blocking descriptor).
func (l *Listener) initPoll() error {
	d, err := unix.FcntlInt(uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(d, true); err != nil {
		unix.Close(d)
		return os.NewSyscallError("fcntl", err)
	}
	pf := os.NewFile(uintptr(d), "listener")
	rc, _ := pf.SyscallConn() // fails only for a nil *os.File
	l.poll = &listenPoll{pf: pf, rc: rc}
	return nil
}

// acceptPoll is AcceptConn on the netpoller path.
func (l *Listener) acceptPoll() (*Conn, error) {
	p := l.poll
	var (
		nfd   = -1
		raddr net.Addr
		aerr  error
	)
	err := p.rc.Read(func(fd uintptr) bool {
		for {
			nfd, raddr, aerr = acceptNonblock(int(fd))
			switch aerr {
			case unix.EINTR, unix.ECONNABORTED:
				// A connection reset while queued: the next one, as
				// net takes it.
				continue
			case unix.EAGAIN:
				p.waits.Add(1)
				return false
			}
			return true
		}
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		// (Read fails only after the callback returned false, with
		// no descriptor taken.)
		return nil, l.pollError(err)
	}
	c, err := newConn(l.e, nfd, connPolled, raddr)
	if err != nil {
		unix.Close(nfd)
		return nil, err
	}
	return c, nil
}

// pollError maps what the netpoller path met to the error net's Accept
// returns for it.
func (l *Listener) pollError(err error) error {
	var errno unix.Errno
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = os.ErrDeadlineExceeded
	case l.closed.Load():
		err = net.ErrClosed
	case errors.As(err, &errno):
		err = os.NewSyscallError(acceptCall, errno)
	}
	return &net.OpError{Op: "accept", Net: l.net, Addr: l.addr, Err: err}
}
