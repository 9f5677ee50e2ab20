//go:build linux

package relay

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// needSplice skips the test when the engine's Splice is unsupported
// (a kernel without IORING_OP_SPLICE): the proxy would copy, and a
// splice test would test nothing. The probe is a splice from an empty
// pipe with a zero timeout, which any engine that splices ends with
// ErrTimedOut.
func needSplice(t *testing.T) {
	t.Helper()
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	var sv [2]int
	if sv, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sv[0])
	defer unix.Close(sv[1])
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(0)
	a.Splice(fds[0], -1, sv[0], -1, 4096)
	a.Wait()
	switch err := a.Result(); {
	case errors.Is(err, aio.ErrUnsupported):
		t.Skipf("Splice is unsupported on this engine (%s backend): %v", e.Backend(), err)
	case !errors.Is(err, aio.ErrTimedOut):
		t.Fatalf("a splice from an empty pipe with a zero timeout: %v, want ErrTimedOut", err)
	}
}

// spliceCases are the byte-for-byte tests TestSplice and TestCopy run:
// several MiB each way, half-closes both ways, resets, a stalled reader
// and a stop. splice says whether some direction of the test streams
// enough to switch to splicing when the proxy may.
var spliceCases = []struct {
	name   string
	f      func(*testing.T)
	splice bool
}{
	{"ManyConnectionsBothWays", TestManyConnectionsBothWays, true},
	{"LargeBothWays", TestLargeBothWays, true},
	{"HalfCloseClientFirst", TestHalfCloseClientFirst, true},
	{"HalfCloseUpstreamFirst", TestHalfCloseUpstreamFirst, true},
	{"UpstreamReset", TestUpstreamReset, false},
	{"BoundedWhenReaderStalls", TestBoundedWhenReaderStalls, true},
	{"StopClosesConnections", TestStopClosesConnections, false},
	{"EchoRoundsLarge", TestEchoRoundsLarge, true},
	{"SmallMessagesCopy", testSmallMessagesCopy, false},
}

// TestSplice runs spliceCases as the proxy runs by default, checking that
// the directions that stream switched to splicing through a kernel pipe
// (a test where none switched would test copying).
func TestSplice(t *testing.T) {
	needSplice(t)
	for _, tc := range spliceCases {
		t.Run(tc.name, func(t *testing.T) {
			before := splicedTotal()
			tc.f(t)
			if n := splicedTotal() - before; tc.splice && n == 0 {
				t.Errorf("no direction switched to splicing")
			}
		})
	}
}

// TestCopy runs spliceCases with Config.Copy, checking that no direction
// switched to splicing.
func TestCopy(t *testing.T) {
	testCopy = true
	defer func() { testCopy = false }()
	for _, tc := range spliceCases {
		t.Run(tc.name, func(t *testing.T) {
			before := splicedTotal()
			tc.f(t)
			if n := splicedTotal() - before; n != 0 {
				t.Errorf("%d directions switched to splicing with Config.Copy", n)
			}
		})
	}
}

// testSmallMessagesCopy: request and answer messages smaller than a
// buffer never fill one, so no direction splices (the copy is cheaper
// for them), and every byte still arrives.
func testSmallMessagesCopy(t *testing.T) {
	up := upstream(t, func(c *net.TCPConn) {
		b := make([]byte, 64)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			if _, err := c.Write(b[:n]); err != nil {
				return
			}
		}
	})
	addr, p, _ := proxyTo(t, up, 4096)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	msg, back := stream(20, 64), make([]byte, 64)
	for i := range 200 {
		msg[0] = byte(i)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, back); err != nil {
			t.Fatal(err)
		}
		if string(back) != string(msg) {
			t.Fatalf("message %d came back changed", i)
		}
	}
	if n := p.spliced.Load(); n != 0 {
		t.Errorf("%d directions switched to splicing for 64-byte messages; want none", n)
	}
	c.Close()
	waitClosed(t, p)
}
