package adapt

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Listener is a net.Listener whose Accept is an engine Accept. Accepted
// connections are *Conn on the same engine; over TCP they have
// TCP_NODELAY and keep-alive probes on (15 s idle, 15 s apart, 9 probes,
// on Linux; elsewhere the system's timing), as net.Listen's have.
//
// Accept waits the way package net's does: in Go's netpoller, making
// accept4 itself (listenpoll.go, decision 73); with aio.Config.RingOnly it
// is an engine Accept.
type Listener struct {
	e      *aio.Engine
	fd     int
	net    string
	addr   net.Addr
	poll   *listenPoll // the netpoller path; nil with RingOnly
	acc    *runner     // the engine path; nil without RingOnly
	closed atomic.Bool
	unlink string // the socket file of a unix listener, removed by Close
}

var _ net.Listener = (*Listener)(nil)

// listenBacklog is the accept queue asked of the kernel; it caps it at
// net.core.somaxconn.
const listenBacklog = 4096

// Listen announces on a local address, as net.Listen does, for the networks
// tcp, tcp4, tcp6 and unix.
func Listen(e *aio.Engine, network, address string) (*Listener, error) {
	fail := func(err error) (*Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	var sas []sockaddr
	switch network {
	case "tcp", "tcp4", "tcp6":
		ta, err := net.ResolveTCPAddr(network, address)
		if err != nil {
			return fail(err)
		}
		sa, err := tcpSockaddr(network, ta.AddrPort())
		if err != nil {
			return fail(err)
		}
		sas = append(sas, sa)
		if network == "tcp" && sa.family == unix.AF_INET6 && (ta.IP == nil || ta.IP.IsUnspecified()) {
			// A host without IPv6 falls back to IPv4.
			sas = append(sas, sockaddr{family: unix.AF_INET, sa: &unix.SockaddrInet4{Port: ta.Port}})
		}
	case "unix":
		sas = append(sas, sockaddr{family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: address}})
	default:
		return fail(net.UnknownNetworkError(network))
	}
	var err error
	for _, sa := range sas {
		var fd int
		fd, err = listenSocket(sa)
		if err != nil {
			if errors.Is(err, unix.EAFNOSUPPORT) {
				continue
			}
			return fail(err)
		}
		l := &Listener{e: e, fd: fd, net: network, addr: sockName(fd)}
		if e.Config().RingOnly {
			l.acc = newRunner(e)
		} else if err := l.initPoll(); err != nil {
			unix.Close(fd)
			return fail(err)
		}
		if sa.family == unix.AF_UNIX && address != "" && !abstractUnix(address) {
			l.unlink = address
		}
		return l, nil
	}
	return fail(err)
}

func listenSocket(sa sockaddr) (int, error) {
	fd, err := newSocket(sa)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if sa.family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt", err)
		}
		if err := listenerOptions(fd); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Bind(fd, sa.sa); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// Accept waits for the next connection. After Close it returns an error
// matching net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptConn() }

// AcceptConn is Accept returning the concrete type.
func (l *Listener) AcceptConn() (*Conn, error) {
	if l.poll != nil {
		return l.acceptPoll() // after Close, pf's error: net.ErrClosed
	}
	// The descriptor is read inside run, while this call still owns the
	// Aio: once run returns, a concurrent Accept may start the next
	// operation, which clears Output(0) or replaces it with its own.
	fd := -1
	_, err := l.acc.run(context.Background(), func(a *aio.Aio) { a.Accept(l.fd) }, func(a *aio.Aio) {
		if v, ok := a.Output(0).(int); ok {
			fd = v
		}
	})
	if err == nil && fd < 0 {
		err = errors.New("engine reported a successful Accept without a descriptor")
	}
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: l.net, Addr: l.addr, Err: netErr("accept", err)}
	}
	c, err := newConn(l.e, fd, connAccepted, nil)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

// SetDeadline bounds the pending and later Accept calls, as
// net.TCPListener.SetDeadline does; the zero Time removes the bound.
func (l *Listener) SetDeadline(t time.Time) error {
	if l.poll != nil {
		// pf fails only once closed.
		if err := l.poll.pf.SetDeadline(t); err != nil {
			return &net.OpError{Op: "set", Net: l.net, Addr: l.addr, Err: net.ErrClosed}
		}
		return nil
	}
	if !l.acc.setDeadline(t) {
		return &net.OpError{Op: "set", Net: l.net, Addr: l.addr, Err: net.ErrClosed}
	}
	return nil
}

// Close stops listening: a pending Accept returns net.ErrClosed, as do later
// ones. Connections already accepted stay open.
func (l *Listener) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return &net.OpError{Op: "close", Net: l.net, Addr: l.addr, Err: net.ErrClosed}
	}
	if l.poll != nil {
		// Wakes the Accepts that wait (they see closed); the duplicate
		// closes when the last has left accept4.
		l.poll.pf.Close()
	} else {
		l.acc.close()
	}
	// CloseFD: a plain close would leave the engine's multishot ACCEPT
	// holding the socket, which would go on accepting.
	err := l.e.CloseFD(l.fd)
	if l.unlink != "" {
		os.Remove(l.unlink)
	}
	if err != nil {
		return &net.OpError{Op: "close", Net: l.net, Addr: l.addr, Err: os.NewSyscallError("close", err)}
	}
	return nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.addr }

// Fd is the listening socket, for use with engine operations directly.
func (l *Listener) Fd() int { return l.fd }
