// Package release stores a word with release order and nothing more: every
// load and store the storing goroutine made before the store is visible to
// another thread (or to the kernel, for a word in a ring shared with it)
// no later than the stored value is. It is what liburing's
// io_uring_smp_store_release gives the ring's SQ tail and CQ head.
//
// Go's sync/atomic stores are sequentially consistent, which on amd64
// costs a locked instruction (XCHG) that waits until the thread's earlier
// stores have drained; an atomic add is a locked instruction too. On amd64
// (total store order) a plain store already has release order in the
// hardware, so there Store32 and Store64 are plain stores made in a
// function the compiler does not inline: a call keeps the compiler from
// moving the caller's earlier loads and stores past it. On every other
// architecture, and in race-detector builds (so that the detector sees
// the synchronisation), they are sync/atomic's stores.
//
// A release store is enough only where nothing depends on a later load
// not overtaking it (a Dekker-style handshake, where each side stores
// its flag and then loads the other's, needs the sequentially consistent
// store), and where one goroutine at a time writes the word: the others
// are kept out by a lock the writers hold, so a writer's load of the old
// value followed by its store of the new one is an add without a locked
// instruction (Uint64.Add). Readers use sync/atomic's loads, which are
// plain loads on amd64 and arm64.
//
// The engine uses it for the ring's SQ tail (written under the SQ lock),
// CQ head (under the CQ lock) and provided-buffer ring's tail (under the
// message pool's lock), the shard's completion counters (under
// the CQ lock) and the enterer's counts of enters and submissions (by
// the one goroutine that holds the shard's entering flag), and an Aio's
// outcome and the drop of its busy count (under the Aio's lock):
// docs/design.md, decision 85.
package release
