// Package filetry tries a positioned file read on the calling goroutine
// with preadv2(RWF_NOWAIT), which the kernel serves only from the page
// cache: it never waits for a device, and what it cannot finish it refuses
// (EAGAIN). Both of the engine's backends try a read with it before their
// own path (docs/design.md, "Cache hits without the ring", and decision
// 66): the ring, where a cached read through io_uring costs about 1.4
// times a pread, and the portable backend, where a read that is not cached
// is a file worker's blocking call. Linux only: elsewhere there is no
// RWF_NOWAIT, and the package is empty.
package filetry
