//go:build !linux

package adapt

import (
	"net"

	"golang.org/x/sys/unix"
)

// sockName and peerName ask the kernel for a socket's local and remote
// address; a failure (say, an unconnected socket) gives nil, as net.Conn
// does. (addr_linux.go decodes the raw address itself.)
func sockName(fd int) net.Addr {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	return toAddr(sa)
}

func peerName(fd int) net.Addr {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return nil
	}
	return toAddr(sa)
}
