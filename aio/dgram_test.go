package aio_test

// SendTo, RecvFrom and From: loopback UDP (IPv4, IPv6) and unix datagram
// round trips, truncation, a shared destination address, and the
// contract (timeouts, Cancel, Stop, Close) on a receive that waits.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// dgramSocket returns a datagram socket of family bound to a loopback
// address (a temp path for AF_UNIX; abstract when abstract is set) and
// that address as getsockname reports it.
func dgramSocket(t testing.TB, family int, abstract bool) (int, unix.Sockaddr) {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|tSockCloexec, 0)
	if err != nil {
		if family == unix.AF_INET6 {
			t.Skipf("no IPv6: %v", err)
		}
		t.Fatal(err)
	}
	own(t, fd)
	var sa unix.Sockaddr
	switch family {
	case unix.AF_INET:
		sa = &unix.SockaddrInet4{Addr: loopback}
	case unix.AF_INET6:
		sa = &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
	case unix.AF_UNIX:
		name := filepath.Join(t.TempDir(), "s")
		if abstract {
			name = fmt.Sprintf("@aioring-dgram-%d-%d", unix.Getpid(), fd)
		}
		sa = &unix.SockaddrUnix{Name: name}
	}
	if err := unix.Bind(fd, sa); err != nil {
		if family == unix.AF_INET6 {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, got
}

type dgramCase struct {
	name     string
	family   int
	abstract bool
}

var dgramCases = []dgramCase{
	{"udp4", unix.AF_INET, false},
	{"udp6", unix.AF_INET6, false},
	{"unixgram", unix.AF_UNIX, false},
	{"unixgram-abstract", unix.AF_UNIX, true},
}

// sameAddr compares two socket addresses by their exported fields.
func sameAddr(a, b unix.Sockaddr) bool {
	switch a := a.(type) {
	case *unix.SockaddrInet4:
		b, ok := b.(*unix.SockaddrInet4)
		return ok && a.Port == b.Port && a.Addr == b.Addr
	case *unix.SockaddrInet6:
		b, ok := b.(*unix.SockaddrInet6)
		return ok && a.Port == b.Port && a.Addr == b.Addr && a.ZoneId == b.ZoneId
	case *unix.SockaddrUnix:
		b, ok := b.(*unix.SockaddrUnix)
		return ok && a.Name == b.Name
	}
	return false
}

func addrString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprintf("%v:%d", sa.Addr, sa.Port)
	case *unix.SockaddrInet6:
		return fmt.Sprintf("[%v]:%d", sa.Addr, sa.Port)
	case *unix.SockaddrUnix:
		return fmt.Sprintf("unix %q", sa.Name)
	}
	return fmt.Sprintf("%#v", sa)
}

// A datagram goes from a to b with SendTo, comes back with From as the
// destination, and each receive reports the sender's address; a vector
// IOV receives one datagram across its buffers.
func TestDgramRoundTrip(t *testing.T) {
	e := newEngine(t, aio.Config{})
	for _, tc := range dgramCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.abstract && runtime.GOOS != "linux" {
				t.Skip("abstract unix socket names are Linux's")
			}
			fa, saA := dgramSocket(t, tc.family, tc.abstract)
			fb, saB := dgramSocket(t, tc.family, tc.abstract)
			snd, rcv := e.NewAio(nil), e.NewAio(nil)
			defer snd.Free()
			defer rcv.Free()
			snd.SetTimeout(waitLimit)
			rcv.SetTimeout(waitLimit)
			if rcv.From() != nil {
				t.Fatalf("From before any RecvFrom = %v, want nil", rcv.From())
			}

			msg := []byte("hello, datagram")
			snd.SetIOV(msg)
			snd.SendTo(fa, saB)
			snd.Wait()
			if err, n := snd.Result(), snd.Count(); err != nil || n != len(msg) {
				t.Fatalf("SendTo: %v, %d", err, n)
			}
			buf := make([]byte, 64)
			rcv.SetIOV(buf)
			rcv.RecvFrom(fb)
			rcv.Wait()
			if err, n := rcv.Result(), rcv.Count(); err != nil || n != len(msg) || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("RecvFrom: %v, %d %q", err, n, buf[:n])
			}
			from := rcv.From()
			if !sameAddr(from, saA) {
				t.Fatalf("From = %s, want %s", addrString(from), addrString(saA))
			}

			// Reply to From's value itself, into a two-buffer IOV.
			reply := []byte("0123456789abcdef")
			rcv.SetIOV(reply)
			rcv.SendTo(fb, from)
			rcv.Wait()
			if err := rcv.Result(); err != nil {
				t.Fatalf("SendTo(From()): %v", err)
			}
			if rcv.From() != nil {
				t.Fatal("From after a SendTo is not nil")
			}
			b1, b2 := make([]byte, 5), make([]byte, 32)
			snd.SetIOV(b1, b2)
			snd.RecvFrom(fa)
			snd.Wait()
			if err, n := snd.Result(), snd.Count(); err != nil || n != len(reply) ||
				!bytes.Equal(append(append([]byte{}, b1...), b2[:n-5]...), reply) {
				t.Fatalf("vector RecvFrom: %v, %d %q %q", err, n, b1, b2)
			}
			if !sameAddr(snd.From(), saB) {
				t.Fatalf("From = %s, want %s", addrString(snd.From()), addrString(saB))
			}
		})
	}
}

// SendTo with a nil address sends on a connected socket; an unsupported
// address type is ErrInvalid; a datagram from an unbound unix socket has
// no source (From nil).
func TestSendToConnectedAndInvalid(t *testing.T) {
	e := newEngine(t, aio.Config{})
	fa, _ := dgramSocket(t, unix.AF_INET, false)
	fb, saB := dgramSocket(t, unix.AF_INET, false)
	if err := unix.Connect(fa, saB); err != nil {
		t.Fatal(err)
	}
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	a.SetIOV([]byte("x"))
	a.SendTo(fa, nil)
	a.Wait()
	if err := a.Result(); err != nil || a.Count() != 1 {
		t.Fatalf("SendTo(nil) on a connected socket: %v %d", a.Result(), a.Count())
	}
	a.SendTo(fa, otherSockaddr)
	a.Wait()
	if err := a.Result(); err != aio.ErrInvalid {
		t.Fatalf("SendTo(another family) = %v, want ErrInvalid", err)
	}
	a.SendTo(fa, &unix.SockaddrInet4{Port: 70000})
	a.Wait()
	if err := a.Result(); err != aio.ErrInvalid {
		t.Fatalf("SendTo(port 70000) = %v, want ErrInvalid", err)
	}
	buf := make([]byte, 8)
	a.SetIOV(buf)
	a.RecvFrom(fb)
	a.Wait()
	if a.Result() != nil || a.Count() != 1 {
		t.Fatalf("RecvFrom: %v %d", a.Result(), a.Count())
	}

	// An unbound unix datagram socket sends without an address.
	ub, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|tSockCloexec, 0)
	if err != nil {
		t.Fatal(err)
	}
	own(t, ub)
	ux, saUX := dgramSocket(t, unix.AF_UNIX, false)
	a.SetIOV([]byte("anon"))
	a.SendTo(ub, saUX)
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("SendTo from an unbound unix socket: %v", a.Result())
	}
	a.SetIOV(buf)
	a.RecvFrom(ux)
	a.Wait()
	if a.Result() != nil || a.Count() != 4 {
		t.Fatalf("RecvFrom: %v %d", a.Result(), a.Count())
	}
	if f := a.From(); f != nil {
		t.Fatalf("From of an unnamed sender = %s, want nil", addrString(f))
	}
	// A RecvFrom on a socket that is not one: the kernel's errno, From nil.
	r, _, _, _ := pipe(t)
	a.RecvFrom(r)
	a.Wait()
	if !errors.Is(a.Result(), unix.ENOTSOCK) || a.From() != nil {
		t.Fatalf("RecvFrom(pipe) = %v, From %v; want ENOTSOCK, nil", a.Result(), a.From())
	}
}

// A datagram longer than the IOV is truncated as net.UDPConn.ReadFrom
// truncates it: Count is what was stored, no error, and the next
// datagram arrives whole.
func TestRecvFromTruncates(t *testing.T) {
	e := newEngine(t, aio.Config{})
	for _, tc := range dgramCases[:3] {
		t.Run(tc.name, func(t *testing.T) {
			fa, _ := dgramSocket(t, tc.family, false)
			fb, saB := dgramSocket(t, tc.family, false)
			long := bytes.Repeat([]byte("0123456789"), 100)
			if err := unix.Sendto(fa, long, 0, saB); err != nil {
				t.Fatal(err)
			}
			if err := unix.Sendto(fa, []byte("next"), 0, saB); err != nil {
				t.Fatal(err)
			}
			a := e.NewAio(nil)
			defer a.Free()
			a.SetTimeout(waitLimit)
			buf := make([]byte, 10)
			a.SetIOV(buf)
			a.RecvFrom(fb)
			a.Wait()
			if err, n := a.Result(), a.Count(); err != nil || n != 10 || string(buf) != "0123456789" {
				t.Fatalf("truncated RecvFrom: %v, %d %q", err, n, buf)
			}
			if a.From() == nil {
				t.Fatal("From nil after a truncated datagram")
			}
			a.RecvFrom(fb)
			a.Wait()
			if err, n := a.Result(), a.Count(); err != nil || n != 4 || string(buf[:4]) != "next" {
				t.Fatalf("next RecvFrom: %v, %d %q", err, n, buf[:n])
			}
		})
	}
}

// One destination value serves many concurrent SendTos: the engine only
// reads it (x/sys's encoder would write its private raw field, which
// reflect.DeepEqual and the race detector both see).
func TestSendToSharedAddress(t *testing.T) {
	e := newEngine(t, aio.Config{})
	fb, saB := dgramSocket(t, unix.AF_INET, false)
	if err := unix.SetsockoptInt(fb, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20); err != nil {
		t.Fatal(err)
	}
	shared := &unix.SockaddrInet4{Port: saB.(*unix.SockaddrInet4).Port, Addr: loopback}
	before := *shared
	const senders, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	ports := make(map[int]bool)
	for i := 0; i < senders; i++ {
		fa, saA := dgramSocket(t, unix.AF_INET, false)
		ports[saA.(*unix.SockaddrInet4).Port] = true
		wg.Add(1)
		left := each
		msg := []byte{byte(i)}
		var a *aio.Aio
		a = e.NewAio(func(a *aio.Aio) {
			if err := a.Result(); err != nil {
				errs <- err
			}
			if left--; left == 0 {
				wg.Done()
				return
			}
			a.SendTo(fa, shared)
		})
		defer a.Free()
		a.SetTimeout(waitLimit)
		a.SetIOV(msg)
		a.SendTo(fa, shared)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("SendTo: %v", err)
	}
	if !reflect.DeepEqual(before, *shared) {
		t.Fatalf("the shared address was written: %#v, was %#v", *shared, before)
	}
	r := e.NewAio(nil)
	defer r.Free()
	r.SetTimeout(waitLimit)
	r.SetIOV(make([]byte, 4))
	for i := 0; i < senders*each; i++ {
		r.RecvFrom(fb)
		r.Wait()
		if r.Result() != nil || r.Count() != 1 {
			t.Fatalf("datagram %d: %v %d", i, r.Result(), r.Count())
		}
		if p := r.From().(*unix.SockaddrInet4).Port; !ports[p] {
			t.Fatalf("datagram %d from unknown port %d", i, p)
		}
	}
}

// A RecvFrom with nothing to receive ends with ErrTimedOut at its
// timeout (relative, zero, absolute), ErrCanceled on Cancel, ErrStopped
// on Stop and ErrClosed when the engine closes; From is nil after each.
func TestRecvFromContract(t *testing.T) {
	e := newEngine(t, aio.Config{})
	fb, _ := dgramSocket(t, unix.AF_INET, false)
	rec := newRecorder()
	a := e.NewAio(rec.cb)
	defer a.Free()
	a.SetIOV(make([]byte, 16))

	a.SetTimeout(30 * time.Millisecond)
	start := time.Now()
	a.RecvFrom(fb)
	if c := rec.next(t); c.err != aio.ErrTimedOut || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("RecvFrom with a timeout: %v after %v", c.err, time.Since(start))
	}
	if a.From() != nil {
		t.Fatal("From after a timeout is not nil")
	}
	a.SetTimeout(0)
	a.RecvFrom(fb)
	if c := rec.next(t); c.err != aio.ErrTimedOut {
		t.Fatalf("RecvFrom with a zero timeout: %v", c.err)
	}
	a.SetTimeout(aio.Infinite)
	a.SetExpire(time.Now().Add(20 * time.Millisecond))
	a.RecvFrom(fb)
	if c := rec.next(t); c.err != aio.ErrTimedOut {
		t.Fatalf("RecvFrom with an expiry: %v", c.err)
	}
	a.RecvFrom(fb)
	time.Sleep(5 * time.Millisecond)
	a.Cancel()
	if c := rec.next(t); c.err != aio.ErrCanceled {
		t.Fatalf("cancelled RecvFrom: %v", c.err)
	}
	// SendTo with a zero timeout to a socket with room completes.
	fa, _ := dgramSocket(t, unix.AF_INET, false)
	sa, _ := unix.Getsockname(fb)
	a.SetTimeout(0)
	a.SendTo(fa, sa)
	if c := rec.next(t); c.err != nil || c.count != 16 {
		t.Fatalf("SendTo with a zero timeout: %v %d", c.err, c.count)
	}
	a.SetTimeout(aio.Infinite)
	a.RecvFrom(fb)
	if c := rec.next(t); c.err != nil || c.count != 16 {
		t.Fatalf("RecvFrom: %v %d", c.err, c.count)
	}

	s := e.NewAio(rec.cb)
	s.SetIOV(make([]byte, 16))
	s.RecvFrom(fb)
	time.Sleep(5 * time.Millisecond)
	s.Stop()
	if c := rec.next(t); c.err != aio.ErrStopped {
		t.Fatalf("stopped RecvFrom: %v", c.err)
	}
	s.RecvFrom(fb)
	if c := rec.next(t); c.err != aio.ErrStopped {
		t.Fatalf("RecvFrom after Stop: %v", c.err)
	}
	s.Free()

	e2 := newEngine(t, aio.Config{})
	rec2 := newRecorder()
	c := e2.NewAio(rec2.cb)
	c.SetIOV(make([]byte, 16))
	c.RecvFrom(fb)
	time.Sleep(5 * time.Millisecond)
	e2.Close()
	if got := rec2.next(t); got.err != aio.ErrClosed {
		t.Fatalf("RecvFrom at Close: %v", got.err)
	}
	c.SendTo(fb, sa)
	if got := rec2.next(t); got.err != aio.ErrClosed {
		t.Fatalf("SendTo after Close: %v", got.err)
	}
	if n := rec.n.Load() + rec2.n.Load(); n != 10 {
		t.Fatalf("%d callbacks, want 10 (exactly one per operation)", n)
	}
}
