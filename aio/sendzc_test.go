//go:build linux

package aio

// Zero-copy send (sendzc.go), against the real kernel over loopback TCP
// and Unix sockets. Internal: the tests look at the Aio's state and at the
// opcode its send went out with, which the API does not show.

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
	snd, rcv = loopbackTCP(t, sndbuf, rcvbuf)
	t.Cleanup(func() { unix.Close(snd); unix.Close(rcv) })
	return snd, rcv
}

// loopbackTCP is tcpPair without the cleanup: the caller closes both.
func loopbackTCP(t testing.TB, sndbuf, rcvbuf int) (snd, rcv int) {
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
		time.Sleep(time.Millisecond) // polling interval
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
	time.Sleep(50 * time.Millisecond) // proving an absence: Cancel must change nothing
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
				// Release the pages only once the test goroutine is inside
				// the call that must wait for them; until the receiver
				// reads, that call cannot return.
				inCall := map[string]string{"Stop": "aio.(*Aio).Stop(", "Close": "aio.(*Engine).Close(", "Wait": "aio.(*Aio).Wait("}[how]
				for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stacks(), inCall); {
					if time.Now().After(deadline) {
						t.Errorf("%s not called within 10 s", how)
						break
					}
					time.Sleep(100 * time.Microsecond) // polling interval
				}
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
	n, st := a.Count(), a.state
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
