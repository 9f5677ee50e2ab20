// Package relay is the forwarding engine of examples/proxy, kept apart from
// the command so that the bench's proxy scenario (./bench, "proxy") measures
// the same code the example runs.
//
// A Proxy accepts connections on a listening socket with one Aio in a
// callback chain. For each accepted client it opens a socket to the
// upstream and connects it with an Aio; once connected, each direction
// (client to upstream, upstream to client) is a pipe with an Aio that
// receives from one socket and another that sends to the other, over a
// fixed number of slots (buffers), so receiving the next bytes overlaps
// sending the last ones and a slow reader stops the proxy from reading
// more: memory per connection is bounded by
// 2 directions × Slots × Config.BufSize bytes, and TCP flow control pushes
// back on the sender beyond that.
//
// When one side ends its stream (a receive returns 0 bytes), the pipe
// sends what it still holds and then shuts down the write side of the other
// socket (Aio.Shutdown, IORING_OP_SHUTDOWN, SHUT_WR), so that side sees the end of the stream
// while the opposite direction keeps flowing: a half-close passes through.
// When both directions have ended, both sockets are closed. Any failure
// (a reset, a failed connect, a timeout) ends the whole connection: the
// other direction's pending operations are aborted and both sockets are
// closed once every operation has ended.
//
// The receive step is one small set of functions in pipe.go (recvLocked,
// take, release): by default it receives into one of the pipe's buffers
// with Recv; with Config.Msgs it is RecvMsg into the engine's pool, the
// send step attaches the received Msg with SetMsg (forwarding without a
// copy, a short send finished from the IOV of the rest), and the message
// is freed once sent. A slot then bounds messages held, so memory per
// connection is 2 directions × Slots messages plus the engine's queue per
// socket (package aio's doc). Sockets are closed with Engine.CloseFD,
// which ends a RecvMsg's multishot receive with them. Recv stays the
// default: RecvMsg measured no faster here (docs/design.md, decision 17).
//
// By default (without Config.Copy or Config.Msgs) a direction starts the
// same way, receiving into its buffers, and switches for good to splicing
// once a Recv fills its whole buffer (bulk data is streaming): it opens a
// kernel pipe of its own (1 MiB where fs.pipe-max-size allows), sends what
// it had queued, and from then on rx splices the source socket into the
// empty pipe and tx splices the pipe into the destination until it is
// empty, taking turns (a splice from a blocking socket waits for data
// holding the pipe's lock, so splicing out meanwhile could deadlock;
// package net's splice takes the same turns), and the bytes never enter
// Go's memory. The sockets are made non-blocking, so the engine makes
// each splice on the goroutine that starts or wakes it and waits for
// readiness through the ring, as package net's io.Copy between two TCP
// sockets does with its poller; on blocking sockets every splice would be
// an IORING_OP_SPLICE run by an io-wq worker, which nearly stopped in 4
// runs of 33 and took six times the threads (docs/design.md, decision
// 38). Directions carrying messages smaller than a buffer never switch: a
// message costs one Recv and one Send there, against two splices. Memory
// per spliced direction is the kernel pipe plus the two idle buffers.
// Splicing moved 1 MiB messages 1.4-1.6x as fast as copying them through
// the buffers, at less than half the proxy's CPU per message
// (docs/design.md, decision 54); Config.Copy keeps the copy. A kernel
// without IORING_OP_SPLICE makes the proxy go back to copying, and one
// without IORING_OP_SHUTDOWN gets shutdown(2) for the half-close.
package relay
