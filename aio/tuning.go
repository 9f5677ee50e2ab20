package aio

import "time"

// Runtime tuning constants, in one place. Each was chosen by measurement;
// docs/design.md has the figures.

// DefaultEntries is the submission queue size of each ring when
// Config.Entries is 0.
const DefaultEntries = 1024

// cqFactor sizes each completion queue as a multiple of its submission
// queue, so bursts of completions rarely overflow into the kernel's backlog.
const cqFactor = 8

// inlineCopyMax is the largest file read or write (in bytes) submitted with
// RawSyscall. io_uring_enter serves a page-cache hit inline, copying the
// data before it returns; RawSyscall keeps the P for that time and a
// stop-the-world waits for it, so larger transfers are submitted with
// Syscall, which lets the scheduler and the GC go on (defect found in
// review: a 1 GiB cached read through adapt.File held the P throughout).
const inlineCopyMax = 64 << 10

// reapersPerRing is the fewest reapers a ring gets by default: one can run
// a slow callback while another keeps reaping.
const reapersPerRing = 2

// brokenCloseGrace is how long Engine.Close waits for operations on a ring
// whose kernel dropped completions (EBADR) before it ends them itself.
const brokenCloseGrace = 100 * time.Millisecond

// The portable backend's bound on file workers: at most
// max(fileWorkersMin, fileWorkersPerP × GOMAXPROCS) goroutines per engine
// are blocked in file system calls (read, write, fsync, and accept on a
// blocking listener); further operations wait in a queue, so a slow disk
// never grows threads without limit. io_uring's io-wq bounds its workers
// per CPU in the same spirit.
const (
	fileWorkersMin  = 8
	fileWorkersPerP = 4
)

// pollBatch is how many readiness events the portable backend's poller
// takes off its epoll (kqueue) instance per system call.
const pollBatch = 128
