//go:build linux

package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// TestMain fails the package's tests if any goroutine started by them is
// still running when they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upstream is a server on loopback run by the test; handle serves each
// connection on its own goroutine. The cleanup closes the listener and
// waits for every handler.
func upstream(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Minute))
				handle(c.(*net.TCPConn))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// logBuf collects the proxy's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testMsgs makes proxyTo's proxies forward with Config.Msgs (TestMsgs);
// testCopy with Config.Copy (TestCopy). Without either they splice bulk
// data, as by default.
var testMsgs, testCopy bool

// made is every Proxy proxyTo made, for TestSplice to count the
// directions that spliced.
var made struct {
	sync.Mutex
	proxies []*Proxy
}

// splicedTotal is how many directions of proxyTo's proxies have switched
// to splicing so far.
func splicedTotal() int64 {
	made.Lock()
	defer made.Unlock()
	var n int64
	for _, p := range made.proxies {
		n += p.spliced.Load()
	}
	return n
}

// proxyTo runs a Proxy on its own engine, forwarding a free loopback port
// to up. The cleanup closes the engine, checks that every connection's
// sockets were closed, and closes the listening socket.
func proxyTo(t *testing.T, up string, bufSize int) (string, *Proxy, *logBuf) {
	t.Helper()
	sa, err := Resolve(up)
	if err != nil {
		t.Fatal(err)
	}
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fd, addr, err := Listen("127.0.0.1:0")
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	log := &logBuf{}
	p, err := New(e, fd, Config{Upstream: sa, BufSize: bufSize, DialTimeout: 10 * time.Second, Log: log, Msgs: testMsgs, Copy: testCopy})
	if err != nil {
		e.Close()
		unix.Close(fd)
		t.Fatal(err)
	}
	p.Start()
	made.Lock()
	made.proxies = append(made.proxies, p)
	made.Unlock()
	t.Cleanup(func() {
		e.Close()
		<-p.Done()
		unix.Close(fd)
		if n := p.Open(); n != 0 {
			t.Errorf("%d connections still hold sockets after the engine closed", n)
		}
	})
	return addr, p, log
}

// stream is the deterministic content of n bytes named by seed.
func stream(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// readAll reads c to the end of its stream and checks it is exactly want.
func readAll(c net.Conn, want []byte) error {
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("after %d of %d bytes: %w", len(got), len(want), err)
	}
	if len(got) != len(want) {
		return fmt.Errorf("got %d bytes before the end of the stream, want %d", len(got), len(want))
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("byte %d of %d differs", firstDiff(got, want), len(want))
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// exchange is one connection's traffic: the client sends up bytes and the
// upstream down bytes, both at once, each side ending its stream when done
// (CloseWrite) and reading the other's to its end.
type exchange struct {
	seed     uint64
	up, down int
}

// header is what the client sends first so the upstream knows the
// exchange: seed, up, down.
const header = 24

// twoWayUpstream serves exchanges: it reads the header, then sends its
// stream while reading the client's, and checks the client's byte for
// byte up to the end of the stream, which only the proxy's half-close
// delivers.
func twoWayUpstream(t *testing.T) func(c *net.TCPConn) {
	return func(c *net.TCPConn) {
		var h [header]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			t.Errorf("upstream: header: %v", err)
			return
		}
		x := exchange{binary.LittleEndian.Uint64(h[:]), int(binary.LittleEndian.Uint64(h[8:])), int(binary.LittleEndian.Uint64(h[16:]))}
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(stream(x.seed+1, x.down))
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()
		if err := readAll(c, stream(x.seed, x.up)); err != nil {
			t.Errorf("upstream, exchange %d (%d up): %v", x.seed, x.up, err)
		}
		if err := <-werr; err != nil {
			t.Errorf("upstream, exchange %d: write: %v", x.seed, err)
		}
	}
}

// run does the client's side of x through the proxy at addr.
func (x exchange) run(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	var h [header]byte
	binary.LittleEndian.PutUint64(h[:], x.seed)
	binary.LittleEndian.PutUint64(h[8:], uint64(x.up))
	binary.LittleEndian.PutUint64(h[16:], uint64(x.down))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(append(h[:], stream(x.seed, x.up)...))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	rerr := readAll(c, stream(x.seed+1, x.down))
	if err := <-werr; err != nil {
		return fmt.Errorf("exchange %d: write: %w", x.seed, err)
	}
	if rerr != nil {
		return fmt.Errorf("exchange %d (%d down): %w", x.seed, x.down, rerr)
	}
	return nil
}

// waitClosed waits until the proxy has closed every connection's sockets.
func waitClosed(t *testing.T, p *Proxy) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.Open() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 30s after their clients finished", p.Open())
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a wait with a deadline
	}
}

// Many connections at once, each sending random bytes both ways at the
// same time, from nothing to a few MiB, through small buffers (so most
// transfers take many receives and partial sends): every byte arrives, in
// order, and each side sees the end of the other's stream.
func TestManyConnectionsBothWays(t *testing.T) {
	up := upstream(t, twoWayUpstream(t))
	addr, p, log := proxyTo(t, up, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	size := func() int {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return 1 + r.IntN(16)
		case 2:
			return 4096 // exactly one buffer
		case 3:
			return 1 + r.IntN(3<<20)
		}
		return 1 + r.IntN(64<<10)
	}
	const conns = 200
	xs := make([]exchange, conns)
	for i := range xs {
		xs[i] = exchange{uint64(i) * 2, size(), size()}
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for _, x := range xs {
		wg.Go(func() {
			if err := x.run(addr); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitClosed(t, p)
	if s := log.String(); s != "" {
		t.Errorf("the proxy logged failures:\n%s", s)
	}
}

// Large transfers both ways at once on a few connections, with the
// default buffers.
func TestLargeBothWays(t *testing.T) {
	up := upstream(t, twoWayUpstream(t))
	addr, p, _ := proxyTo(t, up, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, x := range []exchange{{1001, 24 << 20, 24 << 20}, {1003, 32 << 20, 0}, {1005, 0, 32 << 20}, {1007, 1, 16 << 20}} {
		_ = i
		wg.Go(func() {
			if err := x.run(addr); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitClosed(t, p)
}

// The client ends its stream first; the upstream answers only once it has
// read that end, so the answer arrives only if the proxy passed the
// half-close on and kept the other direction open.
func TestHalfCloseClientFirst(t *testing.T) {
	request, answer := stream(5, 100_000), stream(6, 300_000)
	up := upstream(t, func(c *net.TCPConn) {
		if err := readAll(c, request); err != nil {
			t.Errorf("upstream: %v", err)
			return
		}
		if _, err := c.Write(answer); err != nil {
			t.Errorf("upstream: %v", err)
		}
	})
	addr, p, _ := proxyTo(t, up, 8192)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := c.Write(request); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := readAll(c, answer); err != nil {
		t.Fatalf("client: %v", err)
	}
	waitClosed(t, p)
}

// The upstream ends its stream first, at once; the client reads that end
// and only then sends, and the upstream still receives everything.
func TestHalfCloseUpstreamFirst(t *testing.T) {
	greeting, data := []byte("hello, and that is all from me\n"), stream(8, 2<<20)
	got := make(chan error, 1)
	up := upstream(t, func(c *net.TCPConn) {
		if _, err := c.Write(greeting); err != nil {
			got <- err
			return
		}
		if err := c.CloseWrite(); err != nil {
			got <- err
			return
		}
		got <- readAll(c, data)
	})
	addr, p, _ := proxyTo(t, up, 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if err := readAll(c, greeting); err != nil {
		t.Fatalf("client: %v", err)
	}
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("upstream: %v", err)
	}
	waitClosed(t, p)
}

// With nothing listening upstream the client's connection is closed and
// the failure logged.
func TestUpstreamRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	addr, p, log := proxyTo(t, dead, 0)
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		n, err := c.Read(make([]byte, 1))
		c.Close()
		if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET)) {
			t.Fatalf("client read %d, %v; want 0 and the end of the stream or a reset", n, err)
		}
	}
	waitClosed(t, p)
	if s := log.String(); strings.Count(s, "connect to upstream: connection refused") != 3 {
		t.Errorf("want 3 logged refusals, got:\n%s", s)
	}
}

// An upstream that resets the connection mid-stream ends the client's
// connection too, and the proxy logs why.
func TestUpstreamReset(t *testing.T) {
	up := upstream(t, func(c *net.TCPConn) {
		io.ReadFull(c, make([]byte, 1000))
		c.SetLinger(0) // close with a reset
	})
	addr, p, log := proxyTo(t, up, 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	// Keep sending until the proxy gives up on the connection.
	chunk := stream(9, 64<<10)
	for {
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	io.Copy(io.Discard, c)
	waitClosed(t, p)
	if s := log.String(); !strings.Contains(s, "closed: ") {
		t.Errorf("the reset was not logged; log:\n%s", s)
	}
}

// A client that reads nothing stops the proxy from reading more of the
// upstream: the upstream's writes stall after at most the sockets'
// buffers and the proxy's four, and once the client reads, every byte
// arrives in order.
func TestBoundedWhenReaderStalls(t *testing.T) {
	const bound = 64 << 20 // far above loopback's socket buffers and 4 × 32 KiB
	wrote := make(chan int, 1)
	block := stream(10, 1<<20)
	up := upstream(t, func(c *net.TCPConn) {
		n := 0
		c.SetWriteDeadline(time.Now().Add(time.Second))
		for n < 2*bound {
			// Each write is one 256 KiB slice of the repeating block.
			m, err := c.Write(block[n%len(block) : n%len(block)+256<<10])
			n += m
			if err != nil {
				break
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
		}
		wrote <- n
		c.SetWriteDeadline(time.Time{})
		c.CloseWrite()
		io.Copy(io.Discard, c) // until the client closes
	})
	addr, p, _ := proxyTo(t, up, 0)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	n := <-wrote // the upstream stalled for a second, or hit 2 × bound
	if n >= bound {
		t.Fatalf("the upstream wrote %d bytes to a client that reads nothing; want a stall below %d", n, bound)
	}
	t.Logf("the upstream stalled after %d bytes", n)
	want := make([]byte, n)
	for i := range want {
		want[i] = block[i%len(block)]
	}
	if err := readAll(c, want); err != nil {
		t.Fatalf("client: %v", err)
	}
	c.Close()
	waitClosed(t, p)
}

// Closing the engine ends open connections: their clients see the end of
// the stream, and no descriptor is left behind.
func TestStopClosesConnections(t *testing.T) {
	before := openFDs(t)
	up := upstream(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	sa, _ := Resolve(up)
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fd, addr, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(e, fd, Config{Upstream: sa, Copy: testCopy})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	var cs []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("some bytes in flight"))
		cs = append(cs, c)
	}
	for p.Open() < len(cs) {
		time.Sleep(time.Millisecond) // polling interval
	}
	e.Close()
	<-p.Done()
	unix.Close(fd)
	if n := p.Open(); n != 0 {
		t.Fatalf("%d connections open after Close", n)
	}
	for i, c := range cs {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, unix.ECONNRESET) {
			t.Errorf("client %d: %v; want the end of the stream", i, err)
		}
		c.Close()
	}
	// The upstream's handlers end once the proxy's sockets are closed;
	// then only the test's own descriptors remain.
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > before+1 && time.Now().Before(deadline) { // +1: the upstream's listener
		time.Sleep(10 * time.Millisecond) // polling interval of a wait with a deadline
	}
	if n := openFDs(t); n > before+1 {
		t.Errorf("%d descriptors open, %d before the test (+1 for the upstream's listener)", n, before)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestBadConfig(t *testing.T) {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := New(e, -1, Config{}); err == nil || !strings.Contains(err.Error(), "upstream address") {
		t.Errorf("New without an upstream: %v, want an error naming the upstream address", err)
	}
	if _, err := New(e, -1, Config{Upstream: &unix.SockaddrInet4{Port: 1}, BufSize: -1}); err == nil || !strings.Contains(err.Error(), "buffer size") {
		t.Errorf("New with a negative buffer size: %v, want an error naming it", err)
	}
	if _, err := New(e, -1, Config{Upstream: &unix.SockaddrInet4{Port: 1}, Msgs: true, Copy: true}); err == nil || !strings.Contains(err.Error(), "Copy and Msgs") {
		t.Errorf("New with Copy and Msgs: %v, want an error naming both", err)
	}
	if _, err := Resolve("no-port"); err == nil {
		t.Error("Resolve of an address without a port: no error")
	}
}
