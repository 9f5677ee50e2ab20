//go:build linux

package aio

// Accept with one multishot ACCEPT per listener against a single-shot
// ACCEPT per call, side by side:
//
//	go test -run '^$' -bench 'BenchmarkAcceptRate' -benchmem ./aio/
//
// Connections to a loopback listener are made beforehand, 256 at a time,
// and wait in its backlog; an Aio accepts them in a callback chain and
// closes each. One op is one connection accepted (the dialing is not
// timed).

import (
	"testing"

	"golang.org/x/sys/unix"
)

func BenchmarkAcceptRate(b *testing.B) {
	for _, multi := range []bool{true, false} {
		name := "single"
		if multi {
			name = "multishot"
		}
		b.Run(name, func(b *testing.B) {
			old := useMultishotAccept
			useMultishotAccept = multi
			e := benchEngine(b)
			useMultishotAccept = old
			defer e.Close()
			l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer e.CloseFD(l)
			if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				b.Fatal(err)
			}
			if err := unix.Listen(l, 4096); err != nil {
				b.Fatal(err)
			}
			sa, _ := unix.Getsockname(l)
			// Rounds of 256: the connections are made (untimed), and wait
			// in the listen backlog; then the Aio accepts them all.
			const round = 256
			done := make(chan struct{}, 1)
			left := 0
			a := e.NewAio(func(a *Aio) {
				if a.Result() != nil {
					b.Error(a.Result())
					done <- struct{}{}
					return
				}
				unix.Close(a.Output(0).(int))
				if left--; left == 0 {
					done <- struct{}{}
					return
				}
				a.Accept(l)
			})
			clients := make([]int, 0, round)
			b.ResetTimer()
			for i := 0; i < b.N; i += round {
				b.StopTimer()
				k := min(round, b.N-i)
				for j := 0; j < k; j++ {
					s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						b.Fatal(err)
					}
					if err := unix.Connect(s, sa); err != nil {
						b.Fatal(err)
					}
					clients = append(clients, s)
				}
				left = k
				b.StartTimer()
				a.Accept(l)
				<-done
				b.StopTimer()
				a.Wait()
				for _, s := range clients {
					unix.Close(s)
				}
				clients = clients[:0]
				b.StartTimer()
			}
			b.StopTimer()
			a.Wait()
		})
	}
}
