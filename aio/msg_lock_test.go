//go:build linux

package aio

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Each descriptor's message state has its own lock (msgfd.go): RecvMsg
// chains on many descriptors run on every core at once while, on other
// descriptors, states are made, dropped by CloseFD, by the last user's
// Free before a plain close, and with messages still queued. Under -race
// this checks the locking; the results check that no message is lost,
// duplicated or reordered on the descriptors that stay open, that every
// receive on a descriptor closed under it ends as the contract says, and
// that every buffer is back in its pool at the end.
func TestMsgStatesConcurrentChurn(t *testing.T) {
	t.Run("default", func(t *testing.T) { msgChurn(t, 128, false) })
	t.Run("fallback", func(t *testing.T) {
		// The single-shot fallback: receives waiting for a buffer are
		// listed per ring (msgRing.fbWait).
		defer SetMsgFallback(true)()
		msgChurn(t, 16, false)
	})
	t.Run("reused numbers", func(t *testing.T) { msgChurn(t, 128, true) })
}

// msgChurn runs the test with nbuf buffers per ring: few, so that
// receives starve and are woken. With reuse the churn's descriptor
// numbers come back at once, as a server's do.
func msgChurn(t *testing.T, nbuf int, reuse bool) {
	e, err := NewEngine(Config{Rings: 2, MsgBuffers: nbuf})
	if err != nil {
		t.Skipf("engine: %v", err)
	}
	defer e.Close()
	const (
		steadyPairs = 32
		msgsPerPair = 200
		limit       = 30 * time.Second
	)
	workers := max(2, runtime.GOMAXPROCS(0))
	seqpair := func() (int, int) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fds[0], fds[1]
	}
	// Without reuse the receiving end of a churn pair gets a number
	// never used before in this test, so that only the message locks
	// are tested. With it, the numbers also test that a dropped state's
	// multishot SQE has reached the kernel before Stop, Free or CloseFD
	// returns: one still in the SQ when the program closes the
	// descriptor would be resolved against the next socket given that
	// number, and take its data (msgAfter.flush).
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || (!reuse && lim.Cur < 4096) {
		t.Skipf("RLIMIT_NOFILE %d: too low for unique descriptor numbers", lim.Cur)
	}
	var nextFD atomic.Int64
	nextFD.Store(int64(lim.Cur / 2))
	fdsLeft := func() bool { return reuse || nextFD.Load() < int64(lim.Cur)-64 }
	churnPair := func() (int, int) {
		x, y := seqpair()
		if reuse {
			return x, y
		}
		n, err := unix.FcntlInt(uintptr(x), unix.F_DUPFD_CLOEXEC, int(nextFD.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(x)
		return n, y
	}

	// Steady descriptors: a RecvMsg chain each, restarted from its
	// callback, receiving numbered messages from one writer.
	type chain struct {
		x, y int
		a    *Aio
		next int
		done chan struct{}
	}
	chains := make([]*chain, steadyPairs)
	var chainErr atomic.Value
	for i := range chains {
		c := &chain{done: make(chan struct{})}
		c.x, c.y = seqpair()
		c.a = e.NewAio(func(a *Aio) {
			if err := a.Result(); err != nil {
				chainErr.CompareAndSwap(nil, fmt.Errorf("chain on fd %d: RecvMsg = %v after %d messages", c.x, err, c.next))
				close(c.done)
				return
			}
			m := a.Msg()
			if m == nil {
				chainErr.CompareAndSwap(nil, fmt.Errorf("chain on fd %d: end of stream after %d messages", c.x, c.next))
				close(c.done)
				return
			}
			got := string(m.Bytes())
			m.Free()
			if want := strconv.Itoa(c.next); got != want {
				chainErr.CompareAndSwap(nil, fmt.Errorf("chain on fd %d: got message %q, want %q (lost, duplicated or reordered)", c.x, got, want))
				close(c.done)
				return
			}
			c.next++
			if c.next == msgsPerPair {
				close(c.done)
				return
			}
			a.RecvMsg(c.x)
		})
		c.a.SetTimeout(limit)
		chains[i] = c
	}
	for _, c := range chains {
		c.a.RecvMsg(c.x)
	}
	var writers sync.WaitGroup
	for w := 0; w < workers; w++ {
		writers.Add(1)
		go func(w int) {
			defer writers.Done()
			for n := 0; n < msgsPerPair; n++ {
				for i := w; i < steadyPairs; i += workers {
					if _, err := unix.Write(chains[i].y, []byte(strconv.Itoa(n))); err != nil {
						t.Errorf("write: %v", err)
						return
					}
				}
			}
		}(w)
	}

	// Churn: other descriptors, made and closed over and over (their
	// numbers reused at once), on every worker.
	stop := make(chan struct{})
	var churns sync.WaitGroup
	var rounds atomic.Int64
	for w := 0; w < workers; w++ {
		churns.Add(1)
		go func(w int) {
			defer churns.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					if k >= 20 {
						return
					}
				default:
				}
				if !fdsLeft() {
					return
				}
				x, y := churnPair()
				a := e.NewAio(nil)
				a.SetTimeout(limit)
				switch (k + w) % 3 {
				case 0:
					// CloseFD under a RecvMsg that has data: it gets the
					// message, or ErrClosed when CloseFD took it first.
					unix.Write(y, []byte("m"))
					a.RecvMsg(x)
					e.CloseFD(x)
					a.Wait()
					if err := a.Result(); err == nil {
						if m := a.Msg(); m == nil || string(m.Bytes()) != "m" {
							t.Errorf("churn: RecvMsg before CloseFD: message %v, want \"m\"", m)
						} else {
							m.Free()
						}
					} else if !errors.Is(err, ErrClosed) && (e.msgs.multishot || !errors.Is(err, unix.EBADF)) {
						// Without a multishot CloseFD is a plain close,
						// which a single-shot receive not yet started
						// finds done (EBADF).
						t.Errorf("churn: RecvMsg at CloseFD = %v, want a message or ErrClosed", err)
					}
					a.Free()
				case 1:
					// Stop of the only user while it waits, then a plain
					// close: the last user's Free drops the state.
					a.RecvMsg(x)
					a.Stop()
					if err := a.Result(); !errors.Is(err, ErrStopped) {
						t.Errorf("churn: RecvMsg at Stop = %v, want ErrStopped", err)
					}
					a.Free()
					unix.Close(x)
				case 2:
					// Messages left queued when the last user goes: they
					// go back to the pool.
					for i := 0; i < 3; i++ {
						unix.Write(y, []byte("q"+strconv.Itoa(i)))
					}
					a.RecvMsg(x)
					a.Wait()
					if err := a.Result(); err != nil {
						t.Errorf("churn: RecvMsg with queued data = %v", err)
					} else if m := a.Msg(); m == nil || string(m.Bytes()) != "q0" {
						t.Errorf("churn: first queued message %v, want \"q0\"", m)
					} else {
						m.Free()
					}
					a.Free()
					unix.Close(x)
				}
				unix.Close(y)
				rounds.Add(1)
			}
		}(w)
	}

	deadline := time.After(2 * limit)
	for _, c := range chains {
		select {
		case <-c.done:
		case <-deadline:
			t.Fatalf("chain on fd %d stuck after %d of %d messages", c.x, c.next, msgsPerPair)
		}
	}
	close(stop)
	churns.Wait()
	writers.Wait()
	if err := chainErr.Load(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d chains × %d messages, %d churn rounds on %d workers, %d starvations", steadyPairs, msgsPerPair, rounds.Load(), workers, e.msgs.starvations.Load())

	var pools []*ringPool
	for i := range e.msgs.rings {
		if p, ok := e.msgs.poolOf(i).(*ringPool); ok {
			pools = append(pools, p)
		}
	}
	for _, c := range chains {
		c.a.Free()
		unix.Close(c.x)
		unix.Close(c.y)
	}
	e.Close()
	for i, p := range pools {
		p.mu.Lock()
		out := p.out
		p.mu.Unlock()
		if out != 0 {
			t.Errorf("pool %d: %d buffers not back after Close", i, out)
		}
	}
}

// A descriptor's state lock held (here by the test) stops nothing on other
// descriptors: a new state is made and receives, CloseFD ends another
// descriptor's waiter, and the last user of a third stops. With the one
// engine-wide lock the message machinery had before, each of these waited
// for it.
func TestMsgStateLockIsPerDescriptor(t *testing.T) {
	e := testEngine(t)
	if !e.msgs.multishot {
		t.Skip("no descriptor states without multishot receive (the portable backend, or the single-shot fallback)")
	}
	pair := func() (int, int) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[1]) })
		return fds[0], fds[1]
	}
	xa, _ := pair()
	defer unix.Close(xa)
	xb, yb := pair()
	defer unix.Close(xb)
	xc, _ := pair()
	xd, _ := pair()
	defer unix.Close(xd)

	// Waiting RecvMsgs on A, C and D: each has its state, multishot armed.
	wait := func(fd int) *Aio {
		a := e.NewAio(nil)
		a.SetTimeout(30 * time.Second)
		a.RecvMsg(fd)
		return a
	}
	aa, ac, ad := wait(xa), wait(xc), wait(xd)
	defer aa.Free()
	defer ac.Free()
	stA := e.msgs.lookup(int32(xa))
	if stA == nil {
		t.Fatal("no state for a descriptor with a RecvMsg waiting")
	}
	// Nothing arrives on A, so no CQE of A's needs its lock meanwhile.
	stA.mu.Lock()
	locked := true
	defer func() {
		if locked {
			stA.mu.Unlock()
		}
	}()
	done := make(chan error, 1)
	go func() {
		b := e.NewAio(nil)
		defer b.Free()
		b.SetTimeout(30 * time.Second)
		unix.Write(yb, []byte("hi"))
		b.RecvMsg(xb) // a new state: fstat, pool, publish, arm
		b.Wait()
		if err := b.Result(); err != nil {
			done <- fmt.Errorf("RecvMsg on a new descriptor: %v", err)
			return
		}
		m := b.Msg()
		if string(m.Bytes()) != "hi" {
			done <- fmt.Errorf("RecvMsg on a new descriptor got %q", m.Bytes())
			return
		}
		m.Free()
		e.CloseFD(xc)
		ac.Wait()
		if err := ac.Result(); !errors.Is(err, ErrClosed) {
			done <- fmt.Errorf("RecvMsg waiting at CloseFD = %v, want ErrClosed", err)
			return
		}
		ad.Free() // the last user of D: drops its state
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("work on other descriptors waited for descriptor A's state lock")
	}
	if e.msgs.lookup(int32(xd)) != nil {
		t.Fatal("D's state is still published after its last user was freed")
	}
	stA.mu.Unlock()
	locked = false
	aa.Cancel()
	aa.Wait()
	if err := aa.Result(); !errors.Is(err, ErrCanceled) {
		t.Fatalf("RecvMsg on A after the lock = %v, want ErrCanceled", err)
	}
}
