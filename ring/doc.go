// Package ring is aioring's io_uring instance: it creates the ring with
// io_uring_setup(2), maps its three regions, publishes submissions and reaps
// completions with the memory ordering the kernel requires, and wraps
// io_uring_enter(2) and io_uring_register(2).
//
// Public API: ring and sqe are a pure-Go liburing, for programs that want
// io_uring itself rather than the aio package's contract (the bench's raw
// ring baseline is one). Their names follow the kernel's and keep their
// compatibility promises; everything else the engine is made of (the
// shard and its reapers, the portable backend, the operation description)
// is under internal/.
//
// A Ring is not safe for concurrent use: its user serialises access (the
// engine's shard takes a lock per queue). With IORING_SETUP_SINGLE_ISSUER
// only the thread that created the ring may submit to it.
//
// Struct layouts follow include/uapi/linux/io_uring.h; each Go field names its
// kernel twin. Only 64-bit little-endian Linux is supported; elsewhere New
// returns an error matching errors.ErrUnsupported.
package ring
