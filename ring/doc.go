// Package ring is aioring's io_uring instance: it creates the ring with
// io_uring_setup(2), maps its three regions, publishes submissions and reaps
// completions with the memory ordering the kernel requires, and wraps
// io_uring_enter(2) and io_uring_register(2).
//
// A Ring is not safe for concurrent use. With IORING_SETUP_SINGLE_ISSUER the
// thread that created the ring is the only one that may submit to it; the
// completion package arranges that by creating and driving the ring from one
// goroutine locked to its OS thread.
//
// Struct layouts follow include/uapi/linux/io_uring.h; each Go field names its
// kernel twin. Only 64-bit little-endian Linux is supported; elsewhere New
// returns an error matching errors.ErrUnsupported.
package ring
