//go:build !linux

package aio

import "syscall"

// Off Linux no request ever reaches a kernel; the values only let the
// package build.
const (
	sockCloexec = 0
	msgNosignal = 0
)

const errETIME = syscall.Errno(62) // never reported off Linux
