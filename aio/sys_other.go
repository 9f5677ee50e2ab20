//go:build !linux

package aio

// Off Linux no request ever reaches a kernel; the values only let the
// package build.
const (
	sockCloexec = 0
	msgNosignal = 0
)
