//go:build linux

package ring

import (
	"sync/atomic"

	"github.com/aioring/aioring/internal/release"
	"github.com/aioring/aioring/sqe"
)

// GetSQE returns the next free submission queue entry, or nil when the SQ is
// full (submit, then try again). The entry's contents are stale: every prep
// helper in package sqe overwrites all of it. It becomes visible to the
// kernel at the next Submit.
func (r *Ring) GetSQE() *sqe.SQE {
	// Load-acquire of the kernel's head: the kernel has finished reading the
	// entries before it (it matters only with SQPOLL, where the kernel reads
	// SQEs concurrently; liburing uses io_uring_smp_load_acquire there).
	head := atomic.LoadUint32(r.sqHead)
	if r.sqeTail-head >= r.sqEntries {
		return nil
	}
	s := &r.sqes[r.sqeTail&r.sqMask]
	r.sqeTail++
	return s
}

// SQSpace returns how many SQEs GetSQE can still hand out before a submit.
func (r *Ring) SQSpace() uint32 {
	return r.sqEntries - (r.sqeTail - atomic.LoadUint32(r.sqHead))
}

// Pending returns how many filled SQEs the kernel has not consumed yet.
func (r *Ring) Pending() uint32 {
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// flush publishes the filled SQEs and returns how many await submission.
func (r *Ring) flush() uint32 {
	if r.published != r.sqeTail {
		// Store-release of the tail: the SQE bodies written above become
		// visible before the kernel can observe the new tail
		// (io_uring_smp_store_release in liburing's __io_uring_flush_sq).
		// Without SQPOLL a release store (internal/release), not
		// sync/atomic's: a Ring is used by one goroutine at a time, so
		// no other store to the tail races it, and only the enter that
		// follows makes the kernel look. With SQPOLL the sequentially
		// consistent store stays: it is the full barrier between this
		// store and EnterPublished's load of NEED_WAKEUP (liburing's
		// io_uring_smp_mb in sq_ring_needs_enter).
		if r.params.Flags&SetupSQPoll != 0 {
			atomic.StoreUint32(r.sqTail, r.sqeTail)
		} else {
			release.Store32(r.sqTail, r.sqeTail)
		}
		r.published = r.sqeTail
	}
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// SQFlags returns the kernel's IORING_SQ_* flags word.
func (r *Ring) SQFlags() uint32 {
	// READ_ONCE in liburing; an atomic load keeps the compiler from caching
	// a word the kernel changes under us.
	return atomic.LoadUint32(r.sqFlags)
}

// NeedsFlush reports whether completions are waiting in the kernel (CQ
// overflow backlog, or deferred task work) and only an io_uring_enter with
// GETEVENTS will bring them into the CQ (liburing's cq_ring_needs_flush).
func (r *Ring) NeedsFlush() bool {
	return r.SQFlags()&(SQCQOverflow|SQTaskrun) != 0
}

// Dropped returns the kernel's count of invalid SQEs it skipped.
func (r *Ring) Dropped() uint32 { return atomic.LoadUint32(r.sqDropped) }

// CQReady returns how many CQEs wait to be reaped.
func (r *Ring) CQReady() uint32 {
	// Load-acquire of the CQ tail: the CQE bodies before it are visible.
	return atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead)
}

// CQOverflow returns the kernel's count of CQEs it had to drop (only when it
// could not even allocate overflow entries; with FEAT_NODROP this stays 0).
func (r *Ring) CQOverflow() uint32 { return atomic.LoadUint32(r.cqOverflow) }

// PeekCQEs copies up to len(dst) ready CQEs into dst and frees their slots.
// It returns the number copied; it never enters the kernel.
func (r *Ring) PeekCQEs(dst []CQE) int { return r.PeekCQEsWhile(dst, nil) }

// PeekCQEsWhile is PeekCQEs that stops at the first CQE keep rejects,
// leaving it and every later one in the ring for another reaper. keep sees
// each CQE in place, before its slot is freed; it must not block. A nil
// keep takes every CQE.
func (r *Ring) PeekCQEsWhile(dst []CQE, keep func(*CQE) bool) int {
	head := atomic.LoadUint32(r.cqHead) // only the reaper holding the CQ writes it
	// Load-acquire of the tail before reading the CQEs it covers
	// (io_uring_smp_load_acquire(cq.ktail) in liburing).
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail && n < len(dst); head, n = head+1, n+1 {
		c := &r.cqes[head&r.cqMask]
		if keep != nil && !keep(c) {
			break
		}
		dst[n] = *c
	}
	if n > 0 {
		// Store-release of the head: our reads of the CQEs complete before
		// the kernel may reuse their slots (io_uring_cq_advance). A
		// release store suffices, as for the SQ tail.
		release.Store32(r.cqHead, head)
	}
	return n
}

// Unpublished returns how many SQEs were filled since the last Publish.
func (r *Ring) Unpublished() uint32 { return r.sqeTail - r.published }

// SQTail returns the SQ position just past the last entry GetSQE handed
// out: the count of entries ever filled, modulo 2^32. Callers serialise it
// with GetSQE, as they do GetSQE itself.
func (r *Ring) SQTail() uint32 { return r.sqeTail }

// SQConsumed reports whether the kernel has taken the entry just before
// position pos (an SQTail value), and so every entry before it. An entry is
// waiting while pos lies in (head, tail]; any other pos is taken, one so
// old that the positions wrapped around included (taken long ago, or, if it
// names a waiting position again, taken at the next submission). Callers
// serialise it with GetSQE. Load-acquire of the head, as in GetSQE.
func (r *Ring) SQConsumed(pos uint32) bool {
	head := atomic.LoadUint32(r.sqHead)
	return pos-head-1 >= r.sqeTail-head
}
