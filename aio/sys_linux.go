//go:build linux

package aio

import "golang.org/x/sys/unix"

// Flags that exist under these names only on Linux.
const (
	sockCloexec = unix.SOCK_CLOEXEC // accept4's SOCK_CLOEXEC
	msgNosignal = unix.MSG_NOSIGNAL // no SIGPIPE from a send on a closed socket
)
