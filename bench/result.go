package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Implementations measured. aioring is always the first of a case; the
// others are its baselines.
// implAio is this run's aioring: "aioring" on io_uring, "aioring-portable"
// with -backend portable (set from AIORING_BACKEND, which the children
// inherit, by useBackend).
var implAio = implAioRing

// implAioCopy is aioring's proxy with relay.Config.Copy, copying bulk data
// through its buffers where the default splices it, a row of its own
// beside aioring's (proxy only): "aioring-copy", or
// "aioring-portable-copy" on the portable backend. Until decision 54 the
// copy was the default and the row "aioring-splice" measured splicing.
func implAioCopy() string { return implAio + "-copy" }

// implAioMsg is aioring's UDP echo on RecvMsg (one multishot receive into
// the engine's pool, examples/echo -udp -msg), a row of its own beside
// aioring's RecvFrom server (udp-echo only): "aioring-msg", or
// "aioring-portable-msg".
func implAioMsg() string { return implAio + "-msg" }

// implAioExample is examples/echo's TCP server (package tcpecho, with the
// example's defaults), a row of its own beside the bench's aioring echo
// server (tcp-echo only): "aioring-example", or "aioring-portable-example".
func implAioExample() string { return implAio + "-example" }

// isAioring reports whether impl is one of aioring's rows (any backend,
// with or without splice) rather than a baseline.
func isAioring(impl string) bool { return strings.HasPrefix(impl, implAioRing) }

const (
	implAioRing     = "aioring"
	implAioPortable = "aioring-portable"
	implRawRing     = "raw ring"
	implStd         = "stdlib"
	implFio         = "fio"
	implIOCopy      = "io.Copy"
	implRW          = "read+write"
	implCp          = "cp"
	implNet         = "net"
	implGnet        = "gnet"
	implAfter       = "time.AfterFunc"
	scenNop         = "nop"
	scenDirect      = "read-direct"
	scenCached      = "read-cached"
	scenWriteCached = "write-cached"
	scenCopy        = "copy"
	scenTCP         = "tcp-echo"
	scenTimers      = "timers"
	scenHTTP        = "http"
	scenProxy       = "proxy"
	scenUDP         = "udp-echo"
)

// scenarios in the order they run.
var scenarios = []string{scenNop, scenDirect, scenCached, scenWriteCached, scenCopy, scenTCP, scenTimers, scenHTTP, scenProxy, scenUDP, scenFiles, scenStat, scenLog}

// spec is one measured case for one implementation. The parent sends it to
// a child process as JSON.
type spec struct {
	Scenario   string        `json:"scenario"`
	Case       string        `json:"case"`
	Impl       string        `json:"impl"`
	File       string        `json:"file,omitempty"`
	Dst        string        `json:"dst,omitempty"`
	FileSize   int64         `json:"file_size,omitempty"`
	Direct     bool          `json:"direct,omitempty"`
	Depth      int           `json:"depth,omitempty"`
	Conns      int           `json:"conns,omitempty"`
	MsgSize    int           `json:"msg_size,omitempty"`
	Timers     int           `json:"timers,omitempty"`
	Warmup     time.Duration `json:"warmup"`
	Window     time.Duration `json:"window"`
	CPUProfile string        `json:"cpu_profile,omitempty"`
	// Server scenarios: the child's role, and for the load generator the
	// server's address and process.
	Role      string `json:"role,omitempty"`
	Addr      string `json:"addr,omitempty"`
	ServerPID int    `json:"server_pid,omitempty"`
	// Upstream is where the proxy under test forwards (proxy only).
	Upstream string `json:"upstream,omitempty"`
	// Files is how many files of the tree at File the files and stat
	// scenarios handle per round (FileSize: their total size); Cold drops
	// the page cache before every round (files.go).
	Files int  `json:"files,omitempty"`
	Cold  bool `json:"cold,omitempty"`
	// NewConns makes every http request open a connection of its own (the
	// client's keep-alive off): connection setup and teardown measured
	// with the request.
	NewConns bool `json:"new_conns,omitempty"`
}

// result is every figure of one implementation in one case. Zero means "not
// measured" for every figure: the table prints "-" and the JSON omits it.
type result struct {
	Scenario   string  `json:"scenario"`
	Case       string  `json:"case"`
	Impl       string  `json:"impl"`
	Ops        uint64  `json:"ops,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
	OpsPerS    float64 `json:"ops_per_s,omitempty"`
	MBPerS     float64 `json:"mb_per_s,omitempty"`
	CPUSeconds float64 `json:"cpu_s,omitempty"`
	// CPUSPerMop is CPU seconds per million operations; for copy, whose
	// operations have no fixed size, CPUSPerGiB is given instead.
	CPUSPerMop float64 `json:"cpu_s_per_mop,omitempty"`
	CPUSPerGiB float64 `json:"cpu_s_per_gib,omitempty"`
	// In the server scenarios (tcp-echo, http) CPUSeconds and CPUSPerMop
	// cover the server's and the load generator's processes together;
	// ServerCPUSeconds and ServerCPUSPerMop the server's process alone.
	ServerCPUSeconds float64 `json:"server_cpu_s,omitempty"`
	ServerCPUSPerMop float64 `json:"server_cpu_s_per_mop,omitempty"`
	P50us            float64 `json:"p50_us,omitempty"`
	P99us            float64 `json:"p99_us,omitempty"`
	MaxUs            float64 `json:"max_us,omitempty"`
	// Threads is the most OS threads of the measured process: the
	// server's in the server scenarios.
	Threads int `json:"threads,omitempty"`
	// SyscallsPerOp and CtxswPerOp are the system calls (the kernel's
	// raw_syscalls:sys_enter tracepoint) and context switches (voluntary
	// and involuntary) per operation over the window, every thread of the
	// process counted: the server's process where there is a server, the
	// load generator's then in LoadSyscallsPerOp and LoadCtxswPerOp. For
	// copy an operation is one MiB copied. Absent when they could not be
	// read; the report's notes say why.
	SyscallsPerOp     *float64 `json:"syscalls_per_op,omitempty"`
	CtxswPerOp        *float64 `json:"ctxsw_per_op,omitempty"`
	LoadSyscallsPerOp *float64 `json:"load_syscalls_per_op,omitempty"`
	LoadCtxswPerOp    *float64 `json:"load_ctxsw_per_op,omitempty"`
	// Runs are the headline figure (ops/s, MB/s for copy) of each run
	// with -count N, in the order they ran, and Min and Max their
	// extremes; every other figure of the row is then the median over the
	// runs.
	Runs []float64 `json:"runs,omitempty"`
	Min  float64   `json:"min,omitempty"`
	Max  float64   `json:"max,omitempty"`
	// Ratio is aioring's figure over this baseline's (ops/s, or MB/s for
	// copy); CPURatio the same for CPU per operation, the server's own
	// where there is a server. Set on baselines.
	Ratio    float64 `json:"ratio,omitempty"`
	CPURatio float64 `json:"cpu_ratio,omitempty"`
	// Target is what aioring must reach against this baseline, Met whether
	// it did; nil when the case has no target or could not be measured.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	Miss   string `json:"missed_because,omitempty"`
	// TargetRatio is the ratio a target on one of aioring's own rows
	// judged: examples/echo's messages over net's server's (tcp-echo's
	// aioring-example row, judgeExample).
	TargetRatio float64 `json:"target_ratio,omitempty"`
	// Loop is what the engine's completion loop did per completion over
	// the whole case (aioring rows only, JSON only): how often it entered
	// the kernel, slept there, and was woken by a submitter. Sleeps cost a
	// wake-up on the next operation, which is what round-trip latency at
	// low depth is made of.
	Loop *loopStats `json:"loop,omitempty"`
	// Lost is how many datagrams had no echo within the load generator's
	// timeout (udp-echo only), over the whole case, warm-up included;
	// with -count, the most of any run.
	Lost uint64 `json:"lost_datagrams,omitempty"`
	// Note says why figures are missing (fio not installed, O_DIRECT
	// unsupported, ...).
	Note string `json:"note,omitempty"`
}

// derive fills the per-second and per-operation figures from the raw ones.
func (r *result) derive(bytesPerOp int64, wall, cpu time.Duration) {
	r.Seconds = wall.Seconds()
	r.CPUSeconds = cpu.Seconds()
	if r.Seconds > 0 {
		r.OpsPerS = float64(r.Ops) / r.Seconds
		if bytesPerOp > 0 {
			r.MBPerS = float64(r.Ops) * float64(bytesPerOp) / r.Seconds / 1e6
		}
	}
	if r.Ops > 0 {
		r.CPUSPerMop = r.CPUSeconds / float64(r.Ops) * 1e6
	}
}

// target is what aioring must reach against one baseline in one case: the
// open issues' targets (17, 18 and 19), each part of them that a row's
// figures can show.
type target struct {
	minRatio     float64 // aioring ops/s (MB/s) over the baseline's, at least
	maxCPU       float64 // aioring CPU per op over the baseline's, at most (0: none)
	maxP50       float64 // aioring p50 over the baseline's, at most (0: none)
	maxP99       float64 // aioring p99 over the baseline's, at most (0: none)
	fewerThreads bool    // aioring's process must have had fewer OS threads
	noLoss       bool    // aioring must lose no datagram (udp-echo)
	text         string
	chart        float64 // the ratio to mark on the chart
}

// targetFor returns the target for aioring against impl in case c
// of scenario, or nil when there is none.
func targetFor(scenario, c, impl string) *target {
	n, size := caseKey(c), caseSize(c)
	switch scenario {
	case scenNop:
		// Issue 17: the raw ring batching NOPs, and at depth 1 its
		// round trip.
		switch {
		case impl != implRawRing:
		case n == 1:
			return &target{maxP50: 1.3, text: "RTT p50 <= 1.3x raw ring", chart: 1 / 1.3}
		case n > 1:
			return &target{minRatio: 0.6, text: ">= 0.6x raw ring", chart: 0.6}
		}
	case scenDirect:
		if n != 32 && n != 128 {
			return nil
		}
		switch impl {
		case implStd:
			return &target{minRatio: 1.5, maxCPU: 0.5, text: ">= 1.5x IOPS, <= 0.5x CPU/op", chart: 1.5}
		case implFio:
			return &target{minRatio: 0.9, text: ">= 0.9x IOPS", chart: 0.9}
		}
	case scenWriteCached:
		// Issue 17's "cheaper than the standard library per
		// operation", for writes (decision 68).
		if impl == implStd {
			return &target{minRatio: 1.0, text: ">= 1.0x writes/s", chart: 1.0}
		}
	case scenCached:
		switch impl {
		case implStd: // issue 17
			return &target{minRatio: 1.0, text: ">= 1.0x reads/s", chart: 1.0}
		case implFio:
			return &target{minRatio: 1.0, text: ">= 1.0x IOPS", chart: 1.0}
		}
	case scenTCP:
		switch {
		case impl != implNet && impl != implGnet:
		case n == 1 && impl == implNet:
			return &target{maxP50: 1.1, text: "RTT p50 <= 1.1x net", chart: 1 / 1.1}
		case (n == 64 || n == 512) && size == "64B":
			// Issue 17: small messages, where the engine's cost per
			// message shows.
			return &target{minRatio: 1.1, text: ">= 1.1x", chart: 1.1}
		case (n == 64 || n == 512) && impl == implNet:
			return &target{minRatio: 1.0, text: ">= 1.0x (aim 1.3x)", chart: 1.0}
		case n == 64 || n == 512:
			return &target{minRatio: 1.0, text: ">= 1.0x (aim 1.2x)", chart: 1.0}
		}
	case scenUDP:
		// Issue 19's targets, with no datagram lost on loopback, for
		// the 64-byte datagrams; the larger ones have none.
		switch {
		case impl != implNet || size != "64B":
		case n == 1:
			return &target{maxP50: 1.1, noLoss: true, text: "RTT p50 <= 1.1x net, none lost", chart: 1 / 1.1}
		case n == 64:
			return &target{minRatio: 1.2, noLoss: true, text: ">= 1.2x, none lost", chart: 1.2}
		}
	case scenTimers:
		// Issue 17: AfterFunc's rate, and no later than it at the p99.
		return &target{minRatio: 1.0, maxP99: 1.0, text: ">= 1.0x, p99 late <= AfterFunc's", chart: 1.0}
	case scenProxy:
		// Issue 19: net's proxy splices bulk data; the relay must match
		// it at no more CPU per byte.
		switch {
		case impl != implNet:
		case size == "1MiB":
			return &target{minRatio: 1.0, maxCPU: 1.0, text: ">= 1.0x net proxy, CPU/op <= net's", chart: 1.0}
		default:
			return &target{minRatio: 1.0, text: ">= 1.0x net proxy", chart: 1.0}
		}
	case scenFiles, scenStat, scenLog:
		return fileTarget(scenario, c, impl)
	case scenHTTP:
		// Issue 5 asks for the measurement; the target is the adapter's
		// promise of costing nothing over net at the 64
		// connections. Tiny mode's few connections have none.
		if n == 64 && impl == implNet {
			return &target{minRatio: 1.0, text: ">= 1.0x req/s", chart: 1.0}
		}
	}
	return nil
}

// exampleTarget is issue 17's target for examples/echo's row (the
// aioring-example implementation) in a tcp-echo case: its messages over
// net's server's, judged on the example's row (judgeExample), or nil.
func exampleTarget(c string) *target {
	if n := caseKey(c); (n == 64 || n == 512) && caseSize(c) == "64B" {
		return &target{minRatio: 1.1, text: "this >= 1.1x net"}
	}
	return nil
}

// missRatio formats a ratio that missed bound: two decimals, or three
// where two would print the bound itself (0.996x against 1.0x).
func missRatio(v, bound float64) string {
	if r := fmt.Sprintf("%.2f", v); r != fmt.Sprintf("%.2f", bound) {
		return r
	}
	return fmt.Sprintf("%.3f", v)
}

// compare sets the ratios of baseline b against aioring's result a, and
// judges the case's target.
func compare(a, b *result, t *target) {
	if a.Note != "" || b.Note != "" {
		if t != nil {
			b.Target = t.text
		}
		return
	}
	if b.OpsPerS > 0 && b.MBPerS == 0 {
		b.Ratio = a.OpsPerS / b.OpsPerS
	}
	if b.MBPerS > 0 {
		b.Ratio = a.MBPerS / b.MBPerS
	}
	switch {
	case a.ServerCPUSPerMop > 0 && b.ServerCPUSPerMop > 0:
		b.CPURatio = a.ServerCPUSPerMop / b.ServerCPUSPerMop
	case a.CPUSPerMop > 0 && b.CPUSPerMop > 0:
		b.CPURatio = a.CPUSPerMop / b.CPUSPerMop
	case a.CPUSPerGiB > 0 && b.CPUSPerGiB > 0:
		b.CPURatio = a.CPUSPerGiB / b.CPUSPerGiB
	}
	if t == nil {
		return
	}
	b.Target = t.text
	var misses []string
	if t.minRatio > 0 && b.Ratio < t.minRatio {
		misses = append(misses, fmt.Sprintf("%sx < %.2gx", missRatio(b.Ratio, t.minRatio), t.minRatio))
	}
	if t.maxCPU > 0 && (b.CPURatio == 0 || b.CPURatio > t.maxCPU) {
		misses = append(misses, fmt.Sprintf("CPU %sx > %.2gx", missRatio(b.CPURatio, t.maxCPU), t.maxCPU))
	}
	if t.maxP50 > 0 {
		if b.P50us == 0 || a.P50us/b.P50us > t.maxP50 {
			misses = append(misses, fmt.Sprintf("p50 %sx > %.2gx", missRatio(a.P50us/b.P50us, t.maxP50), t.maxP50))
		}
	}
	if t.maxP99 > 0 {
		if b.P99us == 0 || a.P99us/b.P99us > t.maxP99 {
			misses = append(misses, fmt.Sprintf("p99 %sx > %.2gx", missRatio(a.P99us/b.P99us, t.maxP99), t.maxP99))
		}
	}
	if t.fewerThreads && (a.Threads == 0 || b.Threads == 0 || a.Threads >= b.Threads) {
		misses = append(misses, fmt.Sprintf("threads %d >= %d", a.Threads, b.Threads))
	}
	if t.noLoss && a.Lost > 0 {
		misses = append(misses, fmt.Sprintf("aioring lost %d datagrams", a.Lost))
	}
	met := len(misses) == 0
	b.Met = &met
	for i, m := range misses {
		if i > 0 {
			b.Miss += "; "
		}
		b.Miss += m
	}
}

// threadsNote is the footnote on issue 17's bound on an aioring process's
// OS threads, GOMAXPROCS + 8 (io-wq workers included, as THR counts
// them): the aioring rows above it, or that none is. procs is -procs (0:
// the children's GOMAXPROCS is the CPU count).
func threadsNote(rs []*result, procs int) string {
	if procs <= 0 {
		procs = runtime.NumCPU()
	}
	bound := procs + 8
	var over []string
	for _, r := range rs {
		if strings.HasPrefix(r.Impl, "aioring") && r.Threads > bound {
			over = append(over, fmt.Sprintf("%s %s %s %d", r.Scenario, r.Case, r.Impl, r.Threads))
		}
	}
	if len(over) == 0 {
		return fmt.Sprintf("Threads: no aioring process had more than GOMAXPROCS + 8 = %d (issue 17's bound; THR).", bound)
	}
	return fmt.Sprintf("Threads: aioring processes above GOMAXPROCS + 8 = %d (issue 17's bound; THR, io-wq workers included): %s.", bound, strings.Join(over, ", "))
}
