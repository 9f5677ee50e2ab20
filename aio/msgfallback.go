package aio

// RecvMsg without multishot receive (kernels before 6.0, or forced by
// forceMsgFallback): a single-shot RECV into a pool buffer the engine
// picks (a RECVMSG on a datagram socket, so that its source comes with
// it), with Recv's semantics (its own CQE decides; data received while a
// cancel is in flight is delivered). With no buffer free, the receive
// waits in stateMsg until a Free, subject to its timeout.

import (
	"errors"

	"github.com/aioring/aioring/internal/op"
)

// errNoBuffer: the pool has no free buffer for a fallback receive.
var errNoBuffer = errors.New("aio: no free message buffer")

// bufferLocked takes a pool buffer for a fallback receive and describes
// the receive into it in d. Called with a.mu held (from buildLocked, and
// from wakeFallback's restart); RecvMsg has made the ring's pool
// before it locked the Aio, so poolMade only reads it here (it makes it
// only if that failed, and then fails the same way). With no buffer free, the receive is listed in its
// ring's fbWait and errNoBuffer returned: starve and the listing are one
// step under waitMu, so a Free that makes a buffer free either is seen by
// starve or finds the receive listed (wakeFallback).
func (a *Aio) bufferLocked(d *op.Desc) error {
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
	d.Iov.Base = &m.buf[0]
	d.Iov.SetLen(len(m.buf))
	// A datagram socket's receive is a recvmsg, with room for the source
	// (msgdgram.go); a stream's a plain recv.
	// Asked again after any CloseFD: the number may name another socket
	// now, of the other type.
	if closes := ms.closes.Load(); x.rmFD != d.FD+1 || x.rmCloses != closes {
		x.rmFD, x.rmDgram, x.rmCloses = d.FD+1, sockIsDgram(d.FD), closes
	}
	if x.rmDgram {
		return a.msghdrLocked(d, op.RecvFrom, nil)
	}
	d.Kind = op.Recv
	return nil
}

// waitBufferLocked parks a fallback RecvMsg, listed by bufferLocked, until
// a buffer comes back.
func (a *Aio) waitBufferLocked(tm timing) {
	if tm.mode == tZero {
		r := a.e.msgs.ringOf(a.sh)
		r.waitMu.Lock()
		r.fbWait = without(r.fbWait, a)
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
			a.unlock()
			continue // aborted meanwhile
		}
		p.fed()
		a.x.waitPool = nil
		d := &a.desc
		if err := a.bufferLocked(d); err != nil {
			// errNoBuffer: taken by another receive first; listed again
			// by bufferLocked (the timer armed at the start still runs).
			if err != errNoBuffer {
				a.finishLocked(err, 0, nil)
			}
			a.unlock()
			return
		}
		if a.sh.Queue(d) != nil {
			a.x.pending.pool.put(a.x.pending)
			a.x.pending = nil
			a.finishLocked(ErrClosed, 0, nil)
			a.unlock()
			return
		}
		a.state = stateKernel
		a.unlock()
		a.sh.Submit(&a.desc, 0)
		return
	}
}
