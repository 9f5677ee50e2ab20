//go:build linux

package main

// The -udp server's socket. Its loops (RecvFrom/SendTo, or RecvMsg with
// -msg) are package udpecho's, which the bench's udp-echo scenario runs
// too.

import (
	"os"

	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

// listenUDP binds a UDP socket to addr (HOST:PORT) with a large receive
// buffer (as far as net.core.rmem_max allows), so bursts from many
// clients wait in the kernel instead of being dropped. The socket is
// non-blocking: the server keeps several receives waiting on it, each
// woken by every datagram, and after 128 such wake-ups that found
// nothing the kernel stops polling for a receive; on a blocking socket
// it would then park an io-wq thread in it, on a non-blocking one the
// engine queues it again (docs/design.md, decision 78).
func listenUDP(addr string) (int, string, error) {
	sa, err := relay.Resolve(addr)
	if err != nil {
		return -1, "", err
	}
	fam := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
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
