//go:build linux

// Command proxy is a TCP forwarding proxy built directly on the aio engine.
//
//	proxy -upstream HOST:PORT [-listen HOST:PORT] [-buf BYTES] [-msg | -copy] [-dial-timeout DURATION] [-v]
//
// Every connection accepted on -listen is forwarded to -upstream, both
// ways, by package relay: one Aio accepts in a callback chain; per
// connection one Aio connects the upstream, and each direction has an Aio
// receiving from one socket and another sending to the other over two
// buffers of -buf bytes, so a connection holds at most 4 × -buf bytes and
// a slow reader slows its sender through TCP flow control. With -msg each
// direction receives with RecvMsg into the engine's pool (messages of
// -buf bytes) and sends each message with SetMsg and Send, without a
// copy. Otherwise a direction whose receive fills a whole buffer (bulk
// data streaming in) moves the rest of its stream through a kernel pipe
// of its own with Splice, socket → pipe → socket, never through Go's
// memory, while directions carrying small messages keep receiving into
// buffers (a spliced direction holds its kernel pipe besides); -copy keeps
// every byte going through the buffers (relay.Config.Copy). When one side
// ends its stream, the proxy shuts down the write side of the other once
// everything before the end is sent (a half-close passes through); the
// connection's sockets are closed when both directions have ended, or at
// the first failure, which is logged on stderr (-v logs every connection).
// The proxy prints "listening on ADDR" once it accepts connections, and
// stops on SIGINT or SIGTERM by closing the engine, which ends every
// pending operation and closes every connection.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aioring/aioring/aio"
	"github.com/aioring/aioring/examples/proxy/relay"
	"golang.org/x/sys/unix"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7008", "address to listen on")
	upstream := fs.String("upstream", "", "address to forward every connection to (required)")
	bufSize := fs.Int("buf", relay.DefaultBufSize, "bytes per buffer (4 buffers per connection)")
	dialTimeout := fs.Duration("dial-timeout", relay.DefaultDialTimeout, "give up connecting to the upstream after this long")
	msgs := fs.Bool("msg", false, "forward the engine's messages (RecvMsg, SetMsg, Send) instead of receiving into buffers")
	copyBulk := fs.Bool("copy", false, "copy bulk data through the buffers instead of splicing it through a kernel pipe per direction once a receive fills a whole buffer")
	verbose := fs.Bool("v", false, "log every connection on stderr, not only failures")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "proxy: unexpected argument %q: proxy takes only flags\n", fs.Arg(0))
		return 2
	case *upstream == "":
		fmt.Fprintln(stderr, "proxy: -upstream HOST:PORT is required")
		return 2
	case *msgs && *copyBulk:
		fmt.Fprintln(stderr, "proxy: -msg and -copy: choose one way of forwarding")
		return 2
	case *bufSize <= 0 || *bufSize > aio.MaxMsgBufferSize:
		fmt.Fprintf(stderr, "proxy: -buf %d: must be positive and at most %d (the kernel's largest single transfer)\n", *bufSize, aio.MaxMsgBufferSize)
		return 2
	case *dialTimeout <= 0:
		fmt.Fprintf(stderr, "proxy: -dial-timeout %v: must be positive\n", *dialTimeout)
		return 2
	}
	up, err := relay.Resolve(*upstream)
	if err != nil {
		fmt.Fprintln(stderr, "proxy: -upstream:", err)
		return 2
	}
	cfg := aio.Config{}
	if *msgs {
		cfg.MsgBufferSize = *bufSize
	}
	e, err := aio.NewEngine(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "proxy:", err)
		return 1
	}
	fd, bound, err := relay.Listen(*listen)
	if err != nil {
		e.Close()
		fmt.Fprintln(stderr, "proxy: -listen:", err)
		return 1
	}
	p, err := relay.New(e, fd, relay.Config{Upstream: up, BufSize: *bufSize, Msgs: *msgs, Copy: *copyBulk,
		DialTimeout: *dialTimeout, Log: stderr, Verbose: *verbose})
	if err != nil {
		e.Close()
		unix.Close(fd)
		fmt.Fprintln(stderr, "proxy:", err)
		return 1
	}
	// Catch the signals before saying we listen: a supervisor (or a test)
	// may stop us as soon as it reads that line.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	p.Start()
	fmt.Fprintf(stdout, "listening on %s, forwarding to %s\n", bound, relay.String(up))
	status := 0
	select {
	case <-sig:
	case <-p.Done():
		// The listening socket failed for good (logged).
		status = 1
	}
	// Close ends the pending Accept and every connection's operations with
	// ErrClosed; their callbacks close the sockets before Close returns.
	start := time.Now()
	e.Close()
	<-p.Done()
	unix.Close(fd)
	if *verbose {
		fmt.Fprintf(stderr, "proxy: stopped in %v\n", time.Since(start).Round(time.Millisecond))
	}
	return status
}
