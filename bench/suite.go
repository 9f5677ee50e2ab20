package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// suite runs the scenarios and collects their rows.
type suite struct {
	p          params
	ctx        context.Context
	kids       *children
	stderr     io.Writer
	cpuProfile string
	start      time.Time
	stress     int // CPU burners beside every case (-stress), 0 for none
	procs      int // GOMAXPROCS of every child (-procs), 0 when not set
	count      int // runs of every case (-count), their median counts

	dir       string // the run's temporary directory
	file      string // the test file, when a scenario needs one
	directOK  bool
	directWhy string
	fio       string // fio's path, "" when not installed
	failed    bool
	ran       map[string]bool // scenarios run, for the footnotes
	results   []*result
	treeBytes int64 // the files scenario's tree, once written: its total size
	statTree  bool  // the stat scenario's tree is written
}

// prepareFile makes the run's temporary directory and the test file in it,
// after checking that there is room.
func (s *suite) prepareFile(parent string, copying bool, cl *cleanup) error {
	need := s.p.fileSize + 64*miB
	if copying {
		need += s.p.fileSize
	}
	free, err := freeBytes(parent)
	if err != nil {
		return usagef("-dir %s: %v: pass -dir with an existing, writable directory", parent, err)
	}
	if free < need {
		return usagef("no room for the test files in %s: %d MiB needed, %d MiB free; pass -dir with more room", parent, need/miB, free/miB)
	}
	dir, err := os.MkdirTemp(parent, "aioring-bench-")
	if err != nil {
		return usagef("-dir %s: cannot make a temporary directory there (%v): pass -dir with a writable directory", parent, err)
	}
	s.dir = dir
	cl.add(func() { os.RemoveAll(dir) })
	s.file = filepath.Join(dir, "testfile")
	s.progress("writing the %d MiB test file in %s", s.p.fileSize/miB, dir)
	if err := createTestFile(s.file, s.p.fileSize); err != nil {
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		if errors.Is(err, syscall.ENOSPC) {
			return usagef("%v: pass -dir with more room", err)
		}
		return usagef("writing the test file in %s: %v: pass -dir with a working, writable directory", dir, err)
	}
	s.directOK, s.directWhy = directIOSupported(s.file)
	s.fio = fioPath()
	return nil
}

func (s *suite) progress(format string, args ...any) {
	fmt.Fprintf(s.stderr, "bench: %5.1fs  %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// notes are the table's footnotes.
func (s *suite) notes() []string {
	n := []string{
		"RATIO is aioring's ops/s (MB/s for copy) over this row's; CPU-R is aioring's CPU per operation over this row's. Below 1.0 CPU-R is better, above 1.0 RATIO is better.",
		"CPU/MOP is CPU seconds (user+system, getrusage) per million operations.",
		"THR is the most OS threads the measured process (the server, in tcp-echo, http and udp-echo; the proxy, in proxy) had during the case (/proc/self/stat, sampled every 20 ms; io_uring's io-wq workers count). Each case runs in fresh processes.",
		"SYS/OP is system calls per operation (the kernel's raw_syscalls:sys_enter tracepoint, counted with perf_event_open over the window, every thread of the process), CSW/OP context switches per operation (voluntary and involuntary: getrusage for the measured process, /proc/PID/task/*/status for a server). Where there is a server, both are the server's; the JSON has the load generator's as load_syscalls_per_op and load_ctxsw_per_op. For copy an operation is one MiB copied; cp is counted whole, from its exec to its end; fio rows have neither.",
		"P50/P99/MAX: round-trip time of one NOP (nop qd1), of tcp-echo messages, udp-echo datagrams and http requests, per-operation latency of reads and writes, lateness past the deadline of timers.",
	}
	if _, why := syscallCounting(); why != "" {
		n = append(n, "SYS/OP is absent: "+why+".")
	}
	if s.count > 1 {
		n = append(n, fmt.Sprintf("-count %d: each case ran %d times, its implementations one after the other in each run, so that a slow stretch of the machine hits all of them alike; every figure is the median over the runs, [min-max] the spread of the headline figure (ops/s; MB/s for copy), and RATIO and CPU-R are of the medians.", s.count, s.count))
	}
	if s.file != "" {
		size := fmt.Sprintf("%d MiB", s.p.fileSize/miB)
		if s.p.fileSize >= giB {
			size = fmt.Sprintf("%d GiB", s.p.fileSize/giB)
		}
		more := ""
		if s.p.mode != "full" {
			more = "; -full uses 1 GiB and 5 s windows"
		}
		n = append(n, fmt.Sprintf("%s mode: a %s test file, %v windows after %v warm-up%s.", s.p.mode, size, s.p.window, s.p.warmup, more))
		if s.fio == "" {
			n = append(n, "fio is not installed, so there are no fio rows to compare with (apt-get install fio).")
		}
		if !s.directOK {
			n = append(n, "read-direct was not run: "+s.directWhy+"; pass -dir on a file system that supports O_DIRECT.")
		}
	}
	if s.ran[scenTCP] {
		n = append(n, "tcp-echo: each server runs in its own process and the load generator (the same code for all) in another; CPU/MOP counts both processes, SRV/MOP the server's alone (its process CPU-time clock over the window), and CPU-R compares SRV/MOP. Every server sets TCP_NODELAY; gnet v2 runs multicore with one event loop per P. aioring is the bench's own server (one Aio per connection alternating Recv and Send, no timeout); aioring-example is examples/echo's (package tcpecho: also one Aio per connection alternating Recv and Send, over a 16 KiB buffer, with the example's default 30 s idle timeout on each).")
	}
	if s.ran[scenHTTP] {
		n = append(n, fmt.Sprintf("http: one http.Server with a handler writing a %d-byte body, served through adapt.Listen (aioring) or net.Listen (net), in its own process; the load generator, in another, is net/http's client with %d keep-alive connections and as many goroutines issuing GETs; in the new-conn case the client's keep-alive is off, so every request connects, and the server accepts and closes, anew. CPU/MOP counts both processes, SRV/MOP the server's alone. OPS/S is requests per second; P50/P99/MAX are request latencies.", httpBodySize, s.p.httpConns))
	}
	if s.ran[scenProxy] {
		n = append(n, "proxy: three processes, the upstream (the net echo server of tcp-echo, the same for every row), the proxy under test, and the load generator, which sends each message through the proxy and reads its echo back through it, checked byte for byte; a message crosses the proxy twice. aioring is examples/proxy's forwarding (package relay: Recv and Send over two buffers per direction, and a direction whose Recv fills its whole 32 KiB buffer moves the rest of its stream with Splice through a 1 MiB kernel pipe of its own); aioring-copy the same with relay.Config.Copy (examples/proxy -copy), which never splices, so its RATIO is aioring's over it, and net's RATIO compares the default aioring; net is net.Listen and io.Copy each way, which splices. OPS/S is messages per second, MB/S message bytes (one way) per second; CPU/MOP counts the proxy and the load generator, SRV/MOP the proxy alone, and CPU-R compares SRV/MOP. The large-message case writes each message while reading its echo.")
	}
	if s.ran[scenUDP] {
		n = append(n, udpNote(s.results))
	}
	if s.ran[scenTimers] {
		n = append(n, fmt.Sprintf("timers: rounds of %d timers started at once, each for a random time in [%v, %v); OPS/S is timers fired per second of round time.", s.p.timers, timerMin, timerMax))
	}
	n = append(n, s.fileNotes()...)
	n = append(n, threadsNote(s.results, s.procs))
	if !s.ran[scenCopy] {
		return n
	}
	n = append(n, fmt.Sprintf("copy: the CPU column is CPU seconds per GiB copied. io.Copy between two *os.File uses copy_file_range (no copy through user memory), as does cp; read+write is io.CopyBuffer with a buffer of the size aioring uses, the like-for-like baseline. Every copy is verified byte for byte; the row is the median of %d copies.", s.p.copyRuns))
	return n
}

// runScenario measures every case of one scenario.
func (s *suite) runScenario(name string) error {
	if s.ran == nil {
		s.ran = map[string]bool{}
	}
	s.ran[name] = true
	switch name {
	case scenNop:
		for _, d := range s.p.nopDepths {
			base := spec{Scenario: scenNop, Case: fmt.Sprintf("qd%d", d), Depth: d}
			if err := s.runCase(base, []string{implAio, implRawRing}); err != nil {
				return err
			}
		}
	case scenDirect, scenCached, scenWriteCached:
		for _, d := range s.p.depths {
			base := spec{Scenario: name, Case: "qd" + strconv.Itoa(d), File: s.file, FileSize: s.p.fileSize, Direct: name == scenDirect, Depth: d}
			impls := []string{implAio, implStd, implFio}
			if name == scenDirect && implAio == implAioRing {
				// Registered buffers pin their pages once; O_DIRECT
				// reads are where that pays (issue 18).
				impls = []string{implAio, implAioFixed, implStd, implFio}
			}
			if name == scenDirect && !s.directOK {
				s.skip(base, impls, "O_DIRECT unsupported")
				continue
			}
			if name != scenDirect && d == s.p.depths[0] {
				if err := warmPageCache(s.file); err != nil {
					return err
				}
			}
			if err := s.runCase(base, impls); err != nil {
				return err
			}
		}
		if name == scenWriteCached {
			// Nothing dirty left for the scenarios after it.
			return syncFile(s.file)
		}
	case scenCopy:
		base := spec{Scenario: scenCopy, Case: fmt.Sprintf("%dMiB", s.p.fileSize/miB), File: s.file,
			Dst: filepath.Join(s.dir, "copy"), FileSize: s.p.fileSize, Depth: s.p.copyAios, MsgSize: s.p.copyBuf}
		return s.runCase(base, []string{implAio, implIOCopy, implRW, implCp})
	case scenTCP:
		for _, c := range s.p.conns {
			for _, m := range s.p.msgSizes {
				base := spec{Scenario: scenTCP, Case: fmt.Sprintf("c%d %s", c, sizeName(m)), Conns: c, MsgSize: m}
				if err := s.runCase(base, []string{implAio, implAioExample(), implNet, implGnet}); err != nil {
					return err
				}
			}
		}
	case scenUDP:
		for _, uc := range s.p.udpCases {
			base := spec{Scenario: scenUDP, Case: fmt.Sprintf("c%d %s", uc.conns, sizeName(uc.size)), Conns: uc.conns, MsgSize: uc.size}
			if err := s.runCase(base, []string{implAio, implAioMsg(), implNet}); err != nil {
				return err
			}
		}
	case scenTimers:
		base := spec{Scenario: scenTimers, Case: strconv.Itoa(s.p.timers), Timers: s.p.timers}
		return s.runCase(base, []string{implAio, implAfter})
	case scenHTTP:
		c := s.p.httpConns
		base := spec{Scenario: scenHTTP, Case: fmt.Sprintf("c%d %dB", c, httpBodySize), Conns: c, MsgSize: httpBodySize}
		if err := s.runCase(base, []string{implAio, implNet}); err != nil {
			return err
		}
		// The same requests, each on a connection of its own: accept,
		// the first read and the close, which keep-alive hides.
		base.Case, base.NewConns = base.Case+" new-conn", true
		return s.runCase(base, []string{implAio, implNet})
	case scenFiles, scenStat, scenLog:
		return s.runFileScenario(name)
	case scenProxy:
		for _, pc := range []struct{ conns, size int }{{s.p.proxyConns, s.p.proxyMsg}, {s.p.proxyBulkConns, s.p.proxyBulk}} {
			base := spec{Scenario: scenProxy, Case: fmt.Sprintf("c%d %s", pc.conns, sizeName(pc.size)), Conns: pc.conns, MsgSize: pc.size}
			if err := s.runCase(base, []string{implAio, implAioCopy(), implNet}); err != nil {
				return err
			}
		}
	}
	return nil
}

// skip records rows that could not be measured.
func (s *suite) skip(base spec, impls []string, why string) {
	for _, impl := range impls {
		s.results = append(s.results, &result{Scenario: base.Scenario, Case: base.Case, Impl: impl, Note: why})
	}
}

// runCase measures aioring and then each baseline on the same case,
// s.count times over, and compares the rows' medians. The runs interleave
// (aioring, the baselines, aioring, the baselines, ...) so that a slow
// stretch of the machine falls on every implementation of the case alike.
// A failed measurement becomes a row that says why; only an interrupt
// stops the run.
func (s *suite) runCase(base spec, impls []string) error {
	base.Warmup, base.Window = s.p.warmup, s.p.window
	n := max(s.count, 1)
	runs := make([][]*result, len(impls))
	for run := range n {
		for i, impl := range impls {
			sp := base
			sp.Impl = impl
			if impl == implAio && s.cpuProfile != "" {
				sp.CPUProfile = fmt.Sprintf("%s-%s-%s.pprof", s.cpuProfile, sp.Scenario, sanitize(sp.Case))
				if n > 1 {
					sp.CPUProfile = fmt.Sprintf("%s-%s-%s-run%d.pprof", s.cpuProfile, sp.Scenario, sanitize(sp.Case), run+1)
				}
			}
			which := ""
			if n > 1 {
				which = fmt.Sprintf(" (run %d of %d)", run+1, n)
			}
			r, err := s.measure(&sp)
			if s.ctx.Err() != nil {
				return s.ctx.Err()
			}
			if err != nil {
				s.failed = true
				r = &result{Note: "FAILED: " + oneLine(err.Error())}
				if n > 1 {
					r.Note = fmt.Sprintf("FAILED in run %d of %d: %s", run+1, n, oneLine(err.Error()))
				}
				s.progress("%s %s %s%s: %s", sp.Scenario, sp.Case, impl, which, r.Note)
			} else {
				s.progress("%s %s %s%s: %s", sp.Scenario, sp.Case, impl, which, summary(r))
			}
			r.Scenario, r.Case, r.Impl = sp.Scenario, sp.Case, impl
			runs[i] = append(runs[i], r)
		}
	}
	rows := make([]*result, len(impls))
	for i := range impls {
		rows[i] = medianRow(runs[i])
	}
	for _, b := range rows[1:] {
		compare(rows[0], b, targetFor(base.Scenario, base.Case, b.Impl))
	}
	judgeExample(rows)
	s.results = append(s.results, rows...)
	return nil
}

// judgeExample judges examples/echo's row in a tcp-echo case against
// its target (exampleTarget): its messages over net's server's in the
// same case, kept in its TargetRatio.
func judgeExample(rows []*result) {
	var ex, nt *result
	for _, r := range rows {
		switch r.Impl {
		case implAioExample():
			ex = r
		case implNet:
			nt = r
		}
	}
	if ex == nil || nt == nil {
		return
	}
	t := exampleTarget(ex.Case)
	if t == nil {
		return
	}
	ex.Target = t.text
	if ex.Note != "" || nt.Note != "" || nt.OpsPerS == 0 {
		return
	}
	ex.TargetRatio = ex.OpsPerS / nt.OpsPerS
	met := ex.TargetRatio >= t.minRatio
	ex.Met = &met
	if !met {
		ex.Miss = fmt.Sprintf("%.2fx net < %.2gx", ex.TargetRatio, t.minRatio)
	}
}

// medianRow makes one row of several runs of one implementation in one
// case (-count): every figure is the median over the runs, field by field,
// except the counts of the run whose headline figure is the median (Ops,
// seconds, CPU seconds, the loop's statistics), which stay together, and
// Threads, the most of any run. Runs, Min and Max keep the headline of
// each run. A row that has a note in any run (a failure, a missing tool)
// is that note.
func medianRow(runs []*result) *result {
	if len(runs) == 1 {
		return runs[0]
	}
	for _, x := range runs {
		if x.Note != "" {
			return x
		}
	}
	heads := make([]float64, len(runs))
	for i, x := range runs {
		heads[i], _ = figure(x)
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(heads[a], heads[b]) })
	// The lower of the two middle runs when there are an even number.
	r := *runs[order[(len(runs)-1)/2]]
	r.Runs = heads
	r.Min, r.Max = slices.Min(heads), slices.Max(heads)
	med := func(get func(*result) float64) float64 {
		v := make([]float64, 0, len(runs))
		for _, x := range runs {
			v = append(v, get(x))
		}
		return median(v)
	}
	medPtr := func(get func(*result) *float64) *float64 {
		v := make([]float64, 0, len(runs))
		for _, x := range runs {
			p := get(x)
			if p == nil {
				return nil // absent in one run: absent
			}
			v = append(v, *p)
		}
		m := median(v)
		return &m
	}
	r.OpsPerS = med(func(x *result) float64 { return x.OpsPerS })
	r.MBPerS = med(func(x *result) float64 { return x.MBPerS })
	r.CPUSPerMop = med(func(x *result) float64 { return x.CPUSPerMop })
	r.CPUSPerGiB = med(func(x *result) float64 { return x.CPUSPerGiB })
	r.ServerCPUSPerMop = med(func(x *result) float64 { return x.ServerCPUSPerMop })
	r.P50us = med(func(x *result) float64 { return x.P50us })
	r.P99us = med(func(x *result) float64 { return x.P99us })
	r.MaxUs = med(func(x *result) float64 { return x.MaxUs })
	r.SyscallsPerOp = medPtr(func(x *result) *float64 { return x.SyscallsPerOp })
	r.CtxswPerOp = medPtr(func(x *result) *float64 { return x.CtxswPerOp })
	r.LoadSyscallsPerOp = medPtr(func(x *result) *float64 { return x.LoadSyscallsPerOp })
	r.LoadCtxswPerOp = medPtr(func(x *result) *float64 { return x.LoadCtxswPerOp })
	for _, x := range runs {
		r.Threads = max(r.Threads, x.Threads)
		r.Lost = max(r.Lost, x.Lost)
	}
	return &r
}

// measure runs one implementation: external tools directly, everything
// else in a child process.
func (s *suite) measure(sp *spec) (*result, error) {
	switch sp.Impl {
	case implFio:
		if s.fio == "" {
			return &result{Note: "fio not installed"}, nil
		}
		return fioBlocks(s.ctx, s.kids, s.fio, sp)
	case implCp:
		// A missing tool leaves its row out with the reason, as fio's
		// does, rather than failing the run.
		if _, err := exec.LookPath("cp"); err != nil {
			return &result{Note: "cp not installed"}, nil
		}
	}
	switch sp.Scenario {
	case scenCopy:
		return s.measureCopy(sp)
	case scenTCP, scenHTTP, scenProxy, scenUDP:
		return s.kids.runServed(s.ctx, sp, s.stderr)
	}
	return s.kids.run(s.ctx, sp, s.stderr)
}

// measureCopy copies s.p.copyRuns times and keeps the median run by
// throughput: a copy takes well under a second in quick mode, and a single
// one swings with whatever else the machine is doing.
func (s *suite) measureCopy(sp *spec) (*result, error) {
	var runs []*result
	for range max(s.p.copyRuns, 1) {
		var (
			r   *result
			err error
		)
		if sp.Impl == implCp {
			r, err = copyCp(s.ctx, s.kids, sp)
		} else {
			r, err = s.kids.run(s.ctx, sp, s.stderr)
		}
		if r, err = s.verifyCopy(sp, r, err); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b *result) int { return cmp.Compare(a.MBPerS, b.MBPerS) })
	return runs[len(runs)/2], nil
}

// verifyCopy checks a copy byte for byte and removes it, then flushes the
// file system so that one copy's writeback does not slow the next.
func (s *suite) verifyCopy(sp *spec, r *result, err error) (*result, error) {
	defer func() {
		os.Remove(sp.Dst)
		if fd, err := unix.Open(s.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			unix.Syncfs(fd)
			unix.Close(fd)
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := sameContents(sp.File, sp.Dst); err != nil {
		return nil, err
	}
	return r, nil
}

func summary(r *result) string {
	if r.Note != "" {
		return r.Note
	}
	if r.OpsPerS > 0 && r.CPUSPerGiB == 0 {
		s := fmt.Sprintf("%s ops/s, %.2f CPU s/Mop", si(r.OpsPerS), r.CPUSPerMop)
		if r.ServerCPUSPerMop > 0 {
			s += fmt.Sprintf(" (server %.2f)", r.ServerCPUSPerMop)
		}
		if r.P99us > 0 {
			s += fmt.Sprintf(", p99 %s us", lat(r.P99us))
		}
		if r.Threads > 0 {
			s += fmt.Sprintf(", %d threads", r.Threads)
		}
		if r.Lost > 0 {
			s += fmt.Sprintf(", %d datagrams lost", r.Lost)
		}
		return s
	}
	return fmt.Sprintf("%.0f MB/s, %.2f CPU s/GiB", r.MBPerS, r.CPUSPerGiB)
}

// sizeName is a message size for a case's name: 64B, 16KiB, 1MiB.
func sizeName(n int) string {
	switch {
	case n >= miB && n%miB == 0:
		return strconv.Itoa(n/miB) + "MiB"
	case n >= kiB && n%kiB == 0:
		return strconv.Itoa(n/kiB) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
