package aio

// Datagrams, splice and shutdown: the start methods, how they are
// described to a backend (op.SendTo, op.RecvFrom, op.Splice,
// op.Shutdown), and From's decoding of a datagram's source.
//
// Memory: SendTo and RecvFrom always go out as a msghdr (x.msg) over the
// iovec array (x.iovecs, even for one buffer) with the address in x.sa,
// all in the Aio's aioExtra, which is pinned with the buffers from the
// start until the operation ends: RECVMSG writes the source, its length
// and MSG_TRUNC back into them at completion. The caller's Sockaddr is
// read once, at the start (putSockaddr), and never written.

import (
	"math"
	"unsafe"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// dgExtra is the per-Aio state of From: one value per family, reused by
// every RecvFrom, so decoding a source allocates nothing (a unix socket's
// name allocates its string only when it differs from the last one).
type dgExtra struct {
	ok       bool // the last operation received a datagram (RecvFrom, or RecvMsg on a datagram socket)
	from4    unix.SockaddrInet4
	from6    unix.SockaddrInet6
	fromUnix unix.SockaddrUnix

	// Splice's output side, set by Splice under mu just before it starts.
	spliceOut    int32
	spliceOutOff int64
	spliceN      uint32
}

// SendTo sends the IOV (or the Msg SetMsg attached, as Send does) as one
// datagram on socket fd to the address to (*unix.SockaddrInet4,
// *unix.SockaddrInet6 or *unix.SockaddrUnix; others give ErrInvalid). A
// nil to sends on a connected socket. to is read when the operation
// starts and never written, so one value may serve many Aios at once.
// Count is the bytes sent.
//
// Many datagrams to one peer: on a UDP socket with the UDP_SEGMENT option
// set (Linux's GSO), one SendTo sends the buffer as datagrams of that size
// (the last may be shorter), at a fraction of the cost of one SendTo each
// (BenchmarkSendToBatch).
func (a *Aio) SendTo(fd int, to unix.Sockaddr) {
	if to == nil {
		a.startKernel(opSendTo, fd, 0, nil)
		return
	}
	a.startKernel(opSendTo, fd, 0, to)
}

// RecvFrom receives one datagram from socket fd into the IOV; From then
// holds its source. A datagram longer than the IOV is truncated, as
// net.UDPConn.ReadFrom truncates it: Count is the bytes stored and the
// rest is lost (no error). On a stream socket it reads like Recv. On a
// descriptor that RecvMsg receives from, it takes the next datagram
// RecvMsg would get, as Recv does.
//
// Several Aios may wait on one socket. Each datagram wakes them all, and
// io_uring stops polling for one woken 128 times for nothing: on a
// non-blocking socket the engine queues it again (Stats.Requeued), on a
// blocking one the kernel parks it in an io-wq thread until it ends. So
// a socket that several receives wait on is best non-blocking.
func (a *Aio) RecvFrom(fd int) {
	if a.e.msgs.live.Load() != 0 && a.recvQueued(fd, opRecvFrom) {
		return // fd has a RecvMsg's multishot: served from its queue (msgmixed.go)
	}
	a.startKernel(opRecvFrom, fd, 0, nil)
}

// From returns the source of the datagram the last RecvFrom (or RecvMsg
// on a datagram socket) received: a *unix.SockaddrInet4,
// *unix.SockaddrInet6 or *unix.SockaddrUnix, or nil when the last
// operation was not such a receive that succeeded, or the
// sender had no address (an unbound unix socket). The value belongs to
// the Aio and is reused: it stays valid until the Aio's next operation
// ends; copy it to keep it longer. It allocates nothing, except a unix
// socket name that differs from the previous one.
func (a *Aio) From() unix.Sockaddr {
	a.mu.Lock()
	defer a.unlock()
	if a.x == nil || !a.x.dg.ok {
		return nil
	}
	x := a.x
	n := int(x.msg.Namelen)
	raw := &x.sa
	switch int(raw.Addr.Family) {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return nil
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		x.dg.from4 = unix.SockaddrInet4{Port: getPort(&p.Port), Addr: p.Addr}
		return &x.dg.from4
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return nil
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		x.dg.from6 = unix.SockaddrInet6{Port: getPort(&p.Port), ZoneId: p.Scope_id, Addr: p.Addr}
		return &x.dg.from6
	case unix.AF_UNIX:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		off := int(unsafe.Offsetof(p.Path))
		if n <= off {
			return nil // unnamed
		}
		path := unsafe.Slice((*byte)(unsafe.Pointer(&p.Path[0])), min(n-off, len(p.Path)))
		abstract := path[0] == 0
		if !abstract {
			for i, c := range path {
				if c == 0 {
					path = path[:i]
					break
				}
			}
		}
		if len(path) == 0 {
			return nil
		}
		if !sameName(x.dg.fromUnix.Name, path, abstract) {
			b := make([]byte, len(path))
			copy(b, path)
			if abstract {
				b[0] = '@' // as x/sys spells an abstract name
			}
			x.dg.fromUnix = unix.SockaddrUnix{Name: string(b)}
		}
		return &x.dg.fromUnix
	}
	return nil
}

// sameName reports whether name (as From returns it) spells path, whose
// first byte is a NUL for an abstract name ('@' in name).
func sameName(name string, path []byte, abstract bool) bool {
	if len(name) != len(path) {
		return false
	}
	for i := range path {
		c := path[i]
		if i == 0 && abstract {
			c = '@'
		}
		if name[i] != c {
			return false
		}
	}
	return true
}

// getPort reads a port stored in network byte order.
func getPort(src *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(src))
	return int(b[0])<<8 | int(b[1])
}

// Splice moves up to n bytes from descriptor in at offset inOff to out
// at offset outOff (splice(2)); one of them must be a pipe, and -1 is the
// offset of a pipe or socket (a file's -1: its current position). Count
// is the bytes moved: 0 at end of input. n <= 0 or beyond what one call
// can move gives ErrInvalid. On the BSDs, which have no splice(2), it
// ends with ErrUnsupported.
//
// Where the splice runs: when both ends are pipes or sockets in
// non-blocking mode (O_NONBLOCK), on either backend, it is a splice(2)
// with SPLICE_F_NONBLOCK made by the starting goroutine, and an end that
// is not ready is waited for (on io_uring through the ring, with a poll
// in the operation's place; on the portable backend through the
// netpoller), after which the goroutine that learns of it splices
// again: no thread is held. On io_uring any other end (a regular file,
// a socket in blocking mode) makes it an IORING_OP_SPLICE, which the
// kernel runs on an io-wq worker thread, and a splice from a quiet
// blocking socket holds its worker until data comes; there an O_NONBLOCK
// pipe makes the splice end with EAGAIN instead of waiting. So give a
// Splice non-blocking sockets (io_uring's Recv, Send, Accept and Connect
// wait for readiness on those as on blocking ones). A zero timeout makes
// it one attempt that ends with ErrTimedOut if nothing could move.
func (a *Aio) Splice(in int, inOff int64, out int, outOff int64, n int) {
	if n <= 0 || n > math.MaxInt32 || out > math.MaxInt32 || out < math.MinInt32 || inOff < -1 || outOff < -1 {
		a.startInvalid("Splice")
		return
	}
	// The output side waits in the Aio for buildStreamLocked (startKernel
	// carries one descriptor). Writing it while an operation runs changes
	// nothing of that operation, whose Desc is already built; the start
	// below then panics as any start on a busy Aio does.
	a.mu.Lock()
	x := a.extra()
	x.dg.spliceOut, x.dg.spliceOutOff, x.dg.spliceN = int32(out), outOff, uint32(n)
	a.unlock()
	a.startKernel(opSplice, in, inOff, nil)
}

// Shutdown shuts down all or part of socket fd's connection (shutdown(2));
// how is unix.SHUT_RD, unix.SHUT_WR or unix.SHUT_RDWR (another value:
// ErrInvalid). SHUT_WR makes the peer read end of stream once what was
// sent has arrived.
func (a *Aio) Shutdown(fd int, how int) {
	if how != unix.SHUT_RD && how != unix.SHUT_WR && how != unix.SHUT_RDWR {
		a.startInvalid("Shutdown")
		return
	}
	a.startKernel(opShutdown, fd, int64(how), nil)
}

// startInvalid begins an operation whose input is bad and ends it with
// ErrInvalid, through the callback like every start failure (a stopped
// Aio or a closed engine still wins, as for any start).
func (a *Aio) startInvalid(name string) {
	a.mu.Lock()
	defer a.unlock()
	a.beginLocked(name)
	if err := a.admitLocked(); err != nil {
		a.finishLocked(err, 0, nil)
		return
	}
	a.clearExpiryLocked() // one-shot: consumed
	a.finishLocked(ErrInvalid, 0, nil)
}

// msghdrLocked makes d, whose buffers are described, a k (op.SendTo or
// op.RecvFrom) over the msghdr in the Aio's aioExtra: one buffer becomes a
// one-entry vector there, and the address room is the destination sa
// (SendTo; nil: none) or the room the kernel writes the source into
// (RecvFrom).
func (a *Aio) msghdrLocked(d *op.Desc, k op.Kind, sa unix.Sockaddr) error {
	d.Kind = k
	x := a.extra()
	if d.NVec == 0 && d.Iov.Base != nil {
		x.iovecs[0] = d.Iov
		d.Vec, d.NVec = &x.iovecs[0], 1
	}
	d.Iov = unix.Iovec{}
	d.Hdr = &x.msg
	switch {
	case k == op.RecvFrom:
		x.sa = unix.RawSockaddrAny{}
		d.Addr, d.AddrLen = &x.sa, uint32(unsafe.Sizeof(x.sa))
	case sa != nil:
		n, err := putSockaddr(&x.sa, sa)
		if err != nil {
			return ErrInvalid
		}
		d.Addr, d.AddrLen, d.Sock = &x.sa, n, sa
	}
	a.pinExtraLocked()
	return nil
}

// buildStreamLocked describes the operations of this file in a.desc (see
// buildLocked). off carries Splice's input offset or Shutdown's how.
func (a *Aio) buildStreamLocked(kind opKind, d *op.Desc, off int64, sa unix.Sockaddr) error {
	switch kind {
	case opSendTo:
		if !a.attachedLocked(d) {
			if err := a.buffersLocked(d); err != nil {
				return err
			}
		}
		return a.msghdrLocked(d, op.SendTo, sa)
	case opRecvFrom:
		if err := a.buffersLocked(d); err != nil {
			return err
		}
		return a.msghdrLocked(d, op.RecvFrom, nil)
	case opSplice:
		d.Kind, d.Off = op.Splice, off
		x := a.extra()
		d.Out, d.OutOff, d.N = x.dg.spliceOut, x.dg.spliceOutOff, x.dg.spliceN
	case opShutdown:
		d.Kind, d.How = op.Shutdown, int32(off)
	}
	return nil
}
