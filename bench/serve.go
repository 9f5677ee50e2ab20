package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/aio"
	"golang.org/x/sys/unix"
)

// Roles of a child process in the server scenarios (tcp-echo, http,
// proxy, udp-echo): the server under test runs in one child, the load generator in
// another, so that neither's CPU, threads or scheduling is charged to the
// other, as when a user deploys a server and its clients come from
// elsewhere. In proxy the proxy is the server under test, and the upstream
// it forwards to runs in a third child.
const (
	roleServer   = "server"
	roleLoad     = "load"
	roleUpstream = "upstream"
)

// serverHello is the server child's first line on stdout: where it listens.
type serverHello struct {
	Addr string `json:"addr"`
}

// serverReport is the server child's last line on stdout, written once the
// parent has closed its stdin and the server has stopped.
type serverReport struct {
	Threads int        `json:"threads"`
	Loop    *loopStats `json:"loop,omitempty"`
	// Opened is how many connections the server accepted (http only).
	Opened int64  `json:"opened"`
	Err    string `json:"error,omitempty"`
}

// httpSpareConns is how many connections over one per client the
// keep-alive http case accepts before it fails (runServed).
func httpSpareConns(conns int) int { return max(1, conns/16) }

// runServed measures a server scenario: it starts the server child (in
// proxy, the upstream's child first, and the proxy told where it is), runs
// the load generator child against it, then stops the servers and merges
// what they saw into one result. The load generator reads the server's CPU
// time from /proc at the start and the end of its window.
func (c *children) runServed(ctx context.Context, s *spec, stderr io.Writer) (*result, error) {
	srvSpec := *s
	srvSpec.Role = roleServer
	var up *servedChild
	if s.Scenario == scenProxy {
		us := *s
		us.Role, us.CPUProfile = roleUpstream, ""
		var err error
		if up, err = c.startServed(ctx, &us); err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
		defer up.kill()
		srvSpec.Upstream = up.addr
	}
	srv, err := c.startServed(ctx, &srvSpec)
	if err != nil {
		return nil, err
	}
	defer srv.kill()

	ls := *s
	ls.Role, ls.Addr, ls.ServerPID, ls.CPUProfile = roleLoad, srv.addr, srv.cmd.Process.Pid, ""
	var srvCounter *os.File
	if srv.count != nil {
		srvCounter = srv.count.file
	}
	r, lerr := c.runPeer(ctx, &ls, stderr, srvCounter)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	rep, serr := srv.stop(ctx, stderr)
	var uerr error
	if up != nil {
		_, uerr = up.stop(ctx, stderr)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// A server that died is the cause of whatever the load generator saw.
	switch {
	case serr != nil:
		return nil, serr
	case uerr != nil:
		return nil, fmt.Errorf("upstream: %w", uerr)
	case lerr != nil:
		return nil, lerr
	}
	if s.Scenario == scenHTTP && !s.NewConns && rep.Opened > int64(s.Conns+httpSpareConns(s.Conns)) {
		// Every client goroutine should keep its connection for the whole
		// case; many more connections than goroutines would mean
		// keep-alive broke and the case measured connection setup
		// instead of requests. A few are allowed: net/http's Transport
		// now and then drops a connection and dials another (net's own
		// server once accepted 65 for 64 clients beside CPU hogs, in the
		// twenty-third session's suite), which costs a run nothing.
		return nil, fmt.Errorf("the server accepted %d connections for %d keep-alive clients: connections were not reused", rep.Opened, s.Conns)
	}
	if s.Scenario == scenHTTP && s.NewConns && uint64(rep.Opened) < r.Ops {
		// Every request should have come on a connection of its own.
		return nil, fmt.Errorf("the server accepted %d connections for %d requests: connections were reused", rep.Opened, r.Ops)
	}
	r.Threads, r.Loop = rep.Threads, rep.Loop
	return r, nil
}

// servedChild is a running server child: it serves until its stdin ends.
type servedChild struct {
	c      *children
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	errb   bytes.Buffer
	addr   string   // where it listens
	count  *counted // its syscall counter, nil when not counted
	limit  time.Duration
	cctx   context.Context
	cancel context.CancelFunc
	waited bool
}

// startServed starts a server child for s and reads where it listens.
func (c *children) startServed(ctx context.Context, s *spec) (*servedChild, error) {
	in, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	sc := &servedChild{c: c, limit: 2*caseLimit(s) + 30*time.Second}
	sc.cctx, sc.cancel = context.WithTimeout(ctx, sc.limit)
	if sc.cmd, err = c.command(sc.cctx); err != nil {
		sc.cancel()
		return nil, err
	}
	if sc.stdin, err = sc.cmd.StdinPipe(); err != nil {
		sc.cancel()
		return nil, err
	}
	stdout, err := sc.cmd.StdoutPipe()
	if err != nil {
		sc.cancel()
		return nil, err
	}
	sc.cmd.Stderr = &sc.errb
	// WaitDelay bounds the wait for the stderr copy if the server leaves a
	// descendant holding it.
	sc.cmd.WaitDelay = 5 * time.Second
	if sc.count, err = c.startCountedCmd(sc.cmd, nil); err != nil {
		sc.cancel()
		return nil, err
	}
	if _, err := sc.stdin.Write(in); err != nil {
		sc.kill()
		return nil, fmt.Errorf("sending the case to the server: %w", err)
	}
	sc.out = bufio.NewReader(stdout)
	var hello serverHello
	if err := readLine(sc.out, &hello); err != nil {
		sc.stdin.Close()
		werr := c.wait(sc.cmd)
		sc.waited = true
		sc.cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if werr != nil {
			return nil, childError(&sc.errb, werr)
		}
		return nil, fmt.Errorf("the server did not say where it listens: %w", err)
	}
	sc.addr = hello.Addr
	return sc, nil
}

// stop ends the server (it reports once its stdin ends) and returns its
// report; what it said on stderr goes to stderr.
func (sc *servedChild) stop(ctx context.Context, stderr io.Writer) (serverReport, error) {
	defer sc.cancel()
	sc.stdin.Close()
	var rep serverReport
	rerr := readLine(sc.out, &rep)
	werr := sc.c.wait(sc.cmd)
	sc.waited = true
	switch {
	case ctx.Err() != nil:
		return rep, ctx.Err()
	case sc.cctx.Err() != nil:
		return rep, fmt.Errorf("the server did not stop within %v and was killed", sc.limit.Round(time.Second))
	case werr != nil:
		return rep, fmt.Errorf("server: %w", childError(&sc.errb, werr))
	case rerr != nil:
		return rep, fmt.Errorf("reading the server's report: %w", rerr)
	case rep.Err != "":
		return rep, fmt.Errorf("server: %s", rep.Err)
	}
	io.Copy(stderr, &sc.errb)
	return rep, nil
}

// kill ends the server at once unless it was already waited for.
func (sc *servedChild) kill() {
	if sc.waited {
		return
	}
	sc.stdin.Close()
	sc.cmd.Process.Kill()
	sc.c.wait(sc.cmd)
	sc.waited = true
	sc.cancel()
}

// readLine decodes one JSON line from r into v.
func readLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the server ended without a word")
		}
		return err
	}
	return json.Unmarshal(line, v)
}

// server is one running server under test in a server child.
type server struct {
	addr   string
	engine *aio.Engine // nil when the server does not run on aioring
	opened *atomic.Int64
	stop   func() error
}

// startServer starts the server that s names.
func startServer(s *spec) (*server, error) {
	switch s.Scenario {
	case scenTCP:
		switch s.Impl {
		case implAio, implAioExample():
			start := startAioEcho
			if s.Impl == implAioExample() {
				start = startExampleEcho
			}
			e, err := aio.NewEngine(engineConfig())
			if err != nil {
				return nil, err
			}
			addr, stop, err := start(e)
			if err != nil {
				e.Close()
				return nil, err
			}
			return &server{addr: addr, engine: e, stop: func() error { stop(); return nil }}, nil
		case implNet:
			addr, stop, err := startNetEcho()
			if err != nil {
				return nil, err
			}
			return &server{addr: addr, stop: func() error { stop(); return nil }}, nil
		case implGnet:
			return startGnetEcho()
		}
	case scenHTTP:
		return startHTTP(s)
	case scenProxy:
		return startProxyServer(s)
	case scenUDP:
		return startUDPServer(s)
	}
	return nil, fmt.Errorf("no server for %s/%s", s.Scenario, s.Impl)
}

// serveChild is the life of a server child: start the server, say where it
// listens, serve until stdin ends, stop, and report.
func serveChild(s *spec, stdin io.Reader, stdout io.Writer) error {
	ts := startThreadSampler()
	srv, err := startServer(s)
	if err != nil {
		return err
	}
	var ls *loopStats
	if srv.engine != nil {
		ls = watchLoop(srv.engine)
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(serverHello{Addr: srv.addr}); err != nil {
		return err
	}
	io.Copy(io.Discard, stdin)
	var rep serverReport
	if ls != nil {
		rep.Loop = ls.done()
	}
	if err := srv.stop(); err != nil {
		rep.Err = oneLine(err.Error())
	}
	if srv.opened != nil {
		rep.Opened = srv.opened.Load()
	}
	rep.Threads = ts.finish()
	return enc.Encode(&rep)
}

// procCPU is the user plus system time so far of process pid, all its
// threads, the dead ones too. It reads the process's CPU-time clock, to the
// nanosecond; /proc/PID/stat counts the same time in clock ticks of 10 ms,
// which a tiny window of a light server can miss entirely (CI saw a proxy
// server's 0 ticks in a 100 ms window), so it is only the fallback.
func procCPU(pid int) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(processCPUClock(pid), &ts); err == nil {
		return time.Duration(ts.Nano()), nil
	}
	return procStatCPU(pid)
}

// processCPUClock is the clock id of process pid's CPU time, as glibc's
// clock_getcpuclockid makes it: the negated pid shifted over the clock
// kind, CPUCLOCK_SCHED (2, the scheduler's exact runtime), with the
// per-thread bit (4) clear, so all the process's threads are summed.
func processCPUClock(pid int) int32 {
	const cpuclockSched = 2
	return int32(^pid)<<3 | cpuclockSched
}

// procStatCPU is procCPU from utime and stime in /proc/PID/stat.
func procStatCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("cannot parse /proc/PID/stat")
	}
	// utime and stime are fields 14 and 15, the 12th and 13th after the
	// command name.
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, errors.New("cannot parse /proc/PID/stat")
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("cannot parse /proc/PID/stat")
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(u+st) * 10 * time.Millisecond, nil
}
