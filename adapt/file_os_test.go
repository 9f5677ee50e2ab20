package adapt

// File against *os.File: the same calls on both, the same results
// (issue 18: "adapt.File becomes what an *os.File user expects").

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// osLike is what the comparison calls on both.
type osLike interface {
	io.ReadWriteSeeker
	io.ReaderAt
	io.WriterAt
	io.ReaderFrom
	io.WriterTo
	io.Closer
	Stat() (fs.FileInfo, error)
	Sync() error
}

var (
	_ osLike = (*os.File)(nil)
	_ osLike = (*File)(nil)
)

// step is one call and what it returned, printed for comparison.
type step struct {
	what string
	n    int64
	data string
	err  string
}

// errClass reduces an error to what a caller of *os.File tests: nil,
// io.EOF, or the underlying errno / os sentinel, with the operation.
func errClass(err error) string {
	var pe *fs.PathError
	switch {
	case err == nil:
		return "nil"
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, os.ErrClosed):
		if errors.As(err, &pe) {
			return pe.Op + ": closed"
		}
		return "closed (not a PathError)"
	case errors.As(err, &pe):
		var errno syscall.Errno
		if errors.As(pe.Err, &errno) {
			return pe.Op + ": " + errno.Error()
		}
		return pe.Op + ": " + pe.Err.Error()
	}
	return "other: " + err.Error()
}

// script runs the same sequence on f and records every result.
func script(t *testing.T, f osLike) []step {
	var out []step
	add := func(what string, n int64, data []byte, err error) {
		out = append(out, step{what, n, string(data), errClass(err)})
	}
	n, err := f.Write([]byte("hello, world\n"))
	add("Write", int64(n), nil, err)
	n, err = f.Write(nil)
	add("Write(nil)", int64(n), nil, err)
	off, err := f.Seek(0, io.SeekCurrent)
	add("Seek(0,cur)", off, nil, err)
	off, err = f.Seek(0, io.SeekStart)
	add("Seek(0,start)", off, nil, err)
	buf := make([]byte, 5)
	n, err = f.Read(buf)
	add("Read5", int64(n), buf[:n], err)
	all, err := io.ReadAll(f)
	add("ReadAll", int64(len(all)), all, err)
	n, err = f.Read(buf)
	add("Read at EOF", int64(n), buf[:n], err)
	off, err = f.Seek(-6, io.SeekEnd)
	add("Seek(-6,end)", off, nil, err)
	n, err = f.Read(buf[:3])
	add("Read3", int64(n), buf[:n], err)
	off, err = f.Seek(-100, io.SeekCurrent)
	add("Seek negative", off, nil, err)
	off, err = f.Seek(0, 7)
	add("Seek bad whence", off, nil, err)
	off, err = f.Seek(100, io.SeekStart)
	add("Seek past end", off, nil, err)
	n, err = f.Read(buf)
	add("Read past end", int64(n), buf[:n], err)
	n, err = f.Write([]byte("X"))
	add("Write past end", int64(n), nil, err)
	off, err = f.Seek(0, io.SeekEnd)
	add("Seek(0,end)", off, nil, err)
	m, err := f.ReadFrom(strings.NewReader(strings.Repeat("abc", 100000)))
	add("ReadFrom", m, nil, err)
	off, err = f.Seek(90, io.SeekStart)
	add("Seek(90)", off, nil, err)
	var sink bytes.Buffer
	m, err = f.WriteTo(&sink)
	add("WriteTo", m, sink.Bytes()[:20], err)
	m, err = f.WriteTo(&sink)
	add("WriteTo at end", m, nil, err)
	at := make([]byte, 8)
	n, err = f.ReadAt(at, 7)
	add("ReadAt", int64(n), at[:n], err)
	n, err = f.WriteAt([]byte("W"), 0)
	add("WriteAt", int64(n), nil, err)
	fi, err := f.Stat()
	if err == nil {
		add("Stat "+fi.Name()+" "+fi.Mode().String(), fi.Size(), []byte(fi.ModTime().String()), err)
		if _, ok := fi.Sys().(*syscall.Stat_t); !ok {
			add("Stat Sys type", 0, nil, errors.New("Sys is not a *syscall.Stat_t"))
		}
	} else {
		add("Stat", 0, nil, err)
	}
	add("Sync", 0, nil, f.Sync())
	add("Close", 0, nil, f.Close())
	add("Close again", 0, nil, f.Close())
	n, err = f.Read(buf)
	add("Read after Close", int64(n), nil, err)
	n, err = f.Write(buf)
	add("Write after Close", int64(n), nil, err)
	off, err = f.Seek(0, io.SeekStart)
	add("Seek after Close", off, nil, err)
	_, err = f.Stat()
	add("Stat after Close", 0, nil, err)
	return out
}

func TestFileLikeOSFile(t *testing.T) {
	dir := t.TempDir()
	osPath, ioPath := filepath.Join(dir, "os", "f"), filepath.Join(dir, "aio", "f")
	os.Mkdir(filepath.Dir(osPath), 0o700)
	os.Mkdir(filepath.Dir(ioPath), 0o700)
	of, err := os.OpenFile(osPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	af, err := OpenFile(testEngine, ioPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	// The same modification time, so Stat's can be compared too.
	want, got := script(t, of), script(t, af)
	for i := range want {
		w, g := want[i], got[i]
		if strings.HasPrefix(w.what, "Stat ") {
			w.data, g.data = "", "" // the times differ by when each was written
		}
		if w != g {
			t.Errorf("step %d: *os.File %+v, adapt.File %+v", i, w, g)
		}
	}
	a, _ := os.ReadFile(osPath)
	b, _ := os.ReadFile(ioPath)
	if !bytes.Equal(a, b) {
		t.Errorf("the files differ: %d and %d bytes", len(a), len(b))
	}
}

func TestOpenFileErrorsLikeOS(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "e")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		flag int
	}{
		{filepath.Join(dir, "missing"), os.O_RDONLY},
		{existing, os.O_RDWR | os.O_CREATE | os.O_EXCL},
		{dir, os.O_WRONLY},
		{filepath.Join(existing, "below"), os.O_RDONLY},
		{"bad\x00name", os.O_RDONLY},
	} {
		_, oerr := os.OpenFile(tc.name, tc.flag, 0o600)
		f, aerr := OpenFile(testEngine, tc.name, tc.flag, 0o600)
		if f != nil {
			f.Close()
		}
		var ope, ape *fs.PathError
		if !errors.As(oerr, &ope) || !errors.As(aerr, &ape) || ape.Op != "open" || ape.Path != tc.name {
			t.Errorf("%q: os %v, adapt %v: want *fs.PathError open", tc.name, oerr, aerr)
			continue
		}
		for _, target := range []error{fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid} {
			if errors.Is(oerr, target) != errors.Is(aerr, target) {
				t.Errorf("%q: errors.Is(_, %v): os %v (%v), adapt %v (%v)", tc.name, target,
					errors.Is(oerr, target), oerr, errors.Is(aerr, target), aerr)
			}
		}
	}
	// The permissions os.OpenFile would give.
	p := filepath.Join(dir, "perm")
	f, err := OpenFile(testEngine, p, os.O_WRONLY|os.O_CREATE, 0o604)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	q := filepath.Join(dir, "perm-os")
	g, err := os.OpenFile(q, os.O_WRONLY|os.O_CREATE, 0o604)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	fa, _ := os.Stat(p)
	fo, _ := os.Stat(q)
	if fa.Mode() != fo.Mode() {
		t.Errorf("mode %v, os.OpenFile gives %v", fa.Mode(), fo.Mode())
	}
}
