//go:build linux

package aio

// Zero-copy send (sendzc.go), against the real kernel over loopback TCP
// and Unix sockets. Internal: the tests look at the Aio's state and at the
// opcode its send went out with, which the API does not show.

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

// zcEngine makes an engine that sends zero-copy from min bytes, or skips
// the test where the kernel lacks IORING_OP_SEND_ZC (6.0).
func zcEngine(t testing.TB, min int) *Engine {
	t.Helper()
	e, err := NewEngine(Config{SendZeroCopyMin: min})
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	if !e.Supports(FeatureZeroCopySend) {
		t.Skip("kernel without IORING_OP_SEND_ZC (6.0)")
	}
	return e
}

// tcpPair returns a connected loopback TCP pair (sender, receiver), both
// blocking. rcvbuf > 0 shrinks the receiver's buffer (and so the window
// it advertises), sndbuf > 0 sets the sender's.
func tcpPair(t testing.TB, sndbuf, rcvbuf int) (snd, rcv int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if rcvbuf > 0 {
		// Set on the listener so the accepted socket starts with it and
		// the window scale matches.
		if err := unix.SetsockoptInt(ln, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	snd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sndbuf > 0 {
		if err := unix.SetsockoptInt(snd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Connect(snd, sa); err != nil {
		t.Fatal(err)
	}
	rcv, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(snd); unix.Close(rcv) })
	return snd, rcv
}

// readFull reads n bytes from fd with plain system calls.
func readFull(t testing.TB, fd, n int) []byte {
	t.Helper()
	out := make([]byte, n)
	for got := 0; got < n; {
		k, err := unix.Read(fd, out[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || k == 0 {
			t.Errorf("read after %d of %d bytes: %d %v", got, n, k, err)
			return out[:got]
		}
		got += k
	}
	return out
}

// pattern returns n bytes that differ from any shifted copy of themselves.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ byte(i>>8) ^ seed
	}
	return p
}

func waitState(t testing.TB, a *Aio, want opState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.mu.Lock()
		s := a.state
		a.mu.Unlock()
		if s == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("aio state %d, want %d after 5 s", s, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// A zero-copy send over TCP delivers its bytes intact, goes out as
// SEND_ZC (single buffer) or SENDMSG_ZC (several), and a send under the
// threshold stays plain.
func TestSendZCDelivers(t *testing.T) {
	e := zcEngine(t, 16<<10)
	snd, rcv := tcpPair(t, 0, 0)
	done := make(chan *Aio, 1)
	a := e.NewAio(func(a *Aio) { done <- a })
	for _, tc := range []struct {
		name string
		bufs [][]byte
		op   sqe.Op
	}{
		{"single", [][]byte{pattern(64<<10, 1)}, sqe.OpSendZC},
		{"vector", [][]byte{pattern(10<<10, 2), pattern(20<<10, 3), pattern(1, 4)}, sqe.OpSendmsgZC},
		{"small", [][]byte{pattern(16<<10-1, 5)}, sqe.OpSend},
		{"smallvector", [][]byte{pattern(100, 6), pattern(100, 7)}, sqe.OpSendmsg},
	} {
		want := bytes.Join(tc.bufs, nil)
		got := make(chan []byte, 1)
		go func() { got <- readFull(t, rcv, len(want)) }()
		a.SetIOV(tc.bufs...)
		a.Send(snd)
		<-done
		a.Wait()
		if a.Result() != nil || a.Count() != len(want) {
			t.Fatalf("%s: Send = %v, %d bytes; want nil, %d", tc.name, a.Result(), a.Count(), len(want))
		}
		if op := a.zcSendOp(); op != tc.op {
			t.Errorf("%s: sent with %v, want %v", tc.name, op, tc.op)
		}
		if !bytes.Equal(<-got, want) {
			t.Errorf("%s: received bytes differ from those sent", tc.name)
		}
	}
	if e.zcRefusals.Load() != 0 {
		t.Error("TCP refused zero-copy send")
	}
}

// stuckSend starts a zero-copy send that the kernel accepts in full into a
// large send buffer but cannot transmit, as the receiver's tiny window is
// closed: the result CQE arrives, the notification waits until the
// receiver reads. It returns the data sent, once the Aio awaits the
// notification.
func stuckSend(t *testing.T, e *Engine, a *Aio, snd int) []byte {
	t.Helper()
	data := pattern(512<<10, 9)
	a.SetIOV(data)
	a.Send(snd)
	waitState(t, a, stateNotif)
	if a.zcSendOp() != sqe.OpSendZC {
		t.Fatalf("sent with %v, want SEND_ZC", a.zcSendOp())
	}
	return data
}

// The callback waits for the notification, not the result: the Aio stays
// busy and its buffer pinned while the kernel still holds the pages, and
// Cancel in that window changes nothing. Once the callback has run, the
// sender may overwrite the buffer: what the receiver gets is intact.
func TestSendZCWaitsForNotification(t *testing.T) {
	e := zcEngine(t, 4096)
	snd, rcv := tcpPair(t, 4<<20, 4096)
	var calls atomic.Int32
	done := make(chan struct{}, 1)
	a := e.NewAio(func(a *Aio) { calls.Add(1); done <- struct{}{} })
	data := stuckSend(t, e, a, snd)
	want := bytes.Clone(data)
	a.Cancel()
	time.Sleep(50 * time.Millisecond)
	if !a.Busy() || calls.Load() != 0 {
		t.Fatalf("before the notification: busy %v, %d callbacks; want busy, none", a.Busy(), calls.Load())
	}
	got := make(chan []byte, 1)
	go func() { got <- readFull(t, rcv, len(want)) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no callback after the receiver read")
	}
	// The kernel has released the pages: scribble over them at once.
	for i := range data {
		data[i] = 0xee
	}
	if a.Result() != nil || a.Count() != len(want) {
		t.Fatalf("Send = %v, %d; want nil, %d (the result stands against a late Cancel)", a.Result(), a.Count(), len(want))
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("the receiver got bytes that differ from those sent")
	}
	a.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d callbacks, want 1", calls.Load())
	}
}

// Stop and Engine.Close between the result and the notification wait for
// the notification; the result stands.
func TestSendZCStopAndCloseWaitForNotification(t *testing.T) {
	for _, how := range []string{"Stop", "Close", "Wait"} {
		t.Run(how, func(t *testing.T) {
			e := zcEngine(t, 4096)
			snd, rcv := tcpPair(t, 4<<20, 4096)
			var calls atomic.Int32
			var cb func(*Aio)
			if how != "Wait" {
				cb = func(*Aio) { calls.Add(1) }
			}
			a := e.NewAio(cb)
			data := stuckSend(t, e, a, snd)
			var released atomic.Bool
			got := make(chan []byte, 1)
			go func() {
				time.Sleep(50 * time.Millisecond)
				released.Store(true)
				got <- readFull(t, rcv, len(data))
			}()
			switch how {
			case "Stop":
				a.Stop()
			case "Close":
				e.Close()
			case "Wait":
				a.Wait()
			}
			if !released.Load() {
				t.Fatalf("%s returned before the kernel could release the buffer", how)
			}
			if a.Busy() || a.Result() != nil || a.Count() != len(data) {
				t.Fatalf("after %s: busy %v, %v, %d; want idle, nil, %d", how, a.Busy(), a.Result(), a.Count(), len(data))
			}
			if cb != nil && calls.Load() != 1 {
				t.Fatalf("%d callbacks, want 1", calls.Load())
			}
			if !bytes.Equal(<-got, data) {
				t.Fatal("received bytes differ")
			}
		})
	}
}

// A zero-copy send's LINK_TIMEOUT cuts the send while it waits for buffer
// room; what it had queued stands (Count), and the callback still waits
// for the notification, which needs the receiver to read that part.
func TestSendZCTimeout(t *testing.T) {
	e := zcEngine(t, 4096)
	snd, rcv := tcpPair(t, 64<<10, 4096)
	done := make(chan time.Time, 1)
	a := e.NewAio(func(*Aio) { done <- time.Now() })
	data := pattern(8<<20, 3)
	a.SetIOV(data)
	a.SetTimeout(50 * time.Millisecond)
	start := time.Now()
	a.Send(snd)
	var at time.Time
	select {
	case at = <-done:
		t.Logf("callback without reading, %v after the start: %v, %d", at.Sub(start), a.Result(), a.Count())
	case <-time.After(300 * time.Millisecond):
		// Expected when part was queued: the notification waits for it
		// to be acknowledged.
	}
	a.mu.Lock()
	n, st := a.count, a.state
	a.mu.Unlock()
	got := make(chan []byte, 1)
	go func() {
		// Reads what was sent: n bytes once the state is known.
		got <- readFull(t, rcv, n)
	}()
	if at.IsZero() {
		if st != stateNotif || n <= 0 {
			t.Fatalf("stuck without a callback in state %d with %d bytes; want Notif with a partial send", st, n)
		}
		at = <-done
	}
	if at.Sub(start) < 50*time.Millisecond {
		t.Fatalf("the callback ran %v after the start, before the 50 ms timeout", at.Sub(start))
	}
	a.Wait()
	switch {
	case a.Count() == 0 && a.Result() == ErrTimedOut:
	case a.Count() > 0 && a.Count() < len(data) && a.Result() == nil:
	default:
		t.Fatalf("Send = %v, %d; want ErrTimedOut and 0, or nil and a partial count", a.Result(), a.Count())
	}
	if !bytes.Equal(<-got, data[:a.Count()]) {
		t.Fatal("received bytes differ from the part reported sent")
	}
}

// A zero timeout is one MSG_DONTWAIT attempt: on a full socket it ends
// with ErrTimedOut, on an empty one it sends.
func TestSendZCZeroTimeout(t *testing.T) {
	e := zcEngine(t, 4096)
	snd, rcv := tcpPair(t, 0, 0)
	a := e.NewAio(nil)
	a.SetTimeout(0)
	data := pattern(32<<10, 4)
	a.SetIOV(data)
	a.Send(snd)
	a.Wait()
	if a.Result() != nil || a.Count() <= 0 || a.zcSendOp() != sqe.OpSendZC {
		t.Fatalf("non-blocking SEND_ZC on an empty socket: %v, %d, %v", a.Result(), a.Count(), a.zcSendOp())
	}
	if !bytes.Equal(readFull(t, rcv, a.Count()), data[:a.Count()]) {
		t.Fatal("received bytes differ")
	}
	fillFd(t, snd)
	a.Send(snd)
	a.Wait()
	if a.Result() != ErrTimedOut || a.Count() != 0 {
		t.Fatalf("non-blocking SEND_ZC on a full socket: %v, %d; want ErrTimedOut, 0", a.Result(), a.Count())
	}
}

// fillFd writes to fd until it would block.
func fillFd(t testing.TB, fd int) {
	t.Helper()
	unix.SetNonblock(fd, true)
	defer unix.SetNonblock(fd, false)
	chunk := make([]byte, 64<<10)
	for {
		if _, err := unix.Write(fd, chunk); err == unix.EAGAIN {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// Unix sockets refuse zero copy (EOPNOTSUPP): the send goes out plainly,
// intact, through the callback exactly once, and the engine remembers, so
// the next send is plain from the start. Both with a callback (the
// re-queue joins a reaper's batch) and Wait-only (handed to a reaper from
// an inline reap).
func TestSendZCRefusedFallsBack(t *testing.T) {
	for _, withCB := range []bool{true, false} {
		name := "Wait"
		if withCB {
			name = "callback"
		}
		t.Run(name, func(t *testing.T) {
			e := zcEngine(t, 1)
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			var calls atomic.Int32
			var cb func(*Aio)
			if withCB {
				cb = func(*Aio) { calls.Add(1) }
			}
			a := e.NewAio(cb)
			for i, wantOp := range []sqe.Op{sqe.OpSend, sqe.OpSend} {
				data := pattern(100<<10, byte(i))
				a.SetIOV(data)
				got := make(chan []byte, 1)
				go func() { got <- readFull(t, fds[1], len(data)) }()
				a.Send(fds[0])
				a.Wait()
				if a.Result() != nil || a.Count() != len(data) {
					t.Fatalf("send %d: %v, %d; want nil, %d", i, a.Result(), a.Count(), len(data))
				}
				if !bytes.Equal(<-got, data) {
					t.Fatalf("send %d: received bytes differ", i)
				}
				if op := a.zcSendOp(); op != wantOp {
					t.Fatalf("send %d went out as %v, want %v", i, op, wantOp)
				}
				if e.zcRefusals.Load() != 1 {
					t.Fatalf("%d refusals after send %d, want 1 (remembered)", e.zcRefusals.Load(), i)
				}
			}
			if withCB && calls.Load() != 2 {
				t.Fatalf("%d callbacks for 2 sends", calls.Load())
			}
		})
	}
}

// A refusal is remembered per Aio and descriptor, not per engine: on one
// engine, after a Unix socket refused, the same Aio on a TCP socket and
// another Aio still send zero-copy, and the refusing pair stays plain.
func TestSendZCRefusalPerDescriptor(t *testing.T) {
	e := zcEngine(t, 1)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	snd, rcv := tcpPair(t, 0, 0)
	a, other := e.NewAio(nil), e.NewAio(nil)
	data := pattern(4096, 1)
	for i, tc := range []struct {
		a      *Aio
		fd, rd int
		op     sqe.Op
	}{
		{a, fds[0], fds[1], sqe.OpSend}, // refused, re-sent plainly
		{a, snd, rcv, sqe.OpSendZC},
		{other, snd, rcv, sqe.OpSendZC},
		{a, fds[0], fds[1], sqe.OpSend}, // plain from the start
		{other, fds[0], fds[1], sqe.OpSend},
	} {
		tc.a.SetIOV(data)
		tc.a.Send(tc.fd)
		tc.a.Wait()
		if tc.a.Result() != nil || tc.a.Count() != len(data) || tc.a.zcSendOp() != tc.op {
			t.Fatalf("send %d: %v, %d, %v; want nil, %d, %v", i, tc.a.Result(), tc.a.Count(), tc.a.zcSendOp(), len(data), tc.op)
		}
		if !bytes.Equal(readFull(t, tc.rd, len(data)), data) {
			t.Fatalf("send %d: received bytes differ", i)
		}
	}
	if n := e.zcRefusals.Load(); n != 2 {
		t.Fatalf("%d refusals, want 2 (one per Aio on the Unix socket)", n)
	}
}

// A refused send keeps its timeout: on a full Unix socket the plain
// re-issue ends with ErrTimedOut at the original deadline, and a Cancel of
// the plain send ends it with ErrCanceled.
func TestSendZCRefusedKeepsTimeoutAndCancel(t *testing.T) {
	e := zcEngine(t, 1)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	fillFd(t, fds[0])
	a := e.NewAio(nil)
	a.SetIOV(pattern(4096, 1))
	a.SetTimeout(30 * time.Millisecond)
	start := time.Now()
	a.Send(fds[0])
	a.Wait()
	if a.Result() != ErrTimedOut || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("refused then plain send on a full socket: %v after %v; want ErrTimedOut after 30 ms", a.Result(), time.Since(start))
	}
	a.SetTimeout(Infinite)
	a.Send(fds[0])
	time.Sleep(10 * time.Millisecond)
	a.Cancel()
	a.Wait()
	if a.Result() != ErrCanceled {
		t.Fatalf("cancelled send: %v, want ErrCanceled", a.Result())
	}
}

// A refused send that is aborted before its plain re-issue ends with the
// abort's error and sends nothing. The race is driven many times: each
// outcome must be exactly one callback, and bytes received must equal the
// counts reported.
func TestSendZCRefusedAbortRace(t *testing.T) {
	for i := 0; i < 200; i++ {
		e, err := NewEngine(Config{SendZeroCopyMin: 1})
		if err != nil {
			t.Skip(err)
		}
		if !e.Supports(FeatureZeroCopySend) {
			e.Close()
			t.Skip("no SEND_ZC")
		}
		fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		var calls atomic.Int32
		a := e.NewAio(func(*Aio) { calls.Add(1) })
		a.SetIOV(pattern(1000, 1))
		a.Send(fds[0])
		if i%2 == 0 {
			a.Cancel()
		} else {
			a.Stop()
		}
		a.Wait()
		n := a.Count()
		switch a.Result() {
		case nil:
			if n != 1000 {
				t.Fatalf("round %d: nil with %d bytes", i, n)
			}
		case ErrCanceled, ErrStopped:
			if n != 0 {
				t.Fatalf("round %d: %v with %d bytes", i, a.Result(), n)
			}
		default:
			t.Fatalf("round %d: %v", i, a.Result())
		}
		unix.SetNonblock(fds[1], true)
		buf := make([]byte, 2000)
		k, _ := unix.Read(fds[1], buf)
		if max(k, 0) != n {
			t.Fatalf("round %d: reported %d bytes, received %d", i, n, k)
		}
		if calls.Load() != 1 {
			t.Fatalf("round %d: %d callbacks", i, calls.Load())
		}
		e.Close()
		unix.Close(fds[0])
		unix.Close(fds[1])
	}
}

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
					time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
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
			time.Sleep(time.Millisecond)
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
