//go:build linux

package aio

import (
	"testing"
	"time"

	"github.com/aioring/aioring/internal/portable"
	"golang.org/x/sys/unix"
)

// Config.BusyPoll resolves to DefaultBusyPoll, and a negative value (never
// poll) is kept.
func TestBusyPollConfig(t *testing.T) {
	e := ringEngine(t, Config{})
	if got := e.Config().BusyPoll; got != DefaultBusyPoll {
		t.Errorf("BusyPoll resolved to %v, want DefaultBusyPoll (%v)", got, DefaultBusyPoll)
	}
	e2 := ringEngine(t, Config{BusyPoll: -1})
	if got := e2.Config().BusyPoll; got != -1 {
		t.Errorf("BusyPoll -1 resolved to %v", got)
	}
}

// With a poll longer than the test, the seated reaper never parks while a
// receive is in flight: what it must still see while it polls is the
// receive's completion (within a second, not at the poll's end), a
// hand-off (a provider's Finish) and Close. On both backends: the
// portable one's seat holder polls its epoll instance (decision 70).
func TestBusyPollSeesWorkAndClose(t *testing.T) {
	t.Run("io_uring", func(t *testing.T) { busyPollSeesWorkAndClose(t, ringEngine(t, Config{BusyPoll: time.Minute})) })
	t.Run("portable", func(t *testing.T) {
		// One callback goroutine: no standby worker takes the hand-off,
		// so the polling holder must see the wake.
		e, err := NewEngine(Config{Backend: BackendPortable, BusyPoll: time.Minute, Callbacks: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		busyPollSeesWorkAndClose(t, e)
	})
}

func busyPollSeesWorkAndClose(t *testing.T, e *Engine) {
	snd, rcv := loopbackTCP(t, 0, 0)
	defer unix.Close(snd)
	defer unix.Close(rcv)
	got := make(chan int, 1)
	a := e.NewAio(func(a *Aio) { got <- a.Count() })
	defer a.Free()
	buf := make([]byte, 16)
	if err := a.SetIOV(buf); err != nil {
		t.Fatal(err)
	}
	a.Recv(rcv)
	time.Sleep(20 * time.Millisecond) // the reaper is polling now
	if _, err := unix.Write(snd, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 4 {
			t.Fatalf("received %d bytes, want 4", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a receive that completed while the reaper polled was not delivered")
	}

	// A receive left in flight keeps the reaper polling; a hand-off (a
	// provider's Finish, whose callback goes to the seat's ready list)
	// must still run.
	a.Recv(rcv)
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	p := e.NewAio(func(*Aio) { close(done) })
	defer p.Free()
	if !p.Start(func(*Aio, error) {}) {
		t.Fatal("Start refused")
	}
	go p.Finish(nil, 0)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a provider's callback was not run while the reaper polled")
	}

	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while the reaper polled")
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the pending receive's callback did not run at Close")
	}
}

// A goroutine that an operation's end readies in Wait wants a P, which a
// poll would hold: the park after the round that readied it does not poll,
// and a poll going on when one is readied ends (decision 72). With a poll
// longer than the test and a receive with a callback left in flight, the
// holder polls until a waiter's accept completes; after that it must be
// parked, its polls making no more looks. On both backends (the portable
// one may begin a poll before its round's completion readies the waiter,
// and then ends it).
func TestBusyPollEndsForWokenWaiter(t *testing.T) {
	t.Run("io_uring", func(t *testing.T) { busyPollSkippedAfterWaiter(t, ringEngine(t, Config{BusyPoll: time.Minute})) })
	t.Run("portable", func(t *testing.T) {
		e, err := NewEngine(Config{Backend: BackendPortable, BusyPoll: time.Minute, Callbacks: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		busyPollSkippedAfterWaiter(t, e)
	})
}

// pollLooks is how many looks the engine's busy polls have made.
func pollLooks(e *Engine) uint64 {
	var n uint64
	for _, sh := range e.shards {
		switch b := sh.(type) {
		case ringBackend:
			n += b.Stats().Looks
		case *portable.Backend:
			n += b.Looks()
		}
	}
	return n
}

func busyPollSkippedAfterWaiter(t *testing.T, e *Engine) {
	// The receive that keeps the holder polling, with a callback.
	snd1, rcv1 := loopbackTCP(t, 0, 0)
	defer unix.Close(snd1)
	defer unix.Close(rcv1)
	got := make(chan struct{}, 1)
	kept := e.NewAio(func(*Aio) { got <- struct{}{} })
	defer kept.Free()
	if err := kept.SetIOV(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	kept.Recv(rcv1)

	// The waiter's accept, without a callback: through the ring's CQ on
	// io_uring (a Recv without a callback would wait by readiness
	// instead, decision 40, and never reach the polled ring).
	l, la := fuzzListener(t)
	defer e.CloseFD(l)
	w := e.NewAio(nil)
	defer w.Free()
	w.SetTimeout(Infinite)
	w.Accept(l)
	woken := make(chan struct{})
	go func() { w.Wait(); close(woken) }()

	time.Sleep(50 * time.Millisecond) // the holder polls, the waiter waits
	if l0 := pollLooks(e); l0 == 0 {
		t.Fatal("no looks: the holder never polled, so this test proves nothing")
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	if err := unix.Connect(c, la); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter's accept was not delivered while the holder polled")
	}
	if err := w.Result(); err != nil || w.FD() < 0 {
		t.Fatalf("the waiter's accept: descriptor %d, %v", w.FD(), err)
	}
	unix.Close(w.FD())
	time.Sleep(50 * time.Millisecond) // the holder's round has ended and it has parked
	l1 := pollLooks(e)
	time.Sleep(50 * time.Millisecond)
	if l2 := pollLooks(e); l2 != l1 {
		t.Errorf("the holder's poll made %d looks in 50 ms after the waiter was readied: it still polls", l2-l1)
	}

	if _, err := unix.Write(snd1, []byte("pong")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the kept receive was not delivered")
	}
}
