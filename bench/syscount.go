package main

// System calls and context switches per operation, for every process of a
// row: they say where an operation's cost goes (a wake-up, a trip into the
// kernel) when its time alone does not.
//
// System calls are counted by the kernel's raw_syscalls:sys_enter
// tracepoint (what `perf stat -e raw_syscalls:sys_enter` counts) through
// perf_event_open(2), without perf's binary. A counter opened by a process
// on itself counts only the thread that opens it and the threads created
// after it, and a Go process has several threads before main runs, so the
// parent opens the counter instead, on the thread that forks the child:
// disabled, inherit=1 and enable_on_exec=1. The fork copies it into the
// child, the child's exec enables it there, and every thread the child
// then makes inherits it. The parent hands the counter's file to the child
// (fd 3), which reads it at the start and the end of its measured window;
// a read returns the sum over every thread that inherited it. A server's
// counter is handed to its load generator too (fd 4), which reads it over
// its own window, as it reads the server's CPU time.
//
// Context switches come from getrusage(RUSAGE_SELF) for the process itself
// (ru_nvcsw + ru_nivcsw, every thread, exited ones included) and from
// /proc/PID/task/*/status (voluntary_ctxt_switches +
// nonvoluntary_ctxt_switches) for the server, summed over its threads.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Environment of a child: which descriptor holds its own syscall counter
// and its server's, or why there is none.
const (
	sysFDEnv     = "AIORING_BENCH_SYSCALLS_FD"
	peerSysFDEnv = "AIORING_BENCH_PEER_SYSCALLS_FD"
)

// tracepointIDPaths are where tracefs may be mounted.
var tracepointIDPaths = []string{
	"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
}

// sysCounting is the parent's one probe of whether syscalls can be
// counted: the tracepoint's id, or why not.
var sysCounting struct {
	once sync.Once
	id   uint64
	why  string
}

// syscallCounting returns the tracepoint id of raw_syscalls:sys_enter, or
// a reason (for the table's note) why this user cannot count with it.
func syscallCounting() (uint64, string) {
	sysCounting.once.Do(func() {
		sysCounting.id, sysCounting.why = probeSyscallCounting(tracepointIDPaths)
	})
	return sysCounting.id, sysCounting.why
}

func probeSyscallCounting(paths []string) (uint64, string) {
	var errs []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Sprintf("%s holds no tracepoint id", p)
		}
		// Opening one counter on this thread tells whether the kernel lets
		// this user count the tracepoint (perf_event_paranoid, CAP_PERFMON).
		fd, err := openSyscallCounter(id, false)
		if err != nil {
			return 0, fmt.Sprintf("perf_event_open of raw_syscalls:sys_enter failed (%v; /proc/sys/kernel/perf_event_paranoid is %s; root or CAP_PERFMON can count)", err, paranoid())
		}
		unix.Close(fd)
		return id, ""
	}
	return 0, fmt.Sprintf("the raw_syscalls:sys_enter tracepoint cannot be read (tracefs not mounted or not readable: %s); mount -t tracefs nodev /sys/kernel/tracing as root to count", strings.Join(errs, "; "))
}

func paranoid() string {
	b, err := os.ReadFile("/proc/sys/kernel/perf_event_paranoid")
	if err != nil {
		return "unreadable"
	}
	return strings.TrimSpace(string(b))
}

// openSyscallCounter opens a counter of raw_syscalls:sys_enter on the
// calling thread. forChild makes it disabled, inherited by the threads and
// processes this thread creates, and enabled when such a process execs
// (perf_event_attr's disabled, inherit, enable_on_exec).
func openSyscallCounter(id uint64, forChild bool) (int, error) {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_TRACEPOINT,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Config: id,
		Bits:   unix.PerfBitExcludeHv,
	}
	if forChild {
		attr.Bits |= unix.PerfBitDisabled | unix.PerfBitInherit | unix.PerfBitEnableOnExec
	}
	return unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
}

// counted is a child started with a syscall counter: the parent's copy of
// the counter's file, and the release of the OS thread that forked the
// child.
type counted struct {
	file    *os.File // nil when syscalls are not counted
	release chan struct{}
	once    sync.Once
	// final is the count when done was called, for a process measured
	// whole (cp): after it ended, its threads' counts are in the parent's.
	final   uint64
	finalOK bool
}

// done reads the final count, closes the parent's copy of the counter and
// then lets the forking thread go. Called once the child was waited for.
func (k *counted) done() {
	if k == nil {
		return
	}
	k.once.Do(func() {
		if k.file != nil {
			k.final, k.finalOK = readCounter(int(k.file.Fd()))
			k.file.Close()
		}
		close(k.release)
	})
}

// startCounted starts cmd with a syscall counter as its fd 3 (named by
// sysFDEnv) and, when peer is not nil, peer as its fd 4 (peerSysFDEnv).
// Without counting (see syscallCounting) it starts cmd as it is.
//
// The counter lives on the OS thread that forks the child: a goroutine
// locks a thread, opens the counter, forks, and then holds the thread,
// doing nothing, until the child has been waited for and the counter's
// file closed (done), which takes the counter off the thread; only then
// does it unlock the thread. Letting the thread run other goroutines
// before that would copy the counter into every process it forks (the
// next case's children would add to this one's count). Letting the thread
// exit instead would kill, by Pdeathsig (which fires when the forking
// thread ends, not the process), every child it ever forked, including
// those an unlocked goroutine forked on it earlier (the -stress burners).
func (c *children) startCounted(cmd *exec.Cmd, peer *os.File) (*counted, error) {
	id, why := syscallCounting()
	if why != "" {
		return nil, c.start(cmd)
	}
	k := &counted{release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		fd, err := openSyscallCounter(id, true)
		if err != nil {
			// Counting worked in the probe, so this is a passing shortage
			// (descriptors); the case runs uncounted.
			errc <- c.start(cmd)
			return
		}
		k.file = os.NewFile(uintptr(fd), "raw_syscalls:sys_enter")
		cmd.ExtraFiles = []*os.File{k.file}
		cmd.Env = append(cmd.Env, sysFDEnv+"=3")
		if peer != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, peer)
			cmd.Env = append(cmd.Env, peerSysFDEnv+"=4")
		}
		err = c.start(cmd)
		errc <- err
		// done closes release after closing the file: the child has
		// exited and closed its copy, so the kernel has released the
		// counter and taken it off this thread.
		<-k.release
	}()
	if err := <-errc; err != nil {
		k.done()
		return nil, err
	}
	if k.file == nil {
		return nil, nil
	}
	return k, nil
}

// usage is what a process did so far: system calls and context switches,
// each with whether it could be read.
type usage struct {
	sys, csw     uint64
	sysOK, cswOK bool
}

// sub is u minus an earlier reading, valid where both were.
func (u usage) sub(old usage) usage {
	d := usage{sysOK: u.sysOK && old.sysOK && u.sys >= old.sys, cswOK: u.cswOK && old.cswOK && u.csw >= old.csw}
	if d.sysOK {
		d.sys = u.sys - old.sys
	}
	if d.cswOK {
		d.csw = u.csw - old.csw
	}
	return d
}

// add accumulates d (one more window of a case measured in several).
func (u usage) add(d usage) usage {
	return usage{sys: u.sys + d.sys, csw: u.csw + d.csw, sysOK: u.sysOK && d.sysOK, cswOK: u.cswOK && d.cswOK}
}

// zeroUsage is the starting point for add.
var zeroUsage = usage{sysOK: true, cswOK: true}

// counterFD returns the descriptor env names, or -1.
func counterFD(env string) int {
	fd, err := strconv.Atoi(os.Getenv(env))
	if err != nil || fd < 3 {
		return -1
	}
	return fd
}

// readCounter reads a perf counter's value: the sum over every thread
// that inherited it.
func readCounter(fd int) (uint64, bool) {
	if fd < 0 {
		return 0, false
	}
	var b [8]byte
	n, err := unix.Read(fd, b[:])
	if err != nil || n != 8 {
		return 0, false
	}
	return *(*uint64)(unsafe.Pointer(&b[0])), true
}

// selfUsage reads this process's counts.
func selfUsage() usage {
	var u usage
	u.sys, u.sysOK = readCounter(counterFD(sysFDEnv))
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		u.csw, u.cswOK = uint64(ru.Nvcsw+ru.Nivcsw), true
	}
	return u
}

// peerSample is a reading of another process (the server): its syscall
// counter, and each thread's context switches, kept per thread so that a
// thread ending within the window (an io-wq worker) takes only its own
// switches out of the sum instead of making it go backwards.
type peerSample struct {
	sys   uint64
	sysOK bool
	csw   map[int]uint64
}

func readPeer(pid int) peerSample {
	var p peerSample
	p.sys, p.sysOK = readCounter(counterFD(peerSysFDEnv))
	p.csw = taskSwitches(pid)
	return p
}

// since is what the peer did between old and p.
func (p peerSample) since(old peerSample) usage {
	u := usage{sysOK: p.sysOK && old.sysOK && p.sys >= old.sys}
	if u.sysOK {
		u.sys = p.sys - old.sys
	}
	if p.csw == nil || old.csw == nil {
		return u
	}
	u.cswOK = true
	for tid, n := range p.csw {
		// A thread born in the window switched n times in it.
		if n0, ok := old.csw[tid]; ok && n >= n0 {
			n -= n0
		}
		u.csw += n
	}
	return u
}

// taskSwitches reads every thread's context switches from
// /proc/PID/task/*/status; nil when the process cannot be read.
func taskSwitches(pid int) map[int]uint64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	m := make(map[int]uint64, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/status")
		if err != nil {
			continue // ended since the listing
		}
		n, ok := statusSwitches(b)
		if ok {
			m[tid] = n
		}
	}
	return m
}

// statusSwitches sums voluntary_ctxt_switches and
// nonvoluntary_ctxt_switches of a /proc status file.
func statusSwitches(b []byte) (uint64, bool) {
	var sum uint64
	found := 0
	for _, key := range [][]byte{[]byte("\nvoluntary_ctxt_switches:"), []byte("\nnonvoluntary_ctxt_switches:")} {
		i := bytes.Index(b, key)
		if i < 0 {
			continue
		}
		rest := b[i+len(key):]
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
		if err != nil {
			return 0, false
		}
		sum += n
		found++
	}
	return sum, found == 2
}

// setCounts fills the per-operation counts of r from what the measured
// process (self) and, when there is one, its server (peer) did over the
// window. The headline fields are the server's where there is a server,
// the load generator's then go to the Load fields. A count that could not
// be read stays absent.
func (r *result) setCounts(self usage, peer *usage) {
	r.setCountsOver(float64(r.Ops), self, peer)
}

// setCountsOver is setCounts with ops operations (copy: MiB copied).
func (r *result) setCountsOver(ops float64, self usage, peer *usage) {
	if ops <= 0 {
		return
	}
	per := func(n uint64, ok bool) *float64 {
		if !ok {
			return nil
		}
		v := float64(n) / ops
		return &v
	}
	if peer == nil {
		r.SyscallsPerOp, r.CtxswPerOp = per(self.sys, self.sysOK), per(self.csw, self.cswOK)
		return
	}
	r.SyscallsPerOp, r.CtxswPerOp = per(peer.sys, peer.sysOK), per(peer.csw, peer.cswOK)
	r.LoadSyscallsPerOp, r.LoadCtxswPerOp = per(self.sys, self.sysOK), per(self.csw, self.cswOK)
}
