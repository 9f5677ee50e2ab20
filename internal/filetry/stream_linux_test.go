//go:build linux

package filetry

import (
	"testing"

	"github.com/aioring/aioring/internal/op"
	"golang.org/x/sys/unix"
)

// TestStreamMarked: a read or write the try declines because its
// descriptor is a pipe (ESPIPE at an offset, not a regular file at the
// file position) is marked d.Stream, which is how the aio package learns
// that the ring's request may wait without end (aio/fdcancel.go); a
// regular file's never is, whatever the try's outcome.
func TestStreamMarked(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	file := openIn(t, t.TempDir(), 0)
	buf := make([]byte, 64)
	for _, c := range []struct {
		name   string
		fd     int
		kind   op.Kind
		off    int64
		stream bool
	}{
		{"pipe read at 0", p[0], op.Read, 0, true},
		{"pipe read at the position", p[0], op.Read, -1, true},
		{"pipe write at 0", p[1], op.Write, 0, true},
		{"pipe write at the position", p[1], op.Write, -1, true},
		{"file read at 0", file, op.Read, 0, false},
		{"file read at the position", file, op.Read, -1, false},
		{"file write at 0", file, op.Write, 0, false},
		{"file write at the position", file, op.Write, -1, false},
	} {
		var s State
		d := writeDesc(c.fd, c.off, buf)
		d.Kind = c.kind
		var out Outcome
		if c.kind == op.Read {
			_, out = s.Read(d)
		} else {
			_, out = s.Write(d)
		}
		if d.Stream != c.stream {
			t.Errorf("%s: Stream %v (outcome %d), want %v", c.name, d.Stream, out, c.stream)
		}
	}
}
