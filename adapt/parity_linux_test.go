//go:build linux

package adapt

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Concurrent Reads (big, of data not in the page
// cache, so that the engine's tries miss) or big Writes at the file
// position, on os and on adapt, each must see its own part of the file.
func TestAuditConcurrentBigIOSharesThePosition(t *testing.T) {
	const blocks, size = 64, 256 << 10
	content := make([]byte, blocks*size)
	for i := 0; i < blocks; i++ {
		copy(content[i*size:], fmt.Sprintf("%08d", i))
	}
	for _, kind := range []string{"os", "adapt"} {
		t.Run("read-"+kind, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(name, content, 0o600); err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 5; round++ {
				var f io.ReadCloser
				of, err := os.Open(name)
				if err != nil {
					t.Fatal(err)
				}
				of.Sync()
				unix.Fadvise(int(of.Fd()), 0, 0, unix.FADV_DONTNEED)
				if kind == "os" {
					f = of
				} else {
					of.Close()
					f, err = OpenFile(testEngine, name, os.O_RDONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
				}
				total, seen := readBlocksConcurrently(t, f, 4, size)
				f.Close()
				if total != len(content) || len(seen) != blocks {
					t.Fatalf("round %d: read %d bytes, %d distinct blocks; want %d, %d", round, total, len(seen), len(content), blocks)
				}
			}
		})
		t.Run("write-"+kind, func(t *testing.T) {
			for round := 0; round < 5; round++ {
				name := filepath.Join(t.TempDir(), "f")
				var f io.WriteCloser
				var err error
				if kind == "os" {
					f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
				} else {
					f, err = OpenFile(testEngine, name, os.O_RDWR|os.O_CREATE, 0o600)
				}
				if err != nil {
					t.Fatal(err)
				}
				const writers, each = 8, 8
				writeRecordsConcurrently(t, f, writers, each, size)
				f.Close()
				st, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() != writers*each*size {
					t.Fatalf("round %d: %d bytes in the file, want %d: concurrent Writes overwrote each other", round, st.Size(), writers*each*size)
				}
				os.Remove(name)
			}
		})
	}
}

// Stat of a file and of a directory, compared with os.
func TestAuditStatLikeOS(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	os.WriteFile(name, []byte("12345"), 0o640)
	for _, p := range []string{name, dir} {
		of, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		ofi, _ := of.Stat()
		af, err := OpenFile(testEngine, p, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		afi, err := af.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if ofi.Name() != afi.Name() || ofi.Size() != afi.Size() || ofi.Mode() != afi.Mode() ||
			!ofi.ModTime().Equal(afi.ModTime()) || ofi.IsDir() != afi.IsDir() {
			t.Errorf("%s: os %v %d %v %v; adapt %v %d %v %v", p, ofi.Name(), ofi.Size(), ofi.Mode(), ofi.ModTime(),
				afi.Name(), afi.Size(), afi.Mode(), afi.ModTime())
		}
		os1, as := statFields(ofi.Sys().(*syscall.Stat_t)), statFields(afi.Sys().(*syscall.Stat_t))
		if os1 != as {
			t.Errorf("%s: Sys differ:\nos    %+v\nadapt %+v", p, os1, as)
		}
		// Read of a directory.
		_, oerr := of.Read(make([]byte, 10))
		_, aerr := af.Read(make([]byte, 10))
		if errClass(oerr) != errClass(aerr) {
			t.Errorf("%s: Read: os %v, adapt %v", p, oerr, aerr)
		}
		of.Close()
		af.Close()
	}
}

// statFields is what a Stat_t says on every architecture, without the
// padding and the legacy fields some have (386's 32-bit X__st_ino, which
// a Stat_t made from statx(2) leaves 0).
type statFieldSet struct {
	dev, ino, nlink, rdev uint64
	mode, uid, gid        uint32
	size, blksize, blocks int64
	atim, mtim, ctim      syscall.Timespec
}

func statFields(st *syscall.Stat_t) statFieldSet {
	return statFieldSet{dev: uint64(st.Dev), ino: uint64(st.Ino), nlink: uint64(st.Nlink), rdev: uint64(st.Rdev),
		mode: uint32(st.Mode), uid: st.Uid, gid: st.Gid,
		size: int64(st.Size), blksize: int64(st.Blksize), blocks: int64(st.Blocks),
		atim: st.Atim, mtim: st.Mtim, ctim: st.Ctim}
}

// ReadAt and WriteAt of a pipe or a socket: os.File's fail with ESPIPE
// (pread and pwrite take no offset there) and leave the stream alone; the
// ring's reads and writes would ignore the offset and move the stream's
// data. An empty ReadAt or WriteAt is nil for both, as os makes no call.
func TestAuditReadAtStreamLikeOS(t *testing.T) {
	type pair struct{ r, w int }
	pipe := func() pair {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		return pair{p[0], p[1]}
	}
	socket := func() pair {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return pair{p[0], p[1]}
	}
	for _, kind := range []struct {
		name string
		make func() pair
	}{{"pipe", pipe}, {"socket", socket}} {
		t.Run(kind.name, func(t *testing.T) {
			var res [2]string
			for i := range res {
				p := kind.make()
				var r, w osLike
				if i == 0 {
					r, w = os.NewFile(uintptr(p.r), "r"), os.NewFile(uintptr(p.w), "w")
				} else {
					r, w = NewFile(testEngine, p.r, "r"), NewFile(testEngine, p.w, "w")
				}
				if _, err := w.Write([]byte("stream")); err != nil {
					t.Fatal(err)
				}
				_, rerr := r.ReadAt(make([]byte, 3), 1)
				_, werr := w.WriteAt([]byte("more"), 1)
				n0, rerr0 := r.ReadAt(nil, 1)
				n1, werr0 := w.WriteAt(nil, 1)
				w.Close()
				rest, err := io.ReadAll(r)
				r.Close()
				res[i] = fmt.Sprintf("ReadAt %s; WriteAt %s; empty %d %s, %d %s; left %q, %v",
					errClass(rerr), errClass(werr), n0, errClass(rerr0), n1, errClass(werr0), rest, err)
			}
			t.Logf("os:    %s\nadapt: %s", res[0], res[1])
			if res[0] != res[1] {
				t.Errorf("os:    %s\nadapt: %s", res[0], res[1])
			}
		})
	}
}

// A character device may take offsets (/dev/zero) or not (a terminal's
// master, /dev/ptmx): ReadAt succeeds or fails with ESPIPE as os.File's.
func TestAuditReadAtCharDeviceLikeOS(t *testing.T) {
	for _, name := range []string{"/dev/zero", "/dev/ptmx"} {
		t.Run(name, func(t *testing.T) {
			of, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
			if err != nil {
				t.Skipf("%s: %v", name, err)
			}
			defer of.Close()
			af, err := OpenFile(testEngine, name, os.O_RDWR|unix.O_NOCTTY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer af.Close()
			var res [2]string
			for i, f := range []osLike{of, af} {
				n, err := f.ReadAt(make([]byte, 8), 4096)
				res[i] = fmt.Sprintf("%d, %s", n, errClass(err))
			}
			t.Logf("os:    %s\nadapt: %s", res[0], res[1])
			if res[0] != res[1] {
				t.Errorf("os:    %s\nadapt: %s", res[0], res[1])
			}
		})
	}
}
