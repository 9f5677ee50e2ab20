//go:build linux

package completion

// Reaping on the caller's side: which goroutine is a reaper, the inline
// reap after a submission, and hand-offs to the reapers (the design notes
// are in shard_linux.go).

import (
	"github.com/aioring/aioring/internal/gtoken"
	"github.com/aioring/aioring/ring"
	"github.com/aioring/aioring/sqe"
	"golang.org/x/sys/unix"
)

// inReaper reports whether the caller is one of this shard's reapers inside
// a round.
func (s *Shard) inReaper() bool { return s.reaperIndex() >= 0 }

// reaperIndex is the number of the reaper the caller is, inside a round,
// or -1: the caller's name (self) against each round's. Read only while
// some round runs.
func (s *Shard) reaperIndex() int {
	if s.batching.Load() == 0 {
		return -1
	}
	me := self()
	for i := range s.rounds {
		if s.rounds[i].Load() == me {
			return i
		}
	}
	return -1
}

// useToken: the goroutine's token names a reaper (internal/gtoken, one
// load); otherwise its thread id (a system call), which names the
// goroutine because the round locks the reaper to its thread.
const useToken = gtoken.Available

// self names the calling goroutine for reaperIndex.
func self() uintptr {
	if useToken {
		return gtoken.Current()
	}
	return uintptr(unix.Gettid())
}

// inlineOK decides, with the CQ held, whether a user's goroutine may take c.
func (s *Shard) inlineOK(c *ring.CQE) bool {
	switch sqe.UserData(c.UserData).Kind() {
	case KindCancel:
		return true // nothing to do: the target reports for itself
	case KindWake:
		return false // a parked reaper must see it
	}
	return s.handler.Inline(c)
}

// ReapInline takes the ready CQEs that need no callback, up to the first
// that does, and completes them on the calling goroutine. It returns how
// many it took. If another goroutine is reaping, it returns 0 at once:
// that one takes them.
func (s *Shard) ReapInline() int {
	if !s.acquire() {
		return 0
	}
	n := s.reapInlineHeld()
	s.release()
	return n
}

// reapInlineHeld is ReapInline for callers that hold a reference.
func (s *Shard) reapInlineHeld() int {
	if s.closed || !s.cqMu.TryLock() {
		return 0
	}
	total := 0
	finals := int64(0)
	for {
		n := s.r.PeekCQEsWhile(s.inlineCQEs[:], s.keepInline)
		for i := 0; i < n; i++ {
			c := &s.inlineCQEs[i]
			if sqe.UserData(c.UserData).Kind() != KindCancel && s.handler.Complete(c, nil) {
				finals++
			}
		}
		total += n
		if n < len(s.inlineCQEs) {
			break
		}
	}
	if finals != 0 {
		s.outstanding.Add(-finals)
	}
	if total > 0 {
		s.stats.completed.Add(uint64(total))
		s.stats.inline.Add(uint64(total))
	}
	s.cqMu.Unlock()
	if total > 0 {
		// What the Handler handed off while the CQ was held (an Aio ended
		// here whose callback goes to a reaper, a multishot's cancel): its
		// wake, now that no lock is held.
		s.Wake()
	}
	return total
}

// Handoff schedules cb on a reaper (seat.Seat.Handoff). ok is false after
// Close has stopped the reapers, or once the ring is broken; the caller
// must then run cb some other way. wake reports that a parked reaper must
// be woken: the caller calls Wake once it holds no lock. Handoff makes no
// system call, so it may be called under an Aio's mutex; it does not
// allocate once the seat's lists have grown.
func (s *Shard) Handoff(cb Callback) (ok, wake bool) {
	if s.broken.Load() {
		// No way to wake a reaper (a wake is a NOP, and a broken ring
		// takes no more SQEs).
		return false, false
	}
	return s.seat.Handoff(cb)
}

// HandoffHere is Handoff for a callback that the calling goroutine made
// due (its operation's try finished at once): if the caller is one of
// this shard's reapers in a round, running a callback that started that
// operation, cb runs on the same reaper once that callback returns
// (seat.HandoffTo), with no wake of another; otherwise as Handoff. The
// thread-id system call that tells is made only while rounds run.
func (s *Shard) HandoffHere(cb Callback) (ok, wake bool) {
	if s.broken.Load() {
		return false, false
	}
	if w := s.reaperIndex(); w >= 0 {
		return s.seat.HandoffTo(w, cb)
	}
	return s.seat.Handoff(cb)
}

// Wake makes the wake that Handoff reported, if nobody has yet. Call it
// holding no lock: it may enter the kernel.
func (s *Shard) Wake() { s.seat.Wake() }

// WokeWaiter records that an operation's end readied a goroutine in Wait:
// the seated reaper's next park does not poll (park).
func (s *Shard) WokeWaiter() { s.woke.Add() }
