//go:build linux

package aio

import "golang.org/x/sys/unix"

// sockDgram reports whether fd is a datagram socket, and its family. Not a
// socket, or any error: false, and the receive reports the kernel's errno.
func sockDgram(fd int32) (dgram bool, family int) {
	typ, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_DGRAM {
		return false, 0
	}
	family, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return false, 0
	}
	return true, family
}
