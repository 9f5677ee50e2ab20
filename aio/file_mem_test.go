//go:build linux

package aio

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileOpsZeroAllocs: OpenAt with a path the caller keeps, Statx into
// a reused struct, CloseFD, Fdatasync and Fallocate allocate nothing on a
// reused Aio (issue 18's target), on both backends.
func TestFileOpsZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, be := range []Backend{BackendIOURing, BackendPortable} {
		t.Run(string(be), func(t *testing.T) {
			e, err := NewEngine(Config{Backend: be})
			if err != nil {
				t.Skipf("%s unavailable: %v", be, err)
			}
			t.Cleanup(func() { e.Close() })
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
}
