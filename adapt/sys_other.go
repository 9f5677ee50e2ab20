//go:build !linux

package adapt

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// What differs by OS in the sockets adapt makes: this file is for macOS and
// the BSDs (the portable backend), sys_linux.go Linux's.

// socketCloexec makes a blocking, close-on-exec socket. Without
// SOCK_CLOEXEC (macOS) that takes two calls; holding syscall.ForkLock for
// reading across them, as the net package does, keeps a fork in another
// goroutine from inheriting the socket in between.
func socketCloexec(family, sotype int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(family, sotype, 0)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

// acceptCall is the system call an accept error names, as net names it.
const acceptCall = "accept"

// acceptNonblock takes the next connection from the listening socket fd,
// non-blocking and close-on-exec: without accept4 (macOS) that takes three
// calls, the first two under syscall.ForkLock as net makes them.
func acceptNonblock(fd int) (int, net.Addr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, toAddr(sa), nil
}

// abstractUnix reports whether a unix socket address is in an abstract
// namespace: only Linux has one; elsewhere a leading '@' is part of a path.
func abstractUnix(address string) bool { return false }

// TCP options (tcpOptions, addr.go): here each accepted connection gets
// them itself (which options a BSD copies from the listening socket has
// not been checked), and keep-alive's timing is the system's (its options
// differ between these systems).

// listenerOptions sets nothing on a listening socket here.
func listenerOptions(int) error { return nil }

// acceptedOptions sets a freshly accepted TCP connection's options.
func acceptedOptions(fd int) error { return tcpOptions(fd) }

// setKeepAlive turns on keep-alive probes.
func setKeepAlive(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// fileType returns the S_IFMT bits of the file fd names (fstat(2)).
func fileType(fd int) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return uint32(st.Mode) & unix.S_IFMT, nil
}
