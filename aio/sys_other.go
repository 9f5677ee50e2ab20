//go:build !linux

package aio

// Off Linux no request ever reaches a kernel; the values only let the
// package build.
const (
	sockCloexec = 0
	msgNosignal = 0
)

// clockMonotonic has nothing to give: only io_uring's absolute timeouts
// need the kernel's CLOCK_MONOTONIC, and some of these systems' x/sys
// (NetBSD's) does not name it.
func clockMonotonic() (int64, bool) { return 0, false }
