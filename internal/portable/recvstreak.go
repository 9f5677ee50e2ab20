//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package portable

import "github.com/aioring/aioring/internal/op"

// A receive that its Aio's recent receives say will wait goes straight to
// its readiness wait, without the non-blocking call first (decision 69).
// A server's Recv after its Send of a reply almost always finds nothing
// yet (its peer has not had the reply): the call only costs a system call
// before the wait's own, epoll_ctl (kevent), which looks at readiness when
// it arms, so data already there is never missed, only found one harvest
// later. After recvSkipAfter first tries in a row that would have waited,
// an Aio skips them, and tries once in recvProbeEvery receives all the
// same, so a connection whose data comes ahead of its receives (a
// pipelining client) is tried again once a probe finds data.
const (
	recvSkipAfter  = 2
	recvProbeEvery = 16
)

// recvStreak is one Aio's receives' first tries: how many in a row would
// have waited (up to recvSkipAfter), and how many were skipped since the
// last probe. Only run's first pass touches it, on the goroutine that owns
// the operation, so it needs no lock.
type recvStreak struct {
	waited, skipped uint8
}

// receive reports whether po is a receive the streak applies to: a
// stream's Recv that may wait (not a zero timeout's attempt, which is one
// non-blocking call by definition). Not RecvFrom: a datagram socket's
// next datagram, from any of its peers, is as often there at once, which
// a skipped try then finds only one harvest later (udp-echo lost 7-14%
// with it, decision 69).
func receive(po *portOp) bool {
	return po.kind == op.Recv && !po.nonblock
}

// skip reports whether po's first try is to be skipped.
func (rs *recvStreak) skip(po *portOp) bool {
	if !receive(po) || rs.waited < recvSkipAfter {
		return false
	}
	if rs.skipped++; rs.skipped < recvProbeEvery {
		return true
	}
	rs.skipped = 0 // a probe: tried, and note decides what follows
	return false
}

// note records how po's first try went: next is try's verdict.
func (rs *recvStreak) note(po *portOp, next portNext) {
	switch {
	case !receive(po):
	case next == nRead:
		rs.waited = min(rs.waited+1, recvSkipAfter)
	default:
		rs.waited, rs.skipped = 0, 0
	}
}
