package filetry

// InlineMax is the largest read (in bytes) tried with RawSyscall, which
// keeps the P for the copy and holds a stop-the-world off meanwhile;
// larger ones use Syscall. It is also the largest read a backend tries
// under the Aio's lock (TryUnderLock). Defined on every system, as the
// aio package's start of a small read names it (nothing is tried where
// this package has no tries: the engine's tryFirst is false there).
const InlineMax = 64 << 10
