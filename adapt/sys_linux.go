package adapt

import (
	"net"
	"os"
	"unsafe"

	"github.com/aioring/aioring/internal/fdtype"
	"golang.org/x/sys/unix"
)

// What differs by OS in the sockets adapt makes: this file is Linux's,
// sys_other.go the rest (macOS and the BSDs, on the portable backend).

// socketCloexec makes a blocking, close-on-exec socket in one call
// (SOCK_CLOEXEC), so no exec in another goroutine can inherit it.
func socketCloexec(family, sotype int) (int, error) {
	return unix.Socket(family, sotype|unix.SOCK_CLOEXEC, 0)
}

// acceptCall is the system call an accept error names, as net names it.
const acceptCall = "accept4"

// acceptNonblock takes the next connection from the listening socket fd:
// accept4(2), non-blocking and close-on-exec, with the peer's address
// decoded here (x/sys's Accept4 would ask the socket its protocol too,
// addr_linux.go).
func acceptNonblock(fd int) (int, net.Addr, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	// On a non-blocking socket accept4 never waits.
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	return int(r), rawToAddr(&rsa), nil
}

// abstractUnix reports whether a unix socket address is in Linux's abstract
// namespace (a leading '@'), which has no file to remove on Close.
func abstractUnix(address string) bool { return address != "" && address[0] == '@' }

// TCP options (tcpOptions, addr.go): Linux copies TCP_NODELAY and the
// keep-alive options from a listening socket to the sockets it accepts
// (TestSocketOptionsLikeNet checks it), so a Listener sets them once on its
// socket instead of on every connection: no system call per accepted
// connection where net makes five (docs/design.md, decision 71).

// listenerOptions sets the accepted connections' TCP options on a listening
// socket.
func listenerOptions(fd int) error { return tcpOptions(fd) }

// acceptedOptions sets a freshly accepted TCP connection's options: none
// here, where it inherits the listener's.
func acceptedOptions(int) error { return nil }

// setKeepAlive turns on keep-alive probes as package net's defaults have
// them.
func setKeepAlive(fd int) error {
	for _, o := range [...]struct{ level, opt, v int }{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	return nil
}

// fileType returns the S_IFMT bits of the file fd names (internal/fdtype:
// statx of the type alone, which leaves the inode's times unqueried).
func fileType(fd int) (uint32, error) {
	m, e := fdtype.Mode(int32(fd))
	if e != 0 {
		return 0, e
	}
	return m, nil
}
