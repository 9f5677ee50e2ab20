//go:build linux

package aio_test

// Audit of RLIMIT_NOFILE exhaustion, in a subprocess (the limit is the
// process's): OpenAt and Accept fail with EMFILE through the callback, an
// Accept at the limit neither spins nor loses a connection, and the
// engine works again once descriptors are free.

import (
	"errors"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

const nofileChildEnv = "AIORING_AUDIT_NOFILE_CHILD"

func TestAuditNofileExhaustion(t *testing.T) {
	if os.Getenv(nofileChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAuditNofileExhaustion$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), nofileChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			// It never ran (qemu-user's binaries cannot exec one another
			// without binfmt_misc): the limit needs a process of its own.
			t.Skipf("cannot run the test binary as a subprocess: %v", err)
		}
		if err != nil {
			t.Fatalf("the subprocess failed: %v\n%s", err, out)
		}
		t.Logf("subprocess:\n%s", out)
		return
	}
	for _, be := range []aio.Backend{aio.BackendIOURing, aio.BackendPortable} {
		t.Run(string(be), func(t *testing.T) { nofileChild(t, be) })
	}
}

// fdNumbers lists the process's open descriptors.
func fdNumbers(t *testing.T) []int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, n)
		}
	}
	sort.Ints(fds)
	return fds
}

func cpuUsed() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func nofileChild(t *testing.T, be aio.Backend) {
	e, err := aio.NewEngine(aio.Config{Backend: be})
	if err != nil {
		t.Skipf("%s unavailable: %v", be, err)
	}
	defer e.Close()
	l, sa, _ := listener(t, 16)
	const conns = 3
	var clients []int
	for i := 0; i < conns; i++ {
		c, _ := dial(t, sa)
		clients = append(clients, c)
	}
	file := tempPath(t, "x")
	// Warm the engine: an op of each kind, so that lazily made state
	// (pools, workers' descriptors) exists before the limit.
	a := e.NewAio(nil)
	defer a.Free()
	a.SetTimeout(waitLimit)
	a.OpenAt(unix.AT_FDCWD, file, unix.O_RDONLY, 0)
	a.Wait()
	if a.Result() != nil {
		t.Fatal(a.Result())
	}
	unix.Close(a.FD())

	// A second listener with an Accept armed before the limit (a
	// multishot request on io_uring), and unconnected client sockets
	// that will connect once the limit is reached.
	l2, sa2, _ := listener(t, 16)
	var unconnected []int
	for i := 0; i < conns; i++ {
		c, _ := tcpSocket(t)
		unconnected = append(unconnected, c)
	}
	armed := make(chan error, 16)
	var armedFD atomic.Int64
	b := e.NewAio(func(b *aio.Aio) {
		if b.Result() == nil {
			armedFD.Store(int64(b.FD()))
			unix.Close(b.FD())
		}
		armed <- b.Result()
	})
	defer b.Free()
	b.SetTimeout(aio.Infinite)
	b.Accept(l2)
	time.Sleep(50 * time.Millisecond) // armed in the kernel by now

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds := fdNumbers(t)
	lim := uint64(fds[len(fds)-1] + 1)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: lim, Max: old.Max}); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	// Fill the holes below the limit.
	var spare []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if err != unix.EMFILE {
				t.Fatal(err)
			}
			break
		}
		spare = append(spare, fd)
	}
	defer func() {
		for _, fd := range spare {
			unix.Close(fd)
		}
	}()

	a.OpenAt(unix.AT_FDCWD, file, unix.O_RDONLY, 0)
	a.Wait()
	if !errors.Is(a.Result(), syscall.EMFILE) || a.FD() != -1 {
		t.Errorf("OpenAt at the limit: (%v, FD %d), want (EMFILE, -1)", a.Result(), a.FD())
	}
	// Accept with connections waiting: EMFILE through the callback, at
	// once or within its timeout, and no spinning meanwhile.
	a.SetTimeout(time.Second)
	c0 := cpuUsed()
	start := time.Now()
	a.Accept(l)
	a.Wait()
	took, cpu := time.Since(start), cpuUsed()-c0
	if err := a.Result(); !errors.Is(err, syscall.EMFILE) && !errors.Is(err, aio.ErrTimedOut) {
		t.Errorf("Accept at the limit: %v, want EMFILE (or ErrTimedOut)", err)
	}
	t.Logf("Accept at the limit: %v after %v, %v of CPU", a.Result(), took, cpu)
	if took > 200*time.Millisecond && cpu > took*3/4 {
		t.Errorf("Accept at the limit spun: %v of CPU in %v", cpu, took)
	}
	// The armed Accept meets connections at the limit.
	c0 = cpuUsed()
	start = time.Now()
	for _, c := range unconnected {
		if err := unix.Connect(c, sa2); err != nil {
			t.Fatalf("connect: %v", err)
		}
	}
	var armedErr error
	select {
	case armedErr = <-armed:
	case <-time.After(time.Second):
		armedErr = errors.New("still waiting after 1 s")
	}
	took, cpu = time.Since(start), cpuUsed()-c0
	t.Logf("armed Accept at the limit (RLIMIT_NOFILE %d): %v (descriptor %d) after %v, %v of CPU", lim, armedErr, armedFD.Load(), took, cpu)
	if took > 200*time.Millisecond && cpu > took*3/4 {
		t.Errorf("the armed Accept at the limit spun: %v of CPU in %v", cpu, took)
	}
	if armedErr != nil && !errors.Is(armedErr, syscall.EMFILE) {
		if b.Busy() {
			b.Stop()
		}
	}
	// Free descriptors: every connection is still there to accept.
	for _, fd := range spare[:min(len(spare), 8)] {
		unix.Close(fd)
	}
	spare = spare[min(len(spare), 8):]
	if len(spare) == 0 && lim <= uint64(fds[len(fds)-1]+1) {
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	}
	a.SetTimeout(5 * time.Second)
	for i := 0; i < conns; i++ {
		a.Accept(l)
		a.Wait()
		if a.Result() != nil {
			t.Fatalf("Accept %d after descriptors were freed: %v (a connection lost)", i, a.Result())
		}
		unix.Close(a.FD())
	}
	// The connections the armed Accept met at the limit: all there
	// still (one may have been accepted already if it reported success).
	c2 := e.NewAio(nil)
	defer c2.Free()
	c2.SetTimeout(2 * time.Second)
	got := 0
	if armedErr == nil {
		got = 1
	}
	for got < conns {
		c2.Accept(l2)
		c2.Wait()
		if c2.Result() != nil {
			t.Fatalf("accepted %d of the %d connections made at the limit, then %v (lost)", got, conns, c2.Result())
		}
		unix.Close(c2.FD())
		got++
	}
	a.OpenAt(unix.AT_FDCWD, file, unix.O_RDONLY, 0)
	a.Wait()
	if a.Result() != nil {
		t.Fatalf("OpenAt after descriptors were freed: %v", a.Result())
	}
	unix.Close(a.FD())
	_ = clients
}
