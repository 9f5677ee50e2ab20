package adapt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// auditPair opens the same kind of file with os and with adapt, in two
// files of dir, with content.
func auditPair(t *testing.T, flag int, content []byte) (*os.File, *File) {
	t.Helper()
	dir := t.TempDir()
	op, ap := filepath.Join(dir, "os"), filepath.Join(dir, "aio")
	for _, p := range []string{op, ap} {
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	of, err := os.OpenFile(op, flag, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	af, err := OpenFile(testEngine, ap, flag, 0o600)
	if err != nil {
		of.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { of.Close(); af.Close() })
	return of, af
}

// WriteAt on a file opened with O_APPEND: os refuses it (on Linux pwrite
// would append, ignoring the offset); File must not write somewhere else
// than asked without saying so.
func TestAuditWriteAtAppend(t *testing.T) {
	of, af := auditPair(t, os.O_RDWR|os.O_APPEND, []byte("0123456789"))
	on, oerr := of.WriteAt([]byte("XY"), 2)
	an, aerr := af.WriteAt([]byte("XY"), 2)
	ob, _ := os.ReadFile(of.Name())
	ab, _ := os.ReadFile(af.Name())
	t.Logf("os: %d, %v, file %q; adapt: %d, %v, file %q", on, oerr, ob, an, aerr, ab)
	if (oerr == nil) != (aerr == nil) || !bytes.Equal(ob, ab) {
		t.Errorf("WriteAt on O_APPEND: os %d, %v (file %q); adapt %d, %v (file %q)", on, oerr, ob, an, aerr, ab)
	}
}

// Write on an O_APPEND file lands at the end, and the position follows it.
func TestAuditAppendWriteSeek(t *testing.T) {
	of, af := auditPair(t, os.O_RDWR|os.O_APPEND, []byte("0123456789"))
	for _, f := range []osLike{of, af} {
		if _, err := f.Seek(3, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("abc")); err != nil {
			t.Fatal(err)
		}
	}
	oo, oerr := of.Seek(0, io.SeekCurrent)
	ao, aerr := af.Seek(0, io.SeekCurrent)
	if oo != ao || oerr != nil || aerr != nil {
		t.Errorf("position after an append: os %d, %v; adapt %d, %v", oo, oerr, ao, aerr)
	}
	ob, _ := os.ReadFile(of.Name())
	ab, _ := os.ReadFile(af.Name())
	if !bytes.Equal(ob, ab) {
		t.Errorf("content: os %q, adapt %q", ob, ab)
	}
}

// ReadAt neither uses nor moves the position; Read and Write after Seek do.
func TestAuditReadAtKeepsPosition(t *testing.T) {
	of, af := auditPair(t, os.O_RDWR, []byte("0123456789abcdef"))
	var res [2]string
	for i, f := range []osLike{of, af} {
		var log bytes.Buffer
		f.Seek(4, io.SeekStart)
		b := make([]byte, 3)
		n, err := f.ReadAt(b, 10)
		fmt.Fprintf(&log, "ReadAt %q %v;", b[:n], err)
		pos, _ := f.Seek(0, io.SeekCurrent)
		fmt.Fprintf(&log, "pos %d;", pos)
		n, err = f.Read(b)
		fmt.Fprintf(&log, "Read %q %v;", b[:n], err)
		n, err = f.WriteAt([]byte("ZZ"), 0)
		fmt.Fprintf(&log, "WriteAt %d %v;", n, err)
		pos, _ = f.Seek(0, io.SeekCurrent)
		fmt.Fprintf(&log, "pos %d;", pos)
		n, err = f.ReadAt(make([]byte, 20), 5)
		fmt.Fprintf(&log, "ReadAt past end %d %v;", n, err)
		n, err = f.ReadAt(make([]byte, 0), 100)
		fmt.Fprintf(&log, "ReadAt empty %d %v;", n, err)
		n, err = f.Read(make([]byte, 0))
		fmt.Fprintf(&log, "Read empty %d %v;", n, err)
		pos, _ = f.Seek(0, io.SeekCurrent)
		fmt.Fprintf(&log, "pos %d;", pos)
		res[i] = log.String()
	}
	t.Logf("os:    %s\nadapt: %s", res[0], res[1])
	if res[0] != res[1] {
		t.Errorf("os:    %s\nadapt: %s", res[0], res[1])
	}
}

// Argument errors on a closed file come in os's order: a negative offset
// is reported before the closed file, as os.File reports it.
func TestAuditClosedFileNegativeOffset(t *testing.T) {
	of, af := auditPair(t, os.O_RDWR, []byte("x"))
	var res [2]string
	for i, f := range []osLike{of, af} {
		f.Close()
		_, rerr := f.ReadAt(make([]byte, 1), -1)
		_, werr := f.WriteAt([]byte("x"), -1)
		res[i] = errClass(rerr) + "; " + errClass(werr)
	}
	t.Logf("os:    %s\nadapt: %s", res[0], res[1])
	if res[0] != res[1] {
		t.Errorf("os:    %s\nadapt: %s", res[0], res[1])
	}
}

// Concurrent Writes at the file position each land whole and apart, as
// write(2) on an *os.File does (the kernel serialises the position).
func TestAuditConcurrentWritesShareThePosition(t *testing.T) {
	for _, kind := range []string{"os", "adapt"} {
		t.Run(kind, func(t *testing.T) {
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
			const writers, each, size = 4, 300, 100
			writeRecordsConcurrently(t, f, writers, each, size)
			f.Close()
			got, _ := os.ReadFile(name)
			if len(got) != writers*each*size {
				t.Errorf("%d bytes in the file, want %d: concurrent Writes overwrote each other", len(got), writers*each*size)
			}
			counts := map[byte]int{}
			for i := 0; i+size <= len(got); i += size {
				if !bytes.Equal(got[i:i+size], bytes.Repeat(got[i:i+1], size)) {
					t.Errorf("record at %d is mixed", i)
					break
				}
				counts[got[i]]++
			}
			t.Logf("records per writer: %v", counts)
		})
	}
}

// Concurrent Reads at the file position each get different bytes, as
// read(2) on an *os.File does: together they read the file once.
func TestAuditConcurrentReadsShareThePosition(t *testing.T) {
	const blocks, size = 2000, 512
	content := make([]byte, blocks*size)
	for i := 0; i < blocks; i++ {
		copy(content[i*size:], fmt.Sprintf("%08d", i))
	}
	for _, kind := range []string{"os", "adapt"} {
		t.Run(kind, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(name, content, 0o600); err != nil {
				t.Fatal(err)
			}
			var f io.ReadCloser
			var err error
			if kind == "os" {
				f, err = os.Open(name)
			} else {
				f, err = OpenFile(testEngine, name, os.O_RDONLY, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			total, seen := readBlocksConcurrently(t, f, 4, size)
			if total != len(content) || len(seen) != blocks {
				t.Errorf("read %d bytes, %d distinct blocks; want %d, %d", total, len(seen), len(content), blocks)
			}
		})
	}
}

// Errors after Close match os.ErrClosed for every method, as os's do.
func TestAuditClosedFileErrors(t *testing.T) {
	of, af := auditPair(t, os.O_RDWR, []byte("x"))
	for _, f := range []osLike{of, af} {
		f.Close()
		calls := map[string]error{}
		_, calls["ReadAt"] = f.ReadAt(make([]byte, 1), 0)
		_, calls["WriteAt"] = f.WriteAt([]byte("x"), 0)
		_, calls["ReadFrom"] = f.ReadFrom(bytes.NewReader([]byte("x")))
		_, calls["WriteTo"] = f.WriteTo(io.Discard)
		calls["Sync"] = f.Sync()
		_, calls["Write(nil)"] = f.Write(nil)
		_, calls["Read(empty)"] = f.Read(nil)
		_, calls["Seek"] = f.Seek(0, io.SeekStart)
		_, calls["Stat"] = f.Stat()
		calls["Close"] = f.Close()
		for name, err := range calls {
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("%T.%s after Close: %v, want os.ErrClosed", f, name, err)
			}
		}
	}
}

// ReadFrom a limited reader and a socket, WriteTo a socket: the same
// counts, errors and bytes as os.File's.
func TestAuditReadFromWriteToLikeOS(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 100000)
	of, af := auditPair(t, os.O_RDWR, content)
	var res [2]string
	for i, f := range []osLike{of, af} {
		var log bytes.Buffer
		f.Seek(5, io.SeekStart)
		n, err := f.ReadFrom(io.LimitReader(bytes.NewReader(bytes.Repeat([]byte("L"), 1<<20)), 300001))
		pos, _ := f.Seek(0, io.SeekCurrent)
		fmt.Fprintf(&log, "ReadFrom limited %d %v pos %d;", n, err, pos)
		n, err = f.ReadFrom(iotestErrReader{})
		fmt.Fprintf(&log, "ReadFrom failing %d %v;", n, err)

		// A socket as source and as destination.
		c1, c2 := auditNetPipe(t)
		go func() {
			c2.Write(bytes.Repeat([]byte("S"), 70000))
			c2.Close()
		}()
		n, err = f.ReadFrom(c1)
		pos, _ = f.Seek(0, io.SeekCurrent)
		fmt.Fprintf(&log, "ReadFrom socket %d %v pos %d;", n, err, pos)
		c1.Close()

		c3, c4 := auditNetPipe(t)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(c4)
			got <- b
		}()
		f.Seek(-123456, io.SeekEnd)
		n, err = f.WriteTo(c3)
		c3.Close()
		b := <-got
		c4.Close()
		pos, _ = f.Seek(0, io.SeekCurrent)
		fmt.Fprintf(&log, "WriteTo socket %d %v pos %d received %d sum %x;", n, err, pos, len(b), crc(b))
		fi, _ := f.Stat()
		fmt.Fprintf(&log, "size %d", fi.Size())
		res[i] = log.String()
	}
	t.Logf("os:    %s\nadapt: %s", res[0], res[1])
	if res[0] != res[1] {
		t.Errorf("os:    %s\nadapt: %s", res[0], res[1])
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read(p []byte) (int, error) {
	copy(p, "abc")
	return 3, errors.New("reader failed")
}

func crc(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// auditNetPipe is a loopback TCP connection made by package net.
func auditNetPipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c1, c2
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// OpenFile's flags as os.OpenFile's, and no descriptor left behind.
func TestAuditOpenFlagsLikeOS(t *testing.T) {
	before := openFDs(t)
	dir := t.TempDir()
	var res [2]string
	for i, kind := range []string{"os", "adapt"} {
		var log bytes.Buffer
		name := filepath.Join(dir, kind)
		open := func(flag int) (osLike, error) {
			if kind == "os" {
				return os.OpenFile(name, flag, 0o600)
			}
			f, err := OpenFile(testEngine, name, flag, 0o600)
			if err != nil {
				return nil, err
			}
			return f, nil
		}
		try := func(what string, flag int, do func(f osLike) string) {
			f, err := open(flag)
			if err != nil {
				fmt.Fprintf(&log, "%s: open %s;", what, errClass(err))
				return
			}
			fmt.Fprintf(&log, "%s: %s;", what, do(f))
			fmt.Fprintf(&log, "close %s;", errClass(f.Close()))
		}
		write := func(s string) func(f osLike) string {
			return func(f osLike) string {
				n, err := f.Write([]byte(s))
				return fmt.Sprintf("write %d %s", n, errClass(err))
			}
		}
		read := func(f osLike) string {
			b, err := io.ReadAll(f)
			return fmt.Sprintf("read %q %s", b, errClass(err))
		}
		try("excl create", os.O_RDWR|os.O_CREATE|os.O_EXCL, write("hello"))
		try("excl again", os.O_RDWR|os.O_CREATE|os.O_EXCL, write("x"))
		try("append", os.O_WRONLY|os.O_APPEND, write(" world"))
		try("rdonly", os.O_RDONLY, read)
		try("rdonly write", os.O_RDONLY, write("x"))
		try("wronly read", os.O_WRONLY, read)
		try("trunc", os.O_RDWR|os.O_TRUNC, read)
		try("trunc write", os.O_RDWR|os.O_TRUNC, write("ab"))
		try("rdonly2", os.O_RDONLY, read)
		res[i] = log.String()
	}
	t.Logf("os:    %s\nadapt: %s", res[0], res[1])
	if res[0] != res[1] {
		t.Errorf("os:    %s\nadapt: %s", res[0], res[1])
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open before, %d after", before, after)
	}
}

// A Seek racing Close never reaches the descriptor after Close has closed
// it: another file opened meanwhile may have been given the same number,
// and an *os.File's Seek never moves it (os holds the descriptor for the
// call).
func TestAuditSeekRacingClose(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, make([]byte, 100), 0o600)
	os.WriteFile(b, make([]byte, 100), 0o600)
	hits := 0
	for i := 0; i < 10000; i++ {
		f, err := OpenFile(testEngine, a, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					if _, err := f.Seek(7, io.SeekStart); err != nil {
						return
					}
				}
			}()
		}
		close(start)
		f.Close()
		g, err := os.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if off, _ := g.Seek(0, io.SeekCurrent); off != 0 {
			hits++
		}
		g.Close()
	}
	if hits > 0 {
		t.Errorf("%d times a Seek after Close moved another file's position", hits)
	}
}

// A large Write arrives whole and in order, on both paths.
func TestAuditConnLargeWrite(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2 := tcpPair(t, e)
		data := auditPattern(4 << 20)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(c2)
			got <- b
		}()
		n, err := c1.Write(data)
		if n != len(data) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		c1.(*Conn).CloseWrite()
		if b := <-got; !bytes.Equal(b, data) {
			t.Fatalf("received %d bytes, not the %d written", len(b), len(data))
		}
	})
}

// A Write stopped by its deadline (the peer reads nothing) reports exactly
// what the peer then receives; a Write with a deadline already past fails
// at once with a timeout and sends nothing.
func TestAuditConnWriteDeadlineCount(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2 := tcpPair(t, e)
		data := auditPattern(16 << 20)
		c1.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c1.Write(data)
		if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= len(data) {
			t.Fatalf("Write past its deadline: %d, %v", n, err)
		}
		m, err := c1.Write([]byte("more"))
		if m != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write after the deadline: %d, %v", m, err)
		}
		c1.SetWriteDeadline(time.Time{})
		c1.(*Conn).CloseWrite()
		b, err := io.ReadAll(c2)
		if err != nil || !bytes.Equal(b, data[:n]) {
			t.Fatalf("peer got %d bytes (%v), Write reported %d", len(b), err, n)
		}
	})
}

// Close of a Conn whose Write is blocked ends it with net.ErrClosed and the
// count of what was sent; what the peer receives is no more than that.
func TestAuditConnCloseUnblocksWrite(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2 := tcpPair(t, e)
		data := auditPattern(16 << 20)
		type res struct {
			n   int
			err error
		}
		ch := make(chan res, 1)
		go func() {
			n, err := c1.Write(data)
			ch <- res{n, err}
		}()
		time.Sleep(200 * time.Millisecond)
		c1.Close()
		var r res
		select {
		case r = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not end the blocked Write")
		}
		if !errors.Is(r.err, net.ErrClosed) || r.n <= 0 {
			t.Fatalf("Write ended by Close: %d, %v", r.n, r.err)
		}
		b, _ := io.ReadAll(c2)
		if len(b) > r.n || !bytes.Equal(b, data[:len(b)]) {
			t.Fatalf("peer got %d bytes, Write reported %d", len(b), r.n)
		}
	})
}

// Half-close: after CloseWrite the peer reads io.EOF and can still answer;
// CloseRead and CloseWrite after Close give net.ErrClosed; as *net.TCPConn.
func TestAuditConnHalfClose(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2 := tcpPair(t, e)
		c1.Write([]byte("req"))
		if err := c1.(*Conn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c2)
		if string(b) != "req" || err != nil {
			t.Fatalf("peer read %q, %v", b, err)
		}
		c2.Write([]byte("resp"))
		c2.Close()
		b, err = io.ReadAll(c1)
		if string(b) != "resp" || err != nil {
			t.Fatalf("half-closed side read %q, %v", b, err)
		}
		if _, err := c1.Write([]byte("x")); err == nil {
			t.Error("Write after CloseWrite succeeded")
		}
		c1.Close()
		if err := c1.(*Conn).CloseWrite(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("CloseWrite after Close: %v", err)
		}
		if err := c1.(*Conn).CloseRead(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("CloseRead after Close: %v", err)
		}
	})
}

// A deadline in the past makes Read and Write fail at once with a timeout,
// losing nothing: data sent before is read once the deadline is lifted.
func TestAuditConnPastDeadline(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2 := tcpPair(t, e)
		c2.Write([]byte("data"))
		time.Sleep(50 * time.Millisecond)
		c1.SetDeadline(time.Now().Add(-time.Second))
		if n, err := c1.Read(make([]byte, 4)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read past deadline: %d, %v", n, err)
		}
		if n, err := c1.Write([]byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Write past deadline: %d, %v", n, err)
		}
		c1.SetDeadline(time.Time{})
		b := make([]byte, 4)
		if n, err := io.ReadFull(c1, b); n != 4 || err != nil || string(b) != "data" {
			t.Errorf("Read after lifting the deadline: %q, %v", b[:n], err)
		}
	})
}

// Listener: Close unblocks Accept on both paths; a past deadline times
// Accept out; a unix listener's Addr and file removal are as net's.
func TestAuditListener(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		l, err := Listen(e, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.SetDeadline(time.Now().Add(-time.Second))
		if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Accept past deadline: %v", err)
		}
		l.SetDeadline(time.Now().Add(100 * time.Millisecond))
		start := time.Now()
		if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Accept with a deadline: %v", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("Accept with a 100ms deadline took %v", time.Since(start))
		}
		l.SetDeadline(time.Time{})
		errc := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			errc <- err
		}()
		waitAccepting(t, l)
		l.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept ended by Close: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not end Accept")
		}
		if err := l.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("SetDeadline after Close: %v", err)
		}

		path := filepath.Join(t.TempDir(), "s")
		ul, err := Listen(e, "unix", path)
		if err != nil {
			t.Fatal(err)
		}
		nl, err := net.Listen("unix", path+"2")
		if err != nil {
			t.Fatal(err)
		}
		if ul.Addr().String() != path || ul.Addr().Network() != nl.Addr().Network() {
			t.Errorf("unix Addr %q %q, net's %q %q", ul.Addr(), ul.Addr().Network(), nl.Addr(), nl.Addr().Network())
		}
		if _, err := Listen(e, "unix", path); err == nil {
			t.Error("a second Listen on the same path succeeded")
		} else if _, nerr := net.Listen("unix", path+"2"); !errors.Is(err, errors.Unwrap(errors.Unwrap(nerr))) {
			t.Logf("second Listen: adapt %v, net %v", err, nerr)
		}
		ul.Close()
		nl.Close()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("the socket file is still there after Close: %v", err)
		}
	})
}

// Dial, Accept, traffic and Close in a loop leave no descriptor behind, on
// either path; nor do failed Dials.
func TestAuditConnNoDescriptorLeak(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		warm := func() {
			c1, c2, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c1.Write([]byte("x"))
			c2.Read(make([]byte, 1))
			stop()
		}
		warm()
		before := openFDs(t)
		for i := 0; i < 20; i++ {
			warm()
		}
		l, _ := Listen(e, "tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		for i := 0; i < 10; i++ {
			if c, err := Dial(context.Background(), e, "tcp", addr); err == nil {
				c.Close()
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if c, err := Dial(ctx, e, "tcp", addr); err == nil {
			c.Close()
			t.Error("Dial with a cancelled context succeeded")
		}
		if after := openFDs(t); after > before {
			t.Errorf("%d descriptors before, %d after", before, after)
		}
	})
}

// Concurrent Close of a Conn while Reads and Writes run in many goroutines
// ends them all, with net.ErrClosed, and never hangs.
func TestAuditConnCloseUnderLoad(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		for round := 0; round < 20; round++ {
			c1, c2, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, c2)
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(2)
				go func() {
					defer wg.Done()
					b := make([]byte, 100)
					for {
						if _, err := c1.Read(b); err != nil {
							if !errors.Is(err, net.ErrClosed) {
								t.Errorf("Read: %v", err)
							}
							return
						}
					}
				}()
				go func() {
					defer wg.Done()
					b := make([]byte, 4096)
					for {
						if _, err := c1.Write(b); err != nil {
							if !errors.Is(err, net.ErrClosed) {
								t.Errorf("Write: %v", err)
							}
							return
						}
					}
				}()
			}
			time.Sleep(time.Duration(round%4) * time.Millisecond)
			c1.Close()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not end the Reads and Writes")
			}
			stop()
		}
	})
}

// Dial errors match net.Dial's: a refused TCP port and a missing unix
// socket give the same errno, inside a "dial" *net.OpError.
func TestAuditDialErrorsLikeNet(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	missing := filepath.Join(t.TempDir(), "none")
	for _, tc := range []struct{ network, addr string }{{"tcp", addr}, {"unix", missing}} {
		_, nerr := net.Dial(tc.network, tc.addr)
		_, aerr := Dial(context.Background(), testEngine, tc.network, tc.addr)
		var no, ao *net.OpError
		if !errors.As(nerr, &no) || !errors.As(aerr, &ao) || no.Op != ao.Op || no.Net != ao.Net {
			t.Errorf("%s: net %v, adapt %v", tc.network, nerr, aerr)
			continue
		}
		var ne, ae *os.SyscallError
		if !errors.As(nerr, &ne) || !errors.As(aerr, &ae) || ne.Err != ae.Err || ne.Syscall != ae.Syscall {
			t.Errorf("%s: net %v, adapt %v", tc.network, nerr, aerr)
		}
		t.Logf("%s: net %v; adapt %v", tc.network, nerr, aerr)
	}
}

// Writing to a connection the peer reset, and reading from it, fail as
// net's do: an *os.SyscallError named "write" or "read" with the errno.
func TestAuditConnResetErrorsLikeNet(t *testing.T) {
	shape := func(t *testing.T, c1, c2 net.Conn) string {
		c2.(interface{ SetLinger(int) error }).SetLinger(0)
		c2.Close() // an RST
		time.Sleep(50 * time.Millisecond)
		var werr, rerr error
		for i := 0; i < 100 && werr == nil; i++ {
			_, werr = c1.Write([]byte("x"))
			time.Sleep(time.Millisecond)
		}
		_, rerr = c1.Read(make([]byte, 1))
		var out string
		for _, err := range []error{werr, rerr} {
			var se *os.SyscallError
			var oe *net.OpError
			if errors.As(err, &oe) && errors.As(err, &se) {
				out += oe.Op + " " + se.Syscall + ": " + se.Err.Error() + "; "
			} else {
				out += "other " + errString(err) + "; "
			}
		}
		return out
	}
	n1, n2 := auditNetPipe(t)
	defer n1.Close()
	want := shape(t, n1, n2)
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2 := tcpPair(t, e)
		nc2 := c2.(*Conn)
		// SetLinger through the raw socket.
		lin := lingerConn{nc2}
		got := shape(t, c1, lin)
		t.Logf("net:   %s\nadapt: %s", want, got)
		if got != want {
			t.Errorf("net:   %s\nadapt: %s", want, got)
		}
	})
}

type lingerConn struct{ *Conn }

func (c lingerConn) SetLinger(sec int) error {
	return unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: int32(sec)})
}

// auditPattern is n bytes of a 251-byte pattern (a prime length, so a lost
// or repeated chunk of any power-of-two size shows), made fast.
func auditPattern(n int) []byte {
	p := make([]byte, 251)
	for i := range p {
		p[i] = byte(i)
	}
	return bytes.Repeat(p, n/251+1)[:n]
}

// readBlocksConcurrently reads f to its end with readers goroutines, each
// reading size bytes at a time at the shared position, and returns the
// bytes read and how often each block (named by its first 8 bytes) came.
func readBlocksConcurrently(t *testing.T, f io.Reader, readers, size int) (total int, seen map[string]int) {
	var mu sync.Mutex
	seen = map[string]int{}
	var wg sync.WaitGroup
	for g := 0; g < readers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, size)
			for {
				n, err := io.ReadFull(f, b)
				if err != nil {
					if n != 0 || err != io.EOF {
						t.Errorf("ReadFull: %d, %v", n, err)
					}
					return
				}
				mu.Lock()
				total += n
				seen[string(b[:8])]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return total, seen
}

// writeRecordsConcurrently writes to f at its shared position from
// writers goroutines, each each records of size bytes of its own letter
// ('a' + its number).
func writeRecordsConcurrently(t *testing.T, f io.Writer, writers, each, size int) {
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := bytes.Repeat([]byte{byte('a' + w)}, size)
			for i := 0; i < each; i++ {
				if n, err := f.Write(rec); n != size || err != nil {
					t.Errorf("Write: %d, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
