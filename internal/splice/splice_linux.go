//go:build linux

package splice

import (
	"unsafe"

	"github.com/aioring/aioring/internal/fdtype"
	"golang.org/x/sys/unix"
)

// End is what one end of a Splice is.
type End uint8

const (
	Other          End = iota // a regular file or another kind: a call may read the disk
	Pipe                      // a pipe: SPLICE_F_NONBLOCK keeps it from waiting
	Socket                    // a socket in non-blocking mode: never waits
	BlockingSocket            // a socket in blocking mode: waits for data or room, whatever the flags
)

// EndOf says what fd is (its type by statx, which leaves a file's times
// unqueried, see package fdtype; and F_GETFL for a socket).
func EndOf(fd int32) (End, unix.Errno) {
	mode, e := fdtype.Mode(fd)
	if e != 0 {
		return Other, e
	}
	switch mode {
	case unix.S_IFIFO:
		return Pipe, 0
	case unix.S_IFSOCK:
		fl, e := Flags(fd)
		if e != 0 {
			return Other, e
		}
		if fl&unix.O_NONBLOCK != 0 {
			return Socket, 0
		}
		return BlockingSocket, 0
	}
	return Other, 0
}

// Flags returns fd's file status flags (F_GETFL), or -1 with the errno
// when they cannot be read (a closed descriptor).
func Flags(fd int32) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

// Nonblock makes one splice(2) of up to n bytes from in to out with
// SPLICE_F_NONBLOCK, retried on EINTR. A nil offset is none (a pipe, a
// socket, a file's position); the kernel advances a given one. Syscall,
// not RawSyscall: a regular file's end may read the disk, and moving a
// pipe's worth into a loopback socket delivers it to the receiver inline.
func Nonblock(in int32, inOff *int64, out int32, outOff *int64, n int) (int, unix.Errno) {
	for {
		// The offsets converted in the call itself, so that what they
		// point to stays put and alive until it returns.
		r, _, e := unix.Syscall6(unix.SYS_SPLICE, uintptr(in), uintptr(unsafe.Pointer(inOff)),
			uintptr(out), uintptr(unsafe.Pointer(outOff)), uintptr(n), unix.SPLICE_F_NONBLOCK)
		if e != unix.EINTR {
			return int(r), e
		}
	}
}
