package aio

// SetMsgFallback makes engines made afterwards use RecvMsg's single-shot
// fallback (as on kernels before 6.0) and single-shot Accept; the returned
// func restores the default. Tests that use it must not run in parallel.
func SetMsgFallback(on bool) (restore func()) {
	old := forceMsgFallback
	forceMsgFallback = on
	return func() { forceMsgFallback = old }
}

// SetMultishotAccept selects Accept's implementation for engines made
// afterwards; the returned func restores the default.
func SetMultishotAccept(on bool) (restore func()) {
	old := useMultishotAccept
	useMultishotAccept = on
	return func() { useMultishotAccept = old }
}

// MsgQueueMax is the per-descriptor queue bound.
const MsgQueueMax = msgQueueMax

// MsgMultishot reports whether e's RecvMsg keeps a multishot receive
// armed (and so queues messages nobody is receiving yet); false on the
// portable backend and in the single-shot fallback.
func MsgMultishot(e *Engine) bool { return e.msgs.multishot }

// MsgQueued is how many messages or accepted connections e holds queued
// for fd, taken by the multishot and not yet received.
func MsgQueued(e *Engine, fd int) int {
	st := e.msgs.lookup(int32(fd))
	if st == nil {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.qn
}
