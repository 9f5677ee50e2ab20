package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/echo/tcpecho"
	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

// echoBufSize is the receive buffer of each server connection, the same for
// both servers.
const echoBufSize = 32 * kiB

// startAioEcho serves echo on the engine: a listening socket made with
// package unix, an Aio accepting connections, and per connection one Aio
// that receives and sends back what it received, looping from its callback.
func startAioEcho(e *aio.Engine) (string, func(), error) {
	lfd, addr, err := relay.Listen("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}

	var stopping atomic.Bool
	acc := e.NewAio(func(a *aio.Aio) {
		if err := a.Result(); err != nil {
			if !stopping.Load() && transientAccept(err) {
				time.Sleep(time.Millisecond) // let descriptors or memory free up
				a.Accept(lfd)
			}
			// Otherwise the server stops accepting, and the load
			// generator's deadline turns the hang into an error.
			return
		}
		fd := a.Output(0).(int)
		// net sets TCP_NODELAY on every connection; so does this server.
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		serveAioConn(e, fd)
		a.Accept(lfd)
	})
	acc.Accept(lfd)
	stop := func() {
		stopping.Store(true)
		acc.Free()
		unix.Close(lfd)
		e.Close() // ends every connection's pending Recv with ErrClosed
	}
	return addr, stop, nil
}

// exampleIdle is examples/echo's default -idle, which the aioring-example
// row keeps: what a user running the example gets.
const exampleIdle = 30 * time.Second

// startExampleEcho serves echo with examples/echo's own server (package
// tcpecho), as the example runs it by default: 16 KiB buffers, a 30 s
// idle timeout.
func startExampleEcho(e *aio.Engine) (string, func(), error) {
	lfd, addr, err := relay.Listen("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	stopped := tcpecho.Serve(e, lfd, tcpecho.Config{Idle: exampleIdle})
	stop := func() {
		e.Close() // ends the accept chain and every connection
		<-stopped
		unix.Close(lfd)
	}
	return addr, stop, nil
}

// transientAccept reports whether an accept failure may pass by itself.
func transientAccept(err error) bool {
	for _, e := range []error{unix.ECONNABORTED, unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// serveAioConn echoes on fd until the peer closes or the engine does.
func serveAioConn(e *aio.Engine, fd int) {
	buf := make([]byte, echoBufSize)
	var n, sent int
	sending := false
	a := e.NewAio(func(a *aio.Aio) {
		if a.Result() != nil || (!sending && a.Count() == 0) {
			unix.Close(fd)
			a.Reap()
			return
		}
		if sending {
			sent += a.Count()
		} else {
			n, sent, sending = a.Count(), 0, true
		}
		if sent < n {
			a.SetIOV(buf[sent:n])
			a.Send(fd)
			return
		}
		sending = false
		a.SetIOV(buf)
		a.Recv(fd)
	})
	a.SetIOV(buf)
	a.Recv(fd)
}

// dialLoad opens a load generator's s.Conns connections to addr, each with
// a deadline past the case's end: a server that stops answering must fail
// the case, not hang it. On an error none is left open.
func dialLoad(s *spec, addr string) ([]net.Conn, error) {
	conns := make([]net.Conn, s.Conns)
	deadline := time.Now().Add(s.Warmup + s.Window + maxWindow + 20*time.Second)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, s.Conns, err)
		}
		c.SetDeadline(deadline)
		conns[i] = c
	}
	return conns, nil
}

// startNetEcho serves echo the standard library's way: net.Listen and a
// goroutine per connection copying what it reads back.
func startNetEcho() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, echoBufSize)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	stop := func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	return ln.Addr().String(), stop, nil
}

// loadEcho is the load generator shared by every server: s.Conns
// connections, each a goroutine writing an s.MsgSize message and reading
// exactly that many bytes back, as fast as it can.
func loadEcho(s *spec, addr string) (*result, error) {
	conns, err := dialLoad(s, addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	return closedLoop(s, len(conns), func(i int) func() (time.Duration, error) {
		c := conns[i]
		msg := make([]byte, s.MsgSize)
		back := make([]byte, s.MsgSize)
		rnd := newRNG(uint64(i) + 1)
		for j := range msg {
			msg[j] = byte(rnd.next())
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
			// Every byte: a server that echoed the right length with
			// something else in it did not do the work counted.
			if !bytes.Equal(back, msg) {
				return 0, errors.New("the echo differs from the message")
			}
			return d, nil
		}
	}, int64(s.MsgSize))
}
