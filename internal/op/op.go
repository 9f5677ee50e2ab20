// Package op describes one operation of the engine in terms that belong
// to no backend: what it does, on which descriptor, with which buffers and
// address, and until when. The aio package builds a Desc once per
// operation; each backend turns it into its own form (io_uring SQEs in
// internal/completion; a non-blocking system call, a readiness wait or a
// file worker's blocking call in internal/portable) and reports how it
// ended as a Result. What a Result means for the program (ErrTimedOut,
// the error given to Abort, a count) is decided once, by the aio package.
//
// Adding an operation means a Kind and its fields here, one SQE prep in
// internal/completion and one system call in internal/portable.
//
// It is internal: only the engine imports it.
package op

import (
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxVec is the most buffers one operation has: aio.MaxIOV (a test in
// package aio checks they agree).
const MaxVec = 8

// Kind is what an operation does.
type Kind uint8

// The kinds. A Desc's fields that a kind does not name are zero.
const (
	Nop     Kind = iota + 1 // nothing; completes with 0
	Read                    // pread(2)/preadv(2) into the buffers at Off (-1: the file position)
	Write                   // pwrite(2)/pwritev(2) from the buffers at Off (-1: the file position)
	Fsync                   // fsync(2)
	Recv                    // recv(2)/recvmsg(2) into the buffers
	Send                    // send(2)/sendmsg(2) from the buffers, never raising SIGPIPE (MSG_NOSIGNAL)
	Accept                  // accept4(2), the new descriptor close-on-exec; Result.Res is it
	Connect                 // connect(2) to Addr
)

// Datagrams, splice, shutdown. Numbered from 16 so that kinds other
// features add cannot collide.
const (
	// SendTo: sendmsg(2) of the buffers (NVec entries at Vec, always a
	// vector) to Addr (AddrLen 0: a connected socket), MSG_NOSIGNAL; one
	// datagram. Hdr is the msghdr, filled by the backend.
	SendTo Kind = iota + 16
	// RecvFrom: recvmsg(2) of one datagram into the buffers (at Vec);
	// the kernel writes its source into Addr (AddrLen bytes of room) and
	// the source's length and the flags into Hdr, all of which stay put
	// until the operation ends. Res is the bytes stored: a longer
	// datagram is truncated (MSG_TRUNC in Hdr's flags), not an error.
	RecvFrom
	// Splice: splice(2) of up to N bytes from FD at Off to Out at OutOff
	// (-1: no offset, for a pipe or a socket); one end is a pipe.
	Splice
	// Shutdown: shutdown(2) of socket FD, How (SHUT_RD, SHUT_WR, SHUT_RDWR).
	Shutdown
)

// Files by name, metadata and durability (issue 18). Numbered from 32
// so that kinds added alongside never collide.
const (
	OpenAt    Kind = iota + 32 // openat(2) of Path at FD (a directory, or AT_FDCWD) with Flags and Mode; Result.Res is the new descriptor
	Statx                      // statx(2) of Path at FD with Flags (AT_*) and mask Mode, into Stat
	Close                      // close(2) of FD
	Fdatasync                  // fdatasync(2)
	Fallocate                  // fallocate(2) of FD with mode Mode, at Off for Length bytes
)

var fileKindNames = [...]string{OpenAt - 32: "OpenAt", Statx - 32: "Statx", Close - 32: "Close",
	Fdatasync - 32: "Fdatasync", Fallocate - 32: "Fallocate"}

// IsFile reports whether k is one of the files-by-name kinds (OpenAt to
// Fallocate): a blocking call in every backend but the ring's own.
func (k Kind) IsFile() bool { return k >= OpenAt && k <= Fallocate }

var kindNames = [...]string{Nop: "Nop", Read: "Read", Write: "Write", Fsync: "Fsync",
	Recv: "Recv", Send: "Send", Accept: "Accept", Connect: "Connect",
	SendTo: "SendTo", RecvFrom: "RecvFrom", Splice: "Splice", Shutdown: "Shutdown"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	if k.IsFile() {
		return fileKindNames[k-32]
	}
	return "Kind(?)"
}

// Deadline is when a backend must end an operation that has not
// completed, with Result.End TimedOut (or Interrupted where it cannot tell
// its timer from a cancel). At most one of its fields is set; the zero
// Deadline is none. Abs is on the engine's clock: CLOCK_MONOTONIC
// nanoseconds, the clock of io_uring's absolute timeouts.
type Deadline struct {
	Rel int64 // nanoseconds from the submission
	Abs int64 // CLOCK_MONOTONIC nanoseconds
}

// IsZero reports whether d sets no deadline.
func (d Deadline) IsZero() bool { return d.Rel == 0 && d.Abs == 0 }

// Desc is one operation. The aio package writes it under the Aio's lock
// before handing it to a backend and does not write it again until the
// operation has ended; the memory its pointers reach (buffers, the
// iovec array, the msghdr scratch, the address) is pinned by the aio
// package until then.
type Desc struct {
	Kind Kind
	FD   int32
	Off  int64 // Read, Write: the offset; -1 is the file position. Streams ignore it.

	// The buffers: Iov when there is at most one (Base nil: none), else
	// NVec entries at Vec.
	Iov  unix.Iovec
	Vec  *unix.Iovec
	NVec int
	// Hdr is scratch space a backend may use for the msghdr of a vector
	// Recv or Send; it lives and is pinned as long as Vec.
	Hdr *unix.Msghdr

	// Connect's and SendTo's address: the encoded form (Addr, AddrLen) and
	// the value as given (Sock), for system call wrappers that take a
	// Sockaddr. RecvFrom: the room the kernel writes the source into.
	Addr    *unix.RawSockaddrAny
	AddrLen uint32
	// WaitFD and WaitEvents are the backend's: a Splice that its try
	// found not ready (Try, on a backend that tries) waits for WaitFD
	// to become ready for WaitEvents (poll(2) events) before it is tried
	// again; the backend then reports End Ready instead of a result.
	// Zero when not waiting. (Each sits in padding the field before it
	// leaves, so that an idle Aio stays within 512 bytes.)
	WaitFD int32
	Sock   unix.Sockaddr

	// Splice's other end and how much it moves; Shutdown's how.
	Out        int32
	WaitEvents uint32
	OutOff     int64
	N          uint32
	How        int32

	// Attempt: a zero timeout; if the operation would have to wait, it
	// ends with WouldBlock instead.
	Attempt bool
	// Device is the backend's, written by its Try: the read it declined
	// will wait for a storage device (an O_DIRECT descriptor, or data the
	// page cache did not hold). The aio package then has it submitted at
	// once even from inside a callback, instead of with the round's batch
	// (docs/design.md, decision 44).
	Device bool
	// Held: every descriptor this Aio's operations name is held open by
	// the Aio's owner during and between them (an adapt.File's Aios, which
	// name only the File's own descriptor), so its number cannot have been
	// closed and reused since a backend last looked at it: what a backend
	// learnt of its kind still holds. Set once per Aio by the aio package
	// (internal/fdhold) and kept across operations, like Backend. (In the
	// padding after Device.)
	Held bool
	// Stream is the backend's, written by its Try: the descriptor the
	// read or write it declined names is not a regular file (a pipe, a
	// socket, a terminal: ESPIPE at an offset, or not regular at the
	// file position), so the request may wait in the kernel without end,
	// until data or room comes. The aio package then has CloseFD cancel
	// the engine's requests by descriptor (aio/fdcancel.go). (In the
	// padding after Held.)
	Stream bool
	// CloseSeq is the engine's count of CloseFDs when the operation
	// began, the aio package's: a cancel by descriptor that ends it is
	// its own descriptor's close only if that descriptor was closed after
	// (aio/fdcancel.go). (In the padding after Stream.)
	CloseSeq uint32
	// Deadline bounds the operation in the backend. The aio package
	// leaves it zero for operations a backend cannot cut short (a
	// regular file's read in io-wq or on a file worker) and bounds those
	// with a timer of its own.
	Deadline Deadline
	// ZeroCopy asks for a zero-copy send where the backend has one
	// (IORING_OP_SEND_ZC); the aio package sets it only when the backend
	// reports that it supports it.
	ZeroCopy bool
	// Scratch is the backend's, for an encoding of Deadline that must
	// stay in memory until submission (io_uring reads a LINK_TIMEOUT's
	// timespec then).
	Scratch [2]int64

	// Token names the operation in the Result the backend reports: the
	// aio package's (slot, generation) user data.
	Token uint64
	// Backend is the backend's own state for the Aio that owns this Desc,
	// made by the backend on first use and kept across operations (so a
	// start allocates nothing once warm). The aio package never reads it.
	Backend any

	// Files by name (OpenAt, Statx): Path is the NUL-terminated path (its
	// last byte is the NUL), pinned by the aio package until the
	// operation ends (the kernel may read it at issue, not only at
	// submission). Flags: OpenAt's open flags (O_CLOEXEC always among
	// them), Statx's AT_* flags. Mode: OpenAt's mode, Statx's mask,
	// Fallocate's mode. Stat: where Statx's result goes, a struct statx
	// (unix.Statx_t, Linux only; pinned, and written before the operation
	// ends). Length: Fallocate's length.
	Path   []byte
	Flags  uint32
	Mode   uint32
	Stat   unsafe.Pointer
	Length int64
	// Registered resources. FixedBuf: every buffer lies inside the
	// registered buffer in slot BufIndex (the same slot on every ring of
	// the engine), so a ring may read or write with READ_FIXED and
	// WRITE_FIXED (READV_FIXED, WRITEV_FIXED for a vector). FixedFile:
	// FD is in slot FileIndex of every ring's fixed file table, so a ring
	// may name it by index (IOSQE_FIXED_FILE). The aio package sets them
	// only for kinds whose ring form takes them; a backend without such
	// tables ignores both and uses the buffers and FD as they are.
	FixedBuf  bool
	FixedFile bool
	BufIndex  uint16
	FileIndex uint32
}

// Len is the total length of the buffers.
func (d *Desc) Len() int {
	if d.NVec == 0 {
		return int(d.Iov.Len)
	}
	n := 0
	for _, v := range d.Vecs() {
		n += int(v.Len)
	}
	return n
}

// Vecs returns the buffers of a vector operation (nil otherwise).
func (d *Desc) Vecs() []unix.Iovec {
	if d.NVec == 0 {
		return nil
	}
	return unsafeSlice(d.Vec, d.NVec)
}

// End is how an operation ended, as far as its backend can tell.
type End uint8

const (
	// Completed: Res is the system call's result, a count (or an
	// accepted descriptor) or a negated errno.
	Completed End = iota
	// Interrupted: a cancel or the Deadline ended it, and the backend
	// cannot tell which (io_uring reports both as -ECANCELED, or -EINTR
	// for io-wq work); Res keeps the negated errno. The aio package
	// decides: the abort it asked for, else its deadline, else the errno.
	Interrupted
	// TimedOut: the backend's own timer for Deadline ended it.
	TimedOut
	// WouldBlock: an Attempt that would have had to wait.
	WouldBlock
	// Ready: not an end. What the operation waited for (WaitFD,
	// WaitEvents) is ready, or the backend gave up waiting for it
	// (SocketWait); the aio package tries it again.
	Ready
	// Closed: the descriptor the operation waited on was closed by
	// Engine.CloseFD or Aio.CloseFD while it waited for readiness (the
	// portable backend, whose poller drops a closed descriptor without a
	// report); the aio package reports ErrClosed.
	Closed
)

// SocketWait reports whether the ring carries out an operation of kind k
// by waiting for its socket's readiness itself (io_uring's internal poll)
// when it cannot be done at once. That wait has a budget: after 128
// wake-ups that found nothing to do (APOLL_MAX_RETRY; several operations
// waiting on one socket, each woken by every datagram one of them takes)
// the kernel hands the operation to an io-wq worker, where on a
// non-blocking socket it ends with EAGAIN, and on a blocking one holds
// the worker until it is done. The ring backend reports that EAGAIN as
// Ready, so that the operation is queued again, with a new budget,
// instead of failing a receive that was asked to wait (decision 78 in
// docs/design.md).
func (k Kind) SocketWait() bool {
	switch k {
	case Recv, Send, RecvFrom, SendTo, Accept:
		return true
	}
	return false
}

// Result is what a backend reports when an operation ends.
type Result struct {
	Res int32 // Completed: a count or a negated errno; otherwise 0
	End End
}

// AddMono returns the clock reading ns after mono (>= 0), saturated at
// math.MaxInt64: a far deadline stays far. Every deadline made by adding a
// span to a reading goes through it.
//
// The saturated value is a valid deadline everywhere it goes: subtracting
// a reading from it cannot overflow (readings are >= 0), a runtime timer
// clamps its own end, and as an IORING_TIMEOUT_ABS timespec it is
// {tv_sec 9223372036, tv_nsec 854775807}: the kernel's timeout prep only
// refuses negative fields, and timespec64_to_ktime (ktime_set) turns
// tv_sec >= KTIME_SEC_MAX into KTIME_MAX, an hrtimer that never fires.
func AddMono(mono, ns int64) int64 {
	if ns > math.MaxInt64-mono {
		return math.MaxInt64
	}
	return mono + ns
}
