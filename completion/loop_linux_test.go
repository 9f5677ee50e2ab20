//go:build linux

package completion

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// nopReq is a NOP whose user data carries an id; inject != 0 makes the
// kernel report that result instead of 0.
type nopReq struct {
	Node
	id     uint32
	inject int32
}

func (r *nopReq) QueueNode() *Node { return &r.Node }

func (r *nopReq) SQEs() int { return 1 }
func (r *nopReq) Prep(s []*sqe.SQE) {
	if r.inject != 0 {
		s[0].NopInject(r.inject)
	} else {
		s[0].Nop()
	}
	s[0].UserData = uint64(sqe.Pack(1, r.id, 0))
}

// timeoutReq sleeps in the kernel for d.
type timeoutReq struct {
	Node
	id uint32
	ts sqe.Timespec
}

func (r *timeoutReq) QueueNode() *Node { return &r.Node }

func (r *timeoutReq) SQEs() int { return 1 }
func (r *timeoutReq) Prep(s []*sqe.SQE) {
	s[0].Timeout(&r.ts, 0, 0)
	s[0].UserData = uint64(sqe.Pack(1, r.id, 0))
}

type countingHandler struct {
	mu      sync.Mutex
	res     map[uint32]int32
	dups    int
	flushes atomic.Int64
	got     chan struct{}
}

func newHandler() *countingHandler {
	return &countingHandler{res: map[uint32]int32{}, got: make(chan struct{}, 1<<16)}
}

func (h *countingHandler) Complete(c *ring.CQE) bool {
	id := sqe.UserData(c.UserData).Index()
	h.mu.Lock()
	if _, ok := h.res[id]; ok {
		h.dups++
	}
	h.res[id] = c.Res
	h.mu.Unlock()
	h.got <- struct{}{}
	return true
}
func (h *countingHandler) Flush() { h.flushes.Add(1) }

func start(t *testing.T, cfg Config) *Loop {
	t.Helper()
	l, err := Start(cfg)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitFor(t *testing.T, h *countingHandler, n int) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-h.got:
		case <-timeout:
			t.Fatalf("only %d of %d completions arrived", i, n)
		}
	}
}

// Many goroutines submit at once, far more than the SQ holds; every request
// completes exactly once.
func TestConcurrentSubmitExactlyOnce(t *testing.T) {
	for _, c := range []struct {
		flags   ring.SetupFlags
		netpoll bool
	}{{0 /* DefaultFlags */, false}, {ring.SetupSubmitAll, false}, {0, true}} {
		flags := c.flags
		h := newHandler()
		l := start(t, Config{Entries: 8, CQEntries: 16, Flags: flags, Handler: h, Netpoll: c.netpoll})
		const goroutines, each = 8, 500
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					l.Submit(&nopReq{id: uint32(g*each + i)})
					if i%50 == 0 {
						time.Sleep(50 * time.Microsecond) // let the loop fall asleep sometimes
					}
				}
			}(g)
		}
		wg.Wait()
		waitFor(t, h, goroutines*each)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if len(h.res) != goroutines*each || h.dups != 0 {
			t.Fatalf("flags %#x: %d distinct completions, %d duplicates; want %d, 0", flags, len(h.res), h.dups, goroutines*each)
		}
		st := l.Stats()
		if st.Completed < goroutines*each || st.Enters == 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// A loop that went to sleep is woken by a Submit from another goroutine,
// whether it sleeps in io_uring_enter or parks on Go's netpoller.
func TestWakesFromSleep(t *testing.T) {
	for _, netpoll := range []bool{false, true} {
		h := newHandler()
		l := start(t, Config{Entries: 8, Handler: h, Netpoll: netpoll})
		for i := 0; i < 5; i++ {
			time.Sleep(5 * time.Millisecond) // far beyond the spin time
			l.Submit(&nopReq{id: uint32(i)})
			waitFor(t, h, 1)
		}
		// A kernel timer completes while the loop sleeps: the CQE alone
		// must wake it.
		tr := &timeoutReq{id: 99}
		tr.ts.SetNanoseconds(int64(20 * time.Millisecond))
		l.Submit(tr)
		waitFor(t, h, 1)
		if st := l.Stats(); st.Sleeps == 0 || st.Wakeups == 0 {
			t.Fatalf("netpoll %v: the loop never slept or was never woken: %+v", netpoll, st)
		}
		if netpoll && l.Flags()&(ring.SetupSingleIssuer|ring.SetupDeferTaskrun) != 0 {
			t.Fatalf("netpoll mode kept thread-bound flags %#x", l.Flags())
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestErrorResultsReachHandler(t *testing.T) {
	h := newHandler()
	l := start(t, Config{Entries: 8, Handler: h})
	defer l.Close()
	l.Submit(&nopReq{id: 1, inject: -int32(syscall.ECONNRESET)})
	waitFor(t, h, 1)
	if h.res[1] != -int32(syscall.ECONNRESET) {
		t.Fatalf("res = %d, want -ECONNRESET", h.res[1])
	}
}

// Cancel reaches a pending request; Close cancels what is left and waits
// for it, so no request is lost at shutdown.
func TestCancelAndCloseDrain(t *testing.T) {
	h := newHandler()
	l := start(t, Config{Entries: 8, Handler: h})
	r1 := &timeoutReq{id: 1}
	r1.ts.SetNanoseconds(int64(time.Hour))
	r2 := &timeoutReq{id: 2}
	r2.ts.SetNanoseconds(int64(time.Hour))
	l.Submit(r1)
	l.Submit(r2)
	time.Sleep(10 * time.Millisecond)
	l.Cancel(sqe.Pack(1, 1, 0))
	waitFor(t, h, 1)
	if h.res[1] != -int32(syscall.ECANCELED) {
		t.Fatalf("cancelled timeout res = %d, want -ECANCELED", h.res[1])
	}
	done := make(chan error)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung with a pending request")
	}
	if got, ok := h.res[2]; !ok || got != -int32(syscall.ECANCELED) {
		t.Fatalf("pending request at Close: res %d (reported %v), want -ECANCELED", got, ok)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStartValidates(t *testing.T) {
	if _, err := Start(Config{}); err == nil {
		t.Fatal("Start without a Handler succeeded")
	}
}
