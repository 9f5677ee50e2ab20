//go:build linux

package aio

import "golang.org/x/sys/unix"

// setSockaddrLen: Linux's struct sockaddr has no sa_len.
func setSockaddrLen(*unix.RawSockaddrAny, uint32) {}
