//go:build linux

package relay

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Request/echo rounds of large messages on a kept connection, the
// bench's proxy load: the client writes each message while it reads the
// echo of it back through the proxy from an echo upstream.
func TestEchoRoundsLarge(t *testing.T) {
	up := upstream(t, func(c *net.TCPConn) {
		b := make([]byte, 32<<10)
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
	addr, p, log := proxyTo(t, up, 0)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg, back := stream(uint64(30+i), 256<<10), make([]byte, 256<<10)
			for round := range 200 {
				msg[0] = byte(round)
				werr := make(chan error, 1)
				go func() { _, err := c.Write(msg); werr <- err }()
				if _, err := io.ReadFull(c, back); err != nil {
					t.Errorf("connection %d, round %d: %v", i, round, err)
					c.Close()
					<-werr
					return
				}
				if err := <-werr; err != nil {
					t.Errorf("connection %d, round %d: write: %v", i, round, err)
					return
				}
				if !bytes.Equal(back, msg) {
					t.Errorf("connection %d, round %d: the echo differs", i, round)
					return
				}
			}
		})
	}
	wg.Wait()
	if s := log.String(); s != "" {
		t.Errorf("the proxy logged:\n%s", s)
	}
	waitClosed(t, p)
}
