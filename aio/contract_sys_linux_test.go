//go:build linux

package aio_test

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The system calls the contract tests need whose form differs by OS.

const tSockCloexec = unix.SOCK_CLOEXEC

func tPipe(p []int) error { return unix.Pipe2(p, unix.O_CLOEXEC) }

func tAccept(l int) (int, unix.Sockaddr, error) { return unix.Accept4(l, unix.SOCK_CLOEXEC) }

// otherSockaddr is a socket address family Connect does not take.
var otherSockaddr unix.Sockaddr = &unix.SockaddrLinklayer{}

// pollOnlyDescriptors open descriptors that can be polled but refuse
// non-blocking reads of their own (TestBlockedReadIsCut).
var pollOnlyDescriptors = map[string]func(t *testing.T) int{
	"inotify": func(t *testing.T) int {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	},
	"eventfd": func(t *testing.T) int {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	},
}
