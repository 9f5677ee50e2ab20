package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// The soak test (go run ./bench -soak DURATION) runs a mixed load on one
// engine for a long time and reports, every soakInterval, the operations
// done, errors by kind and the process's resident memory, so that slow
// leaks and rare failures show up. Every operation's result is checked:
// ErrTimedOut and ErrCanceled are expected (the load asks for them), as is
// ErrStopped at shutdown; anything else, and any byte read back that is
// not what was written, is unexpected and makes runSoak fail.
//
// The load: NOP chains; sleeps with random timeouts and cancels; block
// writes to a file with random timeouts and cancels, each followed by a
// read-back that must show the last write that reported success; and TCP
// echo connections over loopback, accepted, connected, received and sent
// through the engine, whose client receives have random timeouts and
// cancels and must still see the stream complete and in order; files by
// name (soak_named.go) and UDP echo (soak_dgram.go), likewise with random
// timeouts and cancels; and descriptors received on with RecvMsg and
// dropped over and over, their numbers reused (soak_churn.go).

const soakInterval = 10 * time.Second

type soakStats struct {
	ops, timedOut, canceled, stopped atomic.Int64
	bytesEchoed, blocksVerified      atomic.Int64
	namedVerified, dgramsVerified    atomic.Int64
	msgsVerified                     atomic.Int64

	mu         sync.Mutex // also serialises writes to out
	unexpected map[string]int64
	out        io.Writer
	begin      time.Time
}

// result counts one finished op and classifies its error.
func (s *soakStats) result(what string, err error) {
	s.ops.Add(1)
	switch err {
	case nil:
	case aio.ErrTimedOut:
		s.timedOut.Add(1)
	case aio.ErrCanceled:
		s.canceled.Add(1)
	case aio.ErrStopped:
		s.stopped.Add(1)
	default:
		s.fail(what + ": " + err.Error())
	}
}

// fail records an unexpected outcome; the first of each kind is printed at
// once, with the time it happened.
func (s *soakStats) fail(what string) {
	s.mu.Lock()
	s.unexpected[what]++
	if s.unexpected[what] == 1 {
		fmt.Fprintf(s.out, "soak: t=%v unexpected: %s\n", time.Since(s.begin).Round(time.Millisecond), what)
	}
	s.mu.Unlock()
}

func (s *soakStats) printf(format string, args ...any) {
	s.mu.Lock()
	fmt.Fprintf(s.out, format, args...)
	s.mu.Unlock()
}

func (s *soakStats) unexpectedTotal() (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	var kinds []string
	for k, v := range s.unexpected {
		n += v
		kinds = append(kinds, fmt.Sprintf("%q×%d", k, v))
	}
	sort.Strings(kinds)
	return n, strings.Join(kinds, ", ")
}

// soak holds the running load.
type soak struct {
	e        *aio.Engine
	st       soakStats
	stopping atomic.Bool
	all      []*aio.Aio // stopped at the end
	cancel   []*aio.Aio // targets of the random canceller
	mu       sync.Mutex
	fds      []int          // closed at the end
	workers  sync.WaitGroup // goroutines of the load's own, which end once stopping is set
}

func (s *soak) newAio(cancellable bool, cb func(*aio.Aio)) *aio.Aio {
	a := s.e.NewAio(cb)
	s.mu.Lock()
	s.all = append(s.all, a)
	if cancellable {
		s.cancel = append(s.cancel, a)
	}
	s.mu.Unlock()
	return a
}

func (s *soak) addFd(fd int) {
	s.mu.Lock()
	s.fds = append(s.fds, fd)
	s.mu.Unlock()
}

// runSoak runs the mixed load for d or until ctx is done, printing a line
// every soakInterval (more often for short runs) and a summary to out. It
// returns an error if any unexpected error or wrong data was seen.
func runSoak(ctx context.Context, d time.Duration, out io.Writer) error {
	e, err := aio.NewEngine(engineConfig())
	if err != nil {
		return err
	}
	s := &soak{e: e}
	s.st.unexpected = map[string]int64{}
	s.st.out = out
	s.st.begin = time.Now()
	dir, err := os.MkdirTemp("", "aioring-soak")
	if err != nil {
		e.Close()
		return err
	}
	defer os.RemoveAll(dir)

	s.startNops(2)
	s.startSleeps(16)
	if err := s.startFiles(dir, 4); err != nil {
		s.shutdown()
		return err
	}
	if err := s.startEcho(4); err != nil {
		s.shutdown()
		return err
	}
	s.startNamed(dir, 4)
	if err := s.startDatagrams(4); err != nil {
		s.shutdown()
		return err
	}
	s.startChurn(2)
	cancelDone := make(chan struct{})
	stopCancel := make(chan struct{})
	go s.canceller(stopCancel, cancelDone)

	interval := soakInterval
	if d < 4*soakInterval {
		interval = max(d/4, 100*time.Millisecond)
	}
	fmt.Fprintf(out, "soak: %v of mixed load (nops, sleeps, file writes+read-backs, 4 TCP echo connections, files by name, UDP echo, descriptors churned under RecvMsg) on the %s backend, a line every %v\n", d, e.Backend(), interval)
	begin := time.Now()
	var lastOps int64
	last := begin
	report := func() {
		now := time.Now()
		ops := s.st.ops.Load()
		rate := float64(ops-lastOps) / now.Sub(last).Seconds()
		lastOps, last = ops, now
		// The load allocates little, so the GC may not run for minutes:
		// collect first, so that heap is what is live, not garbage.
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		bad, _ := s.st.unexpectedTotal()
		s.st.printf("soak: t=%-6v ops=%-10d ops/s=%-8.0f timedout=%-8d canceled=%-8d unexpected=%d rss=%.1fMiB liveheap=%.0fKiB goroutines=%d fds=%d\n",
			now.Sub(begin).Round(time.Second), ops, rate, s.st.timedOut.Load(), s.st.canceled.Load(), bad,
			float64(rssBytes())/(1<<20), float64(ms.HeapAlloc)/(1<<10), runtime.NumGoroutine(), openFds())
	}
	tick := time.NewTicker(interval)
	end := time.NewTimer(d)
loop:
	for {
		select {
		case <-tick.C:
			report()
		case <-end.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	end.Stop()
	close(stopCancel)
	<-cancelDone
	s.shutdown()
	report()
	bad, kinds := s.st.unexpectedTotal()
	fmt.Fprintf(out, "soak: done after %v: %d ops, %d timed out, %d canceled, %d stopped at shutdown, %d echoed bytes, %d file blocks, %d blocks of named files, %d datagrams and %d churned messages verified, unexpected errors: %d\n",
		time.Since(begin).Round(time.Millisecond), s.st.ops.Load(), s.st.timedOut.Load(), s.st.canceled.Load(), s.st.stopped.Load(),
		s.st.bytesEchoed.Load(), s.st.blocksVerified.Load(), s.st.namedVerified.Load(), s.st.dgramsVerified.Load(), s.st.msgsVerified.Load(), bad)
	if bad > 0 {
		return fmt.Errorf("%d unexpected errors: %s", bad, kinds)
	}
	return nil
}

// shutdown stops every aio (their callbacks see stopping and start nothing
// more), closes the descriptors and the engine.
func (s *soak) shutdown() {
	s.stopping.Store(true)
	s.workers.Wait()
	s.mu.Lock()
	all := append([]*aio.Aio(nil), s.all...)
	s.mu.Unlock()
	for _, a := range all {
		a.Stop()
	}
	s.mu.Lock()
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.fds = nil
	s.mu.Unlock()
	for _, a := range all {
		a.Free()
	}
	if err := s.e.Close(); err != nil {
		s.st.fail("Engine.Close: " + err.Error())
	}
}

// canceller cancels a random cancellable aio every 0-2 ms.
func (s *soak) canceller(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	rng := rand.New(rand.NewPCG(1, 1))
	s.mu.Lock()
	targets := append([]*aio.Aio(nil), s.cancel...)
	s.mu.Unlock()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		targets[rng.IntN(len(targets))].Cancel()
		t.Reset(time.Duration(rng.IntN(2000)) * time.Microsecond)
	}
}

// startNops runs n chains of 64 NOPs and a 1 ms sleep, over and over.
func (s *soak) startNops(n int) {
	for i := 0; i < n; i++ {
		k := 0
		a := s.newAio(false, func(a *aio.Aio) {
			s.st.result("Nop", a.Result())
			if s.stopping.Load() {
				return
			}
			k++
			if k%64 == 0 {
				a.Sleep(time.Millisecond)
				return
			}
			a.Nop()
		})
		a.Nop()
	}
}

// startSleeps runs n aios sleeping 0-10 ms with random timeouts; a sleep
// with a timeout shorter than itself must time out, others must not.
func (s *soak) startSleeps(n int) {
	for i := 0; i < n; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 2))
		var d, timeout time.Duration
		start := func(a *aio.Aio) {
			d = time.Duration(rng.IntN(10000)) * time.Microsecond
			timeout = aio.Infinite
			if rng.IntN(2) == 0 {
				timeout = time.Duration(rng.IntN(10000)+1) * time.Microsecond
			}
			a.SetTimeout(timeout)
			a.Sleep(d)
		}
		a := s.newAio(true, func(a *aio.Aio) {
			err := a.Result()
			s.st.result("Sleep", err)
			wantTimeout := timeout >= 0 && d > timeout
			if (err == aio.ErrTimedOut) != wantTimeout && err != aio.ErrCanceled && err != aio.ErrStopped {
				s.st.fail(fmt.Sprintf("Sleep(%v) with timeout %v: %v", d, timeout, err))
			}
			if !s.stopping.Load() {
				start(a)
			}
		})
		start(a)
	}
}

const (
	soakBlock         = 4096
	soakBlocksPerAio  = 256
	soakFsyncInterval = 256
)

// soakPattern is the content of block blk at version v (v 0: never written,
// zeros).
func soakPattern(buf []byte, blk, v int) {
	if v == 0 {
		clear(buf)
		return
	}
	seed := byte(blk*131 + v*7)
	for i := range buf {
		buf[i] = seed + byte(i%251)
	}
}

// startFiles runs n aios each owning soakBlocksPerAio blocks of one file:
// write a block with a random timeout (cancels hit it too), then read it
// back, which must show the last version whose write reported success.
func (s *soak) startFiles(dir string, n int) error {
	f, err := os.Create(dir + "/blocks")
	if err != nil {
		return err
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return err
	}
	s.addFd(fd)
	for i := 0; i < n; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		versions := make([]int, soakBlocksPerAio) // last successful version per owned block
		wbuf := make([]byte, soakBlock)
		rbuf := make([]byte, soakBlock)
		want := make([]byte, soakBlock)
		var blk, local, next, writes int
		var phase string // "write", "read", "fsync"
		startWrite := func(a *aio.Aio) {
			local = rng.IntN(soakBlocksPerAio)
			blk = local*n + i
			next = versions[local] + 1
			soakPattern(wbuf, blk, next)
			a.SetTimeout(aio.Infinite)
			if rng.IntN(3) != 0 {
				a.SetTimeout(time.Duration(rng.IntN(2000)+1) * time.Microsecond)
			}
			a.SetIOV(wbuf)
			phase = "write"
			a.WriteAt(fd, int64(blk)*soakBlock)
		}
		a := s.newAio(true, func(a *aio.Aio) {
			err, cnt := a.Result(), a.Count()
			s.st.result("file "+phase, err)
			if s.stopping.Load() {
				return
			}
			switch phase {
			case "write":
				if err == nil {
					if cnt != soakBlock {
						s.st.fail(fmt.Sprintf("WriteAt: short count %d", cnt))
					}
					versions[local] = next
				}
				writes++
				a.SetTimeout(aio.Infinite)
				a.SetIOV(rbuf)
				phase = "read"
				a.ReadAt(fd, int64(blk)*soakBlock)
				return
			case "read":
				if err == nil {
					soakPattern(want, blk, versions[local])
					// A block past the end of the file reads short: the
					// rest is zeros, as in want for version 0.
					clear(rbuf[cnt:])
					if !bytes.Equal(rbuf, want) {
						s.st.fail(fmt.Sprintf("block %d does not hold version %d, the last write that reported success", blk, versions[local]))
					}
					s.st.blocksVerified.Add(1)
				}
				if writes%soakFsyncInterval == 0 {
					phase = "fsync"
					a.Fsync(fd)
					return
				}
			}
			startWrite(a)
		})
		startWrite(a)
	}
	return nil
}

// soakStream is the byte at offset off of every echo stream.
func soakStream(off int64) byte { return byte(off*31 + off>>9) }

// startEcho makes n loopback TCP connections through the engine (Accept,
// Connect) and echoes a pattern stream over each: the server side with
// Recv/Send, the client with a sender and a receiver whose Recvs have random
// timeouts and are cancelled at random, yet must see every byte in order.
func (s *soak) startEcho(n int) error {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	s.addFd(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(ln, 64); err != nil {
		return err
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		return err
	}
	accepted := make(chan int, n)
	acc := s.newAio(false, func(a *aio.Aio) {
		s.st.result("Accept", a.Result())
		if a.Result() != nil {
			return
		}
		fd := a.Output(0).(int)
		s.addFd(fd)
		accepted <- fd
		if !s.stopping.Load() && len(accepted) < n {
			a.Accept(ln)
		}
	})
	acc.Accept(ln)
	for c := 0; c < n; c++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.addFd(fd)
		done := make(chan error, 1)
		conn := s.newAio(false, func(a *aio.Aio) { s.st.result("Connect", a.Result()); done <- a.Result() })
		conn.SetTimeout(5 * time.Second)
		conn.Connect(fd, sa)
		if err := <-done; err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		var sfd int
		select {
		case sfd = <-accepted:
		case <-time.After(5 * time.Second):
			return errors.New("accept: no connection within 5 s")
		}
		s.serveEcho(sfd)
		s.clientEcho(fd, c)
	}
	return nil
}

// serveEcho echoes everything received on fd, with one aio. It checks the
// stream it receives too, so that a fault is placed on one direction.
func (s *soak) serveEcho(fd int) {
	buf := make([]byte, 32<<10)
	var have, sent int
	var off int64
	a := s.newAio(false, func(a *aio.Aio) {
		err, n := a.Result(), a.Count()
		if have == 0 { // a Recv finished
			s.st.result("echo server Recv", err)
			if err != nil || n == 0 || s.stopping.Load() {
				return
			}
			for i := 0; i < n; i++ {
				if buf[i] != soakStream(off+int64(i)) {
					s.st.fail(fmt.Sprintf("echo server: wrong byte at offset %d (byte %d of a %d-byte Recv); %s",
						off+int64(i), i, n, soakRealign(buf[i:n], off+int64(i))))
					return
				}
			}
			off += int64(n)
			have, sent = n, 0
		} else {
			s.st.result("echo server Send", err)
			if err != nil || s.stopping.Load() {
				return
			}
			sent += n
		}
		if sent < have {
			a.SetIOV(buf[sent:have])
			a.Send(fd)
			return
		}
		have = 0
		a.SetIOV(buf)
		a.Recv(fd)
	})
	a.SetIOV(buf)
	a.Recv(fd)
}

// clientEcho sends the pattern stream on fd and checks what comes back.
func (s *soak) clientEcho(fd, c int) {
	const window = 256 << 10 // the sender stays at most this far ahead
	var sentOff, recvOff atomic.Int64
	rng := rand.New(rand.NewPCG(uint64(c), 4))
	sbuf := make([]byte, 4<<10)
	var sender *aio.Aio
	var sendN int
	startSend := func(a *aio.Aio) {
		// Pauses keep the soak from taking every core of a shared machine,
		// and let the receiver catch up and wait, so its timers and
		// cancels race with arriving data.
		// Everything the callback reads is set before the op starts: its
		// callback may run (on another goroutine) before Sleep or Send
		// returns.
		if sentOff.Load()-recvOff.Load() > window || rng.IntN(4) == 0 {
			sendN = 0
			a.Sleep(time.Duration(rng.IntN(1000)+1) * time.Microsecond)
			return
		}
		sendN = rng.IntN(len(sbuf)) + 1
		off := sentOff.Load()
		for i := 0; i < sendN; i++ {
			sbuf[i] = soakStream(off + int64(i))
		}
		a.SetIOV(sbuf[:sendN])
		a.Send(fd)
	}
	sender = s.newAio(false, func(a *aio.Aio) {
		err, n := a.Result(), a.Count()
		if sendN > 0 {
			s.st.result("echo client Send", err)
			if err == nil {
				// A short send: the rest is sent with the next chunk,
				// which is regenerated from the new offset.
				sentOff.Add(int64(n))
			}
		} else {
			s.st.result("echo client pause", err)
		}
		if err != nil && err != aio.ErrTimedOut || s.stopping.Load() {
			return
		}
		startSend(a)
	})
	startSend(sender)

	rrng := rand.New(rand.NewPCG(uint64(c), 5))
	rbuf := make([]byte, 16<<10)
	var hist soakHistory // the receiver's last ops, printed if the stream goes wrong
	var timeout time.Duration
	var size int
	startRecv := func(a *aio.Aio) {
		timeout = soakRecvTimeout(rrng, 5000)
		size = rrng.IntN(len(rbuf)) + 1
		a.SetTimeout(timeout)
		a.SetIOV(rbuf[:size])
		a.Recv(fd)
	}
	recv := s.newAio(true, func(a *aio.Aio) {
		err, n := a.Result(), a.Count()
		s.st.result("echo client Recv", err)
		if err == nil && n == 0 && !s.stopping.Load() {
			s.st.fail("echo client Recv: connection closed early")
			return
		}
		if err != nil && n != 0 {
			s.st.fail(fmt.Sprintf("echo client Recv: %v with %d bytes", err, n))
		}
		off := recvOff.Load()
		hist.add(fmt.Sprintf("Recv(size %d, timeout %v) at %d: %v, %d bytes", size, timeout, off, err, n))
		for i := 0; i < n; i++ {
			if rbuf[i] != soakStream(off+int64(i)) {
				s.st.fail(fmt.Sprintf("echo stream %d: wrong byte at offset %d (byte %d of this Recv); %s; last ops: %s",
					c, off+int64(i), i, soakRealign(rbuf[i:n], off+int64(i)), hist.String()))
				return
			}
		}
		recvOff.Add(int64(n))
		s.st.bytesEchoed.Add(int64(n))
		if err != nil && err != aio.ErrTimedOut && err != aio.ErrCanceled || s.stopping.Load() {
			return
		}
		startRecv(a)
	})
	startRecv(recv)
}

// soakRecvTimeout picks a receive's timeout: zero (an attempt) or none a
// quarter of the time each, else 1 to maxUs microseconds.
func soakRecvTimeout(rng *rand.Rand, maxUs int) time.Duration {
	switch rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return aio.Infinite
	}
	return time.Duration(rng.IntN(maxUs)+1) * time.Microsecond
}

// soakHistory keeps the last few operations of one aio, for diagnosis.
type soakHistory struct {
	ops  [8]string
	next int
}

func (h *soakHistory) add(op string) { h.ops[h.next%len(h.ops)] = op; h.next++ }

func (h *soakHistory) String() string {
	var parts []string
	for i := max(0, h.next-len(h.ops)); i < h.next; i++ {
		parts = append(parts, h.ops[i%len(h.ops)])
	}
	return strings.Join(parts, " | ")
}

// soakRealign says where in the stream the received bytes got (which
// should have been at want) actually come from: bytes lost or repeated.
func soakRealign(got []byte, want int64) string {
	const probe = 64
	if len(got) < probe {
		return fmt.Sprintf("only %d bytes to realign", len(got))
	}
	for d := int64(1); d < 16<<20; d++ {
		for _, off := range []int64{want + d, want - d} {
			if off < 0 {
				continue
			}
			match := true
			for i := 0; i < probe && match; i++ {
				match = got[i] == soakStream(off+int64(i))
			}
			if match {
				if off > want {
					return fmt.Sprintf("the data continues at offset %d: %d bytes lost", off, off-want)
				}
				return fmt.Sprintf("the data repeats offset %d: %d bytes duplicated", off, want-off)
			}
		}
	}
	return "the data matches no offset within 16 MiB"
}

// rssBytes reads VmRSS from /proc/self/status.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// openFds counts this process's open descriptors.
func openFds() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}
