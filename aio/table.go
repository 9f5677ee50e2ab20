package aio

import "sync/atomic"

// slotTable maps the slot index carried in a CQE's user data back to its
// Aio. Reapers and inline reapers read it without locks while NewAio grows it,
// so it is two-level: a fixed directory of chunk pointers that are only ever
// added, each chunk a fixed array of atomic entries. A lookup is two atomic
// loads and never sees a chunk move.
//
// Writers (install, remove) hold Engine.mu.
type slotTable struct {
	dir  [tableDirSize]atomic.Pointer[tableChunk]
	next uint32     // indexes below next have been handed out at least once
	free []freeSlot // released indexes, reused first
}

// freeSlot is a released index and the generation its last Aio reached. The
// next Aio there continues from that generation, so its ops never carry the
// user data of an earlier Aio's op: a cancel still queued for the old op
// (taken by the kernel after that op completed) must not match
// the new Aio's op.
type freeSlot struct {
	idx, gen uint32
}

const (
	chunkBits    = 10
	chunkSize    = 1 << chunkBits
	tableDirSize = 1 << 14 // 16M aios per engine
	maxSlots     = tableDirSize * chunkSize
)

type tableChunk [chunkSize]atomic.Pointer[Aio]

// install gives a a slot. It returns false when the table is full.
func (t *slotTable) install(a *Aio) bool {
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1].idx
		a.gen = t.free[n-1].gen
		t.free = t.free[:n-1]
	} else {
		if t.next >= maxSlots {
			return false
		}
		idx = t.next
		t.next++
		if t.dir[idx>>chunkBits].Load() == nil {
			t.dir[idx>>chunkBits].Store(new(tableChunk))
		}
	}
	a.slot = idx
	t.dir[idx>>chunkBits].Load()[idx&(chunkSize-1)].Store(a)
	return true
}

// remove frees a's slot for reuse.
func (t *slotTable) remove(a *Aio) {
	t.dir[a.slot>>chunkBits].Load()[a.slot&(chunkSize-1)].Store(nil)
	t.free = append(t.free, freeSlot{a.slot, a.gen})
}

// lookup returns the Aio in slot idx, or nil.
func (t *slotTable) lookup(idx uint32) *Aio {
	if idx >= maxSlots {
		return nil
	}
	c := t.dir[idx>>chunkBits].Load()
	if c == nil {
		return nil
	}
	return c[idx&(chunkSize-1)].Load()
}

// each calls f for every installed Aio. Callers hold Engine.mu.
func (t *slotTable) each(f func(*Aio)) {
	for i := uint32(0); i < t.next; i++ {
		if a := t.lookup(i); a != nil {
			f(a)
		}
	}
}
