//go:build linux

package aio

import (
	"testing"
	"time"

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
