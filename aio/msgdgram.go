package aio

// RecvMsg on a datagram socket: one datagram per Msg, with its source.
//
// Through the ring (multishot receive), a datagram descriptor's request is
// a multishot IORING_OP_RECVMSG instead of a RECV: a RECV cannot say who
// sent a datagram, and it reports an empty datagram as a result of 0,
// which ends a multishot receive like an end of stream. RECVMSG writes
// into each pool buffer a struct io_uring_recvmsg_out, then the source in
// the room the template's msg_namelen reserves, then the payload, and its
// result counts all of it, so even an empty datagram is a positive
// result. The room is sized by the socket's family (dgramNameRoom), and the
// Msg's bytes start after it (Msg.off).
//
// The single-shot fallback (the portable backend, kernels before 6.0)
// receives from a datagram socket with a recvmsg(2) into the Aio's address
// room (the RecvFrom description), where every result is a datagram, an
// empty one too; from a stream with a plain recv, as before datagrams came
// (a recvmsg with the address room cost 15-18% more per receive there).
// Which it is, the Aio learns with getsockopt(SO_TYPE) when its RecvMsg
// names another descriptor than the last (x.rmFD), or the engine has
// closed a descriptor with CloseFD since (its number may now name a
// socket of the other type): one system call per descriptor, under the
// Aio's lock, never per receive.
//
// Either way the receiving Aio copies the source out when it takes the
// Msg (takeMsgLocked), so From decodes it as after a RecvFrom.

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/aioring/aioring/internal/completion"
	"golang.org/x/sys/unix"
)

// recvmsgOutSize is the size of struct io_uring_recvmsg_out (namelen,
// controllen, payloadlen, flags: four __u32), at the start of each buffer
// a multishot RECVMSG fills.
const recvmsgOutSize = 16

// dgramNameRoom is the room for a source address a multishot RECVMSG on a
// datagram socket of family reserves: the family's sockaddr, rounded up to
// 8 bytes so that the payload is aligned; RawSockaddrAny's size for unix
// sockets and anything else.
func dgramNameRoom(family int) uint32 {
	switch family {
	case unix.AF_INET:
		return unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		return (unix.SizeofSockaddrInet6 + 7) &^ 7
	}
	return uint32(unsafe.Sizeof(unix.RawSockaddrAny{}))
}

// dgramSetup makes st's multishot a RECVMSG if its descriptor is a
// datagram socket. Called before st is published. An error means the pool's
// buffers cannot hold a datagram after the header.
func (st *fdState) dgramSetup(size int) error {
	dgram, family := sockDgram(st.fd)
	if !dgram {
		return nil
	}
	room := dgramNameRoom(family)
	off := recvmsgOutSize + int(room)
	if size <= off {
		return &wrapError{ErrInvalid, fmt.Errorf("RecvMsg on datagram socket %d: Config.MsgBufferSize %d leaves no room for a datagram after its %d-byte header", st.fd, size, off)}
	}
	st.dgram, st.dgramOff = true, off
	st.hdr.Namelen = room
	st.req.hdr = &st.hdr
	return nil
}

// dgramLayout sets m, filled by st's multishot RECVMSG with n bytes (the
// CQE's result), to the datagram's payload and notes where its source is.
func (st *fdState) dgramLayout(m *Msg) {
	n := m.n - st.dgramOff
	if n < 0 {
		n = 0 // the kernel always writes the whole header; never seen
	}
	nameLen := min(binary.NativeEndian.Uint32(m.buf[0:4]), st.hdr.Namelen)
	m.off, m.n = st.dgramOff, n
	m.dgram, m.nameLen = true, uint8(nameLen)
}

// takeMsgLocked ends a's RecvMsg with m: Count is its length, and a
// datagram's source is copied into a's address room for From. b is as for
// finishLocked. Called with a.mu held.
func (a *Aio) takeMsgLocked(m *Msg, b *completion.Batch) {
	a.x.attached = m
	if m.dgram {
		a.sourceOfLocked(m)
	}
	a.finishLocked(nil, m.n, b)
}

// sourceOfLocked copies the source of datagram m into a's address room,
// for From. Called with a.mu held.
func (a *Aio) sourceOfLocked(m *Msg) {
	x := a.x
	x.sa = unix.RawSockaddrAny{}
	room := (*[unsafe.Sizeof(unix.RawSockaddrAny{})]byte)(unsafe.Pointer(&x.sa))
	n := copy(room[:], m.buf[recvmsgOutSize:recvmsgOutSize+int(m.nameLen)])
	x.msg.Namelen = uint32(n)
	x.dg.ok = true
}

// sockIsDgram reports whether fd is a datagram socket (SO_TYPE, which every
// system has). Not a socket, or any error: false, and the receive reports
// the kernel's errno.
func sockIsDgram(fd int32) bool {
	typ, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	return err == nil && typ == unix.SOCK_DGRAM
}
