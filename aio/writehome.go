package aio

import "sync/atomic"

// Where the callbacks of file writes run (docs/design.md, decision 75).
// With seat.Config.Spread (a ring, more than one P) a callback handed off
// goes to its home reaper (aioCallback.Home). Buffered writes to one file
// serialize on its inode's lock, so two reapers each making a chain of
// small writes to it on their own threads only meet on that lock: the
// chains writing one descriptor are given one home. Writes to different
// files do run in parallel, so each descriptor gets its own home in the
// order descriptors are first written, round robin over the reapers,
// rather than a fixed function of the number (two files whose numbers
// share a home would then share a reaper, at half the parallelism:
// BenchmarkWriteChains).
//
// The table is a cache, not a registry: a descriptor number's slot may be
// taken by another number (a collision) or keep a closed number's home for
// its next file; either only places a chain, and a chain moves to its
// home at its next hand-off (within maxFollowUps callbacks). Lock-free:
// a lookup is one atomic load, an assignment one store (two goroutines
// assigning the same number at once leave one of their homes; chains
// that took the other move at their next hand-off).

// writeHomeSlots is the table's size (a power of two): far more
// descriptors than a program writes hard at once.
const writeHomeSlots = 256

type writeHomes struct {
	// slot i: (fd+1)<<32 | home for a descriptor fd with fd mod
	// writeHomeSlots = i; 0 for none.
	slots [writeHomeSlots]atomic.Uint64
	next  atomic.Uint32 // the next home to give
}

// of returns fd's home (any non-negative int: the seat takes it modulo its
// reapers), giving it the next one if it has none.
func (w *writeHomes) of(fd int32) int {
	s := &w.slots[uint32(fd)%writeHomeSlots]
	key := uint64(uint32(fd)+1) << 32
	if v := s.Load(); v&^0xffffffff == key {
		return int(uint32(v) & 0x7fffffff)
	}
	h := w.next.Add(1) & 0x7fffffff
	s.Store(key | uint64(h))
	return int(h)
}
