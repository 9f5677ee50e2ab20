//go:build linux

package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Slots is how many received chunks (messages, or buffers with
// Config.Recv) each direction of a connection holds: one being received
// while the other is being sent.
const Slots = 2

// Config says where and how a Proxy forwards.
type Config struct {
	// Upstream is where every accepted connection is forwarded
	// (*unix.SockaddrInet4, *unix.SockaddrInet6 or *unix.SockaddrUnix).
	Upstream unix.Sockaddr
	// Msgs forwards with the engine's messages: RecvMsg into its pool
	// (messages of at most the engine's Config.MsgBufferSize), then SetMsg
	// and Send, so no byte is copied; a slot then holds a message instead
	// of a buffer. Off, each slot is a buffer of BufSize bytes that Recv
	// fills: that measured faster here (docs/design.md, decision 17).
	Msgs bool
	// BufSize is the bytes of each slot's buffer without Msgs; 0 means
	// DefaultBufSize.
	BufSize int
	// Copy keeps bulk data in Go's buffers: every direction receives
	// and sends through them for its whole life. Without Copy (and
	// without Msgs) a direction starts with Recv and Send over its
	// buffers, and once a Recv fills its whole buffer (BufSize bytes:
	// the sender is streaming faster than one receive drains) it moves
	// the rest of its stream through a kernel pipe of its own with
	// Splice (socket → pipe → socket), as package net's io.Copy between
	// two TCP sockets does; the sockets are made non-blocking, so that
	// the engine makes each splice itself when its ends are ready,
	// rather than in an io-wq worker (aio.Aio.Splice). Small messages
	// never fill a buffer, so their directions stay on Recv/Send, which
	// cost less per message than two splices. Splicing is the default
	// because it measured faster for bulk data and no slower for small
	// messages (docs/design.md, decision 54). A kernel without
	// IORING_OP_SPLICE (ErrUnsupported) makes the proxy copy, as with
	// Copy. Not with Msgs, which never splices.
	Copy bool
	// DialTimeout bounds the connect to the upstream; 0 means
	// DefaultDialTimeout, a negative value no bound.
	DialTimeout time.Duration
	// Log receives one line per failed connection (nil: discarded).
	Log io.Writer
	// Verbose adds a line per connection opened and closed.
	Verbose bool
}

const (
	DefaultBufSize     = 32 << 10
	DefaultDialTimeout = 10 * time.Second
)

// Proxy forwards the connections accepted on one listening socket.
type Proxy struct {
	e    *aio.Engine
	lfd  int
	cfg  Config
	open atomic.Int64 // connections whose sockets are not closed yet
	done chan struct{}
	// spliced counts the directions that switched to splicing (tests
	// check that they do); noSplice is set once a Splice ended with
	// ErrUnsupported, and then no direction switches.
	spliced  atomic.Int64
	noSplice atomic.Bool
}

// New makes a Proxy accepting on the listening socket lfd (which it does
// not close) and forwarding with engine e; Start starts it.
func New(e *aio.Engine, lfd int, cfg Config) (*Proxy, error) {
	if _, err := family(cfg.Upstream); err != nil {
		return nil, err
	}
	if cfg.BufSize < 0 {
		return nil, fmt.Errorf("relay: buffer size %d: must be positive", cfg.BufSize)
	}
	if cfg.BufSize == 0 {
		cfg.BufSize = DefaultBufSize
	}
	if cfg.Copy && cfg.Msgs {
		return nil, errors.New("relay: Copy and Msgs: choose one way of forwarding")
	}
	switch {
	case cfg.DialTimeout == 0:
		cfg.DialTimeout = DefaultDialTimeout
	case cfg.DialTimeout < 0:
		cfg.DialTimeout = aio.Infinite
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return &Proxy{e: e, lfd: lfd, cfg: cfg, done: make(chan struct{})}, nil
}

// splices reports whether bulk directions switch to splicing: neither
// Config.Copy nor Config.Msgs.
func (p *Proxy) splices() bool { return !p.cfg.Copy && !p.cfg.Msgs }

// Open is how many connections still hold sockets.
func (p *Proxy) Open() int { return int(p.open.Load()) }

// Done is closed when the proxy has stopped accepting: the engine was
// closed (or the listening socket failed for good). Closing the engine
// also ends every connection's operations, whose callbacks close their
// sockets before Close returns.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// Start runs the accept chain.
func (p *Proxy) Start() {
	var retrying bool // the last op was the pause after a failed Accept
	a := p.e.NewAio(func(a *aio.Aio) {
		err := a.Result()
		switch {
		case retrying:
			retrying = false
		case err == nil:
			p.serve(a.Output(0).(int))
		case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
			a.Reap()
			close(p.done)
			return
		case transient(err):
			// Out of descriptors, a connection reset before it was
			// accepted...: pause briefly, then accept again.
			fmt.Fprintln(p.cfg.Log, "accept:", err)
			retrying = true
			a.Sleep(10 * time.Millisecond)
			return
		default:
			fmt.Fprintln(p.cfg.Log, "accept: giving up:", err)
			a.Reap()
			close(p.done)
			return
		}
		a.Accept(p.lfd)
	})
	a.SetTimeout(aio.Infinite)
	a.Accept(p.lfd)
}

// transient reports whether an accept failure may pass by itself.
func transient(err error) bool {
	for _, e := range []error{unix.ECONNABORTED, unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.EINTR, unix.EPROTO, unix.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// serve opens the upstream socket for an accepted client and connects it.
func (p *Proxy) serve(client int) {
	fam, _ := family(p.cfg.Upstream) // checked by New
	up, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintf(p.cfg.Log, "connection %d: upstream socket: %v\n", client, err)
		unix.Close(client)
		return
	}
	p.open.Add(1)
	newConn(p, client, up).dial()
}

// Listen makes a blocking listening TCP socket on addr (HOST:PORT; port 0
// picks a free one) and returns it with the address it is bound to; the
// engine's Accept waits for connections on it (io_uring waits for
// readiness itself, on blocking and non-blocking sockets alike).
func Listen(addr string) (int, string, error) {
	sa, err := Resolve(addr)
	if err != nil {
		return -1, "", err
	}
	fam, _ := family(sa)
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("socket", err)
	}
	fail := func(call string, err error) (int, string, error) {
		unix.Close(fd)
		return -1, "", os.NewSyscallError(call, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fail("listen", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	return fd, String(got), nil
}

// Resolve turns HOST:PORT into a socket address for Config.Upstream or
// Listen. An empty host means all IPv4 addresses.
func Resolve(addr string) (unix.Sockaddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s4 := &unix.SockaddrInet4{Port: ta.Port}
		copy(s4.Addr[:], ip4)
		return s4, nil
	}
	s6 := &unix.SockaddrInet6{Port: ta.Port}
	copy(s6.Addr[:], ta.IP.To16())
	return s6, nil
}

// String is HOST:PORT (or the path) of a socket address.
func String(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), fmt.Sprint(sa.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), fmt.Sprint(sa.Port))
	case *unix.SockaddrUnix:
		return sa.Name
	}
	return fmt.Sprint(sa)
}

func family(sa unix.Sockaddr) (int, error) {
	switch sa.(type) {
	case *unix.SockaddrInet4:
		return unix.AF_INET, nil
	case *unix.SockaddrInet6:
		return unix.AF_INET6, nil
	case *unix.SockaddrUnix:
		return unix.AF_UNIX, nil
	}
	return 0, fmt.Errorf("relay: upstream address %v: want an IPv4, IPv6 or unix socket address", sa)
}

// noDelay sets TCP_NODELAY, as package net does on every TCP connection:
// without it Nagle's algorithm holds back a forwarded partial segment until
// the peer's delayed ACK. A socket with no TCP layer has nothing to set.
func noDelay(fd int) error {
	err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	switch {
	case err == nil, errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOPROTOOPT):
		return nil
	}
	return os.NewSyscallError("setsockopt TCP_NODELAY", err)
}
