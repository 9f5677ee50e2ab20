package adapt

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"testing"
	"time"
)

// farDeadlines are deadlines 292 years or more ahead, further than a
// time.Duration reaches: net.Conn waits under them as under no deadline,
// and so must a Conn.
var farDeadlines = []struct {
	name string
	at   func() time.Time
}{
	{"year-9999", func() time.Time { return time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) }},
	{"now-plus-maxint64", func() time.Time { return time.Now().Add(math.MaxInt64) }},
}

// farQuiet is how long an operation under a far deadline must stay
// blocked before the test lets it end.
const farQuiet = 200 * time.Millisecond

type readResult struct {
	n   int
	err error
}

// blockedRead starts a Read on c under a far read deadline and checks that
// it is still blocked after farQuiet.
func blockedRead(t *testing.T, c net.Conn, far time.Time, buf []byte) <-chan readResult {
	t.Helper()
	if err := c.SetReadDeadline(far); err != nil {
		t.Fatal(err)
	}
	ch := make(chan readResult, 1)
	go func() {
		n, err := c.Read(buf)
		ch <- readResult{n, err}
	}()
	select {
	case r := <-ch:
		t.Fatalf("Read under a deadline in %v returned %d, %v within %v; want it blocked", far.Year(), r.n, r.err, farQuiet)
	case <-time.After(farQuiet):
	}
	return ch
}

// A far read deadline lets Read block until data arrives, or until the
// deadline is moved into the past.
func TestConnFarReadDeadline(t *testing.T) {
	for _, d := range farDeadlines {
		t.Run(d.name+"/data", func(t *testing.T) {
			c1, c2, stop, err := tcpPipe("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			buf := make([]byte, 8)
			ch := blockedRead(t, c1, d.at(), buf)
			if _, err := c2.Write([]byte("late")); err != nil {
				t.Fatal(err)
			}
			if r := <-ch; r.err != nil || string(buf[:r.n]) != "late" {
				t.Fatalf("Read = %q, %v; want \"late\", nil", buf[:r.n], r.err)
			}
		})
		t.Run(d.name+"/moved", func(t *testing.T) {
			c1, _, stop, err := tcpPipe("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			ch := blockedRead(t, c1, d.at(), make([]byte, 8))
			if err := c1.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-ch:
				if !errors.Is(r.err, os.ErrDeadlineExceeded) {
					t.Fatalf("Read after the deadline moved into the past = %d, %v; want a timeout", r.n, r.err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("moving the deadline into the past did not end the Read")
			}
		})
	}
}

// A far deadline on Accept (Listener.SetDeadline) is no deadline at all,
// as in net: Accept waits for a connection.
func TestFarDeadlineAccept(t *testing.T) {
	for _, d := range farDeadlines {
		t.Run(d.name, func(t *testing.T) {
			l, err := Listen(testEngine, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.SetDeadline(d.at()); err != nil {
				t.Fatal(err)
			}
			type acceptResult struct {
				c   net.Conn
				err error
			}
			ch := make(chan acceptResult, 1)
			go func() {
				c, err := l.Accept()
				ch <- acceptResult{c, err}
			}()
			select {
			case r := <-ch:
				t.Fatalf("Accept under a far deadline returned %v within %v; want it blocked", r.err, farQuiet)
			case <-time.After(farQuiet):
			}
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := <-ch
			if r.err != nil {
				t.Fatalf("Accept under a far deadline: %v", r.err)
			}
			r.c.Close()
		})
	}
}

// A far context deadline on Dial (the Connect's expiry) is no deadline at
// all: Dial connects.
func TestFarDeadlineDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, d := range farDeadlines {
		t.Run(d.name, func(t *testing.T) {
			ctx, cancel := context.WithDeadline(context.Background(), d.at())
			defer cancel()
			c, err := Dial(ctx, testEngine, "tcp", l.Addr().String())
			if err != nil {
				t.Fatalf("Dial under a far context deadline: %v", err)
			}
			c.Close()
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		})
	}
}
