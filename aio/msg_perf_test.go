//go:build linux

package aio

// RecvMsg against Recv, side by side, over an in-process socketpair:
//
//	go test -run '^$' -bench 'Benchmark(RecvMsg|Recv)$' -benchmem ./aio/
//
// ping: the peer writes one 64-byte message, then the receive runs (the
// data is there before each receive). burst16: the peer writes 16
// messages (SOCK_SEQPACKET keeps them apart), then 16 receives run.
// RecvMsg's receives include the Free of each message.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

func benchSeqpacket(b *testing.B) [2]int {
	b.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds
}

func BenchmarkRecv(b *testing.B) {
	for _, burst := range []int{1, 16} {
		b.Run(burstName(burst), func(b *testing.B) {
			e := benchEngine(b)
			defer e.Close()
			fds := benchSeqpacket(b)
			r := e.NewAio(nil)
			msg, in := make([]byte, 64), make([]byte, 4096)
			r.SetIOV(in)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += burst {
				for j := 0; j < burst; j++ {
					unix.Write(fds[0], msg)
				}
				for j := 0; j < burst; j++ {
					r.Recv(fds[1])
					r.Wait()
					if r.Result() != nil || r.Count() != 64 {
						b.Fatal(r.Result(), r.Count())
					}
				}
			}
		})
	}
}

func BenchmarkRecvMsg(b *testing.B) {
	for _, fallback := range []bool{false, true} {
		for _, burst := range []int{1, 16} {
			name := burstName(burst)
			if fallback {
				name += "-fallback"
			}
			b.Run(name, func(b *testing.B) {
				forceMsgFallback = fallback
				e := benchEngine(b)
				forceMsgFallback = false
				defer e.Close()
				fds := benchSeqpacket(b)
				r := e.NewAio(nil)
				msg := make([]byte, 64)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += burst {
					for j := 0; j < burst; j++ {
						unix.Write(fds[0], msg)
					}
					for j := 0; j < burst; j++ {
						r.RecvMsg(fds[1])
						r.Wait()
						m := r.Msg()
						if r.Result() != nil || r.Count() != 64 || m == nil {
							b.Fatal(r.Result(), r.Count())
						}
						m.Free()
					}
				}
			})
		}
	}
}

func burstName(n int) string {
	if n == 1 {
		return "ping"
	}
	return "burst16"
}

// BenchmarkEcho: an echo server's loop, driven by callbacks as a server
// runs, over 1 and 64 connections (socketpairs) at once: per connection
// the server receives (RecvMsg, its single-shot fallback, or Recv into its
// own buffer), sends the bytes back (SetMsg+Send, or Send of the IOV) and
// receives again; a client Aio sends 64 bytes and receives the echo. One
// op is one round trip.
//
//	go test -run '^$' -bench 'BenchmarkEcho$' -benchmem ./aio/
func BenchmarkEcho(b *testing.B) {
	for _, conns := range []int{1, 64} {
		for _, mode := range []string{"recvmsg", "recvmsg-fallback", "recv"} {
			b.Run(fmt.Sprintf("c%d-%s", conns, mode), func(b *testing.B) {
				forceMsgFallback = mode == "recvmsg-fallback"
				e := benchEngine(b)
				forceMsgFallback = false
				defer e.Close()
				benchEcho(b, e, conns, mode != "recv")
			})
		}
	}
}

func benchEcho(b *testing.B, e *Engine, conns int, useMsg bool) {
	var left atomic.Int64
	left.Store(int64(b.N))
	done := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(done) }) }
	var srvs, clis []*Aio
	pairs := make([][2]int, conns)
	for i := range pairs {
		pairs[i] = benchSocketpair(b)
		fd := pairs[i][1]
		sending := false
		buf := make([]byte, 4096)
		srv := e.NewAio(func(a *Aio) {
			if a.Result() != nil {
				return
			}
			if sending {
				sending = false
				if useMsg {
					a.Msg().Free()
					a.SetMsg(nil)
					a.RecvMsg(fd)
				} else {
					a.SetIOV(buf)
					a.Recv(fd)
				}
				return
			}
			if a.Count() == 0 {
				return // end of stream
			}
			sending = true
			if useMsg {
				a.SetMsg(a.Msg())
			} else {
				a.SetIOV(buf[:a.Count()])
			}
			a.Send(fd)
		})
		if useMsg {
			srv.RecvMsg(fd)
		} else {
			srv.SetIOV(buf)
			srv.Recv(fd)
		}
		srvs = append(srvs, srv)
		cfd := pairs[i][0]
		cli := e.NewAio(func(a *Aio) {
			if a.Result() != nil {
				b.Error(a.Result())
				finish()
				return
			}
			if a.Input(0) == nil {
				a.SetInput(0, true)
				a.Recv(cfd)
				return
			}
			a.SetInput(0, nil)
			if left.Add(-1) < int64(conns) {
				if left.Load() <= 0 {
					finish()
				}
				return // this connection's share is done
			}
			a.Send(cfd)
		})
		cli.SetIOV(make([]byte, 64))
		clis = append(clis, cli)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, cli := range clis {
		cli.Send(pairs[i][0])
	}
	<-done
	b.StopTimer()
	for i, cli := range clis {
		cli.Wait()
		unix.Shutdown(pairs[i][0], unix.SHUT_WR)
	}
	for _, srv := range srvs {
		srv.Wait()
		if useMsg && srv.Msg() != nil {
			srv.Msg().Free()
		}
	}
}

// BenchmarkEngineMsgPool: what making a ring's message pool costs, as
// NewEngine+Close against NewEngine, a first RecvMsg (which makes the
// pool: a 4 MiB mapping, a registered buffer ring of 1024 entries) and
// Close. It is why the pool is made lazily.
func BenchmarkEngineMsgPool(b *testing.B) {
	fds := benchSeqpacket(b)
	for _, pool := range []bool{false, true} {
		name := "without"
		if pool {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				e, err := NewEngine(Config{Rings: 1, Callbacks: 1})
				if err != nil {
					b.Skip(err)
				}
				if pool {
					a := e.NewAio(nil)
					a.SetTimeout(0)
					a.RecvMsg(fds[0])
					a.Wait()
				}
				e.Close()
			}
		})
	}
}
