//go:build linux

package ring

import (
	"errors"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// Offsets and sizes of include/uapi/linux/io_uring.h, checked with C
// offsetof on Linux 6.18.
func TestABILayout(t *testing.T) {
	var p Params
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(io_uring_params)", unsafe.Sizeof(p), 120},
		{"sizeof(io_sqring_offsets)", unsafe.Sizeof(p.SQOff), 40},
		{"sizeof(io_cqring_offsets)", unsafe.Sizeof(p.CQOff), 40},
		{"sizeof(io_uring_cqe)", unsafe.Sizeof(CQE{}), 16},
		{"sizeof(io_uring_sqe)", unsafe.Sizeof(sqe.SQE{}), 64},
		{"sizeof(io_uring_getevents_arg)", unsafe.Sizeof(GetEventsArg{}), 24},
		{"sizeof(io_uring_probe_op)", unsafe.Sizeof(probeOp{}), 8},
		{"sizeof(io_uring_probe)", unsafe.Sizeof(probeHeader{}), 16},
		{"offsetof(params.features)", unsafe.Offsetof(p.Features), 20},
		{"offsetof(params.resv)", unsafe.Offsetof(p.Resv), 28},
		{"offsetof(params.sq_off)", unsafe.Offsetof(p.SQOff), 40},
		{"offsetof(params.cq_off)", unsafe.Offsetof(p.CQOff), 80},
		{"offsetof(sq_off.user_addr)", unsafe.Offsetof(p.SQOff.UserAddr), 32},
		{"offsetof(cq_off.cqes)", unsafe.Offsetof(p.CQOff.CQEs), 20},
		{"offsetof(cqe.res)", unsafe.Offsetof(CQE{}.Res), 8},
		{"offsetof(cqe.flags)", unsafe.Offsetof(CQE{}.Flags), 12},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// needRingArch skips tests that call New directly where New refuses the
// architecture (it supports 64-bit little-endian Linux only).
func needRingArch(t *testing.T) {
	t.Helper()
	if unsafe.Sizeof(uintptr(0)) != 8 || !littleEndian() {
		t.Skipf("io_uring: the ring supports 64-bit little-endian Linux only, not %s", runtime.GOARCH)
	}
}

// needRingSetup skips tests that expect io_uring_setup's own answers
// where there is no io_uring to answer (a kernel without it, a seccomp
// filter, qemu-user).
func needRingSetup(t *testing.T) {
	t.Helper()
	needRingArch(t)
	r, err := New(Options{Entries: 2})
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err == nil {
		r.Close()
	}
}

// newRing creates a ring on a locked thread (SINGLE_ISSUER binds the ring to
// the creating thread) and skips when io_uring is unavailable.
func newRing(t *testing.T, opt Options) *Ring {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	r, err := New(opt)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err != nil {
		t.Fatalf("New(%+v): %v", opt, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSetupRoundsAndReportsFlags(t *testing.T) {
	r := newRing(t, Options{Entries: 5, CQEntries: 100, Flags: SetupSubmitAll | SetupCoopTaskrun})
	if r.SQEntries() != 8 {
		t.Errorf("SQEntries = %d, want 8 (rounded up)", r.SQEntries())
	}
	if r.CQEntries() != 128 {
		t.Errorf("CQEntries = %d, want 128", r.CQEntries())
	}
	if r.Flags()&SetupCQSize == 0 {
		t.Errorf("CQSIZE not kept: flags %#x", r.Flags())
	}
	if r.Features()&FeatNoDrop == 0 {
		t.Errorf("features %#x lack NODROP", r.Features())
	}
}

// A flag combination the kernel rejects (DEFER_TASKRUN needs SINGLE_ISSUER
// and cannot go with SQPOLL) makes New fall back rather than fail.
func TestSetupFallsBackOnEINVAL(t *testing.T) {
	needRingSetup(t)
	// Unknown high bits are EINVAL on every kernel; make sure the ladder
	// does not silently keep them, by showing New fails when only those
	// remain to drop.
	_, err := New(Options{Entries: 4, Flags: 1 << 30})
	var se *SetupError
	if !errors.As(err, &se) || se.Errno != syscall.EINVAL {
		t.Fatalf("New with an unknown flag: %v, want EINVAL SetupError", err)
	}
	// DEFER_TASKRUN without SINGLE_ISSUER is EINVAL: the ladder drops it.
	r := newRing(t, Options{Entries: 4, Flags: SetupDeferTaskrun | SetupSubmitAll})
	if r.Flags()&SetupDeferTaskrun != 0 {
		t.Fatalf("flags %#x kept DEFER_TASKRUN without SINGLE_ISSUER", r.Flags())
	}
	if r.Flags()&SetupSubmitAll == 0 {
		t.Fatalf("flags %#x dropped SUBMIT_ALL, which the kernel accepts", r.Flags())
	}
}

func TestSetupRejectsBadEntries(t *testing.T) {
	needRingArch(t)
	for _, n := range []uint32{0, MaxEntries + 1} {
		if _, err := New(Options{Entries: n}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("New(Entries: %d) = %v, want EINVAL", n, err)
		}
	}
}

var fastFlags = SetupSingleIssuer | SetupDeferTaskrun | SetupCoopTaskrun | SetupTaskrunFlag | SetupSubmitAll | SetupNoSQArray

func TestSubmitAndReapNops(t *testing.T) {
	for _, flags := range []SetupFlags{0, fastFlags} {
		r := newRing(t, Options{Entries: 8, Flags: flags})
		const total = 100 // more than the SQ holds: wraps the ring many times
		got := map[uint64]bool{}
		cqes := make([]CQE, 16)
		for sent := 0; sent < total; {
			batch := 0
			for ; sent < total; sent, batch = sent+1, batch+1 {
				s := r.GetSQE()
				if s == nil {
					break
				}
				s.Nop()
				s.UserData = uint64(sent + 1)
			}
			if batch > int(r.SQEntries()) || (sent < total && r.SQSpace() != 0) {
				t.Fatalf("GetSQE handed out %d entries from a %d-entry SQ", batch, r.SQEntries())
			}
			if _, err := r.SubmitAndWait(1); err != nil {
				t.Fatalf("flags %#x: SubmitAndWait: %v", r.Flags(), err)
			}
			for n := r.PeekCQEs(cqes); n > 0; n = r.PeekCQEs(cqes) {
				for _, c := range cqes[:n] {
					if c.Res != 0 || got[c.UserData] {
						t.Fatalf("cqe %+v (dup %v)", c, got[c.UserData])
					}
					got[c.UserData] = true
				}
			}
		}
		for len(got) < total {
			if _, err := r.SubmitAndWait(1); err != nil {
				t.Fatal(err)
			}
			n := r.PeekCQEs(cqes)
			for _, c := range cqes[:n] {
				got[c.UserData] = true
			}
		}
		if len(got) != total {
			t.Fatalf("reaped %d distinct CQEs, want %d", len(got), total)
		}
	}
}

// SQConsumed tells an entry still in the SQ from one the kernel took,
// across the positions' wrap: an SQTail taken before a submission is
// consumed after it, one taken since is not, and a position far behind
// (positions wrapped) counts as consumed.
func TestSQConsumed(t *testing.T) {
	r := newRing(t, Options{Entries: 8})
	cqes := make([]CQE, 16)
	queue := func(n int) uint32 {
		for i := 0; i < n; i++ {
			r.GetSQE().Nop()
		}
		return r.SQTail()
	}
	for round := 0; round < 20; round++ { // 20 × 3 entries wrap an 8-entry SQ
		before := r.SQTail()
		if !r.SQConsumed(before) {
			t.Fatalf("round %d: the tail before queueing (%d) reads as waiting", round, before)
		}
		pos := queue(3)
		if r.SQConsumed(pos) || r.SQConsumed(pos-2) {
			t.Fatalf("round %d: queued, not submitted, reads as consumed", round)
		}
		if !r.SQConsumed(pos - 3) {
			t.Fatalf("round %d: the position before the queued entries reads as waiting", round)
		}
		if !r.SQConsumed(pos - 1<<31) {
			t.Fatalf("round %d: a position 2^31 entries back reads as waiting", round)
		}
		if _, err := r.SubmitAndWait(3); err != nil {
			t.Fatal(err)
		}
		for r.PeekCQEs(cqes) > 0 {
		}
		if !r.SQConsumed(pos) {
			t.Fatalf("round %d: submitted, reads as waiting", round)
		}
	}
}

func TestNopInjectResult(t *testing.T) {
	r := newRing(t, Options{Entries: 4})
	s := r.GetSQE()
	s.NopInject(-int32(syscall.EBADF))
	s.UserData = 7
	if _, err := r.SubmitAndWait(1); err != nil {
		t.Fatal(err)
	}
	var c [1]CQE
	if r.PeekCQEs(c[:]) != 1 || c[0].UserData != 7 || c[0].Res != -int32(syscall.EBADF) {
		t.Fatalf("cqe %+v, want user 7 res -EBADF", c[0])
	}
}

// More completions than the CQ holds: the kernel keeps the rest in its
// overflow backlog (FEAT_NODROP) and sets CQ_OVERFLOW; reaping with
// GETEVENTS brings every one of them back. None may be lost.
func TestCQOverflowLosesNothing(t *testing.T) {
	for _, flags := range []SetupFlags{0, fastFlags} {
		r := newRing(t, Options{Entries: 4, CQEntries: 8, Flags: flags})
		const total = 1000
		for sent := 0; sent < total; {
			for ; sent < total; sent++ {
				s := r.GetSQE()
				if s == nil {
					break
				}
				s.Nop()
				s.UserData = uint64(sent)
			}
			if _, err := r.Submit(); err != nil {
				t.Fatalf("Submit with a full CQ: %v", err)
			}
		}
		if r.CQReady() != r.CQEntries() || r.SQFlags()&SQCQOverflow == 0 {
			t.Fatalf("flags %#x: ready %d sqflags %#x; want a full CQ and CQ_OVERFLOW", r.Flags(), r.CQReady(), r.SQFlags())
		}
		seen := make([]bool, total)
		count := 0
		cqes := make([]CQE, 3)
		for count < total {
			n := r.PeekCQEs(cqes)
			if n == 0 {
				if _, err := r.SubmitAndWait(1); err != nil {
					t.Fatal(err)
				}
				continue
			}
			for _, c := range cqes[:n] {
				if seen[c.UserData] {
					t.Fatalf("duplicate CQE %d", c.UserData)
				}
				seen[c.UserData] = true
				count++
			}
		}
		if r.CQOverflow() != 0 {
			t.Fatalf("kernel dropped %d CQEs", r.CQOverflow())
		}
	}
}

// Signals interrupt a waiting io_uring_enter with EINTR; the wrapper must
// resume the wait and still deliver the completion.
func TestEnterRetriesEINTR(t *testing.T) {
	r := newRing(t, Options{Entries: 4, Flags: fastFlags})
	s := r.GetSQE()
	ts := new(sqe.Timespec)
	ts.SetNanoseconds(int64(150 * time.Millisecond))
	s.Timeout(ts, 0, 0)
	s.UserData = 1
	tid := unix.Gettid()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	signals := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				// SIGURG: Go's preemption signal, which the runtime ignores
				// for a thread not running Go code.
				unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
				signals++
			}
		}
	}()
	start := time.Now()
	_, err := r.SubmitAndWait(1)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("SubmitAndWait under signals: %v", err)
	}
	var c [1]CQE
	if r.PeekCQEs(c[:]) != 1 || c[0].Res != -int32(syscall.ETIME) {
		t.Fatalf("cqe %+v, want the timeout's -ETIME", c[0])
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("wait returned after %v, before the 150ms timeout", el)
	}
	if signals < 3 {
		t.Fatalf("only %d signals were sent; the test did not exercise EINTR", signals)
	}
}

func TestSubmitAndWaitTimeout(t *testing.T) {
	r := newRing(t, Options{Entries: 4})
	if r.Features()&FeatExtArg == 0 {
		t.Skip("kernel lacks IORING_FEAT_EXT_ARG")
	}
	start := time.Now()
	_, err := r.SubmitAndWaitTimeout(1, 20*time.Millisecond)
	if err != syscall.ETIME {
		t.Fatalf("err = %v, want ETIME", err)
	}
	if el := time.Since(start); el < 20*time.Millisecond || el > 5*time.Second {
		t.Fatalf("waited %v for a 20ms timeout", el)
	}
}

func TestWaitFor(t *testing.T) {
	r := newRing(t, Options{Entries: 4})
	if r.Features()&FeatExtArg == 0 {
		if _, err := r.WaitFor(time.Millisecond); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("WaitFor without EXT_ARG: %v, want ErrUnsupported", err)
		}
		t.Skip("kernel lacks IORING_FEAT_EXT_ARG")
	}
	start := time.Now()
	ready, err := r.WaitFor(20 * time.Millisecond)
	if ready || err != nil {
		t.Fatalf("WaitFor on an empty ring: %v, %v; want false, nil", ready, err)
	}
	if el := time.Since(start); el < 20*time.Millisecond || el > 5*time.Second {
		t.Fatalf("waited %v for a 20ms bound", el)
	}
	s := r.GetSQE()
	s.Nop()
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if ready, err := r.WaitFor(5 * time.Second); !ready || err != nil {
		t.Fatalf("WaitFor with a NOP's CQE: %v, %v; want true, nil", ready, err)
	}
	if r.CQReady() != 1 {
		t.Fatalf("%d CQEs ready after WaitFor, want 1 (it must not consume any)", r.CQReady())
	}
}

func TestProbe(t *testing.T) {
	r := newRing(t, Options{Entries: 4})
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []sqe.Op{sqe.OpNop, sqe.OpRead, sqe.OpWrite, sqe.OpAsyncCancel, sqe.OpLinkTimeout, sqe.OpRecv} {
		if !p.Supports(op) {
			t.Errorf("probe says %v is unsupported on a %v ring", op, p.LastOp)
		}
	}
	if p.Supports(sqe.Op(250)) {
		t.Error("probe claims opcode 250")
	}
}

func TestRegisterFilesAndBuffers(t *testing.T) {
	r := newRing(t, Options{Entries: 4})
	fds := make([]int, 2)
	if err := unix.Pipe(fds); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := r.RegisterFiles([]int32{int32(fds[0]), -1}); err != nil {
		t.Fatalf("RegisterFiles: %v", err)
	}
	unix.Write(fds[1], []byte("hi"))
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(buf)
	if err := r.RegisterBuffers([][]byte{buf}); err != nil {
		t.Fatalf("RegisterBuffers: %v", err)
	}
	s := r.GetSQE()
	s.Read(0, unsafe.Pointer(&buf[0]), 16, -1, 0)
	s.Flags |= sqe.FixedFile
	if _, err := r.SubmitAndWait(1); err != nil {
		t.Fatal(err)
	}
	var c [1]CQE
	if r.PeekCQEs(c[:]) != 1 || c[0].Res != 2 || string(buf[:2]) != "hi" {
		t.Fatalf("fixed-file read: %+v %q", c[0], buf[:2])
	}
	if err := r.UnregisterBuffers(); err != nil {
		t.Fatal(err)
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterFiles(nil); err != syscall.EINVAL {
		t.Fatalf("RegisterFiles(nil) = %v, want EINVAL", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	r := newRing(t, Options{Entries: 4})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDiagnoseSetup(t *testing.T) {
	for _, c := range []struct {
		errno       syscall.Errno
		unsupported bool
	}{
		{syscall.ENOSYS, true}, {syscall.EPERM, true}, {syscall.EINVAL, true}, {syscall.ENOMEM, false},
	} {
		err := error(diagnoseSetup(c.errno))
		if errors.Is(err, errors.ErrUnsupported) != c.unsupported {
			t.Errorf("%v: Is(ErrUnsupported) = %v, want %v (%v)", c.errno, !c.unsupported, c.unsupported, err)
		}
		if !errors.Is(err, c.errno) {
			t.Errorf("%v: errno not matched by errors.Is: %v", c.errno, err)
		}
		if len(err.Error()) < 30 {
			t.Errorf("%v: message too thin: %q", c.errno, err)
		}
	}
}

// FallbackOrder hands out a copy: a caller cannot change the order New
// uses (it was a mutable exported slice).
func TestFallbackOrderIsACopy(t *testing.T) {
	o := FallbackOrder()
	if len(o) == 0 || o[0] != SetupNoSQArray {
		t.Fatalf("FallbackOrder() = %v, want SetupNoSQArray first", o)
	}
	o[0] = 0
	if FallbackOrder()[0] != SetupNoSQArray {
		t.Fatal("writing to FallbackOrder's result changed New's order")
	}
}
