//go:build linux

package aio

// Zero-copy send against the kernel's side of it: the CQEs it posts,
// bad descriptors, sockets accepted by Go's net package, a notification
// that arrives before the result; the allocation budget, the Config
// check, and a storm of restarts, cancels and timeouts.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// Exactly once under cancels and timeouts: several connections, each with
// an Aio restarting zero-copy sends from its callback under random
// timeouts while another goroutine cancels at random. Every start gets one
// callback, and the stream each receiver reads is exactly the bytes the
// callbacks reported sent, in order (each send carries the stream's next
// bytes, written into the buffer only after the previous callback).
func TestStormSendZC(t *testing.T) {
	e := zcEngine(t, 1024)
	const conns = 4
	rounds := 400
	if testing.Short() {
		rounds = 100
	}
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		snd, rcv := tcpPair(t, 64<<10, 16<<10)
		var sent int64
		received := make(chan int64, 1)
		go func() {
			// Reads and checks the stream until EOF.
			var off int64
			reads := 0
			buf := make([]byte, 64<<10)
			for {
				k, err := unix.Read(rcv, buf)
				if err == unix.EINTR {
					continue
				}
				if err != nil || k == 0 {
					received <- off
					return
				}
				for _, b := range buf[:k] {
					if b != byte(off%251) {
						t.Errorf("conn %d: byte %d is %d, want %d", c, off, b, byte(off%251))
						received <- off
						return
					}
					off++
				}
				if reads++; reads%8 == 0 {
					// A reader that stalls now and then, so that sends
					// find the socket full and time out or are
					// cancelled with nothing sent.
					time.Sleep(2 * time.Millisecond)
				}
			}
		}()
		buf := make([]byte, 256<<10)
		var left atomic.Int32
		left.Store(int32(rounds))
		var inFlight atomic.Bool
		var starts, calls, timedOut, canceled, partial atomic.Int32
		finished := make(chan struct{})
		rng := rand.New(rand.NewPCG(uint64(c), 1))
		var start func(a *Aio)
		start = func(a *Aio) {
			if rng.IntN(3) == 0 {
				// Fill the socket first with the stream's next bytes
				// (plain, non-blocking), so that this send finds no room
				// and its timeout or a cancel can end it with nothing
				// sent.
				for {
					for i := range buf[:16<<10] {
						buf[i] = byte((sent + int64(i)) % 251)
					}
					k, err := unix.SendmsgN(snd, buf[:16<<10], nil, nil, unix.MSG_DONTWAIT)
					if err != nil {
						break
					}
					sent += int64(k)
				}
			}
			n := 1024 + rng.IntN(len(buf)-1024)
			for i := range buf[:n] {
				buf[i] = byte((sent + int64(i)) % 251)
			}
			switch rng.IntN(4) {
			case 0:
				a.SetTimeout(0)
			case 1:
				a.SetTimeout(time.Duration(rng.IntN(200)) * time.Microsecond)
			case 2:
				a.SetTimeout(time.Duration(1+rng.IntN(3)) * time.Millisecond)
			default:
				a.SetTimeout(Infinite)
			}
			a.SetIOV(buf[:n])
			inFlight.Store(true)
			starts.Add(1)
			a.Send(snd)
		}
		a := e.NewAio(func(a *Aio) {
			if !inFlight.Swap(false) {
				t.Errorf("conn %d: a callback without an operation in flight", c)
			}
			calls.Add(1)
			err := a.Result()
			switch {
			case err == nil, errors.Is(err, ErrTimedOut), errors.Is(err, ErrCanceled):
			default:
				t.Errorf("conn %d: send: %v", c, err)
			}
			if err != nil && a.Count() != 0 {
				t.Errorf("conn %d: %v with a count of %d", c, err, a.Count())
			}
			switch {
			case errors.Is(err, ErrTimedOut):
				timedOut.Add(1)
			case errors.Is(err, ErrCanceled):
				canceled.Add(1)
			case a.Count() < len(a.iov0):
				partial.Add(1)
			}
			sent += int64(a.Count())
			if left.Add(-1) > 0 {
				start(a)
				return
			}
			close(finished)
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := make(chan struct{})
			go func() {
				r := rand.New(rand.NewPCG(uint64(c), 2))
				for {
					select {
					case <-stop:
						return
					default:
					}
					time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond) // jitter: cancels at random moments
					a.Cancel()
				}
			}()
			start(a)
			<-finished
			close(stop)
			a.Wait()
			if s, k := starts.Load(), calls.Load(); s != k || int(k) != rounds {
				t.Errorf("conn %d: %d starts, %d callbacks, want %d each", c, s, k, rounds)
			}
			unix.Shutdown(snd, unix.SHUT_WR)
			if got := <-received; got != sent {
				t.Errorf("conn %d: callbacks reported %d bytes sent, the receiver read %d", c, sent, got)
			}
			t.Logf("conn %d: %d bytes in %d sends: %d timed out, %d cancelled, %d partial", c, sent, rounds,
				timedOut.Load(), canceled.Load(), partial.Load())
		}()
	}
	wg.Wait()
}

// Steady-state zero-copy sends allocate nothing, Wait-only and with a
// callback.
func TestSendZCZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	e := zcEngine(t, 4096)
	snd, rcv := tcpPair(t, 0, 0)
	data := pattern(64<<10, 1)
	sink := make([]byte, 64<<10)
	drainN := func(n int) {
		for got := 0; got < n; {
			k, err := unix.Read(rcv, sink)
			if err != nil || k == 0 {
				t.Fatalf("read: %v", err)
			}
			got += k
		}
	}
	a := e.NewAio(nil)
	a.SetIOV(data)
	cbDone := make(chan struct{}, 1)
	c := e.NewAio(func(*Aio) { cbDone <- struct{}{} })
	c.SetIOV(data)
	for _, tc := range []struct {
		name string
		op   func()
	}{
		{"Wait", func() {
			a.Send(snd)
			drainN(len(data))
			a.Wait()
			if a.Result() != nil || a.Count() != len(data) {
				t.Fatalf("Send: %v %d", a.Result(), a.Count())
			}
		}},
		{"callback", func() {
			c.Send(snd)
			drainN(len(data))
			<-cbDone
			c.Wait()
			if c.Result() != nil || c.Count() != len(data) {
				t.Fatalf("Send: %v %d", c.Result(), c.Count())
			}
		}},
	} {
		tc.op()
		tc.op()
		if n := testing.AllocsPerRun(200, tc.op); n != 0 {
			t.Errorf("%s: %.2f allocations per zero-copy send, want 0", tc.name, n)
		}
	}
	if a.zcSendOp() != sqe.OpSendZC || c.zcSendOp() != sqe.OpSendZC {
		t.Fatalf("sent with %v and %v, want SEND_ZC", a.zcSendOp(), c.zcSendOp())
	}
}

// A negative threshold is bad input.
func TestSendZCConfigInvalid(t *testing.T) {
	if _, err := NewEngine(Config{SendZeroCopyMin: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewEngine(SendZeroCopyMin -1) = %v, want ErrInvalid", err)
	}
}

// The kernel facts sendzc.go relies on, on the raw ring: a SEND_ZC posts
// its result first, with IORING_CQE_F_MORE when a notification follows,
// then exactly one notification (IORING_CQE_F_NOTIF, no F_MORE) with the
// same user data; on a Unix socket the result is -EOPNOTSUPP. With
// IORING_SEND_ZC_REPORT_USAGE the loopback notification says the kernel
// copied the data after all.
func TestSendZCKernelCQEs(t *testing.T) {
	r, err := ring.New(ring.Options{Entries: 8})
	if err != nil {
		t.Skip(err)
	}
	defer r.Close()
	if p, err := r.Probe(); err != nil || !p.Supports(sqe.OpSendZC) {
		t.Skip("no SEND_ZC")
	}
	snd, rcv := tcpPair(t, 0, 0)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	pr := p[1]
	buf := pattern(64<<10, 1)
	for _, tc := range []struct {
		name  string
		fd    int
		flags sqe.Flag
		res   int32
	}{
		{"tcp", snd, 0, int32(len(buf))},
		{"tcp-accepted", rcv, 0, int32(len(buf))},
		{"unix", fds[0], 0, -int32(unix.EOPNOTSUPP)},
		{"badfd", 1 << 20, 0, -int32(unix.EBADF)},
		{"pipe", pr, 0, -int32(unix.ENOTSOCK)},
		// Refused at preparation, before a notification exists: the
		// result comes without F_MORE (the engine never sets this flag).
		{"skip-success", snd, sqe.CQESkipSuccess, -int32(unix.EINVAL)},
	} {
		s := r.GetSQE()
		s.SendZC(int32(tc.fd), unsafe.Pointer(&buf[0]), uint32(len(buf)), 0, sqe.SendZCReportUsage)
		s.Flags = tc.flags
		s.UserData = 42
		if _, err := r.SubmitAndWait(1); err != nil {
			t.Fatal(err)
		}
		var cqes []ring.CQE
		got := make([]ring.CQE, 4)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			n := r.PeekCQEs(got)
			cqes = append(cqes, got[:n]...)
			if len(cqes) > 0 && cqes[len(cqes)-1].Flags&ring.CQEFMore == 0 {
				break
			}
			time.Sleep(time.Millisecond) // polling interval of a wait with a deadline
		}
		t.Logf("%s: %+v", tc.name, cqes)
		if len(cqes) == 0 || cqes[0].Res != tc.res || cqes[0].Flags&ring.CQEFNotif != 0 {
			t.Fatalf("%s: first CQE %+v, want the result %d", tc.name, cqes, tc.res)
		}
		if cqes[0].Flags&ring.CQEFMore != 0 {
			if len(cqes) != 2 || cqes[1].Flags&ring.CQEFNotif == 0 || cqes[1].Flags&ring.CQEFMore != 0 || cqes[1].UserData != 42 {
				t.Fatalf("%s: %+v, want one notification after the result", tc.name, cqes)
			}
			if tc.name == "tcp" && uint32(cqes[1].Res)&sqe.NotifUsageZCCopied == 0 {
				t.Logf("tcp: loopback notification says zero copy held (res %#x)", uint32(cqes[1].Res))
			}
		} else if len(cqes) != 1 {
			t.Fatalf("%s: %+v, want no notification after a result without F_MORE", tc.name, cqes)
		}
		switch tc.name {
		case "tcp":
			readFull(t, rcv, len(buf))
		case "tcp-accepted":
			readFull(t, snd, len(buf))
		}
	}
	runtime.KeepAlive(buf)
}

// Bad descriptors give the kernel's errno through the callback, once, on
// the zero-copy path too (the result comes with F_MORE, then the
// notification).
func TestSendZCBadDescriptors(t *testing.T) {
	e := zcEngine(t, 1)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var calls atomic.Int32
	a := e.NewAio(func(*Aio) { calls.Add(1) })
	a.SetIOV(make([]byte, 100))
	for i, tc := range []struct {
		fd   int
		want error
	}{{1 << 20, unix.EBADF}, {p[1], unix.ENOTSOCK}, {-1, unix.EBADF}} {
		a.Send(tc.fd)
		a.Wait()
		if !errors.Is(a.Result(), tc.want) || a.Count() != 0 {
			t.Errorf("Send(%d) = %v, %d; want %v", tc.fd, a.Result(), a.Count(), tc.want)
		}
		if calls.Load() != int32(i+1) {
			t.Errorf("%d callbacks after %d sends", calls.Load(), i+1)
		}
	}
	if e.zcRefusals.Load() != 0 {
		t.Error("a bad descriptor counted as a refusal of zero copy")
	}
}

// Sockets accepted by Go's default listener (MPTCP since Go 1.24, where
// the kernel has it) refuse zero copy on 6.18; the send falls back and
// arrives intact either way.
func TestSendZCGoListenerAccepted(t *testing.T) {
	e := zcEngine(t, 1)
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := e.NewAio(nil)
	data := pattern(64<<10, 2)
	a.SetIOV(data)
	got := make(chan []byte, 1)
	go func() {
		buf, err := io.ReadAll(io.LimitReader(peer, int64(len(data))))
		if err != nil {
			t.Error(err)
		}
		got <- buf
	}()
	a.Send(int(f.Fd()))
	a.Wait()
	if a.Result() != nil || a.Count() != len(data) || !bytes.Equal(<-got, data) {
		t.Fatalf("Send on a Go-accepted socket: %v, %d", a.Result(), a.Count())
	}
	t.Logf("MPTCP-accepted socket: sent as %v after %d refusals", a.zcSendOp(), e.zcRefusals.Load())
}

// A zero-copy send's two CQEs may be completed in either order: a round
// takes CQEs under the CQ lock and completes them after releasing it,
// while a goroutine in Wait completes under the lock, so the notification
// can overtake its result. Many Wait-only Aios sending at once on one
// engine drive both kinds of reaper; a send whose notification was
// handled first must still end, exactly once (a hang here was found by
// BenchmarkSendZC with the receiver in another process).
func TestSendZCNotificationBeforeResult(t *testing.T) {
	e := zcEngine(t, 1)
	const aios = 8
	rounds := 3000
	if testing.Short() || raceEnabled {
		rounds = 500
	}
	// Keep the reapers in rounds: a chain of Nops restarting from their
	// callbacks, so that rounds take the senders' CQEs too.
	var stopChain atomic.Bool
	var chain sync.WaitGroup
	for i := 0; i < 4; i++ {
		chain.Add(1)
		n := e.NewAio(func(a *Aio) {
			if stopChain.Load() {
				chain.Done()
				return
			}
			a.Nop()
		})
		n.Nop()
	}
	defer func() { stopChain.Store(true); chain.Wait() }()
	var wg sync.WaitGroup
	for i := 0; i < aios; i++ {
		snd, rcv := tcpPair(t, 0, 0)
		done := make(chan struct{})
		go drainFd(rcv, done)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := e.NewAio(nil)
			a.SetIOV(pattern(16<<10, byte(i)))
			for r := 0; r < rounds; r++ {
				a.Send(snd)
				a.Wait()
				if a.Result() != nil || a.Count() <= 0 {
					t.Errorf("aio %d round %d: %v, %d", i, r, a.Result(), a.Count())
					return
				}
			}
			unix.Shutdown(snd, unix.SHUT_WR)
			<-done
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		t.Fatalf("sends still waiting after 60 s (a lost notification)\n%s", stacks())
	}
	t.Logf("%d of %d notifications came before their result", e.zcEarlyNotifs.Load(), aios*rounds)
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
