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

// Serve starts n echo loops on UDP socket fd, each an Aio that receives a
// datagram with RecvFrom into its own buffer and sends it back to From()
// with SendTo, restarting itself from its callback. Nothing is copied and
// nothing allocates per datagram. done is closed once every loop has
// ended (the engine was closed). Replies the kernel refuses are written to
// log; UDP loses them.
func Serve(e *aio.Engine, fd, n int, log io.Writer) (done chan struct{}) {
	done = make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		buf := make([]byte, MaxDatagram)
		sending := false
		a := e.NewAio(func(a *aio.Aio) {
			err := a.Result()
			switch {
			case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
				a.Reap()
				wg.Done()
				return
			case !sending && err == nil:
				// Echo the datagram from its own buffer to its source.
				sending = true
				a.SetIOV(buf[:a.Count()])
				a.SendTo(fd, a.From())
				return
			case err != nil:
				// A reply the kernel refused (ENOBUFS, an ICMP error
				// reported on the socket...): UDP loses it; go on.
				fmt.Fprintln(log, "udp:", err)
			}
			sending = false
			a.SetIOV(buf)
			a.RecvFrom(fd)
		})
		a.SetTimeout(aio.Infinite)
		a.SetIOV(buf)
		a.RecvFrom(fd)
	}
	go func() { wg.Wait(); close(done) }()
	return done
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
