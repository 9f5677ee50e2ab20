// Package udpecho is the UDP echo server of examples/echo -udp: loops of
// RecvFrom (or RecvMsg) and SendTo on one socket. The bench's udp-echo
// scenario runs this same code, so what it measures is what the example
// does.
package udpecho

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aioring/aioring/aio"
)

// MaxDatagram is the largest UDP payload over IPv4/IPv6 without
// jumbograms: Serve's receive buffers, so no datagram is truncated.
const MaxDatagram = 65535

// MsgBuffer is a pool buffer size (aio.Config.MsgBufferSize) that holds any
// UDP datagram after the header and source a multishot receive writes
// first (at most 128 bytes).
const MsgBuffer = MaxDatagram + 128

// Serve starts up to n echo loops on UDP socket fd, each an Aio that
// receives a datagram with RecvFrom into its own buffer and sends it back
// to From() with SendTo. Nothing is copied and nothing allocates per
// datagram; a loop's buffer is made when it first receives. done is
// closed once every loop has ended (the engine was closed). Replies the
// kernel refuses are written to log; UDP loses them.
//
// fd is best non-blocking: several receives wait on it, and one the
// kernel stops polling for (after 128 wake-ups that found nothing) would
// hold an io-wq thread on a blocking socket until a datagram came for it;
// on a non-blocking one the engine queues it again (docs/design.md,
// decision 78).
//
// Only as many receives are pending as there are datagrams to take
// (decision 76 in docs/design.md). Every receive pending on a socket
// waits on its own and one datagram wakes them all, so n receives left
// waiting make a lone datagram cost n wake-ups, while a burst wants many
// receives at once. A few loops (waiters) wait on the socket with a
// RecvFrom without timeout; a loop that has received or sent a datagram
// takes the next with a zero-timeout RecvFrom, which ends at once with
// ErrTimedOut when nothing is queued, and then rests. A wait that ends,
// and a take that finds a datagram, start one resting loop more (as a
// waiter if fewer than waiters wait), so the loops at work grow while
// datagrams queue and shrink back to the waiters when they stop.
func Serve(e *aio.Engine, fd, n int, log io.Writer) (done chan struct{}) {
	_, done = serve(e, fd, n, log)
	return done
}

// waiters is how many loops wait on the socket when nothing is queued.
// One waiter served a lone client fastest with two Ps but slowest at one
// (not traced; a receive's completion runs as task_work on the thread
// that armed it, and one request leaves one such thread), and four, as
// many as the fixed loops of 4 per P had at one P, lost in no condition
// against those (decision 76).
const waiters = 4

// loopRole is what a loop's pending operation is.
type loopRole uint8

const (
	roleWait loopRole = iota // a RecvFrom with no timeout: one of the socket's waiters
	roleTake                 // a RecvFrom with a zero timeout: a datagram already queued, or ErrTimedOut at once
	roleSend                 // a SendTo of the datagram received
)

// server is what Serve's loops share.
//
// Invariants, under mu: a loop is in resting, or has exactly one
// operation pending (its role's), never both; waiting is the number of
// loops whose pending operation is a roleWait, at most waiters, and
// below it only while no loop rests; once closing is set no loop rests
// (each reaps its Aio instead), and resting is empty. Whenever a
// datagram is queued and no loop is pending on the socket, some loop is
// sending or taking: its next step is a take, or a wait when it finds
// nothing, so a queued datagram is never left behind.
type server struct {
	fd  int
	log io.Writer
	wg  sync.WaitGroup // one per loop, done when its Aio is reaped

	mu       sync.Mutex
	resting  []*loop // loops with nothing pending, last rested first out
	waiting  int     // loops waiting on the socket (roleWait), at most waiters
	closing  bool    // a loop saw the engine close: no loop rests any more
	busy     int     // loops with an operation pending
	maxBusy  int     // the most busy at once (tests)
	received uint64  // datagrams received (tests)
}

// loop is one Aio and its buffer (nil until its first receive). buf, role
// and timed are the loop's own: written by whoever starts its next
// operation, which is its callback or the one goroutine that took it
// from resting.
type loop struct {
	s     *server
	a     *aio.Aio
	buf   []byte
	role  loopRole
	timed bool // the Aio's timeout is 0 (takes), not Infinite (waits)
}

func serve(e *aio.Engine, fd, n int, log io.Writer) (*server, chan struct{}) {
	done := make(chan struct{})
	s := &server{fd: fd, log: log}
	loops := make([]*loop, max(n, 0)) // none: done is closed at once, as before
	n = len(loops)
	for i := range loops {
		l := &loop{s: s}
		l.a = e.NewAio(l.callback)
		l.a.SetTimeout(aio.Infinite)
		loops[i] = l
	}
	s.wg.Add(n)
	w := min(waiters, n)
	s.mu.Lock()
	for i := n - 1; i >= w; i-- {
		s.resting = append(s.resting, loops[i])
	}
	s.waiting, s.busy, s.maxBusy = w, w, w
	s.mu.Unlock()
	for _, l := range loops[:w] {
		l.start(roleWait)
	}
	go func() { s.wg.Wait(); close(done) }()
	return s, done
}

// start receives with role roleWait or roleTake. A loop's buffer is made
// on its first receive: resting is last in, first out, so the loops deep
// in it, which only a burst reaches, hold no memory until one does.
func (l *loop) start(role loopRole) {
	if l.buf == nil {
		l.buf = make([]byte, MaxDatagram)
	}
	l.role = role
	if take := role == roleTake; take != l.timed {
		l.timed = take
		if take {
			l.a.SetTimeout(0)
		} else {
			l.a.SetTimeout(aio.Infinite)
		}
	}
	l.a.SetIOV(l.buf)
	l.a.RecvFrom(l.s.fd)
}

func (l *loop) callback(a *aio.Aio) {
	s := l.s
	err := a.Result()
	if errors.Is(err, aio.ErrClosed) || errors.Is(err, aio.ErrStopped) {
		s.mu.Lock()
		s.closing = true
		s.busy--
		rest := s.resting
		s.resting = nil
		s.mu.Unlock()
		for _, o := range rest {
			o.a.Reap()
			s.wg.Done()
		}
		a.Reap()
		s.wg.Done()
		return
	}
	switch {
	case l.role == roleSend:
		if err != nil {
			fmt.Fprintln(s.log, "udp:", err) // a reply the kernel refused: UDP loses it
		}
		l.start(roleTake)
	case l.role == roleTake && errors.Is(err, aio.ErrTimedOut):
		l.rest() // nothing queued
	case err != nil:
		// An error the socket reported (an ICMP error for an earlier
		// reply...): receive again in the same role.
		fmt.Fprintln(s.log, "udp:", err)
		l.start(l.role)
	default:
		// A datagram. If this loop was a waiter, another one waits
		// now; if it was queued, more may be: another loop takes.
		s.mu.Lock()
		s.received++
		if l.role == roleWait {
			s.waiting--
		}
		var next *loop
		nextRole := roleTake
		if !s.closing {
			next = s.popRestingLocked()
			if next != nil && s.waiting < waiters {
				s.waiting++
				nextRole = roleWait
			}
		}
		s.mu.Unlock()
		if next != nil {
			next.start(nextRole)
		}
		l.role = roleSend
		a.SetIOV(l.buf[:a.Count()])
		a.SendTo(s.fd, a.From())
	}
}

// popRestingLocked takes a resting loop, counted busy, or returns nil.
func (s *server) popRestingLocked() *loop {
	n := len(s.resting)
	if n == 0 {
		return nil
	}
	l := s.resting[n-1]
	s.resting[n-1] = nil
	s.resting = s.resting[:n-1]
	s.busy++
	s.maxBusy = max(s.maxBusy, s.busy)
	return l
}

// rest ends a take that found nothing queued: the loop becomes a waiter
// if fewer than waiters wait, or rests until a wait or a take starts it
// again.
func (l *loop) rest() {
	s := l.s
	s.mu.Lock()
	switch {
	case s.closing:
		s.busy--
		s.mu.Unlock()
		l.a.Reap()
		s.wg.Done()
	case s.waiting < waiters:
		s.waiting++
		s.mu.Unlock()
		l.start(roleWait)
	default:
		s.busy--
		s.resting = append(s.resting, l)
		s.mu.Unlock()
	}
}

// ServeMsg is Serve on RecvMsg: n loops take datagrams from the socket's
// one multishot receive into the engine's pool (RecvMsg) and send each
// message back to its source (SetMsg, SendTo) before it is freed. A
// datagram longer than a pool buffer less its header is truncated
// (aio.Aio.RecvMsg); MsgBuffer-byte buffers hold any.
func ServeMsg(e *aio.Engine, fd, n int, log io.Writer) (done chan struct{}) {
	done = make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		var held *aio.Msg // the datagram being sent back
		a := e.NewAio(func(a *aio.Aio) {
			err := a.Result()
			if held != nil {
				// A SendTo ended: its message goes back to the pool.
				a.SetMsg(nil)
				held.Free()
				held = nil
				if err != nil && !errors.Is(err, aio.ErrClosed) && !errors.Is(err, aio.ErrStopped) {
					fmt.Fprintln(log, "udp:", err) // UDP loses the reply; go on
				}
			}
			switch {
			case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
				if m := a.Msg(); m != nil {
					a.SetMsg(nil)
					m.Free()
				}
				a.Reap()
				wg.Done()
				return
			case err == nil && a.Msg() != nil:
				held = a.Msg()
				a.SetMsg(held)
				a.SendTo(fd, a.From())
				return
			}
			a.RecvMsg(fd)
		})
		a.SetTimeout(aio.Infinite)
		a.RecvMsg(fd)
	}
	go func() { wg.Wait(); close(done) }()
	return done
}
