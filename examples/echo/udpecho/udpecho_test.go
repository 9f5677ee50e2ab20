//go:build unix

package udpecho

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// udpPair makes the server's socket and a client socket connected to it,
// both on 127.0.0.1 with room for a burst.
func udpPair(t *testing.T) (srv, cli int) {
	t.Helper()
	mk := func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20) // best effort
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	srv, cli = mk(), mk()
	sa, err := unix.Getsockname(srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(cli, sa); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	unix.SetsockoptTimeval(cli, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return srv, cli
}

// startServe runs serve with n loops on a fresh engine; the cleanup closes
// the engine and checks that every loop ends, resting ones included.
func startServe(t *testing.T, n int) (*aio.Engine, *server, int) {
	t.Helper()
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := udpPair(t)
	s, done := serve(e, srv, n, io.Discard)
	t.Cleanup(func() {
		e.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Serve's loops did not all end after Engine.Close")
		}
		unix.Close(srv)
		unix.Close(cli)
	})
	return e, s, cli
}

func (s *server) counts() (busy, maxBusy, resting, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy, s.maxBusy, len(s.resting), s.waiting
}

// settle waits until the loops are back to the waiters, as they must be
// once nothing is queued: every take ends at once and rests.
func (s *server) settle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		busy, _, resting, waiting := s.counts()
		if busy == waiters && resting == n-waiters && waiting == waiters {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("loops did not settle to the waiters: busy %d, resting %d of %d, waiting %d", busy, resting, n, waiting)
		}
		time.Sleep(time.Millisecond)
	}
}

// read and write are unix's, retried when a signal of the runtime's
// (preemption) interrupts the blocking call.
func read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func datagram(i int) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint64(b, uint64(i))
	return b
}

// A burst queued on the socket takes more loops than wait for it, every
// datagram of it comes back whole, and when it is over the loops shrink
// back to the waiters.
func TestServeBurstGrowsThenShrinks(t *testing.T) {
	const n, burst = 8, 100
	_, s, cli := startServe(t, n)
	s.settle(t, n)
	for i := 0; i < burst; i++ {
		if _, err := write(cli, datagram(i)); err != nil {
			t.Fatal(err)
		}
	}
	seen := make([]bool, burst)
	buf := make([]byte, 256)
	for got := 0; got < burst; got++ {
		m, err := read(cli, buf)
		if err != nil {
			t.Fatalf("after %d of %d echoes: %v", got, burst, err)
		}
		i := int(binary.LittleEndian.Uint64(buf))
		if m != 64 || i < 0 || i >= burst || seen[i] {
			t.Fatalf("echo %d: %d bytes, number %d (a duplicate or out of range)", got, m, i)
		}
		seen[i] = true
	}
	if _, maxBusy, _, _ := s.counts(); maxBusy < waiters+2 {
		t.Errorf("a burst of %d queued datagrams kept at most %d loops busy at once (%d wait when none is queued), want the loops to grow", burst, maxBusy, waiters)
	}
	s.settle(t, n)
	if got := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.received }(); got != burst {
		t.Errorf("received %d datagrams, sent %d", got, burst)
	}
}

// One client waiting for each echo keeps a few loops busy, not all of
// them: the receives pending on the socket stay few when datagrams come
// one at a time.
func TestServeOneClientFewLoops(t *testing.T) {
	const n, rounds = 32, 500
	e, s, cli := startServe(t, n)
	buf := make([]byte, 256)
	for i := 0; i < rounds; i++ {
		if _, err := write(cli, datagram(i)); err != nil {
			t.Fatal(err)
		}
		m, err := read(cli, buf)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if m != 64 || int(binary.LittleEndian.Uint64(buf)) != i {
			t.Fatalf("round %d: %d bytes, number %d", i, m, binary.LittleEndian.Uint64(buf))
		}
	}
	_, maxBusy, _, _ := s.counts()
	t.Logf("most loops busy at once: %d of %d", maxBusy, n)
	// On the portable backend a take is a recvfrom(2) of the starter's,
	// which can take the next datagram before the waiter's readiness
	// does, and the count wanders (up to n, where the fixed loops kept
	// all n): no pending receive there costs a wake-up per datagram.
	if e.Backend() == aio.BackendIOURing && maxBusy > n/2 {
		t.Errorf("one client in a closed loop kept %d of %d loops busy at once", maxBusy, n)
	}
	s.settle(t, n)
	// Resting is last in, first out: the loops below the deepest one
	// taken never received, and hold no buffer.
	s.mu.Lock()
	made := 0
	for _, l := range s.resting {
		if l.buf != nil {
			made++
		}
	}
	s.mu.Unlock()
	if made > maxBusy {
		t.Errorf("%d resting loops hold a buffer, more than the %d ever busy at once", made, maxBusy)
	}
}

// No loops (n 0 or below) serve nothing and are done at once, as the
// fixed loops were.
func TestServeNoLoops(t *testing.T) {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv, cli := udpPair(t)
	defer unix.Close(srv)
	defer unix.Close(cli)
	for _, n := range []int{0, -1} {
		select {
		case <-Serve(e, srv, n, io.Discard):
		case <-time.After(10 * time.Second):
			t.Fatalf("Serve with %d loops: not done", n)
		}
	}
}
