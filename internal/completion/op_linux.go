//go:build linux

package completion

// How the ring carries out an op.Desc: its SQEs (and LINK_TIMEOUT), and
// how a CQE's result reads in op's terms. Everything io_uring-specific
// about an operation is here; what a result means for the program is the
// aio package's.

import (
	"unsafe"

	"github.com/aioring/aioring/internal/filetry"
	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// inlineCopyMax is the largest file read or write (in bytes) submitted with
// RawSyscall. io_uring_enter serves a page-cache hit inline, copying the
// data before it returns; RawSyscall keeps the P for that time and a
// stop-the-world waits for it, so larger transfers are submitted with
// Syscall, which lets the scheduler and the GC go on (defect found in
// review: a 1 GiB cached read through adapt.File held the P throughout).
const inlineCopyMax = filetry.InlineMax

// QueueOp writes d's SQEs into the SQ, as Queue does for a Request. The
// memory d points to must stay put until the operation's CQE.
func (s *Shard) QueueOp(d *op.Desc) error {
	n := 1
	if linked(d) {
		n = 2
	}
	if err := s.reserve(n); err != nil {
		return err
	}
	prepOp(d, s.ents[:n])
	if mayBlock(d) {
		s.mayBlock = true
	}
	s.unpublished++
	s.unreserve()
	return nil
}

// mayBlock reports whether submitting d can copy a lot inline: a file
// transfer larger than inlineCopyMax (see ring.EnterPublished).
func mayBlock(d *op.Desc) bool {
	return (d.Kind == op.Read || d.Kind == op.Write) && d.Len() > inlineCopyMax
}

// pollInstead stands for d.Kind in prepOp while d waits for readiness
// (Desc.WaitEvents): no operation has kind 0.
const pollInstead op.Kind = 0

// prepOp fills s[0] with d's operation and, when there is one, s[1] with
// its LINK_TIMEOUT.
func prepOp(d *op.Desc, s []*sqe.SQE) {
	e := s[0]
	buf, n := unsafe.Pointer(d.Iov.Base), uint32(d.Iov.Len)
	vec := d.NVec > 0
	var rwFlags, msgFlags uint32
	if d.Attempt {
		rwFlags, msgFlags = sqe.RWFNowait, unix.MSG_DONTWAIT
	}
	kind := d.Kind
	if d.WaitEvents != 0 {
		kind = pollInstead
	}
	switch kind {
	case pollInstead:
		// A Splice its try found not ready waits for its end first
		// (trySplice); the poll's CQE carries the operation's token,
		// so a cancel or the Aio's deadline reaches it as any other.
		e.PollAdd(d.WaitFD, d.WaitEvents)
	case op.Nop:
		e.Nop()
	case op.Read, op.Write:
		switch {
		case d.FixedBuf && vec && d.Kind == op.Read:
			e.ReadvFixed(d.FD, unsafe.Pointer(d.Vec), uint32(d.NVec), d.Off, d.BufIndex, rwFlags)
		case d.FixedBuf && vec:
			e.WritevFixed(d.FD, unsafe.Pointer(d.Vec), uint32(d.NVec), d.Off, d.BufIndex, rwFlags)
		case d.FixedBuf && d.Kind == op.Read:
			e.ReadFixed(d.FD, buf, n, d.Off, d.BufIndex, rwFlags)
		case d.FixedBuf:
			e.WriteFixed(d.FD, buf, n, d.Off, d.BufIndex, rwFlags)
		case vec && d.Kind == op.Read:
			e.Readv(d.FD, unsafe.Pointer(d.Vec), uint32(d.NVec), d.Off, rwFlags)
		case vec:
			e.Writev(d.FD, unsafe.Pointer(d.Vec), uint32(d.NVec), d.Off, rwFlags)
		case d.Kind == op.Read:
			e.Read(d.FD, buf, n, d.Off, rwFlags)
		default:
			e.Write(d.FD, buf, n, d.Off, rwFlags)
		}
	case op.Fsync:
		e.Fsync(d.FD, 0)
	case op.Recv, op.Send:
		if d.Kind == op.Send {
			msgFlags |= unix.MSG_NOSIGNAL
		}
		if vec {
			// The msghdr is read at submission (IORING_FEAT_SUBMIT_STABLE)
			// and its iovecs until the CQE; both are pinned by the owner.
			*d.Hdr = unix.Msghdr{Iov: d.Vec}
			d.Hdr.SetIovlen(d.NVec)
		}
		switch {
		case d.Kind == op.Recv && vec:
			e.Recvmsg(d.FD, unsafe.Pointer(d.Hdr), msgFlags)
		case d.Kind == op.Recv:
			e.Recv(d.FD, buf, n, msgFlags)
		case vec && d.ZeroCopy:
			e.SendmsgZC(d.FD, unsafe.Pointer(d.Hdr), msgFlags, 0)
		case vec:
			e.Sendmsg(d.FD, unsafe.Pointer(d.Hdr), msgFlags)
		case d.ZeroCopy:
			e.SendZC(d.FD, buf, n, msgFlags, 0)
		default:
			e.Send(d.FD, buf, n, msgFlags)
		}
	case op.Accept:
		e.Accept(d.FD, nil, nil, unix.SOCK_CLOEXEC)
	case op.Connect:
		e.Connect(d.FD, unsafe.Pointer(d.Addr), d.AddrLen)
	case op.SendTo, op.RecvFrom:
		// The msghdr, its iovecs and the address are the owner's and
		// pinned until the CQE: RECVMSG writes the source, its length
		// and the flags (MSG_TRUNC) back at completion.
		*d.Hdr = unix.Msghdr{Iov: d.Vec}
		d.Hdr.SetIovlen(d.NVec)
		if d.AddrLen != 0 {
			d.Hdr.Name, d.Hdr.Namelen = (*byte)(unsafe.Pointer(d.Addr)), d.AddrLen
		}
		if d.Kind == op.SendTo {
			e.Sendmsg(d.FD, unsafe.Pointer(d.Hdr), msgFlags|unix.MSG_NOSIGNAL)
		} else {
			e.Recvmsg(d.FD, unsafe.Pointer(d.Hdr), msgFlags)
		}
	case op.Splice:
		var fl uint32
		if d.Attempt {
			fl = sqe.SpliceFNonblock
		}
		e.Splice(d.FD, d.Off, d.Out, d.OutOff, d.N, fl)
	case op.Shutdown:
		e.Shutdown(d.FD, uint32(d.How))
	default:
		prepFile(d, e)
	}
	if d.FixedFile {
		// The registered descriptor, by its slot in the ring's file table.
		e.Fd, e.Flags = int32(d.FileIndex), e.Flags|sqe.FixedFile
	}
	e.UserData = d.Token
	if len(s) < 2 {
		return
	}
	// The timespec lives in d (Scratch) until submission, which is when
	// the kernel reads it (IORING_FEAT_SUBMIT_STABLE).
	ts := (*sqe.Timespec)(unsafe.Pointer(&d.Scratch))
	var tsFlags uint32
	switch {
	case d.Deadline.Abs != 0:
		ts.SetNanoseconds(d.Deadline.Abs)
		tsFlags = sqe.TimeoutAbs
	case d.Deadline.Rel != 0:
		ts.SetNanoseconds(d.Deadline.Rel)
	default: // an Attempt of accept or connect: the shortest timer
		*ts = sqe.Timespec{Nsec: 1}
	}
	e.Flags |= sqe.IOLink
	lt := s[1]
	lt.LinkTimeout(ts, tsFlags)
	// One CQE per operation: the timer reports only through the
	// operation's -ECANCELED.
	lt.Flags |= sqe.CQESkipSuccess
	ud := sqe.UserData(d.Token)
	lt.UserData = uint64(sqe.Pack(KindLinkTimeout, ud.Index(), ud.Gen()))
}

// prepFile fills e with one of the files-by-name kinds. The path and the
// statx buffer are pinned by the owner until the CQE.
func prepFile(d *op.Desc, e *sqe.SQE) {
	var path unsafe.Pointer
	if len(d.Path) > 0 {
		path = unsafe.Pointer(&d.Path[0])
	}
	switch d.Kind {
	case op.OpenAt:
		e.Openat(d.FD, path, d.Flags, d.Mode)
	case op.Statx:
		e.Statx(d.FD, path, d.Flags, d.Mode, d.Stat)
	case op.Close:
		e.Close(d.FD)
	case op.Fdatasync:
		e.Fsync(d.FD, sqe.FsyncDatasync)
	case op.Fallocate:
		e.Fallocate(d.FD, d.Mode, d.Off, d.Length)
	}
}
