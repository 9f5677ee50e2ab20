package adapt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Many goroutines call Accept on one Listener at once, as net.Listener
// allows, while many clients dial. Every client must be accepted exactly
// once, by a Conn of its own (its own descriptor, its own peer), and every
// accepted Conn must carry its client's bytes.
func TestListenerConcurrentAccept(t *testing.T) {
	const (
		acceptors = 16
		dialers   = 200
	)
	l, err := Listen(testEngine, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadline := time.Now().Add(60 * time.Second)

	// Accepted Conns stay open until the end of the test, so two of them
	// sharing a descriptor can only mean one descriptor handed out twice.
	var (
		mu       sync.Mutex
		accepted []*Conn
		served   sync.WaitGroup
		srvErrs  = make(chan error, dialers*2)
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range accepted {
			c.Close()
		}
	}()
	// serve reads the client's 8-byte number and sends it back.
	serve := func(c *Conn) {
		c.SetDeadline(deadline)
		var b [8]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			srvErrs <- fmt.Errorf("server side of %v: read: %w", c.RemoteAddr(), err)
			return
		}
		if _, err := c.Write(b[:]); err != nil {
			srvErrs <- fmt.Errorf("server side of %v: write: %w", c.RemoteAddr(), err)
		}
	}
	var acc sync.WaitGroup
	for range acceptors {
		acc.Go(func() {
			for {
				c, err := l.AcceptConn()
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						srvErrs <- fmt.Errorf("Accept: %w", err)
					}
					return
				}
				mu.Lock()
				accepted = append(accepted, c)
				mu.Unlock()
				served.Go(func() { serve(c) })
			}
		})
	}

	clients := make([]net.Conn, dialers)
	var dial sync.WaitGroup
	cliErrs := make(chan error, dialers)
	start := make(chan struct{})
	for i := range dialers {
		dial.Go(func() {
			<-start
			d := net.Dialer{Deadline: deadline}
			c, err := d.Dial("tcp", l.Addr().String())
			if err != nil {
				cliErrs <- fmt.Errorf("client %d: dial: %w", i, err)
				return
			}
			clients[i] = c
			c.SetDeadline(deadline)
			var b, got [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(i))
			if _, err := c.Write(b[:]); err != nil {
				cliErrs <- fmt.Errorf("client %d: write: %w", i, err)
				return
			}
			if _, err := io.ReadFull(c, got[:]); err != nil {
				cliErrs <- fmt.Errorf("client %d: read: %w", i, err)
				return
			}
			if got != b {
				cliErrs <- fmt.Errorf("client %d: echo %x, want %x", i, got, b)
			}
		})
	}
	close(start)
	dial.Wait()
	for _, c := range clients {
		if c != nil {
			defer c.Close()
		}
	}
	close(cliErrs)
	for err := range cliErrs {
		t.Error(err)
	}

	// Every client is through; no Accept has anything left to return.
	l.Close()
	acc.Wait()
	served.Wait()
	close(srvErrs)
	for err := range srvErrs {
		t.Error(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != dialers {
		t.Errorf("accepted %d connections, want %d", len(accepted), dialers)
	}
	fds := make(map[int]bool)
	peers := make(map[string]bool)
	for _, c := range accepted {
		if fds[c.fd] {
			t.Errorf("descriptor %d accepted twice", c.fd)
		}
		fds[c.fd] = true
		p := c.RemoteAddr().String()
		if peers[p] {
			t.Errorf("client %s accepted twice", p)
		}
		peers[p] = true
	}
	for i, c := range clients {
		if c != nil && !peers[c.LocalAddr().String()] {
			t.Errorf("client %d (%s) was never accepted", i, c.LocalAddr())
		}
	}
}
