//go:build linux

// Command echo is a TCP echo server built directly on the aio engine.
//
//	echo [-addr HOST:PORT] [-idle DURATION] [-buf BYTES] [-msg] [-v]
//	echo -udp [-addr HOST:PORT] [-inflight N] [-msg [-buf BYTES]] [-v]
//
// The TCP server is package tcpecho, which the bench runs too. One Aio
// accepts connections, in a callback chain: each accepted socket
// gets TCP_NODELAY (as in package net) and starts its connection, and the
// callback starts the next Accept. Each connection has one Aio that
// receives into the connection's buffer of -buf bytes, sends what it got
// back (again for the rest after a short send), and receives again, each
// step started from the previous one's callback. With -msg a connection
// has one Aio per direction over two messages instead: RecvMsg takes a
// buffer of the engine's pool (of -buf bytes) that the kernel fills while
// the sending Aio echoes the other one with SetMsg and Send, without a
// copy, and each is freed once wholly sent; a client that stops reading
// holds at most two messages plus the engine's per-descriptor queue.
// Every receive and send carries the -idle timeout: a client that sends
// nothing (or stops reading its echo) for that long is disconnected.
// The server prints "listening on ADDR" once it accepts connections, and
// stops on SIGINT or SIGTERM by closing the engine, which ends every
// pending operation.
//
// With -udp it is a UDP echo server instead (udp.go): up to -inflight
// Aios (default 16 per CPU) each receive a datagram with RecvFrom and send
// it back to its source with SendTo, restarting themselves from their
// callbacks; four of them wait on the socket, and the others take only
// what is already queued, resting when nothing is (package udpecho), so
// a lone datagram wakes four receives, not all of them, and a burst finds
// many. With -msg they receive with RecvMsg from one multishot
// receive into the engine's pool (buffers of -buf bytes, by default any
// UDP datagram's size) and send each message back as it is.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/echo/tcpecho"
	"github.com/aioring/aioring/examples/echo/udpecho"
	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7007", "address to listen on")
	idle := fs.Duration("idle", 30*time.Second, "disconnect a client idle this long (0: never)")
	bufSize := fs.Int("buf", 16<<10, "bytes per receive")
	msgs := fs.Bool("msg", false, "receive into the engine's message pool (RecvMsg) and send the messages back without a copy")
	verbose := fs.Bool("v", false, "log connections on stderr")
	udp := fs.Bool("udp", false, "a UDP echo server (RecvFrom/SendTo) instead of TCP")
	inflight := fs.Int("inflight", 16*runtime.GOMAXPROCS(0), "-udp: the most receives at once on the socket (echo loops)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "echo: unexpected argument %q: echo takes only flags (-addr HOST:PORT sets the address)\n", fs.Arg(0))
		return 2
	}
	if *bufSize <= 0 || *bufSize > aio.MaxMsgBufferSize {
		fmt.Fprintf(stderr, "echo: -buf %d: must be between 1 and %d (the kernel's largest single transfer)\n", *bufSize, aio.MaxMsgBufferSize)
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
	ecfg := aio.Config{}
	if *msgs {
		ecfg.MsgBufferSize = *bufSize
	}
	e, err := aio.NewEngine(ecfg)
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
	cfg := tcpecho.Config{Idle: *idle, Buf: *bufSize, Msgs: *msgs}
	if *verbose {
		cfg.Log = stderr
	}
	// Catch the signals before saying we listen: a supervisor (or a test)
	// may stop us as soon as it reads that line.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	stopped := tcpecho.Serve(e, fd, cfg)
	fmt.Fprintf(stdout, "listening on %s\n", bound)
	<-sig
	// Close ends the pending Accept and every connection's operations with
	// ErrClosed; their callbacks close the sockets.
	e.Close()
	<-stopped
	unix.Close(fd)
	return 0
}

// maxInflight bounds -udp -inflight: each echo loop is an Aio made at the
// start and a 64 KiB buffer once it receives, so this many are already 4
// GiB of buffers; a billion exhausted the memory before the server
// started.
const maxInflight = 1 << 16

// runUDP is run for -udp; msgBuf > 0 is -msg, with pool buffers of that
// size.
func runUDP(addr string, inflight, msgBuf int, verbose bool, stdout, stderr io.Writer) int {
	if inflight <= 0 || inflight > maxInflight {
		fmt.Fprintf(stderr, "echo: -inflight %d: must be between 1 and %d\n", inflight, maxInflight)
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
