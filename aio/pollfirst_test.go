//go:build linux

package aio

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

func pollFirstEngine(t *testing.T, mode pollFirstMode) *Engine {
	t.Helper()
	if !ring.KernelAtLeast(5, 19) {
		t.Skip("IORING_RECVSEND_POLL_FIRST and IORING_CQE_F_SOCK_NONEMPTY are 5.19's")
	}
	e, err := NewEngine(Config{Backend: BackendIOURing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.pollFirst = mode
	return e
}

// recvWait runs one Recv on fd and returns what it got and whether the
// kernel was asked to poll first.
func recvWait(t *testing.T, a *Aio, fd int, buf []byte) ([]byte, bool) {
	t.Helper()
	a.SetIOV(buf)
	a.Recv(fd)
	done := make(chan struct{})
	go func() { a.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // generous: prompt is milliseconds
		a.Cancel()
		<-done
		t.Fatalf("Recv did not complete in 10 s: %v", a.Result())
	}
	if err := a.Result(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	a.mu.Lock()
	pf := a.req.ioprio&sqe.RecvsendPollFirst != 0
	a.mu.Unlock()
	return buf[:a.Count()], pf
}

// The kernel's hint is what the drained mode reads: a Recv that leaves
// bytes behind has SOCK_NONEMPTY, one that empties the socket has not.
func TestPollFirstHintFromKernel(t *testing.T) {
	e := pollFirstEngine(t, pollFirstDrained)
	c, s := tcpPair(t, 0, 0)
	a := e.NewAio(nil)
	defer a.Free()
	if _, err := unix.Write(c, []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // loopback delivers in the write; margin
	got, pf := recvWait(t, a, s, make([]byte, 4))
	if string(got) != "0123" || pf {
		t.Fatalf("first Recv: %q, poll first %v; want \"0123\", false", got, pf)
	}
	if a.drainedFD != 0 {
		t.Fatalf("6 bytes left behind, yet the hint says drained (no IORING_CQE_F_SOCK_NONEMPTY)")
	}
	got, pf = recvWait(t, a, s, make([]byte, 64))
	if string(got) != "456789" || pf {
		t.Fatalf("second Recv: %q, poll first %v; want \"456789\", false", got, pf)
	}
	if a.drainedFD != int32(s)+1 {
		t.Fatalf("the socket is empty, yet the hint is %d, want %d", a.drainedFD, s+1)
	}
}

// A Recv issued with POLL_FIRST gets its data, in order and with the right
// Count, both when the data is already queued (the armed poll fires at
// once) and when it comes later; a zero-timeout Recv never polls first.
func TestPollFirstDrainedThenRefilled(t *testing.T) {
	for _, mode := range []pollFirstMode{pollFirstDrained, pollFirstAfterSend} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			e := pollFirstEngine(t, mode)
			c, s := tcpPair(t, 0, 0)
			a := e.NewAio(nil)
			defer a.Free()
			buf := make([]byte, 256)
			polled := 0
			for i := 0; i < 60; i++ {
				msg := []byte(fmt.Sprintf("message %d", i))
				switch i % 3 {
				case 0: // queued before the Recv starts
					if _, err := unix.Write(c, msg); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Millisecond)
				case 1: // comes while the Recv waits
					go func() {
						time.Sleep(2 * time.Millisecond)
						unix.Write(c, msg)
					}()
				case 2: // races with the start
					go unix.Write(c, msg)
				}
				got, pf := recvWait(t, a, s, buf)
				if !bytes.Equal(got, msg) {
					t.Fatalf("Recv %d: %q, want %q", i, got, msg)
				}
				if pf {
					polled++
				}
				if mode == pollFirstAfterSend {
					// The Aio sends the echo, so its next Recv polls first.
					a.SetIOV(got)
					a.Send(s)
					a.Wait()
					if a.Result() != nil || a.Count() != len(got) {
						t.Fatalf("Send: %v, %d", a.Result(), a.Count())
					}
					if echo := make([]byte, 64); true {
						n, _ := unix.Read(c, echo)
						if !bytes.Equal(echo[:n], msg) {
							t.Fatalf("echo %q, want %q", echo[:n], msg)
						}
					}
				}
			}
			if polled < 55 {
				t.Fatalf("%d of 60 Recvs polled first; the mode is not applied", polled)
			}
			// A zero timeout is one attempt, at once, whatever the hint.
			a.SetTimeout(0)
			if _, err := unix.Write(c, []byte("now")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
			got, pf := recvWait(t, a, s, buf)
			if string(got) != "now" || pf {
				t.Fatalf("zero-timeout Recv: %q, poll first %v; want \"now\", false", got, pf)
			}
			a.SetIOV(buf)
			a.Recv(s)
			a.Wait()
			if a.Result() != ErrTimedOut {
				t.Fatalf("zero-timeout Recv on an empty socket: %v, want ErrTimedOut", a.Result())
			}
		})
	}
}

// An echo driven by callbacks, the server's Aio alternating Recv and
// Send: every byte comes back in order.
func TestPollFirstEchoCallbacks(t *testing.T) {
	for _, mode := range []pollFirstMode{pollFirstOff, pollFirstDrained, pollFirstAfterSend} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			e := pollFirstEngine(t, mode)
			c, s := tcpPair(t, 0, 0)
			buf := make([]byte, 512)
			var n, sent int
			sending := false
			ended := make(chan error, 1)
			a := e.NewAio(func(a *Aio) {
				if a.Result() != nil || (!sending && a.Count() == 0) {
					ended <- a.Result()
					return
				}
				if sending {
					sent += a.Count()
				} else {
					n, sent, sending = a.Count(), 0, true
				}
				if sent < n {
					a.SetIOV(buf[sent:n])
					a.Send(s)
					return
				}
				sending = false
				a.SetIOV(buf)
				a.Recv(s)
			})
			a.SetIOV(buf)
			a.Recv(s)
			in := make([]byte, 4096)
			for i := 0; i < 500; i++ {
				msg := []byte(fmt.Sprintf("%d:%s", i, bytes.Repeat([]byte{'x'}, i%300)))
				if _, err := unix.Write(c, msg); err != nil {
					t.Fatal(err)
				}
				got := 0
				for got < len(msg) {
					m, err := unix.Read(c, in[got:])
					if err != nil || m == 0 {
						t.Fatalf("read echo %d: %d, %v", i, m, err)
					}
					got += m
				}
				if !bytes.Equal(in[:got], msg) {
					t.Fatalf("echo %d: %q, want %q", i, in[:got], msg)
				}
			}
			unix.Shutdown(c, unix.SHUT_WR)
			select {
			case err := <-ended:
				if err != nil {
					t.Fatalf("server ended with %v, want end of stream", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server's Recv did not see the end of stream in 10 s")
			}
			a.Free()
		})
	}
}
