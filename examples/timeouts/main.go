//go:build linux

// Command timeouts shows, side by side, how an Aio operation ends under
// each of the engine's ways to bound or stop it: Sleep, SetTimeout,
// SetExpire, Cancel and Abort. For each case it prints the result, the byte
// count and how long the operation took:
//
//	Sleep(50ms)              err=<nil>                     count=0 after=50ms
//	Recv, SetTimeout(50ms)   err=aio: operation timed out  count=0 after=50ms
//	Recv, Cancel after 50ms  err=aio: operation canceled   count=0 after=50ms
//	...
//
// The Recv cases read a Unix socket pair whose other end writes only when
// the case says so, so the receive blocks until its bound or its canceller
// ends it. The last lines show how the engine's errors match the standard
// library's (errors.Is).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

func main() {
	if code := checkArgs(os.Args[1:], os.Stderr); code != 0 {
		os.Exit(code)
	}
	os.Exit(run(os.Stdout, os.Stderr))
}

// checkArgs refuses any argument: the program takes none.
func checkArgs(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		return 0
	}
	fmt.Fprintf(stderr, "timeouts: unexpected argument %q\nusage: timeouts (it takes no arguments)\n", args[0])
	return 2
}

// step is the time unit of the demonstration.
const step = 50 * time.Millisecond

// errShutdown is the kind of reason an application passes to Abort.
var errShutdown = errors.New("application shutting down")

func run(stdout, stderr io.Writer) int {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Fprintln(stderr, "timeouts:", err)
		return 1
	}
	defer e.Close()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(stderr, "timeouts:", err)
		return 1
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	rd, wr := sp[0], sp[1]
	buf := make([]byte, 64)

	// show runs one case on a fresh Aio: setup sets it up, start starts
	// the operation, and during (optional) runs while it is pending.
	show := func(label string, setup func(a *aio.Aio), start func(a *aio.Aio), during func(a *aio.Aio)) {
		a := e.NewAio(nil)
		defer a.Free()
		a.SetTimeout(aio.Infinite)
		a.SetIOV(buf)
		if setup != nil {
			setup(a)
		}
		t0 := time.Now()
		start(a)
		if during != nil {
			during(a)
		}
		a.Wait()
		el := time.Since(t0).Round(time.Millisecond)
		res := "<nil>"
		if err := a.Result(); err != nil {
			res = err.Error()
		}
		fmt.Fprintf(stdout, "%-46s err=%-30s count=%d after=%dms\n", label, res, a.Count(), el.Milliseconds())
		drain(rd)
	}
	recv := func(a *aio.Aio) { a.Recv(rd) }
	send5 := func(*aio.Aio) { unix.Write(wr, []byte("hello")) }
	after := func(d time.Duration, f func(a *aio.Aio)) func(a *aio.Aio) {
		return func(a *aio.Aio) { time.Sleep(d); f(a) }
	}

	show("Sleep(50ms)", nil, func(a *aio.Aio) { a.Sleep(step) }, nil)
	show("Sleep(10s), SetTimeout(50ms)", func(a *aio.Aio) { a.SetTimeout(step) }, func(a *aio.Aio) { a.Sleep(10 * time.Second) }, nil)
	show("Recv, SetTimeout(50ms)", func(a *aio.Aio) { a.SetTimeout(step) }, recv, nil)
	show("Recv, SetExpire(now+50ms)", func(a *aio.Aio) { a.SetExpire(time.Now().Add(step)) }, recv, nil)
	show("Recv, SetExpire(now+50ms) wins over 10s", func(a *aio.Aio) {
		a.SetTimeout(10 * time.Second)
		a.SetExpire(time.Now().Add(step))
	}, recv, nil)
	show("Recv, SetExpire(now-1s): already past", func(a *aio.Aio) { a.SetExpire(time.Now().Add(-time.Second)) }, recv, nil)
	show("Recv, SetTimeout(0): nothing to read", func(a *aio.Aio) { a.SetTimeout(0) }, recv, nil)
	show("Recv, SetTimeout(0): 5 bytes waiting", func(a *aio.Aio) { a.SetTimeout(0); send5(a) }, recv, nil)
	show("Recv, data after 50ms, SetTimeout(10s)", func(a *aio.Aio) { a.SetTimeout(10 * time.Second) }, recv, after(step, send5))
	show("Recv, Cancel after 50ms", nil, recv, after(step, (*aio.Aio).Cancel))
	show("Recv, Abort(errShutdown) after 50ms", nil, recv, after(step, func(a *aio.Aio) { a.Abort(errShutdown) }))
	show("Recv, 5 bytes waiting, then Cancel", send5, recv, func(a *aio.Aio) {
		for a.Busy() {
			time.Sleep(time.Millisecond) // the receive completes at once
		}
		a.Cancel() // too late: the real result stands
	})
	show("Nop, then Cancel on the idle aio", nil, func(a *aio.Aio) { a.Nop(); a.Wait() }, (*aio.Aio).Cancel)

	is := func(err, target error, name string) {
		fmt.Fprintf(stdout, "errors.Is(%s, %s) = %v\n", strings.TrimPrefix(errName(err), "aio."), name, errors.Is(err, target))
	}
	is(aio.ErrTimedOut, os.ErrDeadlineExceeded, "os.ErrDeadlineExceeded")
	is(aio.ErrTimedOut, context.DeadlineExceeded, "context.DeadlineExceeded")
	is(aio.ErrCanceled, context.Canceled, "context.Canceled")
	return 0
}

func errName(err error) string {
	switch err {
	case aio.ErrTimedOut:
		return "ErrTimedOut"
	case aio.ErrCanceled:
		return "ErrCanceled"
	}
	return err.Error()
}

// drain empties the socket between cases, without blocking.
func drain(fd int) {
	b := make([]byte, 64)
	for {
		n, _, err := unix.Recvfrom(fd, b, unix.MSG_DONTWAIT)
		if n <= 0 || err != nil {
			return
		}
	}
}
