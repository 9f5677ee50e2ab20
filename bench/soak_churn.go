package main

import (
	"strconv"
	"time"

	"math/rand/v2"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// The soak's message churn: each of n goroutines makes a socket pair,
// writes a few numbered messages, takes some of them with RecvMsg (the
// engine's multishot receive), and drops the descriptor, over and over.
// Descriptor numbers are reused at once, by the same goroutine or another,
// as a server's connections come and go. The drop takes one of three
// ways: Stop and Free and then a plain close; Engine.CloseFD; or, inside
// another Aio's callback, a RecvMsg started there, stopped, freed and the
// descriptor closed (a reaper's round submits what its callbacks queue only
// when they return). What must hold: every message comes back whole and in
// order, to the socket it was written to. A message another socket's
// multishot took (one that reached the kernel after its descriptor's number
// had been given to the next socket), lost or duplicated is unexpected,
// as is a RecvMsg that times out with a message waiting.

const soakChurnMsgs = 6 // at most this many messages per socket

// startChurn runs n churn goroutines; shutdown waits for them.
func (s *soak) startChurn(n int) {
	for w := range n {
		s.workers.Add(1)
		go s.churn(w)
	}
}

func (s *soak) churn(w int) {
	defer s.workers.Done()
	rng := rand.New(rand.NewPCG(uint64(w), 8))
	var (
		x   int
		r   *aio.Aio
		tag string
		buf []byte
	)
	// dropInCallback's work, on a reaper: the descriptor's RecvMsg is
	// started there (finding a queued message or waiting), stopped, its
	// Aio freed and the descriptor closed.
	dropped := make(chan struct{}, 1)
	c := s.e.NewAio(func(*aio.Aio) {
		r.RecvMsg(x)
		r.Stop()
		if m := r.Msg(); r.Result() == nil && m != nil {
			m.Free()
		}
		r.Free()
		unix.Close(x)
		dropped <- struct{}{}
	})
	defer c.Free()
	for round := 0; !s.stopping.Load(); round++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			s.st.fail("churn: socketpair: " + err.Error())
			return
		}
		var y int
		x, y = fds[0], fds[1]
		tag = strconv.Itoa(w) + "." + strconv.Itoa(round) + "."
		sent := rng.IntN(soakChurnMsgs + 1)
		for i := range sent {
			buf = strconv.AppendInt(append(buf[:0], tag...), int64(i), 10)
			if _, err := unix.Write(y, buf); err != nil {
				s.st.fail("churn: write: " + err.Error())
			}
		}
		r = s.e.NewAio(nil)
		r.SetTimeout(10 * time.Second)
		for i := range rng.IntN(sent + 1) {
			r.RecvMsg(x)
			r.Wait()
			s.st.ops.Add(1)
			if err := r.Result(); err != nil {
				// A message is waiting: no error is expected, not even
				// a timeout.
				s.st.fail("churn: RecvMsg with a message waiting: " + err.Error())
				break
			}
			m := r.Msg()
			buf = strconv.AppendInt(append(buf[:0], tag...), int64(i), 10)
			if m == nil || string(m.Bytes()) != string(buf) {
				s.st.fail("churn: RecvMsg: not the message written next to this socket (taken by another's multishot, lost or reordered)")
				if m != nil {
					m.Free()
				}
				break
			}
			m.Free()
			s.st.msgsVerified.Add(1)
		}
		switch rng.IntN(3) {
		case 0:
			r.Stop()
			r.Free()
			unix.Close(x)
		case 1:
			if err := s.e.CloseFD(x); err != nil {
				s.st.fail("churn: CloseFD: " + err.Error())
			}
			r.Free()
		default:
			c.Nop()
			<-dropped
			c.Wait()
		}
		unix.Close(y)
	}
}
