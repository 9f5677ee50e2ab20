package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/echo/udpecho"
	"golang.org/x/sys/unix"
)

// The udp-echo scenario: a UDP echo server in one process, the load
// generator in another sending datagrams from s.Conns sockets, each a
// closed loop of one datagram and its echo. UDP may drop a datagram (a
// full socket buffer), so a datagram whose echo has not come back within
// udpLossTimeout counts as lost and the socket sends the next one; the
// result's Lost says how many, over the whole case (warm-up included), and
// an operation is a datagram whose echo came back.

// udpLossTimeout is how long the load generator waits for an echo before
// it counts the datagram as lost: on loopback an echo takes microseconds,
// so 200 ms is a loss, not a slow server.
const udpLossTimeout = 200 * time.Millisecond

// udpLostInARow is how many datagrams of one socket may be lost in a row
// before the case fails: a server that stopped answering, not a lossy
// moment (10 s of silence).
const udpLostInARow = 50

// udpSockBuf is the receive and send buffer asked for on every server's
// socket (as far as net.core.rmem_max/wmem_max allow), the same for
// both, so bursts from many clients wait in the kernel instead of being
// dropped.
const udpSockBuf = 4 << 20

// udpInflight is how many echo loops (Aios) per P the aioring servers
// have on their socket, as examples/echo -udp does by default
// (-inflight): the most receives at once; udpecho.Serve keeps pending
// only as many as there are datagrams to take (decision 76; decision 32
// measured 16 fixed loops against 4).
const udpInflight = 16

// startAioUDPEcho serves UDP echo on the engine with examples/echo -udp's
// own loops (package udpecho): one socket, and udpInflight×GOMAXPROCS Aios
// on it, looping RecvFrom → SendTo(From()) from their callbacks out of
// their own buffers, four waiting on the socket and the rest taking what
// is queued (udpecho.Serve), or with msgs RecvMsg → SendTo of the message
// (-msg).
func startAioUDPEcho(e *aio.Engine, msgs bool) (string, func(), error) {
	fd, port, err := bindUDP()
	if err != nil {
		return "", nil, err
	}
	serve := udpecho.Serve
	if msgs {
		serve = udpecho.ServeMsg
	}
	// A reply the kernel refused is a datagram UDP lost, which the load
	// generator counts: nothing to log.
	done := serve(e, fd, udpInflight*runtime.GOMAXPROCS(0), io.Discard)
	stop := func() {
		e.Close() // ends every pending receive with ErrClosed
		<-done
		unix.Close(fd)
	}
	return "127.0.0.1:" + strconv.Itoa(port), stop, nil
}

// bindUDP makes a non-blocking UDP socket on 127.0.0.1 with a free port,
// with udpSockBuf buffers, as examples/echo -udp does: several receives
// wait on it at once, and on a blocking socket each one the kernel stops
// polling for parks an io-wq thread until it is done (decision 78).
func bindUDP() (int, int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	// Best effort: the kernel caps them at rmem_max/wmem_max.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, udpSockBuf)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, udpSockBuf)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

// startNetUDPEcho serves UDP echo the way Go servers do: one net.UDPConn
// and one goroutine per P, each reading a datagram and writing it back
// to its source. ReadFromUDPAddrPort and WriteToUDPAddrPort are
// ReadFrom/WriteTo without an allocated address per datagram, the
// fastest form package net has.
func startNetUDPEcho() (string, func(), error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", nil, err
	}
	c.SetReadBuffer(udpSockBuf)
	c.SetWriteBuffer(udpSockBuf)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			buf := make([]byte, udpecho.MaxDatagram)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue // an ICMP error queued on the socket
				}
				// A failed reply is a lost datagram; the load
				// generator counts it.
				c.WriteToUDPAddrPort(buf[:n], from)
			}
		})
	}
	stop := func() {
		c.Close()
		wg.Wait()
	}
	return c.LocalAddr().String(), stop, nil
}

// startUDPServer starts the udp-echo server that s names.
func startUDPServer(s *spec) (*server, error) {
	switch s.Impl {
	case implAio, implAioMsg():
		msgs := s.Impl == implAioMsg()
		cfg := engineConfig()
		if msgs {
			cfg.MsgBufferSize = udpecho.MsgBuffer
		}
		e, err := aio.NewEngine(cfg)
		if err != nil {
			return nil, err
		}
		addr, stop, err := startAioUDPEcho(e, msgs)
		if err != nil {
			e.Close()
			return nil, err
		}
		return &server{addr: addr, engine: e, stop: func() error { stop(); return nil }}, nil
	case implNet:
		addr, stop, err := startNetUDPEcho()
		if err != nil {
			return nil, err
		}
		return &server{addr: addr, stop: func() error { stop(); return nil }}, nil
	}
	return nil, fmt.Errorf("no udp-echo server %s", s.Impl)
}

// loadUDPEcho is the load generator shared by both servers: s.Conns
// connected UDP sockets, each a goroutine sending an s.MsgSize datagram
// and waiting for its echo. The first 8 bytes are a sequence number per
// socket, so a late echo of a datagram already counted as lost is
// recognised and skipped, never taken for the echo of the next one.
func loadUDPEcho(s *spec, addr string) (*result, error) {
	if s.MsgSize < 8 {
		return nil, fmt.Errorf("udp-echo: %d-byte datagrams cannot hold the 8-byte sequence number", s.MsgSize)
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conns := make([]*net.UDPConn, s.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		if conns[i], err = net.DialUDP("udp", nil, raddr); err != nil {
			return nil, fmt.Errorf("socket %d of %d: %w", i+1, s.Conns, err)
		}
	}
	lost := make([]atomic.Uint64, len(conns))
	r, err := closedLoop(s, len(conns), func(i int) func() (time.Duration, error) {
		c := conns[i]
		msg := make([]byte, s.MsgSize)
		back := make([]byte, udpecho.MaxDatagram)
		rnd := newRNG(uint64(i) + 1)
		for j := range msg {
			msg[j] = byte(rnd.next())
		}
		var seq uint64
		return func() (time.Duration, error) {
			for inARow := 0; ; inARow++ {
				if inARow == udpLostInARow {
					return 0, fmt.Errorf("socket %d: %d datagrams in a row had no echo within %v", i, inARow, udpLossTimeout)
				}
				seq++
				binary.LittleEndian.PutUint64(msg, seq)
				t0 := time.Now()
				if err := c.SetReadDeadline(t0.Add(udpLossTimeout)); err != nil {
					return 0, err
				}
				if _, err := c.Write(msg); err != nil {
					return 0, err
				}
				for {
					n, err := c.Read(back)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						lost[i].Add(1)
						break // lost: send the next one
					}
					if err != nil {
						return 0, err
					}
					if n != len(msg) || binary.LittleEndian.Uint64(back) != seq {
						if n >= 8 && binary.LittleEndian.Uint64(back) < seq {
							continue // the late echo of a lost datagram
						}
						return 0, errors.New("the echo differs from the datagram")
					}
					d := time.Since(t0)
					// Every byte, not only the sequence number: a
					// datagram that came back changed was not echoed.
					if !bytes.Equal(back[:n], msg) {
						return 0, errors.New("the echo differs from the datagram")
					}
					return d, nil
				}
			}
		}
	}, int64(s.MsgSize))
	if err != nil {
		return nil, err
	}
	for i := range lost {
		r.Lost += lost[i].Load()
	}
	return r, nil
}

// udpNote is the table's footnote on udp-echo: how it is measured, and
// which rows lost datagrams (the rows say it too).
func udpNote(rs []*result) string {
	n := fmt.Sprintf("udp-echo: the server runs in its own process and the load generator (the same for all) in another, sending from N connected UDP sockets on loopback, each waiting for the echo of its datagram before sending the next; a datagram with no echo within %v counts as lost and the socket sends the next (lost_datagrams in the JSON, over the whole case, warm-up included). aioring is examples/echo -udp's own server loop (package udpecho: up to %d loops per P on one socket, each looping RecvFrom, SendTo(From()); four RecvFroms wait on the socket, and a loop that received or sent a datagram takes the next with a zero-timeout RecvFrom, resting when none is queued); aioring-msg is examples/echo -udp -msg's (udpecho.ServeMsg: as many Aios looping RecvMsg from the socket's one multishot receive into the engine's pool, then SendTo of the message); net is one net.UDPConn read and written (ReadFromUDPAddrPort/WriteToUDPAddrPort) by one goroutine per P. All ask for %d MiB socket buffers. CPU/MOP counts both processes, SRV/MOP the server's alone.", udpLossTimeout, udpInflight, udpSockBuf>>20)
	var lost []string
	for _, r := range rs {
		if r.Scenario == scenUDP && r.Lost > 0 {
			lost = append(lost, fmt.Sprintf("%s %s %d", r.Case, r.Impl, r.Lost))
		}
	}
	if len(lost) == 0 {
		return n + " No datagram was lost."
	}
	return n + " Datagrams lost: " + strings.Join(lost, ", ") + "."
}
