// Package sqe defines the io_uring submission queue entry (struct io_uring_sqe)
// and the prep helpers that fill it for the operations aioring uses.
//
// It is pure data: nothing here makes a system call, so the package builds on
// every platform. The layout is the kernel ABI (include/uapi/linux/io_uring.h);
// field and constant names keep their kernel twins in comments so a reader can
// check them against the header. Helpers zero the whole entry first, as the
// kernel rejects requests with stray bits in reserved fields.
//
// Public API, with package ring: see ring's package doc.
//
// User data (the 64-bit cookie the kernel hands back in the CQE) is never a Go
// pointer: see UserData for the encoding.
package sqe
