//go:build linux

// Command echo is a TCP echo server built directly on the aio engine.
//
//	echo [-addr HOST:PORT] [-idle DURATION] [-buf BYTES] [-msg] [-v]
//	echo -udp [-addr HOST:PORT] [-inflight N] [-msg [-buf BYTES]] [-v]
//
// One Aio accepts connections, in a callback chain: each accepted socket
// gets TCP_NODELAY (as in package net) and starts its connection, and the
// callback starts the next Accept. Each connection has one Aio per
// direction: the receiving Aio fills one of two buffers while the sending
// Aio writes the other back, so receiving the next bytes overlaps sending
// the last ones. With -msg the two slots are messages instead: RecvMsg
// takes a buffer of the engine's pool (of -buf bytes) that the kernel
// fills, SetMsg and Send echo it without a copy, and it is freed once
// wholly sent; a client that stops reading holds at most two messages
// plus the engine's per-descriptor queue. Both directions carry the -idle timeout: a client that
// sends nothing (or stops reading its echo) for that long is disconnected.
// The server prints "listening on ADDR" once it accepts connections, and
// stops on SIGINT or SIGTERM by closing the engine, which ends every
// pending operation.
//
// With -udp it is a UDP echo server instead (udp.go): -inflight Aios
// (default 4 per CPU) each receive a datagram with RecvFrom and send it
// back to its source with SendTo, restarting themselves from their
// callbacks. With -msg they receive with RecvMsg from one multishot
// receive into the engine's pool (buffers of -buf bytes, by default any
// UDP datagram's size) and send each message back as it is.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/echo/udpecho"
	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type server struct {
	e    *aio.Engine
	fd   int
	idle time.Duration
	buf  int
	msgs bool      // -msg: RecvMsg → SetMsg → Send
	log  io.Writer // connection events with -v; io.Discard otherwise

	// accepted, if set, is called with each accepted socket just before
	// the server starts echoing on it (a hook for tests).
	accepted func(fd int)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7007", "address to listen on")
	idle := fs.Duration("idle", 30*time.Second, "disconnect a client idle this long (0: never)")
	bufSize := fs.Int("buf", 16<<10, "bytes per receive")
	msgs := fs.Bool("msg", false, "receive into the engine's message pool (RecvMsg) and send the messages back without a copy")
	verbose := fs.Bool("v", false, "log connections on stderr")
	udp := fs.Bool("udp", false, "a UDP echo server (RecvFrom/SendTo) instead of TCP")
	inflight := fs.Int("inflight", 4*runtime.GOMAXPROCS(0), "-udp: receives in flight on the socket")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *bufSize <= 0 {
		fmt.Fprintf(stderr, "echo: -buf %d: must be positive\n", *bufSize)
		return 2
	}
	if *udp {
		msgBuf := 0
		if *msgs {
			msgBuf = udpecho.MsgBuffer
			fs.Visit(func(f *flag.Flag) {
				if f.Name == "buf" {
					msgBuf = *bufSize
				}
			})
		}
		return runUDP(*addr, *inflight, msgBuf, *verbose, stdout, stderr)
	}
	cfg := aio.Config{}
	if *msgs {
		cfg.MsgBufferSize = *bufSize
	}
	e, err := aio.NewEngine(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "echo:", err)
		return 1
	}
	fd, bound, err := relay.Listen(*addr)
	if err != nil {
		e.Close()
		fmt.Fprintln(stderr, "echo:", err)
		return 1
	}
	s := &server{e: e, fd: fd, idle: *idle, buf: *bufSize, msgs: *msgs, log: io.Discard}
	if *verbose {
		s.log = stderr
	}
	if s.idle <= 0 {
		s.idle = aio.Infinite
	}
	// Catch the signals before saying we listen: a supervisor (or a test)
	// may stop us as soon as it reads that line.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	s.startAccepting(stopped)
	fmt.Fprintf(stdout, "listening on %s\n", bound)
	<-sig
	// Close ends the pending Accept and every connection's operations with
	// ErrClosed; their callbacks close the sockets.
	e.Close()
	<-stopped
	unix.Close(fd)
	return 0
}

// runUDP is run for -udp; msgBuf > 0 is -msg, with pool buffers of that
// size.
func runUDP(addr string, inflight, msgBuf int, verbose bool, stdout, stderr io.Writer) int {
	if inflight <= 0 {
		fmt.Fprintf(stderr, "echo: -inflight %d: must be positive\n", inflight)
		return 2
	}
	e, err := aio.NewEngine(aio.Config{MsgBufferSize: msgBuf})
	if err != nil {
		fmt.Fprintln(stderr, "echo:", err)
		return 1
	}
	fd, bound, err := listenUDP(addr)
	if err != nil {
		e.Close()
		fmt.Fprintln(stderr, "echo:", err)
		return 1
	}
	log := io.Discard
	if verbose {
		log = stderr
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	serve := udpecho.Serve
	if msgBuf > 0 {
		serve = udpecho.ServeMsg
	}
	done := serve(e, fd, inflight, log)
	fmt.Fprintf(stdout, "listening on %s\n", bound)
	<-sig
	e.Close()
	<-done
	unix.Close(fd)
	return 0
}

// startAccepting runs the accept chain; stopped is closed when it ends
// (the engine was closed).
func (s *server) startAccepting(stopped chan struct{}) {
	var retrying bool // the last op was the pause after a failed Accept
	a := s.e.NewAio(func(a *aio.Aio) {
		err := a.Result()
		switch {
		case retrying:
			retrying = false
		case err == nil:
			s.serve(a.Output(0).(int))
		case errors.Is(err, aio.ErrClosed), errors.Is(err, aio.ErrStopped):
			a.Reap()
			close(stopped)
			return
		default:
			// Out of descriptors, a connection reset before it was
			// accepted...: pause briefly, then accept again.
			fmt.Fprintln(s.log, "accept:", err)
			retrying = true
			a.Sleep(10 * time.Millisecond)
			return
		}
		a.Accept(s.fd)
	})
	a.SetTimeout(aio.Infinite)
	a.Accept(s.fd)
}

// serve starts echoing on an accepted socket.
func (s *server) serve(fd int) {
	// A failure only costs latency: keep serving.
	if err := noDelay(fd); err != nil {
		fmt.Fprintf(s.log, "connection %d: %v\n", fd, err)
	}
	if s.accepted != nil {
		s.accepted(fd)
	}
	newConn(s, fd).start()
}

// noDelay sets TCP_NODELAY, as package net does on every TCP connection.
// Without it Nagle's algorithm holds back the partial segment that ends an
// echoed message until the client's delayed ACK of the previous one
// arrives, tens of milliseconds per message. A socket with no TCP layer (a
// unix socket: EOPNOTSUPP) has nothing to set, and is not an error.
func noDelay(fd int) error {
	err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	switch {
	case err == nil, errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOPROTOOPT):
		return nil
	}
	return os.NewSyscallError("setsockopt TCP_NODELAY", err)
}
