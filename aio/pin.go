package aio

import "unsafe"

// Pins kept from one operation to the next.
//
// The kernel reads and writes an operation's memory after its start
// returns, so that memory must stay alive until the operation ends: the
// Aio's runtime.Pinner (Aio.pin) pins it. A Pin and its Unpin cost about
// 48 ns per object on this machine (each takes the span's lock), and a
// loop that receives and sends with one Aio pins the same buffer, and for
// datagrams the same aioExtra, for every operation. So an operation's
// pins outlive it when the next operation can use them, and that one pins
// nothing (docs/design.md, decision 80).
//
// What the Pinner holds, under Aio.mu:
//   - Aio.pinLo, pinHi: the one IOV buffer kept pinned, as the address
//     range of its slice, [&b[0], &b[0]+len(b)), which lies inside one Go
//     object; 0, 0: none. A later buffer that begins inside the range is
//     in the same object, which is pinned already.
//   - aioExtra.pinned: the Aio's aioExtra (the msghdr, iovecs and address
//     room of RecvFrom, SendTo, Connect and vectored transfers), the
//     Aio's own memory.
//   - aioExtra.pinOther: anything else (the buffers of a vector, a path, a
//     Statx struct: the caller's memory, which no later operation covers).
//     Only operations that use the aioExtra pin such memory.
//
// Invariant: the Pinner holds nothing but what these fields say.
// unpinAllLocked drops it all, and runs when
//   - an operation that pinned pinOther memory ends (endPinsLocked);
//   - a start finds the IOV outside the kept range (buildLocked): the
//     buffer of the operation before is then let go with that
//     operation's description, which names it until the next start
//     (as it did before pins were kept);
//   - the Aio is released (Free, Reap) and when the engine closes;
//   - an operation of an Aio outside the engine's table (noSlot) ends:
//     nothing would unpin it later, and a runtime.Pinner collected while
//     it pins panics.

// unpinAllLocked unpins everything a.pin holds.
func (a *Aio) unpinAllLocked() {
	if a.pinLo == 0 && (a.x == nil || !a.x.pinned && !a.x.pinOther) {
		return
	}
	a.pin.Unpin()
	a.pinLo, a.pinHi = 0, 0
	if a.x != nil {
		a.x.pinned, a.x.pinOther = false, false
	}
}

// dropStalePinsLocked unpins a kept buffer the IOV no longer lies in: the
// IOV is not one buffer, or that buffer begins outside the kept range.
// Only at a start: no operation is in flight, whose buffers these may be.
func (a *Aio) dropStalePinsLocked() {
	if a.pinLo == 0 {
		return
	}
	if a.niov == 1 && len(a.iov0) > 0 {
		if p := uintptr(unsafe.Pointer(&a.iov0[0])); p >= a.pinLo && p < a.pinHi {
			return
		}
	}
	a.unpinAllLocked()
}

// pinBufferLocked pins the n bytes at p unless the kept range holds them.
// They become the kept buffer; a start has already dropped a kept buffer
// that does not hold the IOV's, so if one is kept here, p is some other
// memory, and pinOther.
func (a *Aio) pinBufferLocked(p *byte, n int) {
	lo := uintptr(unsafe.Pointer(p))
	if lo >= a.pinLo && lo < a.pinHi {
		return
	}
	if a.pinLo != 0 {
		a.pinOtherLocked(p)
		return
	}
	a.pin.Pin(p)
	a.pinLo, a.pinHi = lo, lo+uintptr(n)
}

// pinExtraLocked pins the Aio's aioExtra, unless it is pinned.
func (a *Aio) pinExtraLocked() {
	if x := a.extra(); !x.pinned {
		a.pin.Pin(x)
		x.pinned = true
	}
}

// pinOtherLocked pins memory no later operation covers: it is unpinned
// when the operation ends.
func (a *Aio) pinOtherLocked(p any) {
	a.pin.Pin(p)
	a.extra().pinOther = true
}

// endPinsLocked is an operation's end for its pins: kept when the next
// operation may use them, else dropped.
func (a *Aio) endPinsLocked() {
	if (a.x != nil && a.x.pinOther) || a.slot == noSlot || a.e.closed.Load() {
		a.unpinAllLocked()
	}
}
