//go:build linux

package aio

// Zero-copy send refused by the socket (EOPNOTSUPP on Unix sockets): the
// plain re-issue, what the engine remembers and for whom, and the timeout,
// cancel and abort of a refused send.

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// Unix sockets refuse zero copy (EOPNOTSUPP): the send goes out plainly,
// intact, through the callback exactly once, and the engine remembers, so
// the next send is plain from the start. Both with a callback (the
// re-queue joins a reaper's batch) and Wait-only (handed to a reaper from
// an inline reap).
func TestSendZCRefusedFallsBack(t *testing.T) {
	for _, withCB := range []bool{true, false} {
		name := "Wait"
		if withCB {
			name = "callback"
		}
		t.Run(name, func(t *testing.T) {
			e := zcEngine(t, 1)
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			var calls atomic.Int32
			var cb func(*Aio)
			if withCB {
				cb = func(*Aio) { calls.Add(1) }
			}
			a := e.NewAio(cb)
			for i, wantOp := range []sqe.Op{sqe.OpSend, sqe.OpSend} {
				data := pattern(100<<10, byte(i))
				a.SetIOV(data)
				got := make(chan []byte, 1)
				go func() { got <- readFull(t, fds[1], len(data)) }()
				a.Send(fds[0])
				a.Wait()
				if a.Result() != nil || a.Count() != len(data) {
					t.Fatalf("send %d: %v, %d; want nil, %d", i, a.Result(), a.Count(), len(data))
				}
				if !bytes.Equal(<-got, data) {
					t.Fatalf("send %d: received bytes differ", i)
				}
				if op := a.zcSendOp(); op != wantOp {
					t.Fatalf("send %d went out as %v, want %v", i, op, wantOp)
				}
				if e.zcRefusals.Load() != 1 {
					t.Fatalf("%d refusals after send %d, want 1 (remembered)", e.zcRefusals.Load(), i)
				}
			}
			if withCB && calls.Load() != 2 {
				t.Fatalf("%d callbacks for 2 sends", calls.Load())
			}
		})
	}
}

// A refusal is remembered per Aio and descriptor, not per engine: on one
// engine, after a Unix socket refused, the same Aio on a TCP socket and
// another Aio still send zero-copy, and the refusing pair stays plain.
func TestSendZCRefusalPerDescriptor(t *testing.T) {
	e := zcEngine(t, 1)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	snd, rcv := tcpPair(t, 0, 0)
	a, other := e.NewAio(nil), e.NewAio(nil)
	data := pattern(4096, 1)
	for i, tc := range []struct {
		a      *Aio
		fd, rd int
		op     sqe.Op
	}{
		{a, fds[0], fds[1], sqe.OpSend}, // refused, re-sent plainly
		{a, snd, rcv, sqe.OpSendZC},
		{other, snd, rcv, sqe.OpSendZC},
		{a, fds[0], fds[1], sqe.OpSend}, // plain from the start
		{other, fds[0], fds[1], sqe.OpSend},
	} {
		tc.a.SetIOV(data)
		tc.a.Send(tc.fd)
		tc.a.Wait()
		if tc.a.Result() != nil || tc.a.Count() != len(data) || tc.a.zcSendOp() != tc.op {
			t.Fatalf("send %d: %v, %d, %v; want nil, %d, %v", i, tc.a.Result(), tc.a.Count(), tc.a.zcSendOp(), len(data), tc.op)
		}
		if !bytes.Equal(readFull(t, tc.rd, len(data)), data) {
			t.Fatalf("send %d: received bytes differ", i)
		}
	}
	if n := e.zcRefusals.Load(); n != 2 {
		t.Fatalf("%d refusals, want 2 (one per Aio on the Unix socket)", n)
	}
}

// A refused send keeps its timeout: on a full Unix socket the plain
// re-issue ends with ErrTimedOut at the original deadline, and a Cancel of
// the plain send ends it with ErrCanceled.
func TestSendZCRefusedKeepsTimeoutAndCancel(t *testing.T) {
	e := zcEngine(t, 1)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	fillFd(t, fds[0])
	a := e.NewAio(nil)
	a.SetIOV(pattern(4096, 1))
	a.SetTimeout(30 * time.Millisecond)
	start := time.Now()
	a.Send(fds[0])
	a.Wait()
	if a.Result() != ErrTimedOut || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("refused then plain send on a full socket: %v after %v; want ErrTimedOut after 30 ms", a.Result(), time.Since(start))
	}
	a.SetTimeout(Infinite)
	m := MarkSubmissions(t)
	a.Send(fds[0])
	m.Parked(t, e, a, fds[0]) // Cancel is to find the plain re-issue waiting for room
	a.Cancel()
	a.Wait()
	if a.Result() != ErrCanceled {
		t.Fatalf("cancelled send: %v, want ErrCanceled", a.Result())
	}
}

// A refused send that is aborted before its plain re-issue ends with the
// abort's error and sends nothing. The race is driven many times: each
// outcome must be exactly one callback, and bytes received must equal the
// counts reported.
func TestSendZCRefusedAbortRace(t *testing.T) {
	for i := 0; i < 200; i++ {
		e, err := NewEngine(Config{SendZeroCopyMin: 1})
		if err != nil {
			t.Skip(err)
		}
		if !e.Supports(FeatureZeroCopySend) {
			e.Close()
			t.Skip("no SEND_ZC")
		}
		fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		var calls atomic.Int32
		a := e.NewAio(func(*Aio) { calls.Add(1) })
		a.SetIOV(pattern(1000, 1))
		a.Send(fds[0])
		if i%2 == 0 {
			a.Cancel()
		} else {
			a.Stop()
		}
		a.Wait()
		n := a.Count()
		switch a.Result() {
		case nil:
			if n != 1000 {
				t.Fatalf("round %d: nil with %d bytes", i, n)
			}
		case ErrCanceled, ErrStopped:
			if n != 0 {
				t.Fatalf("round %d: %v with %d bytes", i, a.Result(), n)
			}
		default:
			t.Fatalf("round %d: %v", i, a.Result())
		}
		unix.SetNonblock(fds[1], true)
		buf := make([]byte, 2000)
		k, _ := unix.Read(fds[1], buf)
		if max(k, 0) != n {
			t.Fatalf("round %d: reported %d bytes, received %d", i, n, k)
		}
		if calls.Load() != 1 {
			t.Fatalf("round %d: %d callbacks", i, calls.Load())
		}
		e.Close()
		unix.Close(fds[0])
		unix.Close(fds[1])
	}
}
