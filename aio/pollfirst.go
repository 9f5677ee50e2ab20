package aio

import (
	"os"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Poll first: a Recv that is likely to find its socket empty is issued with
// IORING_RECVSEND_POLL_FIRST, so the kernel arms its poll at once instead
// of running the receive once for nothing (-EAGAIN), arming the poll, and
// running it again from task work when data comes. If data is already
// there, the armed poll fires at once and the receive runs from task work
// on the way out of the same io_uring_enter: later, never lost.
//
// The hint is the kernel's own: a RECV's CQE carries
// IORING_CQE_F_SOCK_NONEMPTY when data was left in the socket after it.
// Ownership: Aio.drainedFD is read and written under Aio.mu, by the
// completion (noteRecvLocked) and the next start (pollFirstLocked).

type pollFirstMode uint8

const (
	pollFirstOff       pollFirstMode = iota // every Recv tries at once
	pollFirstDrained                        // after a Recv that left the socket empty
	pollFirstAfterSend                      // after a Send on the same socket by the same Aio
)

// defaultPollFirst is the mode of an io_uring engine. POLL_FIRST and
// SOCK_NONEMPTY are 5.19's; older kernels get neither.
// MEASUREMENT ONLY (removed after): AIORING_POLLFIRST picks the mode.
func defaultPollFirst() pollFirstMode {
	if !ring.KernelAtLeast(5, 19) {
		return pollFirstOff
	}
	switch os.Getenv("AIORING_POLLFIRST") {
	case "drained":
		return pollFirstDrained
	case "aftersend":
		return pollFirstAfterSend
	}
	return pollFirstOff
}

// pollFirstLocked returns the Ioprio of a Recv on a.req.fd, given the
// Aio's previous operation.
func (a *Aio) pollFirstLocked(prevKind opKind, prevFD int32) uint16 {
	switch a.e.pollFirst {
	case pollFirstDrained:
		if a.drainedFD == a.req.fd+1 {
			return sqe.RecvsendPollFirst
		}
	case pollFirstAfterSend:
		if prevKind == opSend && prevFD == a.req.fd {
			return sqe.RecvsendPollFirst
		}
	}
	return 0
}

// noteRecvLocked records whether a Recv that completed with res and CQE
// flags left its socket empty. Anything but data without SOCK_NONEMPTY
// (an error, end of stream, data left behind) clears the hint, so the next
// Recv tries at once.
func (a *Aio) noteRecvLocked(res int32, flags uint32) {
	if a.req.kind != opRecv {
		return
	}
	a.drainedFD = 0
	if res > 0 && flags&ring.CQEFSockNonempty == 0 {
		a.drainedFD = a.req.fd + 1
	}
}
