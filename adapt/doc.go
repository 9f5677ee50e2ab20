// Package adapt lets code written against io, os and net use an aio.Engine
// (io_uring) without changing.
//
// Platforms: wherever aio builds. On Linux it runs over io_uring or the
// portable backend; on macOS and the BSDs (FreeBSD, OpenBSD, DragonFly)
// over the portable backend, where CI vets it and builds its tests for
// darwin (they have not run on such a host here). What differs by OS
// (making a close-on-exec socket, Linux's abstract unix socket names) is
// in sys_linux.go and sys_other.go; the rest is the same code everywhere.
//
// File is an *os.File-like type: ReadAt and WriteAt (io.ReaderAt,
// io.WriterAt) loop over short transfers as os.File does, Read and Write use
// the file position, Sync is an Fsync, and the ...Context forms turn a
// context's cancellation into an Aio Cancel. Listener is a net.Listener,
// Dial connects with an engine Connect, and Conn is a net.Conn over the
// socket either produced, so an http.Server can serve through the engine
// unchanged; TCP connections get net's TCP_NODELAY and keep-alive probes.
// A Conn owns its socket, so its Read and Write wait the cheapest way a
// blocked goroutine can: the socket is registered with Go's netpoller,
// the caller makes the system call, and the runtime wakes it directly
// when the socket is ready (one hop, as package net; docs/design.md
// decision 46); a Listener's Accept waits the same way and makes accept4
// itself (decision 73). With aio.Config.RingOnly they are engine Recv,
// Send and Accept operations instead.
//
// Errors follow the standard library, so code that checks them keeps
// working: io.EOF at the end of a file or stream; errors that match
// os.ErrDeadlineExceeded (and are net.Error timeouts) when a deadline
// passes; net.ErrClosed (for sockets) or os.ErrClosed (for files) after
// Close. Socket errors are *net.OpError and file errors *fs.PathError, as
// the net and os packages return.
//
// Deadlines of a Conn on the netpoller path are the runtime's, as in
// package net. Elsewhere they map to Aio expiry: each operation is started
// with the current deadline (SetExpire). A deadline changed while an
// operation is pending aborts that operation with an internal error and,
// if it transferred nothing, restarts it under the new deadline, so a deadline moved into the
// past ends a blocked Read at once and one moved later extends it. The
// engine never reports transferred bytes as aborted, so no data is lost to
// a restart.
package adapt
