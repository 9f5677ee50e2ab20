//go:build linux

package aio

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ringEngine is an io_uring engine for tests of what only a ring engine
// does; it skips where io_uring cannot be used.
func ringEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.Backend = BackendIOURing
	e, err := NewEngine(cfg)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// A ring engine carries a Recv or Send without a callback by readiness
// (sockwait.go): it waits in an epoll instance, no SQE reaches a ring, and
// the data, a deadline, Cancel and Close end it as on the ring.
func TestBlockingTransfersWaitForReadiness(t *testing.T) {
	e := ringEngine(t, Config{})
	snd, rcv := loopbackTCP(t, 0, 0)
	defer unix.Close(snd)
	defer unix.Close(rcv)
	a := e.NewAio(nil)
	defer a.Free()
	buf := make([]byte, 64)

	// Data arriving after the receive parked.
	tail := markTail(t)
	m := MarkSubmissions(t)
	a.SetIOV(buf)
	a.Recv(rcv)
	m.Parked(t, e, a, rcv)
	if !a.onReadinessBackend() {
		t.Fatal("a Recv without a callback is on the ring")
	}
	if _, err := unix.Write(snd, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	if a.Result() != nil || !bytes.Equal(buf[:a.Count()], []byte("hello")) {
		t.Fatalf("Recv: %v, %q; want nil, \"hello\"", a.Result(), buf[:a.Count()])
	}
	// Data already there, and a Send with room: done on the starter.
	unix.Write(snd, []byte("again"))
	a.Recv(rcv)
	a.Wait()
	if a.Result() != nil || string(buf[:a.Count()]) != "again" {
		t.Fatalf("Recv of waiting data: %v, %q", a.Result(), buf[:a.Count()])
	}
	a.SetIOV([]byte("back"))
	a.Send(rcv)
	a.Wait()
	if a.Result() != nil || a.Count() != 4 {
		t.Fatalf("Send: %v, %d; want nil, 4", a.Result(), a.Count())
	}
	if n := markTail(t); n != tail {
		t.Fatalf("%d SQEs submitted for blocking transfers, want none", n-tail)
	}

	// A deadline, then Cancel, of a parked receive.
	a.SetIOV(buf)
	a.SetTimeout(20 * time.Millisecond)
	start := time.Now()
	a.Recv(rcv)
	a.Wait()
	if a.Result() != ErrTimedOut || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("Recv with a timeout on an empty socket: %v after %v; want ErrTimedOut after 20 ms", a.Result(), time.Since(start))
	}
	a.SetTimeout(Infinite)
	m = MarkSubmissions(t)
	a.Recv(rcv)
	m.Parked(t, e, a, rcv)
	a.Cancel()
	a.Wait()
	if a.Result() != ErrCanceled {
		t.Fatalf("cancelled Recv: %v, want ErrCanceled", a.Result())
	}

	// Close ends a parked receive with ErrClosed, and stops the readiness
	// backend with the rest (main_test's goleak checks the goroutines).
	m = MarkSubmissions(t)
	a.Recv(rcv)
	m.Parked(t, e, a, rcv)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	if a.Result() != ErrClosed {
		t.Fatalf("Recv pending at Close: %v, want ErrClosed", a.Result())
	}
}

// What stays on the ring: a transfer with a callback, every transfer
// under Config.RingOnly, and one on a registered descriptor.
func TestTransfersThatStayOnTheRing(t *testing.T) {
	snd, rcv := loopbackTCP(t, 0, 0)
	defer unix.Close(snd)
	defer unix.Close(rcv)
	buf := make([]byte, 8)
	parkOnRing := func(t *testing.T, e *Engine, a *Aio, fd int) {
		t.Helper()
		m := MarkSubmissions(t)
		a.SetIOV(buf)
		a.Recv(fd)
		m.Parked(t, e, a, fd)
		if a.onReadinessBackend() {
			t.Fatal("carried by readiness, want the ring")
		}
		if tail := markTail(t); tail == m.tail {
			t.Fatal("no SQE submitted")
		}
		a.Cancel()
	}
	t.Run("callback", func(t *testing.T) {
		e := ringEngine(t, Config{})
		done := make(chan error, 1)
		a := e.NewAio(func(a *Aio) { done <- a.Result() })
		defer a.Free()
		parkOnRing(t, e, a, rcv)
		if err := <-done; err != ErrCanceled {
			t.Fatalf("cancelled Recv: %v, want ErrCanceled", err)
		}
	})
	t.Run("RingOnly", func(t *testing.T) {
		e := ringEngine(t, Config{RingOnly: true})
		a := e.NewAio(nil)
		defer a.Free()
		parkOnRing(t, e, a, rcv)
		a.Wait()
	})
	t.Run("registered", func(t *testing.T) {
		e := ringEngine(t, Config{})
		if err := e.RegisterFD(rcv); err != nil {
			t.Skipf("RegisterFD: %v", err)
		}
		defer e.UnregisterFD(rcv)
		a := e.NewAio(nil)
		defer a.Free()
		parkOnRing(t, e, a, rcv)
		a.Wait()
	})
}
