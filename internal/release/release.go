package release

import "sync/atomic"

// Uint64 is a 64-bit word that one goroutine at a time writes, under a
// lock all its writers hold, and that any goroutine may read without it.
// The zero value is 0. It is 64-bit aligned on every architecture, as
// sync/atomic's 64-bit loads need.
type Uint64 struct {
	_ [0]atomic.Uint64 // alignment only
	v uint64
}

// Load returns the word; any goroutine may call it.
func (x *Uint64) Load() uint64 { return atomic.LoadUint64(&x.v) }

// Store sets the word with release order. Only a writer (holding the
// writers' lock) may call it.
func (x *Uint64) Store(v uint64) { Store64(&x.v, v) }

// Add adds d to the word, with release order, and returns the new value.
// Only a writer may call it: it is a load and a store, not an atomic
// read-modify-write, so two writers at once would lose one's add.
func (x *Uint64) Add(d uint64) uint64 {
	n := atomic.LoadUint64(&x.v) + d
	Store64(&x.v, n)
	return n
}
