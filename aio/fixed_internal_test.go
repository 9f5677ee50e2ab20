//go:build linux

package aio

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Operations through registered buffers and descriptors allocate nothing
// on a reused Aio, and neither do plain operations on an engine that has
// registrations (the lookup is the only cost they add). Both backends.
func TestFixedZeroAllocsPerOp(t *testing.T) {
	allocsOnEachBackend(t, func(t *testing.T, e *Engine) {
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, make([]byte, 1<<16), 0o600); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		for _, f := range []int{fd, fds[0], fds[1]} {
			if err := e.RegisterFD(f); err != nil {
				t.Fatal(err)
			}
		}
		fb, err := e.FixedBuffer(1 << 16)
		if err != nil {
			t.Fatal(err)
		}
		plain := make([]byte, 4096)
		a, s, r := e.NewAio(nil), e.NewAio(nil), e.NewAio(nil)
		s.SetIOV(fb[8192:8256])
		r.SetIOV(fb[16384:16448])
		check := func(x *Aio, what string, n int) {
			if x.Result() != nil || x.Count() != n {
				t.Fatalf("%s: %v %d", what, x.Result(), x.Count())
			}
		}
		for _, tc := range []struct {
			name string
			op   func()
		}{
			{"ReadAtFixed", func() { a.SetIOV(fb[:4096]); a.ReadAt(fd, 0); a.Wait(); check(a, "ReadAt", 4096) }},
			{"WriteAtFixed", func() { a.SetIOV(fb[:4096]); a.WriteAt(fd, 4096); a.Wait(); check(a, "WriteAt", 4096) }},
			{"ReadvFixed", func() { a.SetIOV(fb[:512], fb[1024:1536]); a.ReadAt(fd, 0); a.Wait(); check(a, "ReadAt", 1024) }},
			{"ReadAtPlain", func() { a.SetIOV(plain); a.ReadAt(fd, 0); a.Wait(); check(a, "ReadAt", 4096) }},
			{"SendRecvFixedFD", func() {
				s.Send(fds[0])
				r.Recv(fds[1])
				s.Wait()
				r.Wait()
				check(r, "Recv", 64)
			}},
		} {
			tc.op() // warm up
			tc.op()
			if n := testing.AllocsPerRun(200, tc.op); n != 0 {
				t.Errorf("%s: %.2f allocations per op, want 0", tc.name, n)
			}
		}
		a.Free()
		s.Free()
		r.Free()
		if err := e.FreeFixedBuffer(fb); err != nil {
			t.Fatalf("FreeFixedBuffer after the operations: %v (a use was not dropped)", err)
		}
	})
}

// A storm on the registrations: readers read two files and two sockets
// (each holding bytes of one letter) through registered buffers, with
// random timeouts and cancels, while another goroutine registers and
// unregisters the four descriptors over and over (so slots are emptied
// and reused under them) and allocates and frees other buffers (so the
// snapshots and buffer slots change under them). Every read ends with
// bytes of its own source's letter, or cancelled, or timed out: never
// EBADF (a slot emptied under a queued operation) and never another
// source's bytes (a slot reused under one). Afterwards every buffer frees (every use was
// dropped) and every slot comes back. Both backends.
func TestFixedStorm(t *testing.T) {
	for _, be := range []Backend{BackendIOURing, BackendPortable} {
		t.Run(string(be), func(t *testing.T) { fixedStorm(t, be) })
	}
}

func fixedStorm(t *testing.T, be Backend) {
	e, err := NewEngine(Config{Backend: be, Rings: 2})
	if err != nil {
		t.Skipf("%s unavailable: %v", be, err)
	}
	defer e.Close()
	const size = 1 << 14
	var fds [4]int // files 'a', 'b'; sockets 'c', 'd'
	for i := range 2 {
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, bytes.Repeat([]byte{'a' + byte(i)}, size), 0o600); err != nil {
			t.Fatal(err)
		}
		fds[i], err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[i])
	}
	feeding := make(chan struct{})
	var feeders sync.WaitGroup
	for i := 2; i < 4; i++ {
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pair[0])
		defer unix.Close(pair[1])
		fds[i] = pair[0]
		feeders.Add(1)
		go func() { // a writer of random pace, so that reads wait at times
			defer feeders.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			chunk := bytes.Repeat([]byte{'a' + byte(i)}, 512)
			unix.SetNonblock(pair[1], true)
			for {
				select {
				case <-feeding:
					return
				default:
				}
				unix.Write(pair[1], chunk[:1+rng.IntN(len(chunk))])
				time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
			}
		}()
	}
	const readers = 4
	bufs := make([][]byte, readers)
	for i := range bufs {
		if bufs[i], err = e.FixedBuffer(size); err != nil {
			t.Fatal(err)
		}
	}
	dur := 400 * time.Millisecond
	if testing.Short() {
		dur = 100 * time.Millisecond
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, cancelled, timedOut atomic.Int64
	for w := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			done := make(chan struct{}, 1)
			a := e.NewAio(func(*Aio) { done <- struct{}{} })
			defer a.Free()
			b := bufs[w]
			for {
				select {
				case <-stop:
					return
				default:
				}
				f := rng.IntN(len(fds))
				n := 1 + rng.IntN(size)
				clear(b[:n])
				if rng.IntN(3) == 0 {
					a.SetIOV(b[:n/2], b[n/2:n])
				} else {
					a.SetIOV(b[:n])
				}
				switch rng.IntN(4) {
				case 0:
					a.SetTimeout(time.Duration(rng.IntN(50)) * time.Microsecond)
				default:
					a.SetTimeout(Infinite)
				}
				off := int64(0)
				if f >= 2 {
					off = -1 // a socket: no offset
				}
				a.ReadAt(fds[f], off)
				if rng.IntN(4) == 0 {
					a.Cancel()
				}
				<-done
				a.Wait()
				switch err := a.Result(); {
				case err == nil:
					c := a.Count()
					if c == 0 || c > n || (f < 2 && c != n) || !bytes.Equal(b[:c], bytes.Repeat([]byte{'a' + byte(f)}, c)) {
						t.Errorf("read of up to %d bytes from source %d: count %d, bytes %q...", n, f, c, b[:min(c, 16)])
						return
					}
					reads.Add(1)
				case errors.Is(err, ErrCanceled):
					cancelled.Add(1)
				case errors.Is(err, ErrTimedOut):
					timedOut.Add(1)
				default:
					t.Errorf("read of file %d: %v", f, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(99, 1))
		var extra [][]byte
		for {
			select {
			case <-stop:
				for _, b := range extra {
					if err := e.FreeFixedBuffer(b); err != nil {
						t.Errorf("FreeFixedBuffer of an unused buffer: %v", err)
					}
				}
				return
			default:
			}
			fd := fds[rng.IntN(len(fds))]
			if err := e.RegisterFD(fd); err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("RegisterFD: %v", err)
			}
			time.Sleep(time.Duration(rng.IntN(100)) * time.Microsecond)
			if err := e.UnregisterFD(fd); err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("UnregisterFD: %v", err)
			}
			if len(extra) < 8 && rng.IntN(2) == 0 {
				b, err := e.FixedBuffer(1 + rng.IntN(3*4096))
				if err != nil {
					t.Errorf("FixedBuffer: %v", err)
					continue
				}
				extra = append(extra, b)
			} else if len(extra) > 0 {
				i := rng.IntN(len(extra))
				if err := e.FreeFixedBuffer(extra[i]); err != nil {
					t.Errorf("FreeFixedBuffer of an unused buffer: %v", err)
				}
				extra = append(extra[:i], extra[i+1:]...)
			}
		}
	}()
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	close(feeding)
	feeders.Wait()
	t.Logf("%d reads, %d cancelled, %d timed out", reads.Load(), cancelled.Load(), timedOut.Load())
	if reads.Load() == 0 {
		t.Fatal("no read completed")
	}
	for _, b := range bufs {
		if err := e.FreeFixedBuffer(b); err != nil {
			t.Errorf("FreeFixedBuffer after the storm: %v (a use was not dropped)", err)
		}
	}
	// Every file slot comes back once its last use has ended.
	for _, fd := range fds {
		e.UnregisterFD(fd)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.fixed.mu.Lock()
		n := len(e.fixed.fileFree)
		used := e.fixed.fileNext
		e.fixed.mu.Unlock()
		if be != BackendIOURing || uint32(n) == used {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d file slots emptied after the storm", n, used)
		}
		time.Sleep(time.Millisecond)
	}
}
