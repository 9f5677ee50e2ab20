package aio

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pinState reads what a's Pinner keeps (pin.go), under its lock.
func pinState(a *Aio) (lo uintptr, extra bool) {
	a.mu.Lock()
	defer a.unlock()
	return a.pinLo, a.x != nil && a.x.pinned
}

// echoPair is a connected pair of stream sockets.
func echoPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// newPinAio is an Aio with a callback that does nothing, waited for with
// Wait: with a callback, socket transfers go to the ring (a Wait-only
// Aio's go to the engine's readiness backend, sockwait.go), and both
// paths pin alike. So each test runs on both.
func newPinAio(e *Engine, withCallback bool) *Aio {
	if withCallback {
		return e.NewAio(func(*Aio) {})
	}
	return e.NewAio(nil)
}

// onEachPath runs f on each backend with a Wait-only Aio and with one that
// has a callback.
func onEachPath(t *testing.T, f func(t *testing.T, be Backend, withCallback bool)) {
	onEachBackend(t, func(t *testing.T, be Backend) {
		for _, cb := range []bool{false, true} {
			name := "wait"
			if cb {
				name = "callback"
			}
			t.Run(name, func(t *testing.T) { f(t, be, cb) })
		}
	})
}

// recvSend receives what peer wrote into b on fd and sends it back with a,
// as an echo loop does, and checks both ended well.
func recvSend(t *testing.T, a *Aio, fd, peer int, b []byte) {
	t.Helper()
	if _, err := unix.Write(peer, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	a.SetIOV(b)
	a.Recv(fd)
	a.Wait()
	if err := a.Result(); err != nil || a.Count() != 4 {
		t.Fatalf("Recv: %v, %d bytes", err, a.Count())
	}
	a.SetIOV(b[:a.Count()])
	a.Send(fd)
	a.Wait()
	if err := a.Result(); err != nil || a.Count() != 4 {
		t.Fatalf("Send: %v, %d bytes", err, a.Count())
	}
	got := make([]byte, 8)
	if n, err := unix.Read(peer, got); err != nil || string(got[:n]) != "ping" {
		t.Fatalf("peer read %q, %v", got[:n], err)
	}
}

// An echo loop's buffer stays pinned from one operation to the next, and
// is let go when an operation uses another.
func TestPinsKeptWhileTheIOVStays(t *testing.T) {
	onEachPath(t, func(t *testing.T, be Backend, cb bool) { pinsKept(t, backendEngine(t, be), cb) })
}

func pinsKept(t *testing.T, e *Engine, withCallback bool) {
	fd, peer := echoPair(t)
	a := newPinAio(e, withCallback)
	defer a.Free()
	b := make([]byte, 64)
	base := uintptr(unsafe.Pointer(&b[0]))
	for i := 0; i < 3; i++ {
		recvSend(t, a, fd, peer, b)
		if lo, _ := pinState(a); lo != base {
			t.Fatalf("round %d: the kept pin is at %#x, want the buffer at %#x", i, lo, base)
		}
	}
	other := make([]byte, 64)
	recvSend(t, a, fd, peer, other)
	if lo, _ := pinState(a); lo != uintptr(unsafe.Pointer(&other[0])) {
		t.Fatalf("the new buffer is not the kept pin (%#x)", lo)
	}
}

// pinnedBuffer is a buffer whose collection the test can see.
type pinnedBuffer struct{ b [256]byte }

// collected waits for the cleanup of an object, running the collector.
func collected(t *testing.T, done chan struct{}, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%s was never collected: still pinned", what)
}

// A kept pin is let go when the next operation's IOV lies elsewhere, and
// never keeps alive a buffer nobody names: not after Free, not after the
// engine closed under an Aio that was never freed (a runtime.Pinner
// collected while it pins panics, which would end this test binary).
func TestPinsDoNotKeepBuffersAlive(t *testing.T) {
	onEachPath(t, pinsLetGo)
}

func pinsLetGo(t *testing.T, be Backend, withCallback bool) {
	for _, end := range []string{"next", "Free", "Close"} {
		t.Run(end, func(t *testing.T) {
			e, err := NewEngine(Config{Backend: be})
			if err != nil {
				t.Skipf("%s unavailable: %v", be, err)
			}
			fd, peer := echoPair(t)
			a := newPinAio(e, withCallback)
			done := make(chan struct{})
			func() {
				p := new(pinnedBuffer)
				runtime.AddCleanup(p, func(ch chan struct{}) { close(ch) }, done)
				recvSend(t, a, fd, peer, p.b[:])
			}()
			switch end {
			case "next":
				// An operation that pins nothing, the IOV elsewhere. (For
				// a Wait-only Aio the readiness backend's record of its
				// last transfer, op.Desc.Backend, names the buffer until
				// the next transfer, so its collection would say nothing
				// here.)
				a.SetIOV(make([]byte, 8))
				a.Nop()
				a.Wait()
				if lo, _ := pinState(a); lo != 0 {
					t.Fatalf("after a Nop with another IOV the buffer before is still pinned (%#x)", lo)
				}
				a.Free()
				e.Close()
				return
			case "Free":
				a.Free()
				collected(t, done, "the buffer of a freed Aio")
				e.Close()
			case "Close":
				e.Close()
				a, e = nil, nil // the Aio dropped unfreed, with its engine
				collected(t, done, "the buffer of an unfreed Aio of a closed engine")
			}
			runtime.GC() // a Pinner left pinning would panic in its cleanup by now
		})
	}
}

// Datagrams keep the Aio's aioExtra (their msghdr and address room)
// pinned too; a vectored transfer's buffers are let go at its end.
func TestPinsExtraKeptVectorsReleased(t *testing.T) {
	onEachPath(t, func(t *testing.T, be Backend, cb bool) { pinsExtra(t, backendEngine(t, be), cb) })
}

func pinsExtra(t *testing.T, e *Engine, withCallback bool) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	a := newPinAio(e, withCallback)
	defer a.Free()
	b := make([]byte, 64)
	for i := 0; i < 2; i++ {
		if _, err := unix.Write(fds[1], []byte("datagram")); err != nil {
			t.Fatal(err)
		}
		a.SetIOV(b)
		a.RecvFrom(fds[0])
		a.Wait()
		if err := a.Result(); err != nil || a.Count() != 8 {
			t.Fatalf("RecvFrom: %v, %d", err, a.Count())
		}
		if lo, extra := pinState(a); lo != uintptr(unsafe.Pointer(&b[0])) || !extra {
			t.Fatalf("after RecvFrom %d: kept buffer %#x, aioExtra pinned %v", i, lo, extra)
		}
	}
	h, w := make([]byte, 3), make([]byte, 5)
	a.SetIOV(h, w)
	a.Send(fds[0])
	a.Wait()
	if err := a.Result(); err != nil || a.Count() != 8 {
		t.Fatalf("vectored Send: %v, %d", err, a.Count())
	}
	a.mu.Lock()
	other := a.x.pinOther
	a.mu.Unlock()
	if lo, extra := pinState(a); lo != 0 || extra || other {
		t.Fatalf("after a vectored Send: kept buffer %#x, aioExtra pinned %v, other memory pinned %v", lo, extra, other)
	}
}
