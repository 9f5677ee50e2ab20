package main

import "time"

// params size a run of the suite.
type params struct {
	mode      string
	fileSize  int64         // the read and copy test file
	warmup    time.Duration // before each measurement window
	window    time.Duration // each timed case
	depths    []int         // read queue depths
	conns     []int         // tcp-echo connection counts
	msgSizes  []int         // tcp-echo message sizes
	httpConns int           // http keep-alive connections (and client goroutines)
	// proxy: a many-connections case of small messages and a bulk case of
	// few connections with large ones.
	proxyConns, proxyMsg      int
	proxyBulkConns, proxyBulk int
	timers                    int   // concurrent timers
	nopDepths                 []int // aios restarting Nop (NOPs in flight on the raw ring)
	copyAios                  int   // reads and writes in flight in the aioring copy
	copyBuf                   int   // bytes per copy read/write
	copyRuns                  int   // copies per implementation; the median counts
	// Files by name (files.go): the files scenario's tree, the stat
	// scenario's paths, the log scenario's writers and record size.
	treeFiles, statPaths  int
	logWriters, logRecord int
	// udp-echo: sockets and datagram size of each case.
	udpCases []udpCase
}

// udpCase is one udp-echo case: conns sockets sending size-byte datagrams.
type udpCase struct{ conns, size int }

const (
	kiB = 1 << 10
	miB = 1 << 20
	giB = 1 << 30
)

// quickParams fit the suite in 90 s on two cores, with room to spare for a
// busy machine: a 256 MiB file instead of the 1 GiB, and 1.25 s
// windows. The table says so.
func quickParams() params {
	return params{
		mode:       "quick",
		fileSize:   256 * miB,
		warmup:     250 * time.Millisecond,
		window:     1250 * time.Millisecond,
		depths:     []int{1, 32, 128},
		conns:      []int{1, 64, 512},
		msgSizes:   []int{64, 16 * kiB},
		httpConns:  64,
		proxyConns: 64, proxyMsg: 64,
		proxyBulkConns: 8, proxyBulk: 1 * miB,
		// A QUIC-sized datagram (1200 bytes) beside the small ones.
		udpCases:  []udpCase{{1, 64}, {64, 64}, {64, 1200}},
		timers:    100_000,
		nopDepths: []int{1, 256},
		copyAios:  4,
		copyBuf:   1 * miB,
		copyRuns:  3,
		treeFiles: 10_000, statPaths: 100_000,
		logWriters: 64, logRecord: 4 * kiB,
	}
}

func fullParams() params {
	p := quickParams()
	p.mode = "full"
	p.fileSize = 1 * giB
	p.warmup = time.Second
	p.window = 5 * time.Second
	p.copyRuns = 5
	return p
}

// tinyParams keep every code path alive in CI in a few seconds, even under
// the race detector. Their figures mean nothing.
func tinyParams() params {
	return params{
		mode:       "tiny",
		fileSize:   8 * miB,
		warmup:     20 * time.Millisecond,
		window:     100 * time.Millisecond,
		depths:     []int{1, 8},
		conns:      []int{1, 8},
		msgSizes:   []int{64, 16 * kiB},
		httpConns:  4,
		proxyConns: 4, proxyMsg: 64,
		proxyBulkConns: 2, proxyBulk: 256 * kiB,
		udpCases:  []udpCase{{1, 64}, {8, 64}, {8, 1200}},
		timers:    1000,
		nopDepths: []int{1, 16},
		copyAios:  4,
		copyBuf:   256 * kiB,
		copyRuns:  1,
		treeFiles: 300, statPaths: 2000,
		logWriters: 8, logRecord: 4 * kiB,
	}
}
