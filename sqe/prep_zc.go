package sqe

import "unsafe"

// Zero-copy send (Linux 6.0+). Kept apart from prep.go: the opcodes, their
// flags and the CQE rules they follow are specific to these two requests.
//
// A zero-copy send posts up to two CQEs with the same user data: the result
// (bytes sent or -errno), flagged IORING_CQE_F_MORE when a notification will
// follow, and then the notification (IORING_CQE_F_NOTIF), posted once the
// network stack has released every page of the buffer. Until the
// notification the kernel may still read the buffer, so it must stay valid
// and unmodified.

// Zero-copy opcodes, numbered as enum io_uring_op.
const (
	OpSendZC    Op = 47 // IORING_OP_SEND_ZC (6.0)
	OpSendmsgZC Op = 48 // IORING_OP_SENDMSG_ZC (6.1)
)

func init() {
	opNames[OpSendZC] = "SEND_ZC"
	opNames[OpSendmsgZC] = "SENDMSG_ZC"
}

// Flags of the zero-copy sends, in the Ioprio field (sqe->ioprio).
const (
	// SendZCReportUsage is IORING_SEND_ZC_REPORT_USAGE (6.2): the
	// notification's res carries NotifUsageZCCopied when the kernel copied
	// the data after all (as it does for loopback).
	SendZCReportUsage = 1 << 3
)

// NotifUsageZCCopied is IORING_NOTIF_USAGE_ZC_COPIED: set in a
// notification's res, with SendZCReportUsage, when the data was copied.
const NotifUsageZCCopied = 1 << 31

// SendZC prepares IORING_OP_SEND_ZC from buf. buf must stay valid and
// unmodified until the notification CQE (IORING_CQE_F_NOTIF), not just the
// result CQE. zcFlags go in ioprio (SendZCReportUsage).
func (s *SQE) SendZC(fd int32, buf unsafe.Pointer, n uint32, msgFlags uint32, zcFlags uint16) {
	s.prepRW(OpSendZC, fd, buf, n, 0)
	s.OpFlags = msgFlags
	s.Ioprio = zcFlags
}

// SendmsgZC prepares IORING_OP_SENDMSG_ZC with a struct msghdr. The msghdr
// and its iovec array must stay valid until the result CQE, the buffers
// they name until the notification CQE.
func (s *SQE) SendmsgZC(fd int32, msg unsafe.Pointer, msgFlags uint32, zcFlags uint16) {
	s.prepRW(OpSendmsgZC, fd, msg, 1, 0)
	s.OpFlags = msgFlags
	s.Ioprio = zcFlags
}
