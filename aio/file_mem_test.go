//go:build linux

package aio

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aioring/aioring/internal/seat"
	"golang.org/x/sys/unix"
)

// TestFileOpsZeroAllocs: OpenAt with a path the caller keeps, Statx into
// a reused struct, CloseFD, Fdatasync and Fallocate allocate nothing on a
// reused Aio (issue 18's target), on both backends.
func TestFileOpsZeroAllocs(t *testing.T) {
	allocsOnEachBackend(t, func(t *testing.T, e *Engine) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, "g"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fd := int(f.Fd())
		a := e.NewAio(nil)
		st := new(unix.Statx_t)
		cbDone := make(chan struct{}, 1)
		c := e.NewAio(func(*Aio) { cbDone <- struct{}{} })
		for _, tc := range []struct {
			name string
			op   func()
		}{
			{"OpenAtCloseFD", func() {
				a.OpenAt(unix.AT_FDCWD, path, unix.O_RDONLY, 0)
				a.Wait()
				nfd := a.FD()
				if a.Result() != nil || nfd < 0 {
					t.Fatalf("OpenAt: %v %d", a.Result(), nfd)
				}
				a.CloseFD(nfd)
				a.Wait()
				if a.Result() != nil {
					t.Fatalf("CloseFD: %v", a.Result())
				}
			}},
			{"Statx", func() {
				a.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, st)
				a.Wait()
				if a.Result() != nil || st.Size != 4096 {
					t.Fatalf("Statx: %v %d", a.Result(), st.Size)
				}
			}},
			{"StatxCallback", func() {
				c.Statx(unix.AT_FDCWD, path, 0, unix.STATX_SIZE, st)
				<-cbDone
				c.Wait()
			}},
			{"Fdatasync", func() {
				a.Fdatasync(fd)
				a.Wait()
				if a.Result() != nil {
					t.Fatalf("Fdatasync: %v", a.Result())
				}
			}},
			{"Fallocate", func() {
				a.Fallocate(fd, 0, 0, 8192)
				a.Wait()
				if a.Result() != nil {
					t.Fatalf("Fallocate: %v", a.Result())
				}
			}},
		} {
			tc.op() // warm up: the path buffer, the pinner, the wait condition
			tc.op()
			if n := testing.AllocsPerRun(200, tc.op); n != 0 {
				t.Errorf("%s: %.2f allocations per op, want 0", tc.name, n)
			}
		}
	})
}

// TestStatxInline: Config.StatxInline gives Statx's results, errors and
// ErrInvalid as the ring's does, with the callback off the starter, a zero
// timeout that lets it run, Stop, and no allocation on a reused Aio.
func TestStatxInline(t *testing.T) {
	for _, be := range []Backend{BackendIOURing, BackendPortable} {
		t.Run(string(be), func(t *testing.T) {
			e, err := NewEngine(Config{Backend: be, StatxInline: true})
			if err != nil {
				t.Skipf("%s unavailable: %v", be, err)
			}
			t.Cleanup(func() { e.Close() })
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, make([]byte, 123), 0o600); err != nil {
				t.Fatal(err)
			}
			st := new(unix.Statx_t)
			starter := seat.GoroutineID()
			var cbGoid int64
			done := make(chan struct{}, 1)
			a := e.NewAio(func(*Aio) { cbGoid = seat.GoroutineID(); done <- struct{}{} })
			run := func(p string, timeout time.Duration, st *unix.Statx_t) error {
				a.SetTimeout(timeout)
				a.Statx(unix.AT_FDCWD, p, 0, unix.STATX_SIZE, st)
				<-done
				a.Wait()
				return a.Result()
			}
			if err := run(path, Infinite, st); err != nil || st.Size != 123 {
				t.Errorf("Statx: %v, size %d", err, st.Size)
			}
			if cbGoid == starter {
				t.Error("the callback ran on the starter")
			}
			if err := run(path+"-missing", Infinite, st); err != unix.ENOENT {
				t.Errorf("missing: %v, want ENOENT", err)
			}
			if err := run("a\x00b", Infinite, st); err != ErrInvalid {
				t.Errorf("NUL: %v, want ErrInvalid", err)
			}
			if err := run(path, Infinite, nil); err != ErrInvalid {
				t.Errorf("nil: %v, want ErrInvalid", err)
			}
			if err := run(path, 0, st); err != nil {
				t.Errorf("zero timeout: %v, want nil (the call runs at once)", err)
			}
			if !raceEnabled {
				b := e.NewAio(nil)
				op := func() { b.Statx(unix.AT_FDCWD, path, 0, unix.STATX_SIZE, st); b.Wait() }
				op()
				if n := testing.AllocsPerRun(200, op); n != 0 {
					t.Errorf("%.2f allocations per Statx, want 0", n)
				}
				b.Free()
			}
			a.Stop()
			a.Statx(unix.AT_FDCWD, path, 0, unix.STATX_SIZE, st)
			<-done
			if a.Result() != ErrStopped {
				t.Errorf("after Stop: %v", a.Result())
			}
		})
	}
}
