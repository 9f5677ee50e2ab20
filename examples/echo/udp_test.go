//go:build linux

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// The -udp server echoes every datagram whole to the socket it came from:
// many clients at once, sizes from 0 bytes to the IPv4 maximum, in a
// closed loop (each waits for its echo), over IPv4 and IPv6; with RecvFrom
// and, with -msg, with RecvMsg.
func TestUDPEcho(t *testing.T) { udpEcho(t) }

func TestUDPEchoMsg(t *testing.T) { udpEcho(t, "-msg") }

func udpEcho(t *testing.T, args ...string) {
	for _, tc := range []struct{ name, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "udp6" {
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				} else {
					c.Close()
				}
			}
			addr := startServer(t, append([]string{"-udp", "-addr", tc.addr, "-inflight", "3"}, args...)...)
			const clients, each = 8, 100
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					errs <- udpClient(addr, c, each)
				}(c)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func udpClient(addr string, id, n int) error {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	rng := rand.New(rand.NewPCG(uint64(id), 1))
	in := make([]byte, 70000)
	sizes := []int{0, 1, 64, 1200, 1472, 9000, 65507}
	for i := 0; i < n; i++ {
		size := sizes[rng.IntN(len(sizes))]
		if size == 0 && rng.IntN(2) == 0 {
			size = rng.IntN(2000) + 1
		}
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		if _, err := conn.Write(msg); err != nil {
			return fmt.Errorf("client %d, datagram %d: %v", id, i, err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := conn.Read(in)
		if err != nil {
			return fmt.Errorf("client %d, datagram %d (%d bytes): %v", id, i, size, err)
		}
		if !bytes.Equal(in[:k], msg) {
			return fmt.Errorf("client %d, datagram %d: echo of %d bytes, sent %d (or differs)", id, i, k, size)
		}
	}
	return nil
}
