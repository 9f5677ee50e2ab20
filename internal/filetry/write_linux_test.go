//go:build linux

package filetry

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// writeDesc describes a write of buf to fd at off.
func writeDesc(fd int, off int64, buf []byte) *op.Desc {
	d := &op.Desc{Kind: op.Write, FD: int32(fd), Off: off}
	if len(buf) > 0 {
		d.Iov.Base = &buf[0]
		d.Iov.SetLen(len(buf))
	}
	return d
}

// openIn creates a file in dir, open for reading and writing and closed
// when the test ends.
func openIn(t *testing.T, dir string, flags int) int {
	t.Helper()
	fd, err := unix.Open(filepath.Join(dir, "f"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|flags, 0o600)
	if err != nil {
		t.Skipf("opening a file in %s with flags %#x: %v", dir, flags, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// refusingFile is a file in the test's directory on a file system that
// refuses RWF_NOWAIT for buffered writes (ext4), or a skip naming why not.
func refusingFile(t *testing.T) int {
	t.Helper()
	fd := openIn(t, t.TempDir(), 0)
	if _, err := unix.Pwritev2(fd, [][]byte{[]byte("probe")}, 0, unix.RWF_NOWAIT); err != unix.EOPNOTSUPP {
		t.Skipf("a buffered pwritev2(RWF_NOWAIT) here gave %v, not EOPNOTSUPP: this test needs a file system that refuses it (ext4)", err)
	}
	return fd
}

// contents reads n bytes of fd at 0.
func contents(t *testing.T, fd, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if m, err := unix.Pread(fd, b, 0); err != nil || m != n {
		t.Fatalf("reading back: %d bytes, %v", m, err)
	}
	return b
}

func TestWriteRefusedNowaitIsMadeHere(t *testing.T) {
	fd := refusingFile(t)
	var s State
	want := bytes.Repeat([]byte("w"), 8192)
	for i := 0; i < 3; i++ {
		r, out := s.Write(writeDesc(fd, 0, want))
		if out != Done || r.Res != int32(len(want)) || r.End != op.Completed {
			t.Fatalf("write %d: %v %+v, want Done with %d", i, out, r, len(want))
		}
		if s.w.nowait != nowaitRefused {
			t.Fatalf("write %d: RWF_NOWAIT state %d, want refused", i, s.w.nowait)
		}
	}
	if got := contents(t, fd, len(want)); !bytes.Equal(got, want) {
		t.Fatal("the file does not hold what was written")
	}
	// Vectored, at an offset.
	b1, b2 := []byte("abc"), []byte("defg")
	d := writeDesc(fd, 100, nil)
	vec := []unix.Iovec{{Base: &b1[0]}, {Base: &b2[0]}}
	vec[0].SetLen(len(b1))
	vec[1].SetLen(len(b2))
	d.Vec, d.NVec = &vec[0], len(vec)
	if r, out := s.Write(d); out != Done || r.Res != 7 {
		t.Fatalf("vectored write: %v %+v, want Done with 7", out, r)
	}
	if got := string(contents(t, fd, 107)[100:]); got != "abcdefg" {
		t.Fatalf("vectored write put %q at 100", got)
	}
}

// What a refused RWF_NOWAIT leaves to the backend: a zero timeout's
// attempt (which must not wait) and a write larger than InlineMax.
func TestWriteRefusedNowaitDeclines(t *testing.T) {
	fd := refusingFile(t)
	var s State
	d := writeDesc(fd, 0, []byte("x"))
	d.Attempt = true
	if _, out := s.Write(d); out != Declined {
		t.Errorf("zero timeout's write: %v, want Declined", out)
	}
	if _, out := s.Write(writeDesc(fd, 0, make([]byte, InlineMax+1))); out != Declined {
		t.Errorf("write of InlineMax+1 bytes: %v, want Declined", out)
	}
	if _, out := s.Write(writeDesc(fd, 0, make([]byte, InlineMax))); out != Done {
		t.Errorf("write of InlineMax bytes: %v, want Done", out)
	}
}

// Where RWF_NOWAIT is taken (tmpfs), writes go through it.
func TestWriteNowaitTaken(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skipf("no tmpfs at /dev/shm (%v)", err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "filetry-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fd := openIn(t, dir, 0)
	if _, err := unix.Pwritev2(fd, [][]byte{[]byte("probe")}, 0, unix.RWF_NOWAIT); err != nil {
		t.Skipf("tmpfs refuses pwritev2(RWF_NOWAIT) here: %v", err)
	}
	var s State
	want := []byte("written without waiting")
	if r, out := s.Write(writeDesc(fd, 0, want)); out != Done || r.Res != int32(len(want)) {
		t.Fatalf("%v %+v, want Done with %d", out, r, len(want))
	}
	if s.w.nowait != nowaitTakes {
		t.Errorf("RWF_NOWAIT state %d, want taken", s.w.nowait)
	}
	if got := contents(t, fd, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("file holds %q", got)
	}
}

// fullPipe returns a pipe whose buffer is full, both ends closed when the
// test ends.
func fullPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	chunk := make([]byte, 4096)
	for {
		if _, err := unix.Write(p[1], chunk); err != nil {
			break
		}
	}
	if err := unix.SetNonblock(p[1], false); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

// A number the State saw refuse RWF_NOWAIT, reused for a full pipe before
// the flags are read again: the write must come back at once, declined
// (pwritev2 at an offset of a pipe is ESPIPE; at the file position the
// write's own look at the descriptor's kind), never wait for a reader.
func TestWriteReusedNumberNeverBlocks(t *testing.T) {
	for _, off := range []int64{0, -1} {
		fd := refusingFile(t)
		var s State
		if _, out := s.Write(writeDesc(fd, off, []byte("file"))); out != Done || s.w.nowait != nowaitRefused || off == -1 && s.kind != kindRegular {
			t.Fatalf("off %d: first write: %v, RWF_NOWAIT state %d, kind %d", off, out, s.w.nowait, s.kind)
		}
		_, w := fullPipe(t)
		if err := unix.Dup3(w, fd, unix.O_CLOEXEC); err != nil { // the file's number now names the pipe
			t.Fatal(err)
		}
		done := make(chan Outcome, 1)
		go func() {
			_, out := s.Write(writeDesc(fd, off, []byte("must not block")))
			done <- out
		}()
		select {
		case out := <-done:
			if out != Declined {
				t.Errorf("off %d: write to a full pipe: %v, want Declined", off, out)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("off %d: a write to a full pipe through a reused number blocked its caller", off)
		}
	}
}

func TestWriteDirectIsLeft(t *testing.T) {
	fd := openIn(t, t.TempDir(), unix.O_DIRECT)
	var s State
	buf := make([]byte, 4096)
	if _, out := s.Write(writeDesc(fd, 0, buf)); out != Direct {
		t.Errorf("O_DIRECT write: %v, want Direct", out)
	}
}

// Two slow inline writes in a row leave the next writeRingAfterSlow to
// the backend; one slow write alone (a preemption) does not, nor do waits
// shorter than writeSlow, as a file under writeback makes them.
func TestWriteSlowBacksOff(t *testing.T) {
	var w writeState
	for range 4 {
		w.took(500 * time.Microsecond)
	}
	if w.toRing != 0 || w.slow != 0 {
		t.Fatalf("after four writes of 500 µs: toRing %d, slow %d; want 0, 0", w.toRing, w.slow)
	}
	w.took(time.Second)
	w.took(time.Microsecond)
	if w.toRing != 0 || w.slow != 0 {
		t.Fatalf("after slow then fast: toRing %d, slow %d; want 0, 0", w.toRing, w.slow)
	}
	w.took(time.Second)
	if !w.timeNext() {
		t.Error("the write after a slow one is not timed")
	}
	w.took(time.Second)
	if w.toRing != writeRingAfterSlow {
		t.Fatalf("after two slow writes: toRing %d, want %d", w.toRing, writeRingAfterSlow)
	}
	timed := 0
	var v writeState
	for i := 0; i < 8*writeTimeEvery; i++ {
		if v.timeNext() {
			timed++
		}
	}
	if timed != 8 {
		t.Errorf("%d of %d fast writes timed, want 8", timed, 8*writeTimeEvery)
	}

	fd := refusingFile(t)
	s := State{}
	if _, out := s.Write(writeDesc(fd, 0, []byte("x"))); out != Done {
		t.Fatalf("first write: %v", out)
	}
	s.w.took(time.Second)
	s.w.took(time.Second)
	for i := 0; i < writeRingAfterSlow; i++ {
		if _, out := s.Write(writeDesc(fd, 0, []byte("x"))); out != Declined {
			t.Fatalf("write %d after two slow ones: %v, want Declined", i, out)
		}
	}
	if _, out := s.Write(writeDesc(fd, 0, []byte("x"))); out != Done {
		t.Fatalf("write after the back-off: %v, want Done", out)
	}
}

// A write at the file position for an Aio whose owner holds the
// descriptor (op.Desc.Held) skips the per-write look at its kind. Seen
// with a promise broken on purpose, harmlessly: the file's number made to
// name /dev/null, which takes a blocking write at once. Without Held the
// look finds a character device and declines; with it the State's
// remembered kind stands and the write is made here.
func TestWriteHeldSkipsTheLook(t *testing.T) {
	fd := refusingFile(t)
	var s State
	if _, out := s.Write(writeDesc(fd, -1, []byte("file"))); out != Done || s.w.nowait != nowaitRefused || s.kind != kindRegular {
		t.Fatalf("first write: %v, RWF_NOWAIT state %d, kind %d", out, s.w.nowait, s.kind)
	}
	null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("opening /dev/null: %v", err)
	}
	defer unix.Close(null)
	if err := unix.Dup3(null, fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if _, out := s.Write(writeDesc(fd, -1, []byte("not held"))); out != Declined {
		t.Errorf("write without Held to what is now /dev/null: %v, want Declined", out)
	}
	d := writeDesc(fd, -1, []byte("held"))
	d.Held = true
	if r, out := s.Write(d); out != Done || r.Res != 4 {
		t.Errorf("write with Held: %v, %d bytes; want Done, 4", out, r.Res)
	}
}
