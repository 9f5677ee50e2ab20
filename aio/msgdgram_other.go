//go:build !linux

package aio

// sockDgram: only a ring's multishot receive asks, and rings are Linux's.
func sockDgram(fd int32) (dgram bool, family int) { return false, 0 }
