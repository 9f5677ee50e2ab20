package op

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func unsafeSlice(p *unix.Iovec, n int) []unix.Iovec { return unsafe.Slice(p, n) }
