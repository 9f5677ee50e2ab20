//go:build linux

package aio_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// The contract (../shared/API.md) has no CloseFD: a program that frees its
// Aios and closes a descriptor with a plain close must leave nothing of it
// behind. These tests use only that pattern.

// rawListener is a loopback TCP listener the test closes itself (no
// cleanup that could close a reused number).
func rawListener(t *testing.T) (int, *unix.SockaddrInet4) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: loopback}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrInet4)
}

// refusedWithin reports whether a connect to sa is refused within d: the
// listener is really closed, not held open by a multishot ACCEPT.
func refusedWithin(t *testing.T, sa unix.Sockaddr, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Connect(fd, sa)
		unix.Close(fd)
		if errors.Is(err, unix.ECONNREFUSED) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a wait with a deadline
	}
}

// fdsBackTo waits, within d, until /proc/self/fd counts n descriptors.
func fdsBackTo(t *testing.T, n int, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := openFDs(t)
		if got == n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a wait with a deadline
	}
}

// eofWithin reports whether fd reads end of stream within d: the peer's
// socket really closed (sent its FIN, or its RST when it was closed with
// unread data).
func eofWithin(t *testing.T, fd int, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 100)
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := unix.Read(fd, buf)
		if (r == 0 && err == nil) || err == unix.ECONNRESET {
			return true
		}
		if err != nil && err != unix.EAGAIN {
			t.Fatalf("read: %v", err)
		}
	}
	return false
}

// After acc.Free(); unix.Close(lfd) the listener is closed (a connect is
// refused) and the connections the multishot ACCEPT had queued are closed.
func TestMsgAcceptFreeThenPlainClose(t *testing.T) {
	e := newEngine(t, aio.Config{})
	before := openFDs(t)
	lfd, sa := rawListener(t)
	acc := e.NewAio(nil)
	acc.SetTimeout(waitLimit)
	c0, closeC0 := dial(t, sa)
	_ = c0
	acc.Accept(lfd)
	acc.Wait()
	if acc.Result() != nil {
		t.Fatalf("Accept: %v", acc.Result())
	}
	unix.Close(acc.Output(0).(int))
	closeC0()
	var clients []func()
	for i := 0; i < 3; i++ { // queued by the multishot, never taken
		_, c := dial(t, sa)
		clients = append(clients, c)
	}
	aio.WaitConnsTaken(t, e, lfd, 3)
	acc.Free()
	unix.Close(lfd)
	if !refusedWithin(t, sa, 5*time.Second) {
		t.Fatal("a connect to the listener still succeeds 5 s after acc.Free(); unix.Close(lfd): the multishot ACCEPT holds it")
	}
	for _, c := range clients {
		c()
	}
	if got := fdsBackTo(t, before, 5*time.Second); got != before {
		t.Fatalf("%d descriptors open before, %d after Free and close (queued accepted descriptors leaked)", before, got)
	}
}

// The other order: the listener closed first, then the Aio freed.
func TestMsgAcceptPlainCloseThenFree(t *testing.T) {
	e := newEngine(t, aio.Config{})
	before := openFDs(t)
	lfd, sa := rawListener(t)
	acc := e.NewAio(nil)
	acc.SetTimeout(waitLimit)
	_, c0 := dial(t, sa)
	acc.Accept(lfd)
	acc.Wait()
	if acc.Result() != nil {
		t.Fatalf("Accept: %v", acc.Result())
	}
	unix.Close(acc.Output(0).(int))
	c0()
	_, c1 := dial(t, sa) // queued
	aio.WaitConnsTaken(t, e, lfd, 1)
	unix.Close(lfd)
	acc.Free()
	if !refusedWithin(t, sa, 5*time.Second) {
		t.Fatal("a connect still succeeds 5 s after unix.Close(lfd); acc.Free()")
	}
	c1()
	if got := fdsBackTo(t, before, 5*time.Second); got != before {
		t.Fatalf("%d descriptors open before, %d after", before, got)
	}
}

// tcpConn returns a connected loopback TCP pair: srv (accepted) and cli.
func tcpConn(t *testing.T) (srv, cli int) {
	t.Helper()
	l, sa, closeL := listener(t, 4)
	defer closeL()
	cli, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(cli, sa); err != nil {
		t.Fatal(err)
	}
	srv, _, err = unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

// After RecvMsg on a connection, freeing the Aio and closing the
// descriptor with a plain close (in either order, or Reap from the
// callback) closes the connection: the peer reads end of stream.
func TestMsgRecvFreeAndPlainClose(t *testing.T) {
	for _, order := range []string{"free-close", "close-free", "reap-close"} {
		t.Run(order, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			srv, cli := tcpConn(t)
			defer unix.Close(cli)
			write(t, cli, "hello")
			done := make(chan struct{})
			var got string
			var res error
			a := e.NewAio(func(a *aio.Aio) {
				res = a.Result()
				if m := a.Msg(); m != nil {
					got = string(m.Bytes())
					m.Free()
				}
				if order == "reap-close" {
					a.Reap()
				}
				close(done)
			})
			a.SetTimeout(waitLimit)
			a.RecvMsg(srv)
			<-done
			if res != nil || got != "hello" {
				t.Fatalf("RecvMsg = %q, %v", got, res)
			}
			write(t, cli, "queued") // kept for a next RecvMsg that never comes
			if order != "reap-close" {
				// Queued in the engine when the Aio goes. (Reaped in
				// its callback, the Aio left the descriptor no user:
				// its multishot is cancelled and takes nothing more.)
				aio.WaitMsgsTaken(t, e, srv)
			}
			switch order {
			case "free-close":
				a.Free()
				unix.Close(srv)
			case "close-free":
				unix.Close(srv)
				a.Free()
			case "reap-close":
				unix.Close(srv)
			}
			if !eofWithin(t, cli, 5*time.Second) {
				t.Fatalf("%s: the peer saw no end of stream within 5 s: the multishot receive holds the socket", order)
			}
		})
	}
}

// Concurrent Accepts on one listener from several Aios: freeing one keeps
// the multishot for the others; freeing the last (then a plain close)
// closes the listener.
func TestMsgAcceptConcurrentFreeOne(t *testing.T) {
	e := newEngine(t, aio.Config{})
	before := openFDs(t)
	lfd, sa := rawListener(t)
	aios := make([]*aio.Aio, 3)
	m := aio.MarkSubmissions(t)
	for i := range aios {
		aios[i] = e.NewAio(nil)
		aios[i].SetTimeout(waitLimit)
		aios[i].Accept(lfd) // all three wait
	}
	// The Free below stops the first while it waits, so wait until it does.
	m.Parked(t, e, aios[0], lfd)
	aios[0].Free()
	if r := aios[0].Result(); r != aio.ErrStopped {
		t.Fatalf("freed waiting Accept = %v, want ErrStopped", r)
	}
	var clients []func()
	for i := 0; i < 2; i++ {
		_, c := dial(t, sa)
		clients = append(clients, c)
	}
	for _, a := range aios[1:] {
		a.Wait()
		if a.Result() != nil {
			t.Fatalf("Accept on a remaining Aio = %v", a.Result())
		}
		unix.Close(a.Output(0).(int))
	}
	// Another round after one more is freed: the last keeps accepting.
	aios[1].Free()
	_, c := dial(t, sa)
	clients = append(clients, c)
	aios[2].Accept(lfd)
	aios[2].Wait()
	if aios[2].Result() != nil {
		t.Fatalf("Accept on the last Aio = %v", aios[2].Result())
	}
	unix.Close(aios[2].Output(0).(int))
	aios[2].Free()
	unix.Close(lfd)
	if !refusedWithin(t, sa, 5*time.Second) {
		t.Fatal("listener still accepting after its last Aio was freed and it was closed")
	}
	for _, c := range clients {
		c()
	}
	if got := fdsBackTo(t, before, 5*time.Second); got != before {
		t.Fatalf("%d descriptors open before, %d after", before, got)
	}
}

// An Aio used on several descriptors: its stop ends each state it was the
// last user of, and only those: a descriptor another Aio has received on
// keeps its multishot and its queue.
func TestMsgStopSeveralDescriptors(t *testing.T) {
	e := newEngine(t, aio.Config{})
	s1, c1 := tcpConn(t)
	s2, c2 := tcpConn(t)
	defer unix.Close(c1)
	defer unix.Close(c2)
	a := e.NewAio(nil)
	b := e.NewAio(nil)
	a.SetTimeout(waitLimit)
	for i, fd := range []int{s1, s2, s1} {
		peer := c1
		if fd == s2 {
			peer = c2
		}
		write(t, peer, fmt.Sprint(i))
		m, _, err := recvMsg(t, a, fd)
		if err != nil || string(m.Bytes()) != fmt.Sprint(i) {
			t.Fatalf("RecvMsg %d = %v, %v", i, m, err)
		}
		m.Free()
	}
	// b becomes a user of s2 with a non-blocking attempt (nothing queued).
	b.SetTimeout(0)
	b.RecvMsg(s2)
	b.Wait()
	if b.Result() != aio.ErrTimedOut {
		t.Fatalf("b's first RecvMsg = %v, want ErrTimedOut", b.Result())
	}
	write(t, c2, "for b") // queued for s2 while a stops
	aio.WaitMsgsTaken(t, e, s2)
	a.Free()
	unix.Close(s1)
	if !eofWithin(t, c1, 5*time.Second) {
		t.Fatal("s1: no end of stream after its only Aio was freed and it was closed")
	}
	b.SetTimeout(waitLimit)
	m, _, err := recvMsg(t, b, s2)
	if err != nil || string(m.Bytes()) != "for b" {
		t.Fatalf("b's RecvMsg after a's Free = %v, %v; want the message queued meanwhile", m, err)
	}
	m.Free()
	b.Free()
	unix.Close(s2)
	if !eofWithin(t, c2, 5*time.Second) {
		t.Fatal("s2: no end of stream after b was freed and it was closed")
	}
}

// A descriptor closed with a plain close while the Aio that received on
// it lives on, and its number reused by a new socket: a RecvMsg from
// another Aio on the number gets the new socket's data, not the old
// queue.
func TestMsgReusedNumberNewAio(t *testing.T) {
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
	write(t, y, "old 2") // queued for x
	aio.WaitMsgsTaken(t, e, x)
	unix.Close(x)
	unix.Close(y)
	fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if fds[0] != x {
		// Force the number.
		if err := unix.Dup3(fds[0], x, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(fds[0])
		fds[0] = x
	}
	write(t, fds[1], "new")
	b := e.NewAio(nil)
	defer b.Free()
	b.SetTimeout(waitLimit)
	m, _, err = recvMsg(t, b, x)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(m.Bytes()); s != "new" {
		t.Fatalf("RecvMsg on the reused number = %q, want new (the old socket's queue leaked into the new one)", s)
	}
	m.Free()
}

// Stop racing a message's arrival: the message either ends the stopped
// RecvMsg (the caller's, once) or stays queued for the descriptor's other
// user; never lost, never both. A small pool makes a lost buffer show up
// as starvation within a few rounds.
func TestMsgStopRacingResult(t *testing.T) {
	e := newEngine(t, aio.Config{MsgBuffers: 8})
	x, y, _, _ := seqpacket(t)
	keeper := e.NewAio(nil) // keeps x's state alive across the stops
	defer keeper.Free()
	keeper.SetTimeout(waitLimit)
	write(t, y, "start")
	m, _, err := recvMsg(t, keeper, x)
	if err != nil {
		t.Fatal(err)
	}
	m.Free()
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	viaStopped := 0
	for i := 0; i < rounds; i++ {
		a := e.NewAio(nil)
		a.SetTimeout(waitLimit)
		a.RecvMsg(x)
		want := fmt.Sprint("m", i)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%3 != 0 {
				time.Sleep(time.Duration(i%7) * time.Microsecond) // jitter: varies which side of the Free the write lands on
			}
			write(t, y, want)
		}()
		if i%2 == 0 {
			time.Sleep(time.Duration(i%5) * time.Microsecond) // jitter: varies which side of the Free the write lands on
		}
		a.Free()
		wg.Wait()
		if a.Result() == nil {
			if m := a.Msg(); m == nil || string(m.Bytes()) != want {
				t.Fatalf("round %d: stopped RecvMsg succeeded with %v", i, m)
			}
			a.Msg().Free()
			viaStopped++
			// Nothing else queued: a zero-timeout receive finds nothing.
			keeper.SetTimeout(0)
			keeper.RecvMsg(x)
			keeper.Wait()
			keeper.SetTimeout(waitLimit)
			if keeper.Result() != aio.ErrTimedOut {
				t.Fatalf("round %d: message delivered twice: the keeper also got %v, %v", i, keeper.Msg(), keeper.Result())
			}
			continue
		}
		if a.Result() != aio.ErrStopped {
			t.Fatalf("round %d: stopped RecvMsg = %v", i, a.Result())
		}
		m, _, err := recvMsg(t, keeper, x)
		if err != nil || string(m.Bytes()) != want {
			t.Fatalf("round %d: keeper's RecvMsg = %v, %v; want %q (lost)", i, m, err, want)
		}
		m.Free()
	}
	t.Logf("%d of %d messages ended the stopped RecvMsg", viaStopped, rounds)
}

// A RecvMsg (an Accept) started and stopped inside a callback, its
// descriptor closed there and the number given to a new socket: a reaper's
// round submits what its callbacks queued only when they return, so the
// stopped operation's multishot must reach the kernel before Stop returns.
// Were it still in the SQ at the close, the kernel would resolve it against
// the new socket and take the message written to it (the connection made
// to it).
func TestMsgDropInCallbackThenReuse(t *testing.T) {
	t.Run("RecvMsg", func(t *testing.T) {
		dropInCallbackThenReuse(t, func() (int, func() int) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Error(err)
				return -1, nil
			}
			t.Cleanup(func() { unix.Close(fds[1]) })
			return fds[0], func() int {
				if _, err := unix.Write(fds[1], []byte("new")); err != nil {
					t.Error(err)
				}
				return -1 // closed by the cleanup
			}
		}, func(r *aio.Aio, fd int) error {
			m, _, err := recvMsg(t, r, fd)
			if err == nil {
				if s := string(m.Bytes()); s != "new" {
					t.Errorf("RecvMsg on the reused number = %q, want new", s)
				}
				m.Free()
			}
			return err
		}, (*aio.Aio).RecvMsg)
	})
	t.Run("Accept", func(t *testing.T) {
		dropInCallbackThenReuse(t, func() (int, func() int) {
			fd, sa := rawListener(t)
			return fd, func() int {
				c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Error(err)
					return -1
				}
				if err := unix.Connect(c, sa); err != nil {
					t.Error(err)
				}
				return c
			}
		}, func(r *aio.Aio, fd int) error {
			r.Accept(fd)
			r.Wait()
			if r.Result() == nil {
				unix.Close(r.FD())
			}
			return r.Result()
		}, (*aio.Aio).Accept)
	})
}

// dropInCallbackThenReuse runs the test for one kind of multishot: open
// makes a socket and returns its descriptor and a function that feeds it
// (writes to it, connects to it) and returns a descriptor to close, or -1;
// take
// receives what was fed; start starts the multishot operation.
func dropInCallbackThenReuse(t *testing.T, open func() (int, func() int), take func(*aio.Aio, int) error, start func(*aio.Aio, int)) {
	e := newEngine(t, aio.Config{})
	x, _ := open()
	nx, peer := -1, -1
	inCallback := make(chan struct{})
	c := e.NewAio(func(*aio.Aio) {
		defer close(inCallback)
		b := e.NewAio(nil)
		b.SetTimeout(waitLimit)
		start(b, x)
		b.Stop()
		b.Free()
		unix.Close(x)
		var feed func() int
		nx, feed = open()
		if nx != x && nx >= 0 {
			if err := unix.Dup3(nx, x, unix.O_CLOEXEC); err != nil {
				t.Error(err)
			}
			unix.Close(nx)
			nx = x
		}
		if feed != nil {
			peer = feed()
		}
	})
	defer c.Free()
	c.Nop()
	<-inCallback
	c.Wait()
	if t.Failed() {
		return
	}
	defer unix.Close(nx)
	if peer >= 0 {
		defer unix.Close(peer)
	}
	r := e.NewAio(nil)
	defer r.Free()
	r.SetTimeout(2 * time.Second)
	if err := take(r, nx); err != nil {
		t.Fatalf("on the reused number: %v, want what was sent to the new socket (taken by the stopped operation's multishot?)", err)
	}
}
