package aio

// RecvMsg without multishot receive (kernels before 6.0, or forced by
// forceMsgFallback): a single-shot RECV into a pool buffer the engine
// picks, with Recv's semantics (its own CQE decides; data received while a
// cancel is in flight is delivered). With no buffer free, the receive
// waits in stateMsg until a Free, subject to its timeout.

import (
	"errors"
	"unsafe"
)

// errNoBuffer: the pool has no free buffer for a fallback receive.
var errNoBuffer = errors.New("aio: no free message buffer")

// bufferLocked takes a pool buffer for a fallback receive into r. Called
// with a.mu held (from buildLocked); a ring's first RecvMsg makes the pool
// here, under a.mu (the one system call of the machinery left under an
// Aio's lock: buildLocked runs under it, and the pool must exist before
// the receive is built). With no buffer free, the receive is listed in its
// ring's fbWait and errNoBuffer returned: starve and the listing are one
// step under waitMu, so a Free that makes a buffer free either is seen by
// starve or finds the receive listed (wakeFallback).
func (a *Aio) bufferLocked(r *kernelReq) error {
	ms := &a.e.msgs
	mr := ms.ringOf(a.sh)
	p, err := mr.poolMade(ms)
	if err != nil {
		return err
	}
	m := p.get()
	for m == nil {
		ms.starvations.Add(1)
		mr.waitMu.Lock()
		starved := p.starve()
		if starved {
			a.extra().waitPool = p
			mr.fbWait = append(mr.fbWait, a)
		}
		mr.waitMu.Unlock()
		if starved {
			return errNoBuffer
		}
		m = p.get()
	}
	x := a.extra()
	x.pending = m
	r.addr, r.n = uint64(uintptr(unsafe.Pointer(&m.buf[0]))), uint32(len(m.buf))
	return nil
}

// waitBufferLocked parks a fallback RecvMsg, listed by bufferLocked, until
// a buffer comes back.
func (a *Aio) waitBufferLocked(tm timing) {
	if tm.mode == tZero {
		r := a.e.msgs.ringOf(a.sh)
		r.waitMu.Lock()
		for i, w := range r.fbWait {
			if w == a {
				r.fbWait = append(r.fbWait[:i], r.fbWait[i+1:]...)
				break
			}
		}
		r.waitMu.Unlock()
		a.x.waitPool.fed()
		a.x.waitPool = nil
		a.finishLocked(ErrTimedOut, 0, nil)
		return
	}
	a.state = stateMsg
	a.armDeadlineLocked(tm)
}

// wakeFallback restarts one fallback receive of ring r waiting for a
// buffer of its pool p. A receive taken off the list that has ended
// meanwhile (aborted, timed out) passes the buffer on to the next.
func (ms *msgEngine) wakeFallback(r *msgRing, p msgPool) {
	for {
		r.waitMu.Lock()
		var a *Aio
		if len(r.fbWait) > 0 {
			a = r.fbWait[0]
			r.fbWait = append(r.fbWait[:0], r.fbWait[1:]...)
		}
		r.waitMu.Unlock()
		if a == nil {
			return
		}
		a.mu.Lock()
		if a.state != stateMsg || a.x.waitPool != p {
			a.mu.Unlock()
			continue // aborted meanwhile
		}
		p.fed()
		a.x.waitPool = nil
		req := &a.req
		if err := a.bufferLocked(req); err != nil {
			// errNoBuffer: taken by another receive first; listed again
			// by bufferLocked (the timer armed at the start still runs).
			if err != errNoBuffer {
				a.finishLocked(err, 0, nil)
			}
			a.mu.Unlock()
			return
		}
		if a.sh.Queue(req) != nil {
			a.x.pending.pool.put(a.x.pending)
			a.x.pending = nil
			a.finishLocked(ErrClosed, 0, nil)
			a.mu.Unlock()
			return
		}
		a.state = stateKernel
		a.mu.Unlock()
		a.sh.Submit(a, false)
		return
	}
}
