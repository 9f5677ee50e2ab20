//go:build linux

package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// With -msg, 500 clients at once echo messages spanning several 4 KiB
// messages of the pool, byte for byte.
func TestMsgEcho500Clients(t *testing.T) {
	echo500(t, startServer(t, "-msg", "-idle", "60s", "-buf", "4096"))
}

// With -msg, a 16 MiB stream comes back in order.
func TestMsgEchoStream(t *testing.T) {
	echoStream(t, startServer(t, "-msg"))
}

// With -msg, small messages one at a time (each one receive, one send).
func TestMsgEchoSmall(t *testing.T) {
	addr := startServer(t, "-msg")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var msgs [][]byte
	for i := range 200 {
		msgs = append(msgs, bytes.Repeat([]byte{byte(i)}, 1+i%64))
	}
	if err := echoMessages(c, msgs); err != nil {
		t.Fatal(err)
	}
}

// A client that writes and never reads is held back by TCP flow control
// once the server holds its two slots (with -msg, two messages and the
// engine's queue for the socket): its writes stall well below what it
// tries to send, and once it reads, everything comes back in order.
func TestEchoClientStopsReading(t *testing.T) {
	clientStopsReading(t, startServer(t, "-idle", "60s", "-buf", "16384"))
}

func TestMsgEchoClientStopsReading(t *testing.T) {
	clientStopsReading(t, startServer(t, "-msg", "-idle", "60s", "-buf", "16384"))
}

func clientStopsReading(t *testing.T, addr string) {
	const bound = 64 << 20 // far above loopback's socket buffers and the server's share
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	block := make([]byte, 256<<10)
	for i := range block {
		block[i] = byte(i * 7)
	}
	sent := 0
	for sent < 2*bound {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(block)
		sent += n
		if err != nil {
			break // stalled for a second
		}
	}
	if sent >= bound {
		t.Fatalf("a client that reads nothing wrote %d bytes; want a stall below %d", sent, bound)
	}
	t.Logf("the client's writes stalled after %d bytes", sent)
	c.SetDeadline(time.Now().Add(time.Minute))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d of %d bytes: %v", len(got), sent, err)
	}
	if len(got) != sent {
		t.Fatalf("got %d bytes back, sent %d", len(got), sent)
	}
	for i := 0; i < sent; i += len(block) {
		if !bytes.Equal(got[i:min(i+len(block), sent)], block[:min(len(block), sent-i)]) {
			t.Fatalf("the echo differs in the block at %d", i)
		}
	}
}

// A client that streams, ends its stream (CloseWrite) and reads slowly
// gets every byte back before the end of the stream: the server reads
// the end while its echo still waits for the client (its send buffer
// full), and must send the rest before it closes. (It closed at once,
// dropping up to two buffers.)
func TestEchoHalfCloseWhileEchoPending(t *testing.T) {
	for _, args := range [][]string{{"-buf", "16384"}, {"-msg", "-buf", "16384"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			addr := startServer(t, append([]string{"-idle", "60s"}, args...)...)
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				// A small receive buffer keeps the server's echo waiting
				// for the client.
				rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8192) })
				return nil
			}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			msg := make([]byte, 8<<20)
			for i := range msg {
				msg[i] = byte(i * 13)
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(msg)
				c.(*net.TCPConn).CloseWrite()
				wrote <- err
			}()
			got := make([]byte, 0, len(msg))
			buf := make([]byte, 16<<10)
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d bytes: %v", len(got), err)
				}
				time.Sleep(time.Millisecond) // a slow reader
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("got %d bytes back (equal as far as they go: %v), sent %d", len(got), bytes.Equal(got, msg[:min(len(got), len(msg))]), len(msg))
			}
		})
	}
}
