//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package aio

import "golang.org/x/sys/unix"

// setSockaddrLen stores the encoded length in sa_len, which these
// systems' struct sockaddr has and Linux's has not.
func setSockaddrLen(raw *unix.RawSockaddrAny, n uint32) { raw.Addr.Len = uint8(n) }
