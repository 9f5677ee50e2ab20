package adapt

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// A File's Aios carry the promise that the File holds its descriptor
// (internal/fdhold), so a write at the file position made on its starter
// skips the look at the descriptor's kind. Seen by breaking the promise
// harmlessly: the File's number made to name /dev/null, which takes a
// blocking write at once. With the promise the write is still made on
// its starter (Stats.Direct counts it); without it the look would find a
// character device and leave the write to the backend's own path.
func TestFileAiosHoldTheirDescriptor(t *testing.T) {
	for _, be := range []aio.Backend{aio.BackendIOURing, aio.BackendPortable} {
		t.Run(string(be), func(t *testing.T) {
			e, err := aio.NewEngine(aio.Config{Backend: be})
			if err != nil {
				t.Skipf("backend %s: %v", be, err)
			}
			defer e.Close()
			path := filepath.Join(t.TempDir(), "f")
			f, err := OpenFile(e, path, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := unix.Pwritev2(f.Fd(), [][]byte{[]byte("probe")}, 0, unix.RWF_NOWAIT); err != unix.EOPNOTSUPP {
				t.Skipf("a buffered pwritev2(RWF_NOWAIT) in %s gave %v, not EOPNOTSUPP: this test needs a file system that refuses it (ext4)", filepath.Dir(path), err)
			}
			// One goroutine's operations take the File's spare Aio each
			// time. The read between the writes takes the small read's own
			// start, which must carry the promise on as the others do.
			if _, err := f.Write([]byte("regular")); err != nil {
				t.Fatal(err)
			}
			if n, err := f.ReadAt(make([]byte, 7), 0); n != 7 || err != nil {
				t.Fatalf("ReadAt: %d, %v", n, err)
			}
			direct := e.Stats().Direct
			null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Skipf("opening /dev/null: %v", err)
			}
			defer unix.Close(null)
			if err := unix.Dup3(null, f.Fd(), unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			if n, err := f.Write([]byte("held")); n != 4 || err != nil {
				t.Fatalf("Write to what is now /dev/null: %d, %v", n, err)
			}
			if got := e.Stats().Direct - direct; got != 1 {
				t.Errorf("the write made on its starter: %d, want 1 (the File's Aio looked at the descriptor's kind again)", got)
			}
		})
	}
}
