package busypoll

import "sync/atomic"

// Readied counts goroutines that an operation's end readied in Wait
// (docs/design.md, decision 72). Such a goroutine goes on from the
// completion by itself and wants a P, which a poll would hold (at
// GOMAXPROCS=1 the only one), so the holder does not begin a poll after
// one, and ends a poll when one is readied meanwhile. Any goroutine may
// call Add; only the seat holder calls Moved (ordered, like the Policy,
// by the seat's mutex).
type Readied struct {
	n    atomic.Uint64
	seen uint64 // n at the holder's last Moved
}

// Add records a goroutine readied in Wait.
func (r *Readied) Add() { r.n.Add(1) }

// Moved reports whether goroutines were readied since the holder's last
// call, and takes them as seen.
func (r *Readied) Moved() bool {
	n := r.n.Load()
	if n == r.seen {
		return false
	}
	r.seen = n
	return true
}
