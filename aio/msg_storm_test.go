//go:build linux

package aio

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A TCP stream read with RecvMsg under random cancels, aborts, short
// timeouts and zero-timeout attempts, through a pool small enough to run
// dry (the receive then waits for Frees), arrives complete and in order:
// no message lost or duplicated. Messages are held for a while before
// Free, in both modes (multishot, and the single-shot fallback).
func TestStormRecvMsgStreamComplete(t *testing.T) { stormRecvMsgModes(t, false) }

// The same storm with Recvs into small buffers mixed in: on a descriptor
// with a multishot those are served from its queue (msgmixed.go), taking
// parts of its messages; nothing is lost, duplicated or reordered.
func TestStormRecvMixedStreamComplete(t *testing.T) { stormRecvMsgModes(t, true) }

// stormRecvMsgModes runs stormRecvMsg with multishot receive and with the
// single-shot fallback.
func stormRecvMsgModes(t *testing.T, mixed bool) {
	for _, fallback := range []bool{false, true} {
		name := "multishot"
		if fallback {
			name = "fallback"
		}
		t.Run(name, func(t *testing.T) {
			old := forceMsgFallback
			forceMsgFallback = fallback
			defer func() { forceMsgFallback = old }()
			stormRecvMsg(t, mixed)
		})
	}
}

func stormRecvMsg(t *testing.T, mixed bool) {
	e := relEngine(t, Config{Entries: 32, MsgBuffers: 8, MsgBufferSize: 1024})
	f, peer := relTCPPair(t)
	fd := int(f.Fd())

	total := 2 << 20
	if testing.Short() {
		total = 512 << 10
	}
	want, writeErr := stormStream(peer, total, 4096)

	done := make(chan struct{}, 1)
	a := e.NewAio(func(*Aio) { done <- struct{}{} })
	defer a.Free()

	cancels, stopCancel := stormCanceller(a)

	var tally resultTally
	got := make([]byte, 0, total)
	rng := rand.New(rand.NewPCG(10, 10))
	var held []*Msg           // kept a while, so the pool of 8 runs dry
	buf := make([]byte, 1500) // a Recv's, at most 1.5 pool buffers
	var frees sync.WaitGroup
	limit := time.Now().Add(2 * time.Minute)
	for time.Now().Before(limit) {
		switch rng.IntN(4) {
		case 0:
			a.SetTimeout(0)
		case 1:
			a.SetTimeout(Infinite)
		default:
			a.SetTimeout(time.Duration(rng.IntN(1000)+1) * time.Microsecond)
		}
		if len(held) >= 7 || (len(held) > 0 && rng.IntN(2) == 0) {
			m := held[0]
			held = held[1:]
			if rng.IntN(2) == 0 {
				m.Free()
			} else {
				// Freed a little later, from another goroutine: the
				// receive meanwhile may find the pool dry and wait.
				frees.Add(1)
				time.AfterFunc(time.Duration(rng.IntN(300))*time.Microsecond, func() {
					m.Free()
					frees.Done()
				})
			}
		}
		recv := mixed && rng.IntN(3) == 0
		if recv {
			a.SetIOV(buf[:rng.IntN(len(buf))+1])
			a.Recv(fd)
		} else {
			a.RecvMsg(fd)
		}
		if rng.IntN(8) == 0 {
			a.Cancel() // races with the completion itself
			cancels.Add(1)
		}
		<-done
		a.Wait()
		err, n, m := a.Result(), a.Count(), a.Msg()
		tally.add(err)
		switch {
		case recv && err == nil && n > 0: // Msg is still what RecvMsg attached
			got = append(got, buf[:n]...)
		case recv && err == nil && n == 0: // end of stream
		case err == nil && n > 0 && m != nil && len(m.Bytes()) == n:
			got = append(got, m.Bytes()...)
			held = append(held, m)
		case err == nil && n == 0 && m == nil: // end of stream
		case (err == ErrTimedOut || err == ErrCanceled || err == errStormAbort) && n == 0 && (m == nil || recv):
			continue
		default:
			t.Fatalf("RecvMsg or Recv (%v): result %v count %d msg %v", recv, err, n, m)
		}
		if err == nil && n == 0 {
			break
		}
	}
	for _, m := range held {
		m.Free()
	}
	frees.Wait()
	stopCancel()
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	tally.check(t)
	starved := e.msgs.starvations.Load()
	t.Logf("%d bytes received, %d cancels/aborts, the pool ran dry %d times", len(got), cancels.Load(), starved)
	if starved == 0 {
		t.Fatal("the pool of 8 never ran dry: the test did not exercise waiting for buffers")
	}
	if len(got) != total {
		t.Fatalf("received %d bytes, sent %d", len(got), total)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("stream differs at byte %d", i)
	}
}

// A steady RecvMsg → SetMsg → Send → Free cycle on reused Aios allocates
// nothing, in both modes (like TestZeroAllocsPerOp).
func TestZeroAllocsRecvMsgCycle(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, fallback := range []bool{false, true} {
		forceMsgFallback = fallback
		e := testEngine(t)
		forceMsgFallback = false
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		s, r, q := e.NewAio(nil), e.NewAio(nil), e.NewAio(nil)
		s.SetIOV(make([]byte, 64))
		q.SetIOV(make([]byte, 64))
		cycle := func() {
			s.Send(fds[0])
			s.Wait()
			r.RecvMsg(fds[1])
			r.Wait()
			m := r.Msg()
			if r.Result() != nil || r.Count() != 64 || m == nil {
				t.Fatalf("RecvMsg: %v %d", r.Result(), r.Count())
			}
			r.SetMsg(m)
			r.Send(fds[1])
			r.Wait()
			if r.Result() != nil || r.Count() != 64 {
				t.Fatalf("Send of the message: %v %d", r.Result(), r.Count())
			}
			m.Free()
			r.SetMsg(nil)
			q.Recv(fds[0])
			q.Wait()
			if q.Result() != nil || q.Count() != 64 {
				t.Fatalf("Recv of the echo: %v %d", q.Result(), q.Count())
			}
		}
		for i := 0; i < 3; i++ {
			cycle() // warm up: the pool, the fd's state, the Aios' extras
		}
		if n := testing.AllocsPerRun(200, cycle); n != 0 {
			t.Errorf("fallback=%v: %.2f allocations per RecvMsg/Send/Free cycle, want 0", fallback, n)
		}
		unix.Close(fds[0])
		unix.Close(fds[1])
	}
}

// What messages cost in memory: an engine that never uses them maps no
// pool; the first RecvMsg on a ring maps MsgBuffers × MsgBufferSize of
// address space, resident only as the kernel writes buffers; an idle
// connection with its multishot armed costs only its state on the heap.
func TestMsgMemory(t *testing.T) {
	e := testEngine(t)
	for i := range e.msgs.rings {
		if p := e.msgs.poolOf(i); p != nil {
			t.Fatalf("ring %d has a pool before any RecvMsg", i)
		}
	}
	const conns = 2000
	pairs := make([][2]int, conns)
	for i := range pairs {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skipf("socketpair %d: %v", i, err)
		}
		pairs[i] = [2]int{fds[0], fds[1]}
	}
	defer func() {
		for _, p := range pairs {
			unix.Close(p[0])
			unix.Close(p[1])
		}
	}()
	aios := make([]*Aio, conns)
	for i := range aios {
		aios[i] = e.NewAio(nil)
	}
	// The first RecvMsg maps the pool.
	aios[0].RecvMsg(pairs[0][0])
	rssBefore := rssKiB(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 1; i < conns; i++ {
		aios[i].RecvMsg(pairs[i][0])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	rssAfter := rssKiB(t)
	perConn := float64(after.HeapAlloc-before.HeapAlloc) / (conns - 1)
	t.Logf("pool per ring: %d buffers × %d bytes = %d KiB of address space; idle connection with a multishot armed and a RecvMsg waiting: %.0f bytes of heap (Aio extras included), RSS %+d KiB over %d connections",
		DefaultMsgBuffers, DefaultMsgBufferSize, DefaultMsgBuffers*DefaultMsgBufferSize>>10, perConn, rssAfter-rssBefore, conns-1)
	if perConn > 4096 {
		t.Fatalf("an idle connection costs %.0f bytes, want <= 4096", perConn)
	}
	for _, a := range aios {
		a.Cancel()
		a.Wait()
	}
}

func rssKiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// Close with results queued (seen inside the engine, so the test cannot
// pass with nothing queued): every queued buffer goes back to the pool
// and every queued accepted descriptor is closed.
func TestMsgCloseReturnsQueued(t *testing.T) {
	e := testEngine(t)
	if !e.msgs.multishot || !e.msgs.msAccept {
		t.Skip("nothing is queued without multishot requests (the portable backend, or the single-shot fallback)")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Listen(l, 64)
	sa, _ := unix.Getsockname(l)
	a := e.NewAio(nil)
	a.SetTimeout(10 * time.Second)
	unix.Write(fds[1], []byte("x"))
	a.RecvMsg(fds[0])
	a.Wait()
	a.Msg().Free()
	c0, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(c0)
	unix.Connect(c0, sa)
	a.Accept(l)
	a.Wait()
	unix.Close(a.Output(0).(int))
	for i := 0; i < 5; i++ {
		unix.Write(fds[1], []byte("queued"))
		c, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		defer unix.Close(c)
		unix.Connect(c, sa)
	}
	queued := func() (msgs, conns int) {
		for _, st := range e.msgs.states() {
			st.mu.Lock()
			if st.accept {
				conns += st.qn
			} else {
				msgs += st.qn
			}
			st.mu.Unlock()
		}
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for m, c := queued(); (m < 5 || c < 5) && time.Now().Before(deadline); m, c = queued() {
		time.Sleep(time.Millisecond) // polling interval of a wait with a deadline
	}
	if m, c := queued(); m != 5 || c != 5 {
		t.Fatalf("queued %d messages and %d connections, want 5 and 5", m, c)
	}
	before := openFDsInternal(t)
	pool := e.msgs.poolOf(0).(*ringPool)
	a.Free()
	e.Close()
	if pool.out != 0 {
		t.Fatalf("%d buffers not back in the pool after Close", pool.out)
	}
	// The 5 queued connections, and the ring's descriptors, are closed.
	if after := openFDsInternal(t); after > before-5 {
		t.Fatalf("%d descriptors open before Close, %d after; the 5 queued connections must be closed", before, after)
	}
}

func openFDsInternal(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1
}
