package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

// The proxy scenario runs three processes: an upstream echo server (the
// net one of tcp-echo, the same for every implementation), the proxy under
// test forwarding to it, and the load generator, which sends each message
// through the proxy and reads its echo back through it. Every message thus
// crosses the proxy twice, once each way.

// proxyBulkFrom is the message size from which the load generator writes
// a message while it reads the echo: a message larger than what the
// sockets and the proxies buffer on the way could otherwise not be
// written whole before its echo is read.
const proxyBulkFrom = 64 * kiB

// startAioProxy runs examples/proxy's forwarding code (package relay) on
// an engine, to the upstream at up; copyBulk turns relay.Config.Copy on
// (the aioring-copy row).
func startAioProxy(up string, copyBulk bool) (*server, error) {
	sa, err := relay.Resolve(up)
	if err != nil {
		return nil, err
	}
	e, err := aio.NewEngine(engineConfig())
	if err != nil {
		return nil, err
	}
	fd, addr, err := relay.Listen("127.0.0.1:0")
	if err != nil {
		e.Close()
		return nil, err
	}
	// Failures are the load generator's to report; the log would only
	// repeat them.
	p, err := relay.New(e, fd, relay.Config{Upstream: sa, Log: io.Discard, Copy: copyBulk})
	if err != nil {
		e.Close()
		unix.Close(fd)
		return nil, err
	}
	p.Start()
	stop := func() error {
		e.Close() // ends every connection; their callbacks close the sockets
		<-p.Done()
		unix.Close(fd)
		if n := p.Open(); n != 0 {
			return fmt.Errorf("the proxy left %d connections open after its engine closed", n)
		}
		return nil
	}
	return &server{addr: addr, engine: e, stop: stop}, nil
}

// startNetProxy is the standard library's proxy: net.Listen, and per
// connection net.Dial to the upstream and io.Copy each way, which splices
// socket to socket through a pipe on Linux (no copy through user memory).
// The end of one side's stream is passed on with CloseWrite.
func startNetProxy(up string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", up, 10*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				track(c, true)
				track(u, true)
				defer track(c, false)
				defer track(u, false)
				var one sync.WaitGroup
				pass := func(dst, src *net.TCPConn) {
					// *TCPConn.ReadFrom splices from a TCP source.
					if _, err := io.Copy(dst, src); err != nil {
						// A failed side ends the connection.
						c.Close()
						u.Close()
						return
					}
					dst.CloseWrite()
				}
				one.Go(func() { pass(u.(*net.TCPConn), c.(*net.TCPConn)) })
				pass(c.(*net.TCPConn), u.(*net.TCPConn))
				one.Wait()
			})
		}
	})
	stop := func() error {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		return nil
	}
	return &server{addr: ln.Addr().String(), stop: stop}, nil
}

// startProxyServer starts the server that a proxy scenario's child runs:
// the upstream echo server, or the proxy under test.
func startProxyServer(s *spec) (*server, error) {
	if s.Role == roleUpstream {
		addr, stop, err := startNetEcho()
		if err != nil {
			return nil, err
		}
		return &server{addr: addr, stop: func() error { stop(); return nil }}, nil
	}
	switch s.Impl {
	case implAio:
		return startAioProxy(s.Upstream, false)
	case implAioCopy():
		return startAioProxy(s.Upstream, true)
	case implNet:
		return startNetProxy(s.Upstream)
	}
	return nil, fmt.Errorf("no proxy %s", s.Impl)
}

// loadProxy is the load generator shared by every proxy: s.Conns
// connections through the proxy, each a goroutine sending an s.MsgSize
// message and reading exactly that many bytes back, checked byte for byte.
// From proxyBulkFrom on, each connection's message is written by a
// goroutine of its own while the echo is read.
func loadProxy(s *spec, addr string) (*result, error) {
	conns, err := dialLoad(s, addr)
	if err != nil {
		return nil, err
	}
	// Bulk messages: a writer goroutine per connection, woken through its
	// next channel per message, answering on done, so that the message
	// and the read of its echo overlap.
	var (
		writers sync.WaitGroup
		nexts   []chan struct{}
	)
	defer func() {
		for _, c := range conns {
			c.Close() // unblocks a writer stuck in Write
		}
		for _, n := range nexts {
			close(n)
		}
		writers.Wait()
	}()
	return closedLoop(s, len(conns), func(i int) func() (time.Duration, error) {
		c := conns[i]
		msg := make([]byte, s.MsgSize)
		back := make([]byte, s.MsgSize)
		rnd := newRNG(uint64(i) + 1)
		for j := range msg {
			msg[j] = byte(rnd.next())
		}
		if s.MsgSize >= proxyBulkFrom {
			next, done := make(chan struct{}), make(chan error, 1)
			nexts = append(nexts, next) // newOp runs on one goroutine
			writers.Go(func() {
				for range next {
					_, err := c.Write(msg)
					done <- err
				}
			})
			return func() (time.Duration, error) {
				// msg changes only once done has said the last write
				// ended.
				msg[0]++
				t0 := time.Now()
				next <- struct{}{}
				_, err := io.ReadFull(c, back)
				if err != nil {
					c.Close() // the write may never end otherwise
				}
				if werr := <-done; err == nil {
					err = werr
				}
				if err != nil {
					return 0, err
				}
				d := time.Since(t0)
				if !bytes.Equal(back, msg) {
					return 0, errors.New("the message came back through the proxy changed")
				}
				return d, nil
			}
		}
		return func() (time.Duration, error) {
			msg[0]++
			t0 := time.Now()
			if _, err := c.Write(msg); err != nil {
				return 0, err
			}
			if _, err := io.ReadFull(c, back); err != nil {
				return 0, err
			}
			d := time.Since(t0)
			if !bytes.Equal(back, msg) {
				return 0, errors.New("the message came back through the proxy changed")
			}
			return d, nil
		}
	}, int64(s.MsgSize))
}
