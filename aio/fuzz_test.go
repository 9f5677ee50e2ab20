//go:build linux

package aio

import (
	"errors"
	"fmt"
	"github.com/aioring/aioring/internal/seat"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzAPI plays random sequences of API calls on three aios over a real
// socket pair, a file, a listening socket and sleeps, and checks what the
// contract promises: exactly one callback per started op, never on the
// starting goroutine; results from the documented set for each op and
// state; the documented ErrInvalid cases; and a clean Stop and Close.
//
// The input is read two bytes per step (at most fuzzMaxSteps): the first
// picks the call and the aio, the second is the call's argument.
//
//	go test -run '^$' -fuzz '^FuzzAPI$' -fuzztime 30s ./aio/
func FuzzAPI(f *testing.F) {
	f.Add([]byte{0, 0, 1, 4, 8, 1, 5, 0, 7, 9, 10, 0})
	f.Add([]byte{15, 0, 0, 0, 1, 3})
	// RecvMsg, attach the message, Send it, RecvMsg with nothing there,
	// cancel it.
	f.Add([]byte{7, 10, 20, 0, 21, 1, 6, 0, 20, 0, 10, 0})
	// SendTo, RecvFrom, RecvFrom with nothing there (cancelled), Splice
	// with data in the pipe, Splice waiting (cancelled), Shutdown.
	f.Add([]byte{22, 0, 23, 0, 23, 0, 10, 0, 24, 3, 24, 1, 10, 0, 25, 0})
	// SendTo, RecvMsg of the datagram, SendTo of it attached, RecvMsg of
	// that, RecvMsg with nothing there (cancelled).
	f.Add([]byte{22, 0, 20, 3, 21, 1, 22, 0, 20, 3, 20, 3, 10, 0})
	// Files by name: OpenAt, Statx, CloseFD, Fdatasync, Fallocate; a
	// missing path, a NUL, a zero timeout; a cancelled OpenAt.
	f.Add([]byte{26, 0, 27, 0, 28, 0, 29, 0, 30, 3, 26, 1, 27, 2, 8, 0, 26, 0, 28, 0, 8, 1, 26, 0, 10, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		runFuzzScript(t, script)
	})
}

const (
	fuzzMaxSteps = 64
	fuzzAios     = 3
	fuzzCalls    = 31 // distinct calls a step can make (the corpus was rewritten from 22 to 26 when 22..25 came, and from 26 to 31 when 26..30 came)
	fuzzFileSize = 1 << 16
)

var errFuzzAbort = errors.New("fuzz abort")

// fuzzFile is one file per process, shared by the iterations; its contents
// do not matter to the checks.
var fuzzFile = sync.OnceValues(func() (*os.File, error) {
	dir, err := os.MkdirTemp("", "aioring-fuzz")
	if err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // unlinked: nothing is left behind
	os.Remove(dir)
	return f, f.Truncate(fuzzFileSize)
})

// fuzzOp is what the checks need to know about an aio's current op; it is
// written before the op starts and read by its callback.
type fuzzOp struct {
	kind      opKind
	harness   bool          // started by the script, not by a callback
	stopped   bool          // Stop had returned before the start
	closed    bool          // Close had returned before the start
	timeout   time.Duration // SetTimeout in force
	expire    int           // 0 none, 1 past, 2 future
	sleep     time.Duration
	iovLen    int
	outputSet bool  // an output slot was set before the start: it must read nil
	from      int   // RecvFrom, RecvMsg of a datagram: the only socket that sends to its descriptor
	fileErr   error // files by name: the error the op's arguments must give, if any
}

type fuzzAio struct {
	a        *Aio
	op       fuzzOp
	timeout  time.Duration
	expire   int
	iovLen   int
	chain    int // ops the callback still starts (Nops)
	pending  atomic.Int32
	started  atomic.Int64
	calls    atomic.Int64
	canceled atomic.Bool // Cancel, Abort(nil) or a Wait watchdog has happened
	aborted  atomic.Bool // Abort(errFuzzAbort) has happened
	stopReq  atomic.Bool
	reaped   bool
	stopDone bool
	bufs     [MaxIOV + 1][]byte
	held     *Msg // the last message RecvMsg gave, kept until the next (the callback's)
	attached *Msg // what SetMsg attached (the script's)
	st       unix.Statx_t
}

type fuzzRun struct {
	t        *testing.T
	e        *Engine
	mainGoid int64
	closeReq atomic.Bool
	closed   bool
	mu       sync.Mutex
	problems []string
	fds      []int
}

func (r *fuzzRun) bad(format string, args ...any) {
	r.mu.Lock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func runFuzzScript(t *testing.T, script []byte) {
	begun := time.Now()
	defer func() {
		if el := time.Since(begun); el > 5*time.Second {
			t.Errorf("script %x took %v", script, el)
		}
	}()
	file, err := fuzzFile()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(Config{Entries: 8, Callbacks: 2})
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &fuzzRun{t: t, e: e, mainGoid: seat.GoroutineID()}
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, lnAddr := fuzzListener(t)
	r.fds = append(r.fds, sp[0], sp[1], ln)
	// Datagrams: u[0] (connected to u[1], so Shutdown has a connection)
	// sends to u[1] through one shared address value; a pipe feeds
	// Splice into the socket pair.
	u, uAddr := fuzzUDP(t)
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r.fds = append(r.fds, u[0], u[1], pp[0], pp[1])
	// The harness's writes must not block; the read end stays blocking
	// (an O_NONBLOCK end makes the kernel's splice return EAGAIN).
	if err := unix.SetNonblock(pp[1], true); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, fd := range r.fds {
			unix.Close(fd)
		}
	}()

	var all []*fuzzAio
	newAio := func() *fuzzAio {
		x := &fuzzAio{timeout: DefaultTimeout}
		for i := range x.bufs {
			x.bufs[i] = make([]byte, 64*(i+1))
		}
		x.a = e.NewAio(func(a *Aio) { r.callback(x) })
		all = append(all, x)
		return x
	}
	var aios [fuzzAios]*fuzzAio
	for i := range aios {
		aios[i] = newAio()
	}

	for step := 0; step+1 < len(script) && step/2 < fuzzMaxSteps; step += 2 {
		b0, arg := script[step], script[step+1]
		x := aios[int(b0/fuzzCalls)%fuzzAios]
		call := int(b0 % fuzzCalls)
		if call <= 6 || call == 18 || call == 19 || call == 20 || call >= 22 { // starts an op
			if x.a.Busy() {
				continue // one op at a time: starting now would panic, as documented
			}
			r.begin(x, call)
		}
		a := x.a
		switch call {
		case 0:
			a.Nop()
		case 1:
			x.op.sleep = time.Duration(int(arg%6)-1) * 400 * time.Microsecond // -1 (until cancelled) .. 1.6 ms
			x.op.kind = opSleep
			a.Sleep(x.op.sleep)
		case 2:
			a.ReadAt(int(file.Fd()), int64(arg)*200)
		case 3:
			a.WriteAt(int(file.Fd()), int64(arg)*200)
		case 4:
			a.Fsync(int(file.Fd()))
		case 5:
			a.Recv(sp[0])
		case 6:
			a.Send(sp[0])
		case 7: // the peer sends arg bytes (or drains what it has)
			if arg%4 == 0 {
				unix.Recvfrom(sp[1], make([]byte, 4096), unix.MSG_DONTWAIT)
			} else {
				unix.SendmsgN(sp[1], make([]byte, int(arg)), nil, nil, unix.MSG_DONTWAIT)
			}
		case 8:
			switch arg % 5 {
			case 0:
				x.timeout = 0
			case 1:
				x.timeout = Infinite
			case 2:
				x.timeout = DefaultTimeout
			default:
				x.timeout = time.Duration(arg%20+1) * 100 * time.Microsecond
			}
			a.SetTimeout(x.timeout)
		case 9:
			if a.Busy() {
				// A Nop started by the callback could consume the expiry,
				// and the next op's expected result would be unknown.
				continue
			}
			switch arg % 3 {
			case 0:
				x.expire = 0
				a.SetExpire(time.Time{})
			case 1:
				x.expire = 1
				a.SetExpire(time.Now().Add(-time.Millisecond))
			case 2:
				x.expire = 2
				a.SetExpire(time.Now().Add(time.Duration(arg%20+1) * 100 * time.Microsecond))
			}
		case 10:
			x.canceled.Store(true)
			a.Cancel()
		case 11:
			if arg%2 == 0 {
				x.canceled.Store(true)
				a.Abort(nil)
			} else {
				x.aborted.Store(true)
				a.Abort(errFuzzAbort)
			}
		case 12:
			x.stopReq.Store(true)
			a.Stop()
			x.stopDone = true
			if a.Busy() {
				r.bad("Busy after Stop returned")
			}
		case 13: // Reap, and a fresh aio takes its place
			x.stopReq.Store(true)
			x.reaped = true
			a.Reap()
			aios[int(b0/fuzzCalls)%fuzzAios] = newAio()
		case 14: // Wait, with a watchdog for ops that would never end
			x.canceled.Store(true)
			wd := time.AfterFunc(2*time.Millisecond, a.Cancel)
			a.Wait()
			wd.Stop()
			if a.Busy() {
				r.bad("Busy after Wait returned")
			}
		case 15:
			r.closeReq.Store(true)
			if err := e.Close(); err != nil {
				r.bad("Close: %v", err)
			}
			r.closed = true
		case 16: // SetIOV with 0 .. MaxIOV+1 buffers; too many is ErrInvalid and changes nothing
			if a.Busy() {
				continue // buffers must not change under an op in flight
			}
			n := int(arg) % (MaxIOV + 2)
			err := a.SetIOV(x.bufs[:n]...)
			if n > MaxIOV {
				if !errors.Is(err, ErrInvalid) {
					r.bad("SetIOV(%d buffers): %v, want ErrInvalid", n, err)
				}
			} else if err != nil {
				r.bad("SetIOV(%d buffers): %v", n, err)
			} else {
				x.iovLen = 0
				for _, b := range x.bufs[:n] {
					x.iovLen += len(b)
				}
			}
		case 17: // slots, and the next callback starts arg%3 Nops
			i := int(arg%8) - 2 // -2 .. 5: some out of range
			errIn := a.SetInput(i, arg)
			if (i < 0 || i >= NumSlots) != errors.Is(errIn, ErrInvalid) {
				r.bad("SetInput(%d): %v", i, errIn)
			}
			if i >= 0 && i < NumSlots && a.Input(i) != arg {
				r.bad("Input(%d) = %v after SetInput(%d, %v)", i, a.Input(i), i, arg)
			}
			if a.Input(-1) != nil || a.Output(NumSlots) != nil {
				r.bad("out-of-range slot is not nil")
			}
			if !a.Busy() {
				if err := a.SetOutput(3, "stale"); err != nil {
					r.bad("SetOutput: %v", err)
				}
				x.op.outputSet = true
				x.chain = int(arg % 3)
			}
		case 18:
			a.Accept(ln)
		case 19: // Connect a fresh socket to the listener
			s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			r.fds = append(r.fds, s)
			a.Connect(s, lnAddr)
		case 20: // RecvMsg on the socket pair; arg%4 == 3: of a datagram
			if arg%4 == 3 {
				x.op.from = u[0]
				a.RecvMsg(u[1])
				break
			}
			a.RecvMsg(sp[0])
		case 21: // attach the held message for Send, or detach
			if a.Busy() {
				continue // the callback replaces the held message
			}
			if arg%2 == 0 || x.held == nil {
				x.attached = nil
			} else {
				x.attached = x.held
			}
			a.SetMsg(x.attached)
			if a.Msg() != x.attached {
				r.bad("Msg() after SetMsg is not the message attached")
			}
		case 22:
			a.SendTo(u[0], uAddr)
		case 23:
			x.op.from = u[0]
			a.RecvFrom(u[1])
		case 24: // Splice from the pipe into the socket pair; arg%3 == 0 puts arg bytes in the pipe first
			if arg%3 == 0 {
				unix.Write(pp[1], make([]byte, int(arg)))
			}
			x.op.iovLen = int(arg) + 1
			a.Splice(pp[0], -1, sp[0], -1, int(arg)+1)
		case 25:
			a.Shutdown(u[0], unix.SHUT_RD)
		case 26, 27: // OpenAt, Statx of a path that exists, is missing, or holds a NUL
			path, want := "/proc/self/fd/"+strconv.Itoa(int(file.Fd())), error(nil)
			switch arg % 4 {
			case 1:
				path, want = "/nonexistent-aioring-fuzz", unix.ENOENT
			case 2:
				path, want = "bad\x00path", ErrInvalid
			}
			x.op.fileErr = want
			if call == 26 {
				a.OpenAt(unix.AT_FDCWD, path, unix.O_RDONLY, 0)
			} else {
				a.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, &x.st)
			}
		case 28: // CloseFD of a fresh duplicate: closed whatever the result
			fd, err := unix.FcntlInt(file.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			a.CloseFD(fd)
		case 29:
			a.Fdatasync(int(file.Fd()))
		case 30:
			a.Fallocate(int(file.Fd()), unix.FALLOC_FL_KEEP_SIZE, int64(arg)*512, 4096)
		}
	}

	for _, x := range all {
		if !x.reaped {
			x.stopReq.Store(true)
			x.a.Stop()
		}
		if x.held != nil {
			x.held.Free()
			x.held = nil
		}
	}
	r.closeReq.Store(true)
	if err := e.Close(); err != nil {
		r.bad("Close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, x := range all {
		for x.started.Load() != x.calls.Load() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond) // polling interval of a wait with a deadline
		}
		if s, c := x.started.Load(), x.calls.Load(); s != c {
			r.bad("%d ops started, %d callbacks", s, c)
		}
		if !x.reaped {
			x.a.Wait()
			x.a.Free()
		}
	}
	if len(r.problems) > 0 {
		t.Fatalf("script %x:\n%q", script, r.problems)
	}
}

// begin records an op about to be started by the script on x.
func (r *fuzzRun) begin(x *fuzzAio, call int) {
	kinds := map[int]opKind{0: opNop, 1: opSleep, 2: opRead, 3: opWrite, 4: opFsync, 5: opRecv, 6: opSend, 18: opAccept, 19: opConnect, 20: opRecvMsg,
		22: opSendTo, 23: opRecvFrom, 24: opSplice, 25: opShutdown,
		26: opOpenAt, 27: opStatx, 28: opClose, 29: opFdatasync, 30: opFallocate}
	outputSet := x.op.outputSet
	iovLen := x.iovLen
	switch {
	case call == 20:
		iovLen = DefaultMsgBufferSize
	case (call == 6 || call == 22) && x.attached != nil:
		iovLen = len(x.attached.Bytes())
	}
	x.op = fuzzOp{kind: kinds[call], harness: true, stopped: x.stopDone || x.reaped, closed: r.closed,
		timeout: x.timeout, expire: x.expire, iovLen: iovLen, outputSet: outputSet}
	x.expire = 0 // one-shot, whatever the op
	r.started(x)
}

func (r *fuzzRun) started(x *fuzzAio) {
	if !x.pending.CompareAndSwap(0, 1) {
		r.bad("op started while the previous one's callback is outstanding")
	}
	x.started.Add(1)
}

// callback checks the result of x's op against the contract.
func (r *fuzzRun) callback(x *fuzzAio) {
	a := x.a
	if !x.pending.CompareAndSwap(1, 0) {
		r.bad("second callback for one op")
	}
	x.calls.Add(1)
	if g := seat.GoroutineID(); g == r.mainGoid {
		r.bad("callback ran on the goroutine that started the op")
	}
	op := x.op
	err, n := a.Result(), a.Count()
	if op.outputSet {
		if a.Output(3) != nil {
			r.bad("%s: output slot not cleared at start", op.kind.name())
		}
		x.op.outputSet = false
	}
	if op.kind == opAccept && err == nil {
		fd, ok := a.Output(0).(int)
		if !ok || fd < 0 {
			r.bad("Accept: Output(0) = %v", a.Output(0))
		} else {
			unix.Close(fd)
		}
	}
	if err != nil && n != 0 {
		r.bad("%s: %v with count %d", op.kind.name(), err, n)
	}
	switch fd := a.FD(); {
	case op.kind == opOpenAt && err == nil:
		if fd < 0 {
			r.bad("OpenAt succeeded with FD %d", fd)
		} else {
			unix.Close(fd)
		}
	case op.kind == opAccept && err == nil:
		if out, _ := a.Output(0).(int); fd != out {
			r.bad("Accept: FD %d, Output(0) %v", fd, a.Output(0))
		}
	case fd != -1:
		r.bad("%s (%v): FD %d, want -1", op.kind.name(), err, fd)
	}
	if op.kind == opRecvMsg {
		m := a.Msg()
		dgram := op.from != 0 // an empty datagram is a message too
		switch {
		case err == nil && (n > 0 || dgram) && (m == nil || len(m.Bytes()) != n):
			r.bad("RecvMsg: count %d with message %v", n, m)
		case (err != nil || (n == 0 && !dgram)) && m != nil:
			r.bad("RecvMsg: %v, count %d, with a message", err, n)
		}
		if m != nil {
			// The previous message goes back; detach it first if the
			// script attached it.
			if x.held != nil {
				if x.attached == x.held {
					x.attached = nil
				}
				x.held.Free()
			}
			x.held = m
		}
		a.SetMsg(x.attached)
	}
	if op.kind == opRecvFrom || (op.kind == opRecvMsg && op.from != 0) {
		f := a.From()
		if err == nil {
			want, _ := unix.Getsockname(op.from)
			if w, ok := want.(*unix.SockaddrInet4); !ok || f == nil || f.(*unix.SockaddrInet4).Port != w.Port {
				r.bad("%s: From = %v, want the sender %v", op.kind.name(), f, want)
			}
		} else if f != nil {
			r.bad("%s: %v with From %v", op.kind.name(), err, f)
		}
	} else if f := a.From(); f != nil {
		r.bad("%s: From = %v, want nil", op.kind.name(), f)
	}
	if n < 0 || (op.kind != opNop && n > op.iovLen) {
		r.bad("%s: count %d, IOV %d bytes", op.kind.name(), n, op.iovLen)
	}
	timeout := op.timeout
	if timeout == DefaultTimeout {
		timeout = Infinite // the engine's default
	}
	canTimeOut := timeout >= 0 || op.expire != 0
	aborted := err == ErrCanceled && x.canceled.Load() || err == errFuzzAbort && x.aborted.Load() ||
		err == ErrStopped && x.stopReq.Load() || err == ErrClosed && r.closeReq.Load()
	switch {
	case op.harness && op.stopped:
		if err != ErrStopped {
			r.bad("%s on a stopped aio: %v, want ErrStopped", op.kind.name(), err)
		}
	case op.harness && op.closed:
		if err != ErrClosed {
			r.bad("%s on a closed engine: %v, want ErrClosed", op.kind.name(), err)
		}
	case aborted:
	case op.kind == opSleep:
		want := error(nil)
		if timeout >= 0 && (op.sleep < 0 || op.sleep > timeout) {
			want = ErrTimedOut
		}
		if err != want {
			r.bad("Sleep(%v) with timeout %v: %v, want %v", op.sleep, op.timeout, err, want)
		}
	case op.harness && op.expire == 1:
		if err != ErrTimedOut {
			r.bad("%s with a past expiry: %v, want ErrTimedOut", op.kind.name(), err)
		}
	case op.kind == opFsync && timeout == 0 && op.expire == 0:
		if err != ErrTimedOut {
			r.bad("Fsync with a zero timeout: %v, want ErrTimedOut", err)
		}
	case op.harness && op.fileErr == ErrInvalid:
		// A future expiry (100 µs to 2 ms ahead) may have passed by the
		// start on a busy machine, and a past expiry is checked first.
		if err != ErrInvalid && (err != ErrTimedOut || op.expire != 2) {
			r.bad("%s of a path with a NUL: %v, want ErrInvalid", op.kind.name(), err)
		}
	case op.harness && op.kind >= opOpenAt && op.kind != opClose && timeout == 0 && op.expire == 0:
		if err != ErrTimedOut {
			r.bad("%s with a zero timeout: %v, want ErrTimedOut", op.kind.name(), err)
		}
	case op.harness && op.fileErr != nil && err == op.fileErr:
	case err == nil:
	case err == ErrTimedOut && canTimeOut && (op.kind != opNop || op.expire != 0):
	default:
		r.bad("%s (timeout %v, expire %d): unexpected result %v", op.kind.name(), op.timeout, op.expire, err)
	}
	if x.chain > 0 && !x.stopReq.Load() {
		x.chain--
		// The script may change the timeout meanwhile, and a Nop ignores
		// it: only the abort results and nil are valid.
		x.op = fuzzOp{kind: opNop, timeout: Infinite}
		r.started(x)
		a.Nop()
	}
}

// fuzzUDP returns two loopback UDP sockets, the first connected to the
// second, and the second's address.
func fuzzUDP(t *testing.T) ([2]int, *unix.SockaddrInet4) {
	var u [2]int
	var sa [2]*unix.SockaddrInet4
	for i := range u {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		a, err := unix.Getsockname(s)
		if err != nil {
			t.Fatal(err)
		}
		u[i], sa[i] = s, a.(*unix.SockaddrInet4)
	}
	if err := unix.Connect(u[0], sa[1]); err != nil {
		t.Fatal(err)
	}
	return u, sa[1]
}

// fuzzListener returns a listening TCP socket on loopback and its address.
func fuzzListener(t *testing.T) (int, *unix.SockaddrInet4) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(s, 64); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, sa.(*unix.SockaddrInet4)
}
