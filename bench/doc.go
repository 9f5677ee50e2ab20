// Command bench shows, in about a minute, what the aioring engine buys over
// the standard library and over other io_uring users on this machine.
//
// Run it from the repository root:
//
//	go run ./bench                      # the quick suite (at most 90 s on 2 cores)
//	go run ./bench -full                # 5 s windows, a 1 GiB file (about 4 minutes)
//	go run ./bench -only read-direct    # one scenario (-only proxy: the TCP proxy; -only udp-echo)
//	go run ./bench -json out.json -chart out.svg
//	go run ./bench -cpuprofile /tmp/p   # a CPU profile of each aioring case
//	go run ./bench -soak 10m            # the soak test instead of the suite
//	go run ./bench -stress              # one CPU-bound process per core beside every case
//	go run ./bench -procs 1             # GOMAXPROCS=1 in every measured process
//	go run ./bench -count 3             # every case three times: medians and min-max spreads
//	go run ./bench -compare OLD.json NEW.json   # what changed between two -json runs
//	go run ./bench -chart docs/bench.svg quiet.json stress.json procs1.json  # one bar per condition
//
// The scenarios are nop, read-direct, read-cached, write-cached (random
// 4 KiB overwrites of the cached test file, against os.File.WriteAt and
// fio's io_uring randwrite), copy, tcp-echo (aioring,
// net and gnet v2 echo servers), timers, http (an http.Server over the
// adapt package's engine listener against the same server over
// net.Listen) and proxy (examples/proxy's forwarding code against a
// package-net proxy doing io.Copy both ways, which splices, in front of the
// same upstream echo server; -only proxy runs it alone), udp-echo
// (examples/echo -udp's RecvFrom/SendTo loop, and its -msg form on
// RecvMsg as aioring-msg, against a net.UDPConn served by one goroutine
// per P, the load generator counting datagrams lost: -only udp-echo), and the files by name of issue 18: files (a tree
// of 10 000 files of 1-64 KiB read whole, warm, and cold after dropping
// the page cache when run as root), stat (statx of 100 000 paths, warm,
// and cold as files is) and log
// (durable appends by 64 writers with group commit), each against the
// standard library (files.go; AIORING_BENCH_STATX_INLINE=1 measures
// aio.Config.StatxInline). Every one measures aioring and its baselines side by side
// in the same run on the same data, and prints ratios (aioring / baseline)
// next to the absolute figures, with the open issues' target for each
// ratio and whether it was met: every part of a target the row's figures
// can show (relative p50 and p99, CPU per operation, threads, datagrams
// lost), and for tcp-echo examples/echo's own row against net's server.
//
// Conditions: a quiet machine by default; -stress runs one CPU-bound
// process per core at nice 0 beside every case (started before the first
// case, killed after the last, and never left behind: each also ends when
// the bench does), the way a service shares a busy machine; -procs N sets
// GOMAXPROCS=N in every child process (servers, load generators, the raw
// ring), the way a container limited to N CPUs runs it. The table's title
// and the JSON header ("stress", "procs") say which held.
//
// Every row also says what an operation cost the system: SYS/OP, system
// calls per operation (syscalls_per_op in the JSON), counted by the
// kernel's raw_syscalls:sys_enter tracepoint through perf_event_open over
// the measured window for every thread of the process, and CSW/OP, context
// switches per operation (ctxsw_per_op), from getrusage or
// /proc/PID/task/*/status. In the server scenarios both are the server's,
// and the JSON adds the load generator's (load_syscalls_per_op,
// load_ctxsw_per_op). Where the tracepoint cannot be read (tracefs not
// mounted, perf_event_paranoid too high for a user without CAP_PERFMON),
// SYS/OP is absent and a note says why once.
//
// -count N runs each case N times, interleaved by case (aioring and its
// baselines one after the other, then again), so that a slow stretch of the
// machine hits every implementation of the case alike. Each row is then
// the median of its runs, figure by figure, with the min-max spread of its
// headline (ops/s, MB/s for copy) in the table ("412k [380k-450k]") and in
// the JSON (runs, min, max); the ratios are of the medians.
//
// -chart FILE followed by -json files (one per condition: quiet, -stress,
// -procs N, read from each file's header) draws those runs instead of
// measuring: one group of bars per baseline row, one bar per condition, the
// ratio aioring / baseline, with the row's target marked. -chart FILE
// after a measuring run draws that run alone.
//
// -compare OLD.json NEW.json reads two -json files of the same mode and
// condition and prints, per scenario, case and implementation, both
// figures and the change, marking the aioring rows that moved by more than
// the run-to-run noise (the larger of the noise measured on one build run
// twice, and how far the baselines, unchanged code, moved between the two
// files). With several runs per side (comma-separated files, or files
// written with -count N, whose N runs count), it prints each row's median
// and spread on both sides and marks an aioring row moved only when the
// two spreads do not overlap. Progress goes to stderr, the table to stdout at the
// end. Test files go in a temporary directory under -dir (default the
// system's temporary directory), removed at the end and on Ctrl-C.
//
// Exit status: 0 when every case was measured (targets may be missed: the
// table says so), 1 when a measurement failed, 2 for bad input or a machine
// that cannot run the suite (unknown flag or scenario, -procs below 1,
// -compare without two matching -json files, an unwritable output path, no
// room for the test file, io_uring unavailable); then nothing was measured
// and no output file is left behind. Every such error is one line.
//
// Each measured case runs in a fresh child process (this same binary, told
// so by an environment variable): the Go runtime never gives back an OS
// thread it made, so in one process the threads of the standard library's
// blocking reads would be charged to every later case, and CPU time and heap
// state would leak from case to case too. External tools (fio, cp) are
// measured as their own processes. In tcp-echo, http, proxy and udp-echo the server
// under test and the load generator are two children, as a deployed server
// and its clients are (in proxy the server under test is the proxy, and a
// third child is its upstream): the JSON's cpu_s_per_mop counts both
// processes over the window, server_cpu_s_per_mop the server's alone
// (the server's process CPU-time clock, to the nanosecond, read by the load
// generator as its window opens and closes).
package main
