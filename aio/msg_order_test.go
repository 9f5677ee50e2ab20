//go:build linux

package aio_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Rule "RecvMsg": the messages of one stream arrive in the stream's order,
// also with many connections streaming at once. 512 connections each
// stream 1 MiB of offset-numbered bytes; one Aio per connection loops
// RecvMsg from its callback, checks each message is the next bytes of its
// stream, and frees it. Found through the proxy (examples/proxy/relay),
// where it was first written; it checks the engine alone.
func TestRecvMsgOrderManyConns(t *testing.T) {
	for _, nbuf := range []int{0, 16384} {
		t.Run(fmt.Sprint("MsgBuffers=", nbuf), func(t *testing.T) { orderManyConns(t, nbuf) })
	}
}

func orderManyConns(t *testing.T, nbuf int) {
	const n, conns = 1 << 20, 512
	data := make([]byte, n)
	for i := 0; i < n; i += 4 {
		binary.LittleEndian.PutUint32(data[i:], uint32(i))
	}
	e := newEngine(t, aio.Config{MsgBuffers: nbuf})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var senders sync.WaitGroup
	defer senders.Wait()
	defer ln.Close()
	senders.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			senders.Go(func() {
				c.SetDeadline(time.Now().Add(time.Minute))
				c.Write(data)
				c.Close()
			})
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.(*net.TCPConn).File() // a blocking duplicate
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The engine's own descriptor, closed with CloseFD (which stops
		// its multishot) and not by f's finalizer.
		fd, err := unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		wg.Add(1)
		a := e.NewAio(func(a *aio.Aio) {
			m := a.Msg()
			if a.Result() != nil || m == nil {
				if off != n {
					errs <- fmt.Errorf("fd %d: ended at %d of %d: %v", fd, off, n, a.Result())
				}
				wg.Done()
				return
			}
			b := m.Bytes()
			for i := range b {
				if b[i] != data[off+i] {
					errs <- fmt.Errorf("fd %d: the message at stream offset %d (%d bytes) holds the bytes of offset %d", fd, off, len(b), binary.LittleEndian.Uint32(b[(4-off%4)%4:]))
					m.Free()
					wg.Done()
					return
				}
			}
			off += len(b)
			m.Free()
			a.RecvMsg(fd)
		})
		a.SetTimeout(time.Minute)
		a.RecvMsg(fd)
		defer e.CloseFD(fd)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
