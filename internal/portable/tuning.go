package portable

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
