package adapt

import "golang.org/x/sys/unix"

// What differs by OS in the sockets adapt makes: this file is Linux's,
// sys_other.go the rest (macOS and the BSDs, on the portable backend).

// socketCloexec makes a blocking, close-on-exec socket in one call
// (SOCK_CLOEXEC), so no exec in another goroutine can inherit it.
func socketCloexec(family, sotype int) (int, error) {
	return unix.Socket(family, sotype|unix.SOCK_CLOEXEC, 0)
}

// acceptCall is the system call an accept error names, as net names it.
const acceptCall = "accept4"

// abstractUnix reports whether a unix socket address is in Linux's abstract
// namespace (a leading '@'), which has no file to remove on Close.
func abstractUnix(address string) bool { return address != "" && address[0] == '@' }
