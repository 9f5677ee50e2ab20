//go:build linux

package fdtype

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// kinds opens one descriptor of each kind the engine tells apart and
// returns them by their S_IFMT bits.
func kinds(t *testing.T) map[uint32]int32 {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s) })
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return map[uint32]int32{
		unix.S_IFREG:  int32(f.Fd()),
		unix.S_IFIFO:  int32(w.Fd()),
		unix.S_IFSOCK: int32(s),
		unix.S_IFDIR:  int32(d.Fd()),
	}
}

func checkModes(t *testing.T) {
	for want, fd := range kinds(t) {
		got, e := Mode(fd)
		if e != 0 || got != want {
			t.Errorf("Mode(%d) = %#o, %v; want %#o", fd, got, e, want)
		}
		if IsRegular(fd) != (want == unix.S_IFREG) {
			t.Errorf("IsRegular(%d) = %v for mode %#o", fd, !(want == unix.S_IFREG), want)
		}
	}
	// A number no descriptor holds: the kernel's EBADF, and not regular.
	fd, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, e := Mode(int32(fd)); e != unix.EBADF {
		t.Errorf("Mode of a closed number: %v, want EBADF", e)
	}
	if IsRegular(int32(fd)) {
		t.Error("IsRegular of a closed number: true")
	}
}

func TestMode(t *testing.T) { checkModes(t) }

// TestModeWithoutStatx takes fstat's way, as on a kernel without statx.
func TestModeWithoutStatx(t *testing.T) {
	noStatx.Store(true)
	defer noStatx.Store(false)
	checkModes(t)
}

func TestModeAllocatesNothing(t *testing.T) {
	fd := kinds(t)[unix.S_IFREG]
	if n := testing.AllocsPerRun(100, func() { IsRegular(fd) }); n != 0 {
		t.Errorf("IsRegular allocates %v times per call", n)
	}
}
