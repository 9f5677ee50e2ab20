package aio

// RecvMsg without multishot receive (kernels before 6.0, or forced by
// forceMsgFallback): a single-shot RECV into a pool buffer the engine
// picks, with Recv's semantics (its own CQE decides; data received while a
// cancel is in flight is delivered). With no buffer free, the receive
// waits in stateMsg until a Free, subject to its timeout.

import (
	"errors"

	"github.com/aioring/aioring/internal/op"
)

// errNoBuffer: the pool has no free buffer for a fallback receive.
var errNoBuffer = errors.New("aio: no free message buffer")

// bufferLocked takes a pool buffer for a fallback receive into d.
func (a *Aio) bufferLocked(d *op.Desc) error {
	p, err := a.e.msgs.poolFor(a.sh)
	if err != nil {
		return err
	}
	m := p.get()
	for m == nil {
		a.e.msgs.starvations.Add(1)
		if p.starve() {
			a.extra().waitPool = p
			return errNoBuffer
		}
		m = p.get()
	}
	x := a.extra()
	x.pending = m
	d.Iov.Base = &m.buf[0]
	d.Iov.SetLen(len(m.buf))
	return nil
}

// waitBufferLocked parks a fallback RecvMsg until a buffer comes back.
func (a *Aio) waitBufferLocked(tm timing) {
	ms := &a.e.msgs
	if tm.mode == tZero {
		a.x.waitPool.fed()
		a.x.waitPool = nil
		a.finishLocked(ErrTimedOut, 0, nil)
		return
	}
	ms.fbWaitMu.Lock()
	ms.fbWait = append(ms.fbWait, a)
	ms.fbWaitMu.Unlock()
	a.state = stateMsg
	a.armDeadlineLocked(tm)
}

// wakeFallback restarts one fallback receive waiting for a buffer of p.
func (ms *msgEngine) wakeFallback(p msgPool) {
	for {
		ms.fbWaitMu.Lock()
		var a *Aio
		for i, w := range ms.fbWait {
			if pool, _ := ms.poolFor(w.sh); pool == p {
				a = w
				ms.fbWait = append(ms.fbWait[:i], ms.fbWait[i+1:]...)
				break
			}
		}
		ms.fbWaitMu.Unlock()
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
			if err == errNoBuffer {
				// Taken by another receive first: wait again (the
				// timer armed at the start still runs).
				ms.fbWaitMu.Lock()
				ms.fbWait = append(ms.fbWait, a)
				ms.fbWaitMu.Unlock()
				a.unlock()
				return
			}
			a.finishLocked(err, 0, nil)
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
		a.sh.Submit(&a.desc, false)
		return
	}
}
