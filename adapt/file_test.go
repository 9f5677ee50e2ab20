package adapt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/sys/unix"
)

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestFileIotest(t *testing.T) {
	want := randBytes(8_193, 1)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(testEngine, path, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// TestReader reads in many patterns (small reads, ReadAt, Seek) through
	// the io.ReaderAt and checks every byte.
	if err := iotest.TestReader(io.NewSectionReader(f, 0, int64(len(want))), want); err != nil {
		t.Error(err)
	}
	if err := iotest.TestReader(io.NewSectionReader(f, 1000, 5000), want[1000:6000]); err != nil {
		t.Error("section:", err)
	}
	// Read (the file position) through iotest's one-byte and half readers.
	for name, r := range map[string]io.Reader{"OneByte": iotest.OneByteReader(f), "Half": iotest.HalfReader(f)} {
		if _, err := unix.Seek(f.Fd(), 0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s ReadAll: %d bytes, %v; want %d bytes equal, nil", name, len(got), err, len(want))
		}
	}
	// ReadAt across the end: the bytes there are, and io.EOF.
	buf := make([]byte, 100)
	n, err := f.ReadAt(buf, int64(len(want)-40))
	if n != 40 || err != io.EOF || !bytes.Equal(buf[:40], want[len(want)-40:]) {
		t.Errorf("ReadAt across the end = %d, %v; want 40, io.EOF", n, err)
	}
	if n, err := f.ReadAt(buf, int64(len(want))); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}
	if _, err := f.ReadAt(buf, -1); err == nil {
		t.Error("ReadAt at a negative offset succeeded")
	}
}

func TestFileWriteReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt")
	f, err := Open(testEngine, path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// 32 concurrent WriteAt of 64 KiB blocks, written in a shuffled order.
	const block, blocks = 64 << 10, 32
	want := randBytes(block*blocks, 2)
	var wg sync.WaitGroup
	for _, i := range rand.Perm(blocks) {
		wg.Go(func() {
			if n, err := f.WriteAt(want[i*block:(i+1)*block], int64(i*block)); n != block || err != nil {
				t.Errorf("WriteAt block %d = %d, %v", i, n, err)
			}
		})
	}
	wg.Wait()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if n, err := f.ReadAt(got, 0); n != len(want) || err != nil {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read back differs from what was written")
	}
	// Write at the position appends after what Seek set.
	unix.Seek(f.Fd(), 0, io.SeekEnd)
	if _, err := f.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, append(want, "tail"...)) {
		t.Error("the file on disk differs from what was written")
	}

	// Closed: os.ErrClosed from everything, Close included.
	if _, err := f.ReadAt(got[:1], 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want os.ErrClosed", err)
	}
	if _, err := f.WriteAt(got[:1], 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteAt after Close: %v, want os.ErrClosed", err)
	}
	if err := f.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Sync after Close: %v, want os.ErrClosed", err)
	}
	var pe *os.PathError
	if err := f.Close(); !errors.Is(err, os.ErrClosed) || !errors.As(err, &pe) || pe.Path != path {
		t.Errorf("second Close: %v, want a *PathError for %s matching os.ErrClosed", err, path)
	}
}

// A read that cannot complete (an empty pipe) ends when its context is
// cancelled or its deadline passes, with the context's error; afterwards
// the File still works.
func TestFileContext(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil { // the tests start no process
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	r := NewFile(testEngine, p[0], "pipe")
	defer r.Close()

	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now() // before the timer is armed: it fires 30ms after this at the earliest
	time.AfterFunc(30*time.Millisecond, cancel)
	_, err := r.ReadContext(ctx, make([]byte, 8))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ReadContext: %v, want context.Canceled", err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("ReadContext returned after %v, before the cancel", el)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := r.ReadContext(ctx, make([]byte, 8)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadContext past its deadline: %v, want context.DeadlineExceeded", err)
	}

	// Data that is there is returned even with a context about to end.
	unix.Write(p[1], []byte("data"))
	buf := make([]byte, 4)
	if n, err := r.ReadContext(context.Background(), buf); n != 4 || err != nil || string(buf) != "data" {
		t.Fatalf("ReadContext after cancels = %d, %v, %q", n, err, buf)
	}

	// A context done before the call: nothing is started.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := r.ReadContext(done, buf); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadContext with a done context: %v, want context.Canceled", err)
	}

	// A write into a full pipe, cancelled: the bytes written so far are
	// counted.
	w := NewFile(testEngine, p[1], "pipe-w")
	p[1] = -1
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n, err := w.WriteContext(ctx, make([]byte, 4<<20))
	if !errors.Is(err, context.DeadlineExceeded) || n == 0 || n >= 4<<20 {
		t.Errorf("WriteContext into a full pipe = %d, %v; want a partial count and context.DeadlineExceeded", n, err)
	}
	if err := w.SyncContext(context.Background()); err == nil {
		t.Log("fsync on a pipe succeeded") // EINVAL on most kernels; either is fine
	}
	w.Close()
}
