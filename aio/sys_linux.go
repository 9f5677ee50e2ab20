//go:build linux

package aio

import "golang.org/x/sys/unix"

// Flags that exist under these names only on Linux.
const (
	sockCloexec = unix.SOCK_CLOEXEC // accept4's SOCK_CLOEXEC
	msgNosignal = unix.MSG_NOSIGNAL // no SIGPIPE from a send on a closed socket
)

// clockMonotonic reads CLOCK_MONOTONIC, the clock of io_uring's absolute
// timeouts, in nanoseconds (monoClock.init).
func clockMonotonic() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
