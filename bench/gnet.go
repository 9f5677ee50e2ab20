package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnetEcho is the echo server on gnet v2, the event-loop library Go users
// pick when they want fast sockets: every read is written straight back.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	booted chan gnetBoot
}

type gnetBoot struct {
	addr string
	err  error
}

// OnBoot finds the port the listener was given: gnet keeps no address of
// its own for port 0, so ask the kernel through a duplicate descriptor.
func (g *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	var b gnetBoot
	fd, err := eng.Dup()
	if err != nil {
		b.err = err
	} else {
		sa, err := unix.Getsockname(fd)
		unix.Close(fd)
		if in4, ok := sa.(*unix.SockaddrInet4); err == nil && ok {
			b.addr = "127.0.0.1:" + strconv.Itoa(in4.Port)
		} else {
			b.err = fmt.Errorf("the gnet listener's address: %v", err)
		}
	}
	g.booted <- b
	return gnet.None
}

// OnTraffic echoes everything that has arrived on c.
func (g *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Next(-1)
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// startGnetEcho runs gnet multicore with one event loop per P (multicore
// alone makes one per CPU, more loops than Ps under -procs) and
// TCP_NODELAY, as the other servers; everything else is gnet's default.
func startGnetEcho() (*server, error) {
	h := &gnetEcho{booted: make(chan gnetBoot, 1)}
	ran := make(chan error, 1)
	go func() {
		ran <- gnet.Run(h, "tcp4://127.0.0.1:0",
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(runtime.GOMAXPROCS(0)),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(quietLogger{}))
	}()
	var b gnetBoot
	select {
	case b = <-h.booted:
	case err := <-ran:
		if err == nil {
			err = errors.New("gnet stopped before it served")
		}
		return nil, err
	}
	if b.err != nil {
		return nil, b.err
	}
	// No graceful stop: Engine.Stop polls every half second, and the
	// server's process ends with the case anyway. A gnet that failed on
	// its own by then is reported.
	stop := func() error {
		select {
		case err := <-ran:
			return fmt.Errorf("gnet stopped during the case: %v", err)
		default:
			return nil
		}
	}
	return &server{addr: b.addr, stop: stop}, nil
}

// quietLogger keeps gnet's start-up chatter out of the bench's progress
// lines; warnings and errors still reach stderr.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
	os.Exit(1)
}
