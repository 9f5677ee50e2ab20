package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// The soak's datagrams (issue 19's SendTo, RecvFrom and From): a UDP echo
// server on loopback, one aio receiving each datagram and sending it back
// to its source, and n clients, each one aio that sends a numbered
// datagram of random size and then receives with a random timeout (zero:
// an attempt; short; none), open to the soak's random cancels, at times
// into a buffer shorter than the datagram. What must hold:
//   - every datagram received is whole and unchanged (its header says
//     who sent it, its number and its length, and the rest is a pattern
//     of the number), or cut to the buffer as net.UDPConn.ReadFrom cuts
//     it: Count is the buffer's length and the bytes are the datagram's
//     first ones;
//   - its source (From) is the server's address;
//   - a client receives its echoes in the order it sent them, each once:
//     an echo whose receive timed out or was cancelled comes with a later
//     receive, so numbers may skip (a datagram lost) but never go back.

// soakDgramMax is the largest datagram the soak sends (a QUIC-sized one);
// soakDgramHeader is its header: number (8 bytes), client, length (2).
const (
	soakDgramMax    = 1200
	soakDgramHeader = 11
)

// soakDgram fills b (len(b) >= soakDgramHeader) as client c's datagram
// number seq.
func soakDgram(b []byte, c int, seq uint64) {
	binary.LittleEndian.PutUint64(b, seq)
	b[8] = byte(c)
	binary.LittleEndian.PutUint16(b[9:], uint16(len(b)))
	for i := soakDgramHeader; i < len(b); i++ {
		b[i] = byte(seq*7) + byte(i*13)
	}
}

// soakDgramCheck checks that got (Count bytes of a received datagram,
// cut to a buffer of size) is a whole datagram, or its first size bytes;
// it returns the sender, the number and a description of what is wrong.
func soakDgramCheck(got []byte, size int) (c int, seq uint64, bad string) {
	if len(got) < soakDgramHeader {
		return 0, 0, fmt.Sprintf("a %d-byte datagram, shorter than its header", len(got))
	}
	seq, c = binary.LittleEndian.Uint64(got), int(got[8])
	n := int(binary.LittleEndian.Uint16(got[9:]))
	if want := min(n, size); len(got) != want {
		return c, seq, fmt.Sprintf("datagram %d of client %d: %d bytes, want %d (sent %d, buffer %d)", seq, c, len(got), want, n, size)
	}
	for i := soakDgramHeader; i < len(got); i++ {
		if got[i] != byte(seq*7)+byte(i*13) {
			return c, seq, fmt.Sprintf("datagram %d of client %d: wrong byte at %d", seq, c, i)
		}
	}
	return c, seq, ""
}

// startDatagrams starts the echo server and n clients.
func (s *soak) startDatagrams(n int) error {
	udp := func() (int, unix.Sockaddr, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, nil, err
		}
		s.addFd(fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return -1, nil, err
		}
		sa, err := unix.Getsockname(fd)
		return fd, sa, err
	}
	srv, srvAddr, err := udp()
	if err != nil {
		return err
	}
	srvPort := srvAddr.(*unix.SockaddrInet4).Port
	sbuf := make([]byte, soakDgramMax)
	var echoing bool // the server's op in flight is its SendTo
	server := s.newAio(false, func(a *aio.Aio) {
		err := a.Result()
		if !echoing {
			s.st.result("dgram server RecvFrom", err)
			if err != nil || s.stopping.Load() {
				return
			}
			if _, _, bad := soakDgramCheck(sbuf[:a.Count()], len(sbuf)); bad != "" {
				s.st.fail("dgram server: " + bad)
			}
			echoing = true
			a.SetIOV(sbuf[:a.Count()])
			// From's value is the aio's until its next RecvFrom, which
			// starts only after this SendTo has read it.
			a.SendTo(srv, a.From())
			return
		}
		s.st.result("dgram server SendTo", err)
		if err != nil || s.stopping.Load() {
			return
		}
		echoing = false
		a.SetIOV(sbuf)
		a.RecvFrom(srv)
	})
	server.SetIOV(sbuf)
	server.RecvFrom(srv)

	for c := 0; c < n; c++ {
		fd, _, err := udp()
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(uint64(c), 7))
		out := make([]byte, soakDgramMax)
		in := make([]byte, soakDgramMax)
		var (
			sent, last uint64 // the last number sent, and received
			sending    bool   // the op in flight is the SendTo
			length     int    // the SendTo's datagram
			size       int    // the receive's buffer
			timeout    time.Duration
		)
		startSend := func(a *aio.Aio) {
			sent++
			b := out[:soakDgramHeader+rng.IntN(soakDgramMax-soakDgramHeader+1)]
			soakDgram(b, c, sent)
			length = len(b)
			a.SetTimeout(aio.Infinite)
			a.SetIOV(b)
			sending = true
			a.SendTo(fd, srvAddr)
		}
		startRecv := func(a *aio.Aio) {
			timeout = soakRecvTimeout(rng, 2000)
			size = len(in)
			if rng.IntN(8) == 0 {
				size = soakDgramHeader + rng.IntN(64)
			}
			a.SetTimeout(timeout)
			a.SetIOV(in[:size])
			sending = false
			a.RecvFrom(fd)
		}
		a := s.newAio(true, func(a *aio.Aio) {
			err := a.Result()
			if sending {
				s.st.result("dgram client SendTo", err)
				if err == nil && a.Count() != length {
					s.st.fail(fmt.Sprintf("dgram client SendTo: %d of %d bytes", a.Count(), length))
				}
				if err != nil && err != aio.ErrCanceled || s.stopping.Load() {
					return
				}
				startRecv(a)
				return
			}
			s.st.result("dgram client RecvFrom", err)
			if err == nil {
				from, ok := a.From().(*unix.SockaddrInet4)
				if !ok || from.Port != srvPort || from.Addr != [4]byte{127, 0, 0, 1} {
					s.st.fail(fmt.Sprintf("dgram client RecvFrom: source %v, want 127.0.0.1:%d", a.From(), srvPort))
				}
				who, seq, bad := soakDgramCheck(in[:a.Count()], size)
				switch {
				case bad != "":
					s.st.fail("dgram client: " + bad)
				case who != c:
					s.st.fail(fmt.Sprintf("dgram client %d: received client %d's datagram", c, who))
				case seq <= last || seq > sent:
					s.st.fail(fmt.Sprintf("dgram client %d: datagram %d after %d, with %d sent", c, seq, last, sent))
				default:
					last = seq
					s.st.dgramsVerified.Add(1)
				}
			}
			if err != nil && err != aio.ErrTimedOut && err != aio.ErrCanceled || s.stopping.Load() {
				return
			}
			if last < sent && err != nil && rng.IntN(2) == 0 {
				// The echo may still come: wait for it once more.
				startRecv(a)
				return
			}
			startSend(a)
		})
		startSend(a)
	}
	return nil
}
