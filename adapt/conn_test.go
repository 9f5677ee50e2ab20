package adapt

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/net/nettest"
)

// tcpPipe is a loopback TCP connection made by this package alone: the
// server side comes from Listener.Accept, the client from Dial.
func tcpPipe(network, addr string) (c1, c2 net.Conn, stop func(), err error) {
	return tcpPipeOn(testEngine, network, addr)
}

// tcpPair is tcpPipeOn over loopback TCP for a test: it fails the test if
// the pair cannot be made, and stops it when the test ends.
func tcpPair(t *testing.T, e *aio.Engine) (c1, c2 net.Conn) {
	t.Helper()
	c1, c2, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return c1, c2
}

// tcpPipeOn is tcpPipe on engine e.
func tcpPipeOn(e *aio.Engine, network, addr string) (c1, c2 net.Conn, stop func(), err error) {
	l, err := Listen(e, network, addr)
	if err != nil {
		return nil, nil, nil, err
	}
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	dialAddr := l.Addr().String()
	c1, err = Dial(context.Background(), e, network, dialAddr)
	if err != nil {
		l.Close()
		<-ch
		return nil, nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		c1.Close()
		l.Close()
		return nil, nil, nil, r.err
	}
	stop = func() {
		c1.Close()
		r.c.Close()
		l.Close()
	}
	return c1, r.c, stop, nil
}

// forEachPath runs f as two subtests: with Conns on the netpoller path
// (the default engine) and on the engine path (a RingOnly engine).
func forEachPath(t *testing.T, f func(t *testing.T, e *aio.Engine)) {
	t.Run("netpoll", func(t *testing.T) { f(t, testEngine) })
	t.Run("engine", func(t *testing.T) { f(t, ringEngine) })
}

// A Conn takes the path its engine's configuration picks.
func TestConnPath(t *testing.T) {
	for _, e := range []*aio.Engine{testEngine, ringEngine} {
		c1, c2, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []net.Conn{c1, c2} {
			c := c.(*Conn)
			if ringOnly := e.Config().RingOnly; (c.pf == nil) != ringOnly {
				t.Errorf("RingOnly %v: netpoller path %v", ringOnly, c.pf != nil)
			}
		}
		stop()
	}
}

// waitBusy waits until a's operation has started.
func waitBusy(t *testing.T, a *aio.Aio) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !a.Busy(); {
		if time.Now().After(deadline) {
			t.Fatal("the operation did not start within 10 s")
		}
		time.Sleep(100 * time.Microsecond) // polling interval
	}
}

// waitReading waits until a Read of c waits for data (its Aio is busy, or
// the netpoller path found the socket empty), so that what the test does
// next meets the Read pending rather than before it, however late the
// goroutine that starts it is scheduled.
func waitReading(t *testing.T, c *Conn) {
	t.Helper()
	if c.rd != nil {
		waitBusy(t, c.rd.a)
		return
	}
	waitFor(t, "the Read", func() bool { return c.pin.waits.Load() != 0 })
}

// waitFor waits until waiting reports true, what being the call that
// should have begun to wait.
func waitFor(t *testing.T, what string, waiting func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !waiting(); {
		if time.Now().After(deadline) {
			t.Fatal(what + " did not start waiting within 10 s")
		}
		time.Sleep(100 * time.Microsecond) // polling interval
	}
}

// waitAccepting waits until an Accept of l waits for a connection (its
// Aio is busy, or the netpoller path found the queue empty).
func waitAccepting(t *testing.T, l *Listener) {
	t.Helper()
	if l.acc != nil {
		waitBusy(t, l.acc.a)
		return
	}
	waitFor(t, "the Accept", func() bool { return l.poll.waits.Load() != 0 })
}

func TestNettestConn(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		t.Run("TCP4", func(t *testing.T) {
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) { return tcpPipeOn(e, "tcp", "127.0.0.1:0") })
		})
		t.Run("TCP6", func(t *testing.T) {
			if !nettest.SupportsIPv6() {
				t.Skip("no IPv6 loopback here")
			}
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) { return tcpPipeOn(e, "tcp6", "[::1]:0") })
		})
		t.Run("Unix", func(t *testing.T) {
			path := t.TempDir() + "/s"
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
				os.Remove(path)
				return tcpPipeOn(e, "unix", path)
			})
		})
	})
}

func TestConnErrors(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer stop()

		if _, ok := c1.LocalAddr().(*net.TCPAddr); !ok {
			t.Errorf("LocalAddr is %T, want *net.TCPAddr", c1.LocalAddr())
		}
		if c1.RemoteAddr().String() != c2.LocalAddr().String() {
			t.Errorf("c1.RemoteAddr %v != c2.LocalAddr %v", c1.RemoteAddr(), c2.LocalAddr())
		}

		// A deadline: an *net.OpError matching os.ErrDeadlineExceeded, with
		// Timeout true.
		c1.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		start := time.Now()
		_, err = c1.Read(make([]byte, 10))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		if el := time.Since(start); el < 20*time.Millisecond {
			t.Errorf("Read timed out after %v, before its 20ms deadline", el)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("deadline error %v is not a net.Error with Timeout", err)
		}
		c1.SetReadDeadline(time.Time{})

		// Data then EOF, plain io.EOF.
		if _, err := c2.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		c2.(*Conn).CloseWrite()
		got, err := io.ReadAll(c1)
		if err != nil || string(got) != "hi" {
			t.Fatalf("ReadAll = %q, %v; want \"hi\", nil", got, err)
		}
		if n, err := c1.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Errorf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
		}

		// After Close: net.ErrClosed everywhere.
		if err := c1.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
		if _, err := c1.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v, want net.ErrClosed", err)
		}
		if err := c1.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v, want net.ErrClosed", err)
		}
		if err := c1.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("SetDeadline after Close: %v, want net.ErrClosed", err)
		}
	})
}

// A Read blocked with no deadline is ended by Close with net.ErrClosed.
func TestConnCloseUnblocksRead(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, _, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		errc := make(chan error, 1)
		go func() {
			_, err := c1.Read(make([]byte, 8))
			errc <- err
		}()
		waitReading(t, c1.(*Conn)) // Close is to end a Read that waits, not one yet to start
		c1.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked Read ended with %v, want net.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not end a blocked Read")
		}
	})
}

// A deadline moved later while a Read is blocked extends it: the Read then
// returns data that arrives after the first deadline.
func TestConnDeadlineExtended(t *testing.T) {
	forEachPath(t, func(t *testing.T, e *aio.Engine) {
		c1, c2, stop, err := tcpPipeOn(e, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		c1.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		type res struct {
			n   int
			err error
		}
		ch := make(chan res, 1)
		buf := make([]byte, 8)
		go func() {
			n, err := c1.Read(buf)
			ch <- res{n, err}
		}()
		waitReading(t, c1.(*Conn)) // the deadline is to move under a Read that waits
		c1.SetReadDeadline(time.Now().Add(10 * time.Second))
		time.Sleep(500 * time.Millisecond) // the behaviour under test: past the first deadline, the Read still waits
		c2.Write([]byte("late"))
		r := <-ch
		if r.err != nil || string(buf[:r.n]) != "late" {
			t.Fatalf("Read = %q, %v; want \"late\", nil", buf[:r.n], r.err)
		}
	})
}

func TestDialErrors(t *testing.T) {
	// A port nobody listens on: refused, as net reports it.
	l, err := Listen(testEngine, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial(context.Background(), testEngine, "tcp", addr)
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("Dial to a closed port: %v, want a dial *net.OpError", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, testEngine, "tcp", addr); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := Dial(context.Background(), testEngine, "udp", addr); err == nil {
		t.Error("Dial udp succeeded; want an unknown network error")
	}
}

func TestListenerClose(t *testing.T) {
	l, err := Listen(testEngine, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	waitAccepting(t, l) // Close is to end an Accept that waits
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("pending Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a pending Accept")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
}

// Listening on all addresses (a dual-stack socket where IPv6 exists) takes
// connections to 127.0.0.1, and Dial resolves host names.
func TestListenAnyDialLocalhost(t *testing.T) {
	l, err := Listen(testEngine, "tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}
	}()
	for _, addr := range []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), net.JoinHostPort("localhost", strconv.Itoa(port))} {
		c, err := Dial(context.Background(), testEngine, "tcp", addr)
		if err != nil {
			t.Fatalf("Dial %s: %v", addr, err)
		}
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo via %s = %q, %v", addr, buf, err)
		}
		c.Close()
	}
}

// A Read and a Write on the netpoller path allocate nothing: the RawConn
// callbacks are bound once per Conn (connpoll.go).
func TestConnPollZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c1, c2, stop, err := tcpPipe("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	msg, buf := make([]byte, 64), make([]byte, 64)
	roundTrip := func() {
		if _, err := c1.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c2, buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Errorf("%.1f allocations per Write and Read, want 0", n)
	}
}
