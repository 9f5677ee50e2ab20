//go:build linux

package aio_test

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// A Recv after a RecvMsg on the same stream, the RecvMsg's Aio still
// alive: the multishot receive the RecvMsg armed keeps taking the
// stream's data, and the Recv gets it from there, in order, split across
// Recvs when its buffers are smaller than a queued message; a RecvMsg
// afterwards gets the rest of a message a Recv took part of. Nothing is
// lost or reordered, and nothing waits for data already received.
func TestRecvAfterRecvMsgGetsQueuedData(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		eachBackend(t, func(t *testing.T, e *aio.Engine) {
			x, y, _, closeY := socketpair(t)
			rm := e.NewAio(nil)
			defer rm.Free()
			rm.SetTimeout(waitLimit)
			write(t, y, "first")
			m, _, err := recvMsg(t, rm, x)
			if err != nil || m == nil || string(m.Bytes()) != "first" {
				t.Fatalf("RecvMsg = %v, %v", m, err)
			}
			m.Free()

			var want bytes.Buffer
			for i := 0; i < 3*aio.MsgQueueMax; i++ {
				s := fmt.Sprintf("<%d>", i)
				want.WriteString(s)
				write(t, y, s)
			}
			if aio.MsgMultishot(e) {
				aio.WaitUntil(t, "the multishot queues what was sent", func() bool { return aio.MsgQueued(e, x) > 0 })
			}

			r := e.NewAio(nil)
			defer r.Free()
			r.SetTimeout(waitLimit)
			var got bytes.Buffer
			small := make([]byte, 3)
			for got.Len() < want.Len()-10 {
				r.SetIOV(small[:2], small[2:]) // two buffers, 3 bytes a Recv at most
				r.Recv(x)
				r.Wait()
				if err := r.Result(); err != nil {
					t.Fatalf("Recv after %d bytes: %v (the queued data waits for RecvMsg?)", got.Len(), err)
				}
				got.Write(small[:r.Count()])
			}
			// The rest through RecvMsg again: none of it lost to the Recvs.
			for got.Len() < want.Len() {
				m, n, err := recvMsg(t, rm, x)
				if err != nil || n == 0 {
					t.Fatalf("RecvMsg after the Recvs: %d, %v", n, err)
				}
				got.Write(m.Bytes())
				m.Free()
			}
			if got.String() != want.String() {
				t.Fatalf("received %q\nwant     %q", got.String(), want.String())
			}

			// The end of the stream reaches a Recv as Count 0.
			closeY()
			r.SetIOV(small)
			r.Recv(x)
			r.Wait()
			if r.Result() != nil || r.Count() != 0 {
				t.Fatalf("Recv at the end: %d, %v; want 0, nil", r.Count(), r.Result())
			}
		})
	})
}

// RecvFrom after a RecvMsg on a datagram socket: one datagram each,
// truncated to the buffer, with its source, from the multishot's queue.
func TestRecvFromAfterRecvMsgGetsQueuedDatagrams(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		eachBackend(t, func(t *testing.T, e *aio.Engine) {
			s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			own(t, s)
			if err := unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatal(err)
			}
			to, _ := unix.Getsockname(s)
			c, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			own(t, c)
			if err := unix.Bind(c, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatal(err)
			}
			from, _ := unix.Getsockname(c)
			send := func(p string) {
				if err := unix.Sendto(c, []byte(p), 0, to); err != nil {
					t.Fatal(err)
				}
			}
			rm := e.NewAio(nil)
			defer rm.Free()
			rm.SetTimeout(waitLimit)
			send("d0")
			m, _, err := recvMsg(t, rm, s)
			if err != nil || m == nil || string(m.Bytes()) != "d0" {
				t.Fatalf("RecvMsg = %v, %v", m, err)
			}
			m.Free()
			for i := 1; i <= 8; i++ {
				send(fmt.Sprintf("datagram-%d", i))
			}
			if aio.MsgMultishot(e) {
				aio.WaitUntil(t, "the multishot queues the datagrams", func() bool { return aio.MsgQueued(e, s) == 8 })
			}
			r := e.NewAio(nil)
			defer r.Free()
			r.SetTimeout(waitLimit)
			buf := make([]byte, 9)
			for i := 1; i <= 8; i++ {
				r.SetIOV(buf)
				r.RecvFrom(s)
				r.Wait()
				if err := r.Result(); err != nil {
					t.Fatalf("RecvFrom %d: %v", i, err)
				}
				if got, want := string(buf[:r.Count()]), fmt.Sprintf("datagram-%d", i)[:9]; got != want {
					t.Fatalf("RecvFrom %d = %q, want %q (one datagram, truncated)", i, got, want)
				}
				sa, ok := r.From().(*unix.SockaddrInet4)
				if !ok || sa.Port != from.(*unix.SockaddrInet4).Port {
					t.Fatalf("From after RecvFrom %d = %#v, want port %d", i, r.From(), from.(*unix.SockaddrInet4).Port)
				}
			}
			// Nothing left: a zero-timeout attempt says so.
			r.SetTimeout(0)
			r.SetIOV(buf)
			r.RecvFrom(s)
			r.Wait()
			if err := r.Result(); err != aio.ErrTimedOut && err != syscall.EAGAIN {
				t.Fatalf("RecvFrom with nothing queued = %v, want ErrTimedOut", err)
			}
		})
	})
}
