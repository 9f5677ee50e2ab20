//go:build !linux

package adapt

import (
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

// abstractUnix reports whether a unix socket address is in an abstract
// namespace: only Linux has one; elsewhere a leading '@' is part of a path.
func abstractUnix(address string) bool { return false }
