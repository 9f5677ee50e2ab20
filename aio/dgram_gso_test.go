//go:build linux

package aio_test

// UDP GSO through SendTo: a socket with the UDP_SEGMENT option set sends a
// buffer as datagrams of that size in one operation (the kernel segments
// it; the last may be shorter). Nothing in the engine is specific to it:
// SendTo is a sendmsg, which honours the socket's option. The benchmark
// compares one GSO SendTo of 32 datagrams with 32 SendTo in flight.

import (
	"bytes"
	"sync"
	"testing"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// gsoSocket sets UDP_SEGMENT on fd to size, or skips the test when the
// kernel has no UDP GSO.
func gsoSocket(tb testing.TB, fd, size int) {
	tb.Helper()
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT, size); err != nil {
		tb.Skipf("no UDP GSO (UDP_SEGMENT): %v", err)
	}
}

func TestSendToGSO(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		srv, srvAddr := dgramSocket(t, unix.AF_INET, false)
		cli, cliAddr := dgramSocket(t, unix.AF_INET, false)
		const seg = 100
		gsoSocket(t, cli, seg)
		payload := make([]byte, 3*seg+50)
		for i := range payload {
			payload[i] = byte(i)
		}
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		a.SetIOV(payload)
		a.SendTo(cli, srvAddr)
		a.Wait()
		if a.Result() != nil || a.Count() != len(payload) {
			t.Fatalf("GSO SendTo of %d bytes: %v, count %d", len(payload), a.Result(), a.Count())
		}
		buf := make([]byte, 1024)
		for off := 0; off < len(payload); off += seg {
			want := payload[off:min(off+seg, len(payload))]
			a.SetIOV(buf)
			a.RecvFrom(srv)
			a.Wait()
			if a.Result() != nil || !bytes.Equal(buf[:a.Count()], want) || !sameAddr(a.From(), cliAddr) {
				t.Fatalf("datagram at %d: %v, %d bytes (want %d) from %v", off, a.Result(), a.Count(), len(want), a.From())
			}
		}
	})
}

// BenchmarkSendToBatch sends 32 datagrams of 1200 bytes per iteration to a
// loopback socket that a goroutine drains: as 32 SendTo in flight, or as
// one SendTo with UDP_SEGMENT (GSO).
func BenchmarkSendToBatch(b *testing.B) {
	const n, size = 32, 1200
	for _, gso := range []bool{false, true} {
		name := "each"
		if gso {
			name = "gso"
		}
		b.Run(name, func(b *testing.B) {
			e, err := aio.NewEngine(aio.Config{})
			if err != nil {
				b.Skipf("no engine: %v", err)
			}
			defer e.Close()
			srv, srvAddr := dgramSocket(b, unix.AF_INET, false)
			cli, _ := dgramSocket(b, unix.AF_INET, false)
			unix.SetsockoptInt(srv, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
			// The receiver drains until its socket is shut down (a
			// receive then returns 0; no empty datagram is sent).
			var drained sync.WaitGroup
			drained.Add(1)
			go func() {
				defer drained.Done()
				buf := make([]byte, 2048)
				for {
					n, err := unix.Read(srv, buf) // no source: Recvfrom would allocate one
					if (err != nil && err != unix.EINTR) || (err == nil && n == 0) {
						return
					}
				}
			}()
			defer func() { unix.Shutdown(srv, unix.SHUT_RDWR); drained.Wait() }()
			payload := make([]byte, n*size)
			var aios []*aio.Aio
			if gso {
				gsoSocket(b, cli, size)
				a := e.NewAio(nil)
				a.SetIOV(payload)
				aios = append(aios, a)
			} else {
				for i := 0; i < n; i++ {
					a := e.NewAio(nil)
					a.SetIOV(payload[i*size : (i+1)*size])
					aios = append(aios, a)
				}
			}
			b.SetBytes(n * size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, a := range aios {
					a.SendTo(cli, srvAddr)
				}
				for _, a := range aios {
					a.Wait()
					if err := a.Result(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/datagram")
			for _, a := range aios {
				a.Free()
			}
		})
	}
}
