//go:build linux

package main

import "unsafe"

// directAlign is the alignment O_DIRECT asks of buffers, offsets and
// lengths; 4096 satisfies every common logical block size.
const directAlign = 4096

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// alignedBuf returns n bytes (rounded up to directAlign) starting at a
// directAlign boundary. Go's heap does not move objects, so the alignment
// holds for the slice's lifetime.
func alignedBuf(n int) []byte {
	n = alignUp(n, directAlign)
	b := make([]byte, n+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))%directAlign)) % directAlign
	return b[skip : skip+n : skip+n]
}
