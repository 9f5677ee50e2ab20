//go:build linux

package completion

import (
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// Fault injection at the loop layer: NOPs with IORING_NOP_INJECT_RESULT make
// the real kernel post any result, and a deliberately tiny CQ makes it
// overflow.

// Every errno (and a few positive results) injected into a NOP reaches the
// Handler unchanged and exactly once.
func TestInjectedResultsUnchanged(t *testing.T) {
	h := newHandler()
	l := start(t, Config{Entries: 16, Handler: h})
	var want []int32
	for errno := 1; errno <= 133; errno++ { // EPERM .. EHWPOISON
		want = append(want, -int32(errno))
	}
	want = append(want, -512 /* ERESTARTSYS */, 1, 4096, 1<<30)
	for i, res := range want {
		l.Submit(&nopReq{id: uint32(i), inject: res})
	}
	waitFor(t, h, len(want))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if h.dups != 0 || len(h.res) != len(want) {
		t.Fatalf("%d results, %d duplicates; want %d, 0", len(h.res), h.dups, len(want))
	}
	for i, res := range want {
		if got := h.res[uint32(i)]; got != res {
			t.Errorf("injected %d (%v), handler saw %d", res, syscall.Errno(-res), got)
		}
	}
}

// overflowHandler counts completions and notes whether the kernel ever had
// to hold CQEs in its overflow backlog.
type overflowHandler struct {
	l        atomic.Pointer[Loop]
	mu       sync.Mutex
	seen     map[uint32]int32
	dups     int
	n        atomic.Int64
	overflow atomic.Bool
	dropped  atomic.Uint32 // the kernel's count of CQEs it could not keep
}

func (h *overflowHandler) Complete(c *ring.CQE) bool {
	// The ring is read here, on the loop goroutine that owns it, and not
	// after Close, which unmaps it.
	if l := h.l.Load(); l != nil {
		if l.r.SQFlags()&ring.SQCQOverflow != 0 {
			h.overflow.Store(true)
		}
		h.dropped.Store(l.r.CQOverflow())
	}
	id := sqe.UserData(c.UserData).Index()
	h.mu.Lock()
	if _, ok := h.seen[id]; ok {
		h.dups++
	}
	h.seen[id] = c.Res
	h.mu.Unlock()
	h.n.Add(1)
	return true
}
func (h *overflowHandler) Flush() {}

// A CQ of 16 entries and tens of thousands of completions from many
// submitting goroutines: the kernel's overflow backlog (FEAT_NODROP) holds
// what the CQ cannot, nothing is dropped, and every result is right.
func TestTinyCQOverflowLosesNothing(t *testing.T) {
	h := &overflowHandler{seen: map[uint32]int32{}}
	l := start(t, Config{Entries: 8, CQEntries: 16, Handler: h})
	h.l.Store(l)
	const goroutines, each = 8, 4000
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := uint32(g*each + i)
				l.Submit(&nopReq{id: id, inject: -int32(1 + id%133)})
			}
		}(g)
	}
	wg.Wait()
	if err := l.Close(); err != nil { // waits for every request's CQE
		t.Fatal(err)
	}
	if h.dups != 0 || len(h.seen) != goroutines*each {
		t.Fatalf("%d distinct completions, %d duplicates; want %d, 0", len(h.seen), h.dups, goroutines*each)
	}
	for id, res := range h.seen {
		if res != -int32(1+id%133) {
			t.Fatalf("request %d: res %d, want %d", id, res, -int32(1+id%133))
		}
	}
	if d := h.dropped.Load(); d != 0 {
		t.Fatalf("the kernel dropped %d CQEs", d)
	}
	t.Logf("%d completions through a 16-entry CQ; overflow backlog used: %v; stats %+v",
		h.n.Load(), h.overflow.Load(), l.Stats())
	if !h.overflow.Load() {
		// 32000 NOPs queued faster than one loop can reap always overflow
		// 16 entries; if not, the test did not test what it claims.
		t.Fatal("the CQ never overflowed")
	}
}
