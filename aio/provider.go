package aio

// Start begins an operation implemented outside the kernel (nng_aio_start).
// cancel is called at most once, without locks held, if the operation is
// aborted, stopped, closed or times out; it receives the reason and should
// call Finish with it if the operation can still be cancelled. With a nil
// cancel the operation can neither be cancelled nor time out.
//
// Start returns false when the operation cannot begin; the callback has
// then already been scheduled with the reason (ErrStopped, ErrClosed,
// ErrTimedOut for a zero timeout or a past expiry), and the provider must not
// touch the Aio again. Otherwise the provider must call Finish exactly once.
func (a *Aio) Start(cancel func(a *Aio, err error)) bool {
	a.mu.Lock()
	defer a.unlock()
	a.beginLocked("Start")
	err := ErrStopped
	if !a.stopped {
		err = nil
		if a.e.closed.Load() {
			err = ErrClosed
		}
	}
	if err != nil {
		a.finishLocked(err, 0, nil)
		return false
	}
	tm := a.timingLocked()
	switch tm.mode {
	case tPast, tZero:
		a.finishLocked(ErrTimedOut, 0, nil)
		return false
	case tRelative, tAbsolute:
		if cancel != nil {
			a.armDeadlineLocked(tm)
		}
	}
	if cancel != nil {
		a.extra().cancelFn = cancel
	} else if a.x != nil {
		a.x.cancelFn = nil
	}
	a.state = stateProvider
	return true
}

// Finish ends the operation begun by Start with err and count
// (nng_aio_finish) and schedules the callback. Calling it without a pending
// Start, or twice, panics; so does a negative count (nng's is a size_t),
// which leaves the operation pending.
func (a *Aio) Finish(err error, count int) {
	if count < 0 {
		// Count keeps the count in the low bits of one word beside the
		// failure bit (setResultLocked): a negative one would read back
		// as about math.MaxInt64 bytes.
		panic("aio: Finish called with a negative count")
	}
	a.mu.Lock()
	defer a.unlock()
	if a.state != stateProvider {
		panic("aio: Finish called without a pending Start (each Start gets exactly one Finish)")
	}
	a.finishLocked(err, count, nil)
}
