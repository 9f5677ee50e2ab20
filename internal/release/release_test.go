package release

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

func TestStores(t *testing.T) {
	var (
		a uint32
		b uint64
		c int32
	)
	Store32(&a, 0xdeadbeef)
	Store64(&b, 1<<63|42)
	StoreInt32(&c, -7)
	if atomic.LoadUint32(&a) != 0xdeadbeef || atomic.LoadUint64(&b) != 1<<63|42 || atomic.LoadInt32(&c) != -7 {
		t.Fatalf("stored 0xdeadbeef, 1<<63|42, -7; loaded %#x, %#x, %d", a, b, c)
	}
}

// TestUint64Aligned: sync/atomic's 64-bit loads fault on a misaligned
// word on 32-bit architectures; a Uint64 after a byte must still be
// aligned.
func TestUint64Aligned(t *testing.T) {
	var s struct {
		b byte
		u Uint64
	}
	if off := unsafe.Offsetof(s.u); off%8 != 0 {
		t.Fatalf("Uint64 at offset %d after a byte", off)
	}
}

// TestUint64AddUnderLock: writers that hold one lock lose no add, and a
// reader without the lock never sees the count go down.
func TestUint64AddUnderLock(t *testing.T) {
	const writers, adds = 4, 100000
	var (
		mu   sync.Mutex
		x    Uint64
		wg   sync.WaitGroup
		stop atomic.Bool
	)
	readerDone := make(chan error)
	go func() {
		last := uint64(0)
		for !stop.Load() {
			v := x.Load()
			if v < last {
				readerDone <- &backwards{last, v}
				return
			}
			last = v
		}
		readerDone <- nil
	}()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range adds {
				mu.Lock()
				x.Add(1)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	if got := x.Load(); got != writers*adds {
		t.Fatalf("%d writers added 1 %d times each under one lock: %d, want %d", writers, adds, got, writers*adds)
	}
}

type backwards struct{ was, now uint64 }

func (b *backwards) Error() string { return "a reader saw the count go down" }

// TestMessagePassing is the litmus test a release store exists for: a
// writer fills a record, then publishes its sequence number with
// Store64; a reader that loads the number sees the record it names
// complete. It would fail if the store could become visible before the
// record's stores (a compiler moving them past it, or hardware without
// that order).
func TestMessagePassing(t *testing.T) {
	rounds := 200000
	if testing.Short() {
		rounds = 20000
	}
	var (
		rec      [4]uint64
		seq, ack uint64
	)
	done := make(chan string)
	go func() {
		for seen := uint64(0); seen < uint64(rounds); {
			s := atomic.LoadUint64(&seq)
			if s == seen {
				runtime.Gosched()
				continue
			}
			for i := range rec {
				// Plain loads: the writer does not touch rec again
				// until it sees ack.
				if v := rec[i]; v != s {
					done <- "a record published as its sequence number was not complete"
					return
				}
			}
			seen = s
			atomic.StoreUint64(&ack, s)
		}
		done <- ""
	}()
	for r := uint64(1); r <= uint64(rounds); r++ {
		for i := range rec {
			rec[i] = r // plain stores: what the release store publishes
		}
		Store64(&seq, r)
		for atomic.LoadUint64(&ack) != r {
			runtime.Gosched()
		}
	}
	if msg := <-done; msg != "" {
		t.Fatal(msg)
	}
}
