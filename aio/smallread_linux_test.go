package aio

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// A small read that its own start serves (startSmallReadLocked) leaves the
// Aio's pins as the general start would: a kept buffer that the read's
// IOV lies in stays pinned (nothing pins it again), one it does not is
// let go at the start, and a read its try finishes pins nothing new (one
// it does not, where the system has no preadv2, is pinned for the
// backend as any).
func TestSmallReadKeepsThePinRules(t *testing.T) {
	onEachPath(t, func(t *testing.T, be Backend, withCallback bool) {
		e := backendEngine(t, be)
		if !e.tryFirst {
			t.Skip("this engine tries no reads first")
		}
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, []byte("0123456789abcdef"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fd, peer := echoPair(t)
		a := newPinAio(e, withCallback)
		defer a.Free()
		readAt := func(b []byte, off int64, want string) {
			t.Helper()
			a.SetIOV(b)
			a.ReadAt(int(f.Fd()), off)
			a.Wait()
			if err := a.Result(); err != nil || string(b[:a.Count()]) != want {
				t.Fatalf("ReadAt(%d): %v, %q; want %q", off, err, b[:a.Count()], want)
			}
		}
		kept := make([]byte, 64)
		recvSend(t, a, fd, peer, kept) // kept is now the kept pin
		base := uintptr(unsafe.Pointer(&kept[0]))
		readAt(kept[8:12], 4, "4567")
		if lo, _ := pinState(a); lo != base {
			t.Fatalf("a read into the kept buffer left the kept pin at %#x, want %#x", lo, base)
		}
		direct := e.Stats().Direct
		readAt(make([]byte, 4), 10, "abcd")
		lo, _ := pinState(a)
		switch {
		case lo == base:
			t.Fatalf("a read into another buffer left the one before pinned (%#x)", lo)
		case lo != 0 && e.Stats().Direct > direct:
			// Only a read the try did not finish (no preadv2 here, as
			// under qemu-user) goes to the backend, which pins.
			t.Fatalf("a read its try finished pinned its buffer (%#x)", lo)
		}
		readAt(make([]byte, 8), 12, "cdef") // short, at the end of the file
	})
}
