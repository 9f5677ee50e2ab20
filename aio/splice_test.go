//go:build linux

package aio_test

// Splice and Shutdown: file→pipe→socket and socket→pipe→socket moving
// exact bytes, a splice that waits (timeout, Cancel, Stop, Close), bad
// input, and a half-close the peer reads as end of stream.

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// spliceAll moves n bytes from in (offset off, -1 for none) to out
// through pipe (r, w) with two Aios, the one filling the pipe and the
// other draining it, each restarting itself from its callback. It
// returns the first error.
func spliceAll(t *testing.T, e *aio.Engine, in int, off int64, out int, n int) error {
	t.Helper()
	r, w, _, _ := pipe(t)
	errc := make(chan error, 2)
	var filled, drained int
	var fill, drain *aio.Aio
	fill = e.NewAio(func(a *aio.Aio) {
		if err := a.Result(); err != nil {
			errc <- err
			return
		}
		if a.Count() == 0 {
			errc <- errors.New("fill: end of input early")
			return
		}
		filled += a.Count()
		if filled == n {
			errc <- nil
			return
		}
		o := off
		if off >= 0 {
			o = off + int64(filled)
		}
		a.Splice(in, o, w, -1, n-filled)
	})
	drain = e.NewAio(func(a *aio.Aio) {
		if err := a.Result(); err != nil {
			errc <- err
			return
		}
		drained += a.Count()
		if drained == n {
			errc <- nil
			return
		}
		a.Splice(r, -1, out, -1, n-drained)
	})
	defer fill.Free()
	defer drain.Free()
	fill.SetTimeout(waitLimit)
	drain.SetTimeout(waitLimit)
	fill.Splice(in, off, w, -1, n)
	drain.Splice(r, -1, out, -1, n)
	for i := 0; i < 2; i++ {
		select {
		case err := <-errc:
			if err != nil {
				return err
			}
		case <-time.After(2 * waitLimit):
			return errors.New("splice stalled")
		}
	}
	return nil
}

// tcpPair is a loopback TCP pair (sender, receiver) closed at the end of
// the test.
func tcpPair(t *testing.T, sndbuf, rcvbuf int) (snd, rcv int) {
	snd, rcv = aio.LoopbackTCP(t, sndbuf, rcvbuf)
	own(t, snd)
	own(t, rcv)
	return snd, rcv
}

// readAllAsync reads n bytes from a blocking fd on a goroutine of its own.
func readAllAsync(fd, n int) chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		b := make([]byte, n)
		got := 0
		for got < n {
			k, err := unix.Read(fd, b[got:])
			if err == unix.EINTR {
				continue
			}
			if err != nil || k == 0 {
				break
			}
			got += k
		}
		ch <- b[:got]
	}()
	return ch
}

func TestSpliceFileToSocket(t *testing.T) {
	e := newEngine(t, aio.Config{})
	aio.NeedSplice(t, e)
	data := make([]byte, 3<<20+123)
	rand.New(rand.NewSource(1)).Read(data)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snd, rcv := tcpPair(t, 0, 0)
	const off = 1000
	got := readAllAsync(rcv, len(data)-off)
	if err := spliceAll(t, e, int(f.Fd()), off, snd, len(data)-off); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data[off:]) {
		t.Fatalf("peer read %d bytes, want %d equal to the file's from %d", len(b), len(data)-off, off)
	}
}

// spliceModes runs f with the spliced sockets in blocking mode (on
// io_uring: IORING_OP_SPLICE, an io-wq worker's call) and in non-blocking
// mode (the starter's splice(2), waits for readiness through the ring).
func spliceModes(t *testing.T, f func(t *testing.T, nonblock bool)) {
	for _, nonblock := range []bool{false, true} {
		t.Run(map[bool]string{false: "blocking", true: "nonblocking"}[nonblock], func(t *testing.T) { f(t, nonblock) })
	}
}

// setNonblock puts each fd in non-blocking mode when nonblock is set.
func setNonblock(t *testing.T, nonblock bool, fds ...int) {
	t.Helper()
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, nonblock); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpliceSocketToSocket(t *testing.T) { spliceModes(t, spliceSocketToSocket) }

func spliceSocketToSocket(t *testing.T, nonblock bool) {
	e := newEngine(t, aio.Config{})
	aio.NeedSplice(t, e)
	data := make([]byte, 2<<20+7)
	rand.New(rand.NewSource(2)).Read(data)
	inS, inR := tcpPair(t, 0, 0)
	outS, outR := tcpPair(t, 0, 0)
	setNonblock(t, nonblock, inR, outS)
	go func() {
		for b := data; len(b) > 0; {
			n, err := unix.Write(inS, b)
			if err != nil {
				return
			}
			b = b[n:]
		}
	}()
	got := readAllAsync(outR, len(data))
	if err := spliceAll(t, e, inR, -1, outS, len(data)); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("peer read %d bytes, want the %d sent", len(b), len(data))
	}
	// The source's end: a splice from it moves 0 bytes.
	unix.Shutdown(inS, unix.SHUT_WR)
	r, w, _, _ := pipe(t)
	_ = r
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	a.Splice(inR, -1, w, -1, 100)
	a.Wait()
	if a.Result() != nil || a.Count() != 0 {
		t.Fatalf("splice at end of stream: %v %d, want nil 0", a.Result(), a.Count())
	}
	if direct := e.Stats().Direct; e.Backend() == aio.BackendIOURing && nonblock != (direct > 0) {
		t.Errorf("%d splices made on their starter, want some exactly when the sockets are non-blocking", direct)
	}
}

// A splice from an empty pipe waits: its timeout, Cancel, Stop and
// engine Close each end it once; bad input is ErrInvalid.
func TestSpliceContract(t *testing.T) { spliceModes(t, spliceContract) }

func spliceContract(t *testing.T, nonblock bool) {
	e := newEngine(t, aio.Config{})
	aio.NeedSplice(t, e)
	r, _, _, _ := pipe(t)
	snd, _ := tcpPair(t, 0, 0)
	setNonblock(t, nonblock, snd)
	rec := newRecorder()
	a := e.NewAio(rec.cb)
	defer a.Free()

	a.SetTimeout(30 * time.Millisecond)
	start := time.Now()
	a.Splice(r, -1, snd, -1, 4096)
	if c := rec.next(t); c.err != aio.ErrTimedOut || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("splice with a timeout: %v after %v", c.err, time.Since(start))
	}
	a.SetTimeout(0)
	a.Splice(r, -1, snd, -1, 4096)
	if c := rec.next(t); c.err != aio.ErrTimedOut {
		t.Fatalf("splice with a zero timeout: %v", c.err)
	}
	a.SetTimeout(aio.Infinite)
	a.Splice(r, -1, snd, -1, 4096)
	time.Sleep(10 * time.Millisecond)
	a.Cancel()
	if c := rec.next(t); c.err != aio.ErrCanceled {
		t.Fatalf("cancelled splice: %v", c.err)
	}
	for _, bad := range []struct {
		n         int
		inOff, oo int64
	}{{0, -1, -1}, {-5, -1, -1}, {10, -2, -1}, {10, -1, -7}} {
		a.Splice(r, bad.inOff, snd, bad.oo, bad.n)
		if c := rec.next(t); c.err != aio.ErrInvalid {
			t.Fatalf("Splice(n %d, offsets %d %d) = %v, want ErrInvalid", bad.n, bad.inOff, bad.oo, c.err)
		}
	}
	// Neither end a pipe: the kernel's EINVAL.
	s2, _ := tcpPair(t, 0, 0)
	setNonblock(t, nonblock, s2)
	a.Splice(snd, -1, s2, -1, 10)
	if c := rec.next(t); !errors.Is(c.err, unix.EINVAL) {
		t.Fatalf("splice socket to socket = %v, want EINVAL", c.err)
	}

	s := e.NewAio(rec.cb)
	s.Splice(r, -1, snd, -1, 4096)
	time.Sleep(10 * time.Millisecond)
	s.Stop()
	if c := rec.next(t); c.err != aio.ErrStopped {
		t.Fatalf("stopped splice: %v", c.err)
	}
	s.Free()

	e2 := newEngine(t, aio.Config{})
	rec2 := newRecorder()
	c := e2.NewAio(rec2.cb)
	c.Splice(r, -1, snd, -1, 4096)
	time.Sleep(10 * time.Millisecond)
	e2.Close()
	if got := rec2.next(t); got.err != aio.ErrClosed {
		t.Fatalf("splice at Close: %v", got.err)
	}
	if n := rec.n.Load() + rec2.n.Load(); n != 10 {
		t.Fatalf("%d callbacks, want 10", n)
	}
}

// A Splice whose end is not ready waits for it, with or without a
// callback (on io_uring: a poll in its place, reaped by a worker or by the
// goroutine in Wait, which then makes the splice): a quiet socket into a
// pipe until data comes, and a pipe into a socket whose send buffer is
// full until the peer reads.
func TestSpliceWaitsForReadiness(t *testing.T) {
	e := newEngine(t, aio.Config{})
	aio.NeedSplice(t, e)
	rec := newRecorder()
	for _, withCallback := range []bool{false, true} {
		var a *aio.Aio
		wait := func() (error, int) { return ended(t, a, rec, withCallback) }
		if withCallback {
			a = e.NewAio(rec.cb)
		} else {
			a = e.NewAio(nil)
		}
		a.SetTimeout(waitLimit)

		// In: a quiet socket.
		snd, rcv := tcpPair(t, 0, 0)
		setNonblock(t, true, rcv)
		pr, pw, _, _ := pipe(t)
		go func() {
			time.Sleep(20 * time.Millisecond)
			unix.Write(snd, []byte("hello"))
		}()
		a.Splice(rcv, -1, pw, -1, 4096)
		if err, n := wait(); err != nil || n != 5 {
			t.Fatalf("callback %v: splice from a quiet socket: %v %d, want nil 5", withCallback, err, n)
		}
		b := make([]byte, 16)
		if n, _ := unix.Read(pr, b); string(b[:n]) != "hello" {
			t.Fatalf("pipe holds %q, want hello", b[:n])
		}

		// Out: a socket whose send buffer is full.
		out, peer := tcpPair(t, 4096, 4096)
		fill(t, out)
		setNonblock(t, true, out)
		msg := bytes.Repeat([]byte("x"), 1000)
		unix.Write(pw, msg)
		drained := readAllAsync(peer, 1) // reads once the splice waits
		time.Sleep(20 * time.Millisecond)
		a.Splice(pr, -1, out, -1, len(msg))
		go func() {
			<-drained
			b := make([]byte, 1<<20)
			for {
				if n, err := unix.Read(peer, b); n <= 0 || err != nil {
					return
				}
			}
		}()
		if err, n := wait(); err != nil || n <= 0 {
			t.Fatalf("callback %v: splice into a full socket: %v %d, want some bytes", withCallback, err, n)
		}

		// The ends' kinds suggest the other end (an empty pipe into a
		// socket with room; a socket with data into a full pipe): the
		// first wait wakes at once, and the next is for the right end.
		pr2, pw2, _, _ := pipe(t)
		snd2, rcv2 := tcpPair(t, 0, 0)
		setNonblock(t, true, snd2, rcv2)
		go func() {
			time.Sleep(20 * time.Millisecond)
			unix.Write(pw2, []byte("later"))
		}()
		a.Splice(pr2, -1, snd2, -1, 4096)
		if err, n := wait(); err != nil || n != 5 {
			t.Fatalf("callback %v: splice from an empty pipe: %v %d, want nil 5", withCallback, err, n)
		}
		full := fillPipe(t, pw2)
		unix.Write(snd2, []byte("data"))
		go func() {
			time.Sleep(20 * time.Millisecond)
			b := make([]byte, full)
			for got := 0; got < full; {
				n, err := unix.Read(pr2, b)
				if n <= 0 || err != nil {
					return
				}
				got += n
			}
		}()
		before := e.Stats().Submitted
		a.Splice(rcv2, -1, pw2, -1, 4096)
		// rcv2 holds what the first splice sent through snd2 and "data".
		if err, n := wait(); err != nil || n != 9 {
			t.Fatalf("callback %v: splice into a full pipe: %v %d, want nil 9", withCallback, err, n)
		}
		// A wait for the ready input, over and over, would spin for the
		// 20 ms the pipe stays full: thousands of polls, not two.
		if polls := e.Stats().Submitted - before; polls > 20 {
			t.Errorf("callback %v: %d submissions for one splice into a full pipe, want a wait for the pipe, not a spin", withCallback, polls)
		}
		a.Free()
	}
	if direct := e.Stats().Direct; e.Backend() == aio.BackendIOURing && direct < 8 {
		t.Errorf("%d splices made by their starter or after a wait, want 8", direct)
	}
}

// fillPipe writes to the pipe's write end w until it is full and returns
// how many bytes it holds; w stays in blocking mode.
func fillPipe(t *testing.T, w int) int {
	t.Helper()
	setNonblock(t, true, w)
	defer setNonblock(t, false, w)
	chunk := make([]byte, 4096)
	total := 0
	for {
		n, err := unix.Write(w, chunk)
		if err == unix.EAGAIN {
			return total
		}
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
}

// Shutdown(SHUT_WR) makes the peer read end of stream after the data
// sent before it; bad how is ErrInvalid; a descriptor that is no socket
// gives the kernel's ENOTSOCK.
func TestShutdown(t *testing.T) {
	e := newEngine(t, aio.Config{})
	aio.NeedShutdown(t, e)
	snd, rcv := tcpPair(t, 0, 0)
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	a.SetIOV([]byte("last words"))
	a.Send(snd)
	a.Wait()
	a.Shutdown(snd, unix.SHUT_WR)
	a.Wait()
	if err := a.Result(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if b := <-readAllAsync(rcv, 100); string(b) != "last words" {
		t.Fatalf("peer read %q before end of stream, want %q", b, "last words")
	}
	buf := make([]byte, 8)
	a.SetIOV(buf)
	a.Recv(rcv)
	a.Wait()
	if a.Result() != nil || a.Count() != 0 {
		t.Fatalf("peer Recv after SHUT_WR: %v %d, want end of stream", a.Result(), a.Count())
	}
	// The other direction still works.
	a.SetIOV([]byte("reply"))
	a.Send(rcv)
	a.Wait()
	if a.Result() != nil || a.Count() != 5 {
		t.Fatalf("Send back after SHUT_WR: %v %d", a.Result(), a.Count())
	}
	a.Shutdown(snd, 42)
	a.Wait()
	if a.Result() != aio.ErrInvalid {
		t.Fatalf("Shutdown(how 42) = %v, want ErrInvalid", a.Result())
	}
	r, _, _, _ := pipe(t)
	a.Shutdown(r, unix.SHUT_RDWR)
	a.Wait()
	if !errors.Is(a.Result(), unix.ENOTSOCK) {
		t.Fatalf("Shutdown(pipe) = %v, want ENOTSOCK", a.Result())
	}
	a.SetTimeout(0)
	a.Shutdown(rcv, unix.SHUT_RDWR)
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("Shutdown with a zero timeout: %v", a.Result())
	}
}
