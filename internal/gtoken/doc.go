// Package gtoken names the calling goroutine for the price of a load: a
// token that is the same for every call from one goroutine and differs
// between any two goroutines alive at once. The engine uses it to tell a
// reaper's goroutine from the others while the reaper runs a round
// (internal/completion: a start from any callback of the round is
// submitted with the round's batch), where the alternative, the thread id,
// costs a system call per start and needs the reaper locked to its thread
// (docs/design.md, decision 47); and to name the goroutine a callback runs
// on when its Aio's timer started it (aio/timercb.go, decision 64).
//
// The token is the address of the runtime's record of the goroutine (its
// g), which the Go ABI keeps where assembly code (ABI0) finds it: in
// thread-local storage on amd64, in register R28 on arm64. One
// instruction reads it. The runtime never moves that record
// and reuses it only after the goroutine has exited, so a token held by
// a live goroutine names it alone. Tokens are opaque: compare them, never
// dereference them.
//
// Where the architecture has no such form here, Available is false and
// Current returns 0; callers fall back to the thread id.
package gtoken
