//go:build linux

package aio_test

// A socket transfer the kernel gives back unfinished is queued again, not
// reported as EAGAIN (op.Kind.SocketWait, decision 78 in docs/design.md).
//
// io_uring waits for a socket's readiness itself (its internal poll), with
// a budget: after 128 wake-ups that found nothing to do (APOLL_MAX_RETRY)
// it hands the request to an io-wq worker, where a receive on a
// non-blocking socket ends with -EAGAIN. Several receives waiting on one
// UDP socket, with datagrams coming one at a time, wear the budget out:
// every datagram wakes them all and one takes it. Before the fix, a
// RecvFrom with no timeout ended with "resource temporarily unavailable"
// 3 to 17 times in 30 000 datagrams here (six runs of this test).

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

func TestSocketWaitGivenBackIsQueuedAgain(t *testing.T) {
	e := newEngine(t, aio.Config{})
	if e.Backend() != aio.BackendIOURing {
		t.Skip("the portable backend waits for readiness itself; nothing is given back")
	}
	fd, to := dgramSocket(t, unix.AF_INET, false)
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	tx, _ := dgramSocket(t, unix.AF_INET, false)

	const waiters = 4
	var (
		received, failed atomic.Int64
		firstErr         atomic.Value
		stopping         atomic.Bool
		wg               sync.WaitGroup
	)
	aios := make([]*aio.Aio, waiters)
	for i := range aios {
		buf := make([]byte, 64)
		wg.Add(1)
		aios[i] = e.NewAio(func(a *aio.Aio) {
			err := a.Result()
			switch {
			case err == nil:
				received.Add(1)
			case stopping.Load() && (errors.Is(err, aio.ErrStopped) || errors.Is(err, aio.ErrClosed)):
			default:
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			if stopping.Load() {
				wg.Done()
				return
			}
			a.SetIOV(buf)
			a.RecvFrom(fd)
		})
		aios[i].SetTimeout(aio.Infinite)
		aios[i].SetIOV(buf)
		aios[i].RecvFrom(fd)
	}

	// One datagram at a time, each received before the next is sent, as
	// a lone client's requests come: every one wakes all the waiters.
	const most, enough = 30000, 3
	deadline := time.Now().Add(15 * time.Second)
	sent := 0
	for ; sent < most && time.Now().Before(deadline); sent++ {
		if err := unix.Sendto(tx, []byte("x"), 0, to); err != nil {
			t.Fatal(err)
		}
		for received.Load()+failed.Load() <= int64(sent) && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if sent%1000 == 999 && e.Stats().Requeued >= enough {
			sent++
			break
		}
	}
	// Stop ends the pending receive, and one its callback may start
	// meanwhile, with ErrStopped; either way each callback sees stopping.
	stopping.Store(true)
	for _, a := range aios {
		a.Stop()
	}
	wg.Wait()
	for _, a := range aios {
		a.Free()
	}
	requeued := e.Stats().Requeued
	t.Logf("%d datagrams sent, %d received, %d receives given back by the kernel and queued again", sent, received.Load(), requeued)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d receives failed, the first with %v", n, firstErr.Load())
	}
	if received.Load() != int64(sent) {
		t.Fatalf("%d datagrams received of %d sent", received.Load(), sent)
	}
	if requeued == 0 {
		t.Skipf("the kernel gave no receive back in %d datagrams (no apoll retry budget on this kernel?): the requeue went unexercised", sent)
	}
}
