package aio_test

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/internal/pagecache"
	"golang.org/x/sys/unix"
)

// readAll reads fd from its position with ReadAt(fd, -1) through a's
// buffer until a read returns 0 bytes, and returns what it read and how
// many reads it took.
func readAll(t *testing.T, a *aio.Aio, fd int, buf []byte) ([]byte, int) {
	t.Helper()
	var got []byte
	for reads := 1; ; reads++ {
		a.SetIOV(buf)
		a.ReadAt(fd, -1)
		a.Wait()
		if err := a.Result(); err != nil {
			t.Fatalf("read %d at the file position: %v", reads, err)
		}
		if a.Count() == 0 {
			return got, reads
		}
		got = append(got, buf[:a.Count()]...)
		if reads > 1<<16 {
			t.Fatal("the file position never reached the end")
		}
	}
}

func randomContent(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Reads at the file position (ReadAt with -1, as adapt.File.Read makes
// them) of a cached regular file are tried first too, and move the
// position as the ring's would; a seek meanwhile is honoured.
func TestTryFirstAtTheFilePosition(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		content := randomContent(64 << 10)
		fd := tempFile(t, string(content), unix.O_RDONLY)
		a := e.NewAio(nil)
		defer a.Free()
		before := e.Stats()
		got, reads := readAll(t, a, fd, make([]byte, 4096))
		if !bytes.Equal(got, content) {
			t.Fatalf("read %d bytes from the position, not the file's %d (or not its bytes)", len(got), len(content))
		}
		checkTried(t, e, before, uint64(reads), false, "cached reads at the file position")
		if _, err := unix.Seek(fd, 8192, 0); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		a.SetIOV(buf)
		a.ReadAt(fd, -1)
		a.Wait()
		if a.Result() != nil || !bytes.Equal(buf[:a.Count()], content[8192:8292]) {
			t.Fatalf("after a seek to 8192: %v, %d bytes, not the file's bytes there", a.Result(), a.Count())
		}
		if pos, _ := unix.Seek(fd, 0, 1); pos != 8292 {
			t.Fatalf("the position is %d after reading 100 bytes from 8192", pos)
		}
	})
}

// A read at the file position whose first part is cached and whose rest
// is not: a try may read the first part (a short read, the position moved
// past it) and the ring or a file worker the rest; nothing is read twice
// or skipped.
func TestTryFirstAtTheFilePositionPartlyCached(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		content := randomContent(1 << 20)
		// Written a page at a time, so that the page cache holds it in
		// pages, not in folios larger than the part to be dropped.
		fd := tempFile(t, "", unix.O_RDWR)
		for off := 0; off < len(content); off += 4096 {
			if _, err := unix.Pwrite(fd, content[off:off+4096], int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Fsync(fd); err != nil {
			t.Fatal(err)
		}
		a := e.NewAio(nil)
		defer a.Free()
		buf := make([]byte, 48<<10) // not a divisor of the cached part: a read straddles its end
		for round, from := range []int64{128 << 10, 512 << 10, 4096} {
			if _, err := unix.Seek(fd, 0, 0); err != nil {
				t.Fatal(err)
			}
			pagecache.DropFrom(t, fd, from)
			got, _ := readAll(t, a, fd, buf)
			if !bytes.Equal(got, content) {
				t.Fatalf("round %d (cached below %d): read %d bytes, not the file's %d (or not its bytes)", round, from, len(got), len(content))
			}
		}
	})
}

// A read at the position of a pipe is not tried (an empty pipe's EAGAIN
// is no device's wait): it waits for data as before, through the backend,
// and with data waiting it is the backend's read too.
func TestTryFirstAtThePositionOfAPipe(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		r, w, _, _ := pipe(t)
		a := e.NewAio(nil)
		defer a.Free()
		buf := make([]byte, 16)
		a.SetIOV(buf)
		before := e.Stats()
		a.ReadAt(r, -1)
		if !a.Busy() {
			t.Fatal("a read of an empty pipe ended at once")
		}
		if _, err := unix.Write(w, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		a.Wait()
		if a.Result() != nil || string(buf[:a.Count()]) != "hello" {
			t.Fatalf("pipe read: %v, %q", a.Result(), buf[:a.Count()])
		}
		// With data waiting, too: still the backend's read, not a try.
		if _, err := unix.Write(w, []byte("again")); err != nil {
			t.Fatal(err)
		}
		a.ReadAt(r, -1)
		a.Wait()
		if a.Result() != nil || string(buf[:a.Count()]) != "again" {
			t.Fatalf("pipe read with data waiting: %v, %q", a.Result(), buf[:a.Count()])
		}
		if d := e.Stats().Direct - before.Direct; d != 0 {
			t.Fatalf("%d pipe reads counted as done directly", d)
		}
	})
}

// Writes at the file position of a regular file are made on their
// starter too (decision 68's way: RWF_NOWAIT, or a plain pwritev2 where
// the file system refuses it), and move the position as os.File.Write's
// do; with O_APPEND they append.
func TestTryFirstWriteAtTheFilePosition(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		content := randomContent(64 << 10)
		fd := tempFile(t, "", unix.O_RDWR)
		a := e.NewAio(nil)
		defer a.Free()
		before := e.Stats()
		const chunk = 4096
		for off := 0; off < len(content); off += chunk {
			a.SetIOV(content[off : off+chunk])
			a.WriteAt(fd, -1)
			a.Wait()
			if a.Result() != nil || a.Count() != chunk {
				t.Fatalf("write at the position (%d written): %v, %d bytes", off, a.Result(), a.Count())
			}
		}
		checkTried(t, e, before, uint64(len(content)/chunk), false, "writes at the file position")
		if pos, _ := unix.Seek(fd, 0, 1); pos != int64(len(content)) {
			t.Fatalf("the position is %d after writing %d bytes", pos, len(content))
		}
		got := make([]byte, len(content)+1)
		if n, err := unix.Pread(fd, got, 0); err != nil || !bytes.Equal(got[:n], content) {
			t.Fatalf("the file holds %d bytes (%v), not what was written", n, err)
		}

		afd := tempFile(t, "head:", unix.O_WRONLY|unix.O_APPEND)
		if _, err := unix.Seek(afd, 0, 0); err != nil {
			t.Fatal(err)
		}
		a.SetIOV([]byte("tail"))
		a.WriteAt(afd, -1)
		a.Wait()
		if a.Result() != nil || a.Count() != 4 {
			t.Fatalf("append at the position: %v, %d bytes", a.Result(), a.Count())
		}
		b := make([]byte, 16)
		rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(afd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(rfd)
		if n, _ := unix.Pread(rfd, b, 0); string(b[:n]) != "head:tail" {
			t.Fatalf("an O_APPEND file written at its position (moved to 0) holds %q, want \"head:tail\"", b[:n])
		}
	})
}

// A write at the position of a full pipe is never made on its starter,
// which would block there: it waits for room through the backend.
func TestTryFirstWriteAtThePositionOfAFullPipe(t *testing.T) {
	eachTryBackend(t, aio.Config{}, func(t *testing.T, e *aio.Engine) {
		r, w, _, _ := pipe(t)
		fill(t, w)
		a := e.NewAio(nil)
		defer a.Free()
		a.SetIOV([]byte("more"))
		started := make(chan struct{})
		go func() {
			a.WriteAt(w, -1) // must return: the pipe has no room
			close(started)
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("WriteAt at the position of a full pipe blocked its starter")
		}
		if !a.Busy() {
			t.Fatalf("a write to a full pipe ended at once: %v", a.Result())
		}
		drain(t, r)
		a.Wait()
		if a.Result() != nil || a.Count() != 4 {
			t.Fatalf("write to the drained pipe: %v, %d bytes", a.Result(), a.Count())
		}
	})
}
