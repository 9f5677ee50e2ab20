// Package filetry tries a positioned file read or write on the calling
// goroutine before the backend's own path. A read is tried with
// preadv2(RWF_NOWAIT), which the kernel serves only from the page cache:
// it never waits for a device, and what it cannot finish it refuses
// (EAGAIN). A write is tried with pwritev2(RWF_NOWAIT) where the file
// system takes it, and where it refuses (ext4 refuses every buffered
// write, which io_uring then hands to an io-wq worker) a write of at most
// InlineMax bytes is a plain pwritev2 at its offset, timed, as os.File
// makes it (write_linux.go says why that cannot block on a pipe, socket
// or terminal). Both of the engine's backends try with it (docs/design.md,
// "Cache hits without the ring", decisions 66 and 68): the ring, where a
// cached read through io_uring costs about 1.4 times a pread and a write
// in io-wq about five times a pwrite, and the portable backend, where
// either is otherwise a file worker's blocking call. Linux only:
// elsewhere there is no RWF_NOWAIT, and the package holds InlineMax alone.
package filetry
