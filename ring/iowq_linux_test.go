//go:build linux

package ring

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The caps set read back as set (a cap of 0 reads them without a change),
// and the previous ones are the kernel's defaults.
func TestRegisterIOWQMaxWorkers(t *testing.T) {
	r := newRing(t, Options{Entries: 8})
	oldB, oldU, err := r.RegisterIOWQMaxWorkers(3, 0)
	if err == unix.EINVAL {
		t.Skipf("no IORING_REGISTER_IOWQ_MAX_WORKERS: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if oldB == 0 || oldU == 0 {
		t.Fatalf("caps before: bounded %d, unbounded %d; want the kernel's defaults (non-zero)", oldB, oldU)
	}
	if b, u, err := r.RegisterIOWQMaxWorkers(0, 5); err != nil || b != 3 || u != oldU {
		t.Fatalf("caps after setting bounded: %d, %d, %v; want 3, %d", b, u, err, oldU)
	}
	if b, u, err := r.RegisterIOWQMaxWorkers(0, 0); err != nil || b != 3 || u != 5 {
		t.Fatalf("caps after setting unbounded: %d, %d, %v; want 3, 5", b, u, err)
	}
	// The caps stay with this thread's io-wq after the ring closes: give
	// it back its own before other tests use the thread.
	if _, _, err := r.RegisterIOWQMaxWorkers(oldB, oldU); err != nil {
		t.Fatal(err)
	}
}
