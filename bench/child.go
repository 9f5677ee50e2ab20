package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// childEnv, when set to "1", makes this binary measure one case: it reads a
// spec as JSON on stdin and writes a result as JSON on stdout.
const childEnv = "AIORING_BENCH_CHILD"

// childMain is the whole life of a child process.
func childMain(stdin io.Reader, stdout, stderr io.Writer) int {
	var s spec
	dec := json.NewDecoder(stdin)
	if err := dec.Decode(&s); err != nil {
		fmt.Fprintf(stderr, "bench child: reading the case: %v\n", err)
		return 2
	}
	if s.CPUProfile != "" {
		f, err := os.Create(s.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "bench child: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "bench child: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if s.Role == roleServer || s.Role == roleUpstream {
		// The parent keeps stdin open for as long as the server must run.
		if err := serveChild(&s, io.MultiReader(dec.Buffered(), stdin), stdout); err != nil {
			fmt.Fprintf(stderr, "bench server: %s %s %s: %v\n", s.Scenario, s.Case, s.Impl, err)
			return 1
		}
		return 0
	}
	r, err := measureCase(&s)
	if err != nil {
		fmt.Fprintf(stderr, "bench child: %s %s %s: %v\n", s.Scenario, s.Case, s.Impl, err)
		return 1
	}
	r.Scenario, r.Case, r.Impl = s.Scenario, s.Case, s.Impl
	if err := json.NewEncoder(stdout).Encode(r); err != nil {
		return 1
	}
	return 0
}

// measureCase runs the measurement that s names.
func measureCase(s *spec) (*result, error) {
	switch s.Scenario {
	case scenNop:
		if s.Impl == implRawRing {
			return nopRawRing(s)
		}
		return nopAio(s)
	case scenDirect, scenCached, scenWriteCached:
		if s.Impl == implStd {
			return blocksStd(s)
		}
		return blocksAio(s)
	case scenCopy:
		switch s.Impl {
		case implIOCopy:
			return copyStd(s, false)
		case implRW:
			return copyStd(s, true)
		}
		return copyAio(s)
	case scenTCP:
		return loadEcho(s, s.Addr)
	case scenHTTP:
		return loadHTTP(s, "http://"+s.Addr+"/")
	case scenProxy:
		return loadProxy(s, s.Addr)
	case scenFiles:
		if s.Impl == implStd {
			return filesStd(s)
		}
		return filesAio(s)
	case scenStat:
		if s.Impl == implStd {
			return statStd(s)
		}
		return statAio(s)
	case scenLog:
		if s.Impl == implStd {
			return logStd(s)
		}
		return logAio(s)
	case scenUDP:
		return loadUDPEcho(s, s.Addr)
	case scenTimers:
		if s.Impl == implAfter {
			return timersAfterFunc(s)
		}
		return timersAio(s)
	}
	return nil, fmt.Errorf("no such case %s/%s", s.Scenario, s.Impl)
}

// children runs child processes and kills every one of them when the run
// is interrupted.
type children struct {
	mu     sync.Mutex
	cur    map[*exec.Cmd]bool
	counts map[*exec.Cmd]*counted // the syscall counters of running children
	env    []string               // added to every Go child's environment (GOMAXPROCS)
	stress []*stressor            // CPU burners beside every case (-stress)
}

// command makes a child process of this binary that measures s.
func (c *children) command(ctx context.Context) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to run a case in a child: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	// A binary built with -race (the tests') sleeps a second at exit
	// unless told not to; a child per case would make that minutes.
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Env = append(cmd.Env, c.env...)
	// A child must not outlive the bench if the bench is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// caseLimit is how long a child may take over s before it counts as hung.
func caseLimit(s *spec) time.Duration {
	return s.Warmup + s.Window + maxWindow + 2*time.Minute
}

// run measures s in a fresh child process.
func (c *children) run(ctx context.Context, s *spec, stderr io.Writer) (*result, error) {
	return c.runPeer(ctx, s, stderr, nil)
}

// runPeer is run for a load generator, which is handed its server's
// syscall counter, peer (nil: none).
func (c *children) runPeer(ctx context.Context, s *spec, stderr io.Writer, peer *os.File) (*result, error) {
	in, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	// A case that hangs (an operation that never completes) must become a
	// failed row, not a suite that never ends.
	limit := caseLimit(s)
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd, err := c.command(cctx)
	if err != nil {
		return nil, err
	}
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err = c.runCounted(cmd, peer)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if cctx.Err() != nil {
		return nil, fmt.Errorf("no result after %v: the case hung and was killed", limit.Round(time.Second))
	}
	if err != nil {
		return nil, childError(&errb, err)
	}
	io.Copy(stderr, &errb)
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("reading the child's result: %w", err)
	}
	return &r, nil
}

// childError is what a failed child said on stderr, or how it ended.
func childError(errb *bytes.Buffer, err error) error {
	msg := strings.TrimSpace(errb.String())
	if msg == "" {
		msg = err.Error()
	}
	return errors.New(msg)
}

// start starts cmd and remembers it so that an interrupt can kill it.
func (c *children) start(cmd *exec.Cmd) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	if c.cur == nil {
		c.cur = map[*exec.Cmd]bool{}
	}
	c.cur[cmd] = true
	return nil
}

// wait waits for a started cmd and forgets it.
func (c *children) wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	c.mu.Lock()
	delete(c.cur, cmd)
	k := c.counts[cmd]
	delete(c.counts, cmd)
	c.mu.Unlock()
	k.done()
	return err
}

// startCountedCmd is startCounted remembering the counter, which wait
// releases.
func (c *children) startCountedCmd(cmd *exec.Cmd, peer *os.File) (*counted, error) {
	k, err := c.startCounted(cmd, peer)
	if err != nil || k == nil {
		return nil, err
	}
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[*exec.Cmd]*counted{}
	}
	c.counts[cmd] = k
	c.mu.Unlock()
	return k, nil
}

// runCounted is runCmd with a syscall counter handed to the child (and
// its server's, peer, when not nil).
func (c *children) runCounted(cmd *exec.Cmd, peer *os.File) error {
	if _, err := c.startCountedCmd(cmd, peer); err != nil {
		return err
	}
	return c.wait(cmd)
}

// runCmd starts cmd, remembers it so that an interrupt can kill it, and
// waits for it.
func (c *children) runCmd(cmd *exec.Cmd) error {
	if err := c.start(cmd); err != nil {
		return err
	}
	return c.wait(cmd)
}

// kill ends every current child and stress process.
func (c *children) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cmd := range c.cur {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	}
	for _, st := range c.stress {
		st.cmd.Process.Kill()
	}
}
