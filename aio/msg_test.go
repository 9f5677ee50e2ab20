//go:build linux

package aio_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// bothMsgModes runs f with multishot receive and with the single-shot
// fallback (as on kernels before 6.0).
func bothMsgModes(t *testing.T, f func(t *testing.T)) {
	t.Run("multishot", f)
	t.Run("fallback", func(t *testing.T) {
		defer aio.SetMsgFallback(true)()
		f(t)
	})
}

// seqpacket returns a connected pair of SOCK_SEQPACKET sockets, which keep
// message boundaries.
func seqpacket(t testing.TB) (a, b int, closeA, closeB func()) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	return fds[0], fds[1], own(t, fds[0]), own(t, fds[1])
}

// startRecvMsgParked starts RecvMsg on fd and returns once it waits: with
// a multishot armed on fd, RecvMsg has joined the descriptor's waiters
// before it returns; a single-shot receive (the fallback, the portable
// backend) is waited for until it is parked in the kernel.
func startRecvMsgParked(t testing.TB, e *aio.Engine, a *aio.Aio, fd int) {
	t.Helper()
	m := aio.MarkSubmissions(t)
	a.RecvMsg(fd)
	if !aio.MsgMultishot(e) {
		m.Parked(t, e, a, fd)
	}
}

// recvMsg runs one RecvMsg on a callback-less Aio and returns its result.
func recvMsg(t testing.TB, a *aio.Aio, fd int) (*aio.Msg, int, error) {
	t.Helper()
	a.RecvMsg(fd)
	a.Wait()
	return a.Msg(), a.Count(), a.Result()
}

func TestRecvMsgBasic(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, y, _, closeY := socketpair(t)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		write(t, y, "hello")
		m, n, err := recvMsg(t, a, x)
		if err != nil || n != 5 || m == nil || string(m.Bytes()) != "hello" {
			t.Fatalf("RecvMsg = %v, %d, %v; want hello, 5, nil", m, n, err)
		}
		m.Free()
		closeY()
		m, n, err = recvMsg(t, a, x)
		if err != nil || n != 0 || m != nil {
			t.Fatalf("RecvMsg at EOF = %v, %d, %v; want nil, 0, nil", m, n, err)
		}
	})
}

// Messages that arrive while nobody receives queue in order, past the
// queue's bound (the multishot is stopped and re-armed), none lost.
func TestRecvMsgOrderQueued(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, y, _, _ := seqpacket(t)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		const n = 5 * aio.MsgQueueMax
		// The first receive arms the multishot; the rest queue.
		write(t, y, "m0")
		m, _, err := recvMsg(t, a, x)
		if err != nil || string(m.Bytes()) != "m0" {
			t.Fatalf("first RecvMsg: %v %v", m, err)
		}
		m.Free()
		for i := 1; i < n; i++ {
			write(t, y, fmt.Sprintf("m%d", i))
		}
		if aio.MsgMultishot(e) {
			// Let them queue: the multishot takes messages until the
			// queue's bound stops it, and the receives below are to find
			// it stopped (in the fallback nothing takes them meanwhile).
			aio.WaitUntil(t, "the queue fills to its bound", func() bool { return aio.MsgQueued(e, x) >= aio.MsgQueueMax })
		}
		for i := 1; i < n; i++ {
			m, _, err := recvMsg(t, a, x)
			if err != nil {
				t.Fatalf("RecvMsg %d: %v", i, err)
			}
			if got, want := string(m.Bytes()), fmt.Sprintf("m%d", i); got != want {
				t.Fatalf("message %d = %q, want %q", i, got, want)
			}
			m.Free()
		}
	})
}

func TestMsgDoubleFreePanics(t *testing.T) {
	e := newEngine(t, aio.Config{})
	x, y, _, _ := socketpair(t)
	a := e.NewAio(nil)
	defer a.Free()
	write(t, y, "abc")
	m, _, err := recvMsg(t, a, x)
	if err != nil {
		t.Fatal(err)
	}
	m.Free()
	if msg := mustPanic(t, "second Free", m.Free); !strings.Contains(msg, "twice") {
		t.Fatalf("second Free panicked with %q; want it to say twice", msg)
	}
	if msg := mustPanic(t, "Bytes after Free", func() { m.Bytes() }); !strings.Contains(msg, "after Free") {
		t.Fatalf("Bytes after Free panicked with %q", msg)
	}
	a.SetMsg(m)
	if msg := mustPanic(t, "Send of a freed Msg", func() { a.Send(y) }); !strings.Contains(msg, "freed") {
		t.Fatalf("Send of a freed Msg panicked with %q", msg)
	}
	a.SetMsg(nil)
	if a.Busy() {
		t.Fatal("the refused Send left the aio busy")
	}
}

// The pool runs dry: the receive waits (not an error), times out under
// its timeout, and gets the message once a Free returns a buffer.
func TestRecvMsgPoolExhaustion(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		const nbuf = 4
		e := newEngine(t, aio.Config{MsgBuffers: nbuf, MsgBufferSize: 64, Rings: 1})
		x, y, _, _ := seqpacket(t)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		var held []*aio.Msg
		for i := 0; i < nbuf; i++ {
			write(t, y, fmt.Sprintf("m%d", i))
			m, _, err := recvMsg(t, a, x)
			if err != nil {
				t.Fatalf("RecvMsg %d: %v", i, err)
			}
			held = append(held, m)
		}
		write(t, y, "late")
		a.SetTimeout(50 * time.Millisecond)
		if _, _, err := recvMsg(t, a, x); err != aio.ErrTimedOut {
			t.Fatalf("RecvMsg with the pool empty = %v, want ErrTimedOut", err)
		}
		a.SetTimeout(waitLimit)
		a.RecvMsg(x)
		time.Sleep(10 * time.Millisecond) // proving an absence: it must not end by itself
		if !a.Busy() {
			t.Fatalf("RecvMsg ended with the pool empty: %v", a.Result())
		}
		held[0].Free()
		a.Wait()
		if m := a.Msg(); a.Result() != nil || m == nil || string(m.Bytes()) != "late" {
			t.Fatalf("after a Free: %v %v", m, a.Result())
		}
		a.Msg().Free()
		for i, m := range held[1:] {
			if want := fmt.Sprintf("m%d", i+1); string(m.Bytes()) != want {
				t.Fatalf("held message %q changed: %q", want, m.Bytes())
			}
			m.Free()
		}
	})
}

// A RecvMsg cancelled before data arrives ends with ErrCanceled; the
// message that arrives afterwards goes to the next RecvMsg.
func TestRecvMsgCancelKeepsLaterMessage(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, y, _, _ := seqpacket(t)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		a.RecvMsg(x)
		a.Cancel()
		a.Wait()
		if err := a.Result(); err != aio.ErrCanceled {
			t.Fatalf("cancelled RecvMsg = %v", err)
		}
		write(t, y, "after")
		m, _, err := recvMsg(t, a, x)
		if err != nil || string(m.Bytes()) != "after" {
			t.Fatalf("RecvMsg after the cancel = %v, %v", m, err)
		}
		m.Free()
	})
}

func TestRecvMsgBadDescriptor(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		r, _, _, _ := pipe(t)
		if _, _, err := recvMsg(t, a, r); !errors.Is(err, syscall.ENOTSOCK) {
			t.Fatalf("RecvMsg on a pipe = %v, want ENOTSOCK", err)
		}
		fd, closeFD := tcpSocket(t)
		closeFD()
		if _, _, err := recvMsg(t, a, fd); !errors.Is(err, syscall.EBADF) {
			t.Fatalf("RecvMsg on a closed fd = %v, want EBADF", err)
		}
		if _, _, err := recvMsg(t, a, -1); !errors.Is(err, syscall.EBADF) {
			t.Fatalf("RecvMsg on -1 = %v, want EBADF", err)
		}
	})
}

func TestMsgConfigLimits(t *testing.T) {
	for _, c := range []struct {
		cfg  aio.Config
		name string
	}{
		{aio.Config{MsgBuffers: 3}, "MsgBuffers"},
		{aio.Config{MsgBuffers: 65536}, "MsgBuffers"},
		{aio.Config{MsgBuffers: -1}, "MsgBuffers"},
		{aio.Config{MsgBufferSize: -1}, "MsgBufferSize"},
		{aio.Config{MsgBufferSize: aio.MaxMsgBufferSize + 1}, "MsgBufferSize"},
	} {
		e, err := aio.NewEngine(c.cfg)
		if err == nil {
			e.Close()
			t.Fatalf("NewEngine(%+v) succeeded", c.cfg)
		}
		if !errors.Is(err, aio.ErrInvalid) || !strings.Contains(err.Error(), c.name) {
			t.Fatalf("NewEngine(%+v) = %v, want ErrInvalid naming %s", c.cfg, err, c.name)
		}
	}
	e := newEngine(t, aio.Config{MsgBuffers: 32768, MsgBufferSize: 16})
	_ = e
}

// RecvMsg → SetMsg → Send forwards the received bytes.
func TestRecvMsgSetMsgSend(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, y, _, _ := socketpair(t)
		p, q, _, _ := socketpair(t)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		write(t, y, "forward me")
		m, _, err := recvMsg(t, a, x)
		if err != nil {
			t.Fatal(err)
		}
		a.SetMsg(m)
		a.Send(p)
		a.Wait()
		if err := a.Result(); err != nil || a.Count() != len("forward me") {
			t.Fatalf("Send of the message = %d, %v", a.Count(), err)
		}
		if a.Msg() != m {
			t.Fatal("Send detached the message")
		}
		m.Free()
		a.SetMsg(nil)
		buf := make([]byte, 64)
		n, _ := unix.Read(q, buf)
		if string(buf[:n]) != "forward me" {
			t.Fatalf("forwarded %q", buf[:n])
		}
	})
}

// An attached message wins over the IOV however many buffers the IOV
// holds (found in review: with two or more buffers Send sent the IOV).
func TestSetMsgWinsOverVectorIOV(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, y, _, _ := socketpair(t)
		p, q, _, _ := socketpair(t)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		write(t, y, "the message")
		m, _, err := recvMsg(t, a, x)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Free()
		if err := a.SetIOV([]byte("iov one "), []byte("iov two")); err != nil {
			t.Fatal(err)
		}
		a.SetMsg(m)
		a.Send(p)
		a.Wait()
		if err := a.Result(); err != nil || a.Count() != len("the message") {
			t.Fatalf("Send = %d, %v; want the message's %d bytes", a.Count(), err, len("the message"))
		}
		buf := make([]byte, 64)
		n, _ := unix.Read(q, buf)
		if string(buf[:n]) != "the message" {
			t.Fatalf("sent %q, want the attached message", buf[:n])
		}
	})
}

// Timeouts, expiries, Stop and Close end a waiting RecvMsg as they end a
// Recv; a message arriving afterwards is kept for the next RecvMsg.
func TestRecvMsgEndsLikeRecv(t *testing.T) {
	bothMsgModes(t, func(t *testing.T) {
		e, err := aio.NewEngine(aio.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		x, y, _, _ := seqpacket(t)
		a := e.NewAio(nil)
		a.SetTimeout(20 * time.Millisecond)
		if _, _, err := recvMsg(t, a, x); err != aio.ErrTimedOut {
			t.Fatalf("RecvMsg with nothing to receive and a 20ms timeout = %v", err)
		}
		a.SetTimeout(waitLimit)
		a.SetExpire(time.Now().Add(-time.Second))
		if _, _, err := recvMsg(t, a, x); err != aio.ErrTimedOut {
			t.Fatalf("RecvMsg with a past expiry = %v", err)
		}
		write(t, y, "kept")
		m, _, err := recvMsg(t, a, x)
		if err != nil || string(m.Bytes()) != "kept" {
			t.Fatalf("RecvMsg after the timeout = %v, %v", m, err)
		}
		m.Free()
		startRecvMsgParked(t, e, a, x)
		a.Stop()
		if a.Result() != aio.ErrStopped {
			t.Fatalf("RecvMsg at Stop = %v", a.Result())
		}
		b := e.NewAio(nil)
		b.SetTimeout(waitLimit)
		startRecvMsgParked(t, e, b, x)
		e.Close()
		b.Wait()
		if b.Result() != aio.ErrClosed {
			t.Fatalf("RecvMsg at Close = %v", b.Result())
		}
		if _, _, err := recvMsg(t, b, x); err != aio.ErrClosed {
			t.Fatalf("RecvMsg after Close = %v", err)
		}
	})
}

// Two Aios waiting on one descriptor are served in the order they
// started, and an Aio of another ring, restarting RecvMsg from its
// callback, gets the descriptor's messages in order.
func TestRecvMsgWaitersAndRings(t *testing.T) {
	e := newEngine(t, aio.Config{Rings: 2, Callbacks: 4})
	x, y, _, _ := seqpacket(t)
	first, second := e.NewAio(nil), e.NewAio(nil)
	defer first.Free()
	defer second.Free()
	first.SetTimeout(waitLimit)
	second.SetTimeout(waitLimit)
	first.RecvMsg(x)
	second.RecvMsg(x)
	write(t, y, "one")
	write(t, y, "two")
	first.Wait()
	second.Wait()
	if string(first.Msg().Bytes()) != "one" || string(second.Msg().Bytes()) != "two" {
		t.Fatalf("waiters got %q and %q, want one and two", first.Msg().Bytes(), second.Msg().Bytes())
	}
	first.Msg().Free()
	second.Msg().Free()

	const n = 200
	got := make(chan string, n)
	// NewAio binds Aios to rings round robin: first and this one are on
	// the descriptor's ring, the next (c) on the other.
	skip := e.NewAio(nil)
	defer skip.Free()
	c := e.NewAio(func(a *aio.Aio) {
		if a.Result() != nil || a.Msg() == nil {
			got <- fmt.Sprintf("error %v", a.Result())
			return
		}
		got <- string(a.Msg().Bytes())
		a.Msg().Free()
		a.RecvMsg(x)
	})
	c.SetTimeout(aio.Infinite)
	c.RecvMsg(x)
	for i := 0; i < n; i++ {
		write(t, y, fmt.Sprintf("m%d", i))
	}
	for i := 0; i < n; i++ {
		select {
		case s := <-got:
			if want := fmt.Sprintf("m%d", i); s != want {
				t.Fatalf("message %d = %q, want %q", i, s, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("message %d never arrived", i)
		}
	}
	c.Stop()
	c.Free()
}
