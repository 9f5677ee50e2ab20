//go:build linux

package aio

import (
	"testing"

	"golang.org/x/sys/unix"
)

// SendTo and RecvFrom on reused Aios allocate nothing, From included
// (its values are the Aio's own), on both backends; so do RecvMsg of a
// datagram with its From and SendTo of the Msg, Splice and Shutdown.
func TestZeroAllocsDgram(t *testing.T) {
	allocsOnEachBackend(t, func(t *testing.T, e *Engine) {
		fa, sa := udpBound(t)
		fb, sb := udpBound(t)
		s, r := e.NewAio(nil), e.NewAio(nil)
		s.SetIOV(make([]byte, 64))
		r.SetIOV(make([]byte, 128))
		p := e.NewAio(nil)
		var pp [2]int
		if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pp[0])
		defer unix.Close(pp[1])
		var qq [2]int
		if err := unix.Pipe2(qq[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(qq[0])
		defer unix.Close(qq[1])
		abc, sink := []byte("abc"), make([]byte, 8)
		if err := unix.SetsockoptInt(fb, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			need []func(testing.TB, *Engine) // skip the case unless the engine has these
			op   func()
		}{
			{"SendToRecvFrom", nil, func() {
				s.SendTo(fa, sb)
				s.Wait()
				r.RecvFrom(fb)
				r.Wait()
				if r.Result() != nil || r.Count() != 64 {
					t.Fatalf("RecvFrom: %v %d", r.Result(), r.Count())
				}
				if f, ok := r.From().(*unix.SockaddrInet4); !ok || f.Port != sa.Port {
					t.Fatalf("From = %v, want port %d", r.From(), sa.Port)
				}
			}},
			{"SendToRecvMsg", nil, func() {
				// A datagram into the pool, its source decoded, and the
				// Msg sent back with SendTo and given back.
				s.SendTo(fa, sb)
				s.Wait()
				r.RecvMsg(fb)
				r.Wait()
				m := r.Msg()
				if r.Result() != nil || m == nil || len(m.Bytes()) != 64 {
					t.Fatalf("RecvMsg: %v %d", r.Result(), r.Count())
				}
				if f, ok := r.From().(*unix.SockaddrInet4); !ok || f.Port != sa.Port {
					t.Fatalf("From = %v, want port %d", r.From(), sa.Port)
				}
				r.SetMsg(m)
				r.SendTo(fb, r.From())
				r.Wait()
				r.SetMsg(nil)
				m.Free()
				s.RecvFrom(fa)
				s.Wait()
				if s.Result() != nil || s.Count() != 64 {
					t.Fatalf("the echo: %v %d", s.Result(), s.Count())
				}
			}},
			{"SpliceShutdown", []func(testing.TB, *Engine){needSplice, needShutdown}, func() {
				unix.Write(pp[1], abc)
				p.Splice(pp[0], -1, qq[1], -1, 3)
				p.Wait()
				if p.Result() != nil || p.Count() != 3 {
					t.Fatalf("Splice: %v %d", p.Result(), p.Count())
				}
				unix.Read(qq[0], sink)
				p.Shutdown(fa, unix.SHUT_RDWR) // ENOTCONN: a datagram socket has no connection
				p.Wait()
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, need := range tc.need {
					need(t, e)
				}
				tc.op()
				tc.op()
				if n := testing.AllocsPerRun(200, tc.op); n != 0 {
					t.Errorf("%s: %.2f allocations per op, want 0", tc.name, n)
				}
			})
		}
	})
}

func udpBound(t *testing.T) (int, *unix.SockaddrInet4) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrInet4)
}
