//go:build linux

package main

import (
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/echo/tcpecho"
	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

// acceptedSocket is what the accepted hook saw of one socket.
type acceptedSocket struct {
	fd      int
	noDelay int   // TCP_NODELAY as getsockopt read it
	err     error // getsockopt's error
}

// serveInProcess runs the server's accept chain on the listening socket fd
// in this process, on an engine of its own, and returns what the accepted
// hook reports: TCP_NODELAY of each socket, read before any byte is
// echoed on it. The cleanup stops the server and closes fd.
func serveInProcess(t *testing.T, fd int) <-chan acceptedSocket {
	t.Helper()
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	got := make(chan acceptedSocket, 100)
	stopped := tcpecho.Serve(e, fd, tcpecho.Config{Accepted: func(fd int) {
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		got <- acceptedSocket{fd, v, err}
	}})
	t.Cleanup(func() {
		e.Close()
		<-stopped
		unix.Close(fd)
	})
	return got
}

func randomMessage(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// nextAccepted waits for the hook's report on the next accepted socket.
func nextAccepted(t *testing.T, got <-chan acceptedSocket) acceptedSocket {
	t.Helper()
	select {
	case a := <-got:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("the server accepted nothing within 30s")
	}
	panic("unreachable")
}

// Every accepted TCP socket has TCP_NODELAY set, as package net sets it on
// its connections. Without it a 64 KiB echo ends in a partial segment
// that Nagle's algorithm holds back until the client's delayed ACK.
func TestEchoSetsNoDelay(t *testing.T) {
	fd, addr, err := relay.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := serveInProcess(t, fd)
	for i := range 8 {
		c, err := net.DialTimeout("tcp", addr, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		a := nextAccepted(t, got)
		if a.err != nil {
			t.Fatalf("connection %d: getsockopt TCP_NODELAY on the accepted socket: %v", i, a.err)
		}
		if a.noDelay == 0 {
			t.Errorf("connection %d: TCP_NODELAY is not set on the accepted socket %d", i, a.fd)
		}
		if err := echoMessages(c, [][]byte{randomMessage(uint64(i), 64<<10)}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
}

// A socket without TCP (here a unix one) has no TCP_NODELAY to set: the
// server must serve it all the same.
func TestEchoServesNonTCPSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	got := serveInProcess(t, fd)
	for i := range 2 {
		c, err := net.DialTimeout("unix", path, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nextAccepted(t, got)
		if err := echoMessages(c, [][]byte{randomMessage(uint64(i), 64<<10)}); err != nil {
			t.Fatalf("unix connection %d: %v", i, err)
		}
	}
}

// NoDelay succeeds on a TCP socket and on one that has no TCP layer.
func TestNoDelayNonTCP(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := tcpecho.NoDelay(fds[0]); err != nil {
		t.Errorf("NoDelay on a unix socket: %v, want nil", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := tcpecho.NoDelay(fd); err != nil {
		t.Fatalf("NoDelay on a TCP socket: %v", err)
	}
	if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
		t.Errorf("after NoDelay, TCP_NODELAY = %d, %v; want set", v, err)
	}
}
