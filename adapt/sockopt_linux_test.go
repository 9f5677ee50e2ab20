package adapt

import (
	"net"
	"os"
	"reflect"
	"syscall"
	"testing"

	"github.com/aioring/aioring/aio"
	"golang.org/x/net/nettest"
	"golang.org/x/sys/unix"
)

// sockState is what a connection's socket says of itself: the TCP options
// package net sets, and its descriptor's flags.
type sockState struct {
	NoDelay, KeepAlive, KeepIdle, KeepIntvl, KeepCnt int
	NonBlock, CloseOnExec                            bool
}

func readSockState(t *testing.T, fd int) sockState {
	t.Helper()
	get := func(level, opt int) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
		}
		return v
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return sockState{
		NoDelay:     get(unix.IPPROTO_TCP, unix.TCP_NODELAY),
		KeepAlive:   get(unix.SOL_SOCKET, unix.SO_KEEPALIVE),
		KeepIdle:    get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE),
		KeepIntvl:   get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
		KeepCnt:     get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT),
		NonBlock:    fl&unix.O_NONBLOCK != 0,
		CloseOnExec: fdfl&unix.FD_CLOEXEC != 0,
	}
}

func netConnState(t *testing.T, c net.Conn) sockState {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st sockState
	if err := rc.Control(func(fd uintptr) { st = readSockState(t, int(fd)) }); err != nil {
		t.Fatal(err)
	}
	return st
}

// Connections that adapt accepts and dials carry the TCP options package
// net gives its own (TCP_NODELAY, keep-alive probes 15 s idle, 15 s apart,
// 9 of them), whether set on each connection or inherited from the
// listening socket as on Linux (listenerOptions); they are close-on-exec,
// and non-blocking on the netpoller path only. The reference is read from
// net's own connections on this machine.
func TestSocketOptionsLikeNet(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := nl.Accept()
		accepted <- c
	}()
	nd, err := net.Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	na := <-accepted
	if na == nil {
		t.Fatal("net's Accept failed")
	}
	defer na.Close()
	wantAccepted, wantDialed := netConnState(t, na), netConnState(t, nd)
	if wantAccepted.KeepAlive == 0 || wantDialed.KeepAlive == 0 || wantAccepted.NoDelay == 0 {
		t.Fatalf("package net's connections: accepted %+v, dialed %+v; the reference has no keep-alive or no TCP_NODELAY", wantAccepted, wantDialed)
	}
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		dialed, acc, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		ringOnly := e.Config().RingOnly
		for _, c := range []struct {
			name string
			conn net.Conn
			want sockState
		}{{"accepted", acc, wantAccepted}, {"dialed", dialed, wantDialed}} {
			want := c.want
			want.NonBlock = !ringOnly // the engine path keeps its sockets blocking
			if got := readSockState(t, c.conn.(*Conn).fd); got != want {
				t.Errorf("%s: %+v, want %+v", c.name, got, want)
			}
		}
	})
}

// A Conn's addresses, decoded from the raw getsockname and getpeername
// (addr_linux.go), are what x/sys's decoding gives and what package net
// reports for the same connection from its side, for every family a Conn
// can have: IPv4, IPv6, a unix socket with a path, an abstract one, and
// the unnamed client of each unix listener.
func TestConnAddrsLikeNet(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, network, addr string }{
		{"tcp4", "tcp", "127.0.0.1:0"},
		{"tcp6", "tcp6", "[::1]:0"},
		{"unix", "unix", dir + "/s"},
		{"abstract", "unix", "@aioring-addr-test-" + t.Name()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.network == "tcp6" && !nettest.SupportsIPv6() {
				t.Skip("no IPv6 loopback here")
			}
			l, err := Listen(testEngine, c.network, c.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			got := make(chan *Conn, 1)
			go func() {
				a, err := l.AcceptConn()
				if err != nil {
					t.Error(err)
				}
				got <- a
			}()
			network := c.network
			if network == "tcp6" {
				network = "tcp"
			}
			nc, err := net.Dial(network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			a := <-got
			if a == nil {
				t.FailNow()
			}
			defer a.Close()
			same := func(what string, got, want net.Addr) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %#v, want %#v", what, got, want)
				}
			}
			same("accepted LocalAddr", a.LocalAddr(), xsysAddr(t, a.fd, false))
			same("accepted RemoteAddr", a.RemoteAddr(), xsysAddr(t, a.fd, true))
			same("listener Addr", l.Addr(), xsysAddr(t, l.fd, false))
			if a.LocalAddr().String() != nc.RemoteAddr().String() || a.LocalAddr().Network() != nc.RemoteAddr().Network() {
				t.Errorf("accepted LocalAddr %s, net's RemoteAddr %s", a.LocalAddr(), nc.RemoteAddr())
			}
			if c.network != "unix" && a.RemoteAddr().String() != nc.LocalAddr().String() {
				// (net reports an unnamed unix client's address as
				// nil-named; the kernel's has no name either way.)
				t.Errorf("accepted RemoteAddr %s, net's LocalAddr %s", a.RemoteAddr(), nc.LocalAddr())
			}
		})
	}
}

// xsysAddr is the address x/sys's Getsockname (Getpeername) gives for fd,
// as toAddr converts it: the decoding adapt used before addr_linux.go.
func xsysAddr(t *testing.T, fd int, peer bool) net.Addr {
	t.Helper()
	get := unix.Getsockname
	if peer {
		get = unix.Getpeername
	}
	sa, err := get(fd)
	if err != nil {
		t.Fatal(os.NewSyscallError("getsockname", err))
	}
	return toAddr(sa)
}

// A Conn made by NewConn from a socket adapt did not make reads its
// descriptor's flags before it sets O_NONBLOCK, so flags the caller set
// stay.
func TestNewConnKeepsForeignFlags(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_SETFL, unix.O_APPEND); err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(testEngine, fds[0])
	if err != nil {
		unix.Close(fds[0])
		t.Fatal(err)
	}
	defer c.Close()
	fl, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_APPEND == 0 || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("flags %#x, want O_APPEND and O_NONBLOCK both set", fl)
	}
}
