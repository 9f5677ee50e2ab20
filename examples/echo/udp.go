//go:build linux

package main

// The -udp server: a UDP echo on RecvFrom/SendTo. Several Aios share the
// one socket, each a loop of its own in its callback: RecvFrom a
// datagram, SendTo it back to From(), RecvFrom again. Nothing is copied
// and nothing allocates per datagram: the reply goes out of the buffer
// the datagram came into, to the Aio's own decoded source (SendTo reads
// it when it starts). A datagram longer than the buffer (65535 bytes:
// any UDP datagram) cannot be, so none is truncated.
//
// With -msg the loops receive with RecvMsg instead: one multishot receive
// on the socket fills the engine's pool buffers as datagrams arrive, each
// RecvMsg takes the next, and SendTo sends the Msg back (SetMsg) before
// it is freed. A datagram longer than a pool buffer less its header (see
// aio.Aio.RecvMsg) is truncated; by default the buffers hold any UDP
// datagram.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

// udpMaxDatagram is the largest UDP payload over IPv4/IPv6 without jumbograms.
const udpMaxDatagram = 65535

// udpMsgBuffer is -udp -msg's default pool buffer size: any UDP datagram
// after the header and source a multishot receive writes first (at most
// 128 bytes).
const udpMsgBuffer = udpMaxDatagram + 128

// listenUDP binds a UDP socket to addr (HOST:PORT) with a large receive
// buffer (as far as net.core.rmem_max allows), so bursts from many
// clients wait in the kernel instead of being dropped.
func listenUDP(addr string) (int, string, error) {
	sa, err := relay.Resolve(addr)
	if err != nil {
		return -1, "", err
	}
	fam := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("socket", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20) // best effort
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, "", os.NewSyscallError("bind", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, "", os.NewSyscallError("getsockname", err)
	}
	return fd, relay.String(got), nil
}

// serveUDP starts n echo loops on fd; done is closed once every loop has
// ended (the engine was closed).
func serveUDP(e *aio.Engine, fd, n int, log io.Writer) (done chan struct{}) {
	done = make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		buf := make([]byte, udpMaxDatagram)
		sending := false
		a := e.NewAio(func(a *aio.Aio) {
			err := a.Result()
			switch {
			case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
				a.Reap()
				wg.Done()
				return
			case !sending && err == nil:
				// Echo the datagram from its own buffer to its source.
				sending = true
				a.SetIOV(buf[:a.Count()])
				a.SendTo(fd, a.From())
				return
			case err != nil:
				// A reply the kernel refused (ENOBUFS, an ICMP error
				// reported on the socket...): UDP loses it; go on.
				fmt.Fprintln(log, "udp:", err)
			}
			sending = false
			a.SetIOV(buf)
			a.RecvFrom(fd)
		})
		a.SetTimeout(aio.Infinite)
		a.SetIOV(buf)
		a.RecvFrom(fd)
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

// serveUDPMsg is serveUDP for -msg: n loops of RecvMsg, then SendTo of the
// message back to its source.
func serveUDPMsg(e *aio.Engine, fd, n int, log io.Writer) (done chan struct{}) {
	done = make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		var held *aio.Msg // the datagram being sent back
		a := e.NewAio(func(a *aio.Aio) {
			err := a.Result()
			if held != nil {
				// A SendTo ended: its message goes back to the pool.
				a.SetMsg(nil)
				held.Free()
				held = nil
				if err != nil && !errors.Is(err, aio.ErrClosed) && !errors.Is(err, aio.ErrStopped) {
					fmt.Fprintln(log, "udp:", err) // UDP loses the reply; go on
				}
			}
			switch {
			case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
				if m := a.Msg(); m != nil {
					a.SetMsg(nil)
					m.Free()
				}
				a.Reap()
				wg.Done()
				return
			case err == nil && a.Msg() != nil:
				held = a.Msg()
				a.SetMsg(held)
				a.SendTo(fd, a.From())
				return
			}
			a.RecvMsg(fd)
		})
		a.SetTimeout(aio.Infinite)
		a.RecvMsg(fd)
	}
	go func() { wg.Wait(); close(done) }()
	return done
}
