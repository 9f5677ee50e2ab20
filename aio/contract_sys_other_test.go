//go:build !linux

package aio_test

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The system calls the contract tests need whose form differs by OS. Off
// Linux, close-on-exec is not set atomically; the tests do not fork.

const tSockCloexec = 0

func tPipe(p []int) error { return unix.Pipe(p) }

func tAccept(l int) (int, unix.Sockaddr, error) { return unix.Accept(l) }

// otherSockaddr is a socket address family Connect does not take.
var otherSockaddr unix.Sockaddr = &unix.SockaddrDatalink{}

var pollOnlyDescriptors = map[string]func(t *testing.T) int{}
