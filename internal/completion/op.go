package completion

// The parts of how the ring runs an op.Desc that other systems build too
// (the aio package names them on every platform): the opcode a Desc goes
// out with, whether it is linked to a LINK_TIMEOUT, and how a CQE's
// result reads in op's terms.

import (
	"syscall"

	"github.com/aioring/aioring/internal/op"
	"github.com/aioring/aioring/sqe"
)

// KindLinkTimeout is the user data kind of a LINK_TIMEOUT the shard adds
// to an operation with a Deadline. It carries IOSQE_CQE_SKIP_SUCCESS, so
// it posts a CQE only if it fails to arm; the operation's own CQE reports
// the timeout (-ECANCELED). Users of the shard must not use it.
const KindLinkTimeout sqe.Kind = sqe.MaxKind - 2

// Opcode returns the opcode d goes out with, to check against the probe;
// false for a kind the ring does not know.
func Opcode(d *op.Desc) (sqe.Op, bool) {
	vec := d.NVec > 0
	switch d.Kind {
	case op.Nop:
		return sqe.OpNop, true
	case op.Read:
		switch {
		case d.FixedBuf && vec:
			return sqe.OpReadvFixed, true
		case d.FixedBuf:
			return sqe.OpReadFixed, true
		case vec:
			return sqe.OpReadv, true
		}
		return sqe.OpRead, true
	case op.Write:
		switch {
		case d.FixedBuf && vec:
			return sqe.OpWritevFixed, true
		case d.FixedBuf:
			return sqe.OpWriteFixed, true
		case vec:
			return sqe.OpWritev, true
		}
		return sqe.OpWrite, true
	case op.Fsync:
		return sqe.OpFsync, true
	case op.Recv:
		if vec {
			return sqe.OpRecvmsg, true
		}
		return sqe.OpRecv, true
	case op.Send:
		switch {
		case vec && d.ZeroCopy:
			return sqe.OpSendmsgZC, true
		case vec:
			return sqe.OpSendmsg, true
		case d.ZeroCopy:
			return sqe.OpSendZC, true
		}
		return sqe.OpSend, true
	case op.Accept:
		return sqe.OpAccept, true
	case op.Connect:
		return sqe.OpConnect, true
	case op.OpenAt:
		return sqe.OpOpenat, true
	case op.Statx:
		return sqe.OpStatx, true
	case op.Close:
		return sqe.OpClose, true
	case op.Fdatasync:
		return sqe.OpFsync, true // with IORING_FSYNC_DATASYNC
	case op.Fallocate:
		return sqe.OpFallocate, true
	case op.SendTo:
		return sqe.OpSendmsg, true
	case op.RecvFrom:
		return sqe.OpRecvmsg, true
	case op.Splice:
		return sqe.OpSplice, true
	case op.Shutdown:
		return sqe.OpShutdown, true
	}
	return 0, false
}

// linked reports whether d gets a LINK_TIMEOUT: it has a Deadline, or it
// is an Attempt that has no non-blocking flag (accept, connect: the
// shortest link timer cancels it if it would wait).
func linked(d *op.Desc) bool {
	if !d.Deadline.IsZero() {
		return true
	}
	return d.Attempt && (d.Kind == op.Accept || d.Kind == op.Connect)
}

// erestartsys is the kernel-internal ERESTARTSYS (512), which a cancelled
// io-wq request can leak into its CQE (reference: liburing.md §4.2).
const erestartsys = 512

// Result reads the result res of d's CQE in op's terms.
func Result(d *op.Desc, res int32) op.Result {
	if res >= 0 {
		if d.WaitEvents != 0 {
			// The poll queued in the operation's place (prepOp): its
			// descriptor is ready (res is the events), not the end.
			return op.Result{End: op.Ready}
		}
		return op.Result{Res: res}
	}
	switch syscall.Errno(-res) {
	case syscall.ECANCELED, syscall.EINTR, erestartsys:
		// An ASYNC_CANCEL or the LINK_TIMEOUT: the kernel does not say
		// which.
		return op.Result{Res: res, End: op.Interrupted}
	case syscall.EAGAIN:
		if d.Attempt {
			return op.Result{End: op.WouldBlock}
		}
		if d.Kind.SocketWait() && !d.ZeroCopy {
			// The kernel gave up waiting for the socket (its poll's
			// retry budget), not the socket on the operation: wait
			// again. A zero-copy send keeps its error: its
			// notification protocol has no second submission.
			return op.Result{End: op.Ready}
		}
	case syscall.EINPROGRESS, syscall.EALREADY:
		if d.Attempt && d.Kind == op.Connect {
			return op.Result{End: op.WouldBlock}
		}
	}
	return op.Result{Res: res}
}
