//go:build linux

package aio_test

// Audit of the stream and datagram operations: edge cases of RecvFrom,
// SendTo, From, Splice, Shutdown, Accept, Connect and RecvMsg that the
// other tests do not cover.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// A datagram longer than the IOV: an empty IOV stores nothing (Count 0)
// and a 1-byte IOV one byte, as net.UDPConn.ReadFrom does; the datagram
// is consumed either way and From is its source.
func TestAuditNetRecvFromSmallIOV(t *testing.T) {
	e := newEngine(t, aio.Config{})
	for _, tc := range dgramCases {
		t.Run(tc.name, func(t *testing.T) {
			fa, saA := dgramSocket(t, tc.family, tc.abstract)
			fb, saB := dgramSocket(t, tc.family, tc.abstract)
			long := bytes.Repeat([]byte("x"), 100)
			for i := 0; i < 4; i++ {
				if err := unix.Sendto(fa, long, 0, saB); err != nil {
					t.Fatal(err)
				}
			}
			if err := unix.Sendto(fa, []byte("end"), 0, saB); err != nil {
				t.Fatal(err)
			}
			a := e.NewAio(nil)
			defer a.Free()
			a.SetTimeout(waitLimit)
			for i, iov := range [][][]byte{nil, {}, {nil}, {make([]byte, 1)}} {
				a.SetIOV(iov...)
				a.RecvFrom(fb)
				a.Wait()
				want := 0
				if i == 3 {
					want = 1
				}
				if err, n := a.Result(), a.Count(); err != nil || n != want {
					t.Fatalf("RecvFrom into IOV %d: %v %d, want nil %d", i, err, n, want)
				}
				if f := a.From(); !sameAddr(f, saA) {
					t.Fatalf("RecvFrom into IOV %d: From %s, want %s", i, addrString(f), addrString(saA))
				}
			}
			buf := make([]byte, 8)
			a.SetIOV(buf)
			a.RecvFrom(fb)
			a.Wait()
			if err, n := a.Result(), a.Count(); err != nil || string(buf[:n]) != "end" {
				t.Fatalf("last RecvFrom: %v %q, want the last datagram", err, buf[:n])
			}
		})
	}
}

// SendTo errors: an IPv6 address from an IPv4 socket, and no address on
// an unconnected socket, are the kernel's errnos (not a crash); From after
// them, and after a Recv, is nil.
func TestAuditNetSendToErrors(t *testing.T) {
	e := newEngine(t, aio.Config{})
	fa, _ := dgramSocket(t, unix.AF_INET, false)
	fb, saB := dgramSocket(t, unix.AF_INET, false)
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	a.SetIOV([]byte("hello"))
	a.SendTo(fa, &unix.SockaddrInet6{Port: 9, Addr: [16]byte{15: 1}})
	a.Wait()
	if err := a.Result(); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("SendTo(IPv6 address) from an IPv4 socket = %v, want EAFNOSUPPORT", err)
	}
	a.SendTo(fa, nil)
	a.Wait()
	if err := a.Result(); !errors.Is(err, syscall.EDESTADDRREQ) {
		t.Fatalf("SendTo(nil) on an unconnected socket = %v, want EDESTADDRREQ", err)
	}
	if a.From() != nil {
		t.Fatal("From after a failed SendTo is not nil")
	}
	a.SendTo(fa, saB)
	a.Wait()
	if a.Result() != nil || a.Count() != 5 {
		t.Fatalf("SendTo: %v %d", a.Result(), a.Count())
	}
	// A Recv of the datagram: no source.
	buf := make([]byte, 16)
	a.SetIOV(buf)
	a.Recv(fb)
	a.Wait()
	if a.Result() != nil || a.Count() != 5 {
		t.Fatalf("Recv: %v %d", a.Result(), a.Count())
	}
	if f := a.From(); f != nil {
		t.Fatalf("From after a Recv = %s, want nil", addrString(f))
	}
}

// A unix datagram socket that sends unbound gets no name; one that
// autobinds (bind with an empty name) gets an abstract one, which From
// reports as getsockname does.
func TestAuditNetFromAutobind(t *testing.T) {
	e := newEngine(t, aio.Config{})
	ux, saUX := dgramSocket(t, unix.AF_UNIX, false)
	ab, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|tSockCloexec, 0)
	if err != nil {
		t.Fatal(err)
	}
	own(t, ab)
	// Autobind: an address of the family alone.
	if _, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(ab), uintptr(unsafe.Pointer(&[2]byte{unix.AF_UNIX, 0})), 2); e != 0 {
		t.Fatalf("autobind: %v", e)
	}
	name, err := unix.Getsockname(ab)
	if err != nil {
		t.Fatal(err)
	}
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	a.SetIOV([]byte("auto"))
	a.SendTo(ab, saUX)
	a.Wait()
	if a.Result() != nil {
		t.Fatal(a.Result())
	}
	a.SetIOV(make([]byte, 8))
	a.RecvFrom(ux)
	a.Wait()
	if a.Result() != nil || a.Count() != 4 {
		t.Fatalf("RecvFrom: %v %d", a.Result(), a.Count())
	}
	if f := a.From(); !sameAddr(f, name) {
		t.Fatalf("From of an autobound sender = %s, want %s", addrString(f), addrString(name))
	}
	// Reply to it.
	a.SetIOV([]byte("back"))
	a.SendTo(ux, a.From())
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("reply to an autobound sender: %v", a.Result())
	}
	b := make([]byte, 8)
	if n, _, err := unix.Recvfrom(ab, b, unix.MSG_DONTWAIT); err != nil || string(b[:n]) != "back" {
		t.Fatalf("autobound socket read %q, %v", b[:n], err)
	}
}

// Connect to a closed port: ECONNREFUSED as syscall.ECONNREFUSED.
func TestAuditNetConnectRefused(t *testing.T) {
	e := newEngine(t, aio.Config{})
	l, sa, closeL := listener(t, 1)
	_ = l
	closeL()
	fd, _ := tcpSocket(t)
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	a.Connect(fd, sa)
	a.Wait()
	if err := a.Result(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Connect to a closed port = %v, want ECONNREFUSED", err)
	}
}

// RecvMsg with timeouts of 1ns, zero timeouts and Cancels, on two Aios
// at once, while a sender floods a datagram socket (below its buffer's
// capacity) and a small pool runs dry: every datagram sent is received
// exactly once, either by those RecvMsgs or by the drain that follows
// them, and every pool buffer comes back.
func TestAuditNetRecvMsgTimeoutFlood(t *testing.T) {
	const nbuf = 16
	eachMsgMode(t, aio.Config{MsgBuffers: nbuf}, func(t *testing.T, e *aio.Engine) {
		fa, _ := dgramSocket(t, unix.AF_INET, false)
		fb, saB := dgramSocket(t, unix.AF_INET, false)
		if err := unix.SetsockoptInt(fb, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			t.Skipf("SO_RCVBUFFORCE: %v", err)
		}
		const n = 10000
		var mu sync.Mutex
		seen := make([]int, n)
		bad := 0
		note := func(b []byte) {
			mu.Lock()
			defer mu.Unlock()
			if len(b) != 8 {
				bad++
				return
			}
			i := binary.LittleEndian.Uint64(b)
			if i >= n {
				bad++
				return
			}
			seen[i]++
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		aios := make([]*aio.Aio, 2)
		timeouts := []time.Duration{1, 0, time.Microsecond, 50 * time.Microsecond}
		for k := range aios {
			a := e.NewAio(nil)
			aios[k] = a
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				r := rand.New(rand.NewSource(int64(k)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					a.SetTimeout(timeouts[r.Intn(len(timeouts))])
					a.RecvMsg(fb)
					a.Wait()
					switch err := a.Result(); {
					case err == nil:
						m := a.Msg()
						if m == nil {
							t.Errorf("RecvMsg: nil Msg without an error")
							return
						}
						note(m.Bytes())
						m.Free()
					case err == aio.ErrTimedOut || err == aio.ErrCanceled:
						if a.Msg() != nil {
							t.Errorf("RecvMsg ended with %v but has a Msg", err)
						}
					default:
						t.Errorf("RecvMsg: %v", err)
						return
					}
				}
			}(k)
		}
		wg.Add(1)
		go func() { // cancels at random
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				aios[rand.Intn(2)].Cancel()
				time.Sleep(time.Duration(rand.Intn(20)) * time.Microsecond)
			}
		}()
		var b [8]byte
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint64(b[:], uint64(i))
			if err := unix.Sendto(fa, b[:], 0, saB); err != nil {
				t.Fatal(err)
			}
			if i%500 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond)
		close(stop)
		wg.Wait()
		// Drain: what the engine queued, then what the kernel holds.
		a := aios[0]
		a.SetTimeout(100 * time.Millisecond)
		for {
			a.RecvMsg(fb)
			a.Wait()
			if a.Result() != nil {
				break
			}
			note(a.Msg().Bytes())
			a.Msg().Free()
		}
		// Every pool buffer came back: as many Msgs as the pool holds
		// can be live at once.
		var live []*aio.Msg
		for i := 0; i < nbuf; i++ {
			unix.Sendto(fa, []byte("pool"), 0, saB)
		}
		a.SetTimeout(2 * time.Second)
		for i := 0; i < nbuf; i++ {
			a.RecvMsg(fb)
			a.Wait()
			if a.Result() != nil {
				t.Fatalf("RecvMsg %d of %d with the others live: %v (pool buffers lost)", i+1, nbuf, a.Result())
			}
			live = append(live, a.Msg())
		}
		for _, m := range live {
			m.Free()
		}
		for _, a := range aios {
			a.Free()
		}
		drainDatagrams(fb, b[:], note)
		checkEachOnce(t, seen, bad)
	})
}

// Splice's edge cases, with the socket in blocking and non-blocking mode:
// an offset on a pipe is the kernel's ESPIPE, and a pipe end in the wrong
// direction its EBADF, at once (the portable backend waited for
// readiness first, with a blocking socket end: until the deadline); from a pipe whose writer
// has closed, 0 (end of input); into a pipe whose reader has closed,
// EPIPE; from a socket whose peer shut down, 0; between two pipes, the
// bytes; each with exactly one callback.
func TestAuditNetSpliceEdges(t *testing.T) {
	spliceModes(t, func(t *testing.T, nonblock bool) {
		e := newEngine(t, aio.Config{})
		aio.NeedSplice(t, e)
		rec := newRecorder()
		a := e.NewAio(rec.cb)
		defer a.Free()
		a.SetTimeout(2 * time.Second) // a wrong wait ends as ErrTimedOut
		snd, rcv := tcpPair(t, 0, 0)
		setNonblock(t, nonblock, snd, rcv)
		unix.Write(snd, []byte("sock"))
		calls := 0
		run := func(name string, in int, inOff int64, out int, outOff int64, n int) (error, int) {
			t.Helper()
			a.Splice(in, inOff, out, outOff, n)
			calls++
			c := rec.next(t)
			return c.err, c.count
		}

		r, w, _, _ := pipe(t)
		setNonblock(t, nonblock, r, w)
		if err, _ := run("in offset", r, 0, snd, -1, 10); !errors.Is(err, syscall.ESPIPE) {
			t.Errorf("splice with an offset on the input pipe = %v, want ESPIPE", err)
		}
		if err, _ := run("out offset", rcv, -1, w, 5, 10); !errors.Is(err, syscall.ESPIPE) {
			t.Errorf("splice with an offset on the output pipe = %v, want ESPIPE", err)
		}
		// A pipe's end in the wrong direction: the kernel's EBADF.
		if err, _ := run("write end in", w, -1, snd, -1, 10); !errors.Is(err, syscall.EBADF) {
			t.Errorf("splice from a pipe's write end = %v, want EBADF", err)
		}
		if err, _ := run("read end out", rcv, -1, r, -1, 10); !errors.Is(err, syscall.EBADF) {
			t.Errorf("splice into a pipe's read end = %v, want EBADF", err)
		}
		// Pipe to pipe.
		r2, w2, _, _ := pipe(t)
		setNonblock(t, nonblock, r2, w2)
		unix.Write(w, []byte("pipe2pipe"))
		if err, n := run("pipe to pipe", r, -1, w2, -1, 100); err != nil || n != 9 {
			t.Errorf("pipe to pipe: %v %d, want nil 9", err, n)
		}
		// Socket into the pipe: what was sent.
		if err, n := run("socket to pipe", rcv, -1, w, -1, 100); err != nil || n != 4 {
			t.Errorf("socket to pipe: %v %d, want nil 4", err, n)
		}
		// The peer shuts down: end of input.
		unix.Shutdown(snd, unix.SHUT_WR)
		if err, n := run("socket at end", rcv, -1, w, -1, 100); err != nil || n != 0 {
			t.Errorf("socket at end of stream: %v %d, want nil 0", err, n)
		}

		// A pipe whose writer has closed: 0 once it is empty.
		r3, w3, _, closeW3 := pipe(t)
		setNonblock(t, nonblock, r3)
		unix.Write(w3, []byte("abc"))
		closeW3()
		s2, p2 := tcpPair(t, 0, 0)
		setNonblock(t, nonblock, s2)
		if err, n := run("closed writer", r3, -1, s2, -1, 100); err != nil || n != 3 {
			t.Errorf("pipe with a closed writer: %v %d, want nil 3", err, n)
		}
		if err, n := run("closed writer, empty", r3, -1, s2, -1, 100); err != nil || n != 0 {
			t.Errorf("empty pipe with a closed writer: %v %d, want nil 0", err, n)
		}
		_ = p2

		// A pipe whose reader has closed: EPIPE (and no SIGPIPE death).
		_, w4, closeR4, _ := pipe(t)
		setNonblock(t, nonblock, w4)
		closeR4()
		unix.Write(p2, []byte("data"))
		if err, _ := run("closed reader", s2, -1, w4, -1, 100); !errors.Is(err, syscall.EPIPE) {
			// The socket must hold data for the splice to reach the pipe.
			t.Errorf("splice into a pipe without reader = %v, want EPIPE", err)
		}
		// A bad descriptor.
		if err, _ := run("bad fd", 1<<20, -1, w, -1, 10); !errors.Is(err, syscall.EBADF) {
			t.Errorf("splice from a bad descriptor = %v, want EBADF", err)
		}
		select {
		case c := <-rec.ch:
			t.Fatalf("an extra callback: %+v", c)
		case <-time.After(20 * time.Millisecond):
		}
		if got := int(rec.n.Load()); got != calls {
			t.Fatalf("%d callbacks for %d splices", got, calls)
		}
	})
}

// Shutdown as shutdown(2): SHUT_RD ends a Recv waiting on the socket with
// end of stream; an unconnected socket is ENOTCONN; shutting a listener
// down ends an Accept waiting on it with the kernel's error (EINVAL), not
// a hang; each with one callback.
func TestAuditNetShutdownWakes(t *testing.T) {
	e := newEngine(t, aio.Config{})
	aio.NeedShutdown(t, e)
	for _, nonblock := range []bool{false, true} {
		snd, rcv := tcpPair(t, 0, 0)
		setNonblock(t, nonblock, rcv)
		rec := newRecorder()
		r := e.NewAio(rec.cb)
		defer r.Free()
		r.SetTimeout(5 * time.Second)
		r.SetIOV(make([]byte, 16))
		r.Recv(rcv)
		time.Sleep(10 * time.Millisecond)
		s := e.NewAio(nil)
		defer s.Free()
		s.SetTimeout(waitLimit)
		s.Shutdown(rcv, unix.SHUT_RD)
		s.Wait()
		if s.Result() != nil {
			t.Fatalf("Shutdown(SHUT_RD): %v", s.Result())
		}
		if c := rec.next(t); c.err != nil || c.count != 0 {
			t.Fatalf("nonblock %v: Recv waiting at SHUT_RD: %v %d, want end of stream", nonblock, c.err, c.count)
		}
		_ = snd
	}
	fd, _ := tcpSocket(t)
	s := e.NewAio(nil)
	defer s.Free()
	s.SetTimeout(waitLimit)
	s.Shutdown(fd, unix.SHUT_WR)
	s.Wait()
	if !errors.Is(s.Result(), syscall.ENOTCONN) {
		t.Fatalf("Shutdown of an unconnected socket = %v, want ENOTCONN", s.Result())
	}

	for _, nonblock := range []bool{false, true} {
		l, _, _ := listener(t, 4)
		setNonblock(t, nonblock, l)
		rec := newRecorder()
		a := e.NewAio(rec.cb)
		a.SetTimeout(5 * time.Second)
		a.Accept(l)
		time.Sleep(10 * time.Millisecond)
		s.Shutdown(l, unix.SHUT_RDWR)
		s.Wait()
		if s.Result() != nil {
			t.Fatalf("Shutdown of a listener: %v", s.Result())
		}
		c := rec.next(t)
		if !errors.Is(c.err, syscall.EINVAL) {
			t.Errorf("nonblock %v: Accept waiting at the listener's shutdown = %v (fd %v), want EINVAL", nonblock, c.err, c.out0)
		}
		a.Free()
		if n := rec.n.Load(); n != 1 {
			t.Fatalf("%d callbacks, want 1", n)
		}
	}
}

// Accept racing with Engine.Close and connections arriving: every
// connection the engine accepted is the caller's (Output(0), once) or
// closed by the engine; nothing is left open afterwards, and each Accept
// has one callback.
func TestAuditNetAcceptCloseRace(t *testing.T) {
	l, sa, _ := listener(t, 128)
	base := openFDs(t)
	for i := 0; i < 40; i++ {
		e, err := aio.NewEngine(aio.Config{})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []int
		calls := 0
		done := make(chan struct{}, 64)
		var a *aio.Aio
		a = e.NewAio(func(a *aio.Aio) {
			mu.Lock()
			calls++
			if a.Result() == nil {
				got = append(got, a.Output(0).(int))
				mu.Unlock()
				a.Accept(l) // the next one
				return
			}
			mu.Unlock()
			done <- struct{}{}
		})
		a.SetTimeout(waitLimit)
		a.Accept(l)
		var peers []int
		for k := 0; k < i%5; k++ {
			p, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|tSockCloexec, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Connect(p, sa); err != nil {
				t.Fatal(err)
			}
			peers = append(peers, p)
		}
		if i%2 == 0 {
			time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
		}
		e.Close()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("no final callback after Close")
		}
		a.Free()
		mu.Lock()
		for _, fd := range got {
			unix.Close(fd)
		}
		mu.Unlock()
		// What the listener still holds, accepted by nobody.
		unix.SetNonblock(l, true)
		for {
			fd, _, err := unix.Accept(l)
			if err != nil {
				break
			}
			unix.Close(fd)
		}
		unix.SetNonblock(l, false)
		for _, p := range peers {
			unix.Close(p)
		}
	}
	if n := fdsBackTo(t, base, 2*time.Second); n != base {
		t.Fatalf("%d descriptors open after the loop, %d before", n, base)
	}
}

// Connect on a socket in non-blocking mode completes (nil), or fails with
// the kernel's errno (ECONNREFUSED for a closed port), instead of
// reporting EINPROGRESS; a zero timeout's
// Connect ends with nil or ErrTimedOut, and the socket is then usable.
func TestAuditNetConnectNonblocking(t *testing.T) {
	e := newEngine(t, aio.Config{})
	l, sa, _ := listener(t, 16)
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	for i := 0; i < 3; i++ {
		fd, _ := tcpSocket(t)
		setNonblock(t, true, fd)
		a.Connect(fd, sa)
		a.Wait()
		if a.Result() != nil {
			t.Fatalf("Connect of a non-blocking socket: %v", a.Result())
		}
	}
	_, dead, closeDead := listener(t, 1)
	closeDead()
	fd, _ := tcpSocket(t)
	setNonblock(t, true, fd)
	a.Connect(fd, dead)
	a.Wait()
	if !errors.Is(a.Result(), syscall.ECONNREFUSED) {
		t.Fatalf("non-blocking Connect to a closed port = %v, want ECONNREFUSED", a.Result())
	}
	for _, nonblock := range []bool{false, true} {
		fd, _ := tcpSocket(t)
		setNonblock(t, nonblock, fd)
		a.SetTimeout(0)
		a.Connect(fd, sa)
		a.Wait()
		err := a.Result()
		if err != nil && err != aio.ErrTimedOut {
			t.Fatalf("nonblock %v: zero-timeout Connect = %v, want nil or ErrTimedOut", nonblock, err)
		}
		a.SetTimeout(waitLimit)
		if err == aio.ErrTimedOut {
			// It goes on in the kernel: the socket becomes writable.
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			unix.Poll(fds, 2000)
		}
		if v, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); v != 0 {
			t.Fatalf("nonblock %v: SO_ERROR %v after a zero-timeout Connect", nonblock, syscall.Errno(v))
		}
		a.SetIOV([]byte("hi"))
		a.Send(fd)
		a.Wait()
		if a.Result() != nil || a.Count() != 2 {
			t.Fatalf("nonblock %v: Send after a zero-timeout Connect (%v): %v %d", nonblock, err, a.Result(), a.Count())
		}
	}
	_ = l
}

// Several Aios RecvFrom one datagram socket (blocking and non-blocking)
// with short timeouts and Cancels while a sender floods it below its
// buffer's capacity: every datagram is received exactly once (by them or
// by the drain after them), with the right source, and no datagram is
// reported as timed out or cancelled.
func TestAuditNetRecvFromConcurrentTimeouts(t *testing.T) {
	for _, nonblock := range []bool{false, true} {
		t.Run(map[bool]string{false: "blocking", true: "nonblocking"}[nonblock], func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			fa, saA := dgramSocket(t, unix.AF_INET, false)
			fb, saB := dgramSocket(t, unix.AF_INET, false)
			setNonblock(t, nonblock, fb)
			if err := unix.SetsockoptInt(fb, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
				t.Skipf("SO_RCVBUFFORCE: %v", err)
			}
			const n = 5000
			var mu sync.Mutex
			seen := make([]int, n)
			bad := 0
			note := func(b []byte) {
				mu.Lock()
				defer mu.Unlock()
				if len(b) != 8 || binary.LittleEndian.Uint64(b) >= n {
					bad++
					return
				}
				seen[binary.LittleEndian.Uint64(b)]++
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			aios := make([]*aio.Aio, 3)
			timeouts := []time.Duration{1, 0, 50 * time.Microsecond, time.Millisecond}
			for k := range aios {
				a := e.NewAio(nil)
				aios[k] = a
				wg.Add(1)
				go func(k int) {
					defer wg.Done()
					r := rand.New(rand.NewSource(int64(k)))
					buf := make([]byte, 16)
					a.SetIOV(buf)
					for {
						select {
						case <-stop:
							return
						default:
						}
						a.SetTimeout(timeouts[r.Intn(len(timeouts))])
						a.RecvFrom(fb)
						a.Wait()
						switch err := a.Result(); {
						case err == nil:
							note(buf[:a.Count()])
							if f := a.From(); !sameAddr(f, saA) {
								t.Errorf("From = %s, want %s", addrString(f), addrString(saA))
								return
							}
						case err == aio.ErrTimedOut || err == aio.ErrCanceled:
							if a.Count() != 0 || a.From() != nil {
								t.Errorf("RecvFrom ended with %v, Count %d, From %v", err, a.Count(), a.From())
							}
						default:
							t.Errorf("RecvFrom: %v", err)
							return
						}
					}
				}(k)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					aios[rand.Intn(len(aios))].Cancel()
					time.Sleep(time.Duration(rand.Intn(50)) * time.Microsecond)
				}
			}()
			var b [8]byte
			for i := 0; i < n; i++ {
				binary.LittleEndian.PutUint64(b[:], uint64(i))
				if err := unix.Sendto(fa, b[:], 0, saB); err != nil {
					t.Fatal(err)
				}
				if i%200 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			for _, a := range aios {
				a.Free()
			}
			drainDatagrams(fb, b[:], note)
			checkEachOnce(t, seen, bad)
		})
	}
}

// A descriptor number closed with Engine.CloseFD and reused for a socket
// of the other type: the same Aio's next RecvMsg on it follows the new
// socket's semantics. A stream's end is Count 0 and Msg nil (not an empty
// message), and a datagram socket's messages carry their source. (The
// single-shot RecvMsg remembered the type of the last descriptor number
// it received on, whatever CloseFD did.)
func TestAuditNetRecvMsgReusedNumber(t *testing.T) {
	eachMsgMode(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(2 * time.Second)

		// Datagram first, then a stream on the same number.
		fa, _ := dgramSocket(t, unix.AF_INET, false)
		fb, saB := dgramSocket(t, unix.AF_INET, false)
		unix.Sendto(fa, []byte("dgram"), 0, saB)
		if b, from, ok := recvMsgOnce(t, a, fb); !ok || string(b) != "dgram" || from == nil {
			t.Fatalf("RecvMsg on the datagram socket: %q %v %v", b, from, ok)
		}
		num := fb
		if err := e.CloseFD(num); err != nil {
			t.Fatal(err)
		}
		x, y, _, closeY := socketpair(t)
		if x != num { // the lowest free number may be num itself
			if err := unix.Dup3(x, num, unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
		}
		write(t, y, "stream")
		closeY()
		if b, _, ok := recvMsgOnce(t, a, num); !ok || string(b) != "stream" {
			t.Fatalf("RecvMsg on the stream: %q %v", b, ok)
		}
		if b, _, ok := recvMsgOnce(t, a, num); ok {
			t.Errorf("RecvMsg at the stream's end: a Msg of %q, want Count 0 and Msg nil", b)
		}
		if err := e.CloseFD(num); err != nil {
			t.Fatal(err)
		}

		// A stream first, then a datagram socket on the same number.
		p, q, _, _ := socketpair(t)
		write(t, p, "r")
		if b, _, ok := recvMsgOnce(t, a, q); !ok || string(b) != "r" {
			t.Fatalf("RecvMsg on the stream: %q %v", b, ok)
		}
		write(t, q, "s")
		if b, _, ok := recvMsgOnce(t, a, p); !ok || string(b) != "s" {
			t.Fatalf("RecvMsg on the stream: %q %v", b, ok)
		}
		num = p
		if err := e.CloseFD(num); err != nil {
			t.Fatal(err)
		}
		fc, saC := dgramSocket(t, unix.AF_INET, false)
		if fc != num { // the lowest free number may be num itself
			if err := unix.Dup3(fc, num, unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
		}
		fd, saD := dgramSocket(t, unix.AF_INET, false)
		_ = saC
		unix.Sendto(fd, []byte("d"), 0, saC)
		unix.Sendto(fd, nil, 0, saC)
		if b, from, ok := recvMsgOnce(t, a, num); !ok || string(b) != "d" || !sameAddr(from, saD) {
			t.Errorf("RecvMsg of a datagram: %q from %s, %v; want \"d\" from %s", b, addrString(from), ok, addrString(saD))
		}
		if b, from, ok := recvMsgOnce(t, a, num); !ok || len(b) != 0 || !sameAddr(from, saD) {
			t.Errorf("RecvMsg of an empty datagram: %q from %s, %v; want an empty Msg from %s", b, addrString(from), ok, addrString(saD))
		}
		e.CloseFD(num)
	})
}

// A Msg received before Engine.Close stays readable until its Free after
// the Close (the pool's memory lives while a Msg does), including a
// datagram's; a second Free then still panics.
func TestAuditNetMsgOutlivesClose(t *testing.T) {
	eachMsgMode(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		fa, _ := dgramSocket(t, unix.AF_INET, false)
		fb, saB := dgramSocket(t, unix.AF_INET, false)
		x, y, _, _ := socketpair(t)
		a := e.NewAio(nil)
		a.SetTimeout(waitLimit)
		unix.Sendto(fa, []byte("datagram"), 0, saB)
		write(t, y, "stream")
		a.RecvMsg(fb)
		a.Wait()
		md := a.Msg()
		a.RecvMsg(x)
		a.Wait()
		ms := a.Msg()
		if md == nil || ms == nil {
			t.Fatalf("RecvMsg: %v", a.Result())
		}
		a.Free()
		e.Close()
		runtime.GC()
		if string(md.Bytes()) != "datagram" || string(ms.Bytes()) != "stream" {
			t.Fatalf("after Close: %q %q", md.Bytes(), ms.Bytes())
		}
		md.Free()
		ms.Free()
		defer func() {
			if recover() == nil {
				t.Fatal("a second Free after Close did not panic")
			}
		}()
		md.Free()
	})
}

// Many Aios RecvFrom one blocking datagram socket, each datagram waking
// them all (on io_uring the ones woken for nothing too often go to io-wq
// to block there): every datagram is received once, and Engine.Close then
// ends every receive still waiting, one callback each, without a hang.
func TestAuditNetRecvFromManyWaitersClose(t *testing.T) {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fa, _ := dgramSocket(t, unix.AF_INET, false)
	fb, saB := dgramSocket(t, unix.AF_INET, false)
	unix.SetsockoptInt(fb, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	const waiters, n = 6, 1500
	var mu sync.Mutex
	got := 0
	ended := make(chan error, waiters)
	calls := make([]int, waiters)
	aios := make([]*aio.Aio, waiters)
	for k := range aios {
		k := k
		buf := make([]byte, 16)
		aios[k] = e.NewAio(func(a *aio.Aio) {
			mu.Lock()
			calls[k]++
			mu.Unlock()
			if err := a.Result(); err != nil {
				ended <- err
				return
			}
			mu.Lock()
			got++
			mu.Unlock()
			a.RecvFrom(fb)
		})
		aios[k].SetIOV(buf)
		aios[k].RecvFrom(fb)
	}
	for i := 0; i < n; i++ {
		unix.Sendto(fa, []byte("x"), 0, saB)
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		g := got
		mu.Unlock()
		if g == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("Engine.Close hangs with receives waiting")
	}
	for k := 0; k < waiters; k++ {
		select {
		case err := <-ended:
			if err != aio.ErrClosed {
				t.Errorf("a waiting RecvFrom ended with %v, want ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("a RecvFrom never ended")
		}
	}
	for _, a := range aios {
		a.Free()
	}
	b := make([]byte, 16)
	left := 0
	for {
		if _, _, err := unix.Recvfrom(fb, b, unix.MSG_DONTWAIT); err != nil {
			break
		}
		left++
	}
	mu.Lock()
	defer mu.Unlock()
	if got+left != n {
		t.Fatalf("%d datagrams received and %d left of %d sent", got, left, n)
	}
	if got != n {
		t.Errorf("%d of %d datagrams received by the Aios in 5s", got, n)
	}
	total := 0
	for _, c := range calls {
		total += c
	}
	if total != n+waiters {
		t.Fatalf("%d callbacks, want %d", total, n+waiters)
	}
}

// A Splice from a socket that was non-blocking for the Aio's earlier
// Splices and is now in blocking mode (its flags changed, or its number
// closed with CloseFD and reused by a blocking socket) waits as a
// blocking socket's Splice does: the start returns at once, and the
// timeout ends it. (On io_uring the Aio remembered the ends' kinds by
// number for 256 splices: the starter made a splice(2) on the blocking
// socket, which blocked inside Splice, beyond the timeout's reach.)
func TestAuditNetSpliceEndChangesMode(t *testing.T) {
	for _, how := range []string{"flags", "reuse", "pipe-reuse"} {
		t.Run(how, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			aio.NeedSplice(t, e)
			a := e.NewAio(nil)
			defer a.Free()
			a.SetTimeout(waitLimit)
			snd, rcv := tcpPair(t, 0, 0)
			setNonblock(t, true, rcv)
			_, w, _, _ := pipe(t)
			write(t, snd, "abc")
			if how == "pipe-reuse" {
				// The input is a pipe first, its number then a socket's.
				var pw int
				rcv, pw, _, _ = pipe(t)
				write(t, pw, "abc")
			}
			a.Splice(rcv, -1, w, -1, 100)
			a.Wait()
			if a.Result() != nil || a.Count() != 3 {
				t.Fatalf("first splice: %v %d", a.Result(), a.Count())
			}
			peer := snd
			switch how {
			case "flags":
				setNonblock(t, false, rcv)
			case "reuse", "pipe-reuse":
				if err := e.CloseFD(rcv); err != nil {
					t.Fatal(err)
				}
				s2, r2 := tcpPair(t, 0, 0) // blocking
				if r2 != rcv {
					if err := unix.Dup3(r2, rcv, unix.O_CLOEXEC); err != nil {
						t.Fatal(err)
					}
				}
				peer = s2
			}
			a.SetTimeout(300 * time.Millisecond)
			started := make(chan struct{})
			go func() {
				a.Splice(rcv, -1, w, -1, 100)
				close(started)
			}()
			select {
			case <-started:
			case <-time.After(2 * time.Second):
				write(t, peer, "unblock") // let the stuck call return
				<-started
				a.Wait()
				t.Fatalf("Splice's start blocked on a quiet blocking socket (then %v %d)", a.Result(), a.Count())
			}
			a.Wait()
			if a.Result() != aio.ErrTimedOut {
				t.Fatalf("Splice from a quiet blocking socket: %v %d, want ErrTimedOut", a.Result(), a.Count())
			}
		})
	}
}

// A dual-stack IPv6 datagram socket: a datagram from an IPv4 sender has
// its IPv4-mapped source in From, a reply to that From reaches the
// sender, and SendTo an IPv4 address from the IPv6 socket works.
func TestAuditNetDualStack(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		s6, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|tSockCloexec, 0)
		if err != nil {
			t.Skipf("no IPv6: %v", err)
		}
		own(t, s6)
		unix.SetsockoptInt(s6, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		if err := unix.Bind(s6, &unix.SockaddrInet6{}); err != nil {
			t.Skipf("bind [::]: %v", err)
		}
		sa6, _ := unix.Getsockname(s6)
		port := sa6.(*unix.SockaddrInet6).Port
		s4, sa4 := dgramSocket(t, unix.AF_INET, false)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(waitLimit)
		if err := unix.Sendto(s4, []byte("v4"), 0, &unix.SockaddrInet4{Port: port, Addr: loopback}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		a.SetIOV(buf)
		a.RecvFrom(s6)
		a.Wait()
		if a.Result() != nil || string(buf[:a.Count()]) != "v4" {
			t.Fatalf("RecvFrom: %v %q", a.Result(), buf[:a.Count()])
		}
		f, ok := a.From().(*unix.SockaddrInet6)
		want := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
		if !ok || f.Addr != want || f.Port != sa4.(*unix.SockaddrInet4).Port {
			t.Fatalf("From = %s, want [::ffff:127.0.0.1]:%d", addrString(a.From()), sa4.(*unix.SockaddrInet4).Port)
		}
		a.SetIOV([]byte("re"))
		a.SendTo(s6, f)
		a.Wait()
		if a.Result() != nil {
			t.Fatalf("reply to the mapped address: %v", a.Result())
		}
		a.SetIOV([]byte("v4addr"))
		a.SendTo(s6, sa4)
		a.Wait()
		if a.Result() != nil {
			t.Fatalf("SendTo an IPv4 address from a dual-stack socket: %v", a.Result())
		}
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		unix.SetsockoptTimeval(s4, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		for _, want := range []string{"re", "v4addr"} {
			n, _, err := unix.Recvfrom(s4, buf, 0)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("IPv4 sender read %q, %v; want %q", buf[:n], err, want)
			}
		}
	})
}

// A SendTo that waits for room (a unix datagram receiver whose queue is
// full) ends once with ErrTimedOut at its timeout, ErrCanceled on Cancel
// and ErrStopped on Stop, having sent nothing; one waiting when the
// receiver drains completes, its datagram sent once, whole, and it waits
// without spinning. Seen failing: through io_uring the datagram that
// waited arrives empty and the SendTo reports nil with Count 0 (the
// kernel's first non-blocking try consumes the request's iterator before
// it refuses with EAGAIN, and the ring's retries send what is left:
// nothing); on the portable backend the wait spins (epoll reports an
// unconnected unix datagram socket writable while its peer is full).
func TestAuditNetSendToWaitsForRoom(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *aio.Engine) {
		rx, saRx := dgramSocket(t, unix.AF_UNIX, false)
		tx, _ := dgramSocket(t, unix.AF_UNIX, false)
		// Fill the receiver's queue.
		sent := 0
		for {
			if err := unix.Sendto(tx, []byte("fill"), unix.MSG_DONTWAIT, saRx); err != nil {
				if err != unix.EAGAIN {
					t.Fatal(err)
				}
				break
			}
			sent++
		}
		rec := newRecorder()
		a := e.NewAio(rec.cb)
		a.SetIOV([]byte("late"))
		a.SetTimeout(30 * time.Millisecond)
		a.SendTo(tx, saRx)
		if c := rec.next(t); c.err != aio.ErrTimedOut {
			t.Fatalf("SendTo to a full receiver with a timeout: %v %d", c.err, c.count)
		}
		a.SetTimeout(0)
		a.SendTo(tx, saRx)
		if c := rec.next(t); c.err != aio.ErrTimedOut {
			t.Fatalf("zero-timeout SendTo to a full receiver: %v %d", c.err, c.count)
		}
		a.SetTimeout(aio.Infinite)
		a.SendTo(tx, saRx)
		time.Sleep(10 * time.Millisecond)
		a.Cancel()
		if c := rec.next(t); c.err != aio.ErrCanceled {
			t.Fatalf("cancelled SendTo: %v %d", c.err, c.count)
		}
		b := e.NewAio(rec.cb)
		b.SetIOV([]byte("stop"))
		b.SendTo(tx, saRx)
		time.Sleep(10 * time.Millisecond)
		b.Stop()
		if c := rec.next(t); c.err != aio.ErrStopped {
			t.Fatalf("stopped SendTo: %v %d", c.err, c.count)
		}
		b.Free()
		// Now one that waits, and room made: on io_uring it waits
		// without spinning (well under a second of CPU in a
		// second); the portable backend's wait spins, since epoll
		// reports an unconnected unix datagram socket writable
		// while its peer is full (docs/design.md, Known limits).
		a.SetTimeout(waitLimit)
		a.SendTo(tx, saRx)
		cpu0 := processCPU()
		time.Sleep(time.Second)
		if cpu := processCPU() - cpu0; cpu > 500*time.Millisecond {
			if e.Backend() == aio.BackendIOURing {
				t.Errorf("%v of CPU while a SendTo waited for room for 1s: it spins", cpu)
			} else {
				t.Logf("%v of CPU while a SendTo waited for room for 1s (the portable backend's known spin)", cpu)
			}
		}
		buf := make([]byte, 8)
		got := map[string]int{}
		var c call
		for i := 0; i < sent+1; i++ {
			n, _, err := unix.Recvfrom(rx, buf, 0)
			if err != nil {
				t.Fatal(err)
			}
			got[string(buf[:n])]++
			if i == 0 {
				c = rec.next(t)
			}
		}
		if n, _, err := unix.Recvfrom(rx, buf, unix.MSG_DONTWAIT); err == nil {
			got[string(buf[:n])]++
		}
		// Either the datagram went whole and the SendTo says so,
		// or (io_uring on this kernel: the kernel sends an empty
		// datagram in its place) the SendTo says nothing of it was
		// sent, with an error matching EAGAIN. Never a success for
		// data the receiver did not get.
		switch {
		case c.err == nil && c.count == 4 && got["late"] == 1 && got[""] == 0:
		case errors.Is(c.err, syscall.EAGAIN) && c.count == 0 && got["late"] == 0 && got[""] == 1:
			t.Logf("the kernel sent an empty datagram in place of the waiting one; the SendTo said so: %v", c.err)
		default:
			t.Errorf("SendTo once there is room: %v, count %d; the receiver got %v", c.err, c.count, got)
		}
		if got["fill"] != sent {
			t.Errorf("receiver got %v, want %d fill", got, sent)
		}
		a.Free()
		if n := rec.n.Load(); n != 5 {
			t.Fatalf("%d callbacks, want 5", n)
		}
	})
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drainDatagrams hands note every datagram still queued on fd.
func drainDatagrams(fd int, b []byte, note func([]byte)) {
	for {
		k, _, err := unix.Recvfrom(fd, b, unix.MSG_DONTWAIT)
		if err != nil {
			return
		}
		note(b[:k])
	}
}

// checkEachOnce fails t unless every datagram numbered in seen (its index)
// was received exactly once, and none malformed (bad).
func checkEachOnce(t *testing.T, seen []int, bad int) {
	t.Helper()
	lost, dup := 0, 0
	for i, c := range seen {
		switch {
		case c == 0:
			if lost == 0 {
				t.Errorf("datagram %d lost", i)
			}
			lost++
		case c > 1:
			if dup == 0 {
				t.Errorf("datagram %d received %d times", i, c)
			}
			dup++
		}
	}
	if lost+dup+bad > 0 {
		t.Fatalf("%d datagrams lost, %d duplicated, %d malformed of %d", lost, dup, bad, len(seen))
	}
}
