//go:build linux

package aio

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Datagrams under a storm of random timeouts, zero-timeout attempts,
// cancels and aborts: 16 Aios receive with RecvFrom on one UDP socket
// and 8 send numbered datagrams with SendTo through one shared address,
// paced so that the receive buffer never overflows (loopback then drops
// nothing). Every datagram whose SendTo succeeded arrives exactly once,
// from its sender's address; none whose SendTo failed arrives; no
// received datagram is reported as cancelled or timed out. The receivers
// use RecvFrom, or RecvMsg (through the multishot RECVMSG, and through its
// single-shot fallback), which must keep every datagram and its source
// as RecvFrom does. With a non-blocking socket, the receives the kernel
// gives back (sixteen waiting on one socket wear out its poll's retry
// budget) are queued again under the same storm (decision 78).
func TestStormDgram(t *testing.T) {
	for _, mode := range []string{"recvfrom", "recvfrom-nonblock", "recvmsg", "recvmsg-fallback"} {
		t.Run(mode, func(t *testing.T) {
			old := forceMsgFallback
			forceMsgFallback = mode == "recvmsg-fallback"
			e := relEngine(t, Config{Entries: 64})
			forceMsgFallback = old
			stormDgram(t, e, mode == "recvmsg" || mode == "recvmsg-fallback", mode == "recvfrom-nonblock")
		})
	}
}

func stormDgram(t *testing.T, e *Engine, recvMsg, nonblock bool) {
	flags := unix.SOCK_DGRAM | unix.SOCK_CLOEXEC
	if nonblock {
		flags |= unix.SOCK_NONBLOCK
	}
	rfd, err := unix.Socket(unix.AF_INET, flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	if err := unix.Bind(rfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	rsa, _ := unix.Getsockname(rfd)
	shared := rsa.(*unix.SockaddrInet4)

	const nsend, nrecv, window = 8, 16, 32
	var (
		mu       sync.Mutex
		sentOK   = map[uint64]int{} // seq → sender port
		sentBad  = map[uint64]bool{}
		received = map[uint64]int{}
		tally    resultTally
		inFlight atomic.Int64 // sent and not yet received
		stopping atomic.Bool
		wg       sync.WaitGroup
	)
	ports := make([]int, nsend)
	var seq atomic.Uint64
	recv := func(a *Aio) { a.RecvFrom(rfd) }
	if recvMsg {
		recv = func(a *Aio) { a.RecvMsg(rfd) }
	}
	// Receivers.
	recvs := make([]*Aio, nrecv)
	for i := range recvs {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		buf := make([]byte, 64)
		var a *Aio
		wg.Add(1)
		a = e.NewAio(func(*Aio) {
			err, n := a.Result(), a.Count()
			tally.add(err)
			payload := buf
			if m := a.Msg(); recvMsg && m != nil {
				payload = append(buf[:0], m.Bytes()...)
				m.Free()
			}
			switch {
			case err == nil:
				from, ok := a.From().(*unix.SockaddrInet4)
				if n != 16 || !ok {
					tally.bad("receive: count %d from %v", n, a.From())
					break
				}
				s := binary.LittleEndian.Uint64(payload)
				mu.Lock()
				received[s]++
				if p, ok := sentOK[s]; ok && p != from.Port {
					tally.bad("datagram %d from port %d, sent from %d", s, from.Port, p)
				}
				mu.Unlock()
				inFlight.Add(-1)
			case err == ErrTimedOut, err == ErrCanceled, err == errStormAbort, err == ErrStopped:
				if n != 0 {
					tally.bad("receive: %v with count %d", err, n)
				}
			default:
				tally.bad("receive: %v", err)
			}
			if stopping.Load() {
				wg.Done()
				return
			}
			stormTimeout(a, rng)
			recv(a)
		})
		a.SetIOV(buf)
		recvs[i] = a
	}
	// Senders.
	sends := make([]*Aio, nsend)
	for i := range sends {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		ports[i] = sa.(*unix.SockaddrInet4).Port
		port := ports[i]
		rng := rand.New(rand.NewPCG(uint64(i), 4))
		buf := make([]byte, 16)
		// A sender is a goroutine with an Aio used through Wait: the
		// pacing waits there, never in a callback (a blocked callback
		// holds back only itself, but costs a hand-off every time).
		a := e.NewAio(nil)
		a.SetIOV(buf)
		sends[i] = a
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() {
				for inFlight.Load() >= window && !stopping.Load() {
					time.Sleep(20 * time.Microsecond) // pacing: the receivers drain the window
				}
				cur := seq.Add(1)
				binary.LittleEndian.PutUint64(buf, cur)
				mu.Lock()
				sentOK[cur] = port // until told otherwise: it may arrive before the result
				mu.Unlock()
				inFlight.Add(1)
				stormTimeout(a, rng)
				a.SendTo(fd, shared)
				a.Wait()
				err, n := a.Result(), a.Count()
				tally.add(err)
				switch {
				case err == nil && n == 16:
				case err == ErrTimedOut, err == ErrCanceled, err == errStormAbort, err == ErrStopped:
					mu.Lock()
					delete(sentOK, cur)
					sentBad[cur] = true
					mu.Unlock()
					inFlight.Add(-1)
				default:
					tally.bad("SendTo: %v count %d", err, n)
				}
			}
		}()
	}
	for _, a := range recvs {
		a.SetTimeout(Infinite)
		recv(a)
	}
	// Cancels and aborts at random on every Aio.
	all := append(append([]*Aio{}, recvs...), sends...)
	deadline := time.Now().Add(stormTime())
	rng := rand.New(rand.NewPCG(5, 5))
	cancels := 0
	for time.Now().Before(deadline) {
		a := all[rng.IntN(len(all))]
		if rng.IntN(2) == 0 {
			a.Cancel()
		} else {
			a.Abort(errStormAbort)
		}
		cancels++
		time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond) // jitter
	}
	stopping.Store(true)
	for _, a := range sends {
		a.Stop()
	}
	// What the multishot has queued is kept while an Aio that used the
	// descriptor lives: an Aio of the test's takes it, from before the
	// receivers stop until nothing more comes.
	var drain *Aio
	drained := 0
	if recvMsg {
		// Its receive lists it as a user of the descriptor's state until
		// it stops, whether or not the receive times out.
		drain = e.NewAio(nil)
		defer drain.Free()
		drain.SetTimeout(200 * time.Millisecond)
		recv(drain)
	}
	for _, a := range recvs {
		a.Stop()
	}
	wg.Wait()
	for drain != nil {
		if drained > 0 {
			recv(drain)
		}
		drain.Wait()
		m := drain.Msg()
		if drain.Result() != nil || m == nil {
			break
		}
		if len(m.Bytes()) == 16 {
			received[binary.LittleEndian.Uint64(m.Bytes())]++
		}
		m.Free()
		drained++
	}
	// What is still in the socket is received by plain calls.
	buf := make([]byte, 64)
	for {
		n, _, err := unix.Recvfrom(rfd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			break
		}
		if n == 16 {
			received[binary.LittleEndian.Uint64(buf)]++
		}
	}
	tally.check(t)
	lost := 0
	for s := range sentOK {
		switch received[s] {
		case 1:
		case 0:
			lost++
		default:
			t.Errorf("datagram %d received %d times", s, received[s])
		}
	}
	for s := range sentBad {
		if received[s] != 0 {
			t.Errorf("datagram %d arrived, but its SendTo reported failure", s)
		}
	}
	t.Logf("%d datagrams sent and received (%d after the storm), %d sends failed, %d cancels/aborts, %d receives given back and queued again", len(sentOK), drained, len(sentBad), cancels, e.Stats().Requeued)
	if lost > 0 {
		t.Fatalf("%d datagrams whose SendTo succeeded never arrived", lost)
	}
	if len(sentOK) < 1000 {
		t.Fatalf("only %d datagrams: the storm did not exercise much", len(sentOK))
	}
}

// stormTimeout gives a's next operation a random timeout: a zero-timeout
// attempt, none, or up to 2 ms.
func stormTimeout(a *Aio, rng *rand.Rand) {
	switch rng.IntN(4) {
	case 0:
		a.SetTimeout(0)
	case 1:
		a.SetTimeout(Infinite)
	default:
		a.SetTimeout(time.Duration(rng.IntN(2000)+1) * time.Microsecond)
	}
}

// A byte stream moved pipe → socket with Splice under random timeouts,
// attempts, cancels and aborts arrives complete and in order: a splice
// that moved bytes reports them, whatever raced with it. With a blocking
// socket every Splice is the ring's IORING_OP_SPLICE; with a non-blocking
// one (on io_uring) the starter's splice(2) and the waits for readiness
// in its place (trysplice_linux.go).
func TestStormSpliceStream(t *testing.T) {
	for _, nonblock := range []bool{false, true} {
		t.Run(map[bool]string{false: "blocking", true: "nonblocking"}[nonblock], func(t *testing.T) {
			stormSpliceStream(t, nonblock)
		})
	}
}

func stormSpliceStream(t *testing.T, nonblock bool) {
	e := relEngine(t, Config{Entries: 32})
	needSplice(t, e)
	f, peer := relTCPPair(t)
	fd := int(f.Fd())
	if nonblock {
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pp[0])
	total := 4 << 20
	if testing.Short() {
		total = 1 << 20
	}
	want := make([]byte, total)
	wrng := rand.New(rand.NewPCG(11, 11))
	for i := range want {
		want[i] = byte(wrng.Uint32())
	}
	go func() {
		rng := rand.New(rand.NewPCG(12, 12))
		for off := 0; off < total; {
			n := min(total-off, rng.IntN(8192)+1)
			k, err := unix.Write(pp[1], want[off:off+n])
			if err != nil {
				break
			}
			off += k
			if rng.IntN(2) == 0 {
				time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond) // jitter: a writer of random pace
			}
		}
		unix.Close(pp[1])
	}()
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 0, total)
		buf := make([]byte, 64<<10)
		for {
			n, err := peer.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- b
	}()
	done := make(chan struct{}, 1)
	a := e.NewAio(func(*Aio) { done <- struct{}{} })
	defer a.Free()
	cancels, stopCancel := stormCanceller(a)
	rng := rand.New(rand.NewPCG(13, 13))
	var tally resultTally
	moved := 0
	limit := time.Now().Add(2 * time.Minute)
	for time.Now().Before(limit) {
		stormTimeout(a, rng)
		a.Splice(pp[0], -1, fd, -1, rng.IntN(32<<10)+1)
		if rng.IntN(8) == 0 {
			a.Cancel()
			cancels.Add(1)
		}
		<-done
		a.Wait()
		err, n := a.Result(), a.Count()
		tally.add(err)
		if err == nil && n == 0 {
			break // the writer closed the pipe
		}
		switch {
		case err == nil:
			moved += n
		case (err == ErrTimedOut || err == ErrCanceled || err == errStormAbort) && n == 0:
		default:
			t.Fatalf("Splice: %v count %d", err, n)
		}
	}
	stopCancel()
	f.Close() // the peer reads end of stream
	b := <-got
	tally.check(t)
	t.Logf("%d bytes spliced, %d cancels/aborts, %d splices on the starter", moved, cancels.Load(), e.Stats().Direct)
	if ring := e.Backend() == BackendIOURing; ring && nonblock != (e.Stats().Direct > 0) {
		t.Errorf("non-blocking socket %v: %d splices made on their starter, want them there exactly when the socket is non-blocking", nonblock, e.Stats().Direct)
	}
	if moved != total || len(b) != total {
		t.Fatalf("spliced %d, peer read %d, sent %d", moved, len(b), total)
	}
	if i := firstDiff(b, want); i >= 0 {
		t.Fatalf("stream differs at byte %d", i)
	}
}
