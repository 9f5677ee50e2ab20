package aio_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// The common pattern: a callback that runs once per operation, on one of
// the engine's goroutines, and reads Result and Count there.
func ExampleEngine_NewAio() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()

	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|tSockCloexec, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	buf := make([]byte, 64)
	done := make(chan string)
	a := e.NewAio(func(a *aio.Aio) {
		if err := a.Result(); err != nil {
			done <- err.Error()
			return
		}
		done <- string(buf[:a.Count()])
	})
	defer a.Free()
	a.SetIOV(buf)
	a.Recv(fds[0])

	unix.Write(fds[1], []byte("hello"))
	fmt.Println(<-done)
	// Output: hello
}

// Without a callback, Wait blocks until the operation has ended.
func ExampleAio_Wait() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()

	f, _ := os.CreateTemp("", "aio-example")
	defer os.Remove(f.Name())
	defer f.Close()
	fd := int(f.Fd())

	a := e.NewAio(nil)
	defer a.Free()
	a.SetIOV([]byte("written "), []byte("in two parts"))
	a.WriteAt(fd, 0)
	a.Wait()
	fmt.Println(a.Result(), a.Count())

	buf := make([]byte, 64)
	a.SetIOV(buf)
	a.ReadAt(fd, 8)
	a.Wait()
	fmt.Printf("%v %q\n", a.Result(), buf[:a.Count()])

	a.ReadAt(fd, 100) // past the end
	a.Wait()
	fmt.Println(a.Result(), a.Count())
	// Output:
	// <nil> 20
	// <nil> "in two parts"
	// <nil> 0
}

// A timeout ends an operation that has not completed with ErrTimedOut,
// which also matches os.ErrDeadlineExceeded. A zero timeout makes a
// non-blocking attempt.
func ExampleAio_SetTimeout() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()

	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|tSockCloexec, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	a := e.NewAio(nil)
	defer a.Free()
	a.SetIOV(make([]byte, 16))

	a.SetTimeout(20 * time.Millisecond)
	start := time.Now()
	a.Recv(fds[0]) // nothing to receive
	a.Wait()
	fmt.Println(a.Result(), errors.Is(a.Result(), os.ErrDeadlineExceeded), time.Since(start) >= 20*time.Millisecond)

	a.SetTimeout(0)
	a.Recv(fds[0])
	a.Wait()
	fmt.Println(a.Result())

	unix.Write(fds[1], []byte("ready"))
	a.Recv(fds[0])
	a.Wait()
	fmt.Println(a.Result(), a.Count())
	// Output:
	// aio: operation timed out true true
	// aio: operation timed out
	// <nil> 5
}

// Cancel ends a pending operation with ErrCanceled; Abort with an error of
// the caller's choice.
func ExampleAio_Cancel() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()

	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|tSockCloexec, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	done := make(chan error)
	a := e.NewAio(func(a *aio.Aio) { done <- a.Result() })
	defer a.Free()
	a.SetIOV(make([]byte, 16))

	a.Recv(fds[0])
	a.Cancel()
	fmt.Println(<-done)

	a.Recv(fds[0])
	a.Abort(errors.New("shutting down"))
	fmt.Println(<-done)
	// Output:
	// aio: operation canceled
	// shutting down
}

// Sleep completes after the duration; a shorter timeout cuts it short.
func ExampleAio_Sleep() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()

	a := e.NewAio(nil)
	defer a.Free()
	start := time.Now()
	a.Sleep(30 * time.Millisecond)
	a.Wait()
	fmt.Println(a.Result(), time.Since(start) >= 30*time.Millisecond)

	a.SetTimeout(10 * time.Millisecond)
	a.Sleep(time.Hour)
	a.Wait()
	fmt.Println(a.Result())
	// Output:
	// <nil> true
	// aio: operation timed out
}

// An operation implemented outside the kernel: Start registers a cancel
// hook, and whoever finishes the work calls Finish exactly once. Here the
// work is a value delivered on a channel; the hook makes the operation
// cancellable and lets it time out.
func ExampleAio_Start() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()

	type mailbox struct {
		ch   chan string
		stop chan error
	}
	// receive starts an operation that ends when a message arrives or the
	// hook is called; the message goes to Output(0).
	receive := func(a *aio.Aio, m *mailbox) {
		if !a.Start(func(a *aio.Aio, err error) { m.stop <- err }) {
			return // the callback already has the reason
		}
		go func() {
			select {
			case msg := <-m.ch:
				a.SetOutput(0, msg)
				a.Finish(nil, len(msg))
			case err := <-m.stop:
				a.Finish(err, 0)
			}
		}()
	}

	m := &mailbox{ch: make(chan string), stop: make(chan error, 1)}
	a := e.NewAio(nil)
	defer a.Free()

	receive(a, m)
	m.ch <- "parcel"
	a.Wait()
	fmt.Println(a.Result(), a.Count(), a.Output(0))

	a.SetTimeout(10 * time.Millisecond)
	receive(a, m) // nobody sends
	a.Wait()
	fmt.Println(a.Result())

	a.SetTimeout(aio.Infinite)
	receive(a, m)
	a.Cancel()
	a.Wait()
	fmt.Println(a.Result())
	// Output:
	// <nil> 6 parcel
	// aio: operation timed out
	// aio: operation canceled
}
