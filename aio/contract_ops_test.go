package aio_test

// Contract rules of the operations themselves (/work/shared/API.md):
// "SetIOV", "SetInput/SetOutput", "Result" and "Errors", end of stream,
// Accept and Connect, offset -1.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Rule "SetIOV": more than MaxIOV buffers is ErrInvalid and changes
// nothing; MaxIOV buffers are accepted.
func TestSetIOVTooMany(t *testing.T) {
	e := newEngine(t, aio.Config{})
	x, y, _, _ := socketpair(t)
	a := e.NewAio(nil)
	keep := make([]byte, 4)
	if err := a.SetIOV(keep); err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, aio.MaxIOV+1)
	other := make([]byte, 4)
	for i := range bufs {
		bufs[i] = other
	}
	if err := a.SetIOV(bufs...); !errors.Is(err, aio.ErrInvalid) {
		t.Fatalf("SetIOV(%d buffers) = %v, want ErrInvalid", len(bufs), err)
	}
	write(t, y, "abcdefgh")
	a.Recv(x)
	a.Wait()
	if a.Result() != nil || a.Count() != 4 || string(keep) != "abcd" || string(other) != "\x00\x00\x00\x00" {
		t.Fatalf("after a rejected SetIOV: (%v, %d) keep=%q other=%q; the old IOV should stand", a.Result(), a.Count(), keep, other)
	}
	if err := a.SetIOV(bufs[:aio.MaxIOV]...); err != nil {
		t.Fatalf("SetIOV(MaxIOV buffers) = %v", err)
	}
}

// Rule "SetIOV" with several buffers: files (READV/WRITEV) and sockets
// (RECVMSG/SENDMSG) fill and drain the buffers in order.
func TestSetIOVMultiple(t *testing.T) {
	const text = "0123456789abcdefghij"
	split := func() [][]byte { return [][]byte{make([]byte, 3), make([]byte, 5), make([]byte, 2), make([]byte, 40)} }
	joined := func(bufs [][]byte, n int) string {
		var s []byte
		for _, b := range bufs {
			s = append(s, b...)
		}
		return string(s[:n])
	}
	t.Run("ReadAt", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		fd := tempFile(t, text, unix.O_RDONLY)
		a := e.NewAio(nil)
		bufs := split()
		a.SetIOV(bufs...)
		a.ReadAt(fd, 2)
		a.Wait()
		if a.Result() != nil || a.Count() != len(text)-2 || joined(bufs, a.Count()) != text[2:] {
			t.Fatalf("(%v, %d) %q", a.Result(), a.Count(), joined(bufs, a.Count()))
		}
		if string(bufs[0]) != "234" || string(bufs[1]) != "56789" || string(bufs[2]) != "ab" {
			t.Fatalf("buffers filled out of order: %q %q %q", bufs[0], bufs[1], bufs[2])
		}
	})
	t.Run("WriteAt", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		fd := tempFile(t, "", unix.O_RDWR)
		a := e.NewAio(nil)
		a.SetIOV([]byte("one-"), []byte("two-"), []byte{}, []byte("three"))
		a.WriteAt(fd, 1)
		a.Wait()
		if a.Result() != nil || a.Count() != 13 {
			t.Fatalf("(%v, %d), want (nil, 13)", a.Result(), a.Count())
		}
		got := make([]byte, 32)
		n, _ := unix.Pread(fd, got, 0)
		if string(got[:n]) != "\x00one-two-three" {
			t.Fatalf("file holds %q", got[:n])
		}
	})
	t.Run("Recv", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, y, _, _ := socketpair(t)
		a := e.NewAio(nil)
		bufs := split()
		a.SetIOV(bufs...)
		write(t, y, text)
		a.Recv(x)
		a.Wait()
		if a.Result() != nil || a.Count() != len(text) || joined(bufs, a.Count()) != text {
			t.Fatalf("(%v, %d) %q", a.Result(), a.Count(), joined(bufs, a.Count()))
		}
		if string(bufs[0]) != "012" || string(bufs[1]) != "34567" || string(bufs[2]) != "89" {
			t.Fatalf("buffers filled out of order: %q %q %q", bufs[0], bufs[1], bufs[2])
		}
	})
	t.Run("Send", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		x, y, _, _ := socketpair(t)
		a := e.NewAio(nil)
		a.SetIOV([]byte("al"), []byte("pha-"), []byte("beta"))
		a.Send(x)
		a.Wait()
		if a.Result() != nil || a.Count() != 10 {
			t.Fatalf("(%v, %d), want (nil, 10)", a.Result(), a.Count())
		}
		if got := string(drain(t, y)); got != "alpha-beta" {
			t.Fatalf("peer got %q", got)
		}
	})
}

// Rule "SetInput/SetOutput": out-of-range indexes give ErrInvalid,
// Input/Output out of range give nil; outputs are cleared when an op
// starts, inputs are kept.
func TestSlots(t *testing.T) {
	e := newEngine(t, aio.Config{})
	a := e.NewAio(nil)
	for _, i := range []int{-1, aio.NumSlots, 100} {
		if err := a.SetInput(i, 1); !errors.Is(err, aio.ErrInvalid) {
			t.Errorf("SetInput(%d) = %v, want ErrInvalid", i, err)
		}
		if err := a.SetOutput(i, 1); !errors.Is(err, aio.ErrInvalid) {
			t.Errorf("SetOutput(%d) = %v, want ErrInvalid", i, err)
		}
		if v := a.Input(i); v != nil {
			t.Errorf("Input(%d) = %v, want nil", i, v)
		}
		if v := a.Output(i); v != nil {
			t.Errorf("Output(%d) = %v, want nil", i, v)
		}
	}
	for i := 0; i < aio.NumSlots; i++ {
		if err := a.SetInput(i, fmt.Sprint("in", i)); err != nil {
			t.Fatal(err)
		}
		if err := a.SetOutput(i, fmt.Sprint("out", i)); err != nil {
			t.Fatal(err)
		}
	}
	if a.Input(3) != "in3" || a.Output(2) != "out2" {
		t.Fatalf("slots not stored: %v %v", a.Input(3), a.Output(2))
	}
	// Outputs are cleared at the start, so the callback sees them empty.
	outs := make(chan []any, 1)
	b := e.NewAio(func(b *aio.Aio) {
		var s []any
		for i := 0; i < aio.NumSlots; i++ {
			s = append(s, b.Output(i), b.Input(i))
		}
		outs <- s
	})
	b.SetInput(1, "kept")
	b.SetOutput(1, "stale")
	b.Nop()
	got := <-outs
	want := []any{nil, nil, nil, "kept", nil, nil, nil, nil}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("in the callback (output, input per slot) = %v, want %v", got, want)
	}
	a.Nop()
	a.Wait()
	for i := 0; i < aio.NumSlots; i++ {
		if a.Output(i) != nil || a.Input(i) != fmt.Sprint("in", i) {
			t.Fatalf("after an op, slot %d: output %v input %v", i, a.Output(i), a.Input(i))
		}
	}
}

// Rule "Result": kernel failures are syscall.Errno values: EBADF for a bad
// descriptor, ECONNREFUSED for a connect to a closed loopback port, EPIPE
// or ECONNRESET for a send to a closed peer.
func TestKernelErrnos(t *testing.T) {
	e := newEngine(t, aio.Config{})
	check := func(name string, a *aio.Aio, want ...syscall.Errno) {
		t.Helper()
		a.Wait()
		err := a.Result()
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			t.Errorf("%s: %v (%T) is not a syscall.Errno", name, err, err)
			return
		}
		for _, w := range want {
			if errors.Is(err, w) && err == w {
				return
			}
		}
		t.Errorf("%s: %v, want one of %v", name, err, want)
	}
	a := e.NewAio(nil)
	a.SetIOV(make([]byte, 8))
	// A descriptor number that is not open.
	nfd, _ := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	unix.Close(nfd)
	a.ReadAt(nfd, 0)
	check("ReadAt on a closed fd", a, syscall.EBADF)
	a.Recv(-1)
	check("Recv on fd -1", a, syscall.EBADF)

	sa := closedPort(t)
	fd, _ := tcpSocket(t)
	a.Connect(fd, sa)
	check("Connect to a closed port", a, syscall.ECONNREFUSED)

	x, _, _, closeY := socketpair(t)
	closeY()
	a.SetIOV([]byte("to nobody"))
	a.Send(x)
	check("Send to a closed peer", a, syscall.EPIPE, syscall.ECONNRESET)

	// TCP: the peer closed with unread data, so it answered with a reset.
	l, lsa, _ := listener(t, 8)
	c, _ := dial(t, lsa)
	s, _, err := tAccept(l)
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, "unread")
	unix.Close(s)
	// The reset arrives asynchronously; a send may still succeed before
	// it, so retry until one fails (within the usual generous limit).
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		a.Send(c)
		a.Wait()
		if a.Result() != nil {
			break
		}
	}
	check("TCP Send after the peer reset", a, syscall.EPIPE, syscall.ECONNRESET)
}

// Rule "ReadAt ... Count 0 at end of file" and "Recv ... Count 0 when the
// peer has closed".
func TestEndOfStream(t *testing.T) {
	e := newEngine(t, aio.Config{})
	a := e.NewAio(nil)
	a.SetIOV(make([]byte, 16))
	fd := tempFile(t, "four", unix.O_RDONLY)
	for _, off := range []int64{4, 100} {
		a.ReadAt(fd, off)
		a.Wait()
		if a.Result() != nil || a.Count() != 0 {
			t.Fatalf("ReadAt at %d of a 4-byte file: (%v, %d), want (nil, 0)", off, a.Result(), a.Count())
		}
	}
	x, _, _, closeY := socketpair(t)
	a.Recv(x)
	closeY()
	a.Wait()
	if a.Result() != nil || a.Count() != 0 {
		t.Fatalf("Recv after the peer closed: (%v, %d), want (nil, 0)", a.Result(), a.Count())
	}
}

// Rule "Accept: Output(0) holds the new descriptor as an int", and
// Connect completes the other side.
func TestAcceptConnect(t *testing.T) {
	e := newEngine(t, aio.Config{})
	l, sa, _ := listener(t, 8)
	acc := e.NewAio(nil)
	acc.Accept(l)
	con := e.NewAio(nil)
	cfd, _ := tcpSocket(t)
	con.Connect(cfd, sa)
	acc.Wait()
	con.Wait()
	if con.Result() != nil {
		t.Fatalf("Connect: %v", con.Result())
	}
	if acc.Result() != nil {
		t.Fatalf("Accept: %v", acc.Result())
	}
	nfd, ok := acc.Output(0).(int)
	if !ok {
		t.Fatalf("Output(0) = %#v (%T), want an int", acc.Output(0), acc.Output(0))
	}
	own(t, nfd)
	// The accepted socket's peer is our client.
	peer, err := unix.Getpeername(nfd)
	if err != nil {
		t.Fatal(err)
	}
	local, _ := unix.Getsockname(cfd)
	if peer.(*unix.SockaddrInet4).Port != local.(*unix.SockaddrInet4).Port {
		t.Fatalf("accepted peer %v, client is %v", peer, local)
	}
	write(t, cfd, "over tcp")
	a := e.NewAio(nil)
	buf := make([]byte, 16)
	a.SetIOV(buf)
	a.Recv(nfd)
	a.Wait()
	if a.Result() != nil || string(buf[:a.Count()]) != "over tcp" {
		t.Fatalf("Recv on the accepted fd: (%v, %q)", a.Result(), buf[:a.Count()])
	}
}

// Rule "An offset of -1 for ReadAt/WriteAt means the file's current
// position": it reads and writes there and advances it.
func TestOffsetMinusOne(t *testing.T) {
	e := newEngine(t, aio.Config{})
	fd := tempFile(t, "0123456789", unix.O_RDWR)
	if _, err := unix.Seek(fd, 3, 0); err != nil {
		t.Fatal(err)
	}
	a := e.NewAio(nil)
	buf := make([]byte, 4)
	a.SetIOV(buf)
	for _, want := range []string{"3456", "789"} {
		a.ReadAt(fd, -1)
		a.Wait()
		if a.Result() != nil || string(buf[:a.Count()]) != want {
			t.Fatalf("ReadAt(-1) = (%v, %q), want (nil, %q)", a.Result(), buf[:a.Count()], want)
		}
	}
	unix.Seek(fd, 2, 0)
	a.SetIOV([]byte("AB"))
	a.WriteAt(fd, -1)
	a.Wait()
	a.WriteAt(fd, -1)
	a.Wait()
	got := make([]byte, 16)
	n, _ := unix.Pread(fd, got, 0)
	if string(got[:n]) != "01ABAB6789" {
		t.Fatalf("after two WriteAt(-1) at position 2: %q, want %q", got[:n], "01ABAB6789")
	}
	if pos, _ := unix.Seek(fd, 0, 1); pos != 6 {
		t.Fatalf("file position %d, want 6", pos)
	}
}

// Rule "Errors": the sentinels match their standard counterparts and are
// distinct from each other.
func TestErrorIdentities(t *testing.T) {
	if !errors.Is(aio.ErrTimedOut, os.ErrDeadlineExceeded) {
		t.Error("ErrTimedOut does not match os.ErrDeadlineExceeded")
	}
	if !errors.Is(aio.ErrUnsupported, errors.ErrUnsupported) {
		t.Error("ErrUnsupported does not match errors.ErrUnsupported")
	}
	if !errors.Is(aio.ErrClosed, os.ErrClosed) || !errors.Is(aio.ErrClosed, net.ErrClosed) {
		t.Error("ErrClosed does not match os.ErrClosed and net.ErrClosed")
	}
	all := map[string]error{"ErrTimedOut": aio.ErrTimedOut, "ErrCanceled": aio.ErrCanceled, "ErrStopped": aio.ErrStopped,
		"ErrClosed": aio.ErrClosed, "ErrInvalid": aio.ErrInvalid, "ErrUnsupported": aio.ErrUnsupported}
	for n1, e1 := range all {
		if e1 == nil || e1.Error() == "" {
			t.Errorf("%s is nil or has no message", n1)
			continue
		}
		for n2, e2 := range all {
			if n1 != n2 && errors.Is(e1, e2) {
				t.Errorf("%s matches %s", n1, n2)
			}
		}
	}
	if errors.Is(aio.ErrCanceled, os.ErrDeadlineExceeded) || errors.Is(aio.ErrTimedOut, context.Canceled) {
		t.Error("cancel and timeout errors are confused")
	}
}

// Connect takes any unix.Sockaddr the kernel's connect takes for stream
// sockets: IPv4 and IPv6 loopback, a Unix socket path and an abstract Unix
// name all reach the listener; an unsupported or nil address is ErrInvalid
// through the callback.
func TestConnectAddressFamilies(t *testing.T) {
	abstract := fmt.Sprintf("@aio-contract-%d-%d", os.Getpid(), time.Now().UnixNano())
	cases := []struct {
		name   string
		family int
		addr   unix.Sockaddr
	}{
		{"inet4", unix.AF_INET, &unix.SockaddrInet4{Addr: loopback}},
		{"inet6", unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}},
		{"unix-path", unix.AF_UNIX, &unix.SockaddrUnix{Name: t.TempDir() + "/sock"}},
		{"unix-abstract", unix.AF_UNIX, &unix.SockaddrUnix{Name: abstract}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, aio.Config{})
			l, err := unix.Socket(tc.family, unix.SOCK_STREAM|tSockCloexec, 0)
			if err != nil {
				t.Skipf("no %s sockets here: %v", tc.name, err)
			}
			own(t, l)
			if err := unix.Bind(l, tc.addr); err != nil {
				if tc.family == unix.AF_INET6 {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				t.Fatalf("bind: %v", err)
			}
			if err := unix.Listen(l, 8); err != nil {
				t.Fatal(err)
			}
			sa, err := unix.Getsockname(l)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "unix-abstract" {
				// Getsockname reports the abstract name with a leading NUL;
				// the contract's form is the "@" one, as in the os package.
				sa = tc.addr
			}
			fd, err := unix.Socket(tc.family, unix.SOCK_STREAM|tSockCloexec, 0)
			if err != nil {
				t.Fatal(err)
			}
			own(t, fd)
			a := e.NewAio(nil)
			a.Connect(fd, sa)
			a.Wait()
			if a.Result() != nil {
				t.Fatalf("Connect to %+v: %v", sa, a.Result())
			}
			s, _, err := tAccept(l)
			if err != nil {
				t.Fatalf("the listener saw no connection: %v", err)
			}
			own(t, s)
			write(t, fd, "family")
			got := make([]byte, 16)
			n, err := unix.Read(s, got) // blocking: TCP may deliver a little later
			if err != nil || string(got[:n]) != "family" {
				t.Fatalf("accepted side got (%q, %v)", got[:n], err)
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		e := newEngine(t, aio.Config{})
		fd, _ := tcpSocket(t)
		r := newRecorder()
		a := e.NewAio(r.cb)
		for _, sa := range []unix.Sockaddr{nil, otherSockaddr, &unix.SockaddrInet4{Port: 70000}, &unix.SockaddrUnix{}} {
			a.Connect(fd, sa)
			if c := r.next(t); !errors.Is(c.err, aio.ErrInvalid) {
				t.Errorf("Connect(%#v): %v, want ErrInvalid", sa, c.err)
			}
			a.Wait()
		}
	})
}
