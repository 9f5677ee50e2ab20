//go:build linux

package completion

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/internal/seat"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
)

// nopReq is a NOP whose user data carries an id; inject != 0 makes the
// kernel report that result instead of 0.
type nopReq struct {
	id     uint32
	inject int32
}

func (r *nopReq) SQEs() int      { return 1 }
func (r *nopReq) MayBlock() bool { return false }
func (r *nopReq) Prep(s []*sqe.SQE) {
	if r.inject != 0 {
		s[0].NopInject(r.inject)
	} else {
		s[0].Nop()
	}
	s[0].UserData = uint64(sqe.Pack(1, r.id, 0))
}

// timeoutReq sleeps in the kernel for d: it completes asynchronously.
type timeoutReq struct {
	id uint32
	ts sqe.Timespec
}

func (r *timeoutReq) SQEs() int      { return 1 }
func (r *timeoutReq) MayBlock() bool { return false }
func (r *timeoutReq) Prep(s []*sqe.SQE) {
	s[0].Timeout(&r.ts, 0, 0)
	s[0].UserData = uint64(sqe.Pack(1, r.id, 0))
}

// testHandler records every completion. Requests with an even id have no
// callback (a user goroutine may complete them); odd ids have one, which
// runs on a reaper and calls onCallback.
type testHandler struct {
	s          atomic.Pointer[Shard]
	mu         sync.Mutex
	res        map[uint32]int32
	dups       int
	inlineSeen atomic.Int64 // completions handled off the reapers
	cbOffRing  atomic.Int64 // callbacks that ran on something other than a reaper
	overflow   atomic.Bool
	got        chan uint32
	onCallback func(id uint32, goid int64)
}

func newHandler() *testHandler {
	return &testHandler{res: map[uint32]int32{}, got: make(chan uint32, 1<<17)}
}

func (h *testHandler) Inline(c *ring.CQE) bool { return sqe.UserData(c.UserData).Index()%2 == 0 }

func (h *testHandler) Complete(c *ring.CQE, b *Batch) bool {
	id := sqe.UserData(c.UserData).Index()
	if s := h.s.Load(); s != nil && s.r.SQFlags()&ring.SQCQOverflow != 0 {
		h.overflow.Store(true)
	}
	h.mu.Lock()
	if _, ok := h.res[id]; ok {
		h.dups++
	}
	h.res[id] = c.Res
	h.mu.Unlock()
	if b == nil {
		if id%2 != 0 {
			panic("a completion with a callback was handled off the reapers")
		}
		h.inlineSeen.Add(1)
		h.got <- id
		return true
	}
	if id%2 == 0 {
		h.got <- id
		return true
	}
	b.Add(&testCallback{h: h, id: id})
	return true
}

// result returns the last result recorded for id.
func (h *testHandler) result(id uint32) int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.res[id]
}

type testCallback struct {
	h  *testHandler
	id uint32
}

func (c *testCallback) RunCallback(goid int64, _ uint64) {
	if s := c.h.s.Load(); s != nil && !s.IsReaper(seat.GoroutineID()) {
		c.h.cbOffRing.Add(1)
	}
	if f := c.h.onCallback; f != nil {
		f(c.id, goid)
	}
	c.h.got <- c.id
}

func start(t *testing.T, cfg Config) *Shard {
	t.Helper()
	s, err := Start(cfg)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := cfg.Handler.(*testHandler); ok {
		h.s.Store(s)
	}
	return s
}

func submit(t *testing.T, s *Shard, r Request) {
	t.Helper()
	if err := s.Queue(r); err != nil {
		t.Fatal(err)
	}
	s.Push(0)
}

func waitFor(t *testing.T, h *testHandler, n int) {
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

// parallel runs f(0) ... f(n-1) on n goroutines and waits for them.
func parallel(n int, f func(g int)) {
	var wg sync.WaitGroup
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			f(g)
		}(g)
	}
	wg.Wait()
}

// Many goroutines queue at once, far more than the SQ holds; every request
// completes exactly once, those with callbacks only on reapers.
func TestConcurrentSubmitExactlyOnce(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, CQEntries: 16, Reapers: 2, Handler: h})
	const goroutines, each = 8, 500
	parallel(goroutines, func(g int) {
		for i := 0; i < each; i++ {
			submit(t, s, &nopReq{id: uint32(g*each + i)})
			if i%50 == 0 {
				time.Sleep(50 * time.Microsecond) // load shaping, not ordering: let the reapers park sometimes
			}
		}
	})
	waitFor(t, h, goroutines*each)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(h.res) != goroutines*each || h.dups != 0 {
		t.Fatalf("%d distinct completions, %d duplicates; want %d, 0", len(h.res), h.dups, goroutines*each)
	}
	if n := h.cbOffRing.Load(); n != 0 {
		t.Fatalf("%d callbacks ran off the reapers", n)
	}
	st := s.Stats()
	if st.Completed < goroutines*each || st.Enters == 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("stats %+v; %d completed inline", st, h.inlineSeen.Load())
}

// A NOP completes during its submission: the submitting goroutine reaps it
// itself when it needs no callback.
func TestInlineReap(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, Reapers: 2, Handler: h})
	defer s.Close()
	for i := 0; i < 100; i++ {
		submit(t, s, &nopReq{id: 2 * uint32(i)})
	}
	waitFor(t, h, 100)
	if n := h.inlineSeen.Load(); n == 0 {
		t.Fatalf("no NOP was reaped by its submitter; stats %+v", s.Stats())
	}
}

// waitIdle waits until s's seated reaper has nothing in flight and parks
// off the ring (idle set just before it waits on its kick channel).
func waitIdle(t *testing.T, s *Shard) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.idle.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the seated reaper did not park within 10 s")
		}
		time.Sleep(100 * time.Microsecond) // polling interval
	}
}

// A parked reaper wakes for a CQE that arrives later (a kernel timer), and
// for a callback handed off by a goroutine that is not a reaper.
func TestReaperWakes(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, Reapers: 2, Handler: h})
	defer s.Close()
	for i := 0; i < 5; i++ {
		waitIdle(t, s) // the CQE is to find the reapers parked
		tr := &timeoutReq{id: uint32(2*i + 1)}
		tr.ts.SetNanoseconds(int64(10 * time.Millisecond))
		submit(t, s, tr)
		waitFor(t, h, 1)
		waitIdle(t, s) // and so is the hand-off
		enters := s.Stats().Enters
		ok, wake := s.Handoff(&testCallback{h: h, id: 1001})
		if !ok || !wake {
			t.Fatalf("Handoff to a parked reaper: ok %v, wake %v; want both", ok, wake)
		}
		if n := s.Stats().Enters; n != enters {
			t.Fatalf("Handoff entered the kernel (%d enters); the wake is Wake's", n-enters)
		}
		s.Wake()
		waitFor(t, h, 1)
	}
	if st := s.Stats(); st.Sleeps == 0 || st.Wakeups == 0 {
		t.Fatalf("the reapers never parked or were never woken: %+v", st)
	}
	if n := h.cbOffRing.Load(); n != 0 {
		t.Fatalf("%d callbacks ran off the reapers", n)
	}
}

// A callback that blocks does not stall the ring: another reaper keeps
// reaping, and runs the callback that unblocks the first.
func TestBlockingCallbackDoesNotStall(t *testing.T) {
	h := newHandler()
	release := make(chan struct{})
	blocked := make(chan struct{})
	h.onCallback = func(id uint32, goid int64) {
		switch id {
		case 1:
			close(blocked)
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		case 3:
			close(release)
		}
	}
	s := start(t, Config{Entries: 8, Reapers: 2, Handler: h})
	defer s.Close()
	submit(t, s, &nopReq{id: 1})
	select { // the second request is to come while callback 1 blocks
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("callback 1 did not run")
	}
	done := make(chan struct{})
	go func() {
		submit(t, s, &nopReq{id: 3})
		close(done)
	}()
	select {
	case <-release:
	case <-time.After(10 * time.Second):
		t.Fatal("the second callback never ran while the first blocked")
	}
	<-done
	waitFor(t, h, 2)
}

// Requests queued by callbacks are submitted by their reaper's round, in
// fewer enters than requests: a callback chain costs no wakeups.
func TestCallbackChainBatches(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 64, Reapers: 1, Handler: h})
	defer s.Close()
	const chains, steps = 16, 200
	var left atomic.Int64
	left.Store(chains * steps)
	h.onCallback = func(id uint32, goid int64) {
		if left.Add(-1) >= chains {
			if err := s.Queue(&nopReq{id: id}); err != nil {
				panic(err)
			}
			s.Push(0) // deferred: the round submits
		}
	}
	before := s.Stats()
	for i := 0; i < chains; i++ {
		if err := s.Queue(&nopReq{id: uint32(2*i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	s.Push(0)
	waitFor(t, h, chains*steps)
	st := s.Stats()
	enters, done := st.Enters-before.Enters, st.Completed-before.Completed
	t.Logf("%d completions, %d enters, %d wake NOPs", done, enters, st.Wakeups-before.Wakeups)
	if enters*2 > done {
		t.Fatalf("%d enters for %d chained completions: callback starts were not batched", enters, done)
	}
}

func TestErrorResultsReachHandler(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, Handler: h})
	defer s.Close()
	submit(t, s, &nopReq{id: 1, inject: -int32(syscall.ECONNRESET)})
	waitFor(t, h, 1)
	if res := h.result(1); res != -int32(syscall.ECONNRESET) {
		t.Fatalf("res = %d, want -ECONNRESET", res)
	}
}

// QueueCancel reaches a pending request; its own CQE reports -ECANCELED.
func TestCancel(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, Handler: h})
	defer s.Close()
	r := &timeoutReq{id: 1}
	r.ts.SetNanoseconds(int64(time.Hour))
	submit(t, s, r)
	if err := s.QueueCancel(sqe.Pack(1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	s.Push(0)
	waitFor(t, h, 1)
	if res := h.result(1); res != -int32(syscall.ECANCELED) {
		t.Fatalf("cancelled timeout res = %d, want -ECANCELED", res)
	}
}

// After Close, Queue fails instead of queueing a request that would never
// complete; Close is idempotent at the engine layer, not here, so it is
// called once.
func TestQueueAfterClose(t *testing.T) {
	s := start(t, Config{Entries: 8, Handler: newHandler()})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Queue(&nopReq{id: 2}); err == nil {
		t.Fatal("Queue after Close succeeded")
	}
	if ok, _ := s.Handoff(&testCallback{}); ok {
		t.Fatal("Handoff after Close succeeded")
	}
}

// EBADR (the kernel dropped CQEs) breaks the shard: Queue then fails with
// ErrBroken instead of queueing work that may never complete, and Close
// reports it. The kernel drops CQEs only when it cannot allocate memory, so
// the error is injected at the enter.
func TestBrokenRingRefusesWork(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, Handler: h})
	s.injectBadr.Store(true)
	submit(t, s, &nopReq{id: 2})
	if !s.Broken() {
		t.Fatal("an EBADR enter did not break the shard")
	}
	if err := s.Queue(&nopReq{id: 4}); !errors.Is(err, ErrBroken) {
		t.Fatalf("Queue on a broken ring: %v, want ErrBroken", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBroken) {
			t.Fatalf("Close: %v, want ErrBroken", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a broken ring")
	}
}

func TestStartValidates(t *testing.T) {
	if _, err := Start(Config{}); err == nil {
		t.Fatal("Start without a Handler succeeded")
	}
	if _, err := Start(Config{Handler: newHandler(), Flags: ring.SetupSingleIssuer}); err == nil {
		t.Fatal("Start with SINGLE_ISSUER succeeded")
	}
}

// Every errno (and a few positive results) injected into a NOP reaches the
// Handler unchanged and exactly once.
func TestInjectedResultsUnchanged(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 16, Reapers: 2, Handler: h})
	var want []int32
	for errno := 1; errno <= 133; errno++ { // EPERM .. EHWPOISON
		want = append(want, -int32(errno))
	}
	want = append(want, -512 /* ERESTARTSYS */, 1, 4096, 1<<30)
	for i, res := range want {
		submit(t, s, &nopReq{id: uint32(i), inject: res})
	}
	waitFor(t, h, len(want))
	if err := s.Close(); err != nil {
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

// A CQ of 16 entries and tens of thousands of completions from many
// submitting goroutines: the kernel's overflow backlog (FEAT_NODROP) holds
// what the CQ cannot, nothing is dropped, and every result is right.
func TestTinyCQOverflowLosesNothing(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, CQEntries: 16, Reapers: 2, Handler: h})
	const goroutines, each = 8, 4000
	parallel(goroutines, func(g int) {
		for i := 0; i < each; i++ {
			id := uint32(g*each + i)
			// Queue many before one Push, so the CQ overflows.
			if err := s.Queue(&nopReq{id: id, inject: -int32(1 + id%133)}); err != nil {
				panic(err)
			}
			if i%64 == 63 {
				s.Push(0)
			}
		}
		s.Push(0)
	})
	waitFor(t, h, goroutines*each)
	dropped := s.r.CQOverflow()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if h.dups != 0 || len(h.res) != goroutines*each {
		t.Fatalf("%d distinct completions, %d duplicates; want %d, 0", len(h.res), h.dups, goroutines*each)
	}
	for id, res := range h.res {
		if res != -int32(1+id%133) {
			t.Fatalf("request %d: res %d, want %d", id, res, -int32(1+id%133))
		}
	}
	if dropped != 0 {
		t.Fatalf("the kernel dropped %d CQEs", dropped)
	}
	t.Logf("%d completions through a 16-entry CQ; overflow backlog used: %v; stats %+v",
		goroutines*each, h.overflow.Load(), s.Stats())
	if !h.overflow.Load() {
		t.Fatal("the CQ never overflowed: the test did not test what it claims")
	}
}

// A callback chain whose callbacks now and then block for longer than the
// watchdog period: the seat changes hands again and again while the chain
// goes on (on a loaded machine a descheduled reaper looks the same to the
// watchdog). No completion may be lost: the chain must reach its end.
// Found as hangs of the bench's nop and read-cached chains under -stress,
// when the ring's one-shot event fired during a round and the next park
// trusted a stale "armed" flag.
func TestSeatHandoverKeepsChainGoing(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, Reapers: 3, Handler: h})
	defer s.Close()
	const steps = 3000
	var left atomic.Int64
	left.Store(steps)
	h.onCallback = func(id uint32, goid int64) {
		n := left.Add(-1)
		if n <= 0 {
			return
		}
		if n%100 == 0 {
			time.Sleep(3 * watchdogPeriod) // the behaviour under test: a callback stalled past the watchdog's period, which hands the seat over
		}
		if err := s.Queue(&nopReq{id: id}); err != nil {
			panic(err)
		}
		s.Push(goid)
	}
	before := s.Stats()
	submit(t, s, &nopReq{id: 1})
	waitFor(t, h, steps)
	st := s.Stats()
	t.Logf("%d completions; stats %+v", st.Completed-before.Completed, st)
}

// While one reaper's callback blocks (the watchdog has found its round
// stuck), another reaper's round still submits what its callbacks start
// once per batch: only the stuck round's starts go to the kernel one
// enter each (decision 42). A reaper the OS deschedules on a busy machine
// looks stuck to the watchdog too, and every other round used to pay an
// enter per start while it did (nop qd256 under -stress: 0.06 system calls
// per NOP against 0.004 quiet). Counted, not timed: 32 chains of NOPs
// restarting from their callbacks, each round's NOPs completing inline at
// its one submission.
func TestStuckRoundLeavesOtherRoundsBatched(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 64, Reapers: 2, Handler: h})
	defer s.Close()
	h.s.Store(s)
	const chains, steps = 32, 100
	var done [chains]atomic.Int32
	release := make(chan struct{})
	h.onCallback = func(id uint32, goid int64) {
		if id == 1 {
			<-release // the blocked callback; its round is found stuck
			return
		}
		if done[(id-3)/2].Add(1) >= steps {
			return
		}
		if err := s.Queue(&nopReq{id: id}); err != nil {
			panic(err)
		}
		s.Push(goid)
	}
	submit(t, s, &nopReq{id: 1})
	for deadline := time.Now().Add(20 * time.Second); s.stuckN.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the watchdog never found the blocked callback's round stuck")
		}
		runtime.Gosched()
	}
	before := s.Stats()
	for i := range chains {
		submit(t, s, &nopReq{id: uint32(3 + 2*i)})
	}
	waitFor(t, h, chains*steps)
	enters := s.Stats().Enters - before.Enters
	close(release)
	waitFor(t, h, 1)
	t.Logf("%d enters for %d NOPs started from callbacks while another round was stuck", enters, chains*steps)
	if enters*4 > chains*steps {
		t.Fatalf("%d enters for %d NOPs: the healthy round submitted its starts one by one", enters, chains*steps)
	}
}

// Starts that wait for a device (Push(Urgent)) are submitted one by one,
// even from callbacks, and the seated reaper then waits for their CQEs
// in io_uring_enter (park's waitInEnter), which counts as an enter that
// submits nothing: so enters outnumber submissions. Chains of 200 µs
// timeouts stand in for device reads: their completions come later, as
// a device's do, and each end of one started with Urgent is recorded
// (DeviceDone), as the engine records a device read's, so the device's
// queue stays below deviceDeferAt.
func TestUrgentStartsWaitInTheRing(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 64, Reapers: 2, Handler: h})
	defer s.Close()
	if s.r.Features()&ring.FeatExtArg == 0 {
		t.Skip("kernel lacks IORING_FEAT_EXT_ARG: the reaper waits on the netpoller only")
	}
	const steps = 50
	enters, submitted := urgentChains(t, s, h, 4, steps)
	if enters < submitted+steps/2 { // about one wait per step of the chains, which move together
		t.Fatalf("%d enters for %d submissions: the seated reaper did not wait in the ring", enters, submitted)
	}
	if w := DeviceWaitingForTest(s); w != 0 {
		t.Errorf("%d Urgent starts counted as waiting after every one ended, want 0", w)
	}
}

// Beyond deviceDeferAt starts waiting for a device, an Urgent start from a
// reaper's round goes with the round's batch (decision 83): the chains of
// TestUrgentStartsWaitInTheRing, beside a backlog the device is said to
// hold, submit several timeouts per enter instead of one each (one enter
// per start makes at least as many enters as submissions: more, with the
// seated reaper's waits in the ring, as in the test above).
func TestUrgentStartsJoinTheBatchBesideADeepQueue(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 256, Reapers: 2, Handler: h})
	defer s.Close()
	AddDeviceBacklogForTest(s, 2*deviceDeferAt)
	enters, submitted := urgentChains(t, s, h, 32, 20)
	if enters >= submitted {
		t.Fatalf("%d enters for %d submissions beside a deep device queue: the starts went one by one", enters, submitted)
	}
	AddDeviceBacklogForTest(s, -2*deviceDeferAt)
	if w := DeviceWaitingForTest(s); w != 0 {
		t.Errorf("%d Urgent starts counted as waiting after every one ended, want 0", w)
	}
}

// urgentChains runs chains of steps 200 µs timeouts on s, each restarted
// from its callback with Push(Urgent) and its end recorded with
// DeviceDone (the chain's first timeout is submitted plainly), and
// returns the enters and the SQEs submitted meanwhile.
func urgentChains(t *testing.T, s *Shard, h *testHandler, chains, steps int) (enters, submitted uint64) {
	t.Helper()
	done := make([]atomic.Int32, chains)
	reqs := make([]timeoutReq, chains)
	h.onCallback = func(id uint32, goid int64) {
		i := (id - 1) / 2
		n := done[i].Add(1)
		if n > 1 {
			s.DeviceDone()
		}
		if int(n) >= steps {
			return
		}
		if err := s.Queue(&reqs[i]); err != nil {
			panic(err)
		}
		s.Push(Urgent)
	}
	before := s.Stats()
	for i := range reqs {
		reqs[i] = timeoutReq{id: uint32(1 + 2*i)}
		reqs[i].ts.SetNanoseconds(int64(200 * time.Microsecond))
		submit(t, s, &reqs[i])
	}
	waitFor(t, h, chains*steps)
	st := s.Stats()
	enters, submitted = st.Enters-before.Enters, st.Submitted-before.Submitted
	t.Logf("%d enters, %d SQEs submitted, for %d timeouts in %d chains", enters, submitted, chains*steps, chains)
	if submitted < uint64(chains*steps) {
		t.Fatalf("%d SQEs submitted for %d timeouts", submitted, chains*steps)
	}
	return enters, submitted
}

// While a request waits in the kernel (so the seated reaper parks on the
// ring), a user goroutine submits NOPs and reaps them itself. Each such CQE
// can wake the reaper and be gone before it looks; the reaper must still
// be woken by the waiting request's CQE.
func TestInlineReapsDoNotDisarmTheRing(t *testing.T) {
	h := newHandler()
	s := start(t, Config{Entries: 8, Reapers: 2, Handler: h})
	defer s.Close()
	for round := 0; round < 20; round++ {
		tr := &timeoutReq{id: 1} // odd: its callback runs on a reaper
		tr.ts.SetNanoseconds(int64(20 * time.Millisecond))
		submit(t, s, tr)
		deadline := time.Now().Add(10 * time.Millisecond)
		for i := 0; time.Now().Before(deadline); i++ {
			submit(t, s, &nopReq{id: 2 * uint32(i)}) // reaped inline
			if i%8 == 0 {
				time.Sleep(100 * time.Microsecond) // load shaping, not ordering: let the reaper run
			}
		}
		deadline = time.Now().Add(10 * time.Second)
		for got := false; !got; {
			select {
			case id := <-h.got:
				got = id == 1
			case <-time.After(time.Until(deadline)):
				t.Fatalf("round %d: the waiting request's completion never reached a reaper; stats %+v", round, s.Stats())
			}
		}
	}
}

// handoffHandler completes every CQE inline and hands a callback off from
// inside Complete, as the engine does for an Aio ended by an inline reap
// (a waiter with a callback, a zero-copy fallback): the hand-off then runs
// on a goroutine that already holds a reference to the ring.
type handoffHandler struct {
	s   atomic.Pointer[Shard]
	ran atomic.Int64
}

func (h *handoffHandler) Inline(*ring.CQE) bool { return true }

func (h *handoffHandler) Complete(c *ring.CQE, b *Batch) bool {
	cb := &countCallback{n: &h.ran}
	if b != nil {
		b.Add(cb)
	} else if s := h.s.Load(); s != nil {
		// The shard makes the owed wake itself once ReapInline has
		// released the CQ.
		if ok, _ := s.Handoff(cb); !ok {
			h.ran.Add(1)
		}
	} else {
		h.ran.Add(1)
	}
	return true
}

type countCallback struct{ n *atomic.Int64 }

func (c *countCallback) RunCallback(int64, uint64) { c.n.Add(1) }

// Close races submitters whose inline reaps hand callbacks off. With a
// sync.RWMutex as the ring's life lock this could deadlock: Push held it
// shared, the hand-off's wake took it shared again, and Close's waiting
// Lock blocked that second RLock. Every iteration must finish.
func TestCloseRacesInlineHandoffs(t *testing.T) {
	iters := 300
	if testing.Short() {
		iters = 50
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < iters; i++ {
			h := &handoffHandler{}
			s := start(t, Config{Entries: 8, Reapers: 2, Handler: h})
			h.s.Store(s)
			var stop atomic.Bool
			var wg sync.WaitGroup
			for g := 0; g < 3; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for n := uint32(0); !stop.Load(); n++ {
						if s.Queue(&nopReq{id: n}) != nil {
							return
						}
						s.Push(0)
						s.ReapInline()
					}
				}(g)
			}
			time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
			if err := s.Close(); err != nil {
				t.Errorf("iteration %d: Close: %v", i, err)
			}
			stop.Store(true)
			wg.Wait()
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Close and the submitters deadlocked")
	}
}

// An overflow flush that the kernel answers with EBADR breaks the shard, as
// a submitting enter's does (the round used to drop the flush's error).
func TestOverflowFlushEBADRBreaks(t *testing.T) {
	h := newHandler()
	block := make(chan struct{})
	blocked := make(chan struct{}, 1)
	h.onCallback = func(id uint32, goid int64) {
		if id == 1 {
			blocked <- struct{}{}
			<-block
		}
	}
	s := start(t, Config{Entries: 8, CQEntries: 16, Reapers: 1, Handler: h})
	submit(t, s, &nopReq{id: 1})
	<-blocked // the only reaper is inside a callback: nobody reaps
	// Odd ids need a callback, so no inline reap takes them: 16 fill the
	// CQ, the rest wait in the kernel's overflow list.
	for i := 0; i < 20; i++ {
		submit(t, s, &nopReq{id: uint32(3 + 2*i)})
	}
	s.cqMu.Lock()
	if !s.r.NeedsFlush() {
		s.cqMu.Unlock()
		close(block)
		t.Fatal("the CQ did not overflow: the test did not test what it claims")
	}
	s.injectBadr.Store(true)
	flushed := s.flushOverflow()
	s.cqMu.Unlock()
	close(block)
	if flushed || !s.Broken() {
		t.Fatalf("flush with EBADR: flushed %v, broken %v; want false, true", flushed, s.Broken())
	}
	if err := s.Close(); !errors.Is(err, ErrBroken) {
		t.Fatalf("Close: %v, want ErrBroken", err)
	}
}

// The default ring runs with COOP_TASKRUN where the kernel has it (5.19,
// decision 41): task_work for a running submitter waits for its next entry
// into the kernel instead of an interrupt from the completing CPU.
func TestDefaultFlagsCoopTaskrun(t *testing.T) {
	s := start(t, Config{Entries: 8, Reapers: 1, Handler: newHandler()})
	defer s.Close()
	if DefaultFlags&ring.SetupCoopTaskrun == 0 {
		t.Fatal("DefaultFlags lacks COOP_TASKRUN")
	}
	if s.Flags()&ring.SetupCoopTaskrun == 0 {
		t.Skip("the kernel refused COOP_TASKRUN (before 5.19)")
	}
}
