//go:build linux

package aio_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Close with messages queued for a descriptor (and a multishot armed on
// it) and accepted descriptors queued for a listener: the messages go back,
// the descriptors are closed, nothing is left open (/proc/self/fd).
func TestMsgCloseWithQueued(t *testing.T) {
	before := openFDs(t)
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	x, y, closeX, closeY := seqpacket(t)
	l, sa, closeL := listener(t, 64)
	a := e.NewAio(nil)
	a.SetTimeout(waitLimit)
	write(t, y, "first")
	m, _, err := recvMsg(t, a, x)
	if err != nil {
		t.Fatal(err)
	}
	m.Free()
	for i := 0; i < 5; i++ {
		write(t, y, fmt.Sprintf("queued %d", i))
	}
	// One Accept arms the multishot; three more connections queue.
	var clients []func()
	_, c0 := dial(t, sa)
	clients = append(clients, c0)
	a.Accept(l)
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("Accept: %v", a.Result())
	}
	unix.Close(a.Output(0).(int))
	for i := 0; i < 3; i++ {
		_, c := dial(t, sa)
		clients = append(clients, c)
	}
	// Let them queue: Close is to find them in the engine's queues.
	aio.WaitMsgsTaken(t, e, x)
	aio.WaitConnsTaken(t, e, l, 3)
	a.Free()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	closeX()
	closeY()
	closeL()
	for _, c := range clients {
		c()
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open before, %d after Close", before, after)
	}
}

// CloseFD ends the descriptor's multishot and closes it; a new socket
// given the same number receives its own data, not the old one's, and a
// listener closed with CloseFD stops accepting.
func TestMsgCloseFDAndReuse(t *testing.T) {
	e := newEngine(t, aio.Config{})
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	x, y := fds[0], fds[1]
	write(t, y, "old 1")
	m, _, err := recvMsg(t, a, x)
	if err != nil {
		t.Fatal(err)
	}
	m.Free()
	write(t, y, "old 2") // queued for x, never received
	aio.WaitMsgsTaken(t, e, x)
	// A waiting RecvMsg on another Aio ends with ErrClosed.
	b := e.NewAio(nil)
	defer b.Free()
	if err := e.CloseFD(x); err != nil {
		t.Fatal(err)
	}
	unix.Close(y)
	fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if fds[0] != x {
		t.Skipf("the kernel gave descriptor %d, not the reused %d", fds[0], x)
	}
	write(t, fds[1], "new")
	m, _, err = recvMsg(t, a, fds[0])
	if err != nil || string(m.Bytes()) != "new" {
		t.Fatalf("RecvMsg on the reused number = %v, %v; want new", m, err)
	}
	m.Free()
	if aio.MsgMultishot(e) || e.Backend() == aio.BackendPortable {
		// A waiter at CloseFD ends with ErrClosed: the multishot's
		// state ends it, and on the portable backend CloseFD ends what
		// waits in its poller for the descriptor (EndWaiters).
		b.SetTimeout(waitLimit)
		startRecvMsgParked(t, e, b, fds[0])
		e.CloseFD(fds[0])
		b.Wait()
		if b.Result() != aio.ErrClosed {
			t.Fatalf("RecvMsg waiting at CloseFD = %v, want ErrClosed", b.Result())
		}
	} else {
		// A single-shot receive on a ring is in the kernel as a Recv
		// is, holding its file; closing its descriptor does not end it.
		t.Log("single-shot RecvMsg: the check of a waiter ended by CloseFD does not apply")
	}

	l, sa, _ := listener(t, 16)
	_, c := dial(t, sa)
	defer c()
	a.Accept(l)
	a.Wait()
	if a.Result() != nil {
		t.Fatal(a.Result())
	}
	unix.Close(a.Output(0).(int))
	if err := e.CloseFD(l); err != nil {
		t.Fatal(err)
	}
	s, closeS := tcpSocket(t)
	defer closeS()
	if err := unix.Connect(s, sa); err != unix.ECONNREFUSED {
		t.Fatalf("connect after CloseFD of the listener = %v, want ECONNREFUSED", err)
	}
}

// An armed multishot on an idle connection is like any pending op: the
// ring's reaper parks on the netpoller, it does not spin.
func TestMsgIdleMultishotParks(t *testing.T) {
	e := newEngine(t, aio.Config{})
	x, _, _, _ := socketpair(t)
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	m := aio.MarkSubmissions(t)
	a.RecvMsg(x)
	m.Parked(t, e, a, x) // the multishot (or the fallback's receive) is armed
	st0 := e.Stats()
	time.Sleep(200 * time.Millisecond) // the window in which nothing is to happen
	st1 := e.Stats()
	if d := st1.Enters - st0.Enters; d > 5 {
		t.Fatalf("%d enters in 200ms with only an idle multishot armed", d)
	}
	if d := st1.Completed - st0.Completed; d != 0 {
		t.Fatalf("%d completions while idle", d)
	}
	a.Cancel()
	a.Wait()
}

// Accept's queued descriptors are handed out in order to later Accepts.
func TestMsgAcceptQueue(t *testing.T) {
	e := newEngine(t, aio.Config{})
	l, sa, _ := listener(t, 64)
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	var peers []int
	for i := 0; i < 8; i++ {
		p, _ := dial(t, sa)
		peers = append(peers, p)
	}
	for i := range peers {
		a.Accept(l)
		a.Wait()
		if a.Result() != nil {
			t.Fatalf("Accept %d: %v", i, a.Result())
		}
		fd := a.Output(0).(int)
		own(t, fd)
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_NONBLOCK != 0 {
			t.Fatalf("accepted descriptor flags %#x, %v: want blocking", fl, err)
		}
		fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if fdfl&unix.FD_CLOEXEC == 0 {
			t.Fatal("accepted descriptor is not close-on-exec")
		}
	}
}

// TestCloseFDEndsReadinessWaiters: a Recv waiting for readiness in the
// engine's poller (the portable backend's, or a ring engine's readiness
// backend for a blocking Recv of an Aio without a callback) ends with
// ErrClosed when Engine.CloseFD closes its descriptor: the poller drops
// the closed descriptor without a report, so it would otherwise wait
// until its timeout.
func TestCloseFDEndsReadinessWaiters(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		x := fds[0]
		defer unix.Close(fds[1])
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		a.SetIOV(make([]byte, 16))
		a.Recv(x)
		time.Sleep(20 * time.Millisecond) // waiting by now
		if err := e.CloseFD(x); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { a.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			a.Stop()
			t.Fatalf("a Recv waiting at CloseFD of its descriptor still waits 5 s later (after Stop: %v)", a.Result())
		}
		if !errors.Is(a.Result(), aio.ErrClosed) {
			t.Fatalf("Recv waiting at CloseFD = %v, want ErrClosed", a.Result())
		}
	})
}

// A request waiting in the ring on a descriptor that CloseFD closes ends
// with ErrClosed, and the socket is really closed (its peer reads the end
// of the stream): a Recv and a Send into a full socket, of Aios with
// callbacks (their requests go to the ring), with no timeout and with a
// long one (a deadline in the request: still ErrClosed, not a timeout),
// closed by Engine.CloseFD and by another Aio's CloseFD, with and without
// Config.RingOnly; on the portable backend too, where CloseFD ends the
// waits in its poller. Before, the ring's request held the socket open
// until data came or its timeout passed (docs/design.md, fdcancel.go).
func TestCloseFDEndsRingRequests(t *testing.T) {
	for _, ringOnly := range []bool{false, true} {
		for _, be := range []aio.Backend{aio.BackendIOURing, aio.BackendPortable} {
			if ringOnly && be == aio.BackendPortable {
				continue
			}
			name := string(be)
			if ringOnly {
				name += "/RingOnly"
			}
			t.Run(name, func(t *testing.T) {
				e, err := aio.NewEngine(aio.Config{Backend: be, RingOnly: ringOnly})
				if err != nil {
					t.Skipf("%s unavailable: %v", be, err)
				}
				defer e.Close()
				for _, c := range []struct {
					op      string
					timeout time.Duration
					byAio   bool
				}{
					{"Recv", aio.Infinite, false}, {"Recv", time.Hour, false}, {"Recv", aio.Infinite, true},
					{"Send", aio.Infinite, false}, {"Send", time.Hour, true},
				} {
					fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						t.Fatal(err)
					}
					x, y := fds[0], fds[1]
					if c.op == "Send" {
						fill(t, x)
					}
					done := make(chan error, 1)
					a := e.NewAio(func(a *aio.Aio) { done <- a.Result() })
					a.SetTimeout(c.timeout)
					a.SetIOV(make([]byte, 64<<10))
					if c.op == "Recv" {
						a.Recv(x)
					} else {
						a.Send(x)
					}
					time.Sleep(20 * time.Millisecond) // in the kernel by now
					if c.byAio {
						cl := e.NewAio(nil)
						cl.SetTimeout(waitLimit)
						cl.CloseFD(x)
						cl.Wait()
						if err := cl.Result(); err != nil {
							t.Fatalf("CloseFD: %v", err)
						}
						cl.Free()
					} else if err := e.CloseFD(x); err != nil {
						t.Fatal(err)
					}
					select {
					case err := <-done:
						if !errors.Is(err, aio.ErrClosed) {
							t.Errorf("%s (timeout %v, CloseFD by an Aio %v) at CloseFD of its descriptor = %v, want ErrClosed", c.op, c.timeout, c.byAio, err)
						}
					case <-time.After(5 * time.Second):
						a.Stop()
						t.Fatalf("%s (timeout %v, CloseFD by an Aio %v) still waits 5 s after CloseFD of its descriptor (after Stop: %v)", c.op, c.timeout, c.byAio, a.Result())
					}
					// The socket is closed, not only the number: the peer
					// reads the end of the stream (after what a Send filled).
					unix.SetNonblock(y, false)
					tv := unix.NsecToTimeval(int64(5 * time.Second))
					unix.SetsockoptTimeval(y, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
					buf := make([]byte, 1<<20)
					for {
						n, err := unix.Read(y, buf)
						if err != nil {
							t.Fatalf("%s: the peer's read after CloseFD: %v (the socket is still open)", c.op, err)
						}
						if n == 0 {
							break
						}
					}
					unix.Close(y)
					a.Free()
				}
			})
		}
	}
}

// CloseFD of one descriptor of an open file leaves the requests made
// through another descriptor of it (a dup) alone, as close(2) does: the
// kernel's cancel by descriptor matches the file, so the engine queues
// those again. The Recv on the original goes on and gets the data sent
// afterwards; the original is closed afterwards as usual.
func TestCloseFDOfADupLeavesTheOriginal(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		for _, timeout := range []time.Duration{aio.Infinite, time.Hour} {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			x, y := fds[0], fds[1]
			done := make(chan error, 1)
			buf := make([]byte, 16)
			a := e.NewAio(func(a *aio.Aio) { done <- a.Result() })
			a.SetTimeout(timeout)
			a.SetIOV(buf)
			a.Recv(x)
			outlivesDupClose(t, e, a, done, x, y, buf, fmt.Sprintf("timeout %v: the Recv", timeout))
			a.Free()
			e.CloseFD(x)
			unix.Close(y)
		}
	})
}

// outlivesDupClose checks that a's operation on fd, whose callback sends
// its result to done, outlives Engine.CloseFD of a dup of fd (the kernel's
// cancel by descriptor matches the file, decision 100), and then
// receives into buf the 5 bytes written to w. what names the operation.
func outlivesDupClose(t *testing.T, e *aio.Engine, a *aio.Aio, done <-chan error, fd, w int, buf []byte, what string) {
	t.Helper()
	time.Sleep(20 * time.Millisecond) // in the kernel by now
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CloseFD(d); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("%s on the original ended at CloseFD of a dup: %v", what, err)
	case <-time.After(100 * time.Millisecond):
	}
	write(t, w, "after")
	select {
	case err := <-done:
		if err != nil || a.Count() != 5 || string(buf[:5]) != "after" {
			t.Fatalf("%s after CloseFD of a dup = %v, %d, %q", what, err, a.Count(), buf[:a.Count()])
		}
	case <-time.After(5 * time.Second):
		a.Stop()
		t.Fatalf("%s on the original got nothing 5 s after the data was written", what)
	}
}
